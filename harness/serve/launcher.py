"""What the real-server launchers share (`harness serve --engine vllm|sglang`): the settings, the GPU
check, the supervised process, and the CLI's start → health → `listening` line → supervise → stop.

An engine module (harness/serve/vllm.py, harness/serve/sglang.py) provides an `Engine`: its name, how to
find its CLI, the argv for a `LaunchSpec`, its environment, and its health and version routes. Everything
else is here, once:

    spec = LaunchSpec(model="models/qwen", port=0, max_loras=2, tool_call_parser="hermes")
    run_engine(VLLM, spec, health_timeout=1800, stop_grace=30)

Neither vLLM, SGLang nor torch is imported here: the engines run as subprocesses; torch is asked about
CUDA only when nvidia-smi is absent.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import UserError
from harness.serve.process import ExitedEarly, NotReady, ServerProcess, http_ok

# The loop's adapter working set on one server: the promoted adapter, the candidate under evaluation,
# and the previous candidate, which vLLM keeps in its CPU cache after unload until LRU evicts it
# (vllm#42633). --max-cpu-loras (SGLang: --max-loaded-loras) below this would evict the promoted one.
LOOP_WORKING_SET = 3


class EngineUnavailable(UserError):
    """A real serving engine cannot run here (not installed, no NVIDIA GPU) or did not start."""


@dataclass
class LaunchSpec:
    """What `harness serve` asks of a real engine; each engine maps it onto its own flags."""

    model: str
    host: str = "127.0.0.1"
    port: int = 8000
    max_lora_rank: int = 16
    max_loras: int = 1                      # adapters in one batch (GPU slots)
    max_cpu_loras: int | None = None        # adapters kept loaded (None: max(max_loras, LOOP_WORKING_SET))
    served_model_name: str | None = None
    tool_call_parser: str | None = None     # None: no parser (XML/hermes suites only)
    lora_target_modules: Sequence[str] = ()
    extra: Sequence[str] = field(default_factory=tuple)

    def cpu_loras(self) -> int:
        return self.max_cpu_loras if self.max_cpu_loras is not None else max(self.max_loras, LOOP_WORKING_SET)


class Engine(Protocol):
    name: str                 # "vLLM"
    key: str                  # "vllm" (tool_parsers.json's column, server records)
    health_path: str          # "/health"
    version_path: str         # "/version"
    error: type[EngineUnavailable]

    def find(self) -> list[str]: ...

    def command(self, spec: LaunchSpec, prefix: Sequence[str]) -> list[str]: ...

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]: ...

    def env_note(self) -> str: ...


def reject_own_flags(engine: str, own: Sequence[str], extra: Sequence[str], error: type[EngineUnavailable]) -> None:
    """Flags we set ourselves may not come again after `--`: the engines' parsers take the last one silently."""
    clash = [a for a in extra if a.split("=", 1)[0] in own]
    if clash:
        raise error(f"extra {engine} arguments {' '.join(clash)} repeat flags `harness serve` sets itself: "
                    "use harness's own options for them")


def find_cli(exe: str, module: str, engine: str, error: type[EngineUnavailable], extra: str,
             which: Callable[[str], str | None] = shutil.which,
             find_spec: Callable[[str], Any] = importlib.util.find_spec) -> list[str]:
    """`exe` on PATH, else `python -m <module>` when its top-level package is importable."""
    found = which(exe) if exe else None
    if found:
        return [found]
    try:
        spec = find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        return [sys.executable, "-m", module]
    how = f"no `{exe}` command on PATH, no `{module.split('.')[0]}` Python module" if exe else \
        f"no `{module.split('.')[0]}` Python module"
    raise error(f"{engine} is not installed ({how}): install it with `pip install '{extra}'` on a machine with "
                "an NVIDIA GPU, or use `--engine local`")


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
              torch_cuda: Callable[[], bool] = _torch_sees_cuda, engine: str = "vLLM",
              error: type[EngineUnavailable] = EngineUnavailable) -> str:
    """A description of the visible NVIDIA GPU(s); `error` when there is none."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        raise error(f"no NVIDIA GPU is visible: CUDA_VISIBLE_DEVICES hides every device; {engine}'s CUDA "
                    "build needs one (use `--engine local` on this machine)")
    gpus = visible_gpus(which, runner)
    if gpus:
        return gpus[0] + (f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else "")
    if gpus is None and torch_cuda():
        return "a CUDA device (torch.cuda.is_available())"
    how = "nvidia-smi lists no GPU" if gpus is not None else "nvidia-smi is not installed and torch sees no CUDA device"
    raise error(f"no NVIDIA GPU is visible ({how}): {engine}'s CUDA build needs one; use `--engine local` "
                "on this machine")


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class EngineServer(ServerProcess):
    """A real engine's server subprocess in its own process group (engines fork workers)."""

    engine = "the server"
    error: type[EngineUnavailable] = EngineUnavailable
    health_path = "/health"

    def __init__(self, cmd: Sequence[str], base_url: str, env: dict[str, str] | None = None,
                 stop_grace: float = 30.0, stdout: Any = None, stderr: Any = None):
        # the engine's logs never mix with our stdout line
        super().__init__(cmd, env=env, stdout=sys.stderr if stdout is None else stdout,
                         stderr=sys.stderr if stderr is None else stderr, stop_grace=stop_grace)
        self.base_url = base_url.rstrip("/")

    def start(self) -> EngineServer:
        try:
            super().start()
        except OSError as e:
            raise self.error(f"cannot start {self.cmd[0]}: {e.strerror or e}") from None
        return self

    def __enter__(self) -> EngineServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def healthy(self) -> bool:
        return http_ok(self.base_url + self.health_path)

    def wait_ready(self, timeout: float, progress: Callable[[float], None] | None = None,
                   interval: float = 0.5, progress_every: float = 15.0) -> float:
        """Poll the health route until 200; return the seconds it took. `error` if the process exits or
        `timeout` passes first."""
        url = self.base_url + self.health_path
        try:
            return self.wait_http(url, timeout, interval=interval, progress=progress,
                                  progress_every=progress_every, check=lambda u: self.healthy())
        except ExitedEarly as e:
            raise self.error(f"{self.engine} exited with status {e.returncode} before it was ready "
                             "(its log is above)") from None
        except NotReady:
            self.stop()
            raise self.error(f"{self.engine} did not answer {url} within {timeout:.0f} s; stopped it") from None


def fetch_version(base_url: str, path: str, timeout: float = 5.0) -> str | None:
    """The engine's version from its version route ({"version": ...}), None when it does not say."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + path, timeout=timeout) as r:
            data = json.loads(r.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None
    v = data.get("version") if isinstance(data, dict) else None
    return str(v) if v is not None else None


def run_engine(engine: Engine, spec: LaunchSpec, *, health_timeout: float, stop_grace: float,
               require_gpu: bool = True, parser_note: str = "") -> int:
    """`harness serve --engine E`: checks, start, wait for health, record the server (engine, version,
    command) for run.json, print the listening line, supervise until the engine exits or a signal."""
    from harness.serve.servers import forget_server, record_server

    prefix = engine.find()
    if require_gpu:
        gpu = check_gpu(engine=engine.name, error=engine.error)
        print(f"harness: {engine.name} on {gpu}", file=sys.stderr)
    if spec.port == 0:
        spec.port = free_port(spec.host if spec.host not in ("", "0.0.0.0", "::") else "127.0.0.1")
    cmd = engine.command(spec, prefix)
    if parser_note:
        print(f"harness: {parser_note}", file=sys.stderr)
    print("harness: " + " ".join(cmd) + f"  ({engine.env_note()})", file=sys.stderr, flush=True)
    base = f"http://{url_host(spec.host)}:{spec.port}"
    srv = EngineServer(cmd, base, env=engine.env(), stop_grace=stop_grace)
    srv.engine, srv.error, srv.health_path = engine.name, engine.error, engine.health_path
    stopping: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stopping.append(signum)
        srv.signal(signal.SIGTERM)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        srv.start()
        took = srv.wait_ready(health_timeout, progress=lambda s: print(
            f"harness: waiting for {engine.name} to answer {engine.health_path} ({s:.0f} s)", file=sys.stderr,
            flush=True))
        version = fetch_version(base, engine.version_path)
        print(f"harness: {engine.name} {version or '(version unknown)'} ready after {took:.0f} s", file=sys.stderr)
        record_server(base, {"engine": engine.key, "version": version, "command": cmd, "env": engine.env_note(),
                             "tool_call_parser": spec.tool_call_parser, "model": spec.model,
                             "started": time.time()})
        print(f"listening {base}/v1", flush=True)
        rc = srv.proc.wait() if srv.proc is not None else 0
        if stopping:
            return 0
        print(f"harness: {engine.name} exited with status {rc}", file=sys.stderr)
        return 1 if rc else 0
    except EngineUnavailable:
        if stopping:
            return 0
        raise
    finally:
        forget_server(base)
        srv.stop()
        for s, h in old.items():
            signal.signal(s, h)


__all__ = ["Engine", "EngineServer", "EngineUnavailable", "LOOP_WORKING_SET", "LaunchSpec", "check_gpu",
           "fetch_version", "find_cli", "free_port", "reject_own_flags", "run_engine", "url_host", "visible_gpus"]
