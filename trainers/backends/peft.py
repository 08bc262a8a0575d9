"""`harness train --backend peft`: TRL's SFTTrainer + PEFT LoRA (or full fine-tuning), CPU or GPU, and
several GPUs through accelerate (`accelerate launch -m harness.cli train ...`).

    result = train(TrainConfig(base_model="models/tiny", out="adapters/a1", run="runs/r1", max_steps=40))

* data: a run's failures (read by the harness: `read_run`, i.e. `harness.loop.data.export_run`) or an
  SFT JSONL file, turned into TRL's
  conversational prompt-completion form (the prompt is everything before the target), with
  `assistant_only_loss=True`: TRL masks with the template's `{% generation %}` markers and the
  completion mask, so the loss falls on the target only. The same mask is computed here before
  training, and training refuses to start (TrainingError) when the template lacks the markers or any
  example's mask is empty; after TRL prepares the data its labels are checked against that mask;
* LoRA: task CAUSAL_LM, bias none, no modules_to_save, no DoRA, rank from vLLM's set, the projection
  layers as targets — adapters that vLLM and `harness adapters check` accept;
* the base model's chat template is used as is and saved with the output;
* checkpoints every `save_steps`, the last 3 kept; `resume` continues from the newest one (model,
  optimizer, scheduler, RNG and data order) and prints "resumed from checkpoint-N"; `init_adapter`
  continues training an earlier adapter;
* trainer_log.jsonl (a TrainerCallback): step, loss, lr, epoch, tokens_per_s, elapsed_s per logging step,
  continued without duplicates after a resume;
* output: adapter_config.json + adapter_model.safetensors (or the full model for `method="full"`),
  tokenizer + chat template, training.json; the adapter is checked against vLLM's rules at the end.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from trainers.config import DEFAULT_TARGET_MODULES, RunReader, TrainConfig, TrainResult
from trainers.errors import TrainingError
from trainers.sft.masks import require_generation_markers
from trainers.sft.runtime import dtype_for_device, quiet_libraries, seed_everything
from trainers.sft.trainer import load_examples, run_sft
from trainers.vllm_rules import check_lora_rank

TINY_PARAMS = 5_000_000              # CPU: below this, one torch thread unless --threads (as train-base)


def default_targets(model: Any) -> list[str]:
    import torch
    names = set()
    for n, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            names.add(n.rsplit(".", 1)[-1])
    found = [t for t in DEFAULT_TARGET_MODULES if t in names]
    if not found:
        raise TrainingError(f"the model has none of the usual projection layers {list(DEFAULT_TARGET_MODULES)}; "
                            f"name the layers to adapt with --target-modules (linear layers: {sorted(names)[:12]})")
    return found


def lora_settings(cfg: TrainConfig) -> dict[str, Any]:
    r = cfg.lora_r if cfg.lora_r is not None else 16
    check_lora_rank(r)
    return {"r": r, "lora_alpha": cfg.lora_alpha if cfg.lora_alpha is not None else 2 * r,
            "lora_dropout": cfg.lora_dropout if cfg.lora_dropout is not None else 0.0}


def build_peft_model(model: Any, cfg: TrainConfig) -> tuple[Any, dict[str, Any]]:
    """The model to train: a new LoRA (PEFT LoraConfig with vLLM-safe settings), an earlier adapter
    loaded trainable (`init_adapter`), or the model itself (full fine-tuning)."""
    if cfg.method == "full":
        return model, {"method": "full"}
    from peft import LoraConfig, PeftModel, get_peft_model
    if cfg.init_adapter:
        d = Path(cfg.init_adapter)
        if not (d / "adapter_config.json").is_file():
            raise TrainingError(f"--init-adapter {d}: no adapter_config.json there")
        acfg = json.loads((d / "adapter_config.json").read_text(encoding="utf-8"))
        for opt, key in (("lora_r", "r"), ("lora_alpha", "lora_alpha"), ("lora_dropout", "lora_dropout")):
            v = getattr(cfg, opt)
            if v is not None and acfg.get(key) != v:
                raise TrainingError(f"--{opt.replace('_', '-')} {v} differs from the adapter being continued "
                                    f"({key}={acfg.get(key)}); leave it out to keep the adapter's")
        pm = PeftModel.from_pretrained(model, str(d), is_trainable=True)
        return pm, {"method": "lora", "init_adapter": str(d.resolve()), "r": acfg.get("r"),
                    "lora_alpha": acfg.get("lora_alpha"), "lora_dropout": acfg.get("lora_dropout"),
                    "target_modules": sorted(acfg.get("target_modules") or [])}
    s = lora_settings(cfg)
    targets = cfg.target_modules or default_targets(model)
    lc = LoraConfig(r=s["r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"], target_modules=list(targets),
                    bias="none", task_type="CAUSAL_LM", use_dora=False, modules_to_save=None)
    return get_peft_model(model, lc), {"method": "lora", **s, "target_modules": list(targets)}


def train(cfg: TrainConfig, read_run: RunReader | None = None) -> TrainResult:
    """The peft backend (TRL SFTTrainer + PEFT). `read_run` turns --from-run into examples (the harness
    passes `harness.loop.data.export_run`)."""
    t_start = time.perf_counter()
    cfg = cfg.resolved()
    if cfg.backend != "peft":
        raise TrainingError(f"peft_backend.train got backend {cfg.backend!r}")
    base = Path(cfg.base_model)
    if not (base / "config.json").is_file():
        raise TrainingError(f"--base-model {cfg.base_model}: not a model directory (no config.json); "
                            f"models are local folders (train one with `harness train-base`)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    require_generation_markers(tokenizer, f"--base-model {base}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples, source = load_examples(cfg, tokenizer, read_run)
    with quiet_libraries():
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=dtype_for_device())
    if torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        model = model.to("cuda")
    threads_before = torch.get_num_threads()
    if cfg.threads is None and not torch.cuda.is_available() and \
            sum(p.numel() for p in model.parameters()) < TINY_PARAMS:
        torch.set_num_threads(1)      # tiny models: see trainers.scratch.train.TINY_PARAMS
    try:
        with quiet_libraries():
            model, model_info = build_peft_model(model, cfg)
        return run_sft(cfg, model, tokenizer, examples, source, model_info, t_start)
    finally:
        torch.set_num_threads(threads_before)


__all__ = ["TINY_PARAMS", "build_peft_model", "default_targets", "lora_settings", "train"]
