"""The client's pacing policy: the AIMD concurrency limiter, Retry-After parsing and retry back-off.

Concurrency (AIMD): at most `limit` requests in flight, `limit` starting at `concurrency`. A 429 or an
overload answer (503, 529) halves `limit` (not below 1) — once per congestion event: answers to
requests sent before the last decrease (an older `epoch`), and answers within the `Retry-After` that
came with the last decrease, do not halve it again. After a run of `ceil(limit / 8)` consecutive
successes `limit` grows by one, back up to `concurrency`. Waits between attempts are exponential with
full jitter, or the server's Retry-After plus a jitter of up to `backoff_base` (harness.model.client).
"""
from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

RETRY_STATUSES = frozenset({408, 409, 429})
OVERLOAD_STATUSES = frozenset({429, 503, 529})
MAX_RETRY_AFTER = 120.0      # seconds; a longer Retry-After ends the request as an error


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        s = float(value)
        return s if s >= 0 and math.isfinite(s) else None
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    return max(0.0, dt.timestamp() - time.time())


def backoff_wait(rng: random.Random, attempts: int, retry_after: float | None, base: float, cap: float) -> float:
    """Seconds before the next attempt after `attempts` tries: Retry-After plus jitter, else full jitter."""
    if retry_after is not None:
        return retry_after + rng.uniform(0.0, base)
    return rng.uniform(0.0, min(cap, base * (2 ** (attempts - 1))))


class AimdLimiter:
    """At most `limit` requests in flight; the client reads and bumps `in_flight` itself on its fast path
    (a free slot and nobody waiting) and calls `acquire` otherwise, `wake` after freeing a slot."""

    __slots__ = ("concurrency", "limit", "in_flight", "waiters", "epoch", "hold_until", "streak", "run",
                 "rate_limited", "decreases", "min_limit", "_on_event")

    def __init__(self, concurrency: int, on_event: Callable[[str, dict[str, Any]], None]) -> None:
        self.concurrency = concurrency
        self.limit = float(concurrency)
        self.in_flight = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.epoch = 0
        self.hold_until = 0.0
        self.streak = 0
        self.run = max(1, math.ceil(self.limit / 8))
        self.rate_limited = 0
        self.decreases = 0
        self.min_limit = concurrency
        self._on_event = on_event

    async def acquire(self) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was granted just before the cancellation
            else:
                try:
                    self.waiters.remove(fut)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        self.in_flight -= 1
        if self.waiters:
            self.wake()

    def wake(self) -> None:
        w = self.waiters
        while w and self.in_flight < self.limit:
            fut = w.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)

    def overloaded(self, epoch: int, status: int, retry_after: float | None, max_hold: float) -> None:
        """A 429/503/529 to a request sent in `epoch`: halve the limit, once per congestion event."""
        self.rate_limited += 1
        if epoch != self.epoch:
            return  # sent before the last decrease: the same congestion event
        now = time.monotonic()
        if now < self.hold_until:
            return  # within the Retry-After of the last decrease: the same congestion event
        if retry_after:
            self.hold_until = now + min(retry_after, max_hold)
        old = self.limit
        self.limit = float(max(1, math.floor(old / 2)))
        self.epoch += 1
        self.streak = 0
        self.run = max(1, math.ceil(self.limit / 8))
        if self.limit < old:
            self.decreases += 1
            if self.limit < self.min_limit:
                self.min_limit = int(self.limit)
            self._on_event("limit", {"old": int(old), "new": int(self.limit), "reason": f"HTTP {status}"})

    def succeeded(self) -> None:
        """A success while below `concurrency`: after a run of them, one more slot."""
        if self.limit < self.concurrency:
            self.streak += 1
            if self.streak >= self.run:
                old = self.limit
                self.limit = old + 1.0
                self.streak = 0
                self.run = max(1, math.ceil(self.limit / 8))
                self._on_event("limit", {"old": int(old), "new": int(self.limit), "reason": "recovery"})
                if self.waiters:
                    self.wake()


__all__ = ["MAX_RETRY_AFTER", "OVERLOAD_STATUSES", "RETRY_STATUSES", "AimdLimiter", "backoff_wait",
           "retry_after_seconds"]
