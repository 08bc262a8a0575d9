"""The scripted server (or another server that prints `listening URL`) as a subprocess, from synchronous
code or another process:

    with spawn_server("--latency", "0.2", "--suite", "roo-starter") as url:   # "http://127.0.0.1:PORT/v1"
        ...
    # leaving the block: SIGTERM (SIGKILL if it does not stop within 10 s)

The child runs in the caller's working directory with the directory that holds the `harness` package
put first on PYTHONPATH, so it imports this same copy of harness whether or not it is installed.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from harness.serve.process import ExitedEarly, NotReady, ServerProcess

# the sys.path entry this copy of harness was imported from (harness/testing/spawn.py -> its parent)
_IMPORT_ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def spawn_server(*args: str, timeout: float = 30.0, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `python -m harness.testing.scripted --port 0 ARGS...` as a subprocess; yield its base URL
    (…/v1); stop it with SIGTERM on exit (SIGKILL if it does not stop within 10 s)."""
    base = dict(os.environ if env is None else env)
    base["PYTHONPATH"] = os.pathsep.join([str(_IMPORT_ROOT), *filter(None, [base.get("PYTHONPATH")])])
    with spawn_process([sys.executable, "-m", "harness.testing.scripted", "--port", "0", *args], cwd=None,
                       env=base, timeout=timeout) as url:
        yield url


@contextlib.contextmanager
def spawn_process(cmd: list[str], *, cwd: str | Path | None, env: dict[str, str] | None,
                  timeout: float) -> Iterator[str]:
    """Run a server command that prints `listening URL`; yield the URL; SIGTERM its process group on exit
    (SIGKILL after 10 s). Its stderr goes to a file, not a pipe: a chatty server can never block on it."""
    with ServerProcess(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, capture_stderr=True, text=True,
                       stop_grace=10.0) as proc:
        try:
            url = proc.wait_line("listening ", timeout)
        except NotReady:
            raise RuntimeError(f"scripted server did not print its listening line within {timeout} s") from None
        except ExitedEarly as e:
            raise RuntimeError(f"scripted server exited ({e.returncode}): {proc.stderr_tail()}") from None
        yield url
