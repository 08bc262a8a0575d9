"""Dispatching `harness eval`'s requests and turning replies into result lines (DESIGN.md "Runs").

A fixed pool of worker tasks pops requests from a deque (never one task per
request); the client (`harness.model.client.ChatClient`) bounds concurrency itself and does retries,
Retry-After, adaptive back-off and load sharing. Each reply's choices become one result line per
sample: parsed with the case's protocol, scored, and appended to results.jsonl in one write per reply
(whole lines), so `kill -9` loses only requests in flight and `--resume` completes every (case,
sample) exactly once. An endpoint failure after retries is a `status: "error"` line with an `error`
field; it is left out of pass rates and asked again by `--resume`.

Samples (`samples = k > 1`): one request with `n = k`. When the endpoint rejects `n` (HTTP 400/422
whose message mentions n or "not supported") or returns fewer choices than asked, the runner remembers
it for the rest of the run and asks the missing samples as separate requests (sample i gets
`seed + i` when a seed is given; without a seed the identical bodies are told apart in the dedupe and
cache key by their sample index, never in the body).

Usage accounting: the endpoint's `usage` of one reply (prompt, completion and cached tokens) is split
evenly, in whole tokens, across the result lines that reply produced (all samples of all cases sharing
the request; the remainder goes to the first lines), so the sums over results.jsonl equal exactly what
the endpoint reported. A cache hit records the usage and latency of the cached reply.

The hot path (reply -> lines) is kept lean: bodies and hashes are precomputed (harness.eval.plan),
protocols are built once per spec, lines are written once per reply with no fsync.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UserError
from harness.eval.config import EvalConfig, check_config, resolve_split, select_cases, system_prompt_record
from harness.eval.plan import CaseCtx, Planner, Request, sample_runs
from harness.eval.replies import (cached_payload, cached_tokens, loads, n_rejected, ordered_choices, split_usage,
                                  token_count, usage_of)

FEED_CHUNK = 64               # cases planned per step while requests are in flight


@dataclass
class Stats:
    planned_cases: int = 0
    planned_samples: int = 0         # (case, sample) pairs this invocation must produce
    skipped_done: int = 0            # (case, sample) pairs resumed from results.jsonl
    requests_planned: int = 0        # after dedupe, before cache
    deduped: int = 0                 # case-requests that share another case's request
    cache_hits: int = 0
    requests_sent: int = 0           # requests handed to the client (each counted once, retries not)
    n_fallback: bool = False         # the endpoint did not honour `n`
    fallback_requests: int = 0
    lines: int = 0
    ok: int = 0
    passed: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    prompt_chars: int = 0            # dry-run estimate input (requests to send)
    dispatch_s: float = 0.0
    feed_s: float = 0.0              # planning done while requests were in flight
    events: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["events"] = dict(self.events)
        return d


class Runner:
    def __init__(self, cfg: EvalConfig):
        check_config(cfg)
        self.cfg = cfg
        self.stats = Stats()
        self.rd: Any = None
        self.cache: Any = None
        self.n_ok: bool | None = None
        self.pending: deque[Request] = deque()
        self.busy = 0
        self.feeding = False     # the planner is still building requests for the queue
        self._probe: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._replies: list[tuple[Request, Any]] = []   # n=1 replies a worker left for _drain
        self._drain_error: BaseException | None = None
        self._score: Any = None
        self._planner: Planner | None = None
        self._protocols: Any = None
        self.kept: dict[tuple[str, int], dict[str, Any]] = {}   # what results.jsonl holds, by (id, sample)
        self._endpoint_id = " ".join(str(e).rstrip("/") for e in cfg.endpoints)
        self.cache_model = cfg.model    # run.py adds the served weights' identity (harness.eval.endpoint)
        self.stop_policy: Any = None    # harness.eval.stops.StopPolicy from the pre-flight; restore: its closer
        self.restore: Any = None

    # -- setup --------------------------------------------------------------------------------------
    def load(self) -> None:
        from harness.score.protocols import ProtocolCache
        from harness.score.verdicts import score
        cfg = self.cfg
        if isinstance(cfg.suite, (str, os.PathLike)):
            from harness.suite import load_suite
            # references are training targets, not sent: `harness suites validate` and training replay them
            self.suite = load_suite(cfg.suite, check_references=False)
        else:
            self.suite = cfg.suite
        self._score = score
        self._protocols = ProtocolCache(cfg.protocol)
        self._protocols.load_override()   # bad name: error now
        self.sp_record = system_prompt_record(cfg.system_prompt, cfg.system_prompt_file)
        self.split = resolve_split(self.suite, cfg.split)    # auto: test when the suite has a train split
        self.cases = select_cases(self.suite, self.split, cfg.shard)
        if not self.cases:
            what = f"split {cfg.split!r}" if cfg.split not in (None, "all") else "the suite"
            raise UserError(f"suite {self.suite.name!r}: no case selected ({what}"
                            f"{f', shard {cfg.shard[0]}/{cfg.shard[1]}' if cfg.shard else ''})")
        self.ctxs = [CaseCtx(c, self._protocols.get(c)) for c in self.cases]
        self.by_id = {c.id: c for c in self.cases}

    def prepare(self, done: set[tuple[str, int]]) -> list[tuple[Any, ...]]:
        """The cheap planning pass: what each case still needs, in dispatch order (prefix-aware)."""
        cfg = self.cfg
        st = self.stats
        planner = self._planner = Planner(cfg, self._protocols,
                                          self.sp_record.get("text") if self.sp_record.get("style") == "file"
                                          else None)
        planner.stop_policy = self.stop_policy
        k = cfg.samples
        items = []
        for i, ctx in enumerate(self.ctxs):
            if done:
                missing = [s for s in range(k) if (ctx.id, s) not in done]
                st.skipped_done += k - len(missing)
            else:
                missing = list(range(k))
            if not missing:
                continue
            st.planned_cases += 1
            st.planned_samples += len(missing)
            sort_key, sys_frag, rest_frag = planner.prefix(ctx)
            items.append((sort_key, i, ctx, missing, sys_frag, rest_frag))
        items.sort(key=lambda t: (t[0], t[1]))
        return items

    def build(self, items: Sequence[tuple[Any, ...]]) -> list[Request]:
        """The costly pass over some prepared items: bodies, hashes, dedupe. Returns the new requests."""
        planner = self._planner
        assert planner is not None
        k = self.cfg.samples
        for sort_key, _, ctx, missing, sys_frag, rest_frag in items:
            base = planner.base(ctx, sys_frag, rest_frag)
            # consecutive runs of missing samples share one n-request each
            for run in sample_runs(missing) if k > 1 else [missing]:
                planner.make(ctx, base, sort_key, run)
        new = planner.take_new()
        self.stats.requests_planned += len(new)
        self.stats.deduped = planner.shared
        return new

    def plan(self, done: set[tuple[str, int]]) -> list[Request]:
        """Every request at once (dry runs, benchmarks); `harness eval` streams build() instead."""
        return self.build(self.prepare(done))

    # -- cache --------------------------------------------------------------------------------------
    def open_cache(self) -> None:
        if not self.cfg.cache:
            return
        from harness.model.cache import ResponseCache
        self.cache = ResponseCache(self.cfg.cache_path) if self.cfg.cache_path else ResponseCache()

    def cache_lookup(self, requests: list[Request]) -> list[Request]:
        """Answer what the cache holds; return the requests still to send."""
        if self.cache is None or not requests:
            return requests
        model = self.cache_model
        ep = self._endpoint_id
        for r in requests:
            r.cache_key = self.cache.key(ep, model, r.ident)
        found = self.cache.get_many([r.cache_key for r in requests])
        if not found:
            return requests
        left = []
        for r in requests:
            hit = found.get(r.cache_key)
            payload = cached_payload(hit)
            if payload is None:
                left.append(r)
                continue
            resp, lat = payload
            if len(ordered_choices(resp)) < r.n:   # a stale partial entry: ask again
                left.append(r)
                continue
            self.stats.cache_hits += 1
            self.on_response(r, resp, lat, from_cache=True,
                             timing=hit.get("stream") if isinstance(hit, dict) else None)
        return left

    def cache_put(self, req: Request, resp: Any, latency_ms: float | None, timing: Any = None) -> None:
        """Remember a complete reply (the cache batches its writes: one transaction per 256 or per second)."""
        if self.cache is None:
            return
        if req.cache_key is None:
            req.cache_key = self.cache.key(self._endpoint_id, self.cache_model, req.ident)
        try:
            entry = {"response": resp, "latency_ms": latency_ms}
            if timing is not None:
                entry["stream"] = timing
            self.cache.put(req.cache_key, entry)
        except Exception as e:  # the cache is an economy, never a reason to lose a run
            self._cache_failed(e)

    def cache_flush(self) -> None:
        if self.cache is None:
            return
        try:
            self.cache.flush()
        except Exception as e:
            self._cache_failed(e)

    def _cache_failed(self, e: Exception) -> None:
        if not self.stats.events.get("cache_write_failed"):
            print(f"harness: warning: response cache write failed: {e}; going on without it", file=sys.stderr)
        self.stats.events["cache_write_failed"] = self.stats.events.get("cache_write_failed", 0) + 1

    # -- results ------------------------------------------------------------------------------------
    def on_response(self, req: Request, resp: Any, latency_ms: float | None, from_cache: bool = False,
                    timing: Any = None) -> None:
        """A successful reply (or a cache hit): one line per (target, sample); fallback for missing choices.
        `timing`: a streamed reply's StreamTiming (or its to_dict() from the cache): each line gets its
        choice's ttft_ms and itl_ms."""
        req.answered = True
        if timing is not None and not isinstance(timing, Mapping):
            timing = timing.to_dict()
        choices = ordered_choices(resp)
        usage = usage_of(resp)     # llama.cpp: cached tokens from `timings` when usage has no details
        got = min(len(choices), req.n)
        if 0 < got < req.n and not from_cache:
            self.n_ok = False
            self.stats.n_fallback = True
        if got and req.n > 1 and not from_cache and self.n_ok is None:
            self.n_ok = True
        n_lines = got * len(req.targets)
        parts = split_usage(usage, n_lines) if n_lines else None
        lines: list[dict[str, Any]] = []
        score = self._score
        st = self.stats
        i = 0
        for ctx, samples in req.targets:
            proto, case, mode, tools, cid = ctx.proto, ctx.case, ctx.mode, ctx.tools, ctx.id
            for j in range(got):
                ch = choices[j]
                msg = ch.get("message") if isinstance(ch, dict) else None
                if not isinstance(msg, dict):
                    msg = {"role": "assistant", "content": msg if isinstance(msg, str) else None}
                if self.restore is not None:   # the closing tag a stop string cut off (harness.eval.stops)
                    msg = self.restore(ctx, msg, ch)
                u = parts[i] if parts is not None else None
                i += 1
                try:
                    turn = proto.parse(msg, mode=mode, tools=tools)
                    v = score(case, turn, proto)
                except Exception as e:  # noqa: BLE001 - a bug in a parser must not end a long run
                    lines.append({"id": cid, "sample": samples[j], "status": "error", "passed": None,
                                  "violations": [], "calls": [], "response": msg, "usage": u,
                                  "latency_ms": latency_ms, "request_hash": req.hash,
                                  "error": f"the harness could not score this answer: {type(e).__name__}: {e}"})
                    st.errors += 1
                    continue
                lines.append({
                    "id": cid, "sample": samples[j], "status": "ok", "passed": v.passed,
                    "violations": [x.to_dict() for x in v.violations],
                    "calls": [c.to_dict() for c in v.calls],
                    "response": msg, "usage": u, "latency_ms": latency_ms, "request_hash": req.hash,
                })
                if timing is not None:
                    tm = timing.get(str(ch.get("index", j) if isinstance(ch, dict) else j)) or {}
                    lines[-1]["ttft_ms"], lines[-1]["itl_ms"] = tm.get("ttft_ms"), tm.get("itl_ms")
                st.ok += 1
                if v.passed:
                    st.passed += 1
        if lines:
            self.write(lines)
            st.lines += len(lines)
            if usage is not None and isinstance(usage, dict):
                st.prompt_tokens += token_count(usage.get("prompt_tokens"))
                st.completion_tokens += token_count(usage.get("completion_tokens"))
                st.cached_tokens += cached_tokens(usage)
        if got and not from_cache and got == req.n:
            self.cache_put(req, resp, latency_ms, timing)
        if got < req.n:
            if got == 0:
                # a 200 without a usable choice: the endpoint's failure, not the model's
                self.on_error(req, "the response has no choices", None, latency_ms)
                return
            self.split_rest(req, got)   # fewer choices than n: the endpoint ignores n

    def write(self, lines: list[dict[str, Any]]) -> None:
        """Append a reply's lines to results.jsonl (one write) and keep them for the summary, with
        RunDir.results()' rule: a later line replaces an earlier one unless that one is ok and it is not."""
        self.rd.extend(lines)
        kept = self.kept
        for r in lines:
            key = (r["id"], r["sample"])
            prev = kept.get(key)
            if prev is None or r["status"] == "ok" or prev["status"] != "ok":
                kept[key] = r

    def on_error(self, req: Request, error: str, http_status: int | None, latency_ms: float | None = None) -> None:
        req.answered = True
        lines = []
        for ctx, samples in req.targets:
            for s in samples:
                lines.append({"id": ctx.id, "sample": s, "status": "error", "passed": None, "violations": [],
                              "calls": [], "response": None, "usage": None, "latency_ms": latency_ms,
                              "request_hash": req.hash, "error": error if http_status is None or "HTTP" in error
                              else f"HTTP {http_status}: {error}"})
        self.write(lines)
        self.stats.lines += len(lines)
        self.stats.errors += len(lines)

    def split_rest(self, req: Request, got: int) -> None:
        """Ask samples got.. of `req` as separate requests (the endpoint gave fewer choices than n)."""
        planner = self._planner
        assert planner is not None
        table: dict[bytes, Request] = {}
        for ctx, samples in req.targets:
            for s in samples[got:]:
                planner.make(ctx, req.base, req.sort_key, [s], by_ident=table)
        new = list(table.values())
        self.stats.fallback_requests += len(new)
        left = self.cache_lookup(new)
        # ahead of the queue: these belong to requests already under way
        self.pending.extendleft(reversed(left))
        if self._wake is not None:
            self._wake.set()

    def handle_reply(self, req: Request, reply: Any) -> None:
        status = getattr(reply, "status", None)
        lat = getattr(reply, "latency_ms", None)
        if status == "ok":
            body = reply.body
            if isinstance(body, (bytes, bytearray, memoryview, str)):
                try:
                    body = loads(body)
                except ValueError:
                    self.on_error(req, "the response is not JSON", getattr(reply, "http_status", None), lat)
                    return
            if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
                self.on_error(req, "the response has no choices list", getattr(reply, "http_status", None), lat)
                return
            self.on_response(req, body, lat, timing=getattr(reply, "stream", None))
            return
        err = str(getattr(reply, "error", None) or "request failed")
        hs = getattr(reply, "http_status", None)
        if req.n > 1 and n_rejected(reply, err, hs):
            self.n_ok = False
            self.stats.n_fallback = True
            self.split_rest(req, 0)
            return
        self.on_error(req, err, hs, lat)

    # -- the loop -----------------------------------------------------------------------------------
    async def dispatch(self, requests: list[Request], tail: Sequence[tuple[Any, ...]], make_client: Any) -> None:
        """Send `requests`, then the requests of the prepared `tail` items, built in chunks while the
        first ones are in flight (planning overlaps the network wait). The client is opened only when
        something must be sent: a rerun answered by the cache opens no connection."""
        self.pending.extend(requests)
        tail = list(tail)
        pos = 0
        while not self.pending and pos < len(tail):     # all answered by the cache so far
            self.pending.extend(self.cache_lookup(self.build(tail[pos:pos + FEED_CHUNK])))
            pos += FEED_CHUNK
        if not self.pending:
            return
        self._wake = asyncio.Event()
        self.feeding = pos < len(tail)
        async with make_client() as client:
            # the client bounds what is in flight (adaptive); one worker per slot keeps it fed
            n_workers = max(1, min(self.cfg.concurrency, 4096))
            tasks = [asyncio.create_task(self._worker(client)) for _ in range(n_workers)]
            if self.feeding:
                tasks.append(asyncio.create_task(self._feed(tail[pos:])))
            try:
                await asyncio.gather(*tasks)
            finally:
                for t in tasks:
                    t.cancel()
                if self._replies:     # interrupted: what was received is still written
                    self._drain()
            if self._drain_error is not None:
                raise self._drain_error
            cstats = getattr(client, "stats", None)
            if cstats is not None:
                self.stats.events["client"] = _plain(cstats)  # type: ignore[assignment]

    async def _feed(self, items: list[tuple[Any, ...]]) -> None:
        wake = self._wake
        assert wake is not None
        t = 0.0
        try:
            for i in range(0, len(items), FEED_CHUNK):
                await asyncio.sleep(0)       # let replies in between chunks
                t0 = time.perf_counter()
                left = self.cache_lookup(self.build(items[i:i + FEED_CHUNK]))
                t += time.perf_counter() - t0
                if left:
                    self.pending.extend(left)
                    wake.set()
        finally:
            self.feeding = False
            self.stats.feed_s = t
            wake.set()

    async def _worker(self, client: Any) -> None:
        pending = self.pending
        st = self.stats
        chat = client.chat
        wake = self._wake
        assert wake is not None
        call_later = asyncio.get_running_loop().call_later
        replies = self._replies
        while True:
            if self._drain_error is not None:
                raise self._drain_error
            if not pending:
                if self.busy == 0 and not self.feeding:
                    wake.set()
                    return
                wake.clear()
                await wake.wait()
                continue
            req = pending.popleft()
            self.busy += 1     # holding a request: other workers must not finish while it may split
            probe = None
            deferred = False
            try:
                if req.n > 1:
                    # until the endpoint has shown whether it honours n, one n-request probes at a time
                    while self.n_ok is None and self._probe is not None:
                        await self._probe.wait()
                    if self.n_ok is False:
                        self.split_rest(req, 0)
                        continue
                    if self.n_ok is None:
                        probe = self._probe = asyncio.Event()
                st.requests_sent += 1
                try:
                    reply = await chat(req.body)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # the client should not raise; if it does, it is the endpoint's error
                    self.on_error(req, f"{type(e).__name__}: {e}", None)
                    continue
                if req.n == 1:
                    # send the next request before this reply is parsed, scored and written: _drain runs
                    # as a 0-second timer, i.e. after the callbacks already queued (on Python < 3.12
                    # aiohttp writes a request body in a task of its own). A reply of one choice never
                    # adds requests, and a slot no longer idles while the replies ahead of it are scored
                    if not replies:
                        call_later(0, self._drain)
                    replies.append((req, reply))
                    deferred = True     # busy stays counted until _drain has handled it
                else:
                    self.handle_reply(req, reply)
            finally:
                if not deferred:
                    self.busy -= 1
                if probe is not None:
                    self._probe = None
                    probe.set()
                if self.busy == 0 or pending:
                    wake.set()

    def _drain(self) -> None:
        """Handle the replies the workers left (see _worker). An exception is kept and raised by the
        workers and dispatch(), as it was when replies were handled in the worker itself."""
        replies = self._replies
        if not replies:
            return
        batch = replies[:]
        replies.clear()
        for req, reply in batch:
            try:
                if self._drain_error is None:
                    self.handle_reply(req, reply)
            except BaseException as e:  # noqa: BLE001 - surfaced by the workers and dispatch()
                self._drain_error = e
            finally:
                self.busy -= 1
        if self._wake is not None and (self.busy == 0 or self.pending or self._drain_error is not None):
            self._wake.set()

    def on_event(self, *args: Any, **kwargs: Any) -> None:
        """Client events (retries, back-off, ...): counted by kind for the progress bar and summary."""
        ev = args[0] if args else kwargs.get("event", kwargs.get("kind", "event"))
        if isinstance(ev, Mapping):
            ev = ev.get("kind") or ev.get("type") or ev.get("event") or "event"
        else:
            ev = getattr(ev, "kind", None) or getattr(ev, "type", None) or ev
        name = str(ev)
        self.stats.events[name] = self.stats.events.get(name, 0) + 1



def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    if hasattr(obj, "__dict__"):
        return {k: _plain(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return str(obj)


__all__ = ["FEED_CHUNK", "Runner", "Stats"]
