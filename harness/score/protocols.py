"""One protocol object per distinct protocol spec of a suite's cases, shared by every scorer (`harness eval`,
`harness score`): building a protocol compiles its catalog, so it is done once per spec, not per case."""
from __future__ import annotations

import json
from typing import Any


class ProtocolCache:
    """protocols.from_spec once per distinct spec; `override` (--protocol NAME) replaces every case's."""

    def __init__(self, override: str | None = None):
        self.override = override
        self._by_key: dict[Any, Any] = {}
        self._by_id: dict[int, tuple[Any, Any]] = {}   # id(spec block) -> (the block, kept alive; protocol)

    def load_override(self) -> None:
        """Build the --protocol override now, so that a bad name fails before any work."""
        if self.override:
            import protocols
            self._by_key[self.override] = protocols.get(self.override)

    def key(self, spec: Any) -> Any:
        return spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True, default=str)

    def get(self, case: Any) -> Any:
        spec = self.override or case.protocol
        if type(spec) is str:
            proto = self._by_key.get(spec)
            if proto is not None:
                return proto
        else:   # a suite's `protocol:` block: the same object for all its cases, serialised once
            hit = self._by_id.get(id(spec))
            if hit is not None and hit[0] is spec:
                return hit[1]
        k = self.key(spec)
        proto = self._by_key.get(k)
        if proto is None:
            import protocols
            proto = protocols.from_spec(spec, source=case.source or "<suite>")
            self._by_key[k] = proto
        if type(spec) is not str:
            self._by_id[id(spec)] = (spec, proto)
        return proto

    def protocols(self) -> list[Any]:
        return list(self._by_key.values())


__all__ = ["ProtocolCache"]
