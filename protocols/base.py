"""The Protocol interface: catalog + wire format + rules."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocols.catalog import Catalog
from protocols.types import ToolCall, Turn

Message = str | Mapping[str, Any]


def message_text(message: Message) -> str:
    """The text content of an OpenAI assistant message (str, list of parts, or None); "" for a
    message that is neither text nor a mapping."""
    if isinstance(message, str):
        return message
    if not isinstance(message, Mapping):
        return ""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep text parts in order
        out = []
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                out.append(part["text"])
            elif isinstance(part, str):
                out.append(part)
        return "".join(out)
    return str(content)


def safe_text(message: Message) -> str:
    """`message_text`, but never raising on an odd `content` value (model output is never an error)."""
    try:
        return message_text(message)
    except Exception:  # noqa: BLE001 - e.g. RecursionError from str() of a deeply nested value
        return ""


@dataclass(frozen=True)
class GenerationLimits:
    """`stop`: strings that end the answer, each re-appended to the text when the server cuts it
    (`stop_closes`: they are closing tags); `max_tokens`: the default, None = the runner's."""

    stop: tuple[str, ...] = ()
    max_tokens: int | None = None
    stop_closes: bool = False


class Protocol(ABC):
    """Parse a model message into calls and violations; render tools into a request.

    `parse` never raises on model output and runs in time linear in the message size.
    """

    name: str
    wire: str            # "xml" | "native" | "hermes"
    catalog: Catalog | None

    @property
    def version(self) -> str:
        return self.catalog.version if self.catalog else ""

    @abstractmethod
    def parse(self, message: Message, *, mode: str | None = None,
              tools: list[dict[str, Any]] | None = None) -> Turn:
        """`tools`: the functions a case offers (native/hermes protocols without a catalog)."""

    def parse_calls(self, message: Message, *, mode: str | None = None,
                    tools: list[dict[str, Any]] | None = None) -> list[ToolCall]:
        """`parse(...).calls`, for callers that read only the calls (BFCL's checker): protocols that
        can skip their argument checks for it override this; the calls are the same."""
        return self.parse(message, mode=mode, tools=tools).calls

    @abstractmethod
    def render_system(self, *, mode: str | None = None, style: str = "full",
                      tools: list[dict[str, Any]] | None = None) -> str:
        """The system-prompt text for this protocol (may be "" when tools travel in the request)."""

    def request_tools(self, *, mode: str | None = None,
                      tools: list[dict[str, Any]] | None = None) -> list[dict[str, Any]] | None:
        """The request's `tools` field (OpenAI format), or None for text protocols."""
        return None

    @abstractmethod
    def format_call(self, calls: list[ToolCall], *, text: str = "") -> dict[str, Any]:
        """An OpenAI assistant message that carries `calls` in this wire format (training targets)."""

    def stop_sequences(self) -> list[str]:
        return []

    def generation_limits(self, *, mode: str | None = None,
                          tools: list[dict[str, Any]] | None = None) -> GenerationLimits:
        """The stop strings and default `max_tokens` of a request for a case in `mode` (DESIGN.md "Runs":
        a model stops after its first call). Native protocols: none (the server ends a tool call)."""
        return GenerationLimits(tuple(self.stop_sequences()), getattr(self, "default_max_tokens", None))

    def describe(self) -> dict[str, Any]:
        """What run.json records about the protocol."""
        return {"name": self.name, "wire": self.wire,
                "catalog": self.catalog.name if self.catalog else None, "version": self.version}
