"""The job console's registry: jobs are `harness` CLI subprocesses, recorded on disk so they survive a page
reload and an app restart.

    $HARNESS_HOME/jobs/<id>/job.json    kind, title, command (scrubbed, for display), pid/pgid, process
                                        start time, out dir, planned work, start/end, stop requests
    $HARNESS_HOME/jobs/<id>/log.txt     the command's stdout and stderr
    $HARNESS_HOME/jobs/<id>/exit.json   written by the wrapper (ui.jobrun) when the command ends
    $HARNESS_HOME/jobs/<id>/child.pid   the harness process under the wrapper

Each job runs as `python -m ui.jobrun JOB_DIR -- ARGS` in a new session (its own process group), which
runs `python -m harness.cli ARGS`: the UI has no logic of its own, it builds a command line. Stop sends
SIGTERM to the whole group, then SIGKILL after a grace period. Liveness is checked against the pid's
start time in /proc, so a recycled pid is never taken for the job. API keys never reach this folder:
forms take the *name* of an environment variable, and the command recorded for display is scrubbed.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ui.data.files import read_json, read_jsonl, write_json
from ui.data.loop import loop_baseline, loop_rounds
from ui.data.text import command_line, scrub_text

KINDS = ("eval", "train", "loop")
STOP_GRACE_S = 10.0
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


class JobError(Exception):
    """A job request the registry refuses (bad id, bad form value); the message is for the user."""


# -- processes --------------------------------------------------------------------------------------

def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a live pid, None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    rest = raw[raw.rfind(")") + 2:].split()
    try:
        return rest[0], int(rest[19])
    except (IndexError, ValueError):
        return None


def proc_start_time(pid: int) -> int | None:
    st = _proc_stat(pid)
    return st[1] if st else None


def pid_alive(pid: int | None, start_time: int | None = None) -> bool:
    """True while `pid` runs (not a zombie) and, when given, still has the same start time."""
    if not pid:
        return False
    st = _proc_stat(int(pid))
    if st is None:
        if Path("/proc/self/stat").exists():
            return False
        try:                      # no /proc (macOS): signal 0
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state, started = st
    if state in ("Z", "X"):
        return False
    return start_time is None or started == start_time


def _group_alive(pgid: int) -> bool:
    """Any non-zombie process left in the process group?"""
    proc = Path("/proc")
    if not proc.exists():
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2:].split()
        if len(rest) > 2 and rest[2] == str(pgid) and rest[0] not in ("Z", "X"):
            return True
    return False


# -- the registry -----------------------------------------------------------------------------------

def _now() -> float:
    return time.time()


def _iso(t: float | None) -> str:
    if not t:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


class JobRegistry:
    """Jobs under `home/jobs`. Safe to use from several threads (Gradio handlers) and to recreate after a
    restart: everything it knows is on disk."""

    def __init__(self, home: str | os.PathLike[str], *, cwd: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None):
        self.home = Path(home)
        self.root = self.home / "jobs"
        self.cwd = str(cwd or os.getcwd())
        self.env = dict(env) if env is not None else None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}   # jobs this process started (to reap them)
        self._lock = threading.Lock()
        self._progress_cache: dict[str, tuple[int, int, dict[str, int]]] = {}

    # paths / records
    def job_dir(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise JobError(f"no such job: {job_id!r}")
        return self.root / job_id

    def _read(self, job_id: str) -> dict[str, Any]:
        p = self.job_dir(job_id) / "job.json"
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise JobError(f"no such job: {job_id}") from None
        except (OSError, ValueError) as e:
            raise JobError(f"{p}: unreadable job record ({e})") from None
        if not isinstance(data, dict):
            raise JobError(f"{p}: not a job record")
        return data

    def _write(self, job: Mapping[str, Any]) -> None:
        d = self.job_dir(str(job["id"]))
        d.mkdir(parents=True, exist_ok=True)
        write_json(d / "job.json", dict(job), indent=2)

    def _update(self, job_id: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            job = self._read(job_id)
            job.update(fields)
            self._write(job)
            return job

    # start
    def new_id(self, kind: str) -> str:
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(3)}"

    def start(self, kind: str, args: Sequence[str], *, title: str = "", out: str | None = None,
              planned: int | None = None, job_id: str | None = None) -> dict[str, Any]:
        """Start `python -m harness.cli ARGS` as a job; returns its record."""
        if kind not in KINDS:
            raise JobError(f"unknown job kind {kind!r} (one of {', '.join(KINDS)})")
        job_id = job_id or self.new_id(kind)
        d = self.job_dir(job_id)
        d.mkdir(parents=True, exist_ok=False)
        args = [str(a) for a in args]
        shown = command_line(["harness", *args])
        job: dict[str, Any] = {
            "id": job_id, "kind": kind, "title": title or shown[:80], "command": shown,
            "out": str(Path(self.cwd, out)) if out and not os.path.isabs(out) else out,
            "planned": planned, "cwd": self.cwd, "log": str(d / "log.txt"),
            "created_at": _now(), "started_at": None, "ended_at": None, "pid": None, "pgid": None,
            "proc_start": None, "stop_requested_at": None, "killed": False, "ui_pid": os.getpid(),
        }
        self._write(job)
        env = dict(self.env if self.env is not None else os.environ)
        env.setdefault("COLUMNS", "160")
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("HARNESS_HOME", str(self.home))
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        log = open(d / "log.txt", "ab", buffering=0)
        try:
            log.write(f"$ {shown}\n".encode())
            proc = subprocess.Popen([sys.executable, "-m", "ui.jobrun", str(d), "--", *args], cwd=self.cwd,
                                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as e:
            job.update(ended_at=_now(), error=f"could not start: {e}")
            self._write(job)
            raise JobError(f"could not start the job: {e}") from None
        finally:
            log.close()
        with self._lock:
            self._procs[job_id] = proc
        job.update(pid=proc.pid, pgid=proc.pid, proc_start=proc_start_time(proc.pid), started_at=_now())
        with self._lock:
            self._write(job)
        return self.describe(job)

    # state
    def _reap(self, job_id: str) -> None:
        with self._lock:
            p = self._procs.get(job_id)
            if p is not None and p.poll() is not None:
                self._procs.pop(job_id, None)

    def _exit(self, job_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.job_dir(job_id) / "exit.json").read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            return None

    def is_running(self, job: Mapping[str, Any]) -> bool:
        self._reap(str(job["id"]))
        return pid_alive(job.get("pid"), job.get("proc_start"))

    def child_pid(self, job_id: str) -> int | None:
        try:
            return int((self.job_dir(job_id) / "child.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def status(self, job: Mapping[str, Any]) -> tuple[str, int | None]:
        """(running | stopping | done | failed | stopped | killed | lost, exit code)."""
        if job.get("error") and not job.get("pid"):
            return "failed", None
        if self.is_running(job):
            return ("stopping" if job.get("stop_requested_at") else "running"), None
        ex = self._exit(str(job["id"]))
        if ex is not None:
            rc = ex.get("rc")
            if rc == 0:
                return "done", 0
            if job.get("stop_requested_at") or (isinstance(rc, int) and rc < 0):
                return "stopped", rc
            return "failed", rc
        if job.get("stop_requested_at"):
            return "killed", None
        return "lost", None   # ended without a record (machine restart, wrapper killed from outside)

    def describe(self, job: Mapping[str, Any]) -> dict[str, Any]:
        st, rc = self.status(job)
        ex = self._exit(str(job["id"])) or {}
        ended = job.get("ended_at") or ex.get("ended_at")
        if st not in ("running", "stopping") and not job.get("ended_at") and ended:
            try:
                job = self._update(str(job["id"]), ended_at=ended)
            except JobError:
                pass
        out = {k: job.get(k) for k in ("id", "kind", "title", "command", "out", "planned", "pid", "log")}
        out.update(status=st, exit_code=rc, child_pid=self.child_pid(str(job["id"])),
                   started=_iso(job.get("started_at")), ended=_iso(ended),
                   started_at=job.get("started_at"), ended_at=ended)
        return out

    def get(self, job_id: str) -> dict[str, Any]:
        return self.describe(self._read(job_id))

    def list(self) -> list[dict[str, Any]]:
        """Every job, newest first."""
        if not self.root.is_dir():
            return []
        jobs = []
        for d in self.root.iterdir():
            if not (d / "job.json").is_file():
                continue
            try:
                jobs.append(self.describe(self._read(d.name)))
            except JobError:
                continue
        jobs.sort(key=lambda j: (j.get("started_at") or 0, j["id"]), reverse=True)
        return jobs

    # stop
    def stop(self, job_id: str, grace_s: float = STOP_GRACE_S) -> dict[str, Any]:
        """SIGTERM the job's process group; SIGKILL it if anything is left after `grace_s` seconds."""
        job = self._read(job_id)
        if not self.is_running(job):
            return self.describe(job)
        job = self._update(job_id, stop_requested_at=_now())
        pgid = int(job.get("pgid") or job["pid"])
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return self.describe(job)

        def escalate() -> None:
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                self._reap(job_id)
                if not _group_alive(pgid):
                    return
                time.sleep(0.1)
            try:
                os.killpg(pgid, signal.SIGKILL)
                self._update(job_id, killed=True)
            except ProcessLookupError:
                pass
            end = time.monotonic() + 5
            while time.monotonic() < end:
                self._reap(job_id)
                if not _group_alive(pgid):
                    return
                time.sleep(0.1)

        threading.Thread(target=escalate, name=f"stop-{job_id}", daemon=True).start()
        return self.describe(job)

    # progress
    def log_tail(self, job_id: str, lines: int = 40, max_bytes: int = 64 * 1024) -> str:
        p = self.job_dir(job_id) / "log.txt"
        try:
            with open(p, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                data = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        # progress bars redraw with carriage returns: keep the last state of each line
        out = [ln.rsplit("\r", 1)[-1] for ln in data.split("\n")]
        text = "\n".join(out[-lines:])
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
        return scrub_text(text)

    def _count_results(self, path: Path) -> dict[str, int]:
        """Incremental count of results.jsonl: lines, ok, passed, errors (complete lines only)."""
        key = str(path)
        try:
            size = path.stat().st_size
        except OSError:
            self._progress_cache.pop(key, None)
            return {"lines": 0, "ok": 0, "passed": 0, "errors": 0}
        off, _, counts = self._progress_cache.get(key, (0, 0, {"lines": 0, "ok": 0, "passed": 0, "errors": 0}))
        if size < off:                      # rewritten (--force): count again
            off, counts = 0, {"lines": 0, "ok": 0, "passed": 0, "errors": 0}
        counts = dict(counts)
        if size > off:
            with open(path, "rb") as f:
                f.seek(off)
                data = f.read(size - off)
            end = data.rfind(b"\n")
            if end >= 0:
                for raw in data[: end + 1].split(b"\n"):
                    if not raw.strip():
                        continue
                    counts["lines"] += 1
                    # cheap field checks: no JSON parse per line for big runs
                    if b'"status":"ok"' in raw or b'"status": "ok"' in raw:
                        counts["ok"] += 1
                        if b'"passed":true' in raw or b'"passed": true' in raw:
                            counts["passed"] += 1
                    elif b'"status":"error"' in raw or b'"status": "error"' in raw:
                        counts["errors"] += 1
                off += end + 1
        self._progress_cache[key] = (off, size, counts)
        return counts

    def progress(self, job_id: str) -> dict[str, Any]:
        """Live progress from the job's output folder: eval -> results/planned and pass rate so far;
        train -> trainer_log.jsonl (loss curve); loop -> loop.json (held-out pass rate per round)."""
        job = self.get(job_id)
        out = Path(job["out"]) if job.get("out") else None
        prog: dict[str, Any] = {"id": job_id, "kind": job["kind"], "status": job["status"],
                                "exit_code": job["exit_code"]}
        if out is None:
            return prog
        if job["kind"] == "eval":
            c = self._count_results(out / "results.jsonl")
            planned = job.get("planned")
            man = read_json(out / "run.json")
            if isinstance(man, dict):
                n = man.get("n_cases_selected")
                k = (man.get("sampling") or {}).get("samples") if isinstance(man.get("sampling"), dict) else None
                if isinstance(n, int):
                    planned = n * (k if isinstance(k, int) and k > 0 else 1)
            prog.update(done=c["lines"], planned=planned, ok=c["ok"], passed=c["passed"], errors=c["errors"],
                        pass_rate=(c["passed"] / c["ok"]) if c["ok"] else None,
                        summary=(out / "summary.json").is_file())
        elif job["kind"] == "train":
            log = read_jsonl(out / "trainer_log.jsonl")
            pts = [{"step": r.get("step"), "loss": r.get("loss"), "lr": r.get("lr"), "epoch": r.get("epoch"),
                    "tokens_per_s": r.get("tokens_per_s"), "elapsed_s": r.get("elapsed_s")}
                   for r in log if isinstance(r.get("step"), int)]
            prog.update(points=pts, step=pts[-1]["step"] if pts else 0, planned=job.get("planned"),
                        loss=pts[-1]["loss"] if pts else None)
        elif job["kind"] == "loop":
            loop = read_json(out / "loop.json")
            rounds = loop_rounds(loop if isinstance(loop, dict) else None)
            prog.update(rounds=rounds, baseline=loop_baseline(loop if isinstance(loop, dict) else None),
                        planned=job.get("planned"))
        return prog


__all__ = ["JobError", "JobRegistry", "KINDS", "STOP_GRACE_S", "pid_alive", "proc_start_time"]
