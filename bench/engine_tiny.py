"""Local engine throughput: concurrency 1 vs 8 on the same requests, adapter switching, adapter memory.

    python bench/engine_tiny.py [--requests 64] [--max-tokens 32] [--concurrency 8] [--repeat 3] [--preset tiny]

Builds a "tiny"-preset model (~1M parameters, random weights, locally trained tokenizer) and two LoRA
adapters (PEFT, q_proj/v_proj, r=8, random weights) in a temporary directory, starts the engine as a
real process (`python -m harness.cli serve --engine local --port 0`) and drives it over HTTP:

  throughput   the same N chat requests (distinct prompts, greedy, max_tokens) at concurrency 1 and at
               concurrency C, interleaved --repeat times, best of each: requests/s, completion tokens/s,
               and the ratio C vs 1 (goal >= 2x at C = 8)
  adapters     N requests at concurrency 1 and C, all for the base model, all for adapter a1,
               alternating a1/a2, alternating base/a1/a2 (interleaved --repeat times, best of each):
               requests/s, the cost of LoRA (a1 vs base) and of switching (alternating vs same adapter),
               plus the engine's counters (adapter switches, mixed-adapter steps)
  memory       the tensor bytes of one extra loaded adapter (the engine's /stats) and the server's RSS
               growth when it is loaded (second adapter; the first load also imports PEFT)

Every figure comes from this run; nothing is assumed. The machine's other load shows up as noise: use
--repeat.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.serve.process import ExitedEarly, NotReady, ServerProcess  # noqa: E402

GOAL = 2.0
TEXTS = [f"<read_file>\n<path>src/module_{i}.py</path>\n</read_file> please read the file {i} and list "
         f"the functions; then write_to_file config_{i}.yaml with key value {i * 7}" for i in range(300)]


def build(tmp: Path, preset: str) -> tuple[Path, Path, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from trainers.scratch import build_tiny_model

    model_dir = build_tiny_model(tmp / "model", TEXTS, preset=preset)
    adapters = []
    for seed in (1, 2):
        base = AutoModelForCausalLM.from_pretrained(str(model_dir))
        pm = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                             task_type="CAUSAL_LM"))
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in pm.named_parameters():
                if "lora_" in name:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        out = tmp / f"adapter{seed}"
        pm.save_pretrained(str(out))
        adapters.append(out)
    return model_dir, adapters[0], adapters[1]


def start_engine(model_dir: Path, extra: list[str]) -> tuple[ServerProcess, str]:
    """The engine as its own process and its listening URL; stop it with `.stop()`."""
    proc = ServerProcess([sys.executable, "-m", "harness.cli", "serve", "--engine", "local", "--model",
                          str(model_dir), "--port", "0", *extra], cwd=ROOT, stdout=subprocess.PIPE,
                         capture_stderr=True, text=True, stop_grace=20).start()
    try:
        url = proc.wait_line("listening ", 120).split()[0]
    except NotReady:
        proc.stop(0)
        raise SystemExit("the engine did not print its listening line within 120 s") from None
    except ExitedEarly:
        raise SystemExit(f"the engine exited: {proc.stderr_tail()}") from None
    return proc, url


def bodies(n: int, max_tokens: int, models: list[str]) -> list[dict]:
    return [{"model": models[i % len(models)], "max_tokens": max_tokens, "temperature": 0,
             "messages": [{"role": "system", "content": "You read files with <read_file>."},
                          {"role": "user", "content": f"please read src/module_{i}.py and list the functions"}]}
            for i in range(n)]


async def drive(url: str, reqs: list[dict], concurrency: int) -> tuple[float, int]:
    """Send all requests with `concurrency` in flight; (seconds, completion tokens)."""
    import aiohttp

    queue = list(reversed(reqs))
    tokens = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal tokens
        while queue:
            body = queue.pop()
            async with session.post(url + "/chat/completions", json=body) as resp:
                data = await resp.json()
                if resp.status != 200:
                    raise SystemExit(f"HTTP {resp.status}: {data}")
                tokens += data["usage"]["completion_tokens"]

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - t0, tokens


async def get_json(url: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return await r.json()


async def post(url: str, body: dict) -> tuple[int, str]:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.post(url, json=body) as r:
        return r.status, await r.text()


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def bench(args: argparse.Namespace, url: str, pid: int, model_id: str, ad1: Path, ad2: Path) -> dict:
    root = url[: -len("/v1")]
    n, c, mt = args.requests, args.concurrency, args.max_tokens
    same = bodies(n, mt, [model_id])
    await drive(url, bodies(8, mt, [model_id]), 8)          # warm-up
    best1 = best_c = None
    for _ in range(args.repeat):
        r1 = await drive(url, same, 1)
        rc = await drive(url, same, c)
        best1 = r1 if best1 is None or r1[0] < best1[0] else best1
        best_c = rc if best_c is None or rc[0] < best_c[0] else best_c
    out: dict = {"requests": n, "max_tokens": mt, "concurrency": c}
    for label, (secs, toks) in (("c1", best1), (f"c{c}", best_c)):
        out[label] = {"seconds": round(secs, 3), "requests_per_s": round(n / secs, 2),
                      "tokens_per_s": round(toks / secs, 1), "completion_tokens": toks}
    out["ratio"] = round(best1[0] / best_c[0], 2)

    # adapters: memory first (RSS around the first load), then switching
    rss0 = rss_kb(pid)
    for name, path in (("a1", ad1), ("a2", ad2)):
        status, text = await post(url + "/load_lora_adapter", {"lora_name": name, "lora_path": str(path)})
        if status != 200:
            raise SystemExit(f"load {name}: HTTP {status}: {text}")
        if name == "a1":
            rss1 = rss_kb(pid)
    rss2 = rss_kb(pid)
    stats = await get_json(root + "/stats")
    out["adapter_bytes"] = stats["adapters"]["a2"]["bytes"]
    out["rss_growth_first_adapter_kb"] = rss1 - rss0      # includes importing PEFT and wrapping the model
    out["rss_growth_second_adapter_kb"] = rss2 - rss1
    s0 = await get_json(root + "/stats")
    # base (adapters loaded but not asked for) is in the same interleaving, so the LoRA cost and the
    # switching cost compare runs made under the same machine load
    runs = {"base": [model_id], "same_adapter": ["a1"], "alternating_a1_a2": ["a1", "a2"],
            "alternating_base_a1_a2": [model_id, "a1", "a2"]}
    await drive(url, bodies(8, mt, ["a1", "a2"]), 8)        # warm-up of the adapter paths
    best: dict[str, tuple[float, int]] = {}
    for _ in range(args.repeat):
        for conc in (1, c):
            for label, models in runs.items():
                r = await drive(url, bodies(n, mt, models), conc)
                key = f"{label}@c{conc}"
                if key not in best or r[0] < best[key][0]:
                    best[key] = r
    out["adapters"] = {k: {"seconds": round(v[0], 3), "requests_per_s": round(n / v[0], 2)} for k, v in best.items()}
    s1 = await get_json(root + "/stats")
    out["adapter_switches"] = s1["adapter_switches"] - s0["adapter_switches"]
    out["mixed_steps"] = s1["mixed_steps"] - s0["mixed_steps"]
    out["engine"] = {k: s1[k] for k in ("device", "dtype", "threads", "rows_per_step")}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("engine_args", nargs="*", help="extra `harness serve` options after --, e.g. -- --threads 1")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model_dir, ad1, ad2 = build(Path(tmp), args.preset)
        built = time.perf_counter() - t0
        proc, url = start_engine(model_dir, args.engine_args)
        try:
            models = asyncio.run(get_json(url + "/models"))
            model_id = models["data"][0]["id"]
            cfg = json.loads((model_dir / "config.json").read_text())
            params = cfg.get("hidden_size"), cfg.get("num_hidden_layers"), cfg.get("vocab_size")
            res = asyncio.run(bench(args, url, proc.proc.pid, model_id, ad1, ad2))
        finally:
            proc.stop()
            proc.close()
    res["build_s"] = round(built, 1)
    res["loadavg_before"] = [round(x, 2) for x in load0]
    res["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    res["model"] = {"preset": args.preset, "hidden, layers, vocab": params}
    if args.json:
        print(json.dumps(res))
        return 0
    c = args.concurrency
    print(f"local engine, preset {args.preset} (hidden, layers, vocab = {params}), {res['engine']}, "
          f"{args.requests} requests x max_tokens {args.max_tokens}, best of {args.repeat}; "
          f"loadavg {res['loadavg_before']} -> {res['loadavg_after']}")
    for label in ("c1", f"c{c}"):
        r = res[label]
        print(f"  concurrency {label[1:]:>2}: {r['requests_per_s']:8.2f} req/s  {r['tokens_per_s']:9.1f} tok/s  "
              f"({r['seconds']:.2f} s, {r['completion_tokens']} completion tokens)")
    print(f"  ratio c{c}/c1: {res['ratio']:.2f}x  (goal >= {GOAL:.1f}x)")
    print("  adapters loaded (requests/s):")
    for k, v in res["adapters"].items():
        print(f"    {k:<28} {v['requests_per_s']:8.2f}")
    for conc in (1, c):
        base_s = res["adapters"][f"base@c{conc}"]["seconds"]
        same = res["adapters"][f"same_adapter@c{conc}"]["seconds"]
        alt = res["adapters"][f"alternating_a1_a2@c{conc}"]["seconds"]
        print(f"  LoRA cost at c{conc}: every request on adapter a1 takes {same / base_s:.2f}x the time of every "
              f"request on the base model")
        print(f"  switching cost at c{conc}: alternating a1/a2 takes {alt / same:.2f}x the time of same-adapter "
              f"({(alt - same) / args.requests * 1000:+.2f} ms per request)")
    print(f"  adapter switches {res['adapter_switches']}, mixed-adapter steps {res['mixed_steps']}")
    print(f"  one extra adapter (r=8, q_proj+v_proj): {res['adapter_bytes']} bytes of tensors "
          f"({res['adapter_bytes'] / 1024:.0f} KiB); server RSS growth: second adapter "
          f"{res['rss_growth_second_adapter_kb']} KiB, first adapter {res['rss_growth_first_adapter_kb']} KiB "
          "(the first also imports PEFT and wraps the model)")
    return 0 if res["ratio"] >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
