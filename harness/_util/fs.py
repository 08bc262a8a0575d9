"""Crash-safe file writing: a reader sees the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], *, fsync: bool = False) -> Iterator[IO[str]]:
    """Write text to a temporary file beside `path`, then os.replace it; on any error nothing changes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2,
                      sort_keys: bool = False, default: Callable[[Any], Any] | None = None,
                      fsync: bool = False) -> None:
    """Write `data` as JSON text (UTF-8, a final newline) through atomic_open. A string with a lone
    surrogate (a model may emit "\\ud800") has no UTF-8 form: then the whole file is ASCII-escaped,
    which reads back the same."""
    text = json.dumps(data, ensure_ascii=False, indent=indent, sort_keys=sort_keys, default=default)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(data, ensure_ascii=True, indent=indent, sort_keys=sort_keys, default=default)
    with atomic_open(path, fsync=fsync) as f:
        f.write(text)
        f.write("\n")
