"""Writing suites: a Case as the plain mapping a suite file holds, and whole suite files (JSONL or YAML).

The generator and the closed loop write suites through `dump_suite`; the shipped suites are its
output byte for byte (tests/harness/test_generator.py checks), so its layout is part of the format:
JSONL is a `{"suite": {...}}` header line then one case per line, keys in the case format's order,
fields at their defaults left out, a case's protocol and mode left out where the header has them.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.suite.model import Case


def case_to_dict(case: Case) -> dict[str, Any]:
    """A case as the plain mapping a suite file holds (fields at their defaults are left out)."""
    d: dict[str, Any] = {"id": case.id}
    d["protocol"] = case.protocol
    if case.mode is not None:
        d["mode"] = case.mode
    d["split"] = case.split
    if case.tags:
        d["tags"] = list(case.tags)
    d["messages"] = case.messages
    if case.tools is not None:
        d["tools"] = case.tools
    e = case.expect
    ed: dict[str, Any] = {}
    if e.calls is not None:
        ed["calls"] = [{"name": c.name, "arguments": dict(c.arguments)} if c.arguments else {"name": c.name}
                       for c in e.calls]
    if e.any_order:
        ed["any_order"] = True
    if e.checker != "schema":
        ed["checker"] = e.checker
    if e.functions:
        ed["functions"] = list(e.functions)
    if e.category:
        ed["category"] = e.category
    d["expect"] = ed
    if case.reference is not None:
        d["reference"] = case.reference
    if case.meta:
        d["meta"] = case.meta
    return d


def dump_suite(cases: list[Case], path: str | os.PathLike[str], *, top: Mapping[str, Any] | None = None,
               dedupe_protocol: bool = True) -> None:
    """Write cases as a suite file: JSONL (`.jsonl`, header line + one case per line) or YAML."""
    top = dict(top or {})
    rows = [case_to_dict(c) for c in cases]
    if dedupe_protocol and rows and "protocol" in top:
        for r in rows:
            if r.get("protocol") == top["protocol"]:
                del r["protocol"]
    if dedupe_protocol and rows and "mode" in top:
        for r in rows:
            if r.get("mode") == top["mode"]:
                del r["mode"]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".jsonl":
        lines = [json.dumps({"suite": top}, ensure_ascii=False)] if top else []
        lines += [json.dumps(r, ensure_ascii=False) for r in rows]
        text = "\n".join(lines) + "\n"
    else:
        text = _yaml_text({**top, "cases": rows})
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)


def _yaml_text(data: Any) -> str:
    import yaml
    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class _Dumper(base):  # type: ignore[misc, valid-type]
        pass

    def _str(dumper: Any, s: str) -> Any:
        if "\n" in s:
            return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", s)

    _Dumper.add_representer(str, _str)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)


__all__ = ["case_to_dict", "dump_suite"]
