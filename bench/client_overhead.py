"""Client overhead: CPU per request and requests/s of harness.model.client.ChatClient against a lean loop.

    python bench/client_overhead.py [--n 2000] [--concurrency 64] [--latency 0] [--repeat 3]

Starts the scripted OpenAI-compatible server (harness/testing/scripted.py) in a subprocess — its own
process, so its CPU is not counted — answering roo-starter prompts with their references, then sends
the same N chat requests (a ~3 KB system prompt + the case's messages, max_tokens and stop as a runner
sends them) at the given concurrency through:

  ChatClient   harness.model.client.ChatClient (AIMD limiter, retries, endpoint choice, stats)
  lean         a bare aiohttp loop: one ClientSession, a Semaphore, post(data=bytes), json.loads(read())
  openai       openai.AsyncOpenAI (only when the `openai` package is importable; not a dependency)

Each variant runs --repeat times, interleaved; the best wall time and its CPU are printed: wall s,
requests/s, CPU ms per request of this process (time.process_time, the client side only), and the
ratio ChatClient/lean. Goal: ChatClient well under 1 ms CPU per request.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T_START = time.perf_counter()

import aiohttp  # noqa: E402

from harness.model.client import ChatClient  # noqa: E402
from harness.suite import load_suite  # noqa: E402
from harness.testing import spawn_server  # noqa: E402

SYSTEM = ("You are Roo, a highly skilled software engineer. Use exactly one tool per message. " * 40).strip()


def make_bodies(n: int, model: str) -> list[dict]:
    cases = load_suite("roo-starter").cases
    out = []
    for i in range(n):
        c = cases[i % len(cases)]
        out.append({"model": model, "messages": [{"role": "system", "content": SYSTEM}, *c.messages],
                    "max_tokens": 512, "temperature": 0.0, "stop": ["</attempt_completion>"]})
    return out


async def run_chatclient(url: str, bodies: list[bytes], conc: int) -> tuple[int, int]:
    async with ChatClient([url], api_key="sk-bench-0123456789abcdef", concurrency=conc, timeout=60) as c:
        replies = await asyncio.gather(*[c.chat(b) for b in bodies])
    ok = sum(1 for r in replies if r.status == "ok" and r.body.get("choices"))
    return ok, len(replies) - ok


async def run_lean(url: str, bodies: list[bytes], conc: int) -> tuple[int, int]:
    sem = asyncio.Semaphore(conc)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-0123456789abcdef"}
    target = url + "/chat/completions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:
        async def one(b: bytes) -> bool:
            async with sem:
                async with s.post(target, data=b, headers=headers) as r:
                    body = json.loads(await r.read())
                    return r.status == 200 and bool(body.get("choices"))
        res = await asyncio.gather(*[one(b) for b in bodies])
    ok = sum(res)
    return ok, len(res) - ok


async def run_openai(url: str, bodies: list[dict], conc: int) -> tuple[int, int]:
    import openai  # noqa: PLC0415

    sem = asyncio.Semaphore(conc)
    client = openai.AsyncOpenAI(base_url=url, api_key="sk-bench-0123456789abcdef", max_retries=4)
    async def one(b: dict) -> bool:
        async with sem:
            r = await client.chat.completions.create(**b)
            return bool(r.choices)
    try:
        res = await asyncio.gather(*[one(b) for b in bodies])
    finally:
        await client.close()
    ok = sum(res)
    return ok, len(res) - ok


def measure(fn, url: str, payload: list, conc: int) -> dict:
    c0, w0 = time.process_time(), time.perf_counter()
    ok, bad = asyncio.run(fn(url, payload, conc))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n = len(payload)
    return {"wall": wall, "cpu": cpu, "rps": n / wall, "cpu_ms": cpu / n * 1000, "ok": ok, "bad": bad}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    model = "scripted"
    bodies = make_bodies(args.n, model)
    raw = [json.dumps(b, separators=(",", ":"), ensure_ascii=False).encode() for b in bodies]
    variants = [("ChatClient", run_chatclient, raw), ("lean", run_lean, raw)]
    try:
        import openai  # noqa: F401, PLC0415
        variants.append(("openai", run_openai, bodies))
    except ImportError:
        print("openai: not installed, skipped (it is not a dependency)")
    best: dict[str, dict] = {}
    with spawn_server("--suite", "roo-starter", "--answer", "reference", "--latency", str(args.latency)) as url:
        print(f"server {url}  n={args.n} concurrency={args.concurrency} latency={args.latency}s "
              f"(ideal wall {args.n / args.concurrency * args.latency:.2f} s)  cpu count {os.cpu_count()}")
        for _ in range(args.repeat):
            for name, fn, payload in variants:
                m = measure(fn, url, payload, args.concurrency)
                if m["bad"]:
                    print(f"{name}: {m['bad']} of {args.n} requests failed")
                if name not in best or m["wall"] < best[name]["wall"]:
                    best[name] = m
    print(f"{'client':<12}{'wall s':>9}{'req/s':>10}{'CPU ms/req':>12}")
    for name, m in best.items():
        print(f"{name:<12}{m['wall']:>9.3f}{m['rps']:>10.0f}{m['cpu_ms']:>12.3f}")
    cc, lean = best["ChatClient"], best["lean"]
    print(f"ratio ChatClient/lean: wall {cc['wall'] / lean['wall']:.2f}x, CPU {cc['cpu_ms'] / lean['cpu_ms']:.2f}x")
    if "openai" in best:
        oa = best["openai"]
        print(f"ratio ChatClient/openai: wall {cc['wall'] / oa['wall']:.2f}x, CPU {cc['cpu_ms'] / oa['cpu_ms']:.2f}x")
    print(f"whole script wall time {time.perf_counter() - T_START:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
