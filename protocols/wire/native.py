"""OpenAI native function calling: `tool_calls` in the assistant message, JSON arguments, JSON Schemas.

Three protocols use this wire format:

* `roo-native` — Roo Code v3.41's strict native tools (reference §9): every key of a strict schema is
  required (`null` for an unused optional), extra keys are rejected, one call per response, mode rules
  and the value lints apply, `mcp--server--tool` names are dynamic MCP calls;
* `native` — the case's own functions (BFCL and user suites); dotted names are sent sanitised and
  mapped back to the original name;
* `native:PATH` — a user catalog.

The function-set and argument-validation helpers here are shared with the hermes wire format.
Parsing never raises on model output and is linear in the message size.
"""
from __future__ import annotations

import copy
import json
import operator
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols import violations as V
from protocols.base import Message, Protocol, safe_text
from protocols.catalog import Catalog, ToolSpec
from protocols.types import ToolCall, Turn, Violation

# -- names ------------------------------------------------------------------------------------

_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


def sanitize_name(name: str) -> str:
    """The function name sent on the wire: '.' → '_' and anything outside [A-Za-z0-9_-] → '_'.

    This is what BFCL does for its dotted names (`math.factorial` → `math_factorial`) and what
    OpenAI-compatible APIs require of a function name.
    """
    if not isinstance(name, str):
        return ""
    return _NAME_BAD.sub("_", name)


def wire_names(names: Iterable[str]) -> dict[str, str]:
    """original name → wire name, deterministic. A name that is already valid keeps itself; a name that
    would collide with another gets a `_2`, `_3`… suffix."""
    names = [n for n in dict.fromkeys(names) if isinstance(n, str)]
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in names:            # clean names first: they are sent as they are
        if sanitize_name(n) == n:
            out[n] = n
            used.add(n)
    for n in names:
        if n in out:
            continue
        w = sanitize_name(n)
        if w in used:
            i = 2
            while f"{w}_{i}" in used:
                i += 1
            w = f"{w}_{i}"
        used.add(w)
        out[n] = w
    return {n: out[n] for n in names}


def mcp_parts(name: str) -> tuple[str, str] | None:
    """(server, tool) when `name` is a Roo dynamic MCP function name, else None.

    Roo names MCP tools `mcp--<server>--<tool>` and also accepts models that turn the hyphens into
    underscores (`mcp__<server>__<tool>`; a triple underscore is an encoded hyphen, not a separator).
    """
    if not isinstance(name, str):
        return None
    if name.startswith("mcp__"):
        name = name.replace("___", "\x00").replace("__", "--").replace("\x00", "___")
    if not name.startswith("mcp--"):
        return None
    rest = name[5:]
    i = rest.find("--")
    if i <= 0 or i + 2 >= len(rest):
        return None
    return rest[:i], rest[i + 2:]


# -- the functions offered to a turn ----------------------------------------------------------

def spec_from_tool(raw: Any) -> ToolSpec | None:
    """A ToolSpec from an OpenAI tool dict (`{"type": "function", "function": {...}}`) or a bare
    `{name, parameters}` function (BFCL); None for an entry that is not a tool at all."""
    if not isinstance(raw, Mapping):
        return None
    fn = raw.get("function") if isinstance(raw.get("function"), Mapping) else raw
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        return None
    params = fn.get("parameters", fn.get("input_schema"))
    if params is None:
        params = {"type": "object", "properties": {}}
    strict = fn.get("strict", raw.get("strict", False))
    desc = fn.get("description", "")
    return ToolSpec(name=name, description=desc if isinstance(desc, str) else str(desc),
                    parameters=params,  # a non-object schema is reported when a call is checked
                    strict=strict is True)


@dataclass
class FunctionSet:
    """What the model may call in one turn.

    `specs` holds the offered tools by their original name; `aliases` maps each wire (sanitised)
    name back to it. `open` means "no functions declared": any name is accepted.
    """

    specs: dict[str, ToolSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    wire: dict[str, str] = field(default_factory=dict)     # original -> wire name
    catalog: Catalog | None = None
    mode: str | None = None
    open: bool = False
    mcp: bool = False      # Roo dynamic MCP names are calls (catalog with an `mcp` group)
    mcp_allowed: bool = True

    def resolve(self, name: Any) -> str | None:
        """The original name of an offered function called `name` (original or wire spelling)."""
        if not isinstance(name, str):
            return None
        if name in self.specs:
            return name
        return self.aliases.get(name)

    def tool_dicts(self, *, sanitized: bool) -> list[dict[str, Any]]:
        out = []
        for n, spec in self.specs.items():
            fn: dict[str, Any] = {"name": self.wire.get(n, n) if sanitized else n,
                                  "description": spec.description, "parameters": spec.parameters}
            if spec.strict:
                fn["strict"] = True
            out.append({"type": "function", "function": fn})
        return out


def _catalog_has_mcp(catalog: Catalog) -> bool:
    return "mcp" in catalog.groups or any("mcp" in m.groups for m in catalog.modes.values())


def function_set(catalog: Catalog | None, mode: str | None = None,
                 tools: Iterable[Any] | None = None) -> FunctionSet:
    """The functions offered: the catalog's tools for `mode` (plus any extra functions the case
    declares), else the case's `tools`, else an open set."""
    specs: dict[str, ToolSpec] = {}
    fs = FunctionSet(catalog=catalog, mode=mode)
    if catalog is not None:
        for spec in catalog.tools_for_mode(mode):
            specs[spec.name] = spec
        if _catalog_has_mcp(catalog):
            fs.mcp = True
            m = catalog.mode(mode)
            fs.mcp_allowed = m is None or "mcp" in m.groups
    if isinstance(tools, (list, tuple)):
        for raw in tools:
            spec = spec_from_tool(raw)
            if spec is None or spec.name in specs:
                continue
            if catalog is not None and spec.name in catalog.tools:
                continue  # the catalog's definition and mode rules win
            specs[spec.name] = spec
    if catalog is None and not specs:
        fs.open = True  # no functions declared (BFCL-style): any name, arguments only need be an object
    fs.specs = specs
    fs.wire = wire_names(specs)
    fs.aliases = {w: o for o, w in fs.wire.items() if w not in specs}
    return fs


# -- argument decoding ------------------------------------------------------------------------

def _reject_constant(tok: str) -> Any:
    raise ValueError(f"{tok} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant).decode


def _decode_json(raw: str) -> Any:
    """json.loads(raw, parse_constant=_reject_constant) without a decoder built per call (json.loads
    itself only adds its BOM refusal, whose message it keeps)."""
    if raw.startswith("\ufeff"):
        return json.loads(raw, parse_constant=_reject_constant)
    return _DECODER(raw)


def shorten(s: Any, n: int = 80) -> str:
    s = s if isinstance(s, str) else repr(s)
    return s if len(s) <= n else s[:n] + "…"


def decode_arguments(raw: Any, *, empty_is_object: bool = True) -> tuple[dict[str, Any] | str, str | None]:
    """(arguments, problem). `arguments` is the decoded JSON object, or the raw text when it is not
    one (then `problem` says why). An empty string is `{}` as in Roo (`empty_is_object`; BFCL and
    plain OpenAI clients cannot decode it); an already-decoded mapping is taken as is."""
    if raw is None:
        return {}, None
    if isinstance(raw, Mapping):
        return dict(raw), None
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", "replace")
    if not isinstance(raw, str):
        try:
            text = json.dumps(raw, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = shorten(raw, 200)
        return text, f"arguments are a {type(raw).__name__}, not a JSON object"
    if raw == "" and empty_is_object:
        return {}, None
    try:
        value = _decode_json(raw)
    except RecursionError:
        return raw, "arguments are nested too deeply to decode"
    except ValueError as e:  # JSONDecodeError, NaN/Infinity, int digit limit
        msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        where = f" at char {e.pos}" if isinstance(e, json.JSONDecodeError) else ""
        return raw, f"arguments are not valid JSON ({shorten(msg, 120)}{where})"
    if isinstance(value, dict):
        return value, None
    if isinstance(value, str):
        inner = value.strip()
        if inner.startswith("{") and inner.endswith("}"):
            return raw, "arguments are a JSON string holding an object (double-encoded)"
    kind = {list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)
    return raw, f"arguments are a JSON {kind}, not an object"


# -- schema validation ------------------------------------------------------------------------

_BFCL_TYPES = {"dict": "object", "float": "number", "tuple": "array", "list": "array",
               "int": "integer", "str": "string", "bool": "boolean", "double": "number",
               "long": "integer", "char": "string", "byte": "integer", "short": "integer"}
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains",
                  "propertyNames", "unevaluatedProperties", "unevaluatedItems", "additionalItems")
_SUBSCHEMA_KIND = {**dict.fromkeys(_SUBSCHEMA_MAPS, 0), **dict.fromkeys(_SUBSCHEMA_LISTS, 1),
                   **dict.fromkeys(_SUBSCHEMA_ONE, 2)}


def _normalise_schema(schema: Any, strict: bool, depth: int = 0) -> Any:
    """`schema` fit for jsonschema: BFCL/Python type names mapped to JSON Schema ones
    (`dict`→object, `float`→number, `tuple`→array, `any`→no constraint) and, for strict tools, every
    object's properties required and no additional properties (OpenAI strict mode).

    Copy-on-write: `schema` itself when nothing changes (a plain JSON Schema, not strict), else new
    mappings along the changed paths only (what is unchanged is shared with `schema`, never modified).
    The input is never mutated."""
    if depth > 64 or not isinstance(schema, dict):
        return schema
    changes: dict[str, Any] = {}
    drop_type = False
    t = schema.get("type")
    if isinstance(t, str):
        if t == "any":
            drop_type = True
        elif t in _BFCL_TYPES:
            changes["type"] = _BFCL_TYPES[t]
    elif isinstance(t, list):
        if "any" in t:
            drop_type = True
        else:
            nt = list(dict.fromkeys(_BFCL_TYPES.get(x, x) if isinstance(x, str) else x for x in t))
            if nt != t:   # (equal means: same length, nothing mapped, nothing deduplicated)
                changes["type"] = nt
    for k, v in schema.items():   # (only the keys present: most subschemas have two or three)
        kind = _SUBSCHEMA_KIND.get(k) if isinstance(k, str) else None
        if kind is None:
            continue
        if kind == 0:
            if isinstance(v, dict):
                nm: dict[Any, Any] | None = None
                for pk, pv in v.items():
                    npv = _normalise_schema(pv, strict, depth + 1)
                    if npv is not pv:
                        if nm is None:
                            nm = dict(v)
                        nm[pk] = npv
                if nm is not None:
                    changes[k] = nm
        elif isinstance(v, list):
            if kind == 1 or k == "items":   # a subschema list, or draft-7 tuple items
                nl = _normalise_list(v, strict, depth + 1)
                if nl is not v:
                    changes[k] = nl
        elif kind == 2 and isinstance(v, dict):
            nv = _normalise_schema(v, strict, depth + 1)
            if nv is not v:
                changes[k] = nv
    props = changes.get("properties", schema.get("properties"))
    if strict and isinstance(props, dict):
        old_req = schema.get("required")
        req = old_req if isinstance(old_req, list) else []
        every = [k for k, v in props.items()
                 if not (isinstance(v, dict) and v.get("deprecated") is True)]  # never advertised
        new_req = list(dict.fromkeys([*req, *every]))
        if not isinstance(old_req, list) or new_req != old_req:
            changes["required"] = new_req
        if "additionalProperties" not in schema:
            changes["additionalProperties"] = False
    if not changes and not drop_type:
        return schema
    s = dict(schema)
    if drop_type:
        del s["type"]
    s.update(changes)   # changed keys keep their place; new ones (required, additionalProperties) go last
    return s


def _normalise_list(items: list[Any], strict: bool, depth: int) -> list[Any]:
    """`items` with each subschema normalised: the same list when none changes."""
    out = [_normalise_schema(x, strict, depth) for x in items]
    return items if all(a is b for a, b in zip(out, items)) else out


@dataclass
class _Compiled:
    validator: Any = None       # a jsonschema validator instance, or None when the schema is broken
    error: str = ""             # why the schema could not be used
    schema: Any = None          # the normalised schema
    fast: Any = None            # schema_fast's "certainly valid" test, or None (then jsonschema decides)


_BY_ID: dict[int, tuple[Any, bool, _Compiled]] = {}
_BY_TEXT: dict[str, _Compiled] = {}
_CACHE_MAX = 4096
# jsonschema's check_schema verdict per distinct normalised schema (canonical JSON -> "" when valid,
# else the error), kept for the whole process: each distinct schema is meta-checked at most once
_CHECKED: dict[str, str] = {}
# canonical JSON (json.dumps(sort_keys=True)) of plain-JSON schemas already known to pass
# `validator_for(s, default=Draft202012Validator).check_schema(s)` — the suite loader's check
_KNOWN_VALID: set[str] = set()
_CHECKED_MAX = 1 << 16
# json.dumps(x, sort_keys=True), without building an encoder per call (the same text, the same errors)
_canonical_json = json.JSONEncoder(sort_keys=True).encode


def note_valid_schema(text: str) -> None:
    """Record that the plain JSON schema whose canonical JSON (`json.dumps(schema, sort_keys=True)`,
    str keys and lists only) is `text` passed jsonschema's `check_schema` under
    `validator_for(schema, default=Draft202012Validator)` (as the suite loader checks every case tool's
    parameters). Compiling an identical schema that normalisation leaves unchanged then skips the
    meta-check; any other schema is still checked."""
    if len(_KNOWN_VALID) >= _CHECKED_MAX:
        _KNOWN_VALID.clear()
    _KNOWN_VALID.add(text)


def _copy_plain(x: Any) -> tuple[Any, bool]:
    """(a deep copy of `x`, whether `x` is plain JSON: exact dicts with str keys, exact lists and JSON
    scalars). For data `json.dumps` accepts (so no cycles); anything else is copied by copy.deepcopy."""
    tx = type(x)
    if tx is dict:
        plain = True
        out = {}
        for k, v in x.items():
            if type(k) is not str:
                plain = False
            out[k], p = _copy_plain(v)
            plain = plain and p
        return out, plain
    if tx is list:
        plain = True
        items = []
        for v in x:
            c, p = _copy_plain(v)
            items.append(c)
            plain = plain and p
        return items, plain
    if tx is str or tx is int or tx is float or tx is bool or x is None:
        return x, True
    return copy.deepcopy(x), False


def compiled_validator(schema: Any, strict: bool = False) -> _Compiled:
    """The jsonschema validator for a tool's parameter schema, cached per schema (by identity, then
    by content). A schema jsonschema rejects gives a `_Compiled` with `error` set instead of raising."""
    hit = _BY_ID.get(id(schema))
    if hit is not None and hit[0] is schema and hit[1] == strict:
        return hit[2]
    text: str | None
    plain = True
    try:
        text = _canonical_json(schema)
    except (TypeError, ValueError):   # not plain JSON data: the same key as before, values by repr
        plain = False
        try:
            text = json.dumps(schema, sort_keys=True, default=repr)
        except (TypeError, ValueError, RecursionError):
            text = None
    except RecursionError:
        text = None
    key = ("S" if strict else "L") + text if text is not None else None
    comp = _BY_TEXT.get(key) if key is not None else None
    if comp is None:
        comp = _compile(schema, strict, text if plain else None)
        if key is not None:
            if len(_BY_TEXT) >= _CACHE_MAX:
                _BY_TEXT.clear()
            _BY_TEXT[key] = comp
    if len(_BY_ID) >= _CACHE_MAX:
        _BY_ID.clear()
    _BY_ID[id(schema)] = (schema, strict, comp)
    return comp


def _compile(schema: Any, strict: bool, plain_text: str | None = None) -> _Compiled:
    """Compile a validator. `plain_text`: the schema's canonical JSON when it serialises as plain JSON.

    The meta-check (`check_schema`, the costly part) runs once per distinct normalised schema in the
    process, and not at all for a schema that normalisation leaves unchanged and that is already
    known to pass it (`note_valid_schema`): the verdict is the same either way."""
    import jsonschema
    from jsonschema import validators

    if not isinstance(schema, dict):
        return _Compiled(error=f"parameters must be a JSON Schema object, got {type(schema).__name__}")
    try:
        norm0 = _normalise_schema(schema, strict)
        if plain_text is not None:   # the cached validator owns its schema: a deep copy
            norm, plain = _copy_plain(norm0)
        else:
            norm, plain = copy.deepcopy(norm0), False
        unchanged = norm0 is schema
        known = unchanged and plain and plain_text in _KNOWN_VALID
        cls = validators.validator_for(norm, default=jsonschema.Draft202012Validator)
        if not known:
            ckey: str | None = None
            if plain:   # (only plain JSON: its text then says exactly what jsonschema sees)
                try:
                    ckey = plain_text if unchanged else _canonical_json(norm)
                except (TypeError, ValueError, RecursionError):
                    ckey = None
            verdict = _CHECKED.get(ckey) if ckey is not None else None
            if verdict is None:
                try:
                    cls.check_schema(norm)
                    verdict = ""
                except jsonschema.SchemaError as e:
                    where = "/".join(str(p) for p in e.absolute_path) or "(root)"
                    verdict = f"invalid JSON Schema at {where}: {shorten(e.message, 160)}"
                if ckey is not None:
                    if len(_CHECKED) >= _CHECKED_MAX:
                        _CHECKED.clear()
                    _CHECKED[ckey] = verdict
            if verdict:
                return _Compiled(error=verdict)
        validator = cls(norm)
        fast = None
        if cls is jsonschema.Draft202012Validator and validator.format_checker is None:
            from protocols.schema.fast import compile_fast
            fast = compile_fast(norm)
        return _Compiled(validator=validator, schema=norm, fast=fast)
    except Exception as e:  # noqa: BLE001 - a user schema must never crash parsing
        return _Compiled(error=f"unusable JSON Schema: {type(e).__name__}: {shorten(str(e), 160)}")


def _param_path(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _is_nullable(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    t = schema.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t):
        return True
    return any(_is_nullable(x) for x in schema.get("anyOf", []) or [] if isinstance(x, dict))


def _extra_keys(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    pats = schema.get("patternProperties") if isinstance(schema.get("patternProperties"), dict) else {}
    out = []
    for k in instance:
        if k in props:
            continue
        if isinstance(k, str) and any(_safe_search(p, k) for p in pats):
            continue
        out.append(k)
    return out


def _safe_search(pattern: str, s: str) -> bool:
    try:
        return re.search(pattern, s) is not None
    except (re.error, TypeError):
        return False


def schema_violations(tool: str, spec: ToolSpec, arguments: Mapping[str, Any]) -> list[Violation]:
    """Check decoded arguments against the tool's parameter schema: one violation per distinct problem,
    each naming the tool and the parameter."""
    comp = compiled_validator(spec.parameters, spec.strict)
    if comp.validator is None:
        return [Violation(V.INVALID_PARAM_VALUE,
                          f"{tool}: arguments could not be checked: the tool's {comp.error}")]
    if comp.fast is not None:
        try:
            if comp.fast(arguments):   # certainly valid: jsonschema would find no error
                return []
        except Exception:  # noqa: BLE001 - the fast test only ever saves work; jsonschema decides
            pass
    out: list[Violation] = []
    seen: set[tuple[str, str]] = set()

    def add(code: str, detail: str) -> None:
        if (code, detail) not in seen:
            seen.add((code, detail))
            out.append(Violation(code, detail))

    try:
        errors = list(comp.validator.iter_errors(arguments))
    except Exception as e:  # noqa: BLE001 - e.g. a pattern that is not a valid regex
        return [Violation(V.INVALID_PARAM_VALUE,
                          f"{tool}: arguments could not be checked: {type(e).__name__}: {shorten(str(e), 160)}")]
    errors.sort(key=lambda e: (list(map(str, e.absolute_path)), str(e.validator)))
    for err in errors:
        base = _param_path(err.absolute_path)
        prefix = base + "." if base else ""
        kind = err.validator
        inst = err.instance
        if kind in ("required", "dependentRequired", "dependencies") and isinstance(inst, Mapping):
            if kind == "required":
                wanted = err.validator_value if isinstance(err.validator_value, list) else []
            else:
                wanted = [x for v in (err.validator_value or {}).values() if isinstance(v, list) for x in v]
            props = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
            for k in wanted:
                if k in inst:
                    continue
                note = ""
                if spec.strict and _is_nullable(props.get(k) if isinstance(props, dict) else None):
                    note = " (strict schema: every key is required; send null when unused)"
                add(V.MISSING_REQUIRED_PARAM, f"{tool}: missing required parameter '{prefix}{k}'{note}")
            continue
        if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(inst, Mapping) \
                and err.validator_value is False:
            for k in _extra_keys(inst, err.schema if isinstance(err.schema, dict) else {}):
                add(V.UNEXPECTED_PARAM, f"{tool}: unexpected parameter '{prefix}{k}'")
            continue
        where = f"parameter '{base}'" if base else "arguments"
        add(V.INVALID_PARAM_VALUE, f"{tool}: {where}: {shorten(err.message, 200)}")
    return out


# -- checking one call ------------------------------------------------------------------------

def resolve_name(fs: FunctionSet, raw_name: Any) -> str:
    """The name `check_call` reports for a call named `raw_name`: the original name of an offered
    function (also for its sanitised alias), else the name as written ("" when it is not a string)."""
    name = raw_name if isinstance(raw_name, str) else ""
    original = fs.resolve(name)
    return name if original is None else original


def check_call(fs: FunctionSet, raw_name: Any, arguments: dict[str, Any] | str,
               *, lint: bool = True, note: str = "") -> tuple[str, list[Violation]]:
    """Resolve a called name against the function set and check its arguments.

    Returns (the name to report — the original for a sanitised alias — and the violations).
    `arguments` must already be decoded; a raw string means the JSON was not an object and was
    reported by the caller, so only the name is checked.
    """
    name = raw_name if isinstance(raw_name, str) else ""
    out: list[Violation] = []
    original = fs.resolve(name)
    if original is None:
        if fs.open and name:
            return name, []
        if fs.mcp and mcp_parts(name) is not None:
            if not fs.mcp_allowed and fs.catalog is not None:
                m = fs.catalog.mode(fs.mode)
                out.append(Violation(V.TOOL_NOT_ALLOWED_IN_MODE,
                                     f'MCP tool "{shorten(name)}" is not allowed in {m.slug if m else fs.mode} mode.'
                                     + note))
            return name, out
        cat = fs.catalog
        if cat is not None and name in cat.tools:
            # Roo's mode check: a catalog tool the mode does not offer
            from protocols.rules import mode_violations
            vs = mode_violations(cat, name, arguments, fs.mode)
            if not vs:
                vs = [Violation(V.TOOL_NOT_ALLOWED_IN_MODE, f'Tool "{name}" is not offered in this turn.')]
            return name, [Violation(v.code, v.detail + note) for v in vs]
        if not name:
            return name, [Violation(V.UNKNOWN_TOOL, "a tool call without a function name" + note)]
        offered = ", ".join(list(fs.specs)[:12]) + ("…" if len(fs.specs) > 12 else "")
        return name, [Violation(V.UNKNOWN_TOOL,
                                f'Unknown tool "{shorten(name)}": not offered ({offered or "no tools"}).' + note)]
    if not isinstance(arguments, Mapping):
        return original, out
    spec = fs.specs[original]
    out.extend(_guarded(lambda: schema_violations(original, spec, arguments), original))
    cat = fs.catalog
    if cat is not None and original in cat.tools:
        from protocols.rules import mode_violations
        out.extend(_guarded(lambda: mode_violations(cat, original, arguments, fs.mode), original))
        if lint:
            out.extend(_guarded(lambda: _lints(original, arguments, tuple(cat.modes)), original))
    if note:
        out = [Violation(v.code, v.detail + note) for v in out]
    return original, out


def _lints(name: str, arguments: Mapping[str, Any], slugs: Collection[str]) -> list[Violation]:
    from protocols.lints import call_lints
    return list(call_lints(name, arguments, slugs))


def _guarded(fn: Any, tool: str) -> list[Violation]:
    """Run a third-party or rule check; a crash in it is reported, never raised out of parse."""
    try:
        return list(fn())
    except ImportError:
        raise
    except Exception as e:  # noqa: BLE001
        return [Violation(V.INVALID_PARAM_VALUE,
                          f"{tool}: arguments could not be checked: {type(e).__name__}: {shorten(str(e), 160)}")]


def count_violations(turn: Turn, catalog: Catalog | None, n_calls: int, what: str = "tool calls") -> None:
    if n_calls > 1 and catalog is not None and catalog.one_call_per_turn:
        turn.add(V.MULTIPLE_TOOL_CALLS,
                 f"{n_calls} {what} in one response; exactly one is allowed and only the first would run.")


# -- XML written as text ----------------------------------------------------------------------

_TAG = re.compile(r"<([A-Za-z_][A-Za-z0-9_\-]{0,63})(?=[\s>/=])")


def text_markup(text: str, catalog: Catalog | None) -> str | None:
    """The first tool-looking markup in prose (`<read_file>` of a catalog tool, `<tool_call>`,
    `<function=…>`), or None. Linear: one pass over '<' positions."""
    if not text or "<" not in text:
        return None
    names = set(catalog.tools) if catalog is not None else set()
    names.update(("tool_call", "function", "use_mcp_tool"))
    for m in _TAG.finditer(text):
        if m.group(1) in names:
            end = text.find(">", m.start(), m.start() + 80)
            return text[m.start(): end + 1] if end != -1 else text[m.start(): m.end()]
    return None


# -- the protocol -----------------------------------------------------------------------------

def raw_tool_calls(message: Mapping[str, Any]) -> tuple[list[Any], str]:
    """The message's tool-call entries (tool_calls, else legacy function_call) and a note."""
    tc = message.get("tool_calls")
    if isinstance(tc, Mapping):
        return [tc], ""
    if isinstance(tc, (list, tuple)) and tc:
        return list(tc), ""
    if tc not in (None, [], ()) and not isinstance(tc, (list, tuple)):
        note = f"tool_calls is a {type(tc).__name__}, not a list"
    else:
        note = ""
    fc = message.get("function_call")
    if isinstance(fc, Mapping):
        return [{"type": "function", "function": fc}], note
    return [], note


def _tool_inputs(tools: list[Any] | tuple[Any, ...]) -> list[Any]:
    """Every object `function_set` reads from a case's tools (each tool, its function, name,
    parameters, strict flags, description, and whether the optional keys are there), flattened."""
    out: list[Any] = []
    for raw in tools:
        out.append(raw)
        if isinstance(raw, Mapping):
            fn = raw.get("function")
            src = fn if isinstance(fn, Mapping) else raw
            out += (fn, src.get("name"), "parameters" in src, src.get("parameters"), src.get("input_schema"),
                    "strict" in src, src.get("strict"), raw.get("strict"), src.get("description"))
    return out


_TOOLS_CACHE_MAX = 4096


class FunctionSets:
    """The functions a protocol offers: its catalog's, per mode (cached), or a case's own tools
    (cached per tools list: a suite's case is parsed once per sample, with the same list)."""

    catalog: Catalog | None

    def __init__(self, catalog: Catalog | None, name: str) -> None:
        self.catalog = catalog
        self.name = name
        self._fs_cache: dict[str | None, FunctionSet] = {}
        # (id(tools), mode) -> (tools, the objects function_set read, the function set). The entry keeps
        # those objects alive, so `is` on each of them proves the list still holds what it held.
        self._tools_cache: dict[tuple[int, str | None], tuple[Any, list[Any], FunctionSet]] = {}

    def functions(self, mode: str | None = None, tools: list[dict[str, Any]] | None = None) -> FunctionSet:
        if self.catalog is not None and not tools:
            fs = self._fs_cache.get(mode)
            if fs is None:
                fs = function_set(self.catalog, mode, None)
                if len(self._fs_cache) < 256:
                    self._fs_cache[mode] = fs
            return fs
        if not isinstance(tools, (list, tuple)) or not tools:
            return function_set(self.catalog, mode, tools)
        inputs = _tool_inputs(tools)
        key = (id(tools), mode)
        hit = self._tools_cache.get(key)
        if hit is not None and hit[0] is tools and len(hit[1]) == len(inputs) \
                and all(map(operator.is_, hit[1], inputs)):
            return hit[2]
        fs = function_set(self.catalog, mode, tools)
        if len(self._tools_cache) >= _TOOLS_CACHE_MAX:
            self._tools_cache.clear()
        self._tools_cache[key] = (tools, inputs, fs)
        return fs

    # parse / parse_calls over the wire format's own `_parse(message, mode, tools, check)`
    def parse(self, message: Message, *, mode: str | None = None,
              tools: list[dict[str, Any]] | None = None) -> Turn:
        return self._parse(message, mode, tools, True)

    def parse_calls(self, message: Message, *, mode: str | None = None,
                    tools: list[dict[str, Any]] | None = None) -> list[ToolCall]:
        """The calls of `parse`, without checking names and arguments against the functions."""
        return self._parse(message, mode, tools, False).calls

    def _parse(self, message: Message, mode: str | None, tools: list[dict[str, Any]] | None,
               check: bool) -> Turn:
        raise NotImplementedError


class NativeProtocol(FunctionSets, Protocol):
    """OpenAI `tool_calls` wire format, with or without a tool catalog."""

    wire = "native"

    def __init__(self, catalog: Catalog | None, name: str = "native") -> None:
        super().__init__(catalog, name)

    # -- parsing --------------------------------------------------------------------------------
    def _parse(self, message: Message, mode: str | None, tools: list[dict[str, Any]] | None,
               check: bool) -> Turn:
        turn = Turn()
        if isinstance(message, str):
            turn.text = message
            raw_calls: list[Any] = []
            note = ""
        elif isinstance(message, Mapping):
            turn.text = safe_text(message)
            rc = message.get("reasoning_content", message.get("reasoning"))
            if isinstance(rc, str):
                turn.reasoning = rc
            raw_calls, note = raw_tool_calls(message)
        else:
            raw_calls, note = [], f"the message is a {type(message).__name__}, not an assistant message"

        fs = self.functions(mode, tools)
        roo = self.catalog is not None and self.catalog.one_call_per_turn
        skipped = 0
        for i, entry in enumerate(raw_calls):
            if not isinstance(entry, Mapping):
                skipped += 1
                continue
            fn = entry.get("function")
            if not isinstance(fn, Mapping):
                fn = entry  # tolerate a flat {name, arguments} entry
            raw_name = fn.get("name")
            call_id = entry.get("id") if isinstance(entry.get("id"), str) and entry.get("id") else None
            arguments, problem = decode_arguments(fn.get("arguments"), empty_is_object=self.catalog is not None)
            id_note = f" (tool_calls[{i}] has no id, so Roo cannot bind a native tool result to it)" \
                if roo and call_id is None else ""
            if check:
                name, vs = check_call(fs, raw_name, arguments, note=id_note)
            else:
                name, vs = resolve_name(fs, raw_name), []
            if problem is not None:
                turn.add(V.INVALID_JSON_ARGUMENTS, f"{name or f'tool_calls[{i}]'}: {problem}{id_note}")
            turn.calls.append(ToolCall(name=name, arguments=arguments, id=call_id))
            turn.violations.extend(vs)
        if skipped:
            note = (note + "; " if note else "") + f"{skipped} tool_calls entr{'y is' if skipped == 1 else 'ies are'} not objects"

        if not turn.calls:
            detail = "the response has no tool call"
            if note:
                detail += f" ({note})"
            markup = text_markup(turn.text, self.catalog)
            if markup is not None:
                detail += f"; tool markup was written as text instead of a native tool call: {shorten(markup)}"
            turn.violations.insert(0, Violation(V.NO_TOOL_CALL, detail))
        count_violations(turn, self.catalog, len(turn.calls))
        return turn

    # -- rendering ------------------------------------------------------------------------------
    def render_system(self, *, mode: str | None = None, style: str = "full",
                      tools: list[dict[str, Any]] | None = None) -> str:
        from protocols.prompts import render_native_system
        if self.catalog is None and tools:
            return ("You may call the functions provided with this request. Use the platform's native "
                    "tool calling; do not write tool calls as text.")
        return render_native_system(self.catalog, mode, style)

    def request_tools(self, *, mode: str | None = None,
                      tools: list[dict[str, Any]] | None = None) -> list[dict[str, Any]] | None:
        """The request's `tools`: the catalog's for `mode` (plus the case's extra functions), else the
        case's own functions with wire names and JSON Schema type names. `tools` is never modified;
        the result is new lists and mappings down to what differs from it, and shares the rest (a
        schema that needs no rewriting is the case's own object): treat it as read-only."""
        if self.catalog is not None:
            from protocols.prompts import openai_tools
            out = list(openai_tools(self.catalog.tools_for_mode(mode)))
            if tools:
                fs = self.functions(mode, tools)
                extra = [t for t in fs.tool_dicts(sanitized=True)
                         if t["function"]["name"] not in {o["function"]["name"] for o in out}
                         and fs.resolve(t["function"]["name"]) not in self.catalog.tools]
                out.extend(extra)
            return out
        if not tools:
            return None
        out = []
        fs = function_set(None, mode, tools)
        for raw in tools:
            spec = spec_from_tool(raw)
            if spec is None:
                continue
            # new mappings for what changes (the tool, its function, the schema paths that
            # normalisation rewrites); the rest is shared with the case's tools, which stay unmodified
            if isinstance(raw.get("function"), Mapping):
                t = dict(raw)
                fn = dict(raw["function"])
            else:  # a bare BFCL function: wrap it
                fn = {k: v for k, v in raw.items() if k != "type"}
                t = {"type": "function"}
            fn["name"] = fs.wire.get(spec.name, spec.name)
            if isinstance(fn.get("parameters"), dict):  # BFCL type names (dict, float…) → JSON Schema
                fn["parameters"] = _normalise_schema(fn["parameters"], False)
            t["function"] = fn
            out.append(t)
        return out

    def format_call(self, calls: list[ToolCall], *, text: str = "",
                    tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        fs = function_set(self.catalog, None, tools) if tools else None
        out = []
        for i, c in enumerate(calls):
            wire = fs.wire[c.name] if fs is not None and c.name in fs.wire else sanitize_name(c.name)
            args = c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments, ensure_ascii=False)
            out.append({"id": f"call_{i}", "type": "function", "function": {"name": wire, "arguments": args}})
        msg: dict[str, Any] = {"role": "assistant", "content": text or None}
        if out:
            msg["tool_calls"] = out
        return msg

    def stop_sequences(self) -> list[str]:
        return []
