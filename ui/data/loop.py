"""loop.json as the jobs tab plots it: the held-out pass rate of the baseline and of each round.

`harness loop` writes loop.json; this reads it tolerantly (field names have varied between versions, and
the file may be mid-rewrite), so an unexpected shape shows as "no rounds yet" rather than an error.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ui.data.text import is_num


def _find_rate(obj: Any, depth: int = 0) -> float | None:
    """A pass rate inside `obj`: a number in 0..1, or obj['pass_rate'] / obj['rate'] a level or two down."""
    if is_num(obj):
        return float(obj) if 0.0 <= obj <= 1.0 else None
    if isinstance(obj, Mapping) and depth < 3:
        for k in ("pass_rate", "rate", "value"):
            if is_num(obj.get(k)) and 0.0 <= obj[k] <= 1.0:
                return float(obj[k])
        for k in ("summary", "metrics"):
            if k in obj:
                v = _find_rate(obj[k], depth + 1)
                if v is not None:
                    return v
    return None


_HELD_KEYS = ("held_out", "heldout", "held_out_pass_rate", "heldout_pass_rate", "test", "test_pass_rate",
              "eval_test")


def _held_rate(obj: Any, depth: int = 0) -> float | None:
    """The held-out (test split) pass rate somewhere in a loop.json record."""
    if not isinstance(obj, Mapping) or depth > 3:
        return None
    for k in _HELD_KEYS:
        if k in obj:
            v = _find_rate(obj[k])
            if v is not None:
                return v
    for k, v in obj.items():
        kl = str(k).lower()
        if "held" in kl or kl.startswith("test") or kl.endswith("test"):
            rate = _find_rate(v)
            if rate is not None:
                return rate
    for v in obj.values():
        if isinstance(v, Mapping):
            rate = _held_rate(v, depth + 1)
            if rate is not None:
                return rate
    return None


def loop_rounds(loop: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """loop.json -> [{round, held_out, decision, adapter}] (tolerant of the loop's exact field names)."""
    if not isinstance(loop, Mapping):
        return []
    rounds = loop.get("rounds") or []
    out = []
    for i, r in enumerate(rounds if isinstance(rounds, list) else []):
        if not isinstance(r, Mapping):
            continue
        n = r.get("round", r.get("index", i))
        decision = r.get("decision")
        if decision is None and isinstance(r.get("promoted"), bool):
            decision = "promoted" if r["promoted"] else "kept previous"
        adapter = r.get("adapter") or r.get("adapter_name") or r.get("name") or ""
        if isinstance(adapter, Mapping):
            adapter = adapter.get("name") or ""
        out.append({"round": int(n) if is_num(n) else i, "held_out": _held_rate(r),
                    "decision": str(decision or r.get("status") or ""), "adapter": str(adapter)})
    return out


def loop_baseline(loop: Mapping[str, Any] | None) -> float | None:
    """The held-out pass rate before the first round, when loop.json records one."""
    if not isinstance(loop, Mapping):
        return None
    for k in ("baseline", "before", "initial", "round0"):
        if k in loop:
            v = _held_rate(loop[k]) if isinstance(loop[k], Mapping) else None
            v = v if v is not None else _find_rate(loop[k])
            if v is not None:
                return v
    return None


__all__ = ["loop_baseline", "loop_rounds"]
