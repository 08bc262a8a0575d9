"""`harness serve --engine sglang`: the argv SGLang gets (tool parser from the family, LoRA flags, cache
report), its refusal of an unknown family for a native suite, and the adapter registry against SGLang's
routes (/load_lora_adapter, `<base>:<adapter>`), with a stand-in `sglang` package on PYTHONPATH whose
`python -m sglang.launch_server` records its argv and serves SGLang's API contract."""
from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from harness.serve.launcher import LaunchSpec
from harness.serve.sglang import MODULE, SGLangUnavailable, sglang_command
from tests.harness.test_vllm_launcher import GPT2, QWEN25, _env_without_gpu_tools, model_dir, write_exe

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
FAKE_PKG = ROOT / "tests" / "fakes" / "sglang_pkg"


def test_command() -> None:
    cmd = sglang_command(LaunchSpec(model="/m", port=30001, max_loras=4, max_lora_rank=32, tool_call_parser="qwen25"),
                         prefix=["py", "-m", MODULE])
    assert cmd == ["py", "-m", "sglang.launch_server", "--model-path", "/m", "--enable-lora", "--max-lora-rank", "32",
                   "--max-loras-per-batch", "4", "--max-loaded-loras", "4", "--lora-target-modules", "all",
                   "--enable-cache-report", "--tool-call-parser", "qwen25", "--host", "127.0.0.1", "--port", "30001"]
    cmd = sglang_command(LaunchSpec(model="/m", lora_target_modules=("q_proj", "v_proj"), served_model_name="b"),
                         prefix=["x"])
    assert cmd[cmd.index("--lora-target-modules"):cmd.index("--enable-cache-report")] == [
        "--lora-target-modules", "q_proj", "v_proj"]
    assert "--tool-call-parser" not in cmd and cmd[-2:] == ["--served-model-name", "b"]
    assert cmd[cmd.index("--max-loaded-loras") + 1] == "3"          # the loop's working set
    with pytest.raises(SGLangUnavailable, match="at least --max-loras"):
        sglang_command(LaunchSpec(model="/m", max_loras=4, max_cpu_loras=2))
    with pytest.raises(SGLangUnavailable, match="repeat flags"):
        sglang_command(LaunchSpec(model="/m", extra=("--enable-cache-report",)))


def _env(tmp_path: Path) -> dict[str, str]:
    b = tmp_path / "bin"
    b.mkdir(exist_ok=True)
    write_exe(b / "nvidia-smi", "print('GPU 0: NVIDIA Fake GPU (UUID: GPU-00000000)')\n")
    env = _env_without_gpu_tools(b)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["PYTHONPATH"] = os.pathsep.join([str(FAKE_PKG), str(ROOT)])
    env["FAKE_ENGINE_ARGV"] = str(tmp_path / "argv.json")
    env["HARNESS_HOME"] = str(tmp_path / "home")
    return env


def test_without_sglang_or_with_unknown_family(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env["PYTHONPATH"] = str(ROOT)
    res = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "--engine", "sglang", "--model", "m"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "harness: error: SGLang is not installed" in res.stderr
    g = model_dir(tmp_path, "gpt2", GPT2)
    env = _env(tmp_path)
    res = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "--engine", "sglang", "--model", str(g),
                          "--suite", "roo-core-native"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and not (tmp_path / "argv.json").exists()
    assert "no tool-call parser is known" in res.stderr and "sglang's names include" in res.stderr


def test_cli_and_registry_against_sglang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.serve.adapters import adapter_model, list_adapters, load_adapter, unload_adapter

    q = model_dir(tmp_path, "qwen25", QWEN25)
    env = _env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "--engine", "sglang", "--model", str(q),
                             "--served-model-name", "base", "--port", "0", "--max-loras", "2",
                             "--suite", "roo-core-native"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(60), "no listening line within 60 s"
        url = proc.stdout.readline().split()[1]
        argv = json.loads((tmp_path / "argv.json").read_text())
        print("\nrecorded sglang argv (Qwen2.5 config): python -m sglang.launch_server", " ".join(argv))
        assert argv[:2] == ["--model-path", str(q)]
        assert argv[argv.index("--tool-call-parser") + 1] == "qwen25"
        for flag in ("--enable-lora", "--enable-cache-report"):
            assert flag in argv
        assert argv[argv.index("--max-loras-per-batch") + 1] == "2"
        assert argv[argv.index("--max-loaded-loras") + 1] == "3"
        assert argv[argv.index("--lora-target-modules") + 1] == "all"
        # the registry: SGLang's routes, <base>:<adapter> addressing; the engine from the server record
        monkeypatch.setenv("HARNESS_HOME", env["HARNESS_HOME"])
        ad = tmp_path / "ad"
        ad.mkdir()
        (ad / "adapter_config.json").write_text(json.dumps({"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}))
        (ad / "adapter_model.bin").write_bytes(b"\0")
        name = asyncio.run(load_adapter(url, ad, check=False))
        assert [a["id"] for a in asyncio.run(list_adapters(url))] == [name]
        model = asyncio.run(adapter_model(url, name))
        assert model == f"base:{name}"
        req = urllib.request.Request(url + "/chat/completions", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.loads(r.read())
        assert body["choices"][0]["message"]["content"] == f"answer from {name}"
        assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}      # --enable-cache-report
        asyncio.run(unload_adapter(url, name))
        assert asyncio.run(list_adapters(url)) == []
        with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/contract/requests", timeout=10) as r:
            routes = [x["route"] for x in json.loads(r.read())]
        assert routes == ["load", "unload"]
        # with the record gone, /v1/models' owned_by "sglang" still tells the engine
        for f in (tmp_path / "home" / "servers").glob("*.json"):
            f.unlink()
        assert asyncio.run(adapter_model(url, "x")) == "base:x"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        err = proc.stderr.read()
        assert "SGLang 0.0.0+sglang-contract ready" in err and "tool-call parser qwen25" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
