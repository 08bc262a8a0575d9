"""`harness serve --engine vllm`: command construction, clear errors without vLLM or a GPU, and the
supervision (start, wait for /health, SIGTERM forwarding, clean stop) with a fake `vllm` on PATH that is
our vLLM contract server (tests/fakes/vllm_contract_server.py accepts `vllm serve`'s arguments)."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import selectors
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.serve.vllm import (RUNTIME_LORA_ENV, VLLMServer, VLLMUnavailable, check_gpu, find_vllm, free_port,
                                  vllm_command)

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
ADAPTER_CONFIG = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}


def test_command_construction() -> None:
    assert vllm_command("Qwen/Qwen2.5-0.5B-Instruct", host="127.0.0.1", port=8001, max_lora_rank=32, max_loras=4,
                        tool_call_parser="hermes") == [
        "vllm", "serve", "Qwen/Qwen2.5-0.5B-Instruct", "--enable-lora", "--max-lora-rank", "32", "--max-loras", "4",
        "--max-cpu-loras", "4", "--enable-prompt-tokens-details", "--generation-config", "vllm",
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--host", "127.0.0.1", "--port", "8001"]
    cmd = vllm_command("/m", served_model_name="base", extra=["--gpu-memory-utilization", "0.8"],
                       prefix=["/usr/bin/python3", "-m", "vllm.entrypoints.cli.main"])
    assert cmd == ["/usr/bin/python3", "-m", "vllm.entrypoints.cli.main", "serve", "/m", "--enable-lora",
                   "--max-lora-rank", "16", "--max-loras", "1",        # vLLM's defaults
                   "--max-cpu-loras", "3",                             # the loop's working set
                   "--enable-prompt-tokens-details", "--generation-config", "vllm",   # no parser: none asked
                   "--host", "127.0.0.1", "--port", "8000",
                   "--served-model-name", "base", "--gpu-memory-utilization", "0.8"]
    assert vllm_command("/m", max_loras=2, max_cpu_loras=8)[8:10] == ["--max-cpu-loras", "8"]
    with pytest.raises(VLLMUnavailable, match="at least --max-loras"):
        vllm_command("/m", max_loras=4, max_cpu_loras=2)
    with pytest.raises(VLLMUnavailable, match="repeat flags"):
        vllm_command("/m", extra=["--tool-call-parser=hermes"])
    with pytest.raises(VLLMUnavailable, match="allows only 1, 8, 16, 32, 64, 128, 256, 320, 512"):
        vllm_command("/m", max_lora_rank=24)
    with pytest.raises(VLLMUnavailable, match="repeat flags"):
        vllm_command("/m", extra=["--port=9000"])
    with pytest.raises(VLLMUnavailable, match="repeat flags"):
        vllm_command("/m", extra=["--enable-lora"])


def test_find_vllm() -> None:
    assert find_vllm(which=lambda name: "/opt/bin/vllm", find_spec=lambda name: None) == ["/opt/bin/vllm"]
    assert find_vllm(which=lambda name: None, find_spec=lambda name: object()) == [
        sys.executable, "-m", "vllm.entrypoints.cli.main"]
    with pytest.raises(VLLMUnavailable, match=r"vLLM is not installed .*toolcall-harness\[vllm\].*--engine local"):
        find_vllm(which=lambda name: None, find_spec=lambda name: None)


class FakeRun:
    def __init__(self, rc: int, out: str):
        self.rc, self.out, self.calls = rc, out, 0

    def __call__(self, cmd: list[str], **kw: Any) -> Any:
        self.calls += 1
        assert cmd[1:] == ["-L"] and kw.get("timeout")
        return subprocess.CompletedProcess(cmd, self.rc, self.out, "")


def test_gpu_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    smi = lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else None  # noqa: E731
    one = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)\n"
    assert check_gpu(which=smi, runner=FakeRun(0, one), torch_cuda=lambda: False).startswith("GPU 0: NVIDIA H100")
    assert check_gpu(which=smi, runner=FakeRun(0, one + one.replace("GPU 0", "GPU 1")),
                     torch_cuda=lambda: False).endswith("(+1 more)")
    with pytest.raises(VLLMUnavailable, match="no NVIDIA GPU is visible \\(nvidia-smi lists no GPU\\)"):
        check_gpu(which=smi, runner=FakeRun(9, "NVIDIA-SMI has failed"), torch_cuda=lambda: True)
    with pytest.raises(VLLMUnavailable, match="nvidia-smi is not installed and torch sees no CUDA device"):
        check_gpu(which=lambda name: None, torch_cuda=lambda: False)
    assert "CUDA device" in check_gpu(which=lambda name: None, torch_cuda=lambda: True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(VLLMUnavailable, match="CUDA_VISIBLE_DEVICES hides every device"):
        check_gpu(which=smi, runner=FakeRun(0, one), torch_cuda=lambda: True)


# ------------------------------------------------------------------------------------- a fake vllm on PATH


def write_exe(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture()
def fake_bin(tmp_path: Path) -> Path:
    b = tmp_path / "bin"
    b.mkdir()
    write_exe(b / "vllm", f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                          "from tests.fakes.vllm_contract_server import main\nsys.exit(main(sys.argv[1:]))\n")
    write_exe(b / "nvidia-smi", "print('GPU 0: NVIDIA Fake GPU (UUID: GPU-00000000)')\n")
    return b


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_server_lifecycle_with_fake_vllm(fake_bin: Path, tmp_path: Path) -> None:
    port = free_port()
    cmd = vllm_command("/models/base", port=port, max_loras=2, served_model_name="base",
                       prefix=[str(fake_bin / "vllm")])
    log = open(tmp_path / "vllm.log", "w")
    env = {k: v for k, v in os.environ.items() if k != RUNTIME_LORA_ENV}
    srv = VLLMServer(cmd, f"http://127.0.0.1:{port}", env=env, stop_grace=10, stdout=log, stderr=log)
    assert srv.env[RUNTIME_LORA_ENV] == "1"
    notes: list[float] = []
    with srv:
        took = srv.wait_ready(30, progress=notes.append, progress_every=0.0)
        assert took < 30
        status, body = get(f"http://127.0.0.1:{port}/v1/models")
        assert status == 200 and json.loads(body)["data"][0]["id"] == "base"
        adapter = tmp_path / "ad"
        adapter.mkdir()
        (adapter / "adapter_config.json").write_text(json.dumps(ADAPTER_CONFIG))
        (adapter / "adapter_model.bin").write_bytes(b"\0")
        # the runtime LoRA routes exist only because the launcher set VLLM_ALLOW_RUNTIME_LORA_UPDATING=1
        assert post(f"http://127.0.0.1:{port}/v1/load_lora_adapter", {"lora_name": "a", "lora_path": str(adapter)}) \
            == (200, "Success: LoRA adapter 'a' added successfully.")
        pid = srv.proc.pid
    assert srv.proc.returncode == 0                   # SIGTERM: a clean exit
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)                             # nothing of its process group is left
    log.close()


def test_wait_ready_fails_fast_when_vllm_dies_or_hangs(tmp_path: Path) -> None:
    dies = write_exe(tmp_path / "dies",
                     "import sys; print('CUDA error: no kernel image', file=sys.stderr); sys.exit(3)\n")
    srv = VLLMServer([str(dies)], f"http://127.0.0.1:{free_port()}", stderr=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL).start()
    t0 = time.monotonic()
    with pytest.raises(VLLMUnavailable, match="vLLM exited with status 3 before it was ready"):
        srv.wait_ready(60)
    assert time.monotonic() - t0 < 30
    hangs = write_exe(tmp_path / "hangs", "import time\nwhile True: time.sleep(1)\n")
    srv = VLLMServer([str(hangs)], f"http://127.0.0.1:{free_port()}", stop_grace=5, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL).start()
    with pytest.raises(VLLMUnavailable, match="did not answer .*/health within 1 s; stopped it"):
        srv.wait_ready(1.0, interval=0.2)
    assert srv.proc.poll() is not None
    # a child that ignores SIGTERM is killed after the grace period
    stubborn = write_exe(tmp_path / "stubborn", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                                "print('up', flush=True)\nwhile True: time.sleep(1)\n")
    srv = VLLMServer([str(stubborn)], "http://127.0.0.1:1", stop_grace=1, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL).start()
    assert srv.proc.stdout.readline() == b"up\n"
    assert srv.stop() == -signal.SIGKILL


def _env_without_gpu_tools(extra_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    dirs = [d for d in env.get("PATH", "").split(os.pathsep) if d and not any(
        (Path(d) / t).exists() for t in ("vllm", "nvidia-smi"))]
    env["PATH"] = os.pathsep.join(([str(extra_path)] if extra_path else []) + dirs)
    return env


def test_cli_errors_without_vllm_or_gpu(tmp_path: Path) -> None:
    if importlib.util.find_spec("vllm") is None:
        res = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "--engine", "vllm", "--model", "m"],
                             cwd=ROOT, env=_env_without_gpu_tools(), capture_output=True, text=True, timeout=60)
        assert res.returncode == 2 and res.stdout == ""
        assert res.stderr.strip().splitlines()[-1].startswith("harness: error: vLLM is not installed")
    # vllm present (a fake one), but no GPU visible
    b = tmp_path / "bin"
    b.mkdir()
    write_exe(b / "vllm", "import sys; sys.exit(0)\n")
    env = _env_without_gpu_tools(b)
    env["CUDA_VISIBLE_DEVICES"] = ""
    res = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "--engine", "vllm", "--model", "m"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "harness: error: no NVIDIA GPU is visible" in res.stderr
    res = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "--engine", "vllm", "--model", "m",
                          "--max-lora-rank", "12"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "vLLM allows only" in res.stderr


def test_cli_supervises_vllm_and_forwards_sigterm(fake_bin: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`harness serve --engine vllm` end to end with the fake vllm and nvidia-smi on PATH: the listening line,
    the runtime LoRA API through the registry, SIGTERM forwarded, exit 0, nothing left listening."""
    from harness.serve.adapters import list_adapters, load_adapter

    env = _env_without_gpu_tools(fake_bin)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["HARNESS_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "--engine", "vllm", "--model",
                             "/models/base", "--port", "0", "--max-loras", "2", "--", "--max-model-len", "2048"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(60), "no listening line within 60 s"
        line = proc.stdout.readline()
        assert line.startswith("listening http://127.0.0.1:") and line.rstrip().endswith("/v1"), line
        url = line.split()[1]
        status, body = get(url + "/models")
        assert status == 200 and json.loads(body)["data"][0]["max_model_len"] == 2048    # the extra args arrived
        adapter = tmp_path / "ad"
        adapter.mkdir()
        (adapter / "adapter_config.json").write_text(json.dumps(ADAPTER_CONFIG))
        (adapter / "adapter_model.bin").write_bytes(b"\0")
        monkeypatch.setenv("HARNESS_HOME", env["HARNESS_HOME"])
        name = asyncio.run(load_adapter(url, adapter, check=False))
        assert [a["id"] for a in asyncio.run(list_adapters(url))] == [name]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        err = proc.stderr.read()
        assert "--enable-lora" in err and "VLLM_ALLOW_RUNTIME_LORA_UPDATING=1" in err and "NVIDIA Fake GPU" in err
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url + "/models", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------- the tool parser, from the model's family

QWEN25 = {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": 151936}
LLAMA31 = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 128256,
           "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}
SMOLLM2 = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 49152}
GPT2 = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}


def model_dir(tmp_path: Path, name: str, config: dict[str, Any]) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(config))
    return d


def test_parser_table_and_choice(tmp_path: Path) -> None:
    from harness.serve.families import ToolParserUnknown, choose_tool_parser, parser_table
    q, ll, smol, gpt2 = (model_dir(tmp_path, n, c) for n, c in
                         (("qwen", QWEN25), ("llama", LLAMA31), ("smol", SMOLLM2), ("gpt2", GPT2)))
    assert choose_tool_parser("vllm", str(q), override=None, native=True).parser == "hermes"
    assert choose_tool_parser("sglang", str(q), override=None, native=True).parser == "qwen25"
    assert choose_tool_parser("vllm", str(ll), override=None, native=True).parser == "llama3_json"
    assert choose_tool_parser("sglang", str(ll), override=None, native=True).parser == "llama3"
    # SmolLM2 shares model_type llama but is not Llama 3 (vocab_size): no parser, as for gpt2
    for d in (smol, gpt2):
        with pytest.raises(ToolParserUnknown, match="no tool-call parser is known.*--tool-call-parser NAME"):
            choose_tool_parser("vllm", str(d), override=None, native=True)
        c = choose_tool_parser("vllm", str(d), override=None, native=False)
        assert c.parser is None and c.source.startswith("warning")
    assert choose_tool_parser("vllm", str(gpt2), override="pythonic", native=True).parser == "pythonic"
    assert choose_tool_parser("vllm", str(q), override="none", native=True).parser is None
    # a hub id (no local config.json) is unknown too
    with pytest.raises(ToolParserUnknown, match="no config.json"):
        choose_tool_parser("vllm", "Qwen/Qwen2.5-0.5B-Instruct", override=None, native=True)
    rows = parser_table("vllm")
    print("\nparser table (family | model types | vllm | sglang):")
    for (fam, types, v), (_, _, sg) in zip(rows, parser_table("sglang")):
        print(f"  {fam} | {types} | {v} | {sg}")
    assert ("qwen2.5", "qwen2, qwen2_moe", "hermes") in rows


def test_parser_names_are_the_engines_own() -> None:
    """Every name in tool_parsers.json is a key of vLLM's parser registry / SGLang's ToolCallParserEnum
    (the lists below were read from vllm/tool_parsers/__init__.py and sglang's function_call_parser.py)."""
    from harness.serve.families import families
    vllm_names = {"deepseek_v3", "deepseek_v31", "glm45", "granite", "granite-20b-fc", "hermes", "internlm", "jamba",
                  "kimi_k2", "llama3_json", "llama4_json", "llama4_pythonic", "mistral", "openai", "phi4_mini_json",
                  "pythonic", "qwen3_coder", "minimax", "olmo3", "hunyuan_a13b", "longcat"}
    sglang_names = {"deepseekv3", "deepseekv31", "glm", "glm45", "gpt-oss", "kimi_k2", "llama3", "mistral",
                    "pythonic", "qwen", "qwen25", "qwen3_coder", "step3"}
    for f in families():
        assert f["vllm"] in vllm_names, f
        assert f["sglang"] is None or f["sglang"] in sglang_names, f


def recording_vllm(b: Path, serve: bool) -> Path:
    """A fake `vllm` that writes its argv to $FAKE_ENGINE_ARGV, then serves vLLM's contract (serve=True)
    or exits 0 at once (the argv is all a test needs)."""
    body = ("import json, os, sys\n"
            "open(os.environ['FAKE_ENGINE_ARGV'], 'w').write(json.dumps(sys.argv[1:]))\n")
    if serve:
        body += (f"sys.path.insert(0, {str(ROOT)!r})\n"
                 "from tests.fakes.vllm_contract_server import main\nsys.exit(main(sys.argv[1:]))\n")
    return write_exe(b / "vllm", body)


def _serve_once(tmp_path: Path, model: Path | str, *args: str) -> tuple[subprocess.CompletedProcess, list[str] | None]:
    b = tmp_path / "bin"
    b.mkdir(exist_ok=True)
    recording_vllm(b, serve=False)
    write_exe(b / "nvidia-smi", "print('GPU 0: NVIDIA Fake GPU (UUID: GPU-00000000)')\n")
    env = _env_without_gpu_tools(b)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    argv_file = tmp_path / "argv.json"
    argv_file.unlink(missing_ok=True)
    env["FAKE_ENGINE_ARGV"] = str(argv_file)
    env["HARNESS_HOME"] = str(tmp_path / "home")
    res = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "--engine", "vllm", "--model", str(model),
                          "--port", "0", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return res, (json.loads(argv_file.read_text()) if argv_file.exists() else None)


def test_cli_llama3_gets_llama3_json_and_unknown_family_is_refused(tmp_path: Path) -> None:
    ll = model_dir(tmp_path, "llama31", LLAMA31)
    res, argv = _serve_once(tmp_path, ll, "--suite", "roo-core-native")
    assert argv is not None, res.stderr
    print("\nrecorded vllm argv (Llama 3.1 config):", " ".join(argv))
    i = argv.index("--tool-call-parser")
    assert argv[i + 1] == "llama3_json" and "--enable-auto-tool-choice" in argv
    assert "tool-call parser llama3_json (config.json model_type llama, family llama3)" in res.stderr
    # an unknown family with a native suite: one clear error line, vLLM never started
    g = model_dir(tmp_path, "gpt2", GPT2)
    res, argv = _serve_once(tmp_path, g, "--suite", "roo-core-native")
    assert res.returncode == 2 and argv is None and res.stdout == ""
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("harness: error: --model ") and "no tool-call parser is known" in last, last
    assert "model_type 'gpt2'" in last and "--tool-call-parser NAME" in last
    # the same model for an XML suite: a warning, and vLLM starts without a parser
    res, argv = _serve_once(tmp_path, g, "--suite", "roo-starter")
    assert argv is not None and "--tool-call-parser" not in argv and "--enable-auto-tool-choice" not in argv
    assert "harness: warning: --model" in res.stderr
    # --tool-call-parser overrides the table
    res, argv = _serve_once(tmp_path, g, "--suite", "roo-core-native", "--tool-call-parser", "pythonic")
    assert argv is not None and argv[argv.index("--tool-call-parser") + 1] == "pythonic"


def test_cli_qwen_serves_with_every_flag_and_runs_record_the_server(tmp_path: Path) -> None:
    """`harness serve --engine vllm --model <Qwen2.5 config>` with a recording fake vllm serving vLLM's
    contract: the tool parser, --enable-auto-tool-choice, --enable-prompt-tokens-details and
    --generation-config vllm reach vLLM; the server record (version from GET /version, the full command)
    is what `harness eval` writes into run.json."""
    q = model_dir(tmp_path, "qwen25", QWEN25)
    b = tmp_path / "bin"
    b.mkdir()
    recording_vllm(b, serve=True)
    write_exe(b / "nvidia-smi", "print('GPU 0: NVIDIA Fake GPU (UUID: GPU-00000000)')\n")
    env = _env_without_gpu_tools(b)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["FAKE_ENGINE_ARGV"] = str(tmp_path / "argv.json")
    env["HARNESS_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "--engine", "vllm", "--model", str(q),
                             "--served-model-name", "base", "--port", "0", "--max-loras", "2",
                             "--suite", "roo-core-native"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(60), "no listening line within 60 s"
        url = proc.stdout.readline().split()[1]
        argv = json.loads((tmp_path / "argv.json").read_text())
        print("\nrecorded vllm argv (Qwen2.5 config):", "vllm", " ".join(argv))
        assert argv[:2] == ["serve", str(q)]
        for flag in ("--enable-auto-tool-choice", "--enable-prompt-tokens-details", "--enable-lora"):
            assert flag in argv
        assert argv[argv.index("--tool-call-parser") + 1] == "hermes"
        assert argv[argv.index("--generation-config") + 1] == "vllm"
        assert argv[argv.index("--max-cpu-loras") + 1] == "3"
        out = tmp_path / "run"
        ev = subprocess.run([sys.executable, "-m", "harness.cli", "eval", "--suite", "roo-starter", "--endpoint", url,
                             "--model", "base", "--out", str(out), "--no-cache", "--quiet"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert (out / "run.json").is_file(), ev.stderr
        server = json.loads((out / "run.json").read_text())["server"]
        assert server["engine"] == "vllm" and server["version"] == "0.0.0+contract"
        assert server["command"][1:] == argv and server["tool_call_parser"] == "hermes"
        assert server["env"] == "VLLM_ALLOW_RUNTIME_LORA_UPDATING=1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not list((tmp_path / "home" / "servers").glob("*.json"))    # the record goes with the server


def test_server_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record is found for its host:port however the endpoint is spelled, and ignored once its process
    is gone (a later server may reuse the port)."""
    from harness.serve.servers import forget_server, record_server, served_by, server_record
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    record_server("http://127.0.0.1:8123", {"engine": "vllm", "version": "0.33.0", "command": ["vllm", "serve", "m"]})
    rec = served_by(["http://localhost:8123/v1"])
    assert rec is not None and rec["engine"] == "vllm" and rec["command"] == ["vllm", "serve", "m"] and "pid" not in rec
    assert served_by(["http://127.0.0.1:8124/v1"]) is None
    assert served_by(["http://127.0.0.1:8123/v1", "http://127.0.0.1:8124/v1"]) == [rec, None]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record_server("http://127.0.0.1:8125", {"engine": "sglang", "pid": int(dead.stdout)})
    assert server_record("http://127.0.0.1:8125") is None
    forget_server("http://127.0.0.1:8123")
    assert served_by(["http://127.0.0.1:8123/v1"]) is None
