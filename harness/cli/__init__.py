"""`harness` command line. Each subcommand lives in harness/cli/<name>.py with `register(sub)`.

Registration modules import only argparse-level code; their heavy work is imported when they run,
so `harness parse/score/eval` never pull in torch, transformers or gradio.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from harness import __version__
from harness.errors import UserError

COMMANDS = ["parse", "suites", "protocols", "import_bfcl", "score", "eval", "compare", "merge", "report", "leaderboard",
            "serve", "models", "adapters", "data", "train", "train_base", "loop", "demo", "ui"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Test, fine-tune and train language models on tool-call protocols.")
    parser.add_argument("--version", action="version", version=f"toolcall-harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"harness.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"harness.cli.{name}":
                continue  # a command still being built; the others work
            raise
        mod.register(sub)
    _no_abbreviations(parser)
    return parser


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """Refuse abbreviated options everywhere: `--api-key sk-…` must not be taken for `--api-key-env`
    (a secret written into run.json as a variable name)."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _no_abbreviations(child)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `harness parse ... | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
