"""LoRA adapters made with PEFT directly, with random A and B so that they change the model's answers."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def make_lora(model_dir: Path, out: Path, *, seed: int = 0, **lora_kw: Any) -> Path:
    """A PEFT LoRA adapter of the model in `model_dir` saved to `out`: q_proj/v_proj, r=8 unless
    `lora_kw` says otherwise, weights drawn from `seed`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    kw = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM", **lora_kw}
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(model_dir)), LoraConfig(**kw))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    model.save_pretrained(str(out))
    return out
