"""A saved MCP `tools/list` result as a tool catalog: `mcp:PATH[?names=zoo&server=NAME]`.

Accepted files (JSON), all for revisions 2026-07-28 and 2025-11-25 of the MCP schema:

* one `ListToolsResult` — `{"tools": [...], "nextCursor"?, "ttlMs"?, "cacheScope"?, "resultType"?}`;
* a JSON-RPC response carrying one (`{"jsonrpc": "2.0", "id": 1, "result": {...}}`);
* a list of pages (results or responses), joined in order;
* what `harness protocols import-mcp` saves: `{"server": {name, version}, "protocolVersion", "pages": [...]}`.

Each tool's `inputSchema` must be an object schema (root `type: object`) that passes JSON Schema
2020-12's meta-schema (2025-11-25 limited schemas to properties/required, a subset of that); an
`outputSchema` is checked the same way. Annotations (`readOnlyHint`, `destructiveHint`,
`idempotentHint`, `openWorldHint`) become tags. Tool names are the server's own (`names=plain`, as
clients like Claude Desktop send them) or `mcp--SERVER--TOOL` (`names=zoo`: Zoo/Roo Code's
spelling, server and tool sanitised, 64 characters at most).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from protocols.catalog import Catalog, ToolSpec
from protocols.errors import CatalogError

REVISIONS = ("2026-07-28", "2025-11-25")
NAMINGS = ("plain", "zoo")
# annotation hint -> case tag (only hints set to true become tags; the spec's defaults are not assumed)
HINT_TAGS = {"readOnlyHint": "mcp:read-only", "destructiveHint": "mcp:destructive",
             "idempotentHint": "mcp:idempotent", "openWorldHint": "mcp:open-world"}


class McpListError(CatalogError):
    """A saved MCP tools/list file is unreadable or breaks the MCP schema."""


@dataclass(frozen=True)
class McpTool:
    name: str
    description: str = ""
    title: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(tag for hint, tag in HINT_TAGS.items() if self.annotations.get(hint) is True)


@dataclass
class McpListing:
    tools: list[McpTool]
    source: str
    server_name: str = ""
    server_version: str = ""
    protocol_version: str = ""     # negotiated by import-mcp, else "" (unknown)
    pages: int = 1


# -- reading -----------------------------------------------------------------------------------

def _pages(data: Any, source: str) -> tuple[list[Any], dict[str, Any]]:
    """(the tools/list results in order, what import-mcp recorded about the server)."""
    meta: dict[str, Any] = {}
    if isinstance(data, dict) and isinstance(data.get("pages"), list):
        server = data.get("server") if isinstance(data.get("server"), dict) else {}
        meta = {"name": str(server.get("name") or ""), "version": str(server.get("version") or ""),
                "protocol": str(data.get("protocolVersion") or "")}
        data = data["pages"]
    pages = data if isinstance(data, list) else [data]
    if not pages:
        raise McpListError(f"{source}: no tools/list pages; save the server's tools/list result "
                           f"(harness protocols import-mcp --out FILE -- COMMAND)")
    out = []
    for i, p in enumerate(pages):
        where = f"{source}: pages[{i}]" if isinstance(data, list) else source
        if isinstance(p, dict) and "jsonrpc" in p:
            if "error" in p:
                raise McpListError(f"{where}: a JSON-RPC error, not a tools/list result: "
                                   f"{json.dumps(p['error'])[:200]}")
            p = p.get("result")
        if not isinstance(p, dict) or not isinstance(p.get("tools"), list):
            raise McpListError(f"{where}: not a tools/list result: expected an object with a 'tools' list")
        out.append(p)
    return out, meta


def _check_schema(schema: Any, where: str, what: str) -> dict[str, Any]:
    from jsonschema import Draft202012Validator, SchemaError
    if not isinstance(schema, dict):
        raise McpListError(f"{where}: {what} must be a JSON Schema object, not {type(schema).__name__}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        at = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise McpListError(f"{where}: {what} is not a valid JSON Schema 2020-12 at {at}: {e.message[:200]}") from None
    return schema


def _tool(raw: Any, where: str) -> McpTool:
    if not isinstance(raw, dict):
        raise McpListError(f"{where}: a tool must be an object with 'name' and 'inputSchema'")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise McpListError(f"{where}.name: missing or not a string; every MCP tool has a name")
    where = f"{where} '{name}'"
    schema = _check_schema(raw.get("inputSchema"), where, "inputSchema")
    if schema.get("type") != "object":
        raise McpListError(f"{where}: inputSchema must have \"type\": \"object\" at its root (MCP requires it), "
                           f"got {json.dumps(schema.get('type'))}")
    out_schema = raw.get("outputSchema")
    if out_schema is not None:
        _check_schema(out_schema, where, "outputSchema")
    ann = raw.get("annotations") or {}
    if not isinstance(ann, dict):
        raise McpListError(f"{where}: annotations must be an object of hints")
    for hint in HINT_TAGS:
        if hint in ann and not isinstance(ann[hint], bool):
            raise McpListError(f"{where}: annotations.{hint} must be true or false, not {json.dumps(ann[hint])}")
    desc = raw.get("description")
    title = raw.get("title") or ann.get("title") or ""
    return McpTool(name=name, description=desc if isinstance(desc, str) else "", title=str(title),
                   input_schema=schema, output_schema=out_schema, annotations=dict(ann))


def listing_from_json(data: Any, source: str = "<tools/list>") -> McpListing:
    """Validate and join saved tools/list pages (see the module doc)."""
    pages, meta = _pages(data, source)
    tools: list[McpTool] = []
    seen: dict[str, str] = {}
    for i, page in enumerate(pages):
        last = i == len(pages) - 1
        if last and page.get("nextCursor"):
            raise McpListError(f"{source}: the last page has nextCursor {json.dumps(page['nextCursor'])[:60]}: "
                               f"the listing is incomplete; save every page (import-mcp follows nextCursor)")
        for j, raw in enumerate(page["tools"]):
            where = f"{source}: " + (f"pages[{i}].tools[{j}]" if len(pages) > 1 else f"tools[{j}]")
            t = _tool(raw, where)
            if t.name in seen:
                raise McpListError(f"{where}: duplicate tool '{t.name}' (first at {seen[t.name]})")
            seen[t.name] = where
            tools.append(t)
    if not tools:
        raise McpListError(f"{source}: the server lists no tools")
    return McpListing(tools=tools, source=source, server_name=meta.get("name", ""),
                      server_version=meta.get("version", ""), protocol_version=meta.get("protocol", ""),
                      pages=len(pages))


def read_listing(path: str) -> McpListing:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise McpListError(f"{path}: file not found; save a tools/list result first "
                           f"(harness protocols import-mcp --out {path} -- COMMAND ARGS...)") from None
    except OSError as e:
        raise McpListError(f"{path}: cannot read: {e.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise McpListError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    return listing_from_json(data, source=str(path))


# -- names -------------------------------------------------------------------------------------

def sanitize_mcp_name(name: str) -> str:
    """One part of a Zoo/Roo MCP function name: whitespace runs become `_`, characters outside
    [A-Za-z0-9_-] are dropped, `--` runs become `-` (the separator stays unique), and a name that does
    not start with a letter or `_` gets a leading `_`."""
    if not name:
        return "_"
    s = re.sub(r"[^A-Za-z0-9_\-]", "", re.sub(r"\s+", "_", name))
    s = re.sub(r"--+", "-", s)
    if s and not re.match(r"[A-Za-z_]", s):
        s = "_" + s
    return s or "_unnamed"


def zoo_tool_name(server: str, tool: str) -> str:
    """`mcp--SERVER--TOOL` as Zoo/Roo Code name an MCP tool for the model (cut at 64 characters)."""
    return f"mcp--{sanitize_mcp_name(server)}--{sanitize_mcp_name(tool)}"[:64]


# -- the catalog -------------------------------------------------------------------------------

@dataclass(frozen=True)
class McpRef:
    """`mcp:PATH?names=zoo&server=NAME` taken apart."""
    path: str
    names: str = "plain"
    server: str = ""


def parse_ref(ref: str) -> McpRef:
    """PATH[?names=plain|zoo&server=NAME] (the text after `mcp:`)."""
    path, _, query = ref.partition("?")
    if not path:
        raise McpListError("mcp:PATH needs the path of a saved tools/list result (mcp:tools.json)")
    opts = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    bad = sorted(set(opts) - {"names", "server"})
    if bad:
        raise McpListError(f"mcp:{ref}: unknown option {bad[0]!r}; use names=plain|zoo and server=NAME")
    names = opts.get("names", "plain") or "plain"
    if names not in NAMINGS:
        raise McpListError(f"mcp:{ref}: names={names!r}; use names=plain (the server's own tool names) or "
                           f"names=zoo (mcp--SERVER--TOOL, as Zoo/Roo Code send them)")
    return McpRef(path=path, names=names, server=opts.get("server", ""))


def catalog_from_listing(listing: McpListing, names: str = "plain", server: str = "") -> Catalog:
    """The listing as a native catalog: each tool's inputSchema is its parameters (without `$schema`:
    the dialect is 2020-12 either way, and some endpoints refuse the key), annotations are its tags."""
    server = server or listing.server_name or Path(listing.source).stem
    tools: dict[str, ToolSpec] = {}
    for t in listing.tools:
        name = zoo_tool_name(server, t.name) if names == "zoo" else t.name
        if name in tools:
            raise McpListError(f"{listing.source}: tools '{t.name}' and another tool are both named {name!r} "
                               f"under names={names}")
        params = {k: v for k, v in t.input_schema.items() if k != "$schema"}
        tools[name] = ToolSpec(name=name, description=t.description or t.title, parameters=params,
                               tags=t.tags)
    desc = f"MCP server {server}" + (f" {listing.server_version}" if listing.server_version else "")
    if listing.protocol_version:
        desc += f", protocol revision {listing.protocol_version}"
    return Catalog(name=server, version=listing.server_version, wire="native", description=desc, tools=tools,
                   param_names=tuple(dict.fromkeys(p for s in tools.values() for p in s.param_names)),
                   source=listing.source)


def load_mcp_catalog(ref: McpRef) -> Catalog:
    return catalog_from_listing(read_listing(ref.path), names=ref.names, server=ref.server)


__all__ = ["HINT_TAGS", "McpListError", "McpListing", "McpRef", "McpTool", "REVISIONS", "catalog_from_listing",
           "listing_from_json", "load_mcp_catalog", "parse_ref", "read_listing", "sanitize_mcp_name",
           "zoo_tool_name"]
