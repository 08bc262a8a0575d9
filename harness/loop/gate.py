"""The loop's adapter gate: a hot-loaded adapter must change some greedy outputs, or it is refused.

An adapter can load with HTTP 200 and silently do nothing — vLLM dropped PEFT `target_parameters` LoRAs
for Qwen3.5-MoE and served the base model's answers (vllm#41384) — and a held-out evaluation of such a
candidate would only measure the base again. So after every load the loop asks the base model and the
candidate the same few cases, greedily, and compares the answers:

    res = changes_outputs(endpoint, base="base", candidate="cand-1", cases=cases, out=rdir / "gate",
                          system_prompt="full", api_key_env="OPENAI_API_KEY")
    res.passed, res.differ, res.checked      # at least `min_differ` of `checked` answers differ

The cases are the ones the candidate was trained on first (its round's failures: there it should differ),
evaluated through `harness.api.evaluate` like every other run (same request bodies, same rendering),
into two small run directories next to the round's others. This is the one implementation of the check;
`harness adapters` and the registry only verify that the name is served.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CASES = 4


@dataclass
class GateResult:
    checked: int                      # cases answered by both models
    differ: int                       # of those, answers that differ
    min_differ: int
    same: list[str] = field(default_factory=list)     # case ids answered identically
    errors: int = 0

    @property
    def passed(self) -> bool:
        return self.checked > 0 and self.differ >= self.min_differ

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def answer_key(response: Any) -> str:
    """What is compared: the message's text and its tool calls (names and argument text), canonical."""
    if not isinstance(response, dict):
        return json.dumps(response)
    calls = [(((tc or {}).get("function") or {}).get("name"), ((tc or {}).get("function") or {}).get("arguments"))
             for tc in response.get("tool_calls") or []]
    return json.dumps([response.get("content"), calls], sort_keys=True, ensure_ascii=False)


def _answers(run_dir: Path) -> dict[str, str]:
    from harness.log.rundir import RunDir
    return {str(r["id"]): answer_key(r.get("response")) for r in RunDir(run_dir).results()
            if r.get("status") == "ok"}


def pick_cases(cases: Sequence[Any], prefer: Sequence[str], k: int = DEFAULT_CASES) -> list[Any]:
    """Up to k cases: those whose ids are in `prefer` first (in that order), then the rest in suite order."""
    by_id = {c.id: c for c in cases}
    chosen = [by_id[i] for i in dict.fromkeys(prefer) if i in by_id][:k]
    seen = {c.id for c in chosen}
    chosen += [c for c in cases if c.id not in seen][:k - len(chosen)]
    return chosen


def changes_outputs(endpoint: str, *, base: str, candidate: str, cases: Sequence[Any], out: Path,
                    system_prompt: str, api_key_env: str, top: dict[str, Any] | None = None,
                    min_differ: int = 1, max_tokens: int | None = None, concurrency: int = 8) -> GateResult:
    """Evaluate `cases` greedily on `base` and on `candidate` (run dirs out/base, out/candidate; resumed
    when present) and count the cases whose answers differ."""
    from harness.api import evaluate
    from harness.suite import dump_suite

    out.mkdir(parents=True, exist_ok=True)
    suite_path = out / "gate-suite.jsonl"
    dump_suite(list(cases), suite_path, top={**(top or {}), "name": "adapter-gate",
                                             "description": "cases the loop's adapter gate asks base and candidate"})
    runs = {}
    for label, model in (("base", base), ("candidate", candidate)):
        rd = out / label
        asyncio.run(evaluate(str(suite_path), endpoint, model, split="all", samples=1, concurrency=concurrency,
                             temperature=0.0, seed=0, max_tokens=max_tokens, system_prompt=system_prompt,
                             out=str(rd), resume=(rd / "run.json").is_file(), cache=False,
                             api_key_env=api_key_env, progress=False, register=False))
        runs[label] = _answers(rd)
    a, b = runs["base"], runs["candidate"]
    both = [cid for cid in a if cid in b]
    same = [cid for cid in both if a[cid] == b[cid]]
    return GateResult(checked=len(both), differ=len(both) - len(same), min_differ=min_differ, same=same,
                      errors=len(cases) * 2 - len(a) - len(b))


__all__ = ["DEFAULT_CASES", "GateResult", "answer_key", "changes_outputs", "pick_cases"]
