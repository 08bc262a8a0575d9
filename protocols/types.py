"""Records every protocol produces: tool calls, violations and the parsed turn."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Violation:
    """One way an answer broke the protocol; `code` is a stable string from `protocols.violations`."""

    code: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass
class ToolCall:
    """A call in order of appearance.

    For XML wire formats `arguments` holds the raw string params exactly as Roo's parser yields them;
    for native/hermes it holds the decoded JSON object (or the raw string when the JSON is invalid).
    `closed` is False when the call ran to the end of the message without its closing tag (Roo still
    executes it).
    """

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    closed: bool = True
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


@dataclass
class Turn:
    """What an assistant message *is* under a protocol."""

    calls: list[ToolCall] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    text: str = ""        # visible prose outside calls (joined text blocks)
    reasoning: str = ""   # routed to the reasoning channel, never scanned for calls

    @property
    def codes(self) -> list[str]:
        return [v.code for v in self.violations]

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, code: str, detail: str = "") -> None:
        self.violations.append(Violation(code, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": [c.to_dict() for c in self.calls],
            "violations": [v.to_dict() for v in self.violations],
        }
