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
    assert vllm_command("Qwen/Qwen2.5-0.5B-Instruct", host="127.0.0.1", port=8001, max_lora_rank=32, max_loras=4) == [
        "vllm", "serve", "Qwen/Qwen2.5-0.5B-Instruct", "--enable-lora", "--max-lora-rank", "32", "--max-loras", "4",
        "--host", "127.0.0.1", "--port", "8001"]
    cmd = vllm_command("/m", served_model_name="base", extra=["--gpu-memory-utilization", "0.8", "--max-cpu-loras=8"],
                       prefix=["/usr/bin/python3", "-m", "vllm.entrypoints.cli.main"])
    assert cmd == ["/usr/bin/python3", "-m", "vllm.entrypoints.cli.main", "serve", "/m", "--enable-lora",
                   "--max-lora-rank", "16", "--max-loras", "1",        # vLLM's defaults
                   "--host", "127.0.0.1", "--port", "8000",
                   "--served-model-name", "base", "--gpu-memory-utilization", "0.8", "--max-cpu-loras=8"]
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
