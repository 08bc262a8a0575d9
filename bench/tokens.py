"""Billed tokens: what the runner's token economies save, counted by the endpoint itself.

    python bench/tokens.py [--suite roo-starter] [--split test] [--samples 5]
        [--prefix-suites roo-modes,roo-recovery] [--prefix-cache-blocks 8] [--concurrency 64]

Everything runs against the scripted OpenAI-compatible server (harness/testing/scripted.py, in its own
process, answering the suite's references 70% of the time); its own counters (/stats: chat requests,
prompt, cached and completion tokens) are the bill, and summary.json's token totals are checked against
them. The harness runs in this process through harness.eval.run_eval (what `harness eval` runs).

  1. pass@k: `--samples k` as one request per case with n=k, against k separate requests per case (the
     same server with n refused: the runner's own fallback, one probe rejected with HTTP 400 first);
  2. a rerun answered by the response cache (requests and tokens billed: 0);
  3. prefix-ordered dispatch (the runner's order: requests grouped by system prompt and tools, sorted
     by their messages) against the same cases shuffled, measured as prefix-cache hits
     (usage.prompt_tokens_details.cached_tokens) — on the stock emulation, which never forgets a
     prefix, and on an LRU cache that keeps only --prefix-cache-blocks prefix blocks (a server's
     bounded KV cache), for a suite mixing system prompts (Roo's modes) and multi-turn histories.

Token counts are the scripted server's (~len(JSON)/4), not a real tokenizer's: the ratios are the point.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import load_text, server_reset, server_stats, spawn_timed_server  # noqa: E402

MODEL = "bench"


def configure(url: str, **opts: Any) -> None:
    req = urllib.request.Request(url.rsplit("/v1", 1)[0] + "/configure", data=json.dumps(opts).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


@contextlib.contextmanager
def shuffled_dispatch(seed: int) -> Iterator[None]:
    """The runner with its prefix-aware order undone: the planned cases in a seeded random order."""
    from harness.eval.dispatch import Runner

    orig = Runner.prepare

    def prepare(self: Runner, done: set[tuple[str, int]]) -> list[tuple[Any, ...]]:
        items = orig(self, done)
        random.Random(seed).shuffle(items)
        return items

    Runner.prepare = prepare  # type: ignore[method-assign]
    try:
        yield
    finally:
        Runner.prepare = orig  # type: ignore[method-assign]


def run(url: str, suite: Any, out: Path, *, split: str | None, samples: int = 1, cache: bool = False,
        cache_path: Path | None = None, concurrency: int = 64, seed: int | None = None) -> dict[str, Any]:
    """One eval from a reset server: {"server": its counters, "summary": summary.json}."""
    from harness.eval import EvalConfig, run_eval

    server_reset(url)
    cfg = EvalConfig(suite=suite, endpoints=[url], model=MODEL, split=split, samples=samples, seed=seed,
                     temperature=1.0 if samples > 1 else None, concurrency=concurrency, out=str(out),
                     cache=cache, cache_path=str(cache_path) if cache_path else None, register=False)
    outcome = asyncio.run(run_eval(cfg))
    return {"server": server_stats(url), "summary": outcome.summary or {}}


def bill(r: dict[str, Any], recorded: dict[str, Any] | None = None) -> str:
    """The server's bill; whether summary.json's tokens equal it (or, for a rerun from the cache, equal
    the bill of the run that filled the cache: a cache hit records the usage of the cached reply)."""
    s = r["server"]
    t = r["summary"].get("tokens") or {}
    ref = (recorded or r)["server"]
    agree = (t.get("prompt"), t.get("completion"), t.get("cached")) == \
        (ref["prompt_tokens"], ref["completion_tokens"], ref["cached_tokens"])
    what = "agrees" if recorded is None else "records the cached replies' usage, = run 1's bill"
    refused = {k: v for k, v in (s.get("by_status") or {}).items() if k != "200"}
    return (f"requests {s['chat_requests']:>5}{' (HTTP ' + json.dumps(refused) + ')' if refused else ''}  prompt {s['prompt_tokens']:>9,}  cached {s['cached_tokens']:>9,}  "
            f"uncached {s['prompt_tokens'] - s['cached_tokens']:>9,}  completion {s['completion_tokens']:>7,}"
            f"  (summary.json {what if agree else 'DIFFERS: ' + json.dumps(t)})")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def write_mixed_suite(path: Path, names: list[str]) -> int:
    """One suite file holding the cases of several shipped suites (each case keeps protocol and mode)."""
    from harness.suite import case_to_dict, load_suite

    lines = [json.dumps({"suite": {"name": "bench-prefix"}})]
    for name in names:
        for c in load_suite(name).cases:
            d = case_to_dict(c)
            d["id"] = f"{name}/{d['id']}"
            lines.append(json.dumps(d, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="roo-starter", help="suite for pass@k and the cache rerun")
    ap.add_argument("--split", default="test", choices=("train", "test", "all"))
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--prefix-suites", default="roo-modes,roo-recovery",
                    help="shipped suites mixed into one for the dispatch-order comparison (all splits)")
    ap.add_argument("--prefix-cache-blocks", type=int, default=8,
                    help="prefix blocks the bounded (LRU) cache keeps (default %(default)s)")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-tokens-"))
    os.environ["HARNESS_HOME"] = str(tmp / "home")
    os.environ["HARNESS_CACHE_DIR"] = str(tmp / "cache")
    k = args.samples
    try:
        from harness.suite import load_suite
        suite = load_suite(args.suite)
        n_cases = len(suite.split(None if args.split == "all" else args.split))
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {load_text()}")

        with spawn_timed_server("--suite", args.suite, "--answer", "mix:0.7", "--seed", "1") as url:
            print(f"\n1. pass@{k}: suite {args.suite} ({args.split} split, {n_cases} cases), {k} samples per case")
            one = run(url, suite, tmp / "n", split=args.split, samples=k, cache=True, cache_path=tmp / "rc.sqlite",
                      concurrency=args.concurrency, seed=args.seed)
            print(f"  n={k} in one request   {bill(one)}")
            configure(url, no_n=True)
            sep = run(url, suite, tmp / "sep", split=args.split, samples=k, concurrency=args.concurrency,
                      seed=args.seed)
            configure(url, no_n=False)
            print(f"  {k} separate requests   {bill(sep)}")
            a, b = one["server"], sep["server"]
            print(f"  separate / n={k}: requests {ratio(b['chat_requests'], a['chat_requests'])}, prompt tokens "
                  f"{ratio(b['prompt_tokens'], a['prompt_tokens'])}, uncached prompt tokens "
                  f"{ratio(b['prompt_tokens'] - b['cached_tokens'], a['prompt_tokens'] - a['cached_tokens'])}, "
                  f"completion tokens {ratio(b['completion_tokens'], a['completion_tokens'])}; pass@{k} "
                  f"{one['summary']['pass_at_k'].get(str(k), float('nan')):.3f} vs "
                  f"{sep['summary']['pass_at_k'].get(str(k), float('nan')):.3f}; prompt tokens per case "
                  f"{a['prompt_tokens'] / n_cases:,.0f} vs {b['prompt_tokens'] / n_cases:,.0f}")

            print(f"\n2. rerun of run 1 (n={k}) from the response cache")
            again = run(url, suite, tmp / "again", split=args.split, samples=k, cache=True,
                        cache_path=tmp / "rc.sqlite", concurrency=args.concurrency, seed=args.seed)
            s2 = again["summary"]
            print(f"  rerun                 {bill(again, recorded=one)}")
            print(f"  cache hits {s2['runner']['cache_hits']} of {one['server']['chat_requests']} requests; "
                  f"same pass@{k}: {s2['pass_at_k'] == one['summary']['pass_at_k']}; billed prompt tokens "
                  f"{again['server']['prompt_tokens']} vs {one['server']['prompt_tokens']:,}")

        names = [x for x in args.prefix_suites.split(",") if x]
        mixed = tmp / "prefix.jsonl"
        n_mixed = write_mixed_suite(mixed, names)
        msuite = load_suite(str(mixed))
        modes = sorted({str(c.mode) for c in msuite.cases})
        print(f"\n3. dispatch order and prefix-cache hits: {n_mixed} cases of {', '.join(names)} "
              f"(modes {', '.join(modes)}; 1-3 messages each), concurrency {args.concurrency}")
        for blocks in (None, args.prefix_cache_blocks):
            extra = ("--prefix-cache-blocks", str(blocks)) if blocks else ()
            what = f"LRU cache of {blocks} prefix blocks" if blocks else "stock emulation (unbounded cache)"
            with spawn_timed_server("--suite", str(mixed), "--answer", "reference", *extra) as url:
                ordered = run(url, msuite, tmp / f"ordered-{blocks}", split=None, concurrency=args.concurrency)
                with shuffled_dispatch(args.seed):
                    shuffled = run(url, msuite, tmp / f"shuffled-{blocks}", split=None,
                                   concurrency=args.concurrency)
            o, s = ordered["server"], shuffled["server"]
            print(f"  {what}:")
            print(f"    prefix-ordered (the runner)  {bill(ordered)}  hit rate {o['cached_tokens'] / o['prompt_tokens']:.3f}")
            print(f"    shuffled                     {bill(shuffled)}  hit rate {s['cached_tokens'] / s['prompt_tokens']:.3f}")
            print(f"    ordered / shuffled: cached tokens {ratio(o['cached_tokens'], s['cached_tokens'])}, uncached "
                  f"prompt tokens {ratio(o['prompt_tokens'] - o['cached_tokens'], s['prompt_tokens'] - s['cached_tokens'])}")
        print(f"\n{load_text()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
