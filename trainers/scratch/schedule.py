"""The schedule of a training run from scratch: the learning rate per step, seeded batches, and the CPU
thread count (ThreadTuner follows the load under a clock budget; CollapseGuard keeps a fixed step count's
threads unless steps collapse).
"""
from __future__ import annotations

import math
import time
from typing import Any


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


def probe_step(model: Any, fn: Any, batch: list[tuple[list[int], list[int]]], pad_id: int) -> float:
    """Seconds of one forward+backward on `batch` (after one warm-up); gradients are discarded."""
    fn(model, batch, pad_id)[0].backward()
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    fn(model, batch, pad_id)[0].backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


__all__ = ["Batches", "CollapseGuard", "ThreadTuner", "lr_at", "probe_step"]
