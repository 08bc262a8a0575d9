"""Suite records: a case, what it expects, and a loaded suite."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExpectedCall:
    """One expected call. `arguments` maps a parameter name to either a JSON Schema (a dict) that the
    value must satisfy, or a list of allowed values in BFCL's style (`""` in the list = may be omitted)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Expect:
    """`calls == []` means a correct turn makes no call (irrelevance); `calls is None` means any valid call."""

    calls: tuple[ExpectedCall, ...] | None = None
    any_order: bool = False
    checker: str = "schema"   # "schema" (JSON Schema / alternatives) or "bfcl" (BFCL's AST checker semantics)
    # BFCL: the function docs with BFCL's own types, used by the checker (the request gets JSON Schema)
    functions: tuple[dict[str, Any], ...] = ()
    category: str = ""


@dataclass
class Case:
    id: str
    protocol: str | dict[str, Any]
    messages: list[dict[str, Any]]
    expect: Expect = field(default_factory=Expect)
    mode: str | None = None
    split: str = "test"
    tags: list[str] = field(default_factory=list)
    tools: list[dict[str, Any]] | None = None
    reference: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # generator template, bfcl category, ...
    source: str = ""  # FILE:LINE where the case starts


@dataclass
class Suite:
    name: str
    path: str
    cases: list[Case]
    content_hash: str
    meta: dict[str, Any] = field(default_factory=dict)  # top-level keys other than cases (description, generator)

    def split(self, name: str | None) -> list[Case]:
        return [c for c in self.cases if name in (None, "all") or c.split == name]
