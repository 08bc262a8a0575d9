"""The one error type of training: a UserError (exit 2, one clear line) raised by every backend."""
from __future__ import annotations

from protocols.errors import UserError


class TrainingError(UserError):
    """Training cannot start or continue (bad data, bad template, bad options); one clear line."""


__all__ = ["TrainingError", "UserError"]
