"""The suites shipped in the `suites` package, and resolving a name or a path to a suite file's bytes.

A suite argument is either a file path or the name of a shipped suite (`roo-core` ->
suites/roo-core.jsonl); `resolve` decides which, so every command accepts both.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import SuiteError

SUITE_EXTS = (".yaml", ".yml", ".jsonl")


def _package_dir() -> Any:
    return resources.files("suites")


def list_shipped() -> list[str]:
    """Names of the suites shipped in the `suites` package (sorted)."""
    out = set()
    for entry in _package_dir().iterdir():
        n = entry.name
        for ext in SUITE_EXTS:
            if n.endswith(ext) and entry.is_file():
                out.add(n[: -len(ext)])
    return sorted(out)


def shipped_path(name: str) -> Any | None:
    """The packaged file of a shipped suite called `name` (a Traversable), or None."""
    base = _package_dir()
    stem = name
    for ext in SUITE_EXTS:
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    for ext in (".jsonl", ".yaml", ".yml"):
        t = base.joinpath(stem + ext)
        if t.is_file():
            return t
    return None


def resolve(name_or_path: str | os.PathLike[str]) -> tuple[str, bytes]:
    """(the path to show in messages, the file's bytes) for a suite file or a shipped suite name."""
    s = os.fspath(name_or_path)
    p = Path(s)
    if p.is_file():
        try:
            return s, p.read_bytes()
        except OSError as e:
            raise SuiteError(f"{s}:1: cannot read the suite file: {e.strerror or e}") from None
    t = shipped_path(s)
    if t is not None:
        return str(t), t.read_bytes()
    if p.is_dir():
        raise SuiteError(f"{s}:1: is a directory; give a suite file (.yaml, .yml or .jsonl) or a shipped suite name")
    shipped = ", ".join(list_shipped()) or "none"
    raise SuiteError(f"{s}:1: no such suite file, and no shipped suite has that name (shipped: {shipped})")


__all__ = ["SUITE_EXTS", "list_shipped", "resolve", "shipped_path"]
