"""What a trained folder records about how it was made: training.json (written atomically), the
package versions and the device it ran on.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

TRAINING_JSON = "training.json"


def package_versions() -> dict[str, str | None]:
    from importlib import metadata
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "tokenizers", "safetensors",
                 "unsloth", "toolcall-harness"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, p)


def device_summary() -> dict[str, Any]:
    import torch
    d: dict[str, Any] = {"cuda": torch.cuda.is_available(), "threads": torch.get_num_threads(),
                         "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        d["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return d


__all__ = ["TRAINING_JSON", "device_summary", "package_versions", "write_json"]
