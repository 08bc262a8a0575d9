"""`harness train --backend peft`: TRL's SFTTrainer + PEFT LoRA (or full fine-tuning), CPU or GPU, and
several GPUs through accelerate (`accelerate launch -m harness.cli train ...`).

    result = train(TrainConfig(base_model="models/tiny", out="adapters/a1", run="runs/r1", max_steps=40))

* data: a run's failures (`trainers.data.examples_from_run`) or an SFT JSONL file, turned into TRL's
  conversational prompt-completion form (the prompt is everything before the target), with
  `assistant_only_loss=True`: TRL masks with the template's `{% generation %}` markers and the
  completion mask, so the loss falls on the target only. The same mask is computed here before
  training, and training refuses to start (TrainingError) when the template lacks the markers or any
  example's mask is empty; after TRL prepares the data its labels are checked against that mask;
* LoRA: task CAUSAL_LM, bias none, no modules_to_save, no DoRA, rank from vLLM's set, the projection
  layers as targets — adapters that vLLM and `harness adapters check` accept;
* the base model's chat template is used as is and saved with the output;
* checkpoints every `save_steps`, the last 3 kept; `resume` continues from the newest one (model,
  optimizer, scheduler, RNG and data order) and prints "resumed from checkpoint-N"; `init_adapter`
  continues training an earlier adapter;
* trainer_log.jsonl (a TrainerCallback): step, loss, lr, epoch, tokens_per_s, elapsed_s per logging step,
  continued without duplicates after a resume;
* output: adapter_config.json + adapter_model.safetensors (or the full model for `method="full"`),
  tokenizer + chat template, training.json; the adapter is checked against vLLM's rules at the end.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainers.sft import common
from trainers.sft.common import IGNORE_INDEX, TrainingError

RUN_CONFIG = "train_config.json"     # what a --resume must match
TINY_PARAMS = 5_000_000              # CPU: below this, one torch thread unless --threads (as train-base)
CHECKPOINTS_KEPT = 3


@dataclass
class TrainConfig:
    base_model: str
    out: str
    run: str | None = None              # --from-run
    data: str | None = None             # --data SFT.jsonl
    backend: str = "peft"
    method: str = "lora"                # lora | full
    lora_r: int | None = None           # default 16
    lora_alpha: int | None = None       # default 2 * r
    lora_dropout: float | None = None   # default 0
    target_modules: list[str] | None = None
    epochs: float | None = None
    max_steps: int | None = None
    lr: float | None = None             # default 2e-4 (lora), 5e-5 (full)
    batch_size: int = 8
    grad_accum: int = 1
    save_steps: int | None = None
    logging_steps: int | None = None
    seed: int = 0
    resume: bool = False
    init_adapter: str | None = None
    max_length: int | None = None
    replay: float = 0.2
    suite: str | None = None            # the run's suite file, when it moved
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    gradient_checkpointing: bool = False
    max_lora_rank: int = 256            # the --max-lora-rank the adapter must fit (checked at the end)
    load_in_4bit: bool = False          # unsloth
    share_prefix: bool = True           # compute a batch's shared prompt prefix once (same loss, faster)
    threads: int | None = None          # torch CPU threads (None: torch's default)
    progress: bool | None = None
    overwrite: bool = False

    def resolved(self) -> "TrainConfig":
        c = TrainConfig(**asdict(self))
        if c.method not in ("lora", "full"):
            raise TrainingError(f"--method {c.method!r}: use lora or full")
        if (c.run is None) == (c.data is None):
            raise TrainingError("give exactly one of --from-run RUN and --data SFT.jsonl")
        if c.epochs is not None and c.max_steps is not None:
            raise TrainingError("give --epochs or --max-steps, not both")
        if c.epochs is None and c.max_steps is None:
            c.epochs = 3.0
        if c.max_steps is not None and c.max_steps < 1:
            raise TrainingError("--max-steps must be at least 1")
        if c.epochs is not None and c.epochs <= 0:
            raise TrainingError("--epochs must be > 0")
        if c.batch_size < 1 or c.grad_accum < 1:
            raise TrainingError("--batch-size and --grad-accum must be at least 1")
        if c.method == "full" and c.init_adapter:
            raise TrainingError("--init-adapter continues a LoRA adapter; it cannot be used with --method full")
        if c.method == "lora":
            if c.lora_r is not None:
                common.check_lora_rank(c.lora_r)
            if c.lora_dropout is not None and not 0.0 <= c.lora_dropout < 1.0:
                raise TrainingError("--lora-dropout must be in [0, 1)")
        if c.lr is None:
            c.lr = 2e-4 if c.method == "lora" else 5e-5
        if c.save_steps is not None and c.save_steps < 1:
            raise TrainingError("--save-steps must be at least 1")
        if c.max_length is not None and c.max_length < 8:
            raise TrainingError("--max-length is too small")
        return c


@dataclass
class TrainResult:
    out: Path
    steps: int
    resumed_from: str | None
    examples: int
    train_loss: float | None
    tokens_per_s: float | None
    wall_s: float
    adapter_problems: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


# -- data -------------------------------------------------------------------------------------------

def load_examples(cfg: TrainConfig, tokenizer: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The training examples and what was done to them (counts for training.json and the log)."""
    from trainers import data
    if cfg.run is not None:
        examples, st = data.export_run(cfg.run, replay=cfg.replay, seed=cfg.seed, suite=cfg.suite)
        source: dict[str, Any] = {"run": str(Path(cfg.run).resolve()), "replay": cfg.replay}
        if not examples:
            raise TrainingError(f"{cfg.run}: no training examples: the run has no failed train-split case "
                                f"({st.failed_results} failed results, {st.skipped_test} test-split cases "
                                f"never used)")
    else:
        examples = data.read_jsonl(cfg.data)
        st = data.ExportStats()
        source = {"data": str(Path(cfg.data).resolve())}
    if cfg.max_length is not None:
        examples, st = data.fit_to_length(examples, tokenizer, cfg.max_length, st)
        if not examples:
            raise TrainingError(f"every example is longer than --max-length {cfg.max_length} tokens")
    counts = {k: v for k, v in st.to_dict().items() if k not in ("run", "warnings")}
    source.update({"examples": len(examples), "counts": counts, "warnings": st.warnings})
    return examples, source


def to_dataset(examples: list[dict[str, Any]]) -> Any:
    """A datasets.Dataset in TRL's conversational prompt-completion form; `tools` as a JSON string
    (TRL decodes it; Arrow cannot hold arbitrary JSON Schemas as structs)."""
    from datasets import Dataset

    from trainers import data
    rows = []
    any_tools = any(ex.get("tools") for ex in examples)
    for ex in examples:
        pc = data.split_prompt_completion(ex)
        row = {"prompt": pc["prompt"], "completion": pc["completion"]}
        if any_tools:
            row["tools"] = json.dumps(pc["tools"]) if pc.get("tools") else None
        rows.append(row)
    return Dataset.from_list(rows)


# -- checkpoints ------------------------------------------------------------------------------------

_CKPT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (trainer_state.json written last by the Trainer), oldest first."""
    found = []
    if out.is_dir():
        for p in out.iterdir():
            m = _CKPT.match(p.name)
            if m and p.is_dir() and (p / "trainer_state.json").is_file():
                found.append((int(m.group(1)), p))
    return sorted(found)


def _identity(cfg: TrainConfig, data_sha: str) -> dict[str, Any]:
    """The settings a resumed run must share with the run it continues."""
    keep = ("base_model", "backend", "method", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "epochs",
            "max_steps", "lr", "batch_size", "grad_accum", "seed", "init_adapter", "max_length", "warmup_ratio",
            "weight_decay", "share_prefix")
    d = {k: getattr(cfg, k) for k in keep}
    d["data_sha256"] = data_sha
    return d


def _prepare_out(cfg: TrainConfig, ident: dict[str, Any]) -> Path | None:
    """Check the output folder; the checkpoint to resume from (or None)."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out}: exists and is not a directory")
    rc = out / RUN_CONFIG
    if cfg.resume:
        ck = checkpoints(out)
        if not ck and not rc.is_file():
            raise TrainingError(f"{out}: no checkpoint to resume from (checkpoint-N folders are written every "
                                f"--save-steps)")
        if rc.is_file():
            old = json.loads(rc.read_text(encoding="utf-8"))
            diffs = [f"{k}: was {old.get(k)!r}, now {v!r}" for k, v in ident.items() if old.get(k) != v]
            if diffs:
                raise TrainingError(f"{out}: --resume needs the settings and data of the interrupted run; "
                                    f"differs: " + "; ".join(diffs))
        if ck:
            return ck[-1][1]
        # the same run stopped before its first checkpoint: nothing to continue, so it starts again
        print(f"{out}: no checkpoint yet (stopped before the first one); training starts again from step 0",
              flush=True)
        for p in out.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        common.write_json(rc, ident)
        return None
    if out.is_dir() and any(out.iterdir()):
        if not cfg.overwrite:
            raise TrainingError(f"{out}: is not empty; pass --resume to continue the training there, "
                                f"--overwrite to start again, or choose another --out")
        for p in out.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    common.write_json(rc, ident)
    return None


# -- model ------------------------------------------------------------------------------------------

def _dtype_for_device() -> Any:
    import torch
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def default_targets(model: Any) -> list[str]:
    import torch
    names = set()
    for n, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            names.add(n.rsplit(".", 1)[-1])
    found = [t for t in common.DEFAULT_TARGET_MODULES if t in names]
    if not found:
        raise TrainingError(f"the model has none of the usual projection layers {list(common.DEFAULT_TARGET_MODULES)}; "
                            f"name the layers to adapt with --target-modules (linear layers: {sorted(names)[:12]})")
    return found


def lora_settings(cfg: TrainConfig) -> dict[str, Any]:
    r = cfg.lora_r if cfg.lora_r is not None else 16
    common.check_lora_rank(r)
    return {"r": r, "lora_alpha": cfg.lora_alpha if cfg.lora_alpha is not None else 2 * r,
            "lora_dropout": cfg.lora_dropout if cfg.lora_dropout is not None else 0.0}


def build_peft_model(model: Any, cfg: TrainConfig) -> tuple[Any, dict[str, Any]]:
    """The model to train: a new LoRA (PEFT LoraConfig with vLLM-safe settings), an earlier adapter
    loaded trainable (`init_adapter`), or the model itself (full fine-tuning)."""
    if cfg.method == "full":
        return model, {"method": "full"}
    from peft import LoraConfig, PeftModel, get_peft_model
    if cfg.init_adapter:
        d = Path(cfg.init_adapter)
        if not (d / "adapter_config.json").is_file():
            raise TrainingError(f"--init-adapter {d}: no adapter_config.json there")
        acfg = json.loads((d / "adapter_config.json").read_text(encoding="utf-8"))
        for opt, key in (("lora_r", "r"), ("lora_alpha", "lora_alpha"), ("lora_dropout", "lora_dropout")):
            v = getattr(cfg, opt)
            if v is not None and acfg.get(key) != v:
                raise TrainingError(f"--{opt.replace('_', '-')} {v} differs from the adapter being continued "
                                    f"({key}={acfg.get(key)}); leave it out to keep the adapter's")
        pm = PeftModel.from_pretrained(model, str(d), is_trainable=True)
        return pm, {"method": "lora", "init_adapter": str(d.resolve()), "r": acfg.get("r"),
                    "lora_alpha": acfg.get("lora_alpha"), "lora_dropout": acfg.get("lora_dropout"),
                    "target_modules": sorted(acfg.get("target_modules") or [])}
    s = lora_settings(cfg)
    targets = cfg.target_modules or default_targets(model)
    lc = LoraConfig(r=s["r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"], target_modules=list(targets),
                    bias="none", task_type="CAUSAL_LM", use_dora=False, modules_to_save=None)
    return get_peft_model(model, lc), {"method": "lora", **s, "target_modules": list(targets)}


# -- the trainer_log callback ------------------------------------------------------------------------

def make_log_callback(out: Path, resume_step: int | None, progress: Any) -> Any:
    from transformers import TrainerCallback

    class LogCallback(TrainerCallback):
        """trainer_log.jsonl: one line per logging step; the progress bar follows it."""

        def __init__(self) -> None:
            self.log = common.TrainerLog(out)
            prev = [r for r in common.read_trainer_log(out) if isinstance(r.get("step"), int)
                    and resume_step is not None and r["step"] <= resume_step]
            self.offset = float(prev[-1].get("elapsed_s") or 0.0) if prev else 0.0
            self.log.start(resume_step)
            self.t0 = time.perf_counter()
            self.last_t = self.t0
            self.last_tokens: int | None = None
            self.last_step = resume_step or 0
            self.losses: list[float] = []

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0 = self.last_t = time.perf_counter()
            self.last_tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            self.last_step = state.global_step
            progress.update(state.global_step, total=state.max_steps)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            logs = logs or {}
            if "loss" not in logs or not state.is_world_process_zero:
                return
            now = time.perf_counter()
            tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            dt = now - self.last_t
            tps = (tokens - (self.last_tokens or 0)) / dt if dt > 0 and tokens else None
            rec = self.log.write(state.global_step, float(logs["loss"]), logs.get("learning_rate"),
                                 logs.get("epoch", state.epoch), tps, self.offset + (now - self.t0))
            self.losses.append(float(logs["loss"]))
            self.last_t, self.last_tokens = now, tokens
            progress.update(state.global_step, rec["loss"], rec["tokens_per_s"], total=state.max_steps)

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.log.close()

    return LogCallback()


# -- shared SFT machinery (peft and unsloth) ---------------------------------------------------------

def sft_config(cfg: TrainConfig, n_examples: int, **extra: Any) -> Any:
    import torch
    from trl import SFTConfig
    steps_hint = cfg.max_steps or max(1, int((cfg.epochs or 1) * n_examples / (cfg.batch_size * cfg.grad_accum)))
    logging_steps = cfg.logging_steps or (1 if steps_hint <= 100 else 10)
    kw: dict[str, Any] = dict(
        output_dir=str(cfg.out),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr,
        lr_scheduler_type="cosine",
        warmup_ratio=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        logging_steps=logging_steps,
        logging_first_step=True,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        save_total_limit=CHECKPOINTS_KEPT,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to="none",
        disable_tqdm=True,
        assistant_only_loss=True,
        completion_only_loss=True,
        max_length=cfg.max_length,
        include_num_input_tokens_seen="all",
        gradient_checkpointing=cfg.gradient_checkpointing,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        remove_unused_columns=True,
        packing=False,
    )
    if cfg.max_steps is not None:
        kw["max_steps"] = cfg.max_steps
    else:
        kw["num_train_epochs"] = cfg.epochs
    if torch.cuda.is_available():
        kw["bf16"] = torch.cuda.is_bf16_supported()
        kw["fp16"] = not kw["bf16"]
    else:   # TRL defaults to bf16 autocast, on a CPU too: a third slower there, and not the float32 we state
        kw["bf16"] = kw["fp16"] = False
    kw.update(extra)
    return make_config(SFTConfig, kw)


def make_config(cls: Any, kw: dict[str, Any]) -> Any:
    """`cls(**kw)` across transformers/TRL versions: warmup as a ratio (`warmup_ratio` before transformers 5,
    a float `warmup_steps` since), the tokens-seen option as a bool on older versions, and options a version
    lacks left out with a warning."""
    import inspect
    params = inspect.signature(cls.__init__).parameters
    if "warmup_ratio" in kw and "warmup_ratio" not in params:
        kw["warmup_steps"] = float(kw.pop("warmup_ratio"))
    if "gradient_checkpointing" in kw and "activation_checkpointing" in params:   # the v5 name
        kw["activation_checkpointing"] = kw.pop("gradient_checkpointing")
    tok_seen = params.get("include_num_input_tokens_seen")
    if tok_seen is not None and isinstance(tok_seen.default, bool) and "include_num_input_tokens_seen" in kw:
        kw["include_num_input_tokens_seen"] = True
    dropped = [k for k in kw if k not in params]
    for k in dropped:      # TRL 0.2x (unsloth's pin) lacks a few 1.x options
        kw.pop(k)
    if dropped:
        print(f"harness: warning: this TRL/transformers has no {', '.join(dropped)} option; left out", file=sys.stderr)
    return cls(**kw)


PREFIX_SHARING_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")   # plain lm_head over the last hidden state


def bsz_tokens(ids: Any, p: int) -> int:
    return int(ids.size(0)) * int(ids.size(1) - p)


def make_trainer_class(share_prefix: bool) -> Any:
    """SFTTrainer, or a subclass whose training loss runs the batch's shared prefix once.

    Examples of one run share their first tokens (system prompt, tools, the start of the user turn).
    The subclass runs that prefix once (batch 1), expands its KV cache across the batch and runs only
    the suffixes: the loss is TRL's token-mean NLL over the same labels (within float error; a test
    compares them) at a fraction of the cost when the prompt dominates. It falls back to TRL's own
    loss whenever the shortcut does not apply: evaluation, several processes, gradient checkpointing,
    padding-free or left-padded batches, architectures outside PREFIX_SHARING_MODEL_TYPES, or a shared
    prefix under 16 tokens."""
    from trl import SFTTrainer
    if not share_prefix:
        return SFTTrainer

    class PrefixSharingSFTTrainer(SFTTrainer):
        prefix_steps = 0

        def _backbone(self, model: Any) -> Any:
            m = model
            if hasattr(m, "get_base_model"):
                m = m.get_base_model()
            cfg = getattr(m, "config", None)
            if getattr(cfg, "model_type", None) not in PREFIX_SHARING_MODEL_TYPES:
                return None
            if not (hasattr(m, "model") and hasattr(m, "lm_head")):
                return None
            if getattr(cfg, "final_logit_softcapping", None):
                return None
            return m

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            import torch
            import torch.nn.functional as F

            from trainers.scratch.train import cache_kwarg, expand_cache
            ids, labels, attn = inputs.get("input_ids"), inputs.get("labels"), inputs.get("attention_mask")
            base = self._backbone(model) if model is not None else None
            ok = (not return_outputs and self.model.training and base is not None and ids is not None
                  and labels is not None and attn is not None and "position_ids" not in inputs
                  and self.accelerator.num_processes == 1
                  and not (getattr(self.args, "activation_checkpointing", False) or self.args.gradient_checkpointing)
                  and not self.aux_loss_enabled and self.label_smoother is None and self.compute_loss_func is None
                  and self.args.loss_type == "nll" and ids.dim() == 2 and ids.size(0) > 1)
            if ok:
                lens = attn.sum(1)
                ok = bool((attn == (torch.arange(attn.size(1), device=attn.device)[None] < lens[:, None])).all())
            p = 0
            if ok:
                same = (ids == ids[:1]).all(0)
                diff = (~same).nonzero()
                p = int(diff[0]) if len(diff) else ids.size(1)
                p = min(p, int(lens.min()) - 1)
                has_label = labels != -100
                first = torch.where(has_label.any(1), has_label.float().argmax(1), torch.full_like(lens, ids.size(1)))
                p = min(p, int(first.min()) - 1)
                vocab = int(getattr(base.config, "vocab_size", 0) or 0)
                ok = p >= 16 and bsz_tokens(ids, p) * vocab <= 64 * 2 ** 20    # full suffix logits stay small
            if not ok:
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            from transformers import DynamicCache
            bsz = ids.size(0)
            cache = DynamicCache()
            kw = cache_kwarg(base.model)
            base.model(input_ids=ids[:1, :p], use_cache=True, **{kw: cache})
            expand_cache(cache, bsz)
            suf = ids[:, p:]
            pos = torch.arange(p, ids.size(1), device=ids.device)[None].expand(bsz, -1)
            hidden = base.model(input_ids=suf, position_ids=pos, use_cache=True, **{kw: cache}).last_hidden_state
            logits = base.lm_head(hidden)
            lab = labels[:, p + 1:]
            nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(), lab.reshape(-1),
                                  ignore_index=-100, reduction="sum")
            mask = lab != -100
            num_tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
            loss = nll / torch.as_tensor(num_tokens, device=nll.device).clamp(min=1)
            mode = "train"
            with torch.no_grad():
                lp = logits[:, :-1].float().log_softmax(-1)
                ent = -(lp.exp() * lp).sum(-1)
                correct = (lp.argmax(-1) == lab) & mask
                n = mask.sum().clamp(min=1)
                self._metrics[mode]["entropy"].append(float((ent * mask).sum() / n))
                self._metrics[mode]["mean_token_accuracy"].append(float(correct.sum() / n))
            self._total_train_tokens += int(attn.sum())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            PrefixSharingSFTTrainer.prefix_steps += 1
            return loss

    return PrefixSharingSFTTrainer


def check_prepared_labels(trainer: Any, expected: list[tuple[list[int], list[int]]]) -> None:
    """TRL's prepared labels must put loss exactly where our mask does (and never nowhere)."""
    ds = trainer.train_dataset
    if ds is None or "labels" not in ds.column_names:
        return
    for i, row in enumerate(ds):
        labels = row["labels"]
        got = sum(1 for x in labels if x != IGNORE_INDEX)
        if got == 0:
            raise TrainingError(f"training example #{i + 1} has an empty loss mask after TRL's preparation")
        if i < len(expected):
            want = sum(1 for x in expected[i][1] if x != IGNORE_INDEX)
            if got != want:
                raise TrainingError(f"training example #{i + 1}: TRL masks {got} target tokens where the chat "
                                    f"template's generation span gives {want}; refusing to train on a wrong mask")


def run_sft(cfg: TrainConfig, model: Any, tokenizer: Any, examples: list[dict[str, Any]], source: dict[str, Any],
            model_info: dict[str, Any], t_start: float, backend_info: dict[str, Any] | None = None) -> TrainResult:
    """Train with TRL's SFTTrainer (model already wrapped for LoRA or full), save, check, describe."""
    import torch

    from trainers import data

    out = Path(cfg.out)
    encoded = common.encode_examples(tokenizer, examples, f"{cfg.run or cfg.data}")
    ident = _identity(cfg, data.data_sha256(examples))
    resume_from = _prepare_out(cfg, ident)
    resume_step = int(_CKPT.match(resume_from.name).group(1)) if resume_from else None
    dataset = to_dataset(examples)
    args = sft_config(cfg, len(examples))
    with common.Progress(cfg.max_steps, f"train {cfg.backend}", cfg.progress) as bar, common.quiet_libraries():
        cb = make_log_callback(out, resume_step, bar)
        trainer_cls = make_trainer_class(cfg.share_prefix and cfg.backend == "peft")
        trainer = trainer_cls(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                              callbacks=[cb])
        from transformers.trainer_callback import PrinterCallback
        trainer.remove_callback(PrinterCallback)   # raw log dicts on stdout; our bar and trainer_log.jsonl say it
        check_prepared_labels(trainer, encoded)
        if resume_from is not None:
            print(f"resumed from {resume_from.name}", flush=True)
        t_train = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        train_s = time.perf_counter() - t_train
    state = trainer.state
    tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
    first_step = resume_step or 0
    tps = None
    if train_s > 0 and tokens:
        done_frac = (state.global_step - first_step) / max(state.global_step, 1)
        tps = tokens * done_frac / train_s

    # save: adapter (or full model) + tokenizer with its chat template
    final = trainer.model
    final.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    problems: list[str] = []
    if model_info.get("method") == "lora":
        problems = common.adapter_problems(out, max_lora_rank=cfg.max_lora_rank, base_model=str(cfg.base_model))
    info = {
        "kind": "lora-adapter" if model_info.get("method") == "lora" else "full-model",
        "backend": cfg.backend,
        "base_model": str(Path(cfg.base_model).resolve()) if Path(cfg.base_model).exists() else cfg.base_model,
        "data": source,
        "data_sha256": ident["data_sha256"],
        "hyperparameters": {
            **model_info, "epochs": cfg.epochs, "max_steps": cfg.max_steps, "lr": cfg.lr,
            "batch_size": cfg.batch_size, "grad_accum": cfg.grad_accum, "save_steps": cfg.save_steps,
            "warmup_ratio": cfg.warmup_ratio, "weight_decay": cfg.weight_decay, "max_length": cfg.max_length,
            "lr_scheduler": "cosine", "assistant_only_loss": True, "completion_only_loss": True,
            "gradient_checkpointing": cfg.gradient_checkpointing,
            "share_prefix": cfg.share_prefix and cfg.backend == "peft", "threads": torch.get_num_threads(),
            "prefix_shared_steps": getattr(type(trainer), "prefix_steps", 0), **(backend_info or {}),
        },
        "seed": cfg.seed,
        "steps": state.global_step,
        "resumed_from": resume_from.name if resume_from else None,
        "train_loss": getattr(result, "training_loss", None),
        "target_tokens": sum(1 for _, lab in encoded for x in lab if x != IGNORE_INDEX),
        "tokens_seen": tokens,
        "tokens_per_s": round(tps, 1) if tps else None,
        "timing": {"wall_s": round(time.perf_counter() - t_start, 2), "train_s": round(train_s, 2)},
        "versions": common.package_versions(),
        "device": common.device_summary(),
        "vllm_compatible": not problems if model_info.get("method") == "lora" else None,
        "adapter_problems": problems,
    }
    common.write_json(out / common.TRAINING_JSON, info)
    del torch
    return TrainResult(out, state.global_step, info["resumed_from"], len(examples), info["train_loss"],
                       info["tokens_per_s"], time.perf_counter() - t_start, problems, info)


def train(cfg: TrainConfig) -> TrainResult:
    """The peft backend (TRL SFTTrainer + PEFT)."""
    t_start = time.perf_counter()
    cfg = cfg.resolved()
    if cfg.backend != "peft":
        raise TrainingError(f"peft_backend.train got backend {cfg.backend!r}")
    base = Path(cfg.base_model)
    if not (base / "config.json").is_file():
        raise TrainingError(f"--base-model {cfg.base_model}: not a model directory (no config.json); "
                            f"models are local folders (train one with `harness train-base`)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    common.seed_everything(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    common.require_generation_markers(tokenizer, f"--base-model {base}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples, source = load_examples(cfg, tokenizer)
    with common.quiet_libraries():
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=_dtype_for_device())
    if torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        model = model.to("cuda")
    threads_before = torch.get_num_threads()
    if cfg.threads is None and not torch.cuda.is_available() and \
            sum(p.numel() for p in model.parameters()) < TINY_PARAMS:
        torch.set_num_threads(1)      # tiny models: see trainers.scratch.train.TINY_PARAMS
    try:
        with common.quiet_libraries():
            model, model_info = build_peft_model(model, cfg)
        return run_sft(cfg, model, tokenizer, examples, source, model_info, t_start)
    finally:
        torch.set_num_threads(threads_before)


__all__ = ["TrainConfig", "TrainResult", "checkpoints", "train", "to_dataset", "run_sft", "build_peft_model"]
