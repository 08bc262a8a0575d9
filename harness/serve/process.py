"""One supervisor for server subprocesses: the local engine of `harness demo`, `vllm serve`, the scripted
test servers.

    with ServerProcess(cmd, stdout=subprocess.PIPE, text=True) as p:   # its own process group
        url = p.wait_line("listening ", timeout=30)      # the rest of the first line with that prefix
        # or: p.wait_http(base + "/health", timeout=1800) — polls until 200, returns the seconds taken
    # leaving the block: SIGTERM to the whole group, SIGKILL after `stop_grace` seconds

Each command runs in a new session, so a server that forks workers (vLLM) is stopped with all of them,
and a leader that already exited leaves nothing of its group behind. Waiting raises `NotReady` (the
timeout passed) or `ExitedEarly` (the process exited first); callers turn these into their own messages.
"""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any


class ProcessError(Exception):
    """A supervised process did not become ready."""


class NotReady(ProcessError):
    """The timeout passed before the process was ready."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"not ready within {timeout} s")
        self.timeout = timeout


class ExitedEarly(ProcessError):
    """The process exited before it was ready."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"exited with status {returncode} before it was ready")
        self.returncode = returncode


def http_ok(url: str, timeout: float = 5.0) -> bool:
    """True when GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class ServerProcess:
    """A command in its own process group, with ways to wait until it is ready and to stop it whole.

    `stdout`/`stderr` go to Popen unchanged; `capture_stderr=True` sends stderr to a temporary file (never
    a pipe: a chatty server cannot block on it) whose end `stderr_tail()` reads."""

    def __init__(self, cmd: Sequence[str], *, cwd: str | Path | None = None, env: dict[str, str] | None = None,
                 stdout: Any = None, stderr: Any = None, capture_stderr: bool = False, text: bool = False,
                 stop_grace: float = 10.0) -> None:
        self.cmd = list(cmd)
        self.cwd, self.env, self.text, self.stop_grace = cwd, env, text, stop_grace
        self._stdout, self._stderr = stdout, stderr
        self._err_file: IO[str] | None = None
        if capture_stderr:
            self._err_file = tempfile.TemporaryFile(mode="w+")
            self._stderr = self._err_file
        self.proc: subprocess.Popen[Any] | None = None

    # -- start ---------------------------------------------------------------------------------------

    def start(self) -> ServerProcess:
        """Start the command (OSError when it cannot be run)."""
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=self._stdout,
                                     stderr=self._stderr, stdin=subprocess.DEVNULL, text=self.text,
                                     start_new_session=True)
        return self

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        self.close()

    # -- wait until ready ----------------------------------------------------------------------------

    def wait_line(self, prefix: str, timeout: float) -> str:
        """Read stdout (a pipe) until a line starts with `prefix`; return the rest of it, stripped. Other
        lines are skipped."""
        proc = self._started()
        assert proc.stdout is not None, "wait_line needs stdout=subprocess.PIPE"
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise NotReady(timeout)
                line = proc.stdout.readline()
                if isinstance(line, bytes):
                    line = line.decode(errors="replace")
                if not line:   # stdout closed: the process is exiting
                    try:
                        rc = proc.wait(max(0.0, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        raise NotReady(timeout) from None
                    raise ExitedEarly(rc)
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
        finally:
            sel.close()

    def wait_http(self, url: str, timeout: float, *, interval: float = 0.5,
                  progress: Callable[[float], None] | None = None, progress_every: float = 15.0,
                  check: Callable[[str], bool] = http_ok) -> float:
        """Poll GET `url` until it answers 200; return the seconds it took."""
        proc = self._started()
        t0 = time.monotonic()
        next_note = t0 + progress_every
        while True:
            if check(url):
                return time.monotonic() - t0
            rc = proc.poll()
            if rc is not None:
                raise ExitedEarly(rc)
            now = time.monotonic()
            if now - t0 > timeout:
                raise NotReady(timeout)
            if progress is not None and now >= next_note:
                progress(now - t0)
                next_note = now + progress_every
            try:
                proc.wait(interval)      # returns early if it dies; otherwise paces the polling
            except subprocess.TimeoutExpired:
                pass

    def stderr_tail(self, chars: int = 2000) -> str:
        """The end of the captured stderr (capture_stderr=True), stripped; "" otherwise."""
        if self._err_file is None or self._err_file.closed:
            return ""
        self._err_file.seek(0)
        return self._err_file.read().strip()[-chars:]

    # -- stop ----------------------------------------------------------------------------------------

    def signal(self, sig: int) -> None:
        """Send `sig` to the whole process group while its leader runs."""
        if self.proc is not None and self.proc.poll() is None:
            self._killpg(sig)

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM the process group, SIGKILL after `grace` (default stop_grace) seconds; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._killpg(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_grace if grace is None else grace)
            except subprocess.TimeoutExpired:
                self._killpg(signal.SIGKILL)
                self.proc.wait()
        else:   # the leader is gone; make sure no worker of its group is left behind
            self._killpg(signal.SIGKILL)
        return self.proc.returncode

    def close(self) -> None:
        """Close our ends of the pipes and the captured stderr (after stop)."""
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        if self._err_file is not None:
            self._err_file.close()

    def _killpg(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _started(self) -> subprocess.Popen[Any]:
        assert self.proc is not None, "start() first"
        return self.proc


__all__ = ["ExitedEarly", "NotReady", "ProcessError", "ServerProcess", "http_ok"]
