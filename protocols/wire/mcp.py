"""The `mcp:PATH` protocol: OpenAI `tool_calls` over an MCP server's tools (the native wire format).

What differs from `native:PATH`: the tools are the server's, so Roo's value lints and modes never
apply (an MCP tool called `read_file` is not Roo's); the system prompt is a generic MCP client's, not
Roo's; and under `names=zoo` a called name is matched as Zoo/Roo Code match it — `mcp__s__t` for
`mcp--s--t`, hyphens and underscores alike — when that names one tool only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocols.catalog import Catalog
from protocols.wire.native import FunctionSet, NativeProtocol


def _fold(name: str) -> str:
    return name.replace("-", "_")


@dataclass
class McpFunctionSet(FunctionSet):
    fuzzy: dict[str, str] = field(default_factory=dict)   # hyphen/underscore-folded name -> tool

    def resolve(self, name: Any) -> str | None:
        hit = super().resolve(name)
        if hit is None and isinstance(name, str) and self.fuzzy:
            return self.fuzzy.get(_fold(name))
        return hit


class McpProtocol(NativeProtocol):
    def __init__(self, catalog: Catalog, name: str, names: str = "plain") -> None:
        super().__init__(catalog, name=name)
        self.names = names
        self._mcp_fs: dict[int, tuple[FunctionSet, McpFunctionSet]] = {}

    def functions(self, mode: str | None = None, tools: list[dict[str, Any]] | None = None) -> FunctionSet:
        base = super().functions(mode, tools)
        hit = self._mcp_fs.get(id(base))
        if hit is not None and hit[0] is base:
            return hit[1]
        fuzzy: dict[str, str] = {}
        if self.names == "zoo":
            folded: dict[str, list[str]] = {}
            for n in base.specs:
                folded.setdefault(_fold(n), []).append(n)
            fuzzy = {k: v[0] for k, v in folded.items() if len(v) == 1}
        # catalog=None: no modes and no Roo lints for a server's tools (the specs are the catalog's)
        fs = McpFunctionSet(specs=base.specs, aliases=base.aliases, wire=base.wire, catalog=None, mode=mode,
                            open=False, fuzzy=fuzzy)
        if len(self._mcp_fs) > 256:
            self._mcp_fs.clear()
        self._mcp_fs[id(base)] = (base, fs)
        return fs

    def render_system(self, *, mode: str | None = None, style: str = "full",
                      tools: list[dict[str, Any]] | None = None) -> str:
        from protocols.prompts import render_native_system
        return render_native_system(None, mode, style)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["mcp_names"] = self.names
        return d


__all__ = ["McpFunctionSet", "McpProtocol"]
