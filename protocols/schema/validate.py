"""Checking decoded arguments against a tool's JSON Schema: compiled validators cached per schema,
a meta-check run once per distinct schema, and one violation per distinct problem."""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from protocols import violations as V
from protocols.catalog import ToolSpec
from protocols.schema.normalise import normalise_schema
from protocols.text import shorten
from protocols.types import Violation


@dataclass
class Compiled:
    validator: Any = None       # a jsonschema validator instance, or None when the schema is broken
    error: str = ""             # why the schema could not be used
    schema: Any = None          # the normalised schema
    fast: Any = None            # protocols.schema.fast's "certainly valid" test, or None (then jsonschema decides)


_BY_ID: dict[int, tuple[Any, bool, Compiled]] = {}
_BY_TEXT: dict[str, Compiled] = {}
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


def compiled_validator(schema: Any, strict: bool = False) -> Compiled:
    """The jsonschema validator for a tool's parameter schema, cached per schema (by identity, then
    by content). A schema jsonschema rejects gives a `Compiled` with `error` set instead of raising."""
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


def _compile(schema: Any, strict: bool, plain_text: str | None = None) -> Compiled:
    """Compile a validator. `plain_text`: the schema's canonical JSON when it serialises as plain JSON.

    The meta-check (`check_schema`, the costly part) runs once per distinct normalised schema in the
    process, and not at all for a schema that normalisation leaves unchanged and that is already
    known to pass it (`note_valid_schema`): the verdict is the same either way."""
    import jsonschema
    from jsonschema import validators

    from protocols.schema.meta import surely_valid
    if not isinstance(schema, dict):
        return Compiled(error=f"parameters must be a JSON Schema object, got {type(schema).__name__}")
    try:
        norm0 = normalise_schema(schema, strict)
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
            if verdict is None and cls is jsonschema.Draft202012Validator and surely_valid(norm):
                verdict = ""        # protocols.schema.meta: what it accepts, check_schema accepts
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
                return Compiled(error=verdict)
        validator = cls(norm)
        fast = None
        if cls is jsonschema.Draft202012Validator and validator.format_checker is None:
            from protocols.schema.fast import compile_fast
            fast = compile_fast(norm)
        return Compiled(validator=validator, schema=norm, fast=fast)
    except Exception as e:  # noqa: BLE001 - a user schema must never crash parsing
        return Compiled(error=f"unusable JSON Schema: {type(e).__name__}: {shorten(str(e), 160)}")


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


def schema_violations(tool: str, spec: ToolSpec, arguments: Mapping[str, Any], *,
                      exact: bool = False) -> list[Violation]:
    """Check decoded arguments against the tool's parameter schema: one violation per distinct problem,
    each naming the tool and the parameter. `exact`: the schema's own `required` list, even for a strict
    tool (Zoo's read_file is strict yet requires only `path`); otherwise strict makes every key required."""
    comp = compiled_validator(spec.parameters, spec.strict and not exact)
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
