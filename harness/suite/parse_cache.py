"""The on-disk cache that makes reloading a suite cheap, and the markers that skip re-checking it.

Three kinds of entry live in `$HARNESS_CACHE_DIR/suites` (else `$XDG_CACHE_HOME/harness/suites`;
`HARNESS_SUITE_CACHE=0` turns the cache off), all keyed by the sha256 of a suite file's bytes:

* `SHA256.json` — a valid YAML suite's parsed data and case lines, so reloading it costs a JSON read;
* `schemas-*.ok` — the file passed the structural checks, so each of its JSON Schemas passed
  jsonschema's `check_schema` (~2 ms a schema) and need not be meta-checked again;
* `refs-*.ok` — every reference of the file parsed cleanly and met its expectation.

The markers are also keyed by `fingerprint()`, a digest of the code and data that decide validity
(the suite package's modules, the scoring package, every protocols module and catalog, the Python
version and the installed jsonschema), so a change to any of them re-checks every suite. Everything here is best
effort: a cache that cannot be read or written is a cache miss, never an error.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from harness._util.fs import atomic_open

_CACHE_VERSION = 1

_FINGERPRINT: list[str] = []
# jsonschema decides schema validity (check_schema) and checks references' arguments; its meta-schemas
# live in jsonschema_specifications, $ref resolution in referencing, and the `format` checks that
# check_schema applies (regex, uri-reference, ...) depend on which of the optional libraries are there
_SCHEMA_LIBS = ("jsonschema", "jsonschema_specifications", "referencing")
_FORMAT_LIBS = ("fqdn", "idna", "rfc3987", "rfc3986_validator", "rfc3987_syntax", "rfc3339_validator", "webcolors",
                "jsonpointer", "uri_template", "isoduration")


def cache_dir() -> Path | None:
    """The folder of the suite cache, or None when `HARNESS_SUITE_CACHE` turns it off."""
    if os.environ.get("HARNESS_SUITE_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    base = os.environ.get("HARNESS_CACHE_DIR")
    if base:
        return Path(base) / "suites"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "harness" / "suites"


def _validity_files() -> list[tuple[str, Path]]:
    """(name, file) of the code and data that decide whether a suite is valid and its references
    correct: the suite package's own modules (model, loader, validator; not the generator or the
    importers), the scoring package (verdicts), and every protocols module and catalog. A change
    elsewhere (the runner, the CLI, ...) re-checks nothing."""
    import protocols
    here = Path(__file__).parent
    harness_dir = here.parent
    pdir = Path(protocols.__file__).parent
    files = [("harness/suite/" + f.name, f) for f in sorted(here.glob("*.py"))]
    files += [("harness/score/" + f.name, f) for f in sorted((harness_dir / "score").glob("*.py"))]
    files += [("protocols/" + f.relative_to(pdir).as_posix(), f) for f in sorted(pdir.rglob("*.py"))
              if "__pycache__" not in f.parts]
    files += [("protocols/" + f.relative_to(pdir).as_posix(), f) for f in sorted((pdir / "data").rglob("*.json"))]
    return files


def fingerprint() -> str:
    """A digest of the code and data that decide whether a suite's schemas are valid and its references
    correct (see `_validity_files`), the Python version, and the installed jsonschema (its files' sizes
    and times, and which optional format libraries it finds). A change to any of them re-checks every
    suite."""
    if not _FINGERPRINT:
        h = hashlib.sha256()
        for name, f in _validity_files():
            try:
                h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
            except OSError:
                h.update(name.encode() + b"\0?")
        h.update(f"python {sys.version}\0".encode())
        _libs_state(h)
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def _libs_state(h: Any) -> None:
    """Feed `h` with the installed schema libraries' state without importing them (stat only)."""
    import importlib.util
    for name in _SCHEMA_LIBS + _FORMAT_LIBS:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None) if spec is not None else None
        if not origin:
            h.update(f"{name}: absent\0".encode())
            continue
        root = os.path.dirname(origin) if name in _SCHEMA_LIBS and origin.endswith("__init__.py") else None
        paths = [origin] if root is None else _tree(root)
        for f in paths:
            try:
                st = os.stat(f)
                h.update(f"{name}:{os.path.relpath(f, root or os.path.dirname(origin))}:{st.st_size}:"
                         f"{st.st_mtime_ns}\0".encode())
            except OSError:
                h.update(f"{name}:{f}:?\0".encode())


def _tree(root: str) -> list[str]:
    out: list[str] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if e.name == "__pycache__":
                continue
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            else:
                out.append(e.path)
    return out


def refs_marker(digest: str) -> Path | None:
    """The file whose presence says: every reference of the suite with this sha256 checked out."""
    cache = cache_dir()
    if cache is None:
        return None
    return cache / f"refs-{hashlib.sha256((digest + ':' + fingerprint()).encode()).hexdigest()}.ok"


def schemas_marker(digest: str) -> Path | None:
    """The file whose presence says: the suite with this sha256 passed the structural checks, so each of
    its JSON Schemas passed jsonschema's check_schema (the costly part) under the same code."""
    cache = cache_dir()
    if cache is None:
        return None
    return cache / f"schemas-{hashlib.sha256((digest + ':' + fingerprint()).encode()).hexdigest()}.ok"


def touch(path: Path) -> None:
    """Create a marker file (best effort)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    except OSError:
        pass


def json_safe(x: Any) -> bool:
    """True when `x` survives a JSON round trip unchanged (str keys, JSON scalars only)."""
    stack = [x]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, w in v.items():
                if not isinstance(k, str):
                    return False
                stack.append(w)
        elif isinstance(v, list):
            stack.extend(v)
        elif v is None or isinstance(v, (str, bool, int)):
            continue
        elif isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")):
                return False
        else:
            return False
    return True


def parsed_file(digest: str) -> Path | None:
    """Where the parsed data of the YAML suite with this sha256 is kept, or None (cache off)."""
    cache = cache_dir()
    return cache / f"{digest}.json" if cache is not None else None


def read_parsed(cfile: Path, digest: str) -> tuple[Any, list[int]] | None:
    """(the parsed data, each case's line) kept for this sha256, or None on a miss."""
    try:
        with open(cfile, encoding="utf-8") as f:
            c = json.load(f)
        if c.get("v") == _CACHE_VERSION and c.get("sha256") == digest:
            return c["data"], list(c["case_lines"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def write_parsed(cfile: Path, digest: str, data: Any, case_lines: list[int]) -> None:
    """Keep a valid YAML suite's parsed data for the next load (best effort; JSON-safe data only)."""
    if not json_safe(data):
        return
    try:
        with atomic_open(cfile) as f:
            json.dump({"v": _CACHE_VERSION, "sha256": digest, "data": data,
                       "case_lines": case_lines}, f, ensure_ascii=False, separators=(",", ":"))
    except OSError:
        pass
