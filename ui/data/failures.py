"""The failure explorer's data: each failed (case, sample) of a run, and everything about one of them
(conversation, raw answer, parsed calls, violations, expectation, reference answer).

Reads a run's result lines and its suite's cases; every model- or user-written text is scrubbed and
escaped before it becomes Markdown.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ui.data.text import fence, md_escape, scrub_text


def _tool_key(case: Any, calls: Any) -> str:
    if case is None:
        from harness.score.metrics import UNKNOWN_KEY
        return UNKNOWN_KEY
    from harness.score.verdicts import by_tool_key
    return by_tool_key(case, calls or [])


def failures(results: Iterable[Mapping[str, Any]], suite: Any = None, *, tool: str = "", code: str = "",
             ) -> list[dict[str, Any]]:
    """Each failed (case, sample): id, sample, tool, codes, first detail — filtered by tool and code."""
    cases = {c.id: c for c in suite.cases} if suite is not None else {}
    out = []
    for r in results:
        if r.get("status") != "ok" or r.get("passed") is True:
            continue
        cid = str(r.get("id"))
        t = _tool_key(cases.get(cid), r.get("calls"))
        vs = [v for v in (r.get("violations") or []) if isinstance(v, Mapping)]
        codes = list(dict.fromkeys(str(v.get("code")) for v in vs))
        if tool and t != tool:
            continue
        if code and code not in codes:
            continue
        out.append({"id": cid, "sample": int(r.get("sample") or 0), "tool": t, "codes": codes,
                    "detail": str(vs[0].get("detail") or "") if vs else ""})
    return out


def failure_key(f: Mapping[str, Any]) -> str:
    return f"{f['id']}#{f['sample']}"


def parse_failure_key(key: str) -> tuple[str, int] | None:
    cid, sep, s = (key or "").rpartition("#")
    if not sep or not s.isdigit():
        return None
    return cid, int(s)


def _message_text(m: Mapping[str, Any]) -> str:
    c = m.get("content")
    if isinstance(c, list):
        c = "".join(p.get("text", "") for p in c if isinstance(p, Mapping))
    text = c if isinstance(c, str) else ("" if c is None else json.dumps(c, ensure_ascii=False))
    if m.get("tool_calls"):
        text += ("\n" if text else "") + json.dumps(m["tool_calls"], ensure_ascii=False, indent=2)
    return text


def conversation_markdown(messages: Sequence[Mapping[str, Any]], system_prompt: str | None = None) -> str:
    parts = []
    if system_prompt:
        parts.append(f"*system prompt: {md_escape(system_prompt)} (rendered by the harness from the protocol; "
                     f"not repeated here)*")
    for m in messages:
        role = str(m.get("role") or "?")
        extra = f" ({md_escape(m['name'])})" if m.get("name") else ""
        parts.append(f"**{md_escape(role)}**{extra}\n\n{fence(scrub_text(_message_text(m)))}")
    return "\n\n".join(parts) if parts else "*no conversation*"


def expectation(case: Any) -> Any:
    if case is None:
        return None
    e = case.expect
    calls = None if e.calls is None else [{"name": c.name, "arguments": c.arguments} for c in e.calls]
    out: dict[str, Any] = {"calls": calls}
    if calls is None:
        out["note"] = "any valid call"
    elif calls == []:
        out["note"] = "no call (irrelevance)"
    if e.any_order:
        out["any_order"] = True
    if e.checker != "schema":
        out["checker"] = e.checker
    return out


def failure_detail(results: Iterable[Mapping[str, Any]], suite: Any, key: str,
                   system_prompt: str | None = None) -> dict[str, Any] | None:
    """Everything about one failed (case, sample): conversation (Markdown), raw answer, parsed calls,
    violations, expectation, reference answer."""
    k = parse_failure_key(key)
    if k is None:
        return None
    cid, sample = k
    r = next((x for x in results if str(x.get("id")) == cid and int(x.get("sample") or 0) == sample), None)
    if r is None:
        return None
    case = next((c for c in suite.cases if c.id == cid), None) if suite is not None else None
    resp = r.get("response") or {}
    raw = _message_text(resp) if isinstance(resp, Mapping) else str(resp)
    ref = case.reference if case is not None else None
    return {
        "id": cid, "sample": sample,
        "tags": list(case.tags) if case is not None else [],
        "mode": case.mode if case is not None else None,
        "conversation": conversation_markdown(case.messages, system_prompt) if case is not None
        else "*the case is not in the suite any more*",
        "raw_answer": scrub_text(raw),
        "calls": r.get("calls") or [],
        "violations": [dict(v) for v in (r.get("violations") or []) if isinstance(v, Mapping)],
        "expectation": expectation(case),
        "reference": scrub_text(_message_text(ref)) if isinstance(ref, Mapping) else "",
    }


__all__ = ["conversation_markdown", "expectation", "failure_detail", "failure_key", "failures",
           "parse_failure_key"]
