"""The status line of `harness eval --progress`: a rich bar on stderr, redrawn by a timer (never from the
hot path) with pass rate, tokens, errors and requests per second."""
from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.eval.dispatch import Runner


class Progress:
    """A rich progress bar on stderr, refreshed by a timer (≤ 8/s), never from the hot path."""

    def __init__(self, runner: Runner, total: int, enabled: bool):
        self.runner = runner
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._task: asyncio.Task[None] | None = None
        self._prog: Any = None

    def start(self) -> None:
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

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.125)
            self._update()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._prog is not None:
            self._update()
            self._prog.stop()


__all__ = ["Progress"]
