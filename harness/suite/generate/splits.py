"""Near-duplicates and the train/test split, so that no test case has a near-duplicate in train.

Two cases are near-duplicates when any of these holds:
  (a) they come from the same task family (tool, mode, recovery failure) and were built from the
      same normalised slot values (case-folded, whitespace collapsed; the template is ignored),
      i.e. the same request content in other words;
  (b) their conversation text is the same after removing <environment_details>, case-folding,
      masking every digit and collapsing whitespace (the same request with other numbers);
  (c) they come from the same task family and template and expect the same normalised
      arguments (so a test case's (template, argument values) never occurs in train).
Near-duplicate relations are closed transitively (union-find) and each group goes whole to one
split, chosen per task with a seeded shuffle so that about `test_fraction` of each task is test.
`leakage(cases)` recomputes the keys and lists any test case that shares one with a train case;
tests/harness/test_generator.py asserts it is empty.
"""
from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from typing import Any

from harness.suite.generate.values import Value
from harness.suite.model import Case


ENV_RE = re.compile(r"<environment_details>[\s\S]*?</environment_details>")


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        return " ".join(v.casefold().split())
    if isinstance(v, Mapping):
        return {str(k): _norm(w) for k, w in v.items()}
    if isinstance(v, (list, tuple)):
        return [_norm(w) for w in v]
    return v


def value_key(family: str, values: Mapping[str, Any]) -> str:
    """Near-duplicate key (a): the task family and the normalised slot values (names and order ignored)."""
    vals = sorted(json.dumps(_norm(v), sort_keys=True, ensure_ascii=False) for v in values.values())
    return family + "\x1f" + "\x1e".join(vals)


def call_key(family: str, template: int, params: Mapping[str, Value]) -> str:
    """Near-duplicate key (c): the same template and the same normalised expected arguments."""
    args = {p: [v.kind, _norm(v.data)] for p, v in params.items()}
    return f"{family}\x1f{template}\x1f" + json.dumps(args, sort_keys=True, ensure_ascii=False)


def text_key(messages: list[dict[str, Any]]) -> str:
    """Near-duplicate key (b): the conversation text without environment details, case-folded, every
    digit masked, whitespace collapsed."""
    parts = []
    for m in messages:
        c = m.get("content")
        if isinstance(c, list):
            c = "".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in c)
        if not isinstance(c, str):
            c = json.dumps(m.get("tool_calls"), sort_keys=True) if m.get("tool_calls") else ""
        c = ENV_RE.sub(" ", c)
        c = re.sub(r"\d", "#", c.casefold())
        parts.append(f"{m.get('role')}: {' '.join(c.split())}")
    return "\n".join(parts)


def digest(s: str) -> str:
    import hashlib
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:16]


def case_keys(case: Case) -> list[str]:
    """The near-duplicate keys of a generated case: digests of keys (a) and (c), kept in
    `meta.groups`, and key (b), recomputed from the messages."""
    groups = case.meta.get("groups") or []
    return [f"g:{g}" for g in groups if isinstance(g, str)] + ["t:" + text_key(case.messages)]


def leakage(cases: list[Case]) -> list[str]:
    """Ids of test cases that have a near-duplicate in train (see the module doc); [] when clean."""
    train: set[str] = set()
    for c in cases:
        if c.split == "train":
            train.update(case_keys(c))
    return [c.id for c in cases if c.split == "test" and any(k in train for k in case_keys(c))]


def assign_splits(cases: list[Case], tasks: list[str], seed: int, test_fraction: float) -> None:
    """Union-find over both near-duplicate keys; whole groups go to one split, per task."""
    parent = list(range(len(cases)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, c in enumerate(cases):
        for k in case_keys(c):
            if k in first:
                a, b = find(i), find(first[k])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[k] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(cases)):
        groups.setdefault(find(i), []).append(i)
    by_task: dict[str, list[list[int]]] = {}
    for root, members in sorted(groups.items()):
        by_task.setdefault(cases[root].meta["task"], []).append(members)
    for task in tasks:
        comps = by_task.get(task, [])
        if not comps:
            continue
        rng = random.Random(f"{seed}:split:{task}")
        order = sorted(comps, key=lambda m: cases[m[0]].id)
        rng.shuffle(order)
        n = sum(len(m) for m in order)
        target = max(1, round(n * test_fraction)) if len(order) > 1 else 0
        chosen: list[list[int]] = []
        test = 0
        for m in order:
            if test + len(m) <= target:
                chosen.append(m)
                test += len(m)
        if not chosen and target:          # every group is larger than the target: take the smallest
            chosen = [min(order, key=len)]
        if len(chosen) == len(order):      # never all test
            chosen = chosen[:-1]
        ids = {id(m) for m in chosen}
        for m in order:
            for i in m:
                cases[i].split = "test" if id(m) in ids else "train"


__all__ = ["assign_splits", "call_key", "case_keys", "digest", "leakage", "text_key", "value_key"]
