"""User-error types. The CLI prints these as one line (no traceback) and exits non-zero.

Every message names the place (file, line, field or URL) and says what to do.
"""
from __future__ import annotations


class UserError(Exception):
    """Base for mistakes a user can fix; never raised for model output."""

    exit_code = 2


class CatalogError(UserError):
    """A tool catalog file is unreadable or malformed."""


class UnknownProtocolError(UserError):
    """A protocol name that is neither built in nor a `wire:PATH` spec."""
