"""The seeded suite generator: a spec -> cases with train/test splits, and the suite file they make.

    cases = generate("roo-core", seed=7)          # a shipped spec by name, or a path, or a mapping

Per task, values are dealt from the spec's pools (shuffled decks, so every value is used before any
repeats), a template is filled in, the reference call rendered in the protocol's wire, the user turn
(and for recovery tasks the failed turn and Roo's feedback) built around it, and every reference
checked to be a correct answer; then the near-duplicate groups are split into train and test.
Deterministic for a seed: the shipped suites are this output byte for byte.
"""
from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.suite.generate.calls import render_call
from harness.suite.generate.env import env_state, environment, user_turn
from harness.suite.generate.recovery import FAILURES, failure_turns
from harness.suite.generate.spec import SpecError, load_spec
from harness.suite.generate.splits import ENV_RE, assign_splits, call_key, digest, value_key
from harness.suite.generate.values import build_value, fill
from harness.suite.model import Case, Expect, ExpectedCall
from harness.suite.write import dump_suite

GENERATOR_VERSION = 1


class _Pools:
    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.where = where
        self.raw = raw
        self._cache: dict[str, list[Any]] = {}

    def get(self, ref: Any, where: str) -> list[Any]:
        if isinstance(ref, list):
            if not ref:
                raise SpecError(f"{where}: an inline pool is empty")
            return ref
        if not isinstance(ref, str):
            raise SpecError(f"{where}: a slot names a pool or gives an inline list")
        if ref in self._cache:
            return self._cache[ref]
        if ref not in self.raw:
            raise SpecError(f"{where}: unknown pool '{ref}' (pools: {', '.join(sorted(self.raw))})")
        p = self.raw[ref]
        if isinstance(p, list):
            vals = p
        elif isinstance(p, Mapping) and "product" in p:
            vals = [""]
            for part in p["product"]:
                vals = [a + str(b) for a in vals for b in part]
        elif isinstance(p, Mapping) and "range" in p:
            lo, hi = p["range"]
            vals = list(range(int(lo), int(hi) + 1))
        else:
            raise SpecError(f"{self.where}: pool '{ref}' must be a list, {{product: [...]}} or {{range: [lo, hi]}}")
        if not vals:
            raise SpecError(f"{self.where}: pool '{ref}' is empty")
        self._cache[ref] = vals
        return vals


class _Decks:
    """Per-task value decks: each pool is dealt in a shuffled order and reshuffled when it runs out,
    so a task with at least as many cases as a pool has values uses every value once before any
    value repeats (coverage without bias), and slots sharing a pool get distinct values."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.decks: dict[str, list[int]] = {}

    def take(self, key: str, n: int, k: int) -> list[int]:
        deck = self.decks.setdefault(key, [])
        out: list[int] = []
        deferred: list[int] = []
        while len(out) < k:
            if not deck:
                fresh = list(range(n))
                self.rng.shuffle(fresh)
                deck.extend(fresh)
            i = deck.pop()
            (deferred if i in out else out).append(i)
        deck.extend(reversed(deferred))   # dealt next
        return out


def _draw(rng: random.Random, pools: _Pools, slots: Mapping[str, Any], where: str,
          decks: _Decks | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    by_pool: dict[str, list[str]] = {}
    for slot, ref in slots.items():
        by_pool.setdefault(json.dumps(ref, sort_keys=True, default=str), []).append(slot)
    decks = decks or _Decks(rng)
    for key, names in by_pool.items():
        vals = pools.get(slots[names[0]], f"{where}: slot '{names[0]}'")
        if len(names) > len(vals):
            raise SpecError(f"{where}: {len(names)} slots share a pool with only {len(vals)} values")
        picks = decks.take(key, len(vals), len(names))
        for n, i in zip(names, picks):
            values[n] = vals[i]
    return {n: values[n] for n in slots}


def _protocol(spec: Mapping[str, Any]) -> Any:
    import protocols
    try:
        return protocols.from_spec(spec.get("protocol", "roo-xml"), source=str(spec.get("_path")))
    except UserError as e:
        raise SpecError(f"{spec.get('_path')}: protocol: {e}") from None


def _available(protocol: Any, tool: str, mode: str | None) -> bool:
    cat = getattr(protocol, "catalog", None)
    if cat is None:
        return True
    return tool in cat.tool_names_for_mode(mode)


def _task_cases(spec: Mapping[str, Any], task: Mapping[str, Any], seed: int, protocol: Any, pools: _Pools,
                env_files: list[str]) -> list[Case]:
    name = task["name"]
    where = f"{spec['_path']}: task '{name}'"
    tool = task.get("tool")
    if not isinstance(tool, str):
        raise SpecError(f"{where}: needs 'tool'")
    catalog = getattr(protocol, "catalog", None)
    mode = task.get("mode", spec.get("mode"))
    count = int(task.get("count", 0))
    templates = task.get("templates")
    if not isinstance(templates, list) or not templates:
        raise SpecError(f"{where}: needs 'templates', a non-empty list of request texts")
    slots = task.get("slots") or {}
    call = task.get("call") or {}
    if not isinstance(call, Mapping):
        raise SpecError(f"{where}: 'call' must map parameters to values")
    kind = task.get("kind", "call")
    rec = task.get("recovery") or {}
    failure = rec.get("failure") if kind == "recovery" else None
    if kind == "recovery" and failure not in FAILURES:
        raise SpecError(f"{where}: recovery.failure must be one of {', '.join(FAILURES)}")
    family = "|".join(str(x) for x in (tool, mode, failure or ""))
    style = str(spec.get("environment", "full"))
    tags = [tool] + [t for t in (task.get("tags") or []) if t != tool] + ([f"mode:{mode}"] if mode else [])
    if failure:
        tags += ["recovery", f"failure:{failure}"]
    rng = random.Random(f"{seed}:{name}")
    decks = _Decks(rng)
    out: list[Case] = []
    seen_text: set[str] = set()
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > count * 60 + 200:
            raise SpecError(f"{where}: could only make {len(out)} distinct cases of {count}; add pool values "
                            f"or templates, or lower the count")
        values = _draw(rng, pools, slots, where, decks)
        ti = rng.randrange(len(templates))
        request = fill(templates[ti], values, f"{where}: templates[{ti}]", catalog)
        params = {p: build_value(v, values, f"{where}: call.{p}", catalog) for p, v in call.items()}
        reference, arguments = render_call(protocol, tool, params, where)
        state = env_state(rng, env_files)
        messages = [user_turn(request, environment(style, mode, catalog, state))]
        if task.get("history"):
            messages += history_turns(task["history"], values, protocol, catalog, where)
        if failure:
            later = environment(style, mode, catalog, state, later_s=rng.randint(4, 90))
            messages += failure_turns(spec, task, failure, rec, values, params, protocol, mode, later, rng, where)
        tkey = "\n".join(ENV_RE.sub("", m.get("content") or "") for m in messages)   # exact repeats only
        if tkey in seen_text:
            continue
        seen_text.add(tkey)
        cid = f"{name}-{len(out) + 1:03d}"
        case = Case(id=cid, protocol=spec.get("protocol", "roo-xml"), messages=messages,
                    expect=Expect(calls=(ExpectedCall(tool, arguments),)), mode=mode, split="train",
                    tags=list(tags), reference=reference,
                    meta={"task": name, "template": ti,
                          "groups": [digest(value_key(family, values)),
                                     digest(call_key(family, ti, params))]})
        _check_reference(case, protocol, where)
        out.append(case)
    return out


def history_turns(history: Any, values: Mapping[str, Any], protocol: Any, catalog: Any,
                  where: str) -> list[dict[str, Any]]:
    """The turns before the expected call (native protocols): each `{tool, call, result}` of a task's
    `history` is an assistant message with that call and the `tool` message answering it (the result
    text is a template over the task's slots), so a case asks for the next call after a tool result."""
    if protocol.wire != "native":
        raise SpecError(f"{where}: 'history' needs a native protocol (tool results travel as tool messages)")
    if not isinstance(history, list):
        raise SpecError(f"{where}: 'history' must be a list of {{tool, call, result}}")
    out: list[dict[str, Any]] = []
    for j, h in enumerate(history):
        hw = f"{where}: history[{j}]"
        if not isinstance(h, Mapping) or not isinstance(h.get("tool"), str) or not isinstance(h.get("result"), str):
            raise SpecError(f"{hw}: needs 'tool', 'call' and 'result'")
        params = {p: build_value(v, values, f"{hw}.call.{p}", catalog) for p, v in (h.get("call") or {}).items()}
        msg, _ = render_call(protocol, h["tool"], params, hw)
        call_id = f"call_h{j}"
        for c in msg.get("tool_calls") or []:
            c["id"] = call_id
        out.append(msg)
        out.append({"role": "tool", "tool_call_id": call_id, "content": fill(h["result"], values, f"{hw}.result",
                                                                              catalog)})
    return out


def _check_reference(case: Case, protocol: Any, where: str) -> None:
    from harness.score.verdicts import score
    turn = protocol.parse(case.reference, mode=case.mode, tools=case.tools)
    verdict = score(case, turn, protocol)
    if turn.violations or not verdict.passed:
        why = "; ".join(f"{v.code}: {v.detail}" for v in (turn.violations or verdict.violations))
        raise SpecError(f"{where}: case {case.id}: the reference is not a correct answer: {why}\n"
                        f"{case.reference}")


def generate(spec: str | os.PathLike[str] | Mapping[str, Any], seed: int | None = None) -> list[Case]:
    """The cases of a spec for `seed` (default: the spec's own), deterministic for a seed."""
    return generate_suite(spec, seed)[1]


def generate_suite(spec: str | os.PathLike[str] | Mapping[str, Any],
                   seed: int | None = None) -> tuple[dict[str, Any], list[Case]]:
    """(the suite's top-level keys, the cases)."""
    sp = load_spec(spec)
    where = str(sp.get("_path"))
    if seed is None:
        seed = int(sp.get("seed", 0))
    protocol = _protocol(sp)
    tasks = sp.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise SpecError(f"{where}: needs 'tasks', a non-empty list")
    pools = _Pools(sp.get("pools") or {}, where)
    env_ref = sp.get("environment_files")
    env_files = [str(x) for x in pools.get(env_ref, f"{where}: environment_files")] if env_ref else []
    frac = float(sp.get("test_fraction", 0.2))
    if not 0 < frac < 1:
        raise SpecError(f"{where}: test_fraction must be between 0 and 1")
    names: list[str] = []
    cases: list[Case] = []
    skipped: list[str] = []
    for t in tasks:
        if not isinstance(t, Mapping) or not isinstance(t.get("name"), str):
            raise SpecError(f"{where}: every task needs a 'name'")
        if t["name"] in names:
            raise SpecError(f"{where}: duplicate task name '{t['name']}'")
        mode = t.get("mode", sp.get("mode"))
        tool = t.get("tool", "")
        if sp.get("skip_unavailable") and (
                not _available(protocol, tool, mode)
                or any(_kind_unsupported(protocol, v) for v in (t.get("call") or {}).values())):
            skipped.append(t["name"])
            continue
        if tool and protocol.catalog is not None and tool not in protocol.catalog.tools:
            raise SpecError(f"{where}: task '{t['name']}': tool '{tool}' is not in {protocol.name}'s catalog")
        names.append(t["name"])
        cases.extend(_task_cases(sp, t, seed, protocol, pools, env_files))
    assign_splits(cases, names, seed, frac)
    top: dict[str, Any] = {"name": sp.get("name", Path(where).stem),
                           "description": str(sp.get("description", "")).strip(),
                           "protocol": sp.get("protocol", "roo-xml")}
    if sp.get("mode"):
        top["mode"] = sp["mode"]
    top["generator"] = {"spec": sp.get("_ref", where), "seed": seed, "version": GENERATOR_VERSION,
                        "near_duplicates": "same task family and normalised slot values, or same "
                                           "template and normalised expected arguments, or same "
                                           "digit-masked conversation text; never split across train/test"}
    if skipped:
        top["generator"]["skipped_tasks"] = skipped
    return top, cases


def _kind_unsupported(protocol: Any, v: Any) -> bool:
    return protocol.wire != "xml" and isinstance(v, Mapping) and "json" in v


def write_suite(spec: str | os.PathLike[str] | Mapping[str, Any], out: str | os.PathLike[str],
                seed: int | None = None) -> tuple[int, int]:
    """Generate and write a suite file (.jsonl or .yaml); returns (train, test) counts."""
    top, cases = generate_suite(spec, seed)
    dump_suite(cases, out, top=top)
    return sum(c.split == "train" for c in cases), sum(c.split == "test" for c in cases)


__all__ = ["GENERATOR_VERSION", "generate", "generate_suite", "write_suite"]
