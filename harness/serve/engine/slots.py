"""Continuous batching on the lean path: rows in preallocated KV slots, prompts served from the prefix store.

A request is admitted while the slots it needs (prompt + max_tokens positions for each of its `n` rows)
and those already running fit the KV budget; it is prefilled alone (its cached prefix blocks copied in,
only the rest computed), and its rows join the running batch by taking the next free slots. A decode
step feeds one token per row at each row's own position, with a mask over the slots' lengths. A retiring
row's slot is refilled by the last row, so the running rows stay in slots 0..B-1.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from harness.serve.engine.kvcache import BLOCK, GROW, PrefixStore, SlotCache
from harness.serve.engine.lean import LeanLlama
from harness.serve.engine.request import GenRequest, Row
from harness.serve.engine.sampling import advance, sample

log = logging.getLogger("harness.serve.engine")


class SlotBatching:
    """The lean-path half of BatchWorker (worker.py dispatches to it when model.py built a LeanLlama)."""

    torch: Any
    device: Any
    eos_ids: frozenset[int]
    detok: Any
    max_rows: int
    max_len: int
    stats: dict[str, int]
    _cv: threading.Condition
    _inbox: deque[GenRequest]
    _rows: list[Row]
    _next: Any
    _forward: Callable[..., Any]
    lean: LeanLlama | None
    slots: SlotCache
    store: PrefixStore
    kv_budget: int

    def _need(self, req: GenRequest) -> int:
        """The slot length a request's rows take: prompt + max_tokens, in the cache's steps of GROW."""
        return -(-min(len(req.prompt_ids) + req.max_tokens, self.max_len) // GROW) * GROW

    def _admit_slots(self) -> list[GenRequest]:
        """Waiting requests (FIFO) whose rows fit next to the running ones in the KV budget."""
        taken: list[GenRequest] = []
        rows = len(self._rows)
        length = max((self._need(r.req) for r in self._rows), default=0)
        bpt = self.slots.bytes_per_token
        with self._cv:
            while self._inbox:
                req = self._inbox[0]
                if req.cancelled:
                    self._inbox.popleft()
                    continue
                want_rows, want_len = rows + req.n, max(length, self._need(req))
                fits = want_rows * want_len * bpt <= self.kv_budget and want_rows <= self.max_rows
                if not fits and (rows or taken):
                    break                 # alone, a request runs even past the budget rather than starve
                self._inbox.popleft()
                taken.append(req)
                rows, length = want_rows, want_len
        return taken

    def _prefill_slots(self, req: GenRequest) -> None:
        torch = self.torch
        assert self.lean is not None
        ids = req.prompt_ids
        total = len(ids)
        hashes = self.store.chain(ids, req.adapter)
        blocks = self.store.match(hashes, (total - 1) // BLOCK)   # at least one token is computed
        cached = len(blocks) * BLOCK
        base = len(self._rows)
        self.slots.ensure(base + req.n, self._need(req))
        self.store.evict_to(max(0, self.kv_budget - self.slots.nbytes()))   # the slots come first
        if blocks:
            self.slots.fill(base, 0, (torch.cat([b[0] for b in blocks], dim=2), torch.cat([b[1] for b in blocks], dim=2)))
        new = torch.tensor([ids[cached:]], dtype=torch.long, device=self.device)
        pos = torch.arange(cached, total, device=self.device)[None]
        m = total - cached
        mask = None
        if m > 1:
            mask = torch.ones((m, total), dtype=torch.bool, device=self.device).tril(diagonal=cached)[None, None]
        lean, slots = self.lean, self.slots
        logits = self._forward([req.adapter], _run=lambda: lean.forward(
            new, pos, slots, slots.prefill_writer(base, cached), total, mask))
        self.store.insert(hashes, slots.span(base, 0, len(hashes) * BLOCK), len(blocks),
                          self.kv_budget - slots.nbytes())
        req.cached = cached
        self.stats["prefills"] += 1
        self.stats["prefill_rows"] += 1
        self.stats["requests"] += 1
        self.stats["prompt_tokens"] += total
        self.stats["cached_tokens"] += cached
        self._start_rows(req)
        for j in range(1, req.n):
            slots.move(base, base + j, total)
        rows = [Row(req, j, total) for j in range(req.n)]
        self.stats["rows"] += len(rows)
        toks = sample(torch, logits.expand(req.n, -1), rows)
        advance(rows, toks, eos_ids=self.eos_ids, detok=self.detok)
        live = [j for j, row in enumerate(rows) if not row.done]
        for k, j in enumerate(live):
            if k != j:
                slots.move(base + j, base + k, total)
        if not live:
            return
        toks = toks[live] if len(live) < len(rows) else toks
        self._rows = self._rows + [rows[j] for j in live]
        self._next = toks if self._next is None or base == 0 else torch.cat([self._next, toks])

    def _decode_slots(self) -> None:
        torch = self.torch
        assert self.lean is not None
        rows = self._rows
        b = len(rows)
        where = [row.pos for row in rows]
        positions = torch.tensor(where, device=self.device)
        read_len = max(where) + 1
        mask = None
        if min(where) != read_len - 1:
            mask = (torch.arange(read_len, device=self.device)[None] <= positions[:, None])[:, None, None]
        lean, slots = self.lean, self.slots
        logits = self._forward([row.req.adapter for row in rows], _run=lambda: lean.forward(
            self._next[:, None], positions[:, None], slots, slots.decode_writer(b, positions), read_len, mask))
        self.stats["steps"] += 1
        self.stats["row_steps"] += b
        self.stats["peak_rows"] = max(self.stats["peak_rows"], b)
        for row in rows:
            row.pos += 1
        toks = sample(torch, logits, rows)
        self._next = toks
        advance(rows, toks, eos_ids=self.eos_ids, detok=self.detok)
        if any(row.done for row in rows):
            self._retire_slots([i for i, row in enumerate(rows) if not row.done])

    def _retire_slots(self, keep: list[int]) -> None:
        """Keep the rows at `keep`: each freed slot below the last kept row takes that row."""
        if not keep:
            self._rows, self._next = [], None
            return
        size = len(keep)
        inside = {i for i in keep if i < size}
        holes = [i for i in range(size) if i not in inside]
        movers = [i for i in keep if i >= size]        # as many as there are holes
        src = list(range(size))
        for hole, mover in zip(holes, movers, strict=True):
            self.slots.move(mover, hole, self._rows[mover].pos)
            src[hole] = mover
        self._rows = [self._rows[i] for i in src]
        self._next = self._next.index_select(0, self.torch.tensor(src, device=self.device))

    def _start_rows(self, req: GenRequest) -> None:
        """Choices and the sampling generator of a request whose first token is about to be sampled."""
        import random

        req.choices = [None] * req.n
        req.left = req.n
        if req.temperature > 0 and req.generator is None:
            req.generator = self.torch.Generator(device=self.device)
            req.generator.manual_seed(req.seed & 0xFFFF_FFFF_FFFF_FFFF if req.seed is not None
                                      else random.getrandbits(63))
