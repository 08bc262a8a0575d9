"""Generator specs: read one (a shipped name under suites/specs/, a path, or a mapping), `extends` merged.

A spec is data: value pools, and tasks that say how to build a request and its reference call from
values drawn from the pools (the rest of the generator turns them into cases).

Spec (top level)
    name, description, protocol (roo-xml | roo-native | ...), mode (default mode slug), seed (the
    default seed), test_fraction, environment (full | short: the <environment_details> block),
    extends (another spec to start from; its pools merge, its tasks are kept unless replaced),
    skip_unavailable (drop tasks whose tool the protocol does not offer in the task's mode),
    feedback (recovery messages), pools, tasks.

Pools
    NAME: [values...]                    a value is a string or a mapping (structured values)
    NAME: {product: [[a, b], [c, d]]}    every concatenation a+c, a+d, b+c, b+d
    NAME: {range: [LO, HI]}              integers LO..HI

Tasks
    name        unique; case ids are NAME-001, NAME-002, ...
    tool        the tool the reference calls
    count       how many cases
    mode        overrides the spec's mode
    tags        extra tags (the tool name and the mode are always tags)
    slots       {SLOT: POOL name | [inline values]}; slots that share a pool get distinct values
    templates   request texts with {SLOT}, {SLOT.field} and {SLOT|filter} (filters: block, choices,
                steps, edits, json, quote); {{ and }} are literal braces
    call        {PARAM: VALUE} in the tool's parameter order (VALUE: see `values`)
    history     turns before the expected call (native protocols): [{tool, call, result}], each an
                assistant call and the `tool` message with its result (a template), so the case asks
                for the next call after a tool result
    kind        call (default) | recovery
    recovery:   failure (no_tool | missing_param | not_allowed | file_restricted | diff_mismatch |
                diff_malformed), prose (texts of a reply without a tool, for no_tool), missing
                (the parameter left out, for missing_param), attempt ({tool, call}: the refused call)
"""
from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import UserError

SPEC_EXTS = (".yaml", ".yml")


class SpecError(UserError):
    """A generator spec is unreadable or inconsistent; the message names the spec and the task."""


def list_specs() -> list[str]:
    base = resources.files("suites").joinpath("specs")
    try:
        entries = list(base.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(e.name.rsplit(".", 1)[0] for e in entries if e.name.endswith(SPEC_EXTS) and e.is_file())


def _read_spec(name_or_path: str | os.PathLike[str], *, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    import yaml
    s = os.fspath(name_or_path)
    p = Path(s)
    if p.is_file():
        where, text = s, p.read_text(encoding="utf-8")
        base_dir: Path | None = p.parent
        ref = s
    else:
        stem = s[:-5] if s.endswith(".yaml") else s[:-4] if s.endswith(".yml") else s
        t = None
        if "/" not in stem and "\\" not in stem and stem:
            for ext in SPEC_EXTS:
                cand = resources.files("suites").joinpath("specs", stem + ext)
                if cand.is_file():
                    t = cand
                    break
        if t is None:
            raise SpecError(f"{s}: no such spec file, and no shipped spec has that name "
                            f"(shipped: {', '.join(list_specs()) or 'none'})")
        where, text = str(t), t.read_text(encoding="utf-8")
        base_dir = None
        ref = stem
    if where in _seen:
        raise SpecError(f"{where}: 'extends' loops back to itself")
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        line = (e.problem_mark.line + 1) if e.problem_mark else 1
        raise SpecError(f"{where}:{line}: invalid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{where}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{where}: a spec must be a mapping (name, protocol, pools, tasks)")
    if data.get("extends"):
        parent_ref = str(data["extends"])
        if base_dir is not None and (base_dir / parent_ref).is_file():
            parent_ref = str(base_dir / parent_ref)
        parent = _read_spec(parent_ref, _seen=_seen + (where,))
        merged = {k: v for k, v in parent.items() if k not in ("extends", "_path", "_ref")}
        pools = dict(parent.get("pools") or {})
        pools.update(data.get("pools") or {})
        merged.update({k: v for k, v in data.items() if k != "extends"})
        merged["pools"] = pools
        merged["_extends"] = parent.get("name")
        data = merged
    data["_path"] = where
    data["_ref"] = ref
    return data


def load_spec(spec: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A spec mapping from a shipped spec name, a path, or a mapping (copied)."""
    if isinstance(spec, Mapping):
        d = copy.deepcopy(dict(spec))
        d.setdefault("_path", str(d.get("name", "<spec>")))
        d.setdefault("_ref", str(d.get("name", "<spec>")))
        return d
    return _read_spec(spec)


__all__ = ["SpecError", "list_specs", "load_spec"]
