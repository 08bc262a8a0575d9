"""The run directory (DESIGN.md "Runs"): run.json, results.jsonl, summary.json.

    rd = RunDir("runs/qwen-roo-core")
    rd.write_manifest(make_manifest(suite=suite, endpoint=url, model=..., protocol=proto.describe(), ...))
    for result in ...: rd.append(result)      # one line per (case, sample), crash-safe
    rd.write_summary(metrics.summarize(rd.results(), cases, wall_s, price))

results.jsonl is append-only: every line is written with one `write` on an O_APPEND descriptor, so a
crash leaves at most a truncated last line; `results()` skips (and reports) such a line, and the next
`append` cuts it off before writing. Resume retries errors: a later line for the same (id, sample)
replaces an earlier one, an `ok` line is never replaced by an `error` line, and `results()` never
returns a (id, sample) twice.
"""
from __future__ import annotations

import json
import os
import platform
import re
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from harness.errors import RunDirError
from harness._util.fs import atomic_write_json

RUN_JSON = "run.json"
RESULTS = "results.jsonl"
SUMMARY = "summary.json"

STATUSES = ("ok", "error")
RESULT_FIELDS = ("id", "sample", "status", "passed", "violations", "calls", "response", "usage",
                 "latency_ms", "request_hash")

_SECRET_QUERY = re.compile(r"(key|token|secret|password|passwd|signature|sig|auth|credential)", re.I)
_SECRET_FIELD = re.compile(
    r"^(api[_-]?key|apikey|x[_-]api[_-]key|authorization|auth|secret|client[_-]secret|password|passwd|"
    r"access[_-]?token|bearer|token)$", re.I)


# -- secrets ---------------------------------------------------------------------------------------

def redact_url(url: Any) -> Any:
    """`url` without credentials: no user:password@, no api-key/token query parameters."""
    if not isinstance(url, str) or not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not _SECRET_QUERY.search(k)]
        query = urlencode(kept)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(obj: Any) -> Any:
    """A copy of `obj` without secret-looking fields (api_key, authorization, ...) and with every
    `endpoint`/`url`/`base_url` value redacted."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if isinstance(k, str) and _SECRET_FIELD.match(k):
                continue
            if isinstance(k, str) and k.lower() in ("endpoint", "endpoints", "url", "base_url", "api_base"):
                v = [redact_url(x) for x in v] if isinstance(v, (list, tuple)) else redact_url(v)
            out[k] = scrub(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [scrub(x) for x in obj]
    return obj


# -- manifest --------------------------------------------------------------------------------------

def now_iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, tz=timezone.utc).isoformat(
        timespec="seconds").replace("+00:00", "Z")


def host_info() -> dict[str, Any]:
    return {"hostname": socket.gethostname(), "platform": platform.platform(terse=True),
            "python": platform.python_version()}


def make_manifest(*, suite: Any = None, endpoint: str | list[str] | None = None, model: str | None = None,
                  protocol: Any = None, system_prompt: Mapping[str, Any] | str | None = None,
                  sampling: Mapping[str, Any] | None = None, seed: int | None = None,
                  started_at: float | str | None = None, ended_at: float | str | None = None,
                  **extra: Any) -> dict[str, Any]:
    """run.json as DESIGN.md lists it. `suite` is a Suite (name, path, content_hash) or a dict;
    `protocol` a Protocol (described), a describe() dict or a list of them."""
    from harness import __version__
    if suite is not None and not isinstance(suite, Mapping):
        suite = {"name": getattr(suite, "name", None), "path": getattr(suite, "path", None),
                 "hash": getattr(suite, "content_hash", None)}
    if protocol is not None and hasattr(protocol, "describe"):
        protocol = protocol.describe()
    if isinstance(system_prompt, str):
        system_prompt = {"style": system_prompt}
    m: dict[str, Any] = {
        "suite": dict(suite) if suite is not None else None,
        "endpoint": endpoint,
        "model": model,
        "protocol": protocol,
        "system_prompt": dict(system_prompt) if system_prompt is not None else {"style": "default"},
        "sampling": dict(sampling) if sampling is not None else None,
        "seed": seed,
        "harness_version": __version__,
        "started_at": now_iso(started_at) if not isinstance(started_at, str) else started_at,
        "ended_at": (now_iso(ended_at) if not isinstance(ended_at, str) else ended_at)
        if ended_at is not None else None,
        "host": host_info(),
    }
    m.update(extra)
    return scrub(m)


def suite_cases(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The cases of a run's suite (run.json's `suite`) by id, when the suite can still be loaded (for
    by-tool/by-tag keys of a recomputed summary), else {}; a warning when its contents changed since."""
    suite = manifest.get("suite") or {}
    if not isinstance(suite, dict):
        return {}
    from harness.errors import UserError
    from harness.suite import load_suite
    for ref in (suite.get("path"), suite.get("name")):
        if not ref:
            continue
        try:
            s = load_suite(str(ref))
        except UserError:
            continue
        if suite.get("hash") and s.content_hash != suite.get("hash"):
            print(f"harness: warning: suite {ref} changed since the run; by-tool keys may differ",
                  file=sys.stderr)
        return {c.id: c for c in s.cases}
    return {}


# -- helpers ---------------------------------------------------------------------------------------

def _default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def dumps_line(result: Mapping[str, Any]) -> bytes:
    try:
        return (json.dumps(result, ensure_ascii=False, separators=(",", ":"), default=_default) + "\n").encode()
    except UnicodeEncodeError:
        # a lone surrogate (a model may emit "\ud800" in JSON) has no UTF-8 form: escaped, it reads back the same
        return (json.dumps(result, ensure_ascii=True, separators=(",", ":"), default=_default) + "\n").encode()


def _key(result: Mapping[str, Any]) -> tuple[str, int]:
    return (str(result["id"]), int(result["sample"]))


def _check_result(result: Mapping[str, Any]) -> None:
    if not isinstance(result, Mapping):
        raise TypeError(f"a result must be a dict, got {type(result).__name__}")
    for f in ("id", "sample", "status"):
        if f not in result:
            raise ValueError(f"result line lacks {f!r}: {sorted(result)}")
    if result["status"] not in STATUSES:
        raise ValueError(f"result status must be one of {STATUSES}, got {result['status']!r}")
    if isinstance(result["sample"], bool) or not isinstance(result["sample"], int):
        raise ValueError(f"result sample must be an int, got {result['sample']!r}")


# -- the run directory -----------------------------------------------------------------------------

class RunDir:
    """One run's folder. Thread-safe appends; reads never return a (id, sample) twice."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.warnings: list[str] = []    # e.g. a truncated last line that was skipped or cut off
        self._lock = threading.Lock()
        self._fd: int | None = None

    # paths
    @property
    def manifest_path(self) -> Path:
        return self.path / RUN_JSON

    @property
    def results_path(self) -> Path:
        return self.path / RESULTS

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def is_run(self) -> bool:
        return self.manifest_path.is_file()

    def require(self) -> "RunDir":
        """Raise RunDirError unless this folder holds a run."""
        if not self.path.exists():
            raise RunDirError(f"{self.path}: no such run directory")
        if not self.path.is_dir():
            raise RunDirError(f"{self.path}: not a directory (give a run directory made by `harness eval` "
                              f"or `harness score`)")
        if not self.is_run():
            raise RunDirError(f"{self.path}: not a run directory (no {RUN_JSON}; runs are made by "
                              f"`harness eval` or `harness score`)")
        return self

    # manifest / summary
    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        atomic_write_json(self.manifest_path, scrub(dict(manifest)), default=_default, fsync=True)

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        m = self.manifest()
        m.update(fields)
        self.write_manifest(m)
        return m

    def _read_json(self, path: Path, what: str) -> dict[str, Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.require()
            raise RunDirError(f"{self.path}: no {path.name} ({what})") from None
        except OSError as e:
            raise RunDirError(f"{path}: cannot read: {e.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise RunDirError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
        if not isinstance(data, dict):
            raise RunDirError(f"{path}:1: expected a JSON object")
        return data

    def manifest(self) -> dict[str, Any]:
        self.require()
        return self._read_json(self.manifest_path, "not a run")

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        atomic_write_json(self.summary_path, dict(summary), default=_default, fsync=True)

    def summary(self) -> dict[str, Any]:
        return self._read_json(self.summary_path, "the run has not finished; `harness report` recomputes it")

    def has_summary(self) -> bool:
        return self.summary_path.is_file()

    # results
    def _open(self) -> int:
        if self._fd is None:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.results_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(fd).st_size
            if size:
                # cut a line that a crash left without its newline, so the next line starts clean
                tail_len = min(size, 1 << 16)
                os.lseek(fd, size - tail_len, os.SEEK_SET)
                tail = os.read(fd, tail_len)
                if not tail.endswith(b"\n"):
                    cut = tail.rfind(b"\n")
                    while cut < 0 and tail_len < size:   # a very long partial line
                        tail_len = min(size, tail_len * 4)
                        os.lseek(fd, size - tail_len, os.SEEK_SET)
                        tail = os.read(fd, tail_len)
                        cut = tail.rfind(b"\n")
                    keep = size - tail_len + cut + 1 if cut >= 0 else 0
                    os.ftruncate(fd, keep)
                    self.warnings.append(f"{self.results_path}: cut a truncated last line "
                                         f"({size - keep} bytes) left by an interrupted run")
            self._fd = fd
        return self._fd

    def _write(self, data: bytes) -> None:
        with self._lock:
            fd = self._open()
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]

    def append(self, result: Mapping[str, Any]) -> None:
        """Append one result line (a single write; safe from several threads or tasks)."""
        _check_result(result)
        self._write(dumps_line(result))

    def extend(self, results: Iterable[Mapping[str, Any]], chunk: int = 512) -> int:
        """Append many result lines, a few writes of whole lines each."""
        n = 0
        buf: list[bytes] = []
        for r in results:
            _check_result(r)
            buf.append(dumps_line(r))
            n += 1
            if len(buf) >= chunk:
                self._write(b"".join(buf))
                buf.clear()
        if buf:
            self._write(b"".join(buf))
        return n

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                try:
                    os.fsync(self._fd)
                except OSError:
                    pass
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            if self._fd is not None:
                os.close(self._fd)
        except Exception:
            pass

    def results(self) -> list[dict[str, Any]]:
        """The result lines, one per (id, sample), in order of first appearance: the last line of each
        key, an `ok` line preferred over any `error` line. A truncated last line is skipped and reported
        in `warnings`; any other bad line is a RunDirError naming file:line."""
        try:
            data = self.results_path.read_bytes()
        except FileNotFoundError:
            if not self.path.is_dir():
                self.require()
            return []
        except OSError as e:
            raise RunDirError(f"{self.results_path}: cannot read: {e.strerror}") from None
        lines = data.split(b"\n")
        last = len(lines) - 1
        kept: dict[tuple[str, int], dict[str, Any]] = {}
        for i, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                ok = isinstance(rec, dict) and "id" in rec and "status" in rec and \
                    isinstance(rec.get("sample"), int) and not isinstance(rec.get("sample"), bool)
            except (json.JSONDecodeError, UnicodeDecodeError):
                rec, ok = None, False
            if not ok:
                if i == last:   # no newline after it: the write was cut by a crash
                    self.warnings.append(f"{self.results_path}:{i + 1}: skipped a truncated last line "
                                         f"({len(raw)} bytes)")
                    continue
                raise RunDirError(f"{self.results_path}:{i + 1}: not a result line (a JSON object with id, "
                                  f"sample and status); the file was edited or corrupted")
            key = _key(rec)
            prev = kept.get(key)
            if prev is None or rec.get("status") == "ok" or prev.get("status") != "ok":
                kept[key] = rec   # an existing key keeps its first-appearance position
        return list(kept.values())

    def done_keys(self) -> set[tuple[str, int]]:
        """(id, sample) pairs that have a verdict (status ok): what `--resume` skips."""
        return {_key(r) for r in self.results() if r.get("status") == "ok"}


__all__ = ["RESULTS", "RESULT_FIELDS", "RUN_JSON", "RunDir", "SUMMARY", "dumps_line", "host_info",
           "make_manifest", "now_iso", "redact_url", "scrub", "suite_cases"]
