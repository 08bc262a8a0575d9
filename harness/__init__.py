"""toolcall-harness: measure and fix tool-call protocol adherence.

The public Python API lives here; everything else may change between versions.
"""
from __future__ import annotations

__version__ = "0.1.0"

from protocols import ToolCall, Turn, Violation  # noqa: E402
from protocols import get as get_protocol  # noqa: E402

from harness.api import evaluate, evaluate_sync  # noqa: E402  (imports the runner lazily)
from harness.errors import UserError  # noqa: E402

__all__ = ["Loop", "LoopConfig", "ToolCall", "Turn", "UserError", "Violation", "__version__", "evaluate",
           "evaluate_sync", "get_protocol"]


def __getattr__(name: str) -> object:
    # the closed loop on first use, so that `harness parse/score/eval` do not load it
    if name in ("Loop", "LoopConfig"):
        from harness.loop import rounds as loop
        return getattr(loop, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
