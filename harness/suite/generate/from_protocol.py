"""A seeded suite from any catalog's schemas: `harness suites generate --from-protocol P`.

For each tool the protocol offers, `per_tool` single-turn cases: arguments drawn from the tool's
parameter schema (values_from_schema: every required one, optional ones sometimes), a user request
phrased from the tool's description and those values with our templates, the expectation a JSON
Schema per stated argument (`const`), and the reference call in the protocol's wire. Plus
irrelevance cases — requests that no tool of the catalog fits (no word shared with any tool's name,
description or parameters) — that expect no call. Every reference is checked to pass its own case
while generating; a tool none of whose draws passes is skipped and named (`generator.skipped_tools`).
Cases are split into train and test per tool with splits.assign_splits, near-duplicates (the same
tool and argument values, or the same digit-masked request) kept on one side.
Deterministic for (protocol, seed, per_tool, irrelevance).
"""
from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.suite.generate.splits import assign_splits, digest, value_key
from harness.suite.generate.values_from_schema import NoValue, draw_arguments, draw_value
from harness.suite.model import Case, Expect, ExpectedCall
from harness.suite.write import dump_suite

FROM_PROTOCOL_VERSION = 1

TEMPLATES = (
    "{Desc}. Use {args_with}.",
    "Please call {tool} with {args_eq}.",
    "I need this done: {desc}. Set {args_set}.",
    "{Desc}.\nValues to use:\n{args_lines}",
    "Can you {desc_verb} for me? Go with {args_with}.",
)
NO_ARG_TEMPLATES = ("{Desc}.", "Please call {tool}.", "I need this done: {desc}.")
IRRELEVANT = (
    "Write a four-line poem about autumn leaves.",
    "What is the capital of Australia?",
    "Explain in two sentences why the sky looks blue.",
    "Suggest a name for a grey kitten.",
    "How many minutes are there in a week? Just tell me.",
    "Give me a synonym for 'happy'.",
    "Tell me a short joke about penguins.",
    "Summarise the plot of Romeo and Juliet in one sentence.",
    "Which is heavier, a kilogram of feathers or a kilogram of iron?",
    "Recommend a board game for four players.",
    "What does the idiom 'break the ice' mean?",
    "Spell the word 'necessary' backwards.",
)
IRRELEVANT_REPLY = "None of the tools I have fits this, so I will answer it directly without calling one."


class GenerateError(UserError):
    """A catalog gives no case to generate, or generation was asked for with bad options."""


# -- phrasing ----------------------------------------------------------------------------------

def _say(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _sentence(spec: Any) -> str:
    text = " ".join((spec.description or "").split())
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".!? ") if text else ""
    if not first or len(first) > 160:
        first = f"run the {spec.name} tool" if not first else first[:157].rsplit(" ", 1)[0] + "…"
    return first


def _lower_first(s: str) -> str:
    return s[0].lower() + s[1:] if len(s) > 1 and s[0].isupper() and not s[1].isupper() else s


def phrase(template: str, tool: str, desc: str, stated: Mapping[str, Any]) -> str:
    items = list(stated.items())
    return template.format(
        tool=tool, Desc=desc[0].upper() + desc[1:], desc=_lower_first(desc), desc_verb=_lower_first(desc),
        args_with=_join([f"{k} {_say(v)}" for k, v in items]) if items else "",
        args_eq=", ".join(f"{k}={_say(v)}" for k, v in items),
        args_set=_join([f"{k} to {_say(v)}" for k, v in items]) if items else "",
        args_lines="\n".join(f"- {k}: {_say(v)}" for k, v in items))


# -- one case ----------------------------------------------------------------------------------

def _nullable(schema: Any) -> bool:
    if not isinstance(schema, Mapping):
        return False
    t = schema.get("type")
    return t == "null" or (isinstance(t, list) and "null" in t) or any(
        _nullable(b) for b in schema.get("anyOf", []) or [])


def _xml_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _wire_args(protocol: Any, spec: Any, args: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the reference sends, what the request states): strict tools send every key, an unstated
    nullable one as null; XML sends every value as text."""
    stated = dict(args)
    props = spec.parameters.get("properties", {}) if isinstance(spec.parameters, Mapping) else {}
    wire = dict(args)
    if spec.strict:
        for p, sub in props.items():
            if p in wire:
                continue
            if _nullable(sub):
                wire[p] = None
            else:
                stated[p] = wire[p] = draw_value(sub, rng, p)
        wire = {p: wire[p] for p in props if p in wire} | {p: v for p, v in wire.items() if p not in props}
    if protocol.wire == "xml":
        wire = {p: _xml_text(v) for p, v in wire.items() if v is not None}
        stated = {p: _xml_text(v) for p, v in stated.items()}
    return wire, stated


def check_reference(case: Case, protocol: Any) -> str | None:
    """Why the reference fails its own case, or None when it passes (irrelevance: no call made)."""
    from harness.score.verdicts import score
    turn = protocol.parse(case.reference, mode=case.mode, tools=case.tools)
    verdict = score(case, turn, protocol)
    if verdict.passed and (not case.expect.calls or not turn.violations):
        return None
    return "; ".join(f"{v.code}: {v.detail}" for v in (turn.violations or verdict.violations))[:300]


def _mode_for(catalog: Any, tool: str) -> tuple[bool, str | None]:
    """(is the tool offered at all, the mode to ask in): the default mode when it offers the tool."""
    if catalog is None or not catalog.modes:
        return True, None
    order = ([catalog.default_mode] if catalog.default_mode else []) + list(catalog.modes)
    for slug in order:
        if tool in catalog.tool_names_for_mode(slug):
            return True, slug
    return False, None


def _tool_cases(protocol: Any, spec: Any, ref: str, seed: int, per_tool: int,
                optional_p: float) -> tuple[list[Case], str | None]:
    from protocols.types import ToolCall
    offered, mode = _mode_for(protocol.catalog, spec.name)
    if not offered:
        return [], "no mode offers it"
    rng = random.Random(f"{seed}:{spec.name}")
    has_params = bool(spec.parameters.get("properties")) if isinstance(spec.parameters, Mapping) else False
    templates = TEMPLATES if has_params else NO_ARG_TEMPLATES
    target = per_tool if has_params else min(per_tool, len(templates))
    desc = _sentence(spec)
    out: list[Case] = []
    seen: set[str] = set()
    why: str | None = None
    attempts = 0
    while len(out) < target and attempts < per_tool * 20 + 20:
        attempts += 1
        try:
            args = draw_arguments(spec.parameters, rng, optional_p) if has_params else {}
            wire, stated = _wire_args(protocol, spec, args, rng)
        except NoValue as e:
            why = f"no valid arguments: {e}"
            continue
        ti = rng.randrange(len(templates)) if has_params else len(out)
        key = json.dumps([stated, ti if not has_params else None], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        msg = protocol.format_call([ToolCall(spec.name, wire)])
        reference = {"role": "assistant", **{k: v for k, v in msg.items() if k != "role"}}
        expect = {p: {"const": v} for p, v in stated.items()}
        case = Case(id=f"{_slug(spec.name)}-{len(out) + 1:03d}", protocol=ref,
                    messages=[{"role": "user", "content": phrase(templates[ti], spec.name, desc, stated)}],
                    expect=Expect(calls=(ExpectedCall(spec.name, expect),)), mode=mode, split="train",
                    tags=[spec.name, *spec.tags], reference=reference,
                    meta={"task": spec.name, "template": ti, "groups": [digest(value_key(spec.name, stated))]})
        problem = check_reference(case, protocol)
        if problem is not None:
            why = f"its reference does not pass: {problem}"
            continue
        out.append(case)
    return out, (why if not out else None)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "tool"


def _irrelevant(protocol: Any, ref: str, seed: int, n: int) -> list[Case]:
    cat = protocol.catalog
    vocab: set[str] = set()
    for spec in cat.tools.values():
        text = " ".join([spec.name, spec.description, *spec.param_names])
        vocab.update(w for w in re.findall(r"[a-z]{4,}", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower()))
    pool = [r for r in IRRELEVANT if not (set(re.findall(r"[a-z]{4,}", r.lower())) & vocab)]
    rng = random.Random(f"{seed}:irrelevance")
    rng.shuffle(pool)
    mode = cat.default_mode if cat.modes else None
    out = []
    for i, request in enumerate(pool[:n]):
        case = Case(id=f"irrelevance-{i + 1:03d}", protocol=ref, messages=[{"role": "user", "content": request}],
                    expect=Expect(calls=()), mode=mode, split="train", tags=["irrelevance"],
                    reference={"role": "assistant", "content": IRRELEVANT_REPLY},
                    meta={"task": "irrelevance", "template": 0, "groups": [digest(value_key("irrelevance", {"r": request}))]})
        problem = check_reference(case, protocol)
        if problem is not None:
            raise GenerateError(f"irrelevance case {case.id}: the reference does not pass: {problem}")
        out.append(case)
    return out


# -- the suite ---------------------------------------------------------------------------------

def suite_protocol_ref(name: str, out: str | os.PathLike[str]) -> str:
    """`name` as the generated suite names it: a catalog path relative to the suite's folder (so the
    suite travels with its catalog), a built-in name as it is."""
    wire, sep, rest = name.partition(":")
    if not sep or wire not in ("xml", "native", "hermes", "mcp"):
        return name
    path, q, query = rest.partition("?")
    if not Path(path).is_file():
        return name
    rel = os.path.relpath(Path(path).resolve(), Path(out).resolve().parent)
    return f"{wire}:{Path(rel).as_posix()}{q}{query}"


def generate_from_protocol(name: str, out: str | os.PathLike[str], *, seed: int = 0, per_tool: int = 5,
                           irrelevance: int | None = None, test_fraction: float = 0.2,
                           optional_p: float = 0.4) -> tuple[dict[str, Any], list[Case]]:
    """(the suite's top-level keys, the cases) for the protocol called `name` (see the module doc)."""
    import protocols
    if per_tool < 1:
        raise GenerateError(f"--per-tool must be at least 1, not {per_tool}")
    protocol = protocols.get(name)
    if protocol.catalog is None:
        raise GenerateError(f"protocol {name!r} has no catalog of its own (its tools come from each case); "
                            f"use a catalog protocol: mcp:PATH, native:PATH, xml:PATH or a shipped one")
    ref = suite_protocol_ref(name, out)
    cases: list[Case] = []
    tasks: list[str] = []
    skipped: dict[str, str] = {}
    for spec in protocol.catalog.tools.values():
        got, why = _tool_cases(protocol, spec, ref, seed, per_tool, optional_p)
        if why:
            skipped[spec.name] = why
            continue
        tasks.append(spec.name)
        cases.extend(got)
    if not cases:
        raise GenerateError(f"{name}: no tool gave a case: " + "; ".join(f"{t}: {w}" for t, w in skipped.items())[:600])
    n_irr = max(2, round(len(cases) / 10)) if irrelevance is None else irrelevance
    irr = _irrelevant(protocol, ref, seed, n_irr)
    if irr:
        tasks.append("irrelevance")
        cases.extend(irr)
    assign_splits(cases, tasks, seed, test_fraction)
    cat = protocol.catalog
    top: dict[str, Any] = {
        "name": f"{cat.name}-generated",
        "description": f"Single-turn expected-call cases generated from {name} ({cat.description or cat.name}): "
                       f"{len(tasks) - bool(irr)} tools, {per_tool} cases per tool, {len(irr)} irrelevance cases.",
        "protocol": ref,
        "generator": {"from_protocol": name, "seed": seed, "per_tool": per_tool, "version": FROM_PROTOCOL_VERSION,
                      "near_duplicates": "same tool and argument values, or same digit-masked request; "
                                         "never split across train/test"},
    }
    if skipped:
        top["generator"]["skipped_tools"] = skipped
    return top, cases


def write_from_protocol(name: str, out: str | os.PathLike[str], **kw: Any) -> tuple[dict[str, Any], list[Case]]:
    top, cases = generate_from_protocol(name, out, **kw)
    dump_suite(cases, out, top=top)
    return top, cases


__all__ = ["FROM_PROTOCOL_VERSION", "GenerateError", "check_reference", "generate_from_protocol", "phrase",
           "suite_protocol_ref", "write_from_protocol"]
