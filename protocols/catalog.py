"""Tool catalogs: tools with JSON-Schema parameters, tool groups and modes, loaded from JSON data files.

A catalog file is plain data so that a tool builder can describe their protocol without code
(see docs/protocols.md). Two tool shapes are accepted: ours (`name`, `description`, `parameters`)
and OpenAI's (`{"type": "function", "function": {...}}`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from protocols.errors import CatalogError

DATA_DIR = Path(__file__).with_name("data")

# Roo attaches a file restriction to an edit only when the call carries one of these params (§4.2).
DEFAULT_EDIT_PARAMS = ("diff", "content", "operations", "search", "replace", "args", "line")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool = False
    examples: tuple[str, ...] = ()
    group: str | None = None
    tags: tuple[str, ...] = ()   # tags every generated case of this tool carries (MCP annotations)

    @property
    def param_names(self) -> list[str]:
        return list(self.parameters.get("properties", {}))

    @property
    def required(self) -> list[str]:
        return list(self.parameters.get("required", []))


@dataclass(frozen=True)
class Restriction:
    file_regex: str
    description: str = ""

    def allows(self, path: str) -> bool:
        # Roo tests with RegExp.test, i.e. a search anywhere in the path.
        return re.search(self.file_regex, path) is not None


@dataclass(frozen=True)
class ModeSpec:
    slug: str
    name: str = ""
    groups: tuple[str, ...] = ()
    restrictions: dict[str, Restriction] = field(default_factory=dict)  # group -> restriction
    role_definition: str = ""
    when_to_use: str = ""


@dataclass
class Catalog:
    name: str
    version: str = ""
    wire: str = "xml"
    description: str = ""
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    param_names: tuple[str, ...] = ()
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    always_available: tuple[str, ...] = ()
    modes: dict[str, ModeSpec] = field(default_factory=dict)
    default_mode: str | None = None
    edit_params: tuple[str, ...] = DEFAULT_EDIT_PARAMS
    one_call_per_turn: bool = False   # Roo: exactly one call per message, extras never run
    source: str = ""
    # what the catalog mirrors: {"name", "version", "repository", "commit", "date", "current", ...}
    agent: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)   # alias -> canonical tool (Roo's TOOL_ALIASES)
    last_tools: tuple[str, ...] = ()   # tools that must be the last call of a message (Roo's new_task)
    exact_schemas: bool = False   # check each schema's own `required`; strict does not force every key
    notes: tuple[str, ...] = ()   # the agent's rules in words (`harness protocols show`)

    # -- mode logic -------------------------------------------------------------------------
    def group_of(self, tool: str) -> list[str]:
        return [g for g, names in self.groups.items() if tool in names]

    def tool_names_for_mode(self, mode: str | None) -> list[str]:
        """Tools offered in `mode`, in catalog order; all tools when the catalog has no modes."""
        m = self.mode(mode)
        if m is None:
            return list(self.tools)
        allowed: set[str] = set(self.always_available)
        for g in m.groups:
            allowed.update(self.groups.get(g, ()))
        return [t for t in self.tools if t in allowed]

    def offers(self, tool: str, mode: ModeSpec) -> bool:
        """`tool in tool_names_for_mode(mode.slug)` for a mode of this catalog, without building the
        list (the per-call mode check of every parse)."""
        if tool not in self.tools:
            return False
        if tool in self.always_available:
            return True
        groups = self.groups
        for g in mode.groups:
            if tool in groups.get(g, ()):
                return True
        return False

    def tools_for_mode(self, mode: str | None) -> list[ToolSpec]:
        return [self.tools[n] for n in self.tool_names_for_mode(mode)]

    def mode(self, slug: str | None) -> ModeSpec | None:
        if not self.modes:
            return None
        slug = slug or self.default_mode
        if slug is None:
            return None
        return self.modes.get(slug)

    def restriction(self, tool: str, mode: str | None) -> Restriction | None:
        m = self.mode(mode)
        if m is None or not m.restrictions:
            return None
        for g in self.group_of(tool):
            if g in m.restrictions and g in m.groups:
                return m.restrictions[g]
        return None


# -- loading ---------------------------------------------------------------------------------

def _tool_from_json(raw: Any, where: str) -> ToolSpec:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: a tool must be an object with 'name' and 'parameters'")
    if raw.get("type") == "function" and isinstance(raw.get("function"), dict):
        raw = {**raw["function"], **{k: v for k, v in raw.items() if k not in ("type", "function")}}
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise CatalogError(f"{where}.name: missing or not a string; give every tool a name")
    params = raw.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(params, dict) or not isinstance(params.get("properties", {}), dict):
        raise CatalogError(f"{where}.parameters: must be a JSON Schema object with 'properties'")
    req = params.get("required", [])
    if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
        raise CatalogError(f"{where}.parameters.required: must be a list of parameter names")
    examples = raw.get("examples", [])
    if isinstance(examples, str):
        examples = [examples]
    return ToolSpec(
        name=name,
        description=str(raw.get("description", "")),
        parameters=params,
        strict=bool(raw.get("strict", False)),
        examples=tuple(examples),
        group=raw.get("group"),
        tags=tuple(t for t in raw.get("tags") or () if isinstance(t, str)) if isinstance(raw.get("tags"), list) else (),
    )


def _mode_from_json(raw: Any, where: str) -> ModeSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("slug"), str):
        raise CatalogError(f"{where}.slug: every mode needs a 'slug' string")
    groups: list[str] = []
    restrictions: dict[str, Restriction] = {}
    for j, g in enumerate(raw.get("groups", [])):
        # Roo's own shape: "read" or ["edit", {"fileRegex": "\\.md$", "description": "..."}]
        if isinstance(g, str):
            groups.append(g)
        elif isinstance(g, list) and g and isinstance(g[0], str):
            groups.append(g[0])
            opts = g[1] if len(g) > 1 and isinstance(g[1], dict) else {}
            rx = opts.get("fileRegex") or opts.get("file_regex")
            if rx:
                try:
                    re.compile(rx)
                except re.error as e:
                    raise CatalogError(f"{where}.groups[{j}].fileRegex: invalid regex {rx!r}: {e}") from None
                restrictions[g[0]] = Restriction(rx, str(opts.get("description", "")))
        else:
            raise CatalogError(f"{where}.groups[{j}]: expected a group name or [name, options]")
    return ModeSpec(
        slug=raw["slug"],
        name=str(raw.get("name", raw["slug"])),
        groups=tuple(groups),
        restrictions=restrictions,
        role_definition=str(raw.get("role_definition", raw.get("roleDefinition", ""))),
        when_to_use=str(raw.get("when_to_use", raw.get("whenToUse", ""))),
    )


def catalog_from_dict(data: Any, source: str = "<catalog>", base_dir: Path | None = None) -> Catalog:
    """Build a Catalog from parsed JSON; `extends` inherits groups, modes and the param whitelist."""
    if isinstance(data, list):  # a bare list of tools (e.g. an OpenAI `tools` array)
        data = {"name": Path(source).stem, "tools": data}
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: a catalog must be a JSON object with a 'tools' list")
    parent: Catalog | None = None
    if data.get("extends"):
        ref = str(data["extends"])
        p = (base_dir or DATA_DIR) / ref
        if not p.exists():
            p = DATA_DIR / ref
        parent = load_catalog(str(p))
    raw_tools = data.get("tools")
    if not isinstance(raw_tools, list) or not raw_tools:
        raise CatalogError(f"{source}: field 'tools' must be a non-empty list of tools")
    tools: dict[str, ToolSpec] = {}
    for i, t in enumerate(raw_tools):
        spec = _tool_from_json(t, f"{source}: tools[{i}]")
        if spec.name in tools:
            raise CatalogError(f"{source}: tools[{i}].name: duplicate tool {spec.name!r}")
        tools[spec.name] = spec
    groups = {str(k): tuple(v) for k, v in data.get("groups", {}).items()} if "groups" in data else (
        dict(parent.groups) if parent else {})
    modes_raw = data.get("modes")
    if modes_raw is not None:
        modes = {m.slug: m for m in (_mode_from_json(r, f"{source}: modes[{i}]") for i, r in enumerate(modes_raw))}
    else:
        modes = dict(parent.modes) if parent else {}
    param_names = tuple(data.get("param_names", ())) or (parent.param_names if parent else ()) or tuple(
        dict.fromkeys(p for t in tools.values() for p in t.param_names))
    cat = Catalog(
        name=str(data.get("name", Path(source).stem)),
        version=str(data.get("version", parent.version if parent else "")),
        wire=str(data.get("wire", parent.wire if parent else "xml")),
        description=str(data.get("description", "")),
        tools=tools,
        param_names=param_names,
        groups=groups,
        always_available=tuple(data.get("always_available", parent.always_available if parent else ())),
        modes=modes,
        default_mode=data.get("default_mode", parent.default_mode if parent else None),
        edit_params=tuple(data.get("edit_params", parent.edit_params if parent else DEFAULT_EDIT_PARAMS)),
        one_call_per_turn=bool(data.get("one_call_per_turn", parent.one_call_per_turn if parent else False)),
        source=source,
        agent={str(k): str(v) for k, v in (data.get("agent") or {}).items()},
        aliases={str(k): str(v) for k, v in (data.get("aliases") or {}).items()},
        last_tools=tuple(data.get("last_tools", ())),
        exact_schemas=bool(data.get("exact_schemas", False)),
        notes=tuple(str(n) for n in data.get("notes", ())),
    )
    for alias, target in cat.aliases.items():
        if target not in cat.tools:
            raise CatalogError(f"{source}: aliases.{alias}: unknown tool {target!r}")
    if cat.default_mode is not None and cat.modes and cat.default_mode not in cat.modes:
        raise CatalogError(f"{source}: default_mode {cat.default_mode!r} is not one of the modes {sorted(cat.modes)}")
    for g, names in cat.groups.items():
        for n in names:
            if n not in cat.tools and (parent is None or n not in parent.tools):
                raise CatalogError(f"{source}: groups.{g}: unknown tool {n!r}")
    return cat


@lru_cache(maxsize=64)
def load_catalog(path: str) -> Catalog:
    """Load a catalog file (JSON). Relative names resolve against the shipped data folder too."""
    p = Path(path)
    if not p.exists() and (DATA_DIR / path).exists():
        p = DATA_DIR / path
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"{path}: catalog file not found; pass a JSON catalog (see docs/protocols.md)") from None
    except OSError as e:
        raise CatalogError(f"{path}: cannot read catalog: {e.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CatalogError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    return catalog_from_dict(data, source=str(path), base_dir=p.parent)
