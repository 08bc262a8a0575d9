"""Mode rules shared by every wire format: is the tool offered in this mode, may it edit this file.

Mirrors Roo Code v3.29.3's `isToolAllowedForMode`: always-available tools pass; otherwise the tool must
be in one of the mode's groups; an edit group with a `fileRegex` rejects a call whose `path` (or a
`<path>` inside multi-file `args`) does not match, but only when the call carries an edit parameter.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from protocols import violations as V
from protocols.catalog import Catalog
from protocols.types import Violation

_ARGS_PATH = re.compile(r"<path>([^<]+)</path>")


def mode_violations(catalog: Catalog | None, name: str, arguments: Mapping[str, Any] | str,
                    mode: str | None) -> list[Violation]:
    if catalog is None or not catalog.modes or name not in catalog.tools:
        return []
    m = catalog.mode(mode)
    if m is None:
        return []
    if not catalog.offers(name, m):
        return [Violation(V.TOOL_NOT_ALLOWED_IN_MODE, f'Tool "{name}" is not allowed in {m.slug} mode.')]
    if not isinstance(arguments, Mapping):
        return []
    r = catalog.restriction(name, m.slug) if m.restrictions else None
    if r is None or not any(arguments.get(p) for p in catalog.edit_params):
        return []
    paths: list[str] = []
    path = arguments.get("path")
    if isinstance(path, str) and path:
        paths.append(path)
    args = arguments.get("args")
    if isinstance(args, str):
        for p in _ARGS_PATH.findall(args):
            p = p.strip()
            if p and "<" not in p and ">" not in p:
                paths.append(p)
    for p in paths:
        if not r.allows(p):
            desc = f" ({r.description})" if r.description else ""
            return [Violation(V.FILE_RESTRICTED,
                              f"Tool '{name}' in mode '{m.name}' can only edit files matching pattern: "
                              f"{r.file_regex}{desc}. Got: {p}")]
    return []


def unknown_mode(catalog: Catalog | None, mode: str | None) -> bool:
    """True when `mode` is given but the catalog has modes and none is called that."""
    return bool(catalog and catalog.modes and mode and mode not in catalog.modes)
