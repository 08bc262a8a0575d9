"""The one configuration and result of `harness train`, whatever the backend (peft, unsloth, grpo).

    cfg = TrainConfig(base_model="models/tiny", out="adapters/a1", run="runs/r1", max_steps=40).resolved()

`run` (--from-run) names a run directory; trainers never read one themselves: the harness hands the
backend a `RunReader` (`harness.loop.data.export_run`) that turns the run into examples.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainers.errors import TrainingError
from trainers.vllm_rules import check_lora_rank

DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# (run_dir, *, replay, seed, suite) -> (examples, trainers.data.ExportStats): a run's failures as examples
RunReader = Callable[..., tuple[list[dict[str, Any]], Any]]


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
                check_lora_rank(c.lora_r)
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


__all__ = ["DEFAULT_TARGET_MODULES", "RunReader", "TrainConfig", "TrainResult"]
