"""User-error types of the harness (the protocol layer defines the base, so both share one)."""
from __future__ import annotations

from protocols.errors import CatalogError, UnknownProtocolError, UserError


class SuiteError(UserError):
    """A suite file breaks the suite format; the message is `FILE:LINE: message` lines."""


class InputError(UserError):
    """An input file given on the command line (responses, JSONL, config) is unreadable or malformed."""


class RunDirError(UserError):
    """A run directory is missing, incomplete or not a run."""


__all__ = ["CatalogError", "InputError", "RunDirError", "SuiteError", "UnknownProtocolError", "UserError"]
