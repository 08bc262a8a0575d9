"""toolcall-harness: measure and fix tool-call protocol adherence.

The public Python API lives here; everything else may change between versions.
"""
from __future__ import annotations

__version__ = "0.1.0"

from protocols import ToolCall, Turn, Violation  # noqa: E402
from protocols import get as get_protocol  # noqa: E402

from .api import evaluate, evaluate_sync  # noqa: E402  (imports the runner lazily)
from .errors import UserError  # noqa: E402

__all__ = ["ToolCall", "Turn", "UserError", "Violation", "__version__", "evaluate", "evaluate_sync",
           "get_protocol"]
