"""What a training run shows while it runs: trainer_log.jsonl (one line per logging step, continued
without duplicates after a resume), its reader, the progress bar, and the TRL callback that feeds both.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

LOG_NAME = "trainer_log.jsonl"
LOG_FIELDS = ("step", "loss", "lr", "epoch", "tokens_per_s", "elapsed_s")


class TrainerLog:
    """Appends one JSON line per logging step (`step, loss, lr, epoch, tokens_per_s, elapsed_s`).

    `start(resume_step)` drops lines past the step a resumed run restarts from, so the log continues
    with no duplicated step. Every line is flushed at once (the UI and the CLI tail the file)."""

    def __init__(self, out_dir: str | os.PathLike[str]):
        self.path = Path(out_dir) / LOG_NAME
        self._f: Any = None

    def start(self, resume_step: int | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        elif self.path.exists():
            kept = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue          # a line cut by a kill
                if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= resume_step:
                    kept.append(json.dumps(rec))
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(k + "\n" for k in kept))
            os.replace(tmp, self.path)
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, step: int, loss: float | None, lr: float | None, epoch: float | None,
              tokens_per_s: float | None, elapsed_s: float, **extra: Any) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "step": int(step),
            "loss": None if loss is None or not math.isfinite(loss) else round(float(loss), 6),
            "lr": None if lr is None else float(f"{lr:.6g}"),
            "epoch": None if epoch is None else round(float(epoch), 4),
            "tokens_per_s": None if tokens_per_s is None else round(float(tokens_per_s), 1),
            "elapsed_s": round(float(elapsed_s), 3),
        }
        rec.update(extra)
        if self._f is None:
            self.start(None)
        self._f.write(json.dumps(rec) + "\n")
        self._f.flush()
        return rec

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def read_trainer_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    p = Path(path)
    if p.is_dir():
        p = p / LOG_NAME
    out = []
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


class Progress:
    """A rich progress bar fed from log records (step, loss, tokens/s); silent when not a terminal
    unless `force`."""

    def __init__(self, total: int | None, description: str = "training", enabled: bool | None = None):
        self.total = total
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._p: Any = None
        self._task: Any = None
        self.description = description

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RP, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            self._p = RP(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                         console=Console(stderr=True), transient=False)
            self._p.__enter__()
            self._task = self._p.add_task(self.description, total=self.total, info="")
        return self

    def update(self, step: int, loss: float | None = None, tokens_per_s: float | None = None,
               total: int | None = None, **extra: Any) -> None:
        if self._p is None:
            return
        info = []
        if loss is not None:
            info.append(f"loss {loss:.4f}")
        if tokens_per_s:
            info.append(f"{tokens_per_s:,.0f} tok/s")
        for k, v in extra.items():
            info.append(f"{k} {v}")
        kw: dict[str, Any] = {"completed": step, "info": "  ".join(info)}
        if total is not None:
            kw["total"] = total
        self._p.update(self._task, **kw)

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)
            self._p = None


def make_log_callback(out: Path, resume_step: int | None, progress: Any, main: bool = True) -> Any:
    """The callback; with `main` False (another process of a multi-process run) it writes nothing."""
    from transformers import TrainerCallback

    class LogCallback(TrainerCallback):
        """trainer_log.jsonl: one line per logging step; the progress bar follows it."""

        def __init__(self) -> None:
            self.log = TrainerLog(out)
            prev = [r for r in read_trainer_log(out) if isinstance(r.get("step"), int)
                    and resume_step is not None and r["step"] <= resume_step]
            self.offset = float(prev[-1].get("elapsed_s") or 0.0) if prev else 0.0
            if main:
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


__all__ = ["LOG_FIELDS", "LOG_NAME", "Progress", "TrainerLog", "make_log_callback", "read_trainer_log"]
