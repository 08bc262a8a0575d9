"""JSON files shared with another process: tolerant readers for files a job may be writing (summary.json,
loop.json, trainer_log.jsonl), and the atomic writer of the job records (job.json, exit.json).

The page polls files that a running job appends to or rewrites; a half-written file must read as
"nothing yet", never as an error. harness.log.rundir.RunDir reads a finished run strictly (a bad line is
an error naming file:line), trainers' log reader is out of the UI's reach (ui never imports trainers) and
harness's atomic writer is private to harness (harness._util), so these small helpers live here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`; None when it is absent, unreadable, half written or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_jsonl(path: Path, limit: int = 200_000) -> list[dict[str, Any]]:
    """The JSON objects of `path`, one per line, skipping lines that do not parse (one being written)."""
    out: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue          # a line being written
                if isinstance(rec, dict):
                    out.append(rec)
                if len(out) >= limit:
                    break
    except OSError:
        pass
    return out


def write_json(path: Path, data: dict[str, Any], *, indent: int | None = None) -> None:
    """Write `data` to `path` atomically (a temporary file beside it, then a rename): a reader polling the
    file sees the old content or the new, never half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=indent), encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["read_json", "read_jsonl", "write_json"]
