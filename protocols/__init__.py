"""Tool-call protocols: catalogs, wire formats, rules and the violation vocabulary.

    >>> import protocols
    >>> turn = protocols.get("roo-xml").parse("<read_file>\\n<path>a.py</path>\\n</read_file>")
    >>> [c.name for c in turn.calls], turn.codes
    (['read_file'], [])

Names: the built-ins of BUILTINS, or `WIRE:PATH` for a user catalog (`xml:`, `native:`, `hermes:`), or
`mcp:PATH` for a saved MCP tools/list result.
Imports only the standard library and jsonschema.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from protocols.base import Protocol, message_text
from protocols.catalog import Catalog, ModeSpec, ToolSpec, catalog_from_dict, load_catalog
from protocols.errors import CatalogError, UnknownProtocolError, UserError
from protocols.types import ToolCall, Turn, Violation
from protocols.violations import CODES

ROO_XML_CATALOG = "roo-code-v3.29.3.json"
ROO_NATIVE_CATALOG = "roo-native-v3.41.0.json"

BUILTINS: dict[str, str] = {
    "roo-xml": "Roo Code v3.29.3 XML tool tags in the assistant text",
    "roo-native": "Roo Code v3.41 native tool_calls (strict schemas, one call per response)",
    "native": "OpenAI tool_calls with the case's own functions (BFCL and user suites)",
    "hermes": "<tool_call>{json}</tool_call> blocks in the text",
    "zoo-native": "Zoo Code 3.54 native tool_calls (Roo's successor): strict-nullable schemas, aliases, "
                  "mcp--server--tool names, several calls per message with new_task last",
    "cline-xml": "Cline 3.x XML tool tags, parsed as Cline v3.89's parseAssistantMessageV2 does",
    "cline-native": "Cline 3.x native tool_calls (its default since v3.39; v3.89 tool set)",
    "kilo-native": "Kilo Code 7.x native tool_calls (the OpenCode tool set)",
}
# the built-ins made of a shipped catalog: name -> (wire format, catalog file in protocols/data)
CATALOG_PROTOCOLS: dict[str, tuple[str, str]] = {
    "roo-xml": ("xml", ROO_XML_CATALOG),
    "roo-native": ("native", ROO_NATIVE_CATALOG),
    "zoo-native": ("native", "zoo-native-v3.54.json"),
    "cline-xml": ("cline-xml", "cline-xml-v3.89.2.json"),
    "cline-native": ("native", "cline-native-v3.89.2.json"),
    "kilo-native": ("native", "kilo-native-v7.json"),
}
WIRES = ("xml", "native", "hermes")


def _make(wire: str, catalog: Catalog | None, name: str) -> Protocol:
    if wire in ("xml", "cline-xml"):   # cline-xml: the same tags, read with Cline's parser semantics
        from protocols.wire.xml import XmlProtocol
        if catalog is None:
            raise UnknownProtocolError(f"protocol {name!r}: the xml wire format needs a catalog (xml:PATH)")
        return XmlProtocol(catalog, name=name, dialect="cline" if wire == "cline-xml" else "roo")
    if wire == "native":
        from protocols.wire.native import NativeProtocol
        return NativeProtocol(catalog, name=name)
    if wire == "hermes":
        from protocols.wire.hermes import HermesProtocol
        return HermesProtocol(catalog, name=name)
    raise UnknownProtocolError(f"protocol {name!r}: unknown wire format {wire!r}; use one of {', '.join(WIRES)}")


@lru_cache(maxsize=64)
def get(name: str) -> Protocol:
    """The protocol called `name` (a built-in or `WIRE:PATH`)."""
    if name in CATALOG_PROTOCOLS:
        wire, file = CATALOG_PROTOCOLS[name]
        return _make(wire, load_catalog(file), name)
    if name in ("native", "hermes"):
        return _make(name, None, name)
    if name.startswith("mcp:"):
        return _mcp(name[4:], name)
    wire, sep, path = name.partition(":")
    if sep and wire in WIRES and path:
        return _make(wire, load_catalog(path), name)
    raise UnknownProtocolError(
        f"unknown protocol {name!r}: use one of {', '.join(BUILTINS)} or WIRE:PATH with WIRE in "
        f"{'/'.join(WIRES)} and PATH a catalog file, or mcp:PATH with a saved MCP tools/list result "
        f"(docs/protocols.md)")


def _mcp(ref: str, name: str) -> Protocol:
    """`mcp:PATH[?names=plain|zoo&server=NAME]`: a saved MCP tools/list result (protocols.mcp)."""
    from protocols.mcp import load_mcp_catalog, parse_ref
    from protocols.wire.mcp import McpProtocol
    r = parse_ref(ref)
    return McpProtocol(load_mcp_catalog(r), name=name, names=r.names)


def from_spec(spec: str | dict[str, Any], source: str = "<suite>") -> Protocol:
    """A protocol from a suite's `protocol:` value: a name, or {wire, catalog: PATH | {inline catalog}}."""
    if isinstance(spec, str):
        return get(spec)
    if isinstance(spec, dict) and spec.get("wire") == "mcp":   # {wire: mcp, catalog: PATH, names?, server?}
        if not isinstance(spec.get("catalog"), str):
            raise CatalogError(f"{source}: protocol block with wire mcp needs 'catalog': the path of a saved "
                               f"tools/list result")
        from urllib.parse import urlencode
        query = urlencode({k: str(spec[k]) for k in ("names", "server") if spec.get(k)})
        ref = spec["catalog"] + (f"?{query}" if query else "")
        return _mcp(ref, str(spec.get("name", f"mcp:{ref}")))
    if not isinstance(spec, dict) or spec.get("wire") not in WIRES:
        raise UnknownProtocolError(f"{source}: protocol block needs 'wire' ({'/'.join(WIRES)}) and 'catalog'")
    cat = spec.get("catalog")
    if isinstance(cat, str):
        catalog = load_catalog(cat)
    elif isinstance(cat, (dict, list)):
        catalog = catalog_from_dict(cat, source=source)
    elif cat is None and spec["wire"] != "xml":
        catalog = None
    else:
        raise CatalogError(f"{source}: protocol.catalog must be a path or an inline catalog object")
    return _make(spec["wire"], catalog, str(spec.get("name", f"{spec['wire']}:{source}")))


def names() -> list[str]:
    return list(BUILTINS)


__all__ = [
    "BUILTINS", "CODES", "Catalog", "CatalogError", "ModeSpec", "Protocol", "ToolCall", "ToolSpec", "Turn",
    "UnknownProtocolError", "UserError", "Violation", "catalog_from_dict", "from_spec", "get", "load_catalog",
    "message_text", "names",
]
