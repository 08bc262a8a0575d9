"""`harness train-base`: train a small model from scratch on a suite's train split (tokenizer included).

    harness train-base --suite roo-starter --preset tiny --out models/tiny [--minutes 5 | --max-steps N]
                       [--seed 0] [--system-prompt compact|full] [--eval]

The result is an ordinary model folder (config, safetensors, tokenizer with chat template,
training.json, trainer_log.jsonl) that transformers, PEFT, `harness train` and the local engine load.
It is saved at the end and on Ctrl-C (exit 130).
"""
from __future__ import annotations

import argparse
import json
from typing import Any
from harness.cli.argtypes import fraction as _unit, positive_float as _pos_float, positive_int as _pos_int

HELP = "train a small base model from scratch on a suite's train split (byte-level BPE tokenizer included)"


def register(sub: Any) -> None:
    from trainers.scratch import PRESETS
    p = sub.add_parser("train-base", help=HELP, description=HELP)
    p.add_argument("--suite", required=True, metavar="S", help="a shipped suite name or a suite file")
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                   help="model size (default tiny, ~1M parameters)")
    p.add_argument("--out", required=True, metavar="DIR", help="the model folder to write")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=_pos_float, metavar="M",
                        help="time budget; the schedule follows the clock (default 5)")
    budget.add_argument("--max-steps", type=_pos_int, metavar="N", help="exact number of steps (reproducible)")
    p.add_argument("--seed", type=int, default=0, help="seed of tokenizer data order, weights and batches (default 0)")
    p.add_argument("--system-prompt", default="compact", metavar="STYLE",
                   help="the system prompt trained with: compact (default), full or file:PATH")
    p.add_argument("--batch-size", type=_pos_int, default=32, metavar="N", help="examples per step (default 32)")
    p.add_argument("--lr", type=_pos_float, default=2e-3, metavar="LR", help="peak learning rate (default 2e-3)")
    p.add_argument("--prompt-free", type=_unit, default=0.5, metavar="F",
                   help="share of the steps trained without the system prompt, at the start (default 0.5)")
    p.add_argument("--augment", type=_unit, default=0.0, metavar="P",
                   help="probability that an example is shown with fresh values for the words its target copies "
                        "(default 0)")
    p.add_argument("--no-share-prefix", action="store_true",
                   help="run every sequence in full instead of reusing the batch's shared prefix (slower, same loss)")
    p.add_argument("--threads", type=_pos_int, metavar="N",
                   help="CPU threads for torch (default: with --minutes, whichever of 1 and all is faster as "
                        "the load changes; with --max-steps, the faster on a probe step, kept)")
    p.add_argument("--eval", action="store_true",
                   help="then greedy-generate the suite's test split and print the held-out pass rate")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainers.scratch import TrainBaseConfig, train_base

    from harness.suite import load_suite
    suite = load_suite(args.suite)
    cfg = TrainBaseConfig(suite=suite, out=args.out, preset=args.preset, minutes=args.minutes,
                          max_steps=args.max_steps, seed=args.seed, system_prompt=args.system_prompt,
                          batch_size=args.batch_size, lr=args.lr, prompt_free=args.prompt_free, augment=args.augment,
                          share_prefix=not args.no_share_prefix, threads=args.threads,
                          progress=False if args.quiet else None)
    try:
        res = train_base(cfg)
    except KeyboardInterrupt:
        print(f"harness: interrupted; the model so far is saved in {args.out}")
        raise
    loss = f"{res.final_loss:.4f}" if res.final_loss is not None else "n/a"
    params = res.info.get("architecture", {}).get("parameters")
    print(f"trained {args.preset} ({params:,} parameters) for {res.steps} steps in {res.wall_s:.0f}s, "
          f"loss {loss} -> {res.out}")
    if args.eval:
        from harness.eval.local import evaluate_model
        test = suite.split("test")
        if not test:
            print(f"suite {suite.name!r} has no test split to evaluate")
            return 0
        rep = evaluate_model(res.out, test, system_style=args.system_prompt, threads=res.info.get("threads"))
        by_tool = ", ".join(f"{k} {v['pass_rate']:.0%}" for k, v in rep["by_tool"].items())
        print(f"held-out pass rate {rep['pass_rate']:.1%} ({rep['passed']}/{rep['n']}) in {rep['wall_s']:.0f}s: "
              f"{by_tool}")
        (res.out / "eval.json").write_text(json.dumps(rep, indent=2) + "\n")
    return 0
