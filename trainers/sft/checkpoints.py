"""The output folder of a training run: its checkpoint-N folders (the Trainer writes one every
--save-steps, the last CHECKPOINTS_KEPT kept), and what --resume / --overwrite do with a folder that is
not empty (train_config.json holds the settings a resume must match).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from trainers.config import TrainConfig
from trainers.errors import TrainingError
from trainers.sft.record import write_json

RUN_CONFIG = "train_config.json"     # what a --resume must match
CHECKPOINTS_KEPT = 3

_CKPT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first: the Trainer writes trainer_state.json last, and a kill -9
    while it writes leaves the file empty or cut, so only one that parses marks a checkpoint complete."""
    found = []
    if out.is_dir():
        for p in out.iterdir():
            m = _CKPT.match(p.name)
            if m and p.is_dir() and _state_complete(p / "trainer_state.json"):
                found.append((int(m.group(1)), p))
    return sorted(found)


def _state_complete(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def identity(cfg: TrainConfig, data_sha: str) -> dict[str, Any]:
    """The settings a resumed run must share with the run it continues."""
    keep = ("base_model", "backend", "method", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "epochs",
            "max_steps", "lr", "batch_size", "grad_accum", "seed", "init_adapter", "max_length", "warmup_ratio",
            "weight_decay", "share_prefix")
    d = {k: getattr(cfg, k) for k in keep}
    d["data_sha256"] = data_sha
    return d


def prepare_out(cfg: TrainConfig, ident: dict[str, Any]) -> Path | None:
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
        write_json(rc, ident)
        return None
    if out.is_dir() and any(out.iterdir()):
        if not cfg.overwrite:
            raise TrainingError(f"{out}: is not empty; pass --resume to continue the training there, "
                                f"--overwrite to start again, or choose another --out")
        for p in out.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    write_json(rc, ident)
    return None


def checkpoint_step(path: Path) -> int:
    """N of a checkpoint-N folder."""
    m = _CKPT.match(path.name)
    if m is None:
        raise ValueError(f"{path}: not a checkpoint-N folder")
    return int(m.group(1))


__all__ = ["CHECKPOINTS_KEPT", "RUN_CONFIG", "checkpoint_step", "checkpoints", "identity", "prepare_out"]
