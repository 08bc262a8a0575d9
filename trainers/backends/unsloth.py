"""`harness train --backend unsloth`: Unsloth's FastLanguageModel + TRL's SFTTrainer on one NVIDIA GPU,
with the options and the output of the peft backend (a standard PEFT adapter, tokenizer + chat
template, training.json, trainer_log.jsonl, checkpoints and --resume).

Unsloth detects the device when it is imported and raises on hosts without a GPU, and it must be
imported before trl/transformers so that it can patch them. So this module checks, in order and
before importing either: that torch sees a CUDA GPU, that unsloth is installed; then imports unsloth
first. Unsloth pins TRL 0.2x and transformers <= 5.5: keep it in its own environment
(reference §4, §8), e.g. `pip install "unsloth[huggingface]"`.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

from trainers.config import RunReader, TrainConfig
from trainers.errors import TrainingError

INSTALL_HINT = 'pip install "unsloth[huggingface]"  (in its own environment: it pins trl<=0.24 and transformers<=5.5)'


def require_gpu() -> None:
    """TrainingError unless torch sees an NVIDIA GPU."""
    try:
        import torch
    except ImportError:
        raise TrainingError("the unsloth backend needs torch with CUDA; install the train extra "
                            "(pip install 'toolcall-harness[train]')") from None
    if not torch.cuda.is_available():
        raise TrainingError("the unsloth backend needs an NVIDIA GPU (torch.cuda.is_available() is False); "
                            "use --backend peft")
    if getattr(torch.version, "hip", None):
        raise TrainingError("the unsloth backend here supports NVIDIA GPUs only (this torch is a ROCm build); "
                            "use --backend peft")


def require_unsloth() -> None:
    if importlib.util.find_spec("unsloth") is None:
        raise TrainingError(f"the unsloth backend needs the unsloth package, which is not installed: {INSTALL_HINT}; "
                            f"or use --backend peft")


def import_unsloth() -> Any:
    """Import unsloth, first: warns when trl/transformers were imported before it (then its patches
    may not apply to them)."""
    early = [m for m in ("trl", "transformers", "peft") if m in sys.modules]
    if early:
        print(f"harness: warning: {', '.join(early)} imported before unsloth in this process; Unsloth's "
              f"patches may be incomplete (run `harness train --backend unsloth` in a fresh process)",
              file=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import unsloth  # noqa: F401  (must come first: it patches trl and transformers)
        from unsloth import FastLanguageModel
    except NotImplementedError as e:   # unsloth's own device check
        raise TrainingError(f"unsloth refused this machine: {e}; use --backend peft") from None
    except ImportError as e:
        raise TrainingError(f"unsloth failed to import ({e}); {INSTALL_HINT}") from None
    return FastLanguageModel


def train(cfg: TrainConfig, read_run: RunReader | None = None) -> Any:
    """Same contract as trainers.backends.peft.train; the GPU and package checks come before any import."""
    t_start = time.perf_counter()
    if not isinstance(cfg, TrainConfig):
        raise TypeError("unsloth_backend.train takes a trainers.config.TrainConfig")
    cfg = cfg.resolved()
    cfg.backend = "unsloth"
    base = Path(cfg.base_model)
    if not (base / "config.json").is_file():
        raise TrainingError(f"--base-model {cfg.base_model}: not a model directory (no config.json)")
    require_gpu()
    require_unsloth()
    FastLanguageModel = import_unsloth()

    from trainers.backends import peft as peft_backend
    from trainers.sft.masks import require_generation_markers
    from trainers.sft.runtime import seed_everything
    from trainers.sft.trainer import load_examples, run_sft

    seed_everything(cfg.seed)
    max_seq = cfg.max_length or 2048
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(base), max_seq_length=max_seq, dtype=None, load_in_4bit=cfg.load_in_4bit,
        full_finetuning=cfg.method == "full", use_exact_model_name=True)
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)     # a processor for multimodal models
    require_generation_markers(tokenizer, f"--base-model {base}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples, source = load_examples(cfg, tokenizer, read_run)
    if cfg.method == "full":
        model_info: dict[str, Any] = {"method": "full"}
    elif cfg.init_adapter:
        from peft import PeftModel
        model, model_info = peft_backend.build_peft_model(model, cfg)
        assert isinstance(model, PeftModel)
    else:
        s = peft_backend.lora_settings(cfg)
        targets = cfg.target_modules or peft_backend.default_targets(model)
        model = FastLanguageModel.get_peft_model(
            model, r=s["r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"],
            target_modules=list(targets), bias="none", use_rslora=False, modules_to_save=None,
            use_gradient_checkpointing="unsloth" if cfg.gradient_checkpointing else False,
            random_state=cfg.seed)
        model_info = {"method": "lora", **s, "target_modules": list(targets)}
    return run_sft(cfg, model, tokenizer, examples, source, model_info, t_start,
                                {"load_in_4bit": cfg.load_in_4bit, "max_seq_length": max_seq})
