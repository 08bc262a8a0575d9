"""An emulation of a hosted provider's prompt cache in OpenAI's documented shape, for benchmarks.

What it keeps from OpenAI's "Prompt caching" guide (2025-2026): caching starts at MIN_TOKENS prompt
tokens; only an exact prefix is reused, in steps of STEP tokens; a request is routed to a cache machine
by a hash of its first ROUTE_TOKENS tokens together with `prompt_cache_key` when given; one machine takes
about OVERFLOW_PER_MIN requests per minute for one (prefix, key) before further ones spill to other
machines (which have not seen the prefix); each machine keeps a bounded set of prefixes (LRU).

    cache = OpenAICacheShape(machines=16, blocks_per_machine=4096, seed=1)
    cached = cache.request(blocks, t=seconds, key=body.get("prompt_cache_key"))

`blocks` are the prompt's text blocks in order (system message + tools, then one per message); tokens are
~len/4 as in harness.testing.usage. The figures are an emulation's, for comparing dispatch orders.
"""
from __future__ import annotations

import hashlib
import random
from collections import OrderedDict, deque

from harness.testing.usage import tokens

MIN_TOKENS = 1024
STEP = 128
ROUTE_TOKENS = 256
OVERFLOW_PER_MIN = 15


def _h(*parts: object) -> int:
    """A stable hash (Python's str hash changes with every process: runs would not repeat)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


class OpenAICacheShape:
    def __init__(self, *, machines: int = 16, blocks_per_machine: int = 4096, seed: int = 0) -> None:
        self.machines = [OrderedDict[int, None]() for _ in range(machines)]
        self.capacity = blocks_per_machine
        self._recent: dict[tuple[int, str | None], deque[float]] = {}
        self._rng = random.Random(seed)
        self.prompt_tokens = 0
        self.cached_tokens = 0

    def _route(self, blocks: list[str], t: float, key: str | None) -> OrderedDict[int, None]:
        head = "".join(blocks)[: ROUTE_TOKENS * 4]
        rk = (_h(head), key)
        recent = self._recent.setdefault(rk, deque())
        while recent and recent[0] <= t - 60.0:
            recent.popleft()
        recent.append(t)
        home = _h(*rk) % len(self.machines)
        if len(recent) > OVERFLOW_PER_MIN:   # the home machine is saturated: spill to another one
            home = self._rng.randrange(len(self.machines))
        return self.machines[home]

    def request(self, blocks: list[str], *, t: float, key: str | None = None) -> int:
        """The cached prompt tokens of one request sent at time `t` (seconds); the cache learns it."""
        total = sum(tokens(len(b)) for b in blocks)
        self.prompt_tokens += total
        machine = self._route(blocks, t, key)
        hit = 0
        caching = True
        h = 0
        for b in blocks:
            h = _h(h, b)
            if caching and h in machine:
                hit += tokens(len(b))
                machine.move_to_end(h)
            else:
                caching = False
                machine[h] = None
                if len(machine) > self.capacity:
                    machine.popitem(last=False)
        cached = 0 if total < MIN_TOKENS else (min(hit, total) // STEP) * STEP
        self.cached_tokens += cached
        return cached


__all__ = ["MIN_TOKENS", "OVERFLOW_PER_MIN", "ROUTE_TOKENS", "STEP", "OpenAICacheShape"]
