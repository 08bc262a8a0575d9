"""Which trainer a loop round runs: the backend the loop was given (peft or unsloth), checked before the
loop sends its first request, so `harness loop --backend unsloth` on a CPU machine stops at once with
the backend's own "needs an NVIDIA GPU" message rather than after a baseline evaluation."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def check_backend(backend: str) -> None:
    """The trainer can run here: unsloth needs an NVIDIA GPU and its package (TrainingError, a UserError)."""
    if backend == "unsloth":
        from trainers.backends import unsloth
        unsloth.require_gpu()
        unsloth.require_unsloth()


def backend_train(backend: str) -> Callable[..., Any]:
    """The `train(TrainConfig)` of the backend the loop was given."""
    if backend == "unsloth":
        from trainers.backends import unsloth
        return unsloth.train
    from trainers.backends import peft
    return peft.train


__all__ = ["backend_train", "check_backend"]
