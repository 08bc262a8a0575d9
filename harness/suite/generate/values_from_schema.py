"""Argument values drawn from a JSON Schema (2020-12), seeded: what a generated case asks the model to send.

Preference, per schema: `const`; then `enum`; then, now and then, one of `examples` or the `default`;
else by type — strings from `format` (date, date-time, time, email, uri, uuid, hostname, ipv4/6),
`pattern` (harness.suite.generate.regex_sample) or words chosen by the property's name, within
min/maxLength; numbers within the (exclusive) bounds and multipleOf; arrays within min/maxItems
(unique when asked); objects with their required properties and, sometimes, optional ones.
`$ref` to the same document, `allOf` (merged), `anyOf`/`oneOf` (one branch) and type lists are
followed. Every top-level value is checked against the whole schema with jsonschema's
Draft202012Validator and its FormatChecker; a schema the drawing cannot satisfy raises `NoValue`.
"""
from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from typing import Any

from harness.suite.generate.regex_sample import Unsupported, sample

MAX_DEPTH = 8

WORDS = ("amber", "birch", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
         "kestrel", "lumen", "meadow", "nova", "orchid", "pebble", "quartz", "raven", "sierra", "tundra")
BY_NAME = {
    "city": ("Lisbon", "Osaka", "Denver", "Tartu", "Quito", "Bergen"),
    "country": ("Portugal", "Japan", "Chile", "Norway", "Kenya"),
    "name": ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson"),
    "path": ("src/app.py", "docs/guide.md", "config/settings.yaml", "data/report.csv"),
    "file": ("notes.txt", "build.log", "schema.json", "index.html"),
    "query": ("open invoices", "late shipments", "error rate", "new signups"),
    "title": ("Quarterly review", "Release notes", "Team offsite", "Budget draft"),
    "message": ("The build is green again.", "Deploy finished at noon.", "Please review the draft."),
    "language": ("python", "rust", "go", "typescript"),
    "color": ("teal", "crimson", "olive", "navy"),
}
FORMATS = ("date", "date-time", "time", "email", "uri", "url", "uri-reference", "iri", "uuid", "hostname",
           "ipv4", "ipv6")


class NoValue(ValueError):
    """The schema has no value this generator can draw (e.g. an unsupported pattern)."""


class Drawer:
    def __init__(self, root: Mapping[str, Any], rng: random.Random, optional_p: float = 0.4) -> None:
        self.root = root
        self.rng = rng
        self.optional_p = optional_p

    # -- schema plumbing ----------------------------------------------------------------------
    def resolve(self, schema: Any, depth: int) -> Mapping[str, Any]:
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if not ref.startswith("#") or depth > MAX_DEPTH:
                raise NoValue(f"$ref {ref!r} outside this schema")
            target: Any = self.root
            for part in [p for p in ref[1:].split("/") if p]:
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or part not in target:
                    raise NoValue(f"$ref {ref!r} does not resolve")
                target = target[part]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest} if rest and isinstance(target, Mapping) else target
            depth += 1
        if schema is True or schema is None:
            return {}
        if not isinstance(schema, Mapping):
            raise NoValue("a schema that accepts nothing")
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for sub in schema["allOf"]:
                sub = self.resolve(sub, depth + 1)
                for k, v in sub.items():
                    if k == "properties":
                        merged["properties"] = {**merged.get("properties", {}), **v}
                    elif k == "required":
                        merged["required"] = list(dict.fromkeys([*merged.get("required", []), *v]))
                    else:
                        merged.setdefault(k, v)
            schema = merged
        return schema

    # -- values ---------------------------------------------------------------------------------
    def value(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise NoValue("schema nested too deeply")
        s = self.resolve(schema, depth)
        rng = self.rng
        if "const" in s:
            return s["const"]
        if isinstance(s.get("enum"), list) and s["enum"]:
            return rng.choice(s["enum"])
        for key in ("anyOf", "oneOf"):
            if isinstance(s.get(key), list) and s[key]:
                branches = [b for b in s[key] if not _is_null(b)] or s[key]
                base = {k: v for k, v in s.items() if k != key}
                return self.value({**base, **self.resolve(rng.choice(branches), depth + 1)}, name, depth + 1)
        ex = s.get("examples")
        if isinstance(ex, list) and ex and rng.random() < 0.5:
            return rng.choice(ex)
        if "default" in s and rng.random() < 0.3:
            return s["default"]
        t = _pick_type(s, rng)
        if t == "null":
            return None
        if t == "boolean":
            return rng.random() < 0.5
        if t in ("integer", "number"):
            return self.number(s, t)
        if t == "string":
            return self.string(s, name)
        if t == "array":
            return self.array(s, name, depth)
        if t == "object":
            return self.object(s, depth, self.optional_p)
        raise NoValue(f"unsupported type {t!r}")

    def number(self, s: Mapping[str, Any], t: str) -> int | float:
        lo = s.get("minimum", s.get("exclusiveMinimum"))
        hi = s.get("maximum", s.get("exclusiveMaximum"))
        lo = lo if isinstance(lo, (int, float)) and not isinstance(lo, bool) else None
        hi = hi if isinstance(hi, (int, float)) and not isinstance(hi, bool) else None
        if lo is None and hi is None:
            lo, hi = 1, 100
        elif lo is None:
            lo = hi - 100
        elif hi is None:
            hi = lo + 100
        mult = s.get("multipleOf")
        if t == "integer" or isinstance(mult, int):
            step = mult if isinstance(mult, int) and mult > 0 else 1
            a, b = -(-int(_ceil(lo)) // step), int(hi // step)
            cands = [k * step for k in range(a, b + 1)
                     if not (k * step == s.get("exclusiveMinimum") or k * step == s.get("exclusiveMaximum"))]
            if not cands:
                raise NoValue("no integer in range")
            return self.rng.choice(cands[:200] + cands[-200:])
        for _ in range(20):
            v = round(self.rng.uniform(lo, hi), 1)
            if lo <= v <= hi and v != s.get("exclusiveMinimum") and v != s.get("exclusiveMaximum"):
                return v
        raise NoValue("no number in range")

    def string(self, s: Mapping[str, Any], name: str) -> str:
        rng = self.rng
        fmt = s.get("format")
        if fmt in FORMATS:
            v = _format_value(fmt, rng)
        elif isinstance(s.get("pattern"), str):
            try:
                v = sample(s["pattern"], rng)
            except Unsupported as e:
                raise NoValue(f"pattern {s['pattern']!r}: {e}") from None
            return v
        else:
            key = next((k for k in BY_NAME if k in name.lower()), "")
            v = rng.choice(BY_NAME[key]) if key else f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{rng.randint(2, 99)}"
        lo = s.get("minLength", 0) if isinstance(s.get("minLength"), int) else 0
        hi = s.get("maxLength") if isinstance(s.get("maxLength"), int) else None
        if len(v) < lo:
            if fmt in FORMATS:
                raise NoValue(f"format {fmt} shorter than minLength {lo}")
            while len(v) < lo:
                v += "-" + rng.choice(WORDS)
        if hi is not None and len(v) > hi:
            if fmt in FORMATS:
                raise NoValue(f"format {fmt} longer than maxLength {hi}")
            v = v[:hi]
        return v

    def array(self, s: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        prefix = s.get("prefixItems") if isinstance(s.get("prefixItems"), list) else []
        lo = max(s.get("minItems", 1) if isinstance(s.get("minItems"), int) else 1, len(prefix))
        hi = s.get("maxItems") if isinstance(s.get("maxItems"), int) else lo + 2
        hi = max(lo, min(hi, lo + 2))
        n = self.rng.randint(lo, hi)
        items = s.get("items", {})
        out: list[Any] = []
        tries = 0
        while len(out) < n:
            tries += 1
            if tries > 50:
                raise NoValue("cannot draw enough distinct items")
            sub = prefix[len(out)] if len(out) < len(prefix) else items
            if sub is False:
                break
            v = self.value(sub, name, depth + 1)
            if s.get("uniqueItems") and v in out:
                continue
            out.append(v)
        return out

    def object(self, s: Mapping[str, Any], depth: int, optional_p: float,
               include: set[str] | None = None) -> dict[str, Any]:
        props = s.get("properties") if isinstance(s.get("properties"), Mapping) else {}
        required = [r for r in s.get("required", []) if isinstance(r, str)]
        out: dict[str, Any] = {}
        for p, sub in props.items():
            if p in required or (include is not None and p in include) or (
                    include is None and self.rng.random() < optional_p):
                out[p] = self.value(sub, p, depth + 1)
        for r in required:
            if r not in out:   # required but not described: any string
                out[r] = self.value({"type": "string"}, r, depth + 1)
        return out


def _ceil(x: float) -> int:
    i = int(x)
    return i if i >= x else i + 1


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "null"


def _pick_type(s: Mapping[str, Any], rng: random.Random) -> str:
    t = s.get("type")
    if isinstance(t, list):
        real = [x for x in t if x != "null"]
        return rng.choice(real) if real else "null"
    if isinstance(t, str):
        return t
    if "properties" in s or "required" in s:
        return "object"
    if "items" in s or "prefixItems" in s:
        return "array"
    if any(k in s for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "string"


def _format_value(fmt: str, rng: random.Random) -> str:
    y, mo, d = rng.randint(2024, 2027), rng.randint(1, 12), rng.randint(1, 28)
    h, mi = rng.randint(0, 23), rng.choice((0, 15, 30, 45))
    if fmt == "date":
        return f"{y:04d}-{mo:02d}-{d:02d}"
    if fmt == "date-time":
        return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:00Z"
    if fmt == "time":
        return f"{h:02d}:{mi:02d}:00Z"
    if fmt == "email":
        return f"{rng.choice(WORDS)}.{rng.choice(WORDS)}@example.com"
    if fmt in ("uri", "url", "iri"):
        return f"https://example.com/{rng.choice(WORDS)}/{rng.randint(1, 999)}"
    if fmt == "uri-reference":
        return f"/{rng.choice(WORDS)}/{rng.randint(1, 999)}"
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if fmt == "hostname":
        return f"{rng.choice(WORDS)}.example.org"
    if fmt == "ipv4":
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"fd00::{rng.randint(1, 0xffff):x}"   # ipv6


def validator_for(schema: Mapping[str, Any]) -> Any:
    from jsonschema import Draft202012Validator
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def draw_value(schema: Mapping[str, Any], rng: random.Random, name: str = "", tries: int = 12) -> Any:
    """A value that validates against `schema` (formats included), or NoValue."""
    v = validator_for(schema)
    why = "no value drawn"
    for _ in range(tries):
        try:
            x = Drawer(schema, rng).value(schema, name)
        except NoValue as e:
            why = str(e)
            continue
        err = next(iter(v.iter_errors(x)), None)
        if err is None:
            return x
        why = err.message
    raise NoValue(why)


def draw_arguments(schema: Mapping[str, Any], rng: random.Random, optional_p: float = 0.4,
                   tries: int = 12) -> dict[str, Any]:
    """Arguments for a tool's parameters schema: every required property, optional ones with
    probability `optional_p` (an optional one the drawing cannot satisfy is left out), checked
    against the whole schema."""
    v = validator_for(schema)
    why = "no arguments drawn"
    for _ in range(tries):
        d = Drawer(schema, rng, optional_p)
        try:
            s = d.resolve(schema, 0)
            props = s.get("properties") if isinstance(s.get("properties"), Mapping) else {}
            required = [r for r in s.get("required", []) if isinstance(r, str)]
            out: dict[str, Any] = {}
            for p, sub in props.items():
                if p in required:
                    out[p] = d.value(sub, p, 1)
                elif rng.random() < optional_p:
                    try:
                        out[p] = d.value(sub, p, 1)
                    except NoValue:
                        pass
            for r in required:
                if r not in out:
                    out[r] = d.value({"type": "string"}, r, 1)
        except NoValue as e:
            why = str(e)
            continue
        err = next(iter(v.iter_errors(out)), None)
        if err is None:
            return out
        why = f"{'/'.join(map(str, err.absolute_path)) or '(arguments)'}: {err.message}"
    raise NoValue(why)


__all__ = ["Drawer", "NoValue", "draw_arguments", "draw_value", "validator_for"]
