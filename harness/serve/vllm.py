"""`harness serve --engine vllm`: `vllm serve` set up for the suites the harness runs, supervised by
harness.serve.launcher (start, /health, the `listening` line, clean stop).

    cmd = vllm_command("models/qwen2.5", port=8000, max_lora_rank=16, max_loras=4, tool_call_parser="hermes")
    # ['vllm', 'serve', 'models/qwen2.5', '--enable-lora', '--max-lora-rank', '16', '--max-loras', '4',
    #  '--max-cpu-loras', '4', '--enable-prompt-tokens-details', '--generation-config', 'vllm',
    #  '--enable-auto-tool-choice', '--tool-call-parser', 'hermes', '--host', '127.0.0.1', '--port', '8000']
    # run with VLLM_ALLOW_RUNTIME_LORA_UPDATING=1 (the runtime load/unload routes)

Why each flag:
* `--enable-lora --max-lora-rank --max-loras` and the env var: the adapter registry hot-loads adapters;
  `--max-cpu-loras` holds the loop's working set (launcher.LOOP_WORKING_SET: the unloaded candidate keeps
  its slot until LRU, vllm#42633);
* `--enable-auto-tool-choice --tool-call-parser P` (P from the model's family, harness.serve.families):
  native suites send `tool_choice: "auto"`, which vLLM answers with HTTP 400 without them;
* `--enable-prompt-tokens-details`: otherwise `usage.prompt_tokens_details.cached_tokens` is never sent
  and prefix-cache hits read as 0;
* `--generation-config vllm`: otherwise a request without a temperature gets the model's
  generation_config.json sampling (Qwen2.5: 0.7 / top_p 0.8 / repetition 1.05), not greedy decoding.

The checks come first and fail with one clear `VLLMUnavailable` line: vLLM not installed, no NVIDIA GPU.
"""
from __future__ import annotations

import os
import shutil
import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

from harness.serve import launcher
from harness.serve.launcher import EngineServer, EngineUnavailable, LaunchSpec, free_port, visible_gpus

DEFAULT_MAX_LORA_RANK = 16     # vLLM's defaults
DEFAULT_MAX_LORAS = 1
RUNTIME_LORA_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"
_OWN_FLAGS = ("--enable-lora", "--max-lora-rank", "--max-loras", "--max-cpu-loras", "--host", "--port",
              "--served-model-name", "--enable-auto-tool-choice", "--tool-call-parser",
              "--enable-prompt-tokens-details", "--generation-config")


class VLLMUnavailable(EngineUnavailable):
    """vLLM cannot run here (not installed, no NVIDIA GPU) or did not start."""


def find_vllm(which: Callable[[str], str | None] = shutil.which,
              find_spec: Callable[[str], Any] = importlib.util.find_spec) -> list[str]:
    """The command prefix that runs the vLLM CLI: `vllm` on PATH, else `python -m vllm.entrypoints.cli.main`."""
    return launcher.find_cli("vllm", "vllm.entrypoints.cli.main", "vLLM", VLLMUnavailable,
                             "toolcall-harness[vllm]", which=which, find_spec=find_spec)


def check_gpu(which: Callable[[str], str | None] = shutil.which, runner: Any = None,
              torch_cuda: Callable[[], bool] | None = None) -> str:
    kw: dict[str, Any] = {"which": which, "engine": "vLLM", "error": VLLMUnavailable}
    if runner is not None:
        kw["runner"] = runner
    if torch_cuda is not None:
        kw["torch_cuda"] = torch_cuda
    return launcher.check_gpu(**kw)


def vllm_command(model: str, *, host: str = "127.0.0.1", port: int = 8000, max_lora_rank: int = DEFAULT_MAX_LORA_RANK,
                 max_loras: int = DEFAULT_MAX_LORAS, max_cpu_loras: int | None = None,
                 served_model_name: str | None = None, tool_call_parser: str | None = None,
                 extra: Sequence[str] = (), prefix: Sequence[str] = ("vllm",)) -> list[str]:
    """The `vllm serve` argv. `extra` goes last, unchanged; it may not repeat our flags."""
    return VLLM.command(LaunchSpec(model=model, host=host, port=port, max_lora_rank=max_lora_rank,
                                   max_loras=max_loras, max_cpu_loras=max_cpu_loras,
                                   served_model_name=served_model_name, tool_call_parser=tool_call_parser,
                                   extra=tuple(extra)), prefix)


def vllm_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env[RUNTIME_LORA_ENV] = "1"
    return env


class _VLLM:
    name = "vLLM"
    key = "vllm"
    health_path = "/health"
    version_path = "/version"          # vLLM's GET /version -> {"version": "0.x.y"}
    error = VLLMUnavailable

    def find(self) -> list[str]:
        return find_vllm()

    def command(self, spec: LaunchSpec, prefix: Sequence[str]) -> list[str]:
        from trainers.vllm_rules import VLLM_LORA_RANKS

        if spec.max_lora_rank not in VLLM_LORA_RANKS:
            raise VLLMUnavailable(f"--max-lora-rank {spec.max_lora_rank}: vLLM allows only "
                                  f"{', '.join(map(str, VLLM_LORA_RANKS))}")
        if spec.max_loras < 1:
            raise VLLMUnavailable(f"--max-loras {spec.max_loras}: must be at least 1")
        cpu = spec.cpu_loras()
        if cpu < spec.max_loras:
            raise VLLMUnavailable(f"--max-cpu-loras {cpu}: vLLM needs at least --max-loras ({spec.max_loras})")
        launcher.reject_own_flags("vLLM", _OWN_FLAGS, spec.extra, VLLMUnavailable)
        cmd = [*prefix, "serve", spec.model, "--enable-lora", "--max-lora-rank", str(spec.max_lora_rank),
               "--max-loras", str(spec.max_loras), "--max-cpu-loras", str(cpu),
               "--enable-prompt-tokens-details", "--generation-config", "vllm"]
        if spec.tool_call_parser:
            cmd += ["--enable-auto-tool-choice", "--tool-call-parser", spec.tool_call_parser]
        cmd += ["--host", spec.host, "--port", str(spec.port)]
        if spec.served_model_name:
            cmd += ["--served-model-name", spec.served_model_name]
        return cmd + list(spec.extra)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        return vllm_env(base)

    def env_note(self) -> str:
        return f"{RUNTIME_LORA_ENV}=1"


VLLM = _VLLM()


class VLLMServer(EngineServer):
    """A `vllm serve` subprocess in its own process group, with runtime LoRA updating allowed."""

    engine = "vLLM"
    error = VLLMUnavailable

    def __init__(self, cmd: Sequence[str], base_url: str, env: dict[str, str] | None = None,
                 stop_grace: float = 30.0, stdout: Any = None, stderr: Any = None):
        super().__init__(cmd, base_url, env=vllm_env(env), stop_grace=stop_grace, stdout=stdout, stderr=stderr)


def run_cli(*, model: str, host: str, port: int, max_lora_rank: int, max_loras: int, served_model_name: str | None,
            extra: Sequence[str], health_timeout: float, stop_grace: float, max_cpu_loras: int | None = None,
            tool_call_parser: str | None = None, parser_note: str = "", require_gpu: bool = True) -> int:
    """`harness serve --engine vllm` (the tool parser is chosen by the caller: harness.cli.serve)."""
    spec = LaunchSpec(model=model, host=host, port=port, max_lora_rank=max_lora_rank, max_loras=max_loras,
                      max_cpu_loras=max_cpu_loras, served_model_name=served_model_name,
                      tool_call_parser=tool_call_parser, extra=tuple(extra))
    VLLM.command(spec, ["vllm"])      # bad options fail before the GPU check
    return launcher.run_engine(VLLM, spec, health_timeout=health_timeout, stop_grace=stop_grace,
                               require_gpu=require_gpu, parser_note=parser_note)


__all__ = ["DEFAULT_MAX_LORAS", "DEFAULT_MAX_LORA_RANK", "RUNTIME_LORA_ENV", "VLLM", "VLLMServer", "VLLMUnavailable",
           "check_gpu", "find_vllm", "free_port", "run_cli", "vllm_command", "vllm_env", "visible_gpus"]
