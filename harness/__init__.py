"""toolcall-harness: measure and fix tool-call protocol adherence.

The public Python API lives here; everything else may change between versions.
"""
from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"

from protocols import ToolCall, Turn, Violation  # noqa: E402
from protocols import get as get_protocol  # noqa: E402

from harness.api import evaluate, evaluate_sync  # noqa: E402  (imports the runner lazily)
from harness.errors import UserError  # noqa: E402

__all__ = ["Loop", "LoopConfig", "ToolCall", "Turn", "UserError", "Violation", "__version__", "evaluate",
           "evaluate_sync", "get_protocol", "load_suite", "shipped_suites"]


def load_suite(name_or_path: str | os.PathLike[str], *, check_references: bool = True) -> Any:
    """Load and validate a suite file, or a shipped suite by name; raises a UserError listing every problem.
    (The suite loader is imported on the first call.)"""
    from harness.suite import load_suite as load
    return load(name_or_path, check_references=check_references)


def shipped_suites() -> list[str]:
    """Names of the suites shipped with the package (what `--suite NAME` accepts), sorted."""
    from harness.suite import list_shipped
    return list_shipped()


def __getattr__(name: str) -> object:
    # the closed loop on first use, so that `harness parse/score/eval` do not load it
    if name in ("Loop", "LoopConfig"):
        from harness.loop import rounds as loop
        return getattr(loop, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
