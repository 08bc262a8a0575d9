"""What runs behind an endpoint that `harness serve` started: one small JSON record per listening URL,
so that a run's run.json can say which server answered it (engine, version, the full command line).

    record_server("http://127.0.0.1:8000", {"engine": "vllm", "version": "0.33.0", "command": [...]})
    served_by(["http://127.0.0.1:8000/v1"])   # that record (pid still alive), else None
    forget_server("http://127.0.0.1:8000")    # when the server stops

Records live under `$HARNESS_HOME/servers/` (default ~/.harness), one file per host:port. A record whose
process is gone is ignored (a later server may reuse the port). The command holds no secret: the
launchers pass API keys only through the environment, and the environment is not recorded.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SERVERS_DIR = "servers"


def _home() -> Path:
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".harness").expanduser()


def _record_path(url: str) -> Path | None:
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if not host:
        return None
    if host in ("localhost", "0.0.0.0", "::", "::1"):
        host = "127.0.0.1"
    return _home() / SERVERS_DIR / (re.sub(r"[^A-Za-z0-9.-]", "_", host) + f"_{port}.json")


def record_server(url: str, info: Mapping[str, Any]) -> Path | None:
    """Write the record of the server listening at `url` (with this process's pid unless given).
    Best effort: a record that cannot be written is reported, never a reason to stop serving."""
    path = _record_path(url)
    if path is None:
        return None
    data = {"pid": os.getpid(), **dict(info), "url": url}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        import sys
        print(f"harness: warning: cannot record the server in {path}: {e.strerror}", file=sys.stderr)
        return None
    return path


def forget_server(url: str) -> None:
    path = _record_path(url)
    if path is None:
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_record(url: str) -> dict[str, Any] | None:
    """The live record of the server at `url`, or None."""
    path = _record_path(url)
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not _alive(data.get("pid")):
        return None
    data.pop("pid", None)
    return data


def served_by(endpoints: Sequence[str]) -> dict[str, Any] | list[Any] | None:
    """run.json's `server`: the record of each endpoint's server (one: not a list), None when no endpoint
    was started by `harness serve` on this machine."""
    recs = [server_record(str(e)) for e in endpoints]
    if not any(recs):
        return None
    return recs[0] if len(recs) == 1 else recs


__all__ = ["forget_server", "record_server", "served_by", "server_record"]
