"""The status line of `harness eval --progress`: a rich bar on stderr, redrawn by a timer (never from the
hot path) with pass rate, tokens, errors and requests per second. When stderr is not a terminal (a log
file, a pipe, CI), a plain line every STATUS_EVERY_S seconds instead ($HARNESS_STATUS_EVERY overrides):
done/total, pass rate so far, requests/s, errors, ETA."""
from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.eval.dispatch import Runner


STATUS_EVERY_S = 5.0


def status_line(done: int, total: int, ok: int, passed: int, errors: int, sent: int, cached: int,
                elapsed: float) -> str:
    """One plain status line (no terminal codes)."""
    rate = f"{100 * passed / ok:.1f}%" if ok else "-"
    per_s = done / elapsed if elapsed > 0 else 0.0
    left = total - done
    eta = f"{left / per_s:,.0f}s" if per_s > 0 and left > 0 else ("0s" if left <= 0 else "-")
    pct = f" ({100 * done / total:.0f}%)" if total else ""
    line = (f"eval {done}/{total}{pct} · pass {rate} · {sent / elapsed if elapsed > 0 else 0:,.1f} req/s · "
            f"errors {errors}")
    if cached:
        line += f" · cached {cached}"
    return line + f" · elapsed {elapsed:,.0f}s · ETA {eta}"


class Progress:
    """A rich progress bar on stderr, refreshed by a timer (≤ 8/s), never from the hot path; plain
    status lines every few seconds when stderr is not a terminal."""

    def __init__(self, runner: Runner, total: int, enabled: bool):
        self.runner = runner
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.plain = enabled and not self.enabled
        self._task: asyncio.Task[None] | None = None
        self._prog: Any = None

    def start(self) -> None:
        if self.plain:
            self._t0 = time.perf_counter()
            try:
                every = float(os.environ.get("HARNESS_STATUS_EVERY") or STATUS_EVERY_S)
            except ValueError:
                every = STATUS_EVERY_S
            self._task = asyncio.ensure_future(self._lines(max(0.05, every)))
            return
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self._prog = Progress(TextColumn("[bold]eval[/]"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                              console=Console(stderr=True), auto_refresh=False, transient=False)
        self._id = self._prog.add_task("eval", total=self.total, info="")
        self._prog.start()
        self._t0 = time.perf_counter()
        self._task = asyncio.ensure_future(self._tick())

    def _update(self) -> None:
        st = self.runner.stats
        done = st.ok + st.errors
        rate = f"{100 * st.passed / st.ok:.1f}%" if st.ok else "-"
        el = max(1e-9, time.perf_counter() - self._t0)
        info = (f"pass {rate} · tok {st.prompt_tokens + st.completion_tokens:,} · err {st.errors} · "
                f"{st.requests_sent / el:,.0f} req/s")
        if st.cache_hits:
            info += f" · cached {st.cache_hits}"
        self._prog.update(self._id, completed=done, info=info)
        self._prog.refresh()

    def _line(self) -> str:
        st = self.runner.stats
        return status_line(st.ok + st.errors, self.total, st.ok, st.passed, st.errors, st.requests_sent,
                           st.cache_hits, time.perf_counter() - self._t0)

    async def _lines(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            print(self._line(), file=sys.stderr, flush=True)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.125)
            self._update()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.plain and self._task is not None:
            print(self._line(), file=sys.stderr, flush=True)
        if self._prog is not None:
            self._update()
            self._prog.stop()


__all__ = ["STATUS_EVERY_S", "Progress", "status_line"]
