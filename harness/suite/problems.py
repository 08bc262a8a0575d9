"""A suite file's problems, collected before anything is reported and rendered as `FILE:LINE: message`.

Validators add a problem with the document path of the offending field (keys and list indices, as
`("cases", 3, "expect", "calls", 0)`); the line is looked up only when the problems are rendered, so a
valid suite never pays for line numbers. Also the small wording helpers the validators share.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.suite.load import DocPath, Document


class Problems:
    """The problems found so far, each (document path, message); `("@line", N)` pins a line directly."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.items: list[tuple[DocPath, str]] = []

    def add(self, path: DocPath, msg: str) -> None:
        self.items.append((path, msg))

    def __bool__(self) -> bool:
        return bool(self.items)

    def render(self) -> list[str]:
        out = []
        for path, msg in self.items:
            if path and path[0] == "@line":
                line = path[1]
            else:
                line = self.doc.line(self.doc.doc_path(path))
            out.append((line, f"{self.doc.path}:{line}: {msg}"))
        out.sort(key=lambda x: x[0])   # stable: same-line problems keep their order
        return [m for _, m in out]


def tname(v: Any) -> str:
    """What a value is, in the words of a problem message ("a mapping", "a list", ...)."""
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def close(word: str, choices: tuple[str, ...]) -> str | None:
    """The choice `word` was probably meant to be (for "did you mean ...?"), or None."""
    import difflib
    m = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.75)
    return m[0] if m else None


def protocol_label(spec: Any) -> str:
    """A protocol spec (a name or a {wire, catalog} mapping) as messages and listings show it."""
    return spec if isinstance(spec, str) else str(spec.get("name") or f"{spec.get('wire')}:{spec.get('catalog')}")


def spec_key(spec: Any) -> str:
    """A protocol spec as a key, so each distinct spec is compiled once."""
    if isinstance(spec, str):
        return spec
    try:
        return json.dumps(spec, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(spec)
