"""The generation worker thread: continuous batching over one KV cache.

Every request goes to this thread, which runs its own decode loop over a KV cache (transformers
DynamicCache). At each step it admits waiting requests (prefilled together, left-padded, `n` rows
expanded from one prefill) into the running batch by padding the caches to a common length, decodes one
token for every row, and retires finished rows at once (their futures resolve while the others go on).
Adapter loads and unloads (lora.py) run on the same thread between steps, via `call`.
"""
from __future__ import annotations

import concurrent.futures
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from harness.serve.engine.config import APIError, EngineConfig
from harness.serve.engine.lean import Stopped
from harness.serve.engine.request import GenRequest, Row
from harness.serve.engine.sampling import advance, sample
from harness.serve.engine.slots import SlotBatching

log = logging.getLogger("harness.serve.engine")


class BatchWorker(SlotBatching):
    """The worker half of LocalModel (model.py sets the model attributes it uses: torch, device, pad_id,
    eos_ids, detok, threads, max_rows, batch_wait, and `_forward` from lora.py)."""

    torch: Any
    device: Any
    threads: int
    pad_id: int
    eos_ids: frozenset[int]
    detok: Any
    max_rows: int
    batch_wait: float
    _cache_kw: str
    _keep_last: dict[str, int]
    _forward: Callable[..., Any]
    _reap_adapters: Callable[[], None]

    def _start_worker(self, cfg: EngineConfig) -> None:
        self._cv = threading.Condition()
        self._inbox: deque[GenRequest] = deque()
        self._admin: deque[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = deque()
        self._stopping = False
        self._rows: list[Row] = []
        self._cache: Any = None
        self._mask: Any = None
        self._next: Any = None
        self._mixed_ok = True
        self._mergeable = True
        self.stats = {"requests": 0, "rows": 0, "steps": 0, "row_steps": 0, "prefills": 0, "prefill_rows": 0,
                      "adapter_switches": 0, "mixed_steps": 0, "errors": 0, "prompt_tokens": 0,
                      "cached_tokens": 0, "peak_rows": 0}
        self.thread = threading.Thread(target=self._run, name="harness-engine-worker", daemon=True)
        self.thread.start()

    # ---- thread-safe API

    def submit(self, req: GenRequest) -> None:
        with self._cv:
            if self._stopping:
                raise APIError(HTTPStatus.SERVICE_UNAVAILABLE, "the engine is shutting down", "ServiceUnavailable")
            self._inbox.append(req)
            self._cv.notify()

    def call(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._cv:
            if self._stopping:
                fut.set_exception(RuntimeError("the engine is shutting down"))
                return fut
            self._admin.append((fn, fut))
            self._cv.notify()
        return fut

    def close(self, timeout: float = 10.0) -> None:
        """Stop: every waiting and running request is answered 503 now (not after its forward pass), and
        the worker abandons a pass between layers (lean.Stopped)."""
        shutdown = APIError(HTTPStatus.SERVICE_UNAVAILABLE, "the engine is shutting down", "ServiceUnavailable")
        with self._cv:
            self._stopping = True
            pending = list(self._inbox) + [row.req for row in list(self._rows)]
            self._cv.notify()
        for r in pending:
            r.fail(shutdown)
        self.thread.join(timeout)

    def alive(self) -> bool:
        return self.thread.is_alive()

    # ---- worker loop

    def _run(self) -> None:
        torch = self.torch
        torch.set_num_threads(self.threads)
        with torch.inference_mode():
            while True:
                with self._cv:
                    while not (self._stopping or self._inbox or self._admin or self._rows):
                        self._cv.wait()
                    if self._stopping:
                        break
                    if not self._rows and self._inbox and self.batch_wait > 0 and not self._admin:
                        # idle: give requests sent together a moment to arrive, so they start together
                        deadline = time.monotonic() + self.batch_wait
                        while (not self._stopping and sum(r.n for r in self._inbox) < self.max_rows
                               and (left := deadline - time.monotonic()) > 0):
                            self._cv.wait(left)
                    admin = list(self._admin)
                    self._admin.clear()
                for fn, fut in admin:
                    if fut.set_running_or_notify_cancel():
                        try:
                            fut.set_result(fn())
                        except BaseException as e:  # noqa: BLE001 - handed to the caller
                            fut.set_exception(e)
                new: list[GenRequest] = []
                try:
                    self._drop_cancelled()
                    if self.lean is not None:
                        new = self._admit_slots()
                        for req in new:
                            self._prefill_slots(req)
                        if self._rows:
                            self._decode_slots()
                    else:
                        new = self._admit()
                        if new:
                            self._prefill(new)
                        if self._rows:
                            self._decode_step()
                    self._reap_adapters()
                except Stopped:
                    break
                except Exception as e:  # noqa: BLE001 - fail the batch, keep serving
                    log.exception("generation failed")
                    self.stats["errors"] += 1
                    err = APIError(HTTPStatus.INTERNAL_SERVER_ERROR, f"generation failed: {type(e).__name__}: {e}",
                                   "InternalServerError")
                    for r in {row.req for row in self._rows} | set(new):
                        r.fail(err)
                    self._rows, self._cache, self._mask, self._next = [], None, None, None
            shutdown = APIError(HTTPStatus.SERVICE_UNAVAILABLE, "the engine is shutting down", "ServiceUnavailable")
            with self._cv:
                pending = list(self._inbox)
                self._inbox.clear()
                admin = list(self._admin)
                self._admin.clear()
            for r in pending + [row.req for row in self._rows]:
                r.fail(shutdown)
            for _, fut in admin:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(RuntimeError("the engine is shutting down"))

    def _admit(self) -> list[GenRequest]:
        """Waiting requests that join the batch now (FIFO, up to max_rows rows)."""
        room = self.max_rows - len(self._rows)
        if room <= 0:
            return []
        if self._rows and not self._mergeable:
            return []
        taken: list[GenRequest] = []
        with self._cv:
            if not self._inbox:
                return []
            if not self._mixed_ok:
                adapter = self._rows[0].req.adapter if self._rows else self._inbox[0].adapter
            while self._inbox and room >= self._inbox[0].n:
                req = self._inbox[0]
                if not self._mixed_ok and req.adapter != adapter:
                    break
                self._inbox.popleft()
                if req.cancelled:
                    continue
                taken.append(req)
                room -= req.n
        return taken

    def _drop_cancelled(self) -> None:
        if any(row.req.cancelled for row in self._rows):
            self._retire([i for i, row in enumerate(self._rows) if not row.req.cancelled])


    # ---- prefill, decode

    def _prefill(self, reqs: list[GenRequest]) -> None:
        torch = self.torch
        from transformers import DynamicCache

        if not self._mixed_ok and len({r.adapter for r in reqs}) > 1:  # pragma: no cover - admission prevents it
            raise RuntimeError("mixed adapters in one prefill without mixed-batch support")
        width = max(len(r.prompt_ids) for r in reqs)
        ids = torch.full((len(reqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(reqs), width), dtype=torch.long)
        for i, r in enumerate(reqs):
            ids[i, width - len(r.prompt_ids):] = torch.tensor(r.prompt_ids, dtype=torch.long)
            mask[i, width - len(r.prompt_ids):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        try:
            out = self._forward([r.adapter for r in reqs], input_ids=ids, attention_mask=mask, position_ids=pos,
                                use_cache=True, **self._keep_last, **{self._cache_kw: cache})
        except (AttributeError, TypeError, ValueError) as e:
            if len({r.adapter for r in reqs}) > 1 and self._mixed_ok:
                log.warning("mixed-adapter batches unavailable (%s); batching one adapter at a time", e)
                self._mixed_ok = False
                with self._cv:
                    self._inbox.extendleft(reversed(reqs))
                return
            raise
        logits = out.logits[:, -1, :]        # the cache object was filled in place
        self.stats["prefills"] += 1
        self.stats["prefill_rows"] += len(reqs)
        expand = [i for i, r in enumerate(reqs) for _ in range(r.n)]
        if len(expand) != len(reqs):
            idx = torch.tensor(expand, device=self.device)
            cache.batch_select_indices(idx)
            mask, logits = mask[idx], logits[idx]
        rows: list[Row] = []
        for r in reqs:
            self.stats["requests"] += 1
            r.choices = [None] * r.n
            r.left = r.n
            if r.temperature > 0 and r.generator is None:
                r.generator = torch.Generator(device=self.device)
                r.generator.manual_seed(r.seed & 0xFFFF_FFFF_FFFF_FFFF if r.seed is not None
                                       else random.getrandbits(63))
            rows.extend(Row(r, j, len(r.prompt_ids)) for j in range(r.n))
        self.stats["rows"] += len(rows)
        toks = sample(self.torch, logits, rows)
        advance(rows, toks, eos_ids=self.eos_ids, detok=self.detok)
        live = [i for i, row in enumerate(rows) if not row.done]
        if not live:
            return
        if len(live) < len(rows):      # finished at their first token (max_tokens 1, EOS, a stop)
            idx = torch.tensor(live, device=self.device)
            cache.batch_select_indices(idx)
            mask, toks, rows = mask.index_select(0, idx), toks.index_select(0, idx), [rows[i] for i in live]
        self._merge(cache, mask, toks, rows)

    def _merge(self, cache: Any, mask: Any, toks: Any, rows: list[Row]) -> None:
        torch = self.torch
        import torch.nn.functional as F

        if not self._rows:
            self._cache, self._mask, self._next, self._rows = cache, mask, toks, rows
            self._mergeable = all(type(layer).__name__ == "DynamicLayer" for layer in getattr(cache, "layers", []))
            return
        t1, t2 = self._mask.shape[1], mask.shape[1]
        width = max(t1, t2)
        for mine, theirs in zip(self._cache.layers, cache.layers):
            k1, v1, k2, v2 = mine.keys, mine.values, theirs.keys, theirs.values
            if width > t1:
                k1, v1 = F.pad(k1, (0, 0, width - t1, 0)), F.pad(v1, (0, 0, width - t1, 0))
            if width > t2:
                k2, v2 = F.pad(k2, (0, 0, width - t2, 0)), F.pad(v2, (0, 0, width - t2, 0))
            mine.keys, mine.values = torch.cat([k1, k2]), torch.cat([v1, v2])
        self._mask = torch.cat([F.pad(self._mask, (width - t1, 0)), F.pad(mask, (width - t2, 0))])
        self._next = torch.cat([self._next, toks])
        self._rows = self._rows + rows

    def _decode_step(self) -> None:
        torch = self.torch
        rows = self._rows
        b = len(rows)
        self._mask = torch.cat([self._mask, self._mask.new_ones((b, 1))], dim=1)
        pos = torch.tensor([[row.pos] for row in rows], device=self.device)
        out = self._forward([row.req.adapter for row in rows], input_ids=self._next[:, None],
                            attention_mask=self._mask, position_ids=pos, use_cache=True,
                            **{self._cache_kw: self._cache})
        self.stats["steps"] += 1
        self.stats["row_steps"] += b
        for row in rows:
            row.pos += 1
        toks = sample(self.torch, out.logits[:, -1, :], rows)
        self._next = toks
        advance(rows, toks, eos_ids=self.eos_ids, detok=self.detok)
        if any(row.done for row in rows):
            self._retire([i for i, row in enumerate(rows) if not row.done])

    def _retire(self, keep: list[int]) -> None:
        """Keep only the rows at `keep` (indices into the batch) and trim padding no row needs."""
        torch = self.torch
        if self.lean is not None:
            self._retire_slots(keep)
            return
        if not keep:
            self._rows, self._cache, self._mask, self._next = [], None, None, None
            return
        idx = torch.tensor(keep, device=self.device)
        self._cache.batch_select_indices(idx)
        self._mask = self._mask.index_select(0, idx)
        self._next = self._next.index_select(0, idx)
        self._rows = [self._rows[i] for i in keep]
        used = self._mask.any(dim=0).nonzero()
        lead = int(used[0]) if used.numel() else 0
        if lead > 0 and self._mergeable:
            for layer in self._cache.layers:
                layer.keys, layer.values = layer.keys[:, :, lead:], layer.values[:, :, lead:]
            self._mask = self._mask[:, lead:]
