"""Token usage of the scripted server: ~len(JSON)/4 tokens, and an emulated server-side prefix cache.

The prompt is cut into blocks (block 0 = system message + tools, then one block per message);
`cached_tokens` is the token count of the longest prefix of blocks this server has already seen, so
prefix-ordered dispatch is measurable. `seen` is any set-like of block hashes (bench/_common.py bounds
it with an LRU).
"""
from __future__ import annotations

from typing import Protocol


class BlockSet(Protocol):
    def __contains__(self, h: object) -> bool: ...

    def add(self, h: int) -> None: ...


def tokens(n_chars: int) -> int:
    """The token count of `n_chars` characters (about four per token)."""
    return (n_chars + 3) // 4


def prompt_usage(block0: str, rest: list[str], seen: BlockSet) -> tuple[int, int]:
    """(prompt tokens, cached tokens) of a prompt whose first block is `block0` and whose later blocks are
    `rest` (one canonical message each); every block not yet in `seen` is added to it."""
    prompt_tokens = 0
    cached = 0
    caching = True
    h = hash(block0)
    for i in range(len(rest) + 1):
        if i:
            h = hash((h, rest[i - 1]))
        t = tokens(len(block0) if i == 0 else len(rest[i - 1]))
        prompt_tokens += t
        if caching and h in seen:
            cached += t
        else:
            caching = False
            seen.add(h)
    return prompt_tokens, cached
