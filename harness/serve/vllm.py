"""`harness serve --engine vllm`: start `vllm serve` with runtime LoRA loading, wait until it is healthy,
stop it cleanly.

    cmd = vllm_command("Qwen/Qwen2.5-0.5B-Instruct", host="127.0.0.1", port=8000, max_lora_rank=16, max_loras=4)
    # ['vllm', 'serve', 'Qwen/Qwen2.5-0.5B-Instruct', '--enable-lora', '--max-lora-rank', '16',
    #  '--max-loras', '4', '--host', '127.0.0.1', '--port', '8000']
    with VLLMServer(cmd, base_url="http://127.0.0.1:8000") as srv:   # env VLLM_ALLOW_RUNTIME_LORA_UPDATING=1
        srv.wait_ready(timeout=1800)      # polls GET /health; raises if the process exits first
        ...
    # leaving the block: SIGTERM to vLLM's process group, SIGKILL after the grace period

The checks come first and fail with one clear `VLLMUnavailable` line: vLLM not installed (no `vllm` on
PATH and no importable `vllm` module), no NVIDIA GPU visible (`nvidia-smi -L` lists none, or it is
missing and torch — when installed — sees no CUDA device). Neither vllm nor torch is imported here:
the vLLM CLI runs as a subprocess, torch is asked only when nvidia-smi is absent.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from harness.serve.process import ExitedEarly, NotReady, ServerProcess, http_ok
from harness.errors import UserError

DEFAULT_MAX_LORA_RANK = 16     # vLLM's defaults
DEFAULT_MAX_LORAS = 1
RUNTIME_LORA_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"
# Flags we set ourselves; giving them again after `--` would make vLLM's parser take the last one silently.
_OWN_FLAGS = ("--enable-lora", "--max-lora-rank", "--max-loras", "--host", "--port", "--served-model-name")


class VLLMUnavailable(UserError):
    """vLLM cannot run here (not installed, no NVIDIA GPU) or did not start."""


def find_vllm(which: Callable[[str], str | None] = shutil.which,
              find_spec: Callable[[str], Any] = importlib.util.find_spec) -> list[str]:
    """The command prefix that runs the vLLM CLI: `vllm` on PATH, else `python -m vllm.entrypoints.cli.main`."""
    exe = which("vllm")
    if exe:
        return [exe]
    try:
        spec = find_spec("vllm")
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        return [sys.executable, "-m", "vllm.entrypoints.cli.main"]
    raise VLLMUnavailable("vLLM is not installed (no `vllm` command on PATH, no `vllm` Python module): install it "
                          "with `pip install 'toolcall-harness[vllm]'` on a machine with an NVIDIA GPU, or use "
                          "`--engine local`")


def visible_gpus(which: Callable[[str], str | None] = shutil.which,
                 runner: Callable[..., Any] = subprocess.run) -> list[str] | None:
    """`nvidia-smi -L` lines naming a GPU; None when nvidia-smi is missing or fails to run."""
    exe = which("nvidia-smi")
    if not exe:
        return None
    try:
        out = runner([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return []
    return [line for line in out.stdout.splitlines() if line.startswith("GPU ")]


def _torch_sees_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch  # lazily: only when nvidia-smi could not answer

    return bool(torch.cuda.is_available())


def check_gpu(which: Callable[[str], str | None] = shutil.which, runner: Callable[..., Any] = subprocess.run,
              torch_cuda: Callable[[], bool] = _torch_sees_cuda) -> str:
    """A description of the visible NVIDIA GPU(s); VLLMUnavailable when there is none."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        raise VLLMUnavailable("no NVIDIA GPU is visible: CUDA_VISIBLE_DEVICES hides every device; vLLM's CUDA "
                              "build needs one (use `--engine local` on this machine)")
    gpus = visible_gpus(which, runner)
    if gpus:
        return gpus[0] + (f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else "")
    if gpus is None and torch_cuda():
        return "a CUDA device (torch.cuda.is_available())"
    how = "nvidia-smi lists no GPU" if gpus is not None else "nvidia-smi is not installed and torch sees no CUDA device"
    raise VLLMUnavailable(f"no NVIDIA GPU is visible ({how}): vLLM's CUDA build needs one; use `--engine local` "
                          "on this machine")


def vllm_command(model: str, *, host: str = "127.0.0.1", port: int = 8000, max_lora_rank: int = DEFAULT_MAX_LORA_RANK,
                 max_loras: int = DEFAULT_MAX_LORAS, served_model_name: str | None = None,
                 extra: Sequence[str] = (), prefix: Sequence[str] = ("vllm",)) -> list[str]:
    """The `vllm serve` argv with LoRA enabled. `extra` goes last, unchanged; it may not repeat our flags."""
    from trainers.vllm_rules import VLLM_LORA_RANKS

    if max_lora_rank not in VLLM_LORA_RANKS:
        raise VLLMUnavailable(f"--max-lora-rank {max_lora_rank}: vLLM allows only "
                              f"{', '.join(map(str, VLLM_LORA_RANKS))}")
    if max_loras < 1:
        raise VLLMUnavailable(f"--max-loras {max_loras}: must be at least 1")
    clash = [a for a in extra if a.split("=", 1)[0] in _OWN_FLAGS]
    if clash:
        raise VLLMUnavailable(f"extra vLLM arguments {' '.join(clash)} repeat flags `harness serve` sets itself: "
                              "use harness's own options for them")
    cmd = [*prefix, "serve", model, "--enable-lora", "--max-lora-rank", str(max_lora_rank),
           "--max-loras", str(max_loras), "--host", host, "--port", str(port)]
    if served_model_name:
        cmd += ["--served-model-name", served_model_name]
    return cmd + list(extra)


def vllm_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env[RUNTIME_LORA_ENV] = "1"
    return env


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class VLLMServer(ServerProcess):
    """A `vllm serve` subprocess in its own process group (vLLM forks engine workers)."""

    def __init__(self, cmd: Sequence[str], base_url: str, env: dict[str, str] | None = None,
                 stop_grace: float = 30.0, stdout: Any = None, stderr: Any = None):
        # vLLM's logs never mix with our stdout line
        super().__init__(cmd, env=vllm_env(env), stdout=sys.stderr if stdout is None else stdout,
                         stderr=sys.stderr if stderr is None else stderr, stop_grace=stop_grace)
        self.base_url = base_url.rstrip("/")

    def start(self) -> VLLMServer:
        try:
            super().start()
        except OSError as e:
            raise VLLMUnavailable(f"cannot start {self.cmd[0]}: {e.strerror or e}") from None
        return self

    def __enter__(self) -> VLLMServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def healthy(self) -> bool:
        return http_ok(self.base_url + "/health")

    def wait_ready(self, timeout: float, progress: Callable[[float], None] | None = None,
                   interval: float = 0.5, progress_every: float = 15.0) -> float:
        """Poll /health until 200; return the seconds it took. VLLMUnavailable if the process exits or
        `timeout` passes first."""
        try:
            return self.wait_http(self.base_url + "/health", timeout, interval=interval, progress=progress,
                                  progress_every=progress_every, check=lambda url: self.healthy())
        except ExitedEarly as e:
            raise VLLMUnavailable(f"vLLM exited with status {e.returncode} before it was ready (its log is above)") \
                from None
        except NotReady:
            self.stop()
            raise VLLMUnavailable(f"vLLM did not answer {self.base_url}/health within {timeout:.0f} s; stopped it") \
                from None


def run_cli(*, model: str, host: str, port: int, max_lora_rank: int, max_loras: int, served_model_name: str | None,
            extra: Sequence[str], health_timeout: float, stop_grace: float, require_gpu: bool = True) -> int:
    """`harness serve --engine vllm`: checks, start, wait for health, print the listening line, supervise."""
    prefix = find_vllm()
    if require_gpu:
        gpu = check_gpu()
        print(f"harness: vLLM on {gpu}", file=sys.stderr)
    if port == 0:
        port = free_port(host if host not in ("", "0.0.0.0", "::") else "127.0.0.1")
    cmd = vllm_command(model, host=host, port=port, max_lora_rank=max_lora_rank, max_loras=max_loras,
                       served_model_name=served_model_name, extra=extra, prefix=prefix)
    print("harness: " + " ".join(cmd) + f"  ({RUNTIME_LORA_ENV}=1)", file=sys.stderr, flush=True)
    base = f"http://{_url_host(host)}:{port}"
    srv = VLLMServer(cmd, base, stop_grace=stop_grace)
    stopping: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stopping.append(signum)
        srv.signal(signal.SIGTERM)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        srv.start()
        took = srv.wait_ready(health_timeout, progress=lambda s: print(
            f"harness: waiting for vLLM to answer /health ({s:.0f} s)", file=sys.stderr, flush=True))
        print(f"harness: vLLM ready after {took:.0f} s", file=sys.stderr)
        print(f"listening {base}/v1", flush=True)
        rc = srv.proc.wait() if srv.proc is not None else 0
        if stopping:
            return 0
        print(f"harness: vLLM exited with status {rc}", file=sys.stderr)
        return 1 if rc else 0
    except VLLMUnavailable:
        if stopping:
            return 0
        raise
    finally:
        srv.stop()
        for s, h in old.items():
            signal.signal(s, h)


__all__ = ["DEFAULT_MAX_LORAS", "DEFAULT_MAX_LORA_RANK", "RUNTIME_LORA_ENV", "VLLMServer", "VLLMUnavailable",
           "check_gpu", "find_vllm", "free_port", "run_cli", "vllm_command", "vllm_env", "visible_gpus"]
