"""Adapter compatibility checks (vLLM's rules) and the adapter registry against a vLLM contract server.

Adapters are made here with PEFT directly on tiny models the tests build; the registry talks to
tests/fakes/vllm_contract_server.py, which answers vLLM's runtime LoRA routes as vLLM does.
"""
from __future__ import annotations

import asyncio
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.serve.adapters import AdapterError, list_adapters, load_adapter, registry_names, unload_adapter
from trainers.vllm_rules import VLLM_LORA_RANKS
from trainers.vllm_rules import check_adapter, read_safetensors_header
from tests.fakes.vllm_contract_server import ContractServer
from tests.fakes.lora import make_lora

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [f"<read_file><path>src/file_{i}.py</path></read_file> call tool {i}" for i in range(50)]


def run(coro: Any, timeout: float = 60.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from trainers.scratch import PRESETS, Preset, build_tiny_model

    tmp = tmp_path_factory.mktemp("adapters")
    base = build_tiny_model(tmp / "base", TEXTS, preset="test")
    wider = Preset(**{**PRESETS["test"].__dict__, "hidden_size": 48, "intermediate_size": 96})
    other = build_tiny_model(tmp / "other", TEXTS, preset=wider)
    return {"tmp": tmp, "base": base, "other": other, "good": make_lora(base, tmp / "good")}


def copy_with_config(src: Path, dst: Path, **changes: Any) -> Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "adapter_config.json").read_text())
    cfg.update(changes)
    (dst / "adapter_config.json").write_text(json.dumps(cfg))
    return dst


# ---------------------------------------------------------------------------------------------- check


def test_good_adapter_is_ok(models: dict[str, Path]) -> None:
    assert check_adapter(models["good"]) == []
    assert check_adapter(models["good"], max_lora_rank=8, base_model=str(models["base"])) == []
    header = read_safetensors_header(models["good"] / "adapter_model.safetensors")
    assert any(k.endswith("q_proj.lora_A.weight") for k in header)


def test_allowed_rank_set_is_vllms() -> None:
    assert VLLM_LORA_RANKS == (1, 8, 16, 32, 64, 128, 256, 320, 512)


def test_modules_to_save_and_dora_refused(models: dict[str, Path]) -> None:
    tmp = models["tmp"]
    mts = copy_with_config(models["good"], tmp / "mts", modules_to_save=["lm_head"])
    assert any("vLLM only supports modules_to_save being None." in p for p in check_adapter(mts))
    dora = make_lora(models["base"], tmp / "dora", use_dora=True)
    problems = check_adapter(dora)
    assert any("use_dora is true: vLLM does not yet support DoRA." in p for p in problems)
    assert any("DoRA magnitude tensors" in p and "lora_magnitude_vector" in p for p in problems)


def test_rank_limit_and_allowed_set(models: dict[str, Path]) -> None:
    r32 = make_lora(models["base"], models["tmp"] / "r32", r=32)
    assert check_adapter(r32, max_lora_rank=32) == []
    problems = check_adapter(r32, max_lora_rank=16)
    assert any("LoRA rank 32 is greater than max_lora_rank 16." in p for p in problems), problems
    assert any("max_lora_rank 12 is not one of vLLM's allowed values" in p
               for p in check_adapter(models["good"], max_lora_rank=12))


def test_unsupported_targets_refused(models: dict[str, Path]) -> None:
    lm_head = make_lora(models["base"], models["tmp"] / "lmhead", target_modules=["q_proj", "lm_head"])
    problems = check_adapter(lm_head)
    assert any("'lm_head'" in p and "linear projections only" in p for p in problems), problems
    norm = copy_with_config(models["good"], models["tmp"] / "norm",
                            target_modules=["q_proj", "v_proj", "input_layernorm"])
    assert any("'input_layernorm' is not a LoRA-capable linear layer" in p for p in check_adapter(norm))
    assert any("input_layernorm" in p and "no tensors" in p for p in check_adapter(norm))


def test_base_model_mismatch(models: dict[str, Path]) -> None:
    good = models["good"]
    problems = check_adapter(good, base_model="Qwen/Qwen2.5-0.5B-Instruct")
    assert len(problems) == 1 and "base model mismatch" in problems[0]
    problems = check_adapter(good, base_model=str(models["other"]))
    assert any("base model mismatch" in p for p in problems)
    assert any("do not fit the base weights" in p for p in problems)        # shapes of another base
    # the name check alone can be skipped (the local engine): the shapes still catch the wrong base
    assert all("mismatch" not in p for p in check_adapter(good, base_model=str(models["other"]), check_base_name=False))
    assert check_adapter(good, base_model=str(models["base"]), check_base_name=False) == []


def test_missing_and_corrupt_files(models: dict[str, Path], tmp_path: Path) -> None:
    assert any("adapter_config.json: missing" in p for p in check_adapter(tmp_path))
    assert any("not a directory" in p for p in check_adapter(tmp_path / "nope"))
    bad_json = shutil.copytree(models["good"], tmp_path / "badjson")
    (bad_json / "adapter_config.json").write_text('{"r": 8,\n "lora_alpha": }')
    assert any(":2: invalid JSON" in p for p in check_adapter(bad_json))
    no_weights = shutil.copytree(models["good"], tmp_path / "noweights")
    (no_weights / "adapter_model.safetensors").unlink()
    assert any("no adapter weights" in p for p in check_adapter(no_weights))
    truncated = shutil.copytree(models["good"], tmp_path / "truncated")
    w = truncated / "adapter_model.safetensors"
    w.write_bytes(w.read_bytes()[:-100])
    assert any("corrupt: truncated" in p for p in check_adapter(truncated))
    garbage = shutil.copytree(models["good"], tmp_path / "garbage")
    (garbage / "adapter_model.safetensors").write_bytes(b"\xff" * 64)
    assert any("corrupt" in p for p in check_adapter(garbage))
    missing_fields = copy_with_config(models["good"], tmp_path / "nofields", r=None)
    assert any("r is None" in p for p in check_adapter(missing_fields))
    pattern = copy_with_config(models["good"], tmp_path / "pattern", rank_pattern={"q_proj": 4})
    assert any("rank_pattern is set" in p for p in check_adapter(pattern))
    rank_lie = copy_with_config(models["good"], tmp_path / "ranklie", r=4)
    assert any("rank differs from r=4" in p and "rank 8" in p for p in check_adapter(rank_lie))
    prefix = copy_with_config(models["good"], tmp_path / "prefix", peft_type="PREFIX_TUNING")
    assert any("peft_type is 'PREFIX_TUNING'" in p for p in check_adapter(prefix))


def test_check_cli(models: dict[str, Path]) -> None:
    ok = subprocess.run([sys.executable, "-m", "harness.cli", "adapters", "check", str(models["good"])],
                        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.strip() == "ok", ok.stderr
    bad = copy_with_config(models["good"], models["tmp"] / "clibad", modules_to_save=["lm_head"], use_dora=True)
    res = subprocess.run([sys.executable, "-m", "harness.cli", "adapters", "check", str(bad), "--base-model",
                          str(models["other"])], cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = res.stdout.strip().splitlines()
    assert res.returncode == 1
    assert any("modules_to_save" in ln for ln in lines) and any("DoRA" in ln for ln in lines)
    assert any("base model mismatch" in ln for ln in lines)
    assert "ok" not in lines
    # the check never needs torch: it must run where only the core is installed
    code = ("import sys; from trainers.vllm_rules import check_adapter; check_adapter(sys.argv[1]); "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(models["good"])], cwd=ROOT, check=True, timeout=60)


# ---------------------------------------------------------------------------------------------- registry


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_registry_load_list_unload(models: dict[str, Path], home: Path) -> None:
    async def scenario() -> dict[str, Any]:
        async with ContractServer(model="/models/base", served_model_name="base", runtime_lora=True) as srv:
            name1 = await load_adapter(srv.url, models["good"])
            name2 = await load_adapter(srv.url, models["good"])             # same content: a new name
            listed = await list_adapters(srv.url)
            await unload_adapter(srv.url, name1)
            with pytest.raises(AdapterError, match="HTTP 404: The lora adapter .* cannot be found"):
                await unload_adapter(srv.url, name1)
            after = await list_adapters(srv.url)
            return {"names": (name1, name2), "listed": listed, "after": after, "log": list(srv.requests)}

    out = run(scenario())
    name1, name2 = out["names"]
    digest_stem = f"good-"
    assert name1.startswith(digest_stem) and name1.endswith("-1") and name2.endswith("-2")
    assert name1[:-2] == name2[:-2] and len(name1.split("-")[1]) == 8
    assert {a["id"] for a in out["listed"]} == {name1, name2}
    assert all(a["parent"] == "base" and a["root"] == str(models["good"].resolve()) for a in out["listed"])
    assert [a["id"] for a in out["after"]] == [name2]
    loads = [r for r in out["log"] if r["route"] == "load"]
    assert len(loads) == 2 and all("load_inplace" not in r for r in loads)      # never load_inplace
    assert all(r["lora_path"] == str(models["good"].resolve()) for r in loads)
    saved = json.loads((home / "adapters.json").read_text())
    assert set(next(iter(saved["endpoints"].values()))["names"]) == {name1, name2}


def test_registry_never_reuses_a_name(models: dict[str, Path], home: Path) -> None:
    async def scenario() -> None:
        async with ContractServer(model="base", runtime_lora=True) as srv:
            assert await load_adapter(srv.url, models["good"], "cand-v1") == "cand-v1"
            await unload_adapter(srv.url, "cand-v1")
            with pytest.raises(AdapterError, match="already used"):
                await load_adapter(srv.url, models["good"], "cand-v1")
            with pytest.raises(AdapterError, match="letters, digits"):
                await load_adapter(srv.url, models["good"], "../escape")
            # a name the server already serves (loaded by someone else) is skipped by the auto-namer
            other = models["good"].name + "-" + registry_names(srv.url)["cand-v1"]["hash"][:8] + "-1"
            srv.loras[other] = {"path": "/elsewhere"}
            assert (await load_adapter(srv.url, models["good"])).endswith("-2")

    run(scenario())


def test_registry_reports_vllm_refusals(models: dict[str, Path], home: Path, tmp_path: Path) -> None:
    r32 = make_lora(models["base"], tmp_path / "r32", r=32)
    dora = copy_with_config(models["good"], tmp_path / "doracfg", use_dora=True)
    not_adapter = tmp_path / "plain"
    not_adapter.mkdir()

    async def scenario() -> None:
        async with ContractServer(model="base", runtime_lora=True, max_lora_rank=16) as srv:
            # checked locally first: refused before any request
            with pytest.raises(AdapterError, match="DoRA"):
                await load_adapter(srv.url, dora)
            assert srv.requests == []
            # unchecked: the server's 400 and its text come back
            with pytest.raises(AdapterError, match=r"HTTP 400: LoRA rank 32 is greater than max_lora_rank 16\."):
                await load_adapter(srv.url, r32, check=False)
            with pytest.raises(AdapterError, match=r"HTTP 404: Loading lora .* failed: No adapter found for"):
                await load_adapter(srv.url, not_adapter, check=False)
            with pytest.raises(AdapterError, match="no such adapter directory"):
                await load_adapter(srv.url, tmp_path / "missing")
            assert await list_adapters(srv.url) == []
        async with ContractServer(model="base", runtime_lora=False) as srv:
            with pytest.raises(AdapterError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING"):
                await load_adapter(srv.url, models["good"])
        with pytest.raises(AdapterError, match="ClientConnectorError|Connect"):
            await list_adapters(srv.url)                                   # the server is gone

    run(scenario())


def _spawn_contract(*args: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.vllm_contract_server", "serve", *args, "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sel.select(deadline - time.monotonic()):
        line = proc.stdout.readline()
        if line.startswith("listening "):
            return proc, line.split()[1]
        if not line:
            break
    proc.kill()
    raise AssertionError("the contract server did not start")


def test_adapters_cli_against_contract_server(models: dict[str, Path], home: Path) -> None:
    env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "HARNESS_HOME": str(home)}
    proc, url = _spawn_contract("/models/base", "--enable-lora", "--served-model-name", "base", env=env)
    try:
        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "harness.cli", "adapters", *args, "--endpoint", url],
                                  cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)

        load = cli("load", str(models["good"]))
        assert load.returncode == 0, load.stderr
        name = load.stdout.strip()
        listing = cli("list")
        assert listing.returncode == 0 and listing.stdout.splitlines() == [
            f"{name}\tbase\t{models['good'].resolve()}"]
        assert cli("load", str(models["good"]), "--name", name).returncode == 1     # never reused
        assert cli("unload", name).returncode == 0
        again = cli("unload", name)
        assert again.returncode == 1 and "404" in again.stderr and "cannot be found" in again.stderr
        assert cli("list").stdout == ""
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
