"""`harness demo`: the embedded default — a tiny model trained from scratch, served locally, improved by
the closed loop, compared with plain continued training. Two CPU cores, well under 15 minutes."""
from __future__ import annotations

import argparse

from harness.cli.argtypes import positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train a tiny model, serve it, run the closed loop, print before/after",
                       description=__doc__)
    p.add_argument("--out", default="demo", help="output folder (default: ./demo)")
    p.add_argument("--seed", type=int, default=0)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--base-steps", type=positive_int, metavar="N",
                        help="from-scratch training steps of the base model (default 600)")
    budget.add_argument("--base-minutes", type=positive_float, metavar="M",
                        help="a time budget for the base model instead (not reproducible)")
    p.add_argument("--rounds", type=positive_int, help="loop rounds (default 2)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt   # so the engine's finally-block stops it on SIGTERM as on Ctrl-C


def run(args: argparse.Namespace) -> int:
    import signal

    from rich.console import Console
    signal.signal(signal.SIGTERM, _terminate)

    from harness.loop.demo import DemoConfig, format_table, run_demo
    console = Console()
    cfg = DemoConfig(out=args.out, seed=args.seed, progress=not args.quiet)
    if args.base_steps is not None:
        cfg.base_steps = args.base_steps
    if args.base_minutes is not None:
        cfg.base_minutes = args.base_minutes
    if args.rounds is not None:
        cfg.rounds = args.rounds
    result = run_demo(cfg, say=(lambda s: None) if args.quiet else console.print)
    console.print(format_table(result), highlight=False)
    console.print(f"wrote {args.out}/demo.json")
    return 0
