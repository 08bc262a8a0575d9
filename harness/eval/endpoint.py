"""What the runner learns about its endpoints before any case is sent (harness.model.preflight) and
what it does with it: the stop policy (harness.eval.stops), the served-weights identity the response
cache keys on, and the closer that puts back a stop string a server cut off."""
from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING, Any

from harness.eval.stops import StopPolicy, policy_for, restore_stop, stops_for

if TYPE_CHECKING:
    from harness.eval.dispatch import Runner


class Restorer:
    """`(ctx, msg, choice) -> msg`: the message with the cut stop string restored (a copy when changed)."""

    def __init__(self, policy: StopPolicy):
        self.policy = policy
        self._stops: dict[Any, list[str]] = {}
        self.restored = 0

    def __call__(self, ctx: Any, msg: dict[str, Any], choice: Any) -> dict[str, Any]:
        if not isinstance(choice, dict):
            return msg
        proto = ctx.proto
        key = (id(proto), ctx.mode)
        stops = self._stops.get(key)
        if stops is None:
            lim = proto.generation_limits(mode=ctx.mode, tools=ctx.tools)
            stops = self._stops[key] = stops_for(lim.stop, self.policy) if lim.stop_closes else []
        if not stops:
            return msg
        out = dict(msg)
        if restore_stop(out, choice, stops, self.policy.guess_close) is None:
            return msg
        self.restored += 1
        return out


async def check_endpoints(runner: Runner, quiet: bool = False) -> dict[str, Any]:
    """Pre-flight every endpoint (PreflightError on the first that cannot serve), then set the runner's
    stop policy, restorer and cache identity. Returns run.json's `endpoint_check` record."""
    from harness.model.preflight import check_endpoint, weights_identity
    cfg = runner.cfg
    served = []
    if cfg.preflight and cfg.endpoints:
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        served = await asyncio.gather(*(asyncio.to_thread(check_endpoint, str(e), cfg.model, api_key=key or None,
                                                          api_key_env=cfg.api_key_env) for e in cfg.endpoints))
        for s in served:
            if s.warning:
                print(f"harness: warning: {s.warning}", file=sys.stderr)
    policy = policy_for([s.owned_by for s in served if s.owned_by], enabled=cfg.stop)
    if cfg.stop and served and len({s.owned_by for s in served}) > 1:
        policy = policy_for([], enabled=True)   # mixed servers: what every one of them takes
    runner.stop_policy = policy
    runner.restore = Restorer(policy) if policy.enabled else None
    ident = weights_identity(list(served), cfg.model_revision)
    runner.cache_model = cfg.model if ident is None else f"{cfg.model}\x00{ident}"
    return {"preflight": bool(cfg.preflight and cfg.endpoints),
            "owned_by": sorted({s.owned_by for s in served if s.owned_by}),
            "weights": [s.identity for s in served] if any(s.identity for s in served) else None,
            "model_revision": cfg.model_revision, "stop": policy.record(),
            "preflight_s": round(max((s.elapsed_s for s in served), default=0.0), 4)}


__all__ = ["Restorer", "check_endpoints"]
