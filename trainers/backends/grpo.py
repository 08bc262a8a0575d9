"""`harness train --backend grpo`: TRL's GRPOTrainer with a reward the harness hands in.

The prompts are a run's failed train-split cases (plus replay), exactly as the run sent them (read by
the harness's `read_run`, i.e. `harness.loop.data.export_run`); each sampled completion is scored by
`reward(case_id, text) -> float` — in `harness train` the protocol's own verdict with partial credit
(`harness.loop.reward.RunVerdictReward`), so a completion that is closer to right scores higher even
before any passes. LoRA (vLLM-safe, as in the peft backend) or full fine-tuning; checkpoints, --resume,
trainer_log.jsonl, training.json and the adapter check work as for `peft`. Needs --from-run: the reward
needs the cases' expectations.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainers.config import RunReader, TrainConfig, TrainResult
from trainers.errors import TrainingError

Reward = Callable[[str, str], float]      # (case id, completion text) -> reward


def make_reward_fn(reward: Reward) -> Any:
    """TRL's reward function over conversational or plain completions, scored by `reward`."""

    def protocol_verdict(prompts: Any = None, completions: Any = None, case_id: Any = None,
                         **kwargs: Any) -> list[float]:
        out = []
        for comp, cid in zip(completions or [], case_id or []):
            if isinstance(comp, list):          # conversational: [{"role": "assistant", "content": ...}]
                text = "".join(str(m.get("content") or "") for m in comp if isinstance(m, dict))
            else:
                text = str(comp)
            out.append(float(reward(cid, text)))
        return out

    protocol_verdict.__name__ = "protocol_verdict"
    return protocol_verdict


def train(cfg: TrainConfig, read_run: RunReader | None = None, reward: Reward | None = None, *,
          num_generations: int = 4, max_new_tokens: int = 256, temperature: float = 1.0) -> TrainResult:
    """GRPO on the run's failed cases; `read_run` gives the examples, `reward` scores each completion."""
    t_start = time.perf_counter()
    from trainers.backends.peft import build_peft_model
    from trainers.sft.checkpoints import checkpoint_step, identity, prepare_out
    from trainers.sft.log import Progress, make_log_callback
    from trainers.sft.record import TRAINING_JSON, device_summary, package_versions, write_json
    from trainers.sft.runtime import dtype_for_device, seed_everything
    from trainers.sft.trainer import make_config, read_run_examples
    from trainers.vllm_rules import check_adapter
    if not isinstance(cfg, TrainConfig):
        raise TypeError("grpo_backend.train takes a trainers.config.TrainConfig")
    cfg = cfg.resolved()
    cfg.backend = "grpo"
    if cfg.run is None:
        raise TrainingError("--backend grpo needs --from-run RUN: the reward scores completions against the run's "
                            "cases")
    if reward is None:
        raise TrainingError("--backend grpo needs a reward (harness.loop.reward.RunVerdictReward for the run)")
    if num_generations < 2:
        raise TrainingError("--num-generations must be at least 2 (GRPO compares completions of one prompt)")
    base = Path(cfg.base_model)
    if not (base / "config.json").is_file():
        raise TrainingError(f"--base-model {cfg.base_model}: not a model directory (no config.json)")
    import os
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from trainers import data
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if not tokenizer.chat_template:
        raise TrainingError(f"--base-model {base}: the tokenizer has no chat template")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples, st = read_run_examples(cfg, read_run)
    if not examples:
        raise TrainingError(f"{cfg.run}: no failed train-split case to train on")
    rows = []
    any_tools = any(ex.get("tools") for ex in examples)
    for ex in examples:
        pc = data.split_prompt_completion(ex)
        row: dict[str, Any] = {"prompt": pc["prompt"], "case_id": ex["meta"]["id"]}
        if any_tools:
            row["tools"] = json.dumps(ex["tools"]) if ex.get("tools") else None
        rows.append(row)
    dataset = Dataset.from_list(rows)
    ident = identity(cfg, data.data_sha256(examples))
    ident.update({"num_generations": num_generations, "max_new_tokens": max_new_tokens})
    resume_from = prepare_out(cfg, ident)
    resume_step = checkpoint_step(resume_from) if resume_from else None

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=dtype_for_device())
    model, model_info = build_peft_model(model, cfg)
    per_device = max(cfg.batch_size, num_generations)
    per_device += (-per_device) % num_generations
    kw: dict[str, Any] = dict(
        output_dir=str(cfg.out), per_device_train_batch_size=per_device,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.lr, lr_scheduler_type="cosine",
        warmup_ratio=cfg.warmup_ratio, weight_decay=cfg.weight_decay, logging_steps=cfg.logging_steps or 1,
        save_strategy="steps" if cfg.save_steps else "no", save_steps=cfg.save_steps or 500, save_total_limit=3,
        seed=cfg.seed, data_seed=cfg.seed, report_to="none", disable_tqdm=True,
        num_generations=num_generations, max_completion_length=max_new_tokens, temperature=temperature,
        beta=0.0, use_vllm=False, vllm_mode="colocate", gradient_checkpointing=cfg.gradient_checkpointing,
        use_cpu=not torch.cuda.is_available(), remove_unused_columns=False,
    )
    if cfg.max_steps is not None:
        kw["max_steps"] = cfg.max_steps
    else:
        kw["num_train_epochs"] = cfg.epochs
    args = make_config(GRPOConfig, kw)
    reward_fn = make_reward_fn(reward)
    out = Path(cfg.out)
    with Progress(cfg.max_steps, "train grpo", cfg.progress) as bar:
        cb = make_log_callback(out, resume_step, bar)
        trainer = GRPOTrainer(model=model, reward_funcs=reward_fn, args=args, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[cb])
        if resume_from is not None:
            print(f"resumed from {resume_from.name}", flush=True)
        t_train = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        train_s = time.perf_counter() - t_train
    trainer.model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    problems: list[str] = []
    if model_info.get("method") == "lora":
        problems = check_adapter(out, max_lora_rank=cfg.max_lora_rank, base_model=str(cfg.base_model))
    rewards = [float(x) for r in trainer.state.log_history for k, x in r.items() if k == "reward"]
    info = {
        "kind": "lora-adapter" if model_info.get("method") == "lora" else "full-model",
        "backend": "grpo",
        "base_model": str(base.resolve()),
        "data": {"run": str(Path(cfg.run).resolve()), "replay": cfg.replay, "prompts": len(rows),
                 "counts": {k: v for k, v in st.to_dict().items() if k not in ("run", "warnings")}},
        "data_sha256": ident["data_sha256"],
        "hyperparameters": {**model_info, "max_steps": cfg.max_steps, "epochs": cfg.epochs, "lr": cfg.lr,
                            "batch_size": per_device, "grad_accum": cfg.grad_accum,
                            "num_generations": num_generations, "max_new_tokens": max_new_tokens,
                            "temperature": temperature, "beta": 0.0, "loss_type": args.loss_type,
                            "reward": "protocol verdict (1.0 pass, partial credit otherwise)"},
        "seed": cfg.seed,
        "steps": trainer.state.global_step,
        "resumed_from": resume_from.name if resume_from else None,
        "train_loss": getattr(result, "training_loss", None),
        "reward_first": rewards[0] if rewards else None,
        "reward_last": rewards[-1] if rewards else None,
        "timing": {"wall_s": round(time.perf_counter() - t_start, 2), "train_s": round(train_s, 2)},
        "versions": package_versions(),
        "device": device_summary(),
        "vllm_compatible": not problems if model_info.get("method") == "lora" else None,
        "adapter_problems": problems,
    }
    write_json(out / TRAINING_JSON, info)
    return TrainResult(out, trainer.state.global_step, info["resumed_from"], len(rows), info["train_loss"], None,
                       time.perf_counter() - t_start, problems, info)
