"""Recovery cases: the failed turn and Roo's feedback that come before the call a case expects.

A recovery task names a failure (no tool used, a missing parameter, a tool not allowed in the mode, a
file restriction, a SEARCH block that no longer matches, a malformed diff); the turns built here are
the model's failed attempt, rendered in the protocol's wire, and the feedback text from the spec's
`feedback` with the details filled in, as Roo would send it.
"""
from __future__ import annotations

import difflib
import random
from collections.abc import Mapping
from typing import Any

from harness.suite.generate.calls import render_call
from harness.suite.generate.spec import SpecError
from harness.suite.generate.values import Value, build_value, diff_blocks, fill, lookup

FAILURES = ("no_tool", "missing_param", "not_allowed", "file_restricted", "diff_mismatch", "diff_malformed")


def _feedback(spec: Mapping[str, Any], key: str, where: str) -> str:
    fb = spec.get("feedback") or {}
    if key not in fb or not isinstance(fb[key], str):
        raise SpecError(f"{where}: the spec needs feedback.{key} (the text Roo sends back)")
    return fb[key]


def _first_arg(params: Mapping[str, Value]) -> str:
    for n in ("path", "command", "query", "server_name", "mode_slug"):
        v = params.get(n)
        if v is not None and v.kind == "str":
            return v.data
    return ""


def _similarity(a: str, b: str) -> int:
    return int(difflib.SequenceMatcher(None, a, b).ratio() * 100)


def failure_turns(spec: Mapping[str, Any], task: Mapping[str, Any], failure: str, rec: Mapping[str, Any],
                   values: Mapping[str, Any], params: Mapping[str, Value], protocol: Any, mode: str | None,
                   env: str, rng: random.Random, where: str) -> list[dict[str, Any]]:
    catalog = getattr(protocol, "catalog", None)
    tool = task["tool"]
    if failure == "no_tool":
        prose = rec.get("prose")
        if not isinstance(prose, list) or not prose:
            raise SpecError(f"{where}: recovery.prose must list replies without a tool call")
        said = fill(rng.choice(prose), values, f"{where}: recovery.prose", catalog)
        fb = fill(_feedback(spec, "no_tool", where), {}, where)
        return [{"role": "assistant", "content": said}, {"role": "user", "content": f"{fb}\n\n{env}"}]
    if failure == "missing_param":
        missing = rec.get("missing")
        if missing not in params:
            raise SpecError(f"{where}: recovery.missing must name a parameter of the call")
        broken = {k: v for k, v in params.items() if k != missing}
        failed, _ = render_call(protocol, tool, broken, where)
        fb = fill(_feedback(spec, "missing_param", where), {"tool": tool, "param": missing}, where)
        return [failed, {"role": "user", "content": f"{fb}\n\n{env}"}]
    if failure in ("not_allowed", "file_restricted"):
        att = rec.get("attempt")
        if not isinstance(att, Mapping) or "tool" not in att:
            raise SpecError(f"{where}: recovery.attempt needs the refused call's tool and call")
        aparams = {p: build_value(v, values, f"{where}: attempt.{p}", catalog) for p, v in (att.get("call") or {}).items()}
        failed, _ = render_call(protocol, att["tool"], aparams, where)
        m = catalog.modes.get(mode) if catalog is not None and mode else None
        info = {"tool": att["tool"], "mode": mode or "", "mode_name": m.name if m else (mode or ""),
                "arg": _first_arg(aparams)}
        if failure == "file_restricted":
            r = catalog.restriction(att["tool"], mode) if catalog is not None else None
            if r is None:
                raise SpecError(f"{where}: mode {mode!r} has no file restriction for {att['tool']}")
            info.update(pattern=r.file_regex, restriction=r.description)
        fb = fill(_feedback(spec, failure, where), info, where)
        return [failed, {"role": "user", "content": f"{fb}\n\n{env}"}]
    # diff failures
    edit_slot = rec.get("edit")
    edit = lookup(values, str(edit_slot), where) if edit_slot else None
    if not isinstance(edit, Mapping):
        raise SpecError(f"{where}: recovery.edit must name the slot holding the diff (with 'stale' text)")
    blocks = diff_blocks(edit, where)
    b0 = blocks[0]
    path = params["path"].data if "path" in params else str(edit.get("path", ""))
    if failure == "diff_mismatch":
        stale = str(b0.get("stale") or "")
        if not stale:
            raise SpecError(f"{where}: diff_mismatch needs blocks[0].stale (the outdated SEARCH text)")
        bad = (Value("diff", ((int(b0["line"]), stale, str(b0["replace"])),)))
        failed, _ = render_call(protocol, tool, {**params, "diff": bad}, where)
        start = int(b0["line"])
        numbered = "\n".join(f"{start + i} | {ln}" for i, ln in enumerate(str(b0["search"]).split("\n")))
        info = {"path": path, "line": start, "similar": _similarity(stale, str(b0["search"])),
                "searched": stale, "found": numbered}
        fb = fill(_feedback(spec, "diff_mismatch", where), info, where)
    else:
        start = int(b0["line"])
        truncated = f"\n<<<<<<< SEARCH\n:start_line:{start}\n-------\n{b0['search']}\n"
        failed, _ = render_call(protocol, tool, {**params, "diff": Value("text", truncated)}, where)
        fb = fill(_feedback(spec, "diff_malformed", where), {"path": path}, where)
    return [failed, {"role": "user", "content": f"{fb}\n\n{env}"}]


__all__ = ["FAILURES", "failure_turns"]
