"""The one user-error type of model intake (pull, import, registry)."""
from __future__ import annotations

from harness.errors import UserError


class ModelError(UserError):
    """A model cannot be fetched, verified, converted or found; the message names the package, file,
    directory or name and says what to do."""


__all__ = ["ModelError"]
