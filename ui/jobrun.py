"""The job wrapper: `python -m ui.jobrun JOB_DIR -- harness-args...`.

Started by the UI as the leader of a new process group, it runs `python -m harness.cli ARGS` as its
child (same group), records the child's pid in JOB_DIR/child.pid and, when the child ends, its exit
status in JOB_DIR/exit.json — so the UI knows how a job ended even after the UI itself was restarted
(the job is then no child of the new UI process and cannot be `wait`ed for). SIGTERM/SIGINT/SIGHUP
sent to the wrapper alone are passed on to the child; the wrapper waits for it and records the status.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from ui.data.files import write_json


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m ui.jobrun JOB_DIR -- HARNESS_ARGS...", file=sys.stderr)
        return 2
    job_dir, args = Path(argv[0]), argv[2:]
    cmd = [sys.executable, "-m", "harness.cli", *args]
    child: subprocess.Popen[bytes] | None = None
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if child is not None and child.poll() is None:
            try:
                child.send_signal(signum)
            except ProcessLookupError:
                pass

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    started = time.time()
    try:
        child = subprocess.Popen(cmd)
    except OSError as e:
        print(f"harness ui: cannot start {cmd[0]}: {e}", file=sys.stderr, flush=True)
        write_json(job_dir / "exit.json", {"rc": 127, "ended_at": time.time(), "error": str(e)})
        return 127
    (job_dir / "child.pid").write_text(str(child.pid), encoding="utf-8")
    if received:   # a stop arrived before the child existed
        child.send_signal(received[0])
    rc = child.wait()
    write_json(job_dir / "exit.json", {"rc": rc, "signal": -rc if rc < 0 else None, "ended_at": time.time(),
                                       "started_at": started, "stop_signals": received})
    sys.stdout.flush()
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
