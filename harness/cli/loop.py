"""`harness loop`: eval → train on failures → hot-load → held-out eval → promote or keep, for N rounds."""
from __future__ import annotations

import argparse

from harness.cli.argtypes import model_ref, refuse_key_option


def add_train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training (each round)")
    g.add_argument("--backend", choices=["peft", "unsloth"], default="peft")
    g.add_argument("--lora-r", type=int, default=16)
    g.add_argument("--lora-alpha", type=int)
    g.add_argument("--lora-dropout", type=float, default=0.0)
    g.add_argument("--target-modules", nargs="+")
    g.add_argument("--lr", type=float)
    steps = g.add_mutually_exclusive_group()
    steps.add_argument("--epochs", type=float)
    steps.add_argument("--max-steps", type=int)
    g.add_argument("--batch-size", type=int, default=8)
    g.add_argument("--max-lora-rank", type=int, default=64, help="the endpoint's --max-lora-rank")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loop", help="closed loop: train adapters on failures, keep them only if held-out improves",
                       description=__doc__)
    p.add_argument("--endpoint", required=True, help="OpenAI base URL of a server with the runtime LoRA API")
    p.add_argument("--base-model", required=True, type=model_ref,
                   help="directory (or registered model name) of the model the endpoint serves")
    p.add_argument("--suite", required=True)
    p.add_argument("--model", help="the base model's name at the endpoint (default: from /v1/models)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--samples", type=int, default=1)
    p.add_argument("--system-prompt", choices=["full", "compact"], default="full")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--replay", type=float, default=0.3, help="share of passed train cases replayed")
    p.add_argument("--fresh", type=int, default=0,
                   help="fresh generated train cases per round, weighted by failure rate (suites with a generator)")
    p.add_argument("--train-sample", type=int, metavar="N",
                   help="evaluate a seeded sample of N train cases per round instead of the whole train split")
    p.add_argument("--probe", type=int, default=0, metavar="N",
                   help="also evaluate N unseen generated cases per round; their failures train and steer --fresh "
                        "(suites with a generator)")
    p.add_argument("--lr-decay", type=float, default=1.0, metavar="F",
                   help="round i trains at --lr × F^(i-1) (default 1: the same rate every round)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the regression test")
    p.add_argument("--gate-cases", type=int, default=4, metavar="N",
                   help="after each hot-load, ask base and candidate N cases greedily (the round's failures "
                        "first); a candidate whose answers all equal the base's is refused (0: no gate)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY")
    refuse_key_option(p)
    p.add_argument("--quiet", action="store_true")
    add_train_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.loop.rounds import Loop, LoopConfig
    console = Console(stderr=True)

    def on_event(name: str, data: dict) -> None:
        if args.quiet:
            return
        if name == "stage_start":
            console.print(f"[bold]round {data['round']}[/] · {data['stage']} …")
        elif name == "round_end":
            best = data["best"]
            console.print(f"round {data['round']}: [bold]{data['decision']}[/] · serving {best['model']} "
                          f"(held-out {100 * (best['pass_rate'] or 0):.1f}%)")

    cfg = LoopConfig(
        endpoint=args.endpoint, base_model=args.base_model, suite=args.suite, out=args.out, model=args.model,
        rounds=args.rounds, backend=args.backend, samples=args.samples, system_prompt=args.system_prompt,
        max_tokens=args.max_tokens, concurrency=args.concurrency, seed=args.seed, replay=args.replay,
        fresh=args.fresh, lr_decay=args.lr_decay, train_sample=args.train_sample, probe=args.probe, lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules=args.target_modules, lr=args.lr, epochs=args.epochs, max_steps=args.max_steps,
        batch_size=args.batch_size, max_lora_rank=args.max_lora_rank, alpha=args.alpha, gate_cases=args.gate_cases,
        api_key_env=args.api_key_env, resume=args.resume, progress=not args.quiet)
    state = Loop(cfg, on_event).run()
    print(format_rounds(state))
    return 0


def format_rounds(state: dict) -> str:
    from harness.loop.rounds import heldout_series
    lines = ["round  held-out  decision"]
    for i, p, d in heldout_series(state):
        lines.append(f"{i:>5}  {'-' if p is None else f'{100 * p:6.1f}%':>8}  {d}")
    best = state.get("best") or {}
    lines.append(f"serving: {best.get('model')} (held-out {100 * (best.get('pass_rate') or 0):.1f}%)")
    return "\n".join(lines)
