"""The GRPO reward of `harness train --backend grpo`: the protocol's own verdict, with partial credit.

    reward = 1.0                          the verdict passes
           = 0.2 * made a call            otherwise, partial credit:
           + 0.3 * first call is the expected tool
           + 0.3 * share of the expected arguments that are right
           - 0.1 * (more than one call where the protocol allows one)

Built here, from harness.score, and handed to `trainers.backends.grpo.train` as a callable
`reward(case_id, text)` (trainers never import the harness). A completion's text becomes the message a
server would return for it (`harness.eval.local.to_message`), is parsed with the case's protocol and
scored as the runner scores an answer.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def partial_reward(case: Any, proto: Any, message: Any) -> float:
    """1.0 when the protocol's verdict passes, else partial credit in [0, 0.8]."""
    from harness.score.verdicts import argument_problem, score
    turn = proto.parse(message, mode=case.mode, tools=case.tools)
    verdict = score(case, turn, proto)
    if verdict.passed:
        return 1.0
    expected = list(case.expect.calls or [])
    calls = list(turn.calls)
    if not expected:                       # irrelevance: any call is wrong, no partial credit
        return 0.0
    r = 0.0
    if calls:
        r += 0.2
        first, want = calls[0], expected[0]
        if first.name == want.name:
            r += 0.3
            specs = want.arguments or {}
            if specs:
                ok = sum(1 for k, spec in specs.items() if argument_problem(k, spec, first.arguments) is None)
                r += 0.3 * ok / len(specs)
            else:
                r += 0.3
        if len(calls) > 1 and getattr(getattr(proto, "catalog", None), "one_call_per_turn", False):
            r -= 0.1
    return max(0.0, min(r, 0.8))


class RunVerdictReward:
    """`reward(case_id, text)` over a run's cases (its suite and --protocol override), loaded on first use."""

    def __init__(self, run_dir: str | os.PathLike[str], suite: str | None = None):
        self.run_dir, self.suite = run_dir, suite
        self._cases: dict[str, Any] | None = None
        self._protocols: Any = None

    def _load(self) -> dict[str, Any]:
        if self._cases is None:
            from harness.log.rundir import RunDir
            from harness.loop.data import protocol_override, run_suite
            from harness.score.protocols import ProtocolCache
            manifest = RunDir(self.run_dir).manifest()
            s = run_suite(manifest, Path(self.run_dir), self.suite)
            self._protocols = ProtocolCache(protocol_override(manifest))
            self._cases = {c.id: c for c in s.cases}
        return self._cases

    def __call__(self, case_id: str, text: str) -> float:
        from harness.eval.local import to_message
        case = self._load()[case_id]
        proto = self._protocols.get(case)
        return partial_reward(case, proto, to_message(text, proto.wire))


__all__ = ["RunVerdictReward", "partial_reward"]
