"""Prompt caching on a hosted provider's cache shape: the runner's prefix-ordered dispatch and
`prompt_cache_key` against shuffled dispatch and no key, on OpenAI's documented cache shape.

    python bench/prompt_cache.py [--suites roo-modes,roo-recovery] [--rps 20] [--machines 16]
        [--blocks-per-machine 64] [--seed 7] [--model gpt-4o-mini]

The requests are the runner's own (harness.eval.dispatch.Runner plans them exactly as `harness eval`
would for https://api.openai.com/v1), in its dispatch order or shuffled (seeded), with or without the
`prompt_cache_key` the planner adds per (system prompt, tools) prefix. They are fed, `--rps` per second,
to harness.testing.prompt_cache.OpenAICacheShape: caching from 1,024 prompt tokens, exact prefixes in
128-token steps, routing by the first 256 tokens plus the key, ~15 requests/min per (prefix, key) on one
machine before the overflow spills to other machines, an LRU of prefix blocks per machine. The bill is
the prompt side at the model's prices in harness/model/prices.json (cached input at its discount).
Nothing is sent anywhere. Token counts are ~len(JSON)/4: the ratios are the point.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tokens import write_mixed_suite  # noqa: E402


def planned(suite: Path, key: bool, shuffle_seed: int | None) -> list[Any]:
    from harness.eval import EvalConfig
    from harness.eval.dispatch import Runner
    cfg = EvalConfig(suite=str(suite), endpoints=["https://api.openai.com/v1"], model="gpt-4o-mini",
                     split="all", cache=False, register=False, prompt_cache_key=key)
    runner = Runner(cfg)
    runner.load()
    items = runner.prepare(set())
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(items)
    return runner.build(items)


def blocks_of(body: dict[str, Any]) -> list[str]:
    def c(x: Any) -> str:
        return json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    msgs = body["messages"]
    has_sys = msgs and msgs[0].get("role") == "system"
    head = (c(msgs[0]) if has_sys else "") + (c(body["tools"]) if body.get("tools") else "")
    return [head] + [c(m) for m in (msgs[1:] if has_sys else msgs)]


def bill(requests: list[Any], args: argparse.Namespace) -> dict[str, float]:
    from harness.model.prices import resolve
    from harness.testing.prompt_cache import OpenAICacheShape
    cache = OpenAICacheShape(machines=args.machines, blocks_per_machine=args.blocks_per_machine, seed=args.seed)
    for i, r in enumerate(requests):
        body = json.loads(r.body)
        cache.request(blocks_of(body), t=i / args.rps, key=body.get("prompt_cache_key"))
    price = resolve(args.model) or {"prompt": 0.0, "cached": 0.0}
    p, k = cache.prompt_tokens, cache.cached_tokens
    return {"requests": len(requests), "prompt": p, "cached": k, "hit": k / p if p else 0.0,
            "usd": ((p - k) * price["prompt"] + k * price["cached"]) / 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suites", default="roo-modes,roo-recovery")
    ap.add_argument("--rps", type=float, default=20.0, help="requests per second the run sends")
    ap.add_argument("--machines", type=int, default=16)
    ap.add_argument("--blocks-per-machine", type=int, default=64, dest="blocks_per_machine")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--model", default="gpt-4o-mini")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "mixed.jsonl"
        n = write_mixed_suite(suite, [s for s in args.suites.split(",") if s])
        rows = {}
        for order, seed in (("prefix-ordered (the runner)", None), ("shuffled", args.seed)):
            for key in (True, False):
                rows[(order, key)] = bill(planned(suite, key, seed), args)
    print(f"{n} cases ({args.suites}); {args.rps:g} requests/s; {args.machines} cache machines of "
          f"{args.blocks_per_machine} prefix blocks; prices: {args.model}")
    print(f"{'dispatch':<30}{'prompt_cache_key':<18}{'prompt tok':>12}{'cached':>12}{'hit':>8}{'prompt $':>10}")
    for (order, key), r in rows.items():
        print(f"{order:<30}{'yes' if key else 'no':<18}{r['prompt']:>12,}{r['cached']:>12,}{r['hit']:>8.3f}"
              f"{r['usd']:>10.4f}")
    base = rows[("shuffled", False)]
    for (order, key), r in rows.items():
        print(f"  {order}, key {'yes' if key else 'no'}: cached tokens {r['cached'] / max(1, base['cached']):.2f}x "
              f"and prompt cost {r['usd'] / base['usd']:.3f}x of shuffled without a key")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
