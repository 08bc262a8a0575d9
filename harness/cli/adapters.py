"""`harness adapters`: check LoRA adapters against vLLM's rules and hot-load them into a running server.

    harness adapters check DIR [--max-lora-rank 16] [--base-model ID_OR_DIR]   # "ok" (0) or one line per problem (1)
    harness adapters load DIR --endpoint URL [--name NAME]    # prints the unique name it was loaded under
    harness adapters unload NAME --endpoint URL
    harness adapters list --endpoint URL [--json]             # NAME  PARENT  PATH

The endpoint is a vLLM server (started with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=1, e.g. by
`harness serve --engine vllm`) or the local engine; given with or without its /v1 suffix. Names are never
reused on an endpoint (see harness/serve/adapters.py); the check is trainers/vllm_rules.py. An API key, when the server wants one, is read
from the environment variable named by --api-key-env and sent only in the Authorization header.
"""
from __future__ import annotations

import argparse

from harness.cli.argtypes import model_ref, positive_int, refuse_key_option
import asyncio
import json
import os
import sys

HELP = "check LoRA adapters for vLLM and load/unload/list them on a server (vLLM's runtime LoRA API)"


def lora_rank(text: str) -> int:
    """argparse type of every LoRA rank option (--lora-r, --max-lora-rank): one of vLLM's ranks."""
    from trainers.vllm_rules import rank_problem
    v = positive_int(text)
    problem = rank_problem(v)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return v


def _endpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", required=True, metavar="URL", help="server URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="NAME",
                   help="environment variable holding the server's API key (default OPENAI_API_KEY; unset is fine)")
    refuse_key_option(p)
    p.add_argument("--timeout", type=float, default=300.0, metavar="S", help="seconds per request (default 300)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("adapters", help=HELP, description=HELP)
    ss = p.add_subparsers(dest="adapters_command", required=True, metavar="ACTION")

    c = ss.add_parser("check", help="say why vLLM would refuse an adapter directory (exit 1), or print ok")
    c.add_argument("dir", metavar="DIR", help="PEFT LoRA directory (adapter_config.json + adapter_model.safetensors)")
    c.add_argument("--max-lora-rank", type=lora_rank, default=16, metavar="R",
                   help="the server's --max-lora-rank (default 16, vLLM's default)")
    c.add_argument("--base-model", metavar="ID_OR_DIR", type=model_ref,
                   help="the served base model: its name must match the adapter's; a local directory also has "
                        "its weight shapes checked")
    c.set_defaults(func=run_check)

    ld = ss.add_parser("load", help="load an adapter under a unique name and verify it in /v1/models")
    ld.add_argument("dir", metavar="DIR", help="PEFT LoRA directory, readable by the server at the same path")
    ld.add_argument("--name", help="the name to serve it as (default <dirname>-<hash>-<n>); never a name used before")
    ld.add_argument("--max-lora-rank", type=lora_rank, default=512, metavar="R",
                    help="refuse adapters above this rank before sending (default 512: the server decides)")
    ld.add_argument("--base-model", metavar="ID_OR_DIR", type=model_ref, help="check the adapter against this base before loading")
    ld.add_argument("--no-check", action="store_true", help="skip the compatibility check")
    _endpoint(ld)
    ld.set_defaults(func=run_load)

    ul = ss.add_parser("unload", help="unload an adapter by name")
    ul.add_argument("name", metavar="NAME")
    _endpoint(ul)
    ul.set_defaults(func=run_unload)

    ls = ss.add_parser("list", help="adapters the server lists in /v1/models, with their parent model")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    _endpoint(ls)
    ls.set_defaults(func=run_list)


def _key(args: argparse.Namespace) -> str | None:
    return os.environ.get(args.api_key_env) or None


def run_check(args: argparse.Namespace) -> int:
    from trainers.vllm_rules import check_adapter

    problems = check_adapter(args.dir, max_lora_rank=args.max_lora_rank, base_model=args.base_model)
    if problems:
        for line in problems:
            print(line)
        return 1
    print("ok")
    return 0


def run_load(args: argparse.Namespace) -> int:
    from harness.serve.adapters import load_adapter

    name = asyncio.run(load_adapter(args.endpoint, args.dir, args.name, check=not args.no_check,
                                    max_lora_rank=args.max_lora_rank, base_model=args.base_model,
                                    api_key=_key(args), timeout=args.timeout))
    print(name)
    return 0


def run_unload(args: argparse.Namespace) -> int:
    from harness.serve.adapters import unload_adapter

    asyncio.run(unload_adapter(args.endpoint, args.name, api_key=_key(args), timeout=args.timeout))
    print(f"unloaded {args.name}", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from harness.serve.adapters import list_adapters

    for a in asyncio.run(list_adapters(args.endpoint, api_key=_key(args), timeout=args.timeout)):
        print(json.dumps(a) if args.json else f"{a['id']}\t{a['parent']}\t{a['root'] or ''}")
    return 0
