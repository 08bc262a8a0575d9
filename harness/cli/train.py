"""`harness train`: fine-tune a local model on a run's failures (or an SFT JSONL file).

    harness train --from-run runs/r1 --base-model models/tiny --backend peft --out adapters/a1 \\
                  [--method lora|full] [--lora-r 16] [--max-steps 40 --save-steps 10] [--resume]

Backends: `peft` (TRL SFTTrainer + PEFT, CPU or GPU) and `unsloth` (NVIDIA GPU only). torch/transformers/trl
are imported only when this command runs. `--num-processes N [--accelerate-config zero2|zero3|fsdp|FILE]`
replaces this process with `accelerate launch ... -m harness.cli train <the same options>` (trainers.launch).
Exit codes: 0 trained, 1 the adapter fails vLLM's compatibility rules, 2 bad input, 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any
from harness.cli.adapters import lora_rank
from harness.errors import UserError
from harness.cli.argtypes import fraction as _unit, model_ref, positive_float as _pos_float, positive_int as _pos_int

HELP = "fine-tune a model on a run's failures (LoRA adapter or full model; peft or unsloth backend)"
LAUNCH_OPTIONS = ("num_processes", "accelerate_config")    # not forwarded to the launched processes
_parser: argparse.ArgumentParser | None = None


def register(sub: Any) -> None:
    p = sub.add_parser("train", help=HELP, description=HELP)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-run", metavar="RUN", dest="run", help="train on this run's failed train-split cases")
    src.add_argument("--data", metavar="SFT.jsonl", help="train on this OpenAI-messages JSONL file")
    p.add_argument("--base-model", required=True, metavar="DIR", type=model_ref,
                   help="the local model folder to fine-tune, or a registered model name (`harness models list`)")
    p.add_argument("--backend", choices=("peft", "unsloth", "grpo"), default="peft",
                   help="peft: TRL SFT + PEFT on CPU or GPU (default); unsloth: NVIDIA GPU only; grpo: TRL GRPO "
                        "with the protocol's verdict as reward (needs --from-run)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (adapter or model, checkpoints, logs)")
    p.add_argument("--method", choices=("lora", "full"), default="lora",
                   help="LoRA adapter (default) or full fine-tuning")
    p.add_argument("--lora-r", type=lora_rank, metavar="R", help="LoRA rank, one of vLLM's (default 16)")
    p.add_argument("--lora-alpha", type=_pos_int, metavar="A", help="LoRA alpha (default 2*r)")
    p.add_argument("--lora-dropout", type=_unit, metavar="P", help="LoRA dropout (default 0)")
    p.add_argument("--target-modules", nargs="+", metavar="NAME",
                   help="layers to adapt (default: the q/k/v/o/gate/up/down projections the model has)")
    steps = p.add_mutually_exclusive_group()
    steps.add_argument("--epochs", type=_pos_float, metavar="N", help="passes over the data (default 3)")
    steps.add_argument("--max-steps", type=_pos_int, metavar="N", help="optimizer steps (overrides epochs)")
    p.add_argument("--lr", type=_pos_float, metavar="LR", help="learning rate (default 2e-4 LoRA, 5e-5 full)")
    p.add_argument("--batch-size", type=_pos_int, default=8, metavar="N", help="examples per device step (default 8)")
    p.add_argument("--grad-accum", type=_pos_int, default=1, metavar="N",
                   help="gradient accumulation steps (default 1)")
    p.add_argument("--save-steps", type=_pos_int, metavar="N", help="write a checkpoint every N steps (last 3 kept)")
    p.add_argument("--logging-steps", type=_pos_int, metavar="N",
                   help="a trainer_log.jsonl line every N steps (default 1 for short runs, else 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, data order and replay (default 0)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--init-adapter", metavar="DIR", help="continue training this earlier adapter")
    p.add_argument("--max-length", type=_pos_int, metavar="N",
                   help="cut examples longer than N tokens from the left (oldest turns first) or skip them")
    p.add_argument("--replay", type=_unit, default=0.2, metavar="R",
                   help="--from-run: share of the data drawn from passed cases (default 0.2)")
    p.add_argument("--suite", metavar="FILE", help="--from-run: the run's suite file, when it moved")
    p.add_argument("--warmup-ratio", type=_unit, default=0.03, metavar="R", help="warmup share of the steps (0.03)")
    p.add_argument("--weight-decay", type=float, default=0.0, metavar="W")
    p.add_argument("--gradient-checkpointing", action="store_true", help="trade compute for memory (large models)")
    p.add_argument("--max-lora-rank", type=lora_rank, default=256, metavar="R",
                   help="the vLLM --max-lora-rank the adapter must fit (checked at the end; default 256)")
    p.add_argument("--no-share-prefix", action="store_true",
                   help="peft: run every sequence in full instead of computing the batch's shared prefix once")
    p.add_argument("--threads", type=_pos_int, metavar="N",
                   help="torch CPU threads (default: 1 for models under 5M parameters on a CPU, else torch's)")
    p.add_argument("--num-generations", type=_pos_int, default=4, metavar="G",
                   help="grpo: completions sampled per prompt (default 4)")
    p.add_argument("--max-new-tokens", type=_pos_int, default=256, metavar="N",
                   help="grpo: longest completion (default 256)")
    p.add_argument("--temperature", type=_pos_float, default=1.0, metavar="T", help="grpo: sampling temperature")
    p.add_argument("--load-in-4bit", action="store_true", help="unsloth: load the base model in 4 bits (QLoRA)")
    p.add_argument("--overwrite", action="store_true", help="empty a non-empty --out first (without --resume)")
    p.add_argument("--num-processes", type=_pos_int, metavar="N", dest="num_processes",
                   help="peft: train in N processes (one per GPU; CPU processes on gloo without GPUs) "
                        "through `accelerate launch`")
    p.add_argument("--accelerate-config", metavar="zero2|zero3|fsdp|FILE", dest="accelerate_config",
                   help="peft: DeepSpeed ZeRO-2/ZeRO-3 or FSDP settings for LoRA shipped in trainers/accelerate/, "
                        "or your own accelerate config file")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    global _parser
    _parser = p


def config_from_args(args: argparse.Namespace) -> Any:
    from trainers.config import TrainConfig
    return TrainConfig(
        base_model=args.base_model, out=args.out, run=args.run, data=args.data, backend=args.backend,
        method=args.method, lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules=args.target_modules, epochs=args.epochs, max_steps=args.max_steps, lr=args.lr,
        batch_size=args.batch_size, grad_accum=args.grad_accum, save_steps=args.save_steps,
        logging_steps=args.logging_steps, seed=args.seed, resume=args.resume, init_adapter=args.init_adapter,
        max_length=args.max_length, replay=args.replay, suite=args.suite, warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay, gradient_checkpointing=args.gradient_checkpointing,
        max_lora_rank=args.max_lora_rank, load_in_4bit=args.load_in_4bit,
        share_prefix=not args.no_share_prefix, threads=args.threads,
        progress=False if args.quiet else None, overwrite=args.overwrite)


def forwarded_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The command-line options that give `args` back (what the launched processes are given), without
    the launch options; options left at their default are left out."""
    out: list[str] = []
    for a in parser._actions:
        if not a.option_strings or a.dest in LAUNCH_OPTIONS or isinstance(a, argparse._HelpAction):
            continue
        v = getattr(args, a.dest, None)
        if isinstance(a, argparse._StoreTrueAction):
            out += [a.option_strings[-1]] if v else []
        elif isinstance(a, argparse._StoreFalseAction):
            out += [a.option_strings[-1]] if v is False else []
        elif v is not None and v != a.default:
            out += [a.option_strings[-1], *(map(str, v) if isinstance(v, list) else [str(v)])]
    return out


def launch(args: argparse.Namespace) -> None:
    """Replace this process with `accelerate launch` running the same training in N processes."""
    import os
    import shlex

    from trainers import launch as tl
    if args.backend != "peft":
        raise UserError(f"--num-processes / --accelerate-config train with --backend peft (TRL + accelerate), "
                        f"not {args.backend}; unsloth trains on one GPU")
    config = tl.resolve_config(args.accelerate_config) if args.accelerate_config else None
    tl.check_requirements(config)
    assert _parser is not None
    cmd = tl.launch_command(args.num_processes or 1, config, forwarded_args(_parser, args))
    print(f"harness: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    os.execv(cmd[0], cmd)


def run(args: argparse.Namespace) -> int:
    from harness.loop.data import export_run
    from trainers.launch import die_with_launcher, is_launched, is_main_process
    if is_launched():
        die_with_launcher()
    elif (args.num_processes or 1) > 1 or args.accelerate_config:
        launch(args)      # returns only by raising
    cfg = config_from_args(args)
    if args.backend == "unsloth":
        from trainers.backends import unsloth as unsloth_backend
        result = unsloth_backend.train(cfg, export_run)   # checks the GPU and the package before importing either
    elif args.backend == "grpo":
        from trainers.backends import grpo as grpo_backend

        from harness.loop.reward import RunVerdictReward
        reward = RunVerdictReward(cfg.run, cfg.suite) if cfg.run else None
        result = grpo_backend.train(cfg, export_run, reward, num_generations=args.num_generations,
                                    max_new_tokens=args.max_new_tokens, temperature=args.temperature)
        r0, r1 = result.info.get("reward_first"), result.info.get("reward_last")
        if r0 is not None:
            print(f"mean reward: first step {r0:.3f}, last step {r1:.3f}")
    else:
        from trainers.backends import peft as peft_backend
        result = peft_backend.train(cfg, export_run)
    if not is_main_process():
        return 0          # one of several processes: the main one reports (and wrote the outputs)
    tps = f"{result.tokens_per_s:,.0f} tokens/s" if result.tokens_per_s else "tokens/s n/a"
    loss = f"{result.train_loss:.4f}" if isinstance(result.train_loss, (int, float)) else "n/a"
    kind = result.info.get("kind", "")
    print(f"trained {kind} on {result.examples} examples: {result.steps} steps, loss {loss}, {tps}, "
          f"{result.wall_s:.1f}s -> {result.out}")
    if result.adapter_problems:
        for prob in result.adapter_problems:
            print(f"harness: adapter check: {prob}", file=sys.stderr)
        print("harness: the adapter does not pass vLLM's compatibility rules (see above)", file=sys.stderr)
        return 1
    if kind == "lora-adapter":
        print("adapter check: passes vLLM's rules (no modules_to_save, no DoRA, rank in vLLM's set)")
    return 0
