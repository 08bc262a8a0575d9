"""The process settings every trainer starts with: seeds, the device's dtype, quiet libraries."""
from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % (2 ** 32))
    except ImportError:  # pragma: no cover
        pass
    import torch
    torch.manual_seed(seed)


def dtype_for_device() -> Any:
    import torch
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """No `datasets`/`transformers` progress bars (dataset maps, weight loading) and no deprecation warnings
    about checkpointing options we do not set: our own progress bar and trainer_log.jsonl are the record a
    user reads. Restores what it turned off."""
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging
    restore = []
    if datasets.is_progress_bar_enabled():
        datasets.disable_progress_bars()
        restore.append(datasets.enable_progress_bars)
    if hf_logging.is_progress_bar_enabled():
        hf_logging.disable_progress_bar()
        restore.append(hf_logging.enable_progress_bar)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*(gradient|activation)_checkpointing.*", category=FutureWarning)
            yield
    finally:
        for undo in restore:
            undo()


__all__ = ["dtype_for_device", "quiet_libraries", "seed_everything"]
