"""`harness eval` against the endpoints hobbyists run, as the scripted server mimics them
(`--mimic llama.cpp|ollama`, harness/testing/mimic.py): llama-server's HTTP 500 for n != 1 and its
`timings`, Ollama's ignored `n` and plain usage. Every case must come back exactly once per sample, with
no errors and sensible token counts."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from harness.suite import load_suite
from harness.testing import ScriptedServer, spawn_server

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]


async def _post(url: str, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/chat/completions", json=body) as r:
            return r.status, await r.json()


def test_llama_cpp_shapes() -> None:
    async def go() -> None:
        async with ScriptedServer(mimic="llama.cpp", suite="roo-starter") as srv:
            case = load_suite("roo-starter").cases[0]
            body = {"model": "m", "messages": [{"role": "system", "content": "S" * 400}, *case.messages]}
            status, err = await _post(srv.url, {**body, "n": 2})
            assert status == 500 and err == {"error": {"code": 500, "message": "Only one completion choice is "
                                                       "allowed", "type": "server_error"}}
            status, first = await _post(srv.url, body)
            assert status == 200 and set(first["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
            assert first["timings"]["cache_n"] == 0 and first["timings"]["prompt_n"] == first["usage"]["prompt_tokens"]
            assert first["system_fingerprint"].startswith("b") and "logprobs" not in first["choices"][0]
            status, again = await _post(srv.url, body)
            assert again["timings"]["cache_n"] == again["usage"]["prompt_tokens"] > 0      # the whole prompt reused
            async with aiohttp.ClientSession() as s:
                async with s.get(srv.url + "/models") as r:
                    assert (await r.json())["data"][0]["owned_by"] == "llamacpp"
    asyncio.run(go())


def test_ollama_shapes() -> None:
    async def go() -> None:
        async with ScriptedServer(mimic="ollama", suite="roo-starter", answer="mix:0.5", seed=1) as srv:
            case = load_suite("roo-starter").cases[0]
            body = {"model": "llama3.2:latest", "messages": case.messages}
            status, resp = await _post(srv.url, {**body, "n": 3, "seed": 7})
            assert status == 200 and len(resp["choices"]) == 1                  # n ignored
            assert resp["usage"].keys() == {"prompt_tokens", "completion_tokens", "total_tokens"}
            assert resp["system_fingerprint"] == "fp_ollama" and "timings" not in resp
            answers = {json.dumps((await _post(srv.url, {**body, "seed": s}))[1]["choices"][0]["message"])
                       for s in range(6)}
            assert len(answers) == 1                                            # seed ignored
    asyncio.run(go())


def _slice(name: str, k: int, out: Path) -> Path:
    """The first k cases of a shipped suite, as a suite file (so the runs stay small)."""
    src = Path(load_suite(name).path).read_text(encoding="utf-8").splitlines()
    header = json.loads(src[0])
    header["suite"]["name"] = f"{name}-{k}"
    out.write_text("\n".join([json.dumps(header)] + src[1:k + 1]) + "\n", encoding="utf-8")
    return out


def _eval(url: str, suite: Path, model: str, out: Path, *extra: str) -> tuple[dict, list[dict]]:
    r = subprocess.run([sys.executable, "-m", "harness.cli", "eval", "--suite", str(suite), "--endpoint", url,
                        "--model", model, "--split", "all", "--out", str(out), "--no-cache", "--quiet", *extra],
                       cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    return json.loads((out / "summary.json").read_text()), lines


@pytest.mark.parametrize("mimic", ["llama.cpp", "ollama"])
@pytest.mark.parametrize("suite_name", ["roo-starter", "roo-core-native"])
def test_eval_against_each_mimic_completes_every_case_once(mimic: str, suite_name: str, tmp_path: Path) -> None:
    suite = _slice(suite_name, 40, tmp_path / "suite.jsonl")
    ids = sorted(c.id for c in load_suite(str(suite)).cases)
    model = {"llama.cpp": "smollm2-135m-q8_0.gguf", "ollama": "smollm2:135m"}[mimic]
    with spawn_server("--mimic", mimic, "--models", model, "--suite", str(suite), "--answer", "mix:0.7",
                      "--seed", "3") as url:
        summary, lines = _eval(url, suite, model, tmp_path / "k3", "--samples", "3")
        keys = [(r["id"], r["sample"]) for r in lines]
        assert sorted(keys) == sorted((i, s) for i in ids for s in range(3))      # every (case, sample) once
        assert all(r["status"] == "ok" for r in lines) and summary["errors"] == 0
        assert summary["runner"]["n_supported"] is False
        assert summary["runner"]["fallback_requests"] >= 2 * len(ids)            # k requests, not n=k
        assert 0 < summary["pass_rate"] < 1                                      # answers were scored
        tok = summary["tokens"]
        assert tok["prompt"] > 0 and tok["completion"] > 0
        if mimic == "llama.cpp":   # cached tokens come from timings.cache_n (no prompt_tokens_details)
            assert 0 < tok["cached"] < tok["prompt"]
        else:                      # Ollama reports none
            assert tok["cached"] == 0
        summary1, lines1 = _eval(url, suite, model, tmp_path / "k1")
        assert sorted(r["id"] for r in lines1) == ids and summary1["errors"] == 0
        assert summary1["runner"]["fallback_requests"] == 0
    print(f"\n{mimic} / {suite_name}: {summary['n_cases']} cases x 3 samples, {summary['runner']['requests_sent']} "
          f"requests, pass rate {summary['pass_rate']:.3f}, tokens {tok}")
