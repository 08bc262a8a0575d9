"""`harness serve`: the local engine (transformers + PEFT), or a supervised `vllm serve` / SGLang server,
all with a runtime LoRA API.

    harness serve --engine local --model DIR [--port 0] [--adapter-root DIR]...
    harness serve --engine vllm|sglang --model BASE [--max-lora-rank 16] [--max-loras 4] [--max-cpu-loras N]
        [--tool-call-parser NAME|none] [--suite S]... [-- EXTRA ENGINE ARGS]

vllm/sglang: the tool-call parser comes from the model's family (harness/serve/tool_parsers.json) unless
--tool-call-parser names one; a model of unknown family is refused when a --suite given is native (its
tool_choice "auto" needs a parser) and warned about otherwise.

Either way one line `listening http://HOST:PORT/v1` goes to stdout once the server answers; logs go to
stderr. SIGINT/SIGTERM stop it cleanly. Heavy imports (torch, transformers, peft) happen only when the
local engine starts.
"""
from __future__ import annotations

import argparse

from harness.errors import UserError
from harness.cli.adapters import lora_rank
from harness.cli.argtypes import model_ref, positive_int as _positive

HELP = "serve a model over an OpenAI-compatible API with runtime LoRA loading (local engine, vLLM or SGLang)"


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535 (0 = any free port), got {v}")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    from trainers.vllm_rules import VLLM_LORA_RANKS
    p = sub.add_parser("serve", help=HELP, description=HELP + ". Prints `listening http://HOST:PORT/v1` when "
                       "ready. Arguments after `--` go to the engine unchanged (--engine vllm|sglang).")
    p.add_argument("--engine", choices=("local", "vllm", "sglang"), default="local",
                   help="local: the embedded transformers+PEFT engine (CPU or GPU); vllm: start `vllm serve`; "
                        "sglang: start `python -m sglang.launch_server` (both: NVIDIA GPU)")
    p.add_argument("--model", required=True, metavar="DIR_OR_ID", type=model_ref,
                   help="model directory (local: a causal LM with a chat template), a registered model name (`harness models list`) or vLLM model ID")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 = any free port)")
    p.add_argument("--served-model-name", metavar="NAME",
                   help="the base model's id in the API (default: the directory name; vLLM: the model argument)")
    p.add_argument("--max-loras", type=_positive, metavar="N",
                   help="vllm: adapters in one batch (vLLM default 1); local: most adapters loaded at once "
                        "(default no limit)")
    p.add_argument("--max-lora-rank", type=lora_rank, metavar="R",
                   help="largest adapter rank accepted (vLLM default 16; local default no limit); one of "
                        + ", ".join(map(str, VLLM_LORA_RANKS)))
    loc = p.add_argument_group("local engine")
    loc.add_argument("--adapter-root", action="append", default=[], metavar="DIR", dest="adapter_roots",
                     help="directory adapters may be loaded from (repeatable; default: the current directory and "
                          "the model's parent directory)")
    loc.add_argument("--allow-any-adapter-path", action="store_true",
                     help="load adapters from any path the server can read (only on trusted networks)")
    loc.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    loc.add_argument("--dtype", default="auto",
                     help="auto (CPU: bfloat16 where a timed matmul runs it faster, else float32; CUDA: "
                          "bfloat16/float16), bfloat16, float32")
    loc.add_argument("--kv-cache-memory", default="1GiB", metavar="SIZE",
                     help="KV memory for running rows and the prefix cache, e.g. 512MiB, 4GiB (default 1GiB); "
                          "the rows generated together follow it")
    loc.add_argument("--quantize", choices=("int8",),
                     help="int8: dynamic int8 Linear layers on CPU (about 4x fewer bytes per decode step; "
                          "answers differ slightly from float32; no LoRA adapters)")
    loc.add_argument("--threads", type=_positive, metavar="N", help="torch CPU threads (default: cores - 1)")
    loc.add_argument("--max-batch-rows", type=_positive, default=64, metavar="N",
                     help="rows generated together (default 64)")
    loc.add_argument("--max-n", type=_positive, default=16, metavar="N", help="largest n per request (default 16)")
    loc.add_argument("--default-max-tokens", type=_positive, metavar="N",
                     help="max_tokens when a request gives none (default: the context left, like vLLM)")
    loc.add_argument("--batch-wait-ms", type=float, default=2.0, metavar="MS",
                     help="when idle, wait this long for requests sent together to start together (default 2)")
    vl = p.add_argument_group("vllm and sglang")
    vl.add_argument("--tool-call-parser", metavar="NAME",
                    help="the engine's tool-call parser (default: from the model's config.json family; "
                         "`none`: start without one, for XML/hermes suites)")
    vl.add_argument("--suite", action="append", default=[], metavar="S", dest="suites",
                    help="a suite this server will run (repeatable): a native one makes a missing tool-call "
                         "parser an error instead of a warning")
    vl.add_argument("--max-cpu-loras", type=_positive, metavar="N",
                    help="adapters kept loaded (vLLM --max-cpu-loras, SGLang --max-loaded-loras; default "
                         "max(--max-loras, 3): the loop's promoted adapter, candidate and last unloaded one)")
    vl.add_argument("--lora-target-modules", nargs="+", metavar="M",
                    help="sglang: modules adapters loaded later may target (default all)")
    vl.add_argument("--health-timeout", type=float, default=1800.0, metavar="S",
                    help="seconds to wait for the engine's /health (default 1800: downloads and compilation are slow)")
    vl.add_argument("--stop-grace", type=float, default=30.0, metavar="S",
                    help="seconds between SIGTERM and SIGKILL when stopping the engine (default 30)")
    p.add_argument("extra", nargs="*", metavar="-- VLLM_ARGS", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _parser_choice(args: argparse.Namespace) -> tuple[str | None, str]:
    """The tool parser for --engine vllm|sglang and the line that says why (or warns)."""
    from harness.serve.families import choose_tool_parser, suite_is_native

    native = []
    for s in args.suites:
        from harness.suite import load_suite
        if suite_is_native(load_suite(s)):
            native.append(s)
    choice = choose_tool_parser(args.engine, args.model, override=args.tool_call_parser, native=bool(native))
    if choice.parser is None:
        note = choice.source if choice.source.startswith("warning") else f"no tool-call parser ({choice.source})"
    else:
        note = f"tool-call parser {choice.parser} ({choice.source}" + (f", family {choice.family})" if choice.family
                                                                       else ")")
    return choice.parser, note


def _run_real(args: argparse.Namespace, extra: list[str]) -> int:
    parser, note = _parser_choice(args)
    if args.engine == "vllm":
        from harness.serve import vllm

        return vllm.run_cli(model=args.model, host=args.host, port=args.port,
                            max_lora_rank=args.max_lora_rank or vllm.DEFAULT_MAX_LORA_RANK,
                            max_loras=args.max_loras or vllm.DEFAULT_MAX_LORAS, max_cpu_loras=args.max_cpu_loras,
                            served_model_name=args.served_model_name, extra=extra, tool_call_parser=parser,
                            parser_note=note, health_timeout=args.health_timeout, stop_grace=args.stop_grace)
    from harness.serve import sglang
    from harness.serve.launcher import LaunchSpec

    spec = LaunchSpec(model=args.model, host=args.host, port=args.port, max_lora_rank=args.max_lora_rank or 16,
                      max_loras=args.max_loras or 1, max_cpu_loras=args.max_cpu_loras,
                      served_model_name=args.served_model_name, tool_call_parser=parser,
                      lora_target_modules=tuple(args.lora_target_modules or ()), extra=tuple(extra))
    return sglang.run_cli(spec, health_timeout=args.health_timeout, stop_grace=args.stop_grace, parser_note=note)


def run(args: argparse.Namespace) -> int:
    extra = [a for a in args.extra]
    if extra and extra[0] == "--":
        extra = extra[1:]
    if args.engine in ("vllm", "sglang"):
        return _run_real(args, extra)
    if args.tool_call_parser or args.suites or args.max_cpu_loras or args.lora_target_modules:
        raise UserError("--tool-call-parser, --suite, --max-cpu-loras and --lora-target-modules are for "
                        "--engine vllm|sglang; the local engine parses tool calls itself")
    if extra:
        raise UserError(f"extra arguments {' '.join(extra)!r} are for --engine vllm|sglang; the local engine "
                        "takes none")
    if args.batch_wait_ms < 0:
        raise UserError("--batch-wait-ms must be >= 0")
    from harness.serve.engine import EngineConfig, run as run_engine
    from harness.serve.engine.config import parse_size

    cfg = EngineConfig(model=args.model, served_model_name=args.served_model_name, host=args.host, port=args.port,
                       adapter_roots=list(args.adapter_roots), allow_any_adapter_path=args.allow_any_adapter_path,
                       max_loras=args.max_loras, max_lora_rank=args.max_lora_rank,
                       max_batch_rows=args.max_batch_rows, max_n=min(args.max_n, args.max_batch_rows),
                       default_max_tokens=args.default_max_tokens, device=args.device, dtype=args.dtype,
                       threads=args.threads, batch_wait_ms=args.batch_wait_ms,
                       kv_cache_memory=parse_size(args.kv_cache_memory), quantize=args.quantize)
    return run_engine(cfg)
