"""What `harness protocols list|show` prints, as data: one row per built-in protocol (wire format, the
agent and version its catalog mirrors, tool count, source) and one protocol's tools, rules and compact
prompt. Pure functions over the protocol table; the CLI only formats them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import protocols
from protocols.catalog import Catalog

# how to use a catalog of one's own (shown under the table)
USER_PROTOCOLS = (
    ("xml:PATH", "your catalog file (JSON, docs/protocols.md) with tools as XML tags in the text"),
    ("native:PATH", "your catalog file with OpenAI tool_calls"),
    ("hermes:PATH", "your catalog file with <tool_call>{json}</tool_call> blocks"),
    ("mcp:PATH", "a saved MCP tools/list result (revisions 2026-07-28 and 2025-11-25, pages joined); "
                 "`harness protocols import-mcp --out tools.json -- COMMAND ARGS...` saves one"),
)


@dataclass(frozen=True)
class ProtocolRow:
    name: str
    wire: str
    agent: str        # "Zoo Code 3.54.0", or "" for protocols without a shipped catalog
    tools: int | None
    source: str       # repository@commit (and date) the catalog follows
    summary: str


@dataclass
class ProtocolDetail:
    row: ProtocolRow
    tools: list[dict[str, Any]] = field(default_factory=list)   # {name, strict, group, params: [...]}
    rules: list[str] = field(default_factory=list)
    prompt: str = ""
    current: str = ""


def _agent(cat: Catalog | None) -> str:
    if cat is None or not cat.agent:
        return ""
    return " ".join(x for x in (cat.agent.get("name", ""), cat.agent.get("version", "")) if x)


def _source(cat: Catalog | None) -> str:
    if cat is None or not cat.agent:
        return cat.source if cat is not None else ""
    a = cat.agent
    repo = a.get("repository", "")
    out = repo + (f"@{a['commit']}" if a.get("commit") else "")
    return out + (f" ({a['date']})" if a.get("date") else "")


def protocol_rows() -> list[ProtocolRow]:
    """Every built-in protocol, in the table's order."""
    rows = []
    for name, summary in protocols.BUILTINS.items():
        p = protocols.get(name)
        cat = p.catalog
        rows.append(ProtocolRow(name=name, wire=getattr(p, "dialect", None) == "cline" and "cline-xml" or p.wire,
                                agent=_agent(cat) or (f"{cat.name} {cat.version}".strip() if cat else ""),
                                tools=len(cat.tools) if cat else None, source=_source(cat), summary=summary))
    return rows


def _params(schema: dict[str, Any]) -> list[dict[str, Any]]:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    req = set(schema.get("required", []) if isinstance(schema, dict) else [])
    out = []
    for k, v in props.items():
        t = v.get("type", "any") if isinstance(v, dict) else "any"
        out.append({"name": k, "type": "|".join(t) if isinstance(t, list) else str(t), "required": k in req,
                    **({"enum": v["enum"]} if isinstance(v, dict) and "enum" in v else {})})
    return out


def protocol_detail(name: str, mode: str | None = None) -> ProtocolDetail:
    """One protocol (a built-in or WIRE:PATH): its tools with their parameters, its rules and its compact
    system prompt. Raises protocols.UnknownProtocolError / CatalogError for a bad name or file."""
    p = protocols.get(name)
    cat = p.catalog
    row = ProtocolRow(name=name, wire=p.wire, agent=_agent(cat), tools=len(cat.tools) if cat else None,
                      source=_source(cat), summary=protocols.BUILTINS.get(name, cat.description if cat else ""))
    d = ProtocolDetail(row=row, current=cat.agent.get("current", "") if cat else "")
    if cat is None:
        d.rules = ["the functions come from each case's own `tools`"]
    else:
        for t in cat.tools.values():
            d.tools.append({"name": t.name, "strict": t.strict, "group": t.group, "params": _params(t.parameters)})
        d.rules = list(cat.notes)
        if cat.one_call_per_turn:
            d.rules.append("one tool call per message: only the first runs (multiple_tool_calls)")
        if cat.last_tools:
            d.rules.append(f"must be the last call of a message: {', '.join(cat.last_tools)}")
        if cat.aliases:
            d.rules.append("aliases: " + ", ".join(f"{a} -> {t}" for a, t in cat.aliases.items()))
        if cat.modes:
            d.rules.append("modes: " + ", ".join(f"{m.slug} ({', '.join(m.groups) or 'no groups'})"
                                                for m in cat.modes.values())
                           + f"; always available: {', '.join(cat.always_available) or 'none'}")
    d.prompt = p.render_system(mode=mode, style="compact")
    return d
