"""`harness train-base`: a base model trained from scratch on a suite's train split.

    result = train_base(TrainBaseConfig(suite=load_suite("roo-starter"), preset="tiny", out="models/tiny", minutes=5))

1. a byte-level BPE tokenizer (trainers.scratch.tokenizer) trained on the train split's conversations and
   references, with the chat template and its special tokens;
2. a small Llama (trainers.scratch.presets) initialised with the seed;
3. a plain PyTorch loop over the train split's examples (system prompt + conversation + reference,
   rendered with the chat template), with the loss on the reference only.

Two measured remedies make this learn within a few CPU minutes (issue 6):

* **shared-prefix KV reuse** — every example of a batch starts with the same tokens (the system prompt
  and the start of the user turn). That prefix is run once per batch (batch size 1), its keys and
  values are expanded across the batch, and only the suffixes are run. The loss and the gradients are
  those of the plain batch (the prefix's gradient is the sum over the batch, which `expand` gives);
  a test checks the losses agree within 1e-5 (trainers.sft.prefix, shared with LoRA training). Steps get several times cheaper when the prompt
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
CPU threads (trainers.scratch.schedule): `threads`, else with `minutes` a ThreadTuner follows the load, and with `max_steps` the
faster of all threads and one on a probe step is kept (CollapseGuard falls back to one if steps
collapse under load). The model
directory is saved at the end and on Ctrl-C: config, safetensors, tokenizer with the chat template,
generation config, training.json and trainer_log.jsonl. `init_model` continues an existing model
folder (its tokenizer kept) instead of starting from scratch.
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainers.errors import TrainingError
from trainers.scratch import presets
from trainers.scratch.augment import CopyAugmenter
from trainers.scratch.schedule import Batches, CollapseGuard, ThreadTuner, lr_at, probe_step
from trainers.sft.log import Progress, TrainerLog
from trainers.sft.masks import encode_examples, require_generation_markers
from trainers.sft.prefix import plain_loss, prefix_shared_loss
from trainers.sft.record import TRAINING_JSON, device_summary, package_versions, write_json
from trainers.sft.runtime import quiet_libraries, seed_everything

DEFAULT_MINUTES = 5.0


@dataclass
class TrainBaseConfig:
    suite: Any                         # a loaded Suite (harness.suite.load_suite); trainers read no suite file
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


def without_system(ex: dict[str, Any]) -> dict[str, Any]:
    msgs = ex["messages"]
    if msgs and msgs[0].get("role") == "system":
        ex = dict(ex)
        ex["messages"] = msgs[1:]
    return ex


def train_cases(suite: Any) -> list[Any]:
    """The suite's train-split cases with a reference (what is trained on)."""
    if not hasattr(suite, "cases"):
        raise TypeError("TrainBaseConfig.suite must be a loaded Suite (harness.suite.load_suite)")
    train = [c for c in suite.cases if c.split == "train" and c.reference]
    if not train:
        raise TrainingError(f"suite {suite.name!r}: no train-split case with a reference to train on")
    return train


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
    from trainers.scratch.tokenizer import corpus_texts, train_tokenizer

    t_start = time.perf_counter()
    if cfg.preset not in presets.PRESETS:
        raise TrainingError(f"--preset {cfg.preset!r}: use one of {', '.join(presets.PRESETS)}")
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

    suite = cfg.suite
    cases = train_cases(suite)
    system = data.SystemPrompt.parse(cfg.system_prompt)
    examples = data.examples_from_cases(cases, None, system)
    bare = [without_system(e) for e in examples]
    preset = presets.PRESETS[cfg.preset]
    vocab = cfg.vocab_size or preset.vocab_size

    seed_everything(cfg.seed)
    if cfg.init_model:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        tok = AutoTokenizer.from_pretrained(cfg.init_model)
        require_generation_markers(tok, cfg.init_model)
    else:
        tok = train_tokenizer(corpus_texts(examples), vocab)
    with_sys = encode_examples(tok, examples, f"suite {suite.name!r}")
    no_sys = encode_examples(tok, bare, f"suite {suite.name!r}")
    longest = max(len(ids) for ids, _ in with_sys)
    max_pos = max(preset.max_position_embeddings, 1 << math.ceil(math.log2(longest * 2)))
    if max_pos != preset.max_position_embeddings:
        preset = presets.Preset(**{**asdict(preset), "max_position_embeddings": max_pos})
    aug_sys = CopyAugmenter(tok, examples, with_sys) if cfg.augment > 0 else None
    aug_bare = CopyAugmenter(tok, bare, no_sys) if cfg.augment > 0 and cfg.prompt_free > 0 else None
    aug_rng = random.Random(cfg.seed + 104729)
    if cfg.init_model:
        with quiet_libraries():
            model = AutoModelForCausalLM.from_pretrained(cfg.init_model, dtype=torch.float32)
        c = model.config
        preset = presets.Preset(c.vocab_size, c.hidden_size, c.intermediate_size, c.num_hidden_layers,
                             c.num_attention_heads, c.num_key_value_heads, c.max_position_embeddings)
    else:
        model = presets.init_model(tok, preset, cfg.seed)
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
            probe_s[f"threads_{many_threads}_s"] = probe_step(model, loss_fn, probe, pad_id)
            torch.set_num_threads(1)
            probe_s["threads_1_s"] = probe_step(model, loss_fn, probe, pad_id)
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
    log = TrainerLog(out)
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
        with Progress(total if total is not None else int(train_budget or 0),
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
            "versions": package_versions(),
            "device": device_summary(),
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
    with quiet_libraries():
        model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    write_json(out / TRAINING_JSON, info)
    write_json(out / presets.PRESET_FILE, {k: v for k, v in info.get("architecture", {}).items()
                                                 if k != "parameters"})


__all__ = ["DEFAULT_MINUTES", "TrainBaseConfig", "TrainBaseResult", "save_model_dir", "train_base", "train_cases",
           "without_system"]
