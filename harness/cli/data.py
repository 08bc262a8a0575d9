"""`harness data export`: a run's failures (plus a replay share of its passes) as SFT JSONL.

    harness data export --from-run runs/r1 --out sft.jsonl [--replay 0.2] [--seed 0]
                        [--max-length 1024 --tokenizer models/tiny] [--tools-format json|axolotl|list]

The file is OpenAI messages JSONL (docs/training.md): TRL, Axolotl and LLaMA-Factory read it as is.
Nothing heavy is imported unless --max-length needs a tokenizer.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any
from harness.cli.argtypes import fraction as _share, positive_int as _positive_int

HELP = "turn a run's failures into a chat fine-tuning set (OpenAI messages JSONL)"


def register(sub: Any) -> None:
    p = sub.add_parser("data", help="training data: export a run's failures as a fine-tuning set",
                       description="training data commands")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    e = dsub.add_parser("export", help=HELP, description=HELP)
    e.add_argument("--from-run", required=True, metavar="RUN", dest="run", help="a run directory (harness eval/score)")
    e.add_argument("--out", required=True, metavar="SFT.jsonl", help="the JSONL file to write")
    e.add_argument("--replay", type=_share, default=0.0, metavar="R",
                   help="share of the output drawn from cases that passed (0..1, default 0)")
    e.add_argument("--seed", type=int, default=0, help="seed of the replay draw and order (default 0)")
    e.add_argument("--max-length", type=_positive_int, metavar="N",
                   help="cut examples longer than N tokens from the left (oldest turns first), or skip them")
    e.add_argument("--tokenizer", metavar="DIR", help="the model folder whose tokenizer and chat template count "
                                                       "tokens (needed with --max-length)")
    e.add_argument("--suite", metavar="FILE", help="the run's suite file, when it is no longer where run.json says")
    e.add_argument("--tools-format", choices=("json", "axolotl", "list"), default="json",
                   help="how the tools column is written: json (a JSON string; TRL, LLaMA-Factory; default), "
                        "axolotl (a list whose parameters are JSON strings), list (plain objects)")
    e.add_argument("--with-meta", action="store_true", help="add a meta column (case id, failure/replay)")
    e.add_argument("--quiet", "-q", action="store_true")
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainers import data

    from harness.errors import UserError
    from harness.loop.data import export_run
    if args.max_length and not args.tokenizer:
        raise UserError("--max-length counts tokens with a model's tokenizer and chat template; add --tokenizer DIR")
    if args.tokenizer and not args.max_length:
        raise UserError("--tokenizer is only used with --max-length N")
    examples, st = export_run(args.run, replay=args.replay, seed=args.seed, suite=args.suite)
    if args.max_length:
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise UserError("--max-length needs transformers (pip install 'toolcall-harness[train]')") from None
        try:
            tok = AutoTokenizer.from_pretrained(args.tokenizer)
        except (OSError, ValueError) as e:
            raise UserError(f"--tokenizer {args.tokenizer}: cannot load a tokenizer there: "
                            f"{str(e).splitlines()[0]}") from None
        if not getattr(tok, "chat_template", None):
            raise UserError(f"--tokenizer {args.tokenizer}: the tokenizer has no chat template")
        examples, st = data.fit_to_length(examples, tok, args.max_length, st)
    if not examples:
        raise UserError(f"{args.run}: nothing to export: {st.failed_cases} failed train-split cases "
                        f"({st.failed_results} failed results, {st.skipped_test} test-split cases never used"
                        f"{f', {st.dropped_too_long} longer than --max-length' if st.dropped_too_long else ''})")
    n = data.write_jsonl(examples, args.out, tools_format=args.tools_format, with_meta=args.with_meta)
    for w in st.warnings:
        print(f"harness: warning: {w}", file=sys.stderr)
    if not args.quiet:
        fails = sum(1 for e in examples if (e.get("meta") or {}).get("kind") == "failure")
        print(f"wrote {n} examples to {args.out}: {fails} failed cases ({st.failed_results} failed results), "
              f"{st.replay} replayed passes; skipped {st.skipped_test} test-split, "
              f"{st.skipped_no_reference} without reference; {st.truncated} cut from the left"
              f"{f' ({st.system_dropped} without their system prompt)' if st.system_dropped else ''}, "
              f"{st.dropped_too_long} too long to keep; {st.errors} endpoint errors ignored")
    return 0
