"""`harness serve --engine sglang`: SGLang's server (`python -m sglang.launch_server`) set up like the vLLM
launcher, behind the same `Engine` interface (harness.serve.launcher supervises both).

    cmd = sglang_command(LaunchSpec(model="models/qwen2.5", port=30000, max_loras=4, tool_call_parser="qwen25"))
    # [python, '-m', 'sglang.launch_server', '--model-path', 'models/qwen2.5', '--enable-lora',
    #  '--max-lora-rank', '16', '--max-loras-per-batch', '4', '--max-loaded-loras', '4',
    #  '--lora-target-modules', 'all', '--enable-cache-report', '--tool-call-parser', 'qwen25',
    #  '--host', '127.0.0.1', '--port', '30000']

SGLang's equivalents of vLLM's flags: `--max-loras-per-batch` (GPU slots; SGLang's default is 8, we pass
--max-loras), `--max-loaded-loras` (CPU, ≥ per batch: the loop's working set), `--max-lora-rank` and
`--lora-target-modules` (SGLang infers both from `--lora-paths` at startup; adapters loaded later need
them given: `all` unless --lora-target-modules narrows it), `--enable-cache-report` (cached tokens in
`usage.prompt_tokens_details`), `--tool-call-parser` (parser names differ from vLLM's: qwen25, llama3,
…; SGLang has no `--enable-auto-tool-choice`). Greedy decoding without a temperature needs no flag:
the runner sends temperature 0 itself. Runtime LoRA routes are `/load_lora_adapter` and
`/unload_lora_adapter` (no /v1 prefix, no environment switch); adapters are addressed as
`"model": "<base>:<adapter>"` (harness.serve.adapters handles both engines).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from harness.serve import launcher
from harness.serve.launcher import EngineUnavailable, LaunchSpec

MODULE = "sglang.launch_server"
_OWN_FLAGS = ("--model-path", "--enable-lora", "--max-lora-rank", "--max-loras-per-batch", "--max-loaded-loras",
              "--lora-target-modules", "--enable-cache-report", "--tool-call-parser", "--host", "--port",
              "--served-model-name")


class SGLangUnavailable(EngineUnavailable):
    """SGLang cannot run here (not installed, no NVIDIA GPU) or did not start."""


class _SGLang:
    name = "SGLang"
    key = "sglang"
    health_path = "/health"
    version_path = "/get_server_info"   # its JSON carries "version"
    error = SGLangUnavailable

    def find(self) -> list[str]:
        # `python -m sglang.launch_server` in this interpreter (the documented entry point; an `sglang`
        # executable on PATH may belong to another environment)
        return launcher.find_cli("", MODULE, "SGLang", SGLangUnavailable, "sglang[all]")

    def command(self, spec: LaunchSpec, prefix: Sequence[str]) -> list[str]:
        if spec.max_loras < 1:
            raise SGLangUnavailable(f"--max-loras {spec.max_loras}: must be at least 1")
        cpu = spec.cpu_loras()
        if cpu < spec.max_loras:
            raise SGLangUnavailable(f"--max-cpu-loras {cpu}: SGLang's --max-loaded-loras must be at least "
                                    f"--max-loras ({spec.max_loras})")
        launcher.reject_own_flags("SGLang", _OWN_FLAGS, spec.extra, SGLangUnavailable)
        cmd = [*prefix, "--model-path", spec.model, "--enable-lora", "--max-lora-rank", str(spec.max_lora_rank),
               "--max-loras-per-batch", str(spec.max_loras), "--max-loaded-loras", str(cpu),
               "--lora-target-modules", *(list(spec.lora_target_modules) or ["all"]), "--enable-cache-report"]
        if spec.tool_call_parser:
            cmd += ["--tool-call-parser", spec.tool_call_parser]
        cmd += ["--host", spec.host, "--port", str(spec.port)]
        if spec.served_model_name:
            cmd += ["--served-model-name", spec.served_model_name]
        return cmd + list(spec.extra)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        return dict(os.environ if base is None else base)

    def env_note(self) -> str:
        return "runtime LoRA routes /load_lora_adapter, /unload_lora_adapter"


SGLANG = _SGLang()


def sglang_command(spec: LaunchSpec, prefix: Sequence[str] = (sys.executable, "-m", MODULE)) -> list[str]:
    return SGLANG.command(spec, prefix)


def run_cli(spec: LaunchSpec, *, health_timeout: float, stop_grace: float, parser_note: str = "",
            require_gpu: bool = True) -> int:
    """`harness serve --engine sglang` (the tool parser is chosen by the caller: harness.cli.serve)."""
    SGLANG.command(spec, ["sglang"])      # bad options fail before the GPU check
    return launcher.run_engine(SGLANG, spec, health_timeout=health_timeout, stop_grace=stop_grace,
                               require_gpu=require_gpu, parser_note=parser_note)


__all__ = ["MODULE", "SGLANG", "SGLangUnavailable", "run_cli", "sglang_command"]
