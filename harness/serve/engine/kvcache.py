"""The lean path's KV memory: one preallocated slot per running row, and the prefix store.

SlotCache holds every layer's keys and values in two tensors (layers, slots, kv_heads, tokens, head_dim).
A row owns one slot and its tokens sit left-aligned at positions 0..len-1, so a decode step writes one
position per row and a joining request only fills its own slot: nothing is re-padded or concatenated.
The running rows always occupy slots 0..B-1 (a retiring row's slot is refilled by moving the last row).

PrefixStore is automatic prefix caching as vLLM does it: a prompt's full blocks of BLOCK tokens are keyed
by a hash chained over every token before them (and the adapter, whose KV differs), their KV is kept
after the prefill, and a later prompt that starts with the same blocks copies them into its slot instead
of computing them. Blocks are evicted least recently used; the store and the slots share one budget
(`--kv-cache-memory`), and the slots come first.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

BLOCK = 16
GROW = 256          # slot length grows in steps of this many tokens


class SlotCache:
    def __init__(self, torch: Any, *, layers: int, kv_heads: int, head_dim: int, dtype: Any, device: Any):
        self.torch, self.dtype, self.device = torch, dtype, device
        self.shape = (layers, kv_heads, head_dim)
        self.bytes_per_token = 2 * layers * kv_heads * head_dim * torch.empty((), dtype=dtype).element_size()
        self.k: Any = None
        self.v: Any = None
        self.slots = 0
        self.length = 0

    def nbytes(self) -> int:
        return self.slots * self.length * self.bytes_per_token

    def ensure(self, slots: int, length: int) -> None:
        """At least `slots` slots of at least `length` tokens (existing contents kept)."""
        if slots <= self.slots and length <= self.length:
            return
        torch = self.torch
        new_slots = max(slots, self.slots)
        new_len = max(self.length, -(-length // GROW) * GROW)
        layers, heads, dim = self.shape
        k = torch.zeros((layers, new_slots, heads, new_len, dim), dtype=self.dtype, device=self.device)
        v = torch.zeros_like(k)
        if self.k is not None:
            k[:, : self.slots, :, : self.length] = self.k
            v[:, : self.slots, :, : self.length] = self.v
        self.k, self.v, self.slots, self.length = k, v, new_slots, new_len

    def release(self) -> None:
        self.k = self.v = None
        self.slots = self.length = 0

    def move(self, src: int, dst: int, tokens: int) -> None:
        """Copy slot `src`'s first `tokens` positions into slot `dst` (a retiring row's slot is reused)."""
        self.k[:, dst, :, :tokens] = self.k[:, src, :, :tokens]
        self.v[:, dst, :, :tokens] = self.v[:, src, :, :tokens]

    def fill(self, slot: int, start: int, kv: tuple[Any, Any]) -> None:
        k, v = kv
        n = k.shape[2]
        self.k[:, slot, :, start:start + n] = k
        self.v[:, slot, :, start:start + n] = v

    def span(self, slot: int, start: int, stop: int) -> tuple[Any, Any]:
        return self.k[:, slot, :, start:stop], self.v[:, slot, :, start:stop]

    # ---- the writers the forward pass calls per layer

    def prefill_writer(self, slot: int, start: int) -> Any:
        """Write a prefill's K/V (1, H, T, D) at positions start.. of one slot; read the slot's prefix."""
        def write(layer: int, k: Any, v: Any, read_len: int) -> tuple[Any, Any]:
            t = k.shape[2]
            self.k[layer, slot, :, start:start + t] = k[0]
            self.v[layer, slot, :, start:start + t] = v[0]
            return self.k[layer, slot:slot + 1, :, :read_len], self.v[layer, slot:slot + 1, :, :read_len]
        return write

    def decode_writer(self, rows: int, positions: Any) -> Any:
        """Write one token per row (slots 0..rows-1) at each row's position; read the rows' slots."""
        slots = self.torch.arange(rows, device=self.device)

        def write(layer: int, k: Any, v: Any, read_len: int) -> tuple[Any, Any]:
            kl, vl = self.k[layer], self.v[layer]
            kl[slots, :, positions] = k[:, :, 0]
            vl[slots, :, positions] = v[:, :, 0]
            return kl[:rows, :, :read_len], vl[:rows, :, :read_len]
        return write


class PrefixStore:
    """KV of prompt blocks seen before, keyed by chained block hashes; LRU within a byte budget."""

    def __init__(self, bytes_per_token: int):
        self.bytes_per_block = bytes_per_token * BLOCK
        self.blocks: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self.hits = 0
        self.evictions = 0

    def nbytes(self) -> int:
        return len(self.blocks) * self.bytes_per_block

    @staticmethod
    def chain(ids: list[int], salt: Any) -> list[int]:
        """The hash of every full block of `ids`, each over all the tokens up to its end."""
        out: list[int] = []
        h = hash(("prefix", salt))
        for i in range(len(ids) // BLOCK):
            h = hash((h, tuple(ids[i * BLOCK:(i + 1) * BLOCK])))
            out.append(h)
        return out

    def match(self, hashes: list[int], most: int) -> list[tuple[Any, Any]]:
        """The stored blocks that start the prompt (at most `most` blocks), marked recently used."""
        found = []
        for h in hashes[:most]:
            kv = self.blocks.get(h)
            if kv is None:
                break
            self.blocks.move_to_end(h)
            found.append(kv)
        self.hits += len(found)
        return found

    def insert(self, hashes: list[int], kv: tuple[Any, Any], start_block: int, budget: int) -> None:
        """Keep the blocks `start_block`.. of a prompt whose KV (layers, H, tokens, D) is `kv`."""
        k, v = kv
        for i in range(start_block, len(hashes)):
            h = hashes[i]
            if h in self.blocks:
                self.blocks.move_to_end(h)
                continue
            if not self.evict_to(budget - self.bytes_per_block):
                return
            sl = slice(i * BLOCK, (i + 1) * BLOCK)
            self.blocks[h] = (k[:, :, sl].clone(), v[:, :, sl].clone())

    def evict_to(self, budget: int) -> bool:
        """Drop least recently used blocks until the store fits `budget` bytes (False: it cannot)."""
        if budget < 0:
            return False
        while self.blocks and self.nbytes() > budget:
            self.blocks.popitem(last=False)
            self.evictions += 1
        return True
