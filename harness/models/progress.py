"""Progress of a pull or an import on stderr: a bar on a terminal, a status line every few seconds when
stderr is piped (CI logs, `2> log`), nothing with quiet. stdout stays free for the directory printed at
the end."""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

PIPED_EVERY_S = 5.0


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


class Status:
    def __init__(self, quiet: bool = False, stream: IO[str] | None = None, every_s: float = PIPED_EVERY_S):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"harness models: {text}", file=self.stream, flush=True)

    @contextmanager
    def waiting(self, label: str, measure: Callable[[], float] | None = None,
                total: float | None = None) -> Iterator[None]:
        """While the block runs: `label` with elapsed time (and bytes measured/total when `measure` is
        given), as a rich bar on a terminal or a line every few seconds when piped."""
        if self.quiet:
            yield
            return
        t0 = time.perf_counter()
        stop = threading.Event()
        if self.tty:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn, TransferSpeedColumn)
            cols = [SpinnerColumn(), TextColumn(label)]
            if measure is not None:
                cols += [BarColumn(), DownloadColumn(), TransferSpeedColumn()]
            prog = Progress(*cols, TimeElapsedColumn(), console=Console(file=self.stream), transient=False)
            task = prog.add_task(label, total=total)

            def tick() -> None:
                while not stop.wait(0.2):
                    if measure is not None:
                        prog.update(task, completed=measure())
            with prog:
                th = threading.Thread(target=tick, daemon=True)
                th.start()
                try:
                    yield
                finally:
                    stop.set()
                    th.join()
                    if measure is not None:
                        prog.update(task, completed=measure())
            return

        def line() -> str:
            el = time.perf_counter() - t0
            if measure is None:
                return f"{label}: {el:.0f} s"
            got = measure()
            of = f" of {_mb(total)} ({100 * got / total:.0f}%)" if total else ""
            return f"{label}: {_mb(got)}{of}, {el:.0f} s"

        def ticker() -> None:
            while not stop.wait(self.every_s):
                self.say(line())
        th = threading.Thread(target=ticker, daemon=True)
        th.start()
        try:
            yield
        finally:
            stop.set()
            th.join()
        self.say(f"{label}: done in {time.perf_counter() - t0:.1f} s")


__all__ = ["Status"]
