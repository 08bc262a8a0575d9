"""`harness train-base`: a base model trained from scratch on a suite's train split.

    result = train_base(TrainBaseConfig(suite="roo-starter", preset="tiny", out="models/tiny", minutes=5))

1. a byte-level BPE tokenizer (trainers.scratch.tiny) trained on the train split's conversations and references,
   with the chat template and its special tokens;
2. a small Llama (trainers.scratch.tiny presets) initialised with the seed;
3. a plain PyTorch loop over the train split's examples (system prompt + conversation + reference,
   rendered with the chat template), with the loss on the reference only.

Two measured remedies make this learn within a few CPU minutes (issue 6):

* **shared-prefix KV reuse** — every example of a batch starts with the same tokens (the system prompt
  and the start of the user turn). That prefix is run once per batch (batch size 1), its keys and
  values are expanded across the batch, and only the suffixes are run. The loss and the gradients are
  those of the plain batch (the prefix's gradient is the sum over the batch, which `expand` gives);
  a test checks the losses agree within 1e-5. Steps get several times cheaper when the prompt
  dominates the sequence.
* **prompt-free start** — for the first `prompt_free` fraction of the steps the examples are shown
  without the system prompt, so the model first learns to read the task and copy its values instead
  of stalling on a long constant prefix; the rest of training uses the prompt the model will be
  evaluated with.

Measured on roo-starter (tiny preset, compact prompt, seed 0): 300 / 600 / 900 / 1200 steps give
1.8% / 51% / 66% / 84% held-out exact; without the prompt-free start 600 steps give 3.5%.

The budget is `max_steps` (deterministic: same seed, steps and threads → same weights on a CPU; the
schedule is per step) or `minutes` (the schedule follows the clock: warmup, prompt-free share and
cosine decay are shares of the time budget, so a busy machine runs fewer steps of the same schedule).
CPU threads: `threads`, else with `minutes` a ThreadTuner follows the load, and with `max_steps` the
faster of all threads and one on a probe step is kept (CollapseGuard falls back to one if steps
collapse under load). The model
directory is saved at the end and on Ctrl-C: config, safetensors, tokenizer with the chat template,
generation config, training.json and trainer_log.jsonl. `init_model` continues an existing model
folder (its tokenizer kept) instead of starting from scratch.
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainers.sft import common
from trainers.sft.common import IGNORE_INDEX, TrainingError

DEFAULT_MINUTES = 5.0


@dataclass
class TrainBaseConfig:
    suite: Any                         # name, path or a loaded Suite
    out: str | os.PathLike[str]
    preset: str = "tiny"
    minutes: float | None = None       # time budget (DEFAULT_MINUTES when max_steps is None too)
    max_steps: int | None = None       # exact number of steps (overrides minutes)
    seed: int = 0
    system_prompt: str = "compact"     # full | compact | file:PATH
    batch_size: int = 32
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int | None = None    # default: 5% of the steps, at most 100
    weight_decay: float = 0.01
    prompt_free: float = 0.5           # fraction of the steps without the system prompt
    augment: float = 0.0               # probability that an example is shown with fresh copied values
    share_prefix: bool = True
    log_every: int = 10
    progress: bool | None = None
    vocab_size: int | None = None      # default: the preset's
    threads: int | None = None
    init_model: str | None = None      # continue training this model dir (its tokenizer kept) instead of a new one


@dataclass
class TrainBaseResult:
    out: Path
    steps: int
    planned_steps: int
    interrupted: bool
    wall_s: float
    final_loss: float | None
    info: dict[str, Any] = field(default_factory=dict)


# -- tokens -----------------------------------------------------------------------------------------

def corpus_texts(examples: list[dict[str, Any]]) -> list[str]:
    """The tokenizer's training texts: every message as the chat template lays it out (role line,
    content), and the tools JSON of native examples."""
    out = []
    for ex in examples:
        for m in ex["messages"]:
            out.append(f"{m['role']}\n{m.get('content') or ''}")
            for c in m.get("tool_calls") or []:
                fn = c.get("function") or {}
                out.append(f'<tool_call>{{"name": {json.dumps(fn.get("name"))}, "arguments": {fn.get("arguments")}}}'
                           f"</tool_call>")
        if ex.get("tools"):
            out.append("Tools:\n" + "\n".join(json.dumps(t) for t in ex["tools"]))
    return out


def without_system(ex: dict[str, Any]) -> dict[str, Any]:
    msgs = ex["messages"]
    if msgs and msgs[0].get("role") == "system":
        ex = dict(ex)
        ex["messages"] = msgs[1:]
    return ex


# -- copy augmentation ---------------------------------------------------------------------------------

_LETTERS = re.compile(r"[A-Za-z]+")
_TAG_WORDS = re.compile(r"</?([A-Za-z_][A-Za-z0-9_]*)")


class CopyAugmenter:
    """Fresh values for the words a target copies from its conversation.

    A word (a run of two or more ASCII letters) that occurs both in the target and in the
    conversation (not the system prompt), and is not part of the protocol's structure (a word of the
    system prompt or of a tag name in the target), is a copied value. `sample(i, rng)` renders
    example i with each copied word replaced, consistently in the conversation and the target, by
    another copied word of the train split or a random letter string. The model cannot memorise
    the split's values, so it learns to copy them — what a held-out case asks of it. Text-level
    substitution on the example's chat-template rendering, then one fast tokenizer call: the loss
    span is the target's characters, as in `common.target_tokens`.
    """

    def __init__(self, tokenizer: Any, examples: list[dict[str, Any]], encoded: list[tuple[list[int], list[int]]]):
        self.tok = tokenizer
        self.items: list[tuple[str, str, str, int, list[str]] | None] = []
        pool: set[str] = set()
        for ex, (ids, labels) in zip(examples, encoded):
            self.items.append(self._prepare(ex, ids, labels, pool))
        self.pool = sorted(pool)
        self.n_augmentable = sum(1 for it in self.items if it and it[4])

    def _prepare(self, ex: dict[str, Any], ids: list[int], labels: list[int], pool: set[str]
                 ) -> tuple[str, str, str, int, list[str]] | None:
        msgs = [{k: v for k, v in m.items() if k != "training"} for m in ex["messages"]]
        tools = ex.get("tools") or None
        tok = self.tok
        full = tok.apply_chat_template(msgs, tools=tools, tokenize=False)
        prompt = tok.apply_chat_template(msgs[:-1], tools=tools, tokenize=False, add_generation_prompt=True)
        if not full.startswith(prompt) or list(tok(full, add_special_tokens=False)["input_ids"]) != ids:
            return None      # a template that renders differently in pieces: no augmentation for it
        sys_end = 0
        if msgs and msgs[0].get("role") == "system":
            head = tok.apply_chat_template(msgs[:1], tools=tools, tokenize=False)
            if prompt.startswith(head):
                sys_end = len(head)
        system, convo, target = full[:sys_end], full[sys_end:len(prompt)], full[len(prompt):]
        labelled = [i for i, x in enumerate(labels) if x != IGNORE_INDEX]
        enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
        span_end = enc["offset_mapping"][labelled[-1]][1] if labelled else len(full)
        tail = len(full) - span_end               # text after the loss span (e.g. the newline after <|im_end|>)
        tags = " ".join(_TAG_WORDS.findall(target))
        structure = set(_LETTERS.findall(system)) | set(_LETTERS.findall(tags))
        structure |= {"im", "start", "end", "system", "user", "assistant", "tool"}
        in_convo = set(w for w in _LETTERS.findall(convo) if len(w) >= 2)
        copied = sorted(w for w in set(_LETTERS.findall(target)) if len(w) >= 2 and w in in_convo
                        and w not in structure)
        pool.update(w.lower() for w in copied)
        return system, convo, target, tail, copied

    def _fresh(self, word: str, rng: Any) -> str:
        if self.pool and rng.random() < 0.5:
            new = self.pool[rng.randrange(len(self.pool))]
        else:
            new = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))
        if word.isupper() and len(word) > 1:
            return new.upper()
        if word[0].isupper():
            return new[0].upper() + new[1:]
        return new

    def sample(self, i: int, rng: Any) -> tuple[list[int], list[int]] | None:
        it = self.items[i]
        if it is None or not it[4]:
            return None
        system, convo, target, tail, copied = it
        mapping = {w: self._fresh(w, rng) for w in copied}

        def sub(text: str) -> str:
            return _LETTERS.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)
        convo2, target2 = sub(convo), sub(target)
        text = system + convo2 + target2
        start, end = len(system) + len(convo2), len(text) - tail
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        labels = [t if (a >= start and b <= end and b > a) else IGNORE_INDEX
                  for t, (a, b) in zip(ids, enc["offset_mapping"])]
        return ids, labels


# -- the two losses -----------------------------------------------------------------------------------

def _pad(seqs: list[list[int]], value: int) -> Any:
    import torch
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (n - len(s)) for s in seqs], dtype=torch.long)


def plain_loss(model: Any, batch: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[Any, int]:
    """Mean cross-entropy over the labelled tokens of the batch, one forward pass over the full
    (right-padded) sequences. Returns (loss, number of labelled tokens)."""
    import torch.nn.functional as F
    ids = _pad([b[0] for b in batch], pad_id)
    labels = _pad([b[1] for b in batch], IGNORE_INDEX)
    logits = model(input_ids=ids, use_cache=False).logits
    n = int((labels[:, 1:] != IGNORE_INDEX).sum())
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")
    return loss / max(n, 1), n


def shared_prefix_length(batch: list[tuple[list[int], list[int]]]) -> int:
    """Tokens every sequence of the batch starts with, stopping before the first position whose
    logits a label needs (so the prefix pass needs no output)."""
    first = batch[0][0]
    p = len(first)
    for ids, _ in batch[1:]:
        k = 0
        lim = min(p, len(ids))
        while k < lim and ids[k] == first[k]:
            k += 1
        p = k
    for _, labels in batch:
        first_label = next((i for i, x in enumerate(labels) if x != IGNORE_INDEX), len(labels))
        p = min(p, first_label - 1)
    return max(p, 0)


_CACHE_KW: dict[type, str] = {}


def cache_kwarg(module: Any) -> str:
    """The forward() keyword of the KV cache: `cache` (transformers >= 5.2x) or `past_key_values`."""
    import inspect
    t = type(module)
    if t not in _CACHE_KW:
        params = inspect.signature(t.forward).parameters
        _CACHE_KW[t] = "cache" if "cache" in params else "past_key_values"
    return _CACHE_KW[t]


def expand_cache(cache: Any, bsz: int, contiguous: bool = False) -> None:
    """Expand a batch-1 DynamicCache to `bsz` rows (a view: gradients sum over the rows)."""
    def ex(t: Any) -> Any:
        t = t.expand(bsz, -1, -1, -1)
        return t.contiguous() if contiguous else t
    if hasattr(cache, "layers"):
        for layer in cache.layers:
            layer.keys = ex(layer.keys)
            layer.values = ex(layer.values)
    else:  # older transformers: key_cache / value_cache lists
        cache.key_cache = [ex(t) for t in cache.key_cache]
        cache.value_cache = [ex(t) for t in cache.value_cache]


def prefix_shared_loss(model: Any, batch: list[tuple[list[int], list[int]]], pad_id: int,
                       min_prefix: int = 8) -> tuple[Any, int]:
    """The same loss as `plain_loss`, with the shared prefix computed once: one pass over the prefix
    (batch 1) fills a KV cache, whose keys and values are expanded to the batch; then one pass over
    the suffixes attends to it. Gradients flow through the cache into the prefix pass."""
    import torch
    import torch.nn.functional as F
    from transformers import DynamicCache

    p = shared_prefix_length(batch)
    if p < min_prefix or len(batch) < 2:
        return plain_loss(model, batch, pad_id)
    bsz = len(batch)
    prefix = torch.tensor([batch[0][0][:p]], dtype=torch.long)
    cache = DynamicCache()
    kw = cache_kwarg(model.model)
    model.model(input_ids=prefix, use_cache=True, **{kw: cache})
    expand_cache(cache, bsz)
    suf = _pad([b[0][p:] for b in batch], pad_id)
    labels = _pad([b[1][p:] for b in batch], IGNORE_INDEX)
    s = suf.size(1)
    pos = torch.arange(p, p + s, dtype=torch.long).unsqueeze(0).expand(bsz, -1)
    hidden = model.model(input_ids=suf, position_ids=pos, use_cache=True, **{kw: cache}).last_hidden_state
    logits = model.lm_head(hidden)
    n = int((labels[:, 1:] != IGNORE_INDEX).sum())
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")
    return loss / max(n, 1), n


# -- schedule -----------------------------------------------------------------------------------------

def lr_at(step: int, total: int, base: float, warmup: int, min_ratio: float) -> float:
    """Linear warmup, then cosine decay to min_ratio * base at the last step."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    span = max(total - warmup, 1)
    t = min(max(step - warmup, 0) / span, 1.0)
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


class Batches:
    """Seeded epochs of shuffled indices; `take(bsz)` never repeats an example within a batch."""

    def __init__(self, n: int, seed: int):
        import torch
        self.n = n
        self.g = torch.Generator().manual_seed(seed)
        self.order: list[int] = []
        self.seen = 0

    def take(self, bsz: int) -> list[int]:
        import torch
        out = []
        while len(out) < min(bsz, self.n):
            if not self.order:
                self.order = torch.randperm(self.n, generator=self.g).tolist()
            out.append(self.order.pop())
        self.seen += len(out)
        return out


# -- the run ------------------------------------------------------------------------------------------

class ThreadTuner:
    """Keeps whichever of (all threads, one thread) makes the faster training steps, as the load changes.

    Measured on this project's 2-core machines: a ~1M-parameter model steps ~1.8x faster with two
    threads on an idle CPU, and 5-10x slower with two than with one when other processes keep the
    cores busy (OpenMP threads spin-wait for each other). The tuner starts on one thread (never a
    collapse), times every step, and after each window of steps compares the setting in use with the
    other one's last timing in the same phase; it tries the other setting for a short window now and
    then, backing off while the tries lose. Only for clock budgets: the thread count changes float
    rounding, so a fixed step count keeps one setting."""

    WINDOW = 3          # steps per judgement of the setting in use
    TRY = 1             # steps per try of the other setting (a try on a busy CPU can cost 10 steps' time)

    def __init__(self, many: int):
        import torch
        self.many = many
        self.current = 1
        self.last: dict[tuple[int, str], float] = {}
        self.explore_every = 2          # windows between tries (doubles while tries lose, up to 64)
        self.windows = 0
        self.exploring = False
        self.acc: list[float] = []
        self.history: list[dict[str, Any]] = []
        torch.set_num_threads(1)

    def _set(self, n: int, why: str) -> None:
        import torch
        if n != self.current:
            self.current = n
            torch.set_num_threads(n)
            self.history.append({"threads": n, "why": why})

    def step(self, phase: str, seconds: float) -> None:
        self.acc.append(seconds)
        if len(self.acc) < (self.TRY if self.exploring else self.WINDOW):
            return
        per = sum(self.acc) / len(self.acc)
        self.acc = []
        other = 1 if self.current == self.many else self.many
        self.last[(self.current, phase)] = per
        theirs = self.last.get((other, phase))
        if self.exploring:                      # the try is over: keep the new setting only if it won
            self.exploring = False
            if theirs is not None and per > theirs:
                self.explore_every = min(self.explore_every * 2, 64)
                self._set(other, f"{phase}: {per:.3f}s/step vs {theirs:.3f}")
            else:
                self.explore_every = 8
            self.windows = 0
            return
        self.windows += 1
        if theirs is not None and per > 1.3 * theirs:
            self._set(other, f"{phase}: {per:.3f}s/step vs {theirs:.3f}")
            self.windows = 0
        elif self.windows >= self.explore_every:
            self.exploring = True
            self.windows = 0
            self._set(other, "trying")


class CollapseGuard:
    """For a fixed step count: keep the thread count the run started with, unless steps collapse (a
    window of steps more than 3x slower than the best window of the same phase, twice running, as when
    other processes start to keep the cores busy); then fall back to one thread for the rest of the run
    and record it — finishing matters more than bitwise reproducibility then."""

    WINDOW = 5

    def __init__(self, start: int):
        self.current = start
        self.best: dict[str, float] = {}
        self.bad = 0
        self.acc: list[float] = []
        self.history: list[dict[str, Any]] = []

    def step(self, phase: str, seconds: float) -> None:
        if self.current == 1:
            return
        self.acc.append(seconds)
        if len(self.acc) < self.WINDOW:
            return
        per = sum(self.acc) / len(self.acc)
        self.acc = []
        best = self.best.get(phase)
        if best is None or per < best:
            self.best[phase] = per
            self.bad = 0
            return
        self.bad = self.bad + 1 if per > 3 * best else 0
        if self.bad >= 2:
            import torch
            self.current = 1
            torch.set_num_threads(1)
            self.history.append({"threads": 1, "why": f"{phase}: {per:.3f}s/step vs best {best:.3f}; "
                                                      f"bitwise reproducibility lost from here"})


def _probe_step(model: Any, fn: Any, batch: list[tuple[list[int], list[int]]], pad_id: int) -> float:
    """Seconds of one forward+backward on `batch` (after one warm-up); gradients are discarded."""
    fn(model, batch, pad_id)[0].backward()
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    fn(model, batch, pad_id)[0].backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def _load_cases(cfg: TrainBaseConfig) -> tuple[Any, list[Any]]:
    from harness.suite.load import load_suite
    suite = load_suite(cfg.suite) if not hasattr(cfg.suite, "cases") else cfg.suite
    train = [c for c in suite.cases if c.split == "train" and c.reference]
    if not train:
        raise TrainingError(f"suite {suite.name!r}: no train-split case with a reference to train on")
    return suite, train


def train_base(cfg: TrainBaseConfig) -> TrainBaseResult:
    """Train a base model as `cfg` says; see the module docstring. torch's thread count is restored after."""
    import torch
    threads_before = torch.get_num_threads()
    try:
        return _train_base(cfg)
    finally:
        torch.set_num_threads(threads_before)


def _train_base(cfg: TrainBaseConfig) -> TrainBaseResult:
    import torch

    from trainers import data
    from trainers.scratch import tiny

    t_start = time.perf_counter()
    if cfg.preset not in tiny.PRESETS:
        raise TrainingError(f"--preset {cfg.preset!r}: use one of {', '.join(tiny.PRESETS)}")
    if cfg.batch_size < 1:
        raise TrainingError("--batch-size must be at least 1")
    if not 0.0 <= cfg.prompt_free < 1.0:
        raise TrainingError("--prompt-free must be in [0, 1)")
    if not 0.0 <= cfg.augment <= 1.0:
        raise TrainingError("--augment must be in [0, 1]")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)

    suite, cases = _load_cases(cfg)
    system = data.SystemPrompt.parse(cfg.system_prompt)
    examples = data.examples_from_cases(cases, None, system)
    bare = [without_system(e) for e in examples]
    preset = tiny.PRESETS[cfg.preset]
    vocab = cfg.vocab_size or preset.vocab_size

    common.seed_everything(cfg.seed)
    if cfg.init_model:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        tok = AutoTokenizer.from_pretrained(cfg.init_model)
        common.require_generation_markers(tok, cfg.init_model)
    else:
        tok = tiny.train_tokenizer(corpus_texts(examples), vocab)
    with_sys = common.encode_examples(tok, examples, f"suite {suite.name!r}")
    no_sys = common.encode_examples(tok, bare, f"suite {suite.name!r}")
    longest = max(len(ids) for ids, _ in with_sys)
    max_pos = max(preset.max_position_embeddings, 1 << math.ceil(math.log2(longest * 2)))
    if max_pos != preset.max_position_embeddings:
        preset = tiny.Preset(**{**asdict(preset), "max_position_embeddings": max_pos})
    aug_sys = CopyAugmenter(tok, examples, with_sys) if cfg.augment > 0 else None
    aug_bare = CopyAugmenter(tok, bare, no_sys) if cfg.augment > 0 and cfg.prompt_free > 0 else None
    aug_rng = random.Random(cfg.seed + 104729)
    if cfg.init_model:
        with common.quiet_libraries():
            model = AutoModelForCausalLM.from_pretrained(cfg.init_model, dtype=torch.float32)
        c = model.config
        preset = tiny.Preset(c.vocab_size, c.hidden_size, c.intermediate_size, c.num_hidden_layers,
                             c.num_attention_heads, c.num_key_value_heads, c.max_position_embeddings)
    else:
        model = tiny.init_model(tok, preset, cfg.seed)
    model.train()
    many_threads = torch.get_num_threads()
    pad_id = tok.pad_token_id
    loss_fn = prefix_shared_loss if cfg.share_prefix else plain_loss
    tuner: ThreadTuner | CollapseGuard | None = None
    probe_s: dict[str, float] = {}
    if cfg.threads is None and many_threads > 1:
        if cfg.max_steps is None:
            tuner = ThreadTuner(many_threads)       # clock budget: follow the load (see ThreadTuner)
        else:
            # a fixed step count keeps one thread count (it changes float rounding): the faster of all
            # threads and one on a probe batch, kept unless the steps then collapse (CollapseGuard)
            probe = [with_sys[i] for i in Batches(len(with_sys), cfg.seed + 7919).take(cfg.batch_size)]
            probe_s[f"threads_{many_threads}_s"] = _probe_step(model, loss_fn, probe, pad_id)
            torch.set_num_threads(1)
            probe_s["threads_1_s"] = _probe_step(model, loss_fn, probe, pad_id)
            start = 1 if probe_s["threads_1_s"] * 1.2 < probe_s[f"threads_{many_threads}_s"] else many_threads
            torch.set_num_threads(start)
            tuner = CollapseGuard(start)

    # the budget: exact steps (reproducible), or the clock (--minutes): then the schedule — warmup,
    # the prompt-free share, the cosine decay — follows the elapsed share of the time budget, so a
    # slower or busier machine runs fewer steps of the same schedule instead of a cut-off one
    if cfg.max_steps is not None:
        if cfg.max_steps < 1:
            raise TrainingError("--max-steps must be at least 1")
        total: int | None = cfg.max_steps
        budget_s = None
        bare_steps = int(round(total * cfg.prompt_free))
        warmup = cfg.warmup_steps if cfg.warmup_steps is not None else min(100, max(1, total // 20))
    else:
        minutes = cfg.minutes if cfg.minutes is not None else DEFAULT_MINUTES
        if minutes <= 0:
            raise TrainingError("--minutes must be > 0")
        budget_s = minutes * 60.0
        total = None
        bare_steps = 0
        warmup = cfg.warmup_steps if cfg.warmup_steps is not None else 0   # 0: a time-based warmup (5%)

    decay, no_decay = [], []
    for n_, p_ in model.named_parameters():
        (no_decay if p_.ndim < 2 else decay).append(p_)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
    batches = Batches(len(with_sys), cfg.seed)
    log = common.TrainerLog(out)
    log.start(None)

    start_threads = torch.get_num_threads()
    step = 0
    interrupted = False
    last_loss: float | None = None
    lr, bare_phase = 0.0, False
    acc_loss, acc_n, acc_tokens = 0.0, 0, 0
    t_train = time.perf_counter()
    train_budget = None if budget_s is None else max(budget_s - (t_train - t_start) - 2.0, 1.0)  # 2 s to save
    warm_end = 0.05        # time mode: the share of the budget spent warming up (or where step warmup ended)
    t_interval = t_train
    try:
        with common.Progress(total if total is not None else int(train_budget or 0),
                             f"train-base {cfg.preset}", cfg.progress) as bar:
            while True:
                if total is not None:
                    if step >= total:
                        break
                    frac = step / total
                    bare_phase = step < bare_steps
                    lr = lr_at(step, total, cfg.lr, warmup, cfg.min_lr_ratio)
                else:
                    frac = (time.perf_counter() - t_train) / train_budget
                    if frac >= 1.0:
                        break
                    bare_phase = frac < cfg.prompt_free
                    bare_steps += bare_phase
                    if warmup and step < warmup:
                        lr = cfg.lr * (step + 1) / warmup
                        warm_end = frac
                    elif not warmup and frac < warm_end:
                        lr = cfg.lr * max(frac / warm_end, 0.01)
                    else:
                        t = min(max((frac - warm_end) / max(1.0 - warm_end, 1e-9), 0.0), 1.0)
                        lr = cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))
                pool, aug = (no_sys, aug_bare) if bare_phase else (with_sys, aug_sys)
                idx = batches.take(cfg.batch_size)
                batch = []
                for i in idx:
                    alt = aug.sample(i, aug_rng) if aug is not None and aug_rng.random() < cfg.augment else None
                    batch.append(alt or pool[i])
                for gr in opt.param_groups:
                    gr["lr"] = lr
                t_step = time.perf_counter()
                loss, n = loss_fn(model, batch, pad_id)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                if tuner is not None:
                    tuner.step("bare" if bare_phase else "prompt", time.perf_counter() - t_step)
                acc_loss += float(loss.detach())
                acc_n += 1
                acc_tokens += sum(len(b[0]) for b in batch)
                if step % cfg.log_every == 0 or step == total:
                    now = time.perf_counter()
                    last_loss = acc_loss / acc_n
                    rec = log.write(step, last_loss, lr, batches.seen / len(with_sys),
                                    acc_tokens / max(now - t_interval, 1e-9), now - t_train,
                                    phase="no-prompt" if bare_phase else "prompt")
                    if total is not None:
                        bar.update(step, last_loss, rec["tokens_per_s"])
                    else:
                        bar.update(int(now - t_train), last_loss, rec["tokens_per_s"], steps=step)
                    acc_loss, acc_n, acc_tokens, t_interval = 0.0, 0, 0, now
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if acc_n:      # the steps since the last line (a clock-limited or interrupted run)
            now = time.perf_counter()
            last_loss = acc_loss / acc_n
            log.write(step, last_loss, lr, batches.seen / len(with_sys), acc_tokens / max(now - t_interval, 1e-9),
                      now - t_train, phase="no-prompt" if bare_phase else "prompt")
        log.close()
        wall = time.perf_counter() - t_start
        info = {
            "kind": "base-model",
            "trainer": "scratch",
            "suite": {"name": suite.name, "path": suite.path, "hash": suite.content_hash},
            "train_cases": len(cases),
            "data_sha256": data.data_sha256(examples),
            "system_prompt": system.record(),
            "preset": cfg.preset,
            "architecture": {**asdict(preset), "vocab_size": len(tok),
                             "parameters": sum(p.numel() for p in model.parameters())},
            "hyperparameters": {
                "batch_size": cfg.batch_size, "lr": cfg.lr, "min_lr_ratio": cfg.min_lr_ratio,
                "warmup_steps": warmup, "weight_decay": cfg.weight_decay, "optimizer": "AdamW(0.9, 0.95)",
                "grad_clip": 1.0, "prompt_free": cfg.prompt_free, "prompt_free_steps": bare_steps,
                "augment": cfg.augment, "copied_value_examples": aug_sys.n_augmentable if aug_sys else 0,
                "share_prefix": cfg.share_prefix, "minutes": cfg.minutes if cfg.max_steps is None else None,
                "max_steps": cfg.max_steps, "schedule": "steps" if cfg.max_steps is not None else "clock",
            },
            "seed": cfg.seed,
            "init_model": cfg.init_model,
            "steps": step,
            "interrupted": interrupted,
            "timing": {"wall_s": round(wall, 2), "train_s": round(time.perf_counter() - t_train, 2)},
            "final_loss": last_loss,
            "versions": common.package_versions(),
            "device": common.device_summary(),
            "threads": torch.get_num_threads(),
            "thread_switches": tuner.history if tuner is not None else [],
            "thread_probe_s": {k: round(v, 4) for k, v in probe_s.items()},
            "reproduce": (f"--max-steps {total} --seed {cfg.seed} --batch-size {cfg.batch_size} "
                          f"--threads {start_threads}") if total is not None and not
            (tuner is not None and tuner.history) else None,
        }
        save_model_dir(model, tok, out, info)
    if interrupted:
        raise KeyboardInterrupt
    return TrainBaseResult(out, step, total if total is not None else step, interrupted,
                           time.perf_counter() - t_start, last_loss, info)


def save_model_dir(model: Any, tok: Any, out: Path, info: dict[str, Any]) -> None:
    model.eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.bos_token_id = None
    with common.quiet_libraries():
        model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    common.write_json(out / common.TRAINING_JSON, info)
    common.write_json(out / "tiny_preset.json", {k: v for k, v in info.get("architecture", {}).items()
                                                 if k != "parameters"})
