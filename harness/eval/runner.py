"""The endpoint runner behind `harness eval` and `harness.evaluate` (DESIGN.md "Runs").

    cfg = EvalConfig(suite="roo-core", endpoints=["http://127.0.0.1:8000/v1"], model="qwen", out="runs/x")
    outcome = asyncio.run(run_eval(cfg))          # -> Outcome(summary, manifest, run_dir, stats, ...)

Two phases.

**Plan**: the selected cases (`split`, `shard`) become request bodies. messages = [system prompt] + case.messages, where the system prompt is the protocol's
rendering for the case's mode (`system_prompt` "full" | "compact") or the exact text of
`system_prompt_file`; a case that carries its own system message keeps it and gets none added.
`tools` = protocol.request_tools(...) (with tool_choice "auto" and parallel_tool_calls false for
one-call-per-turn catalogs), `stop` = protocol.stop_sequences(), `max_tokens` (default
DEFAULT_MAX_TOKENS), temperature / top_p / seed when given, and `n` for several samples. Each body is
serialised once (canonical JSON: sorted keys, compact, UTF-8 — what harness.model.cache keys on) from cached
fragments (the system message and the tools are serialised once per protocol/mode/tools) and hashed once (`request_hash` = sha256 of the request's
identity, 32 hex digits). Then:
  * resume: (id, sample) pairs with an `ok` line in results.jsonl are skipped; a partly done case asks
    only for its missing samples (n = how many are missing, seed + first missing sample);
  * dedupe: cases whose requests are byte-identical share one request; each still gets its own lines;
  * cache: planned requests are looked up in batches (`ResponseCache.get_many`, one query each); a hit
    produces its result lines without a request;
  * order: requests are grouped by (system prompt, tools) and sorted by their message JSON, so requests
    sharing a prefix go out together and server-side prefix caches hit.
Planning runs in two passes: `prepare` (every case: what it still needs and its place in the order;
cheap) and `build` (bodies, hashes, dedupe, cache lookup; the costly part). `harness eval` builds the
first 2 x concurrency requests, starts sending, and builds the rest in chunks of FEED_CHUNK cases while
those are in flight, so planning overlaps the network wait. A case whose request is byte-identical to
one already answered (only possible across chunks, since identical requests sort together) gets its
own request, which the cache usually answers.

**Dispatch** (asyncio): a fixed pool of worker tasks pops requests from a deque (never one task per
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

The hot path (reply -> lines) is kept lean: bodies and hashes are precomputed, protocols are built once
per spec, system prompts and request tools are rendered once per (protocol, mode, tools), lines are
written once per reply with no fsync, and the cyclic garbage collector is paused during the run.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserError

try:  # optional: ~3x faster JSON parsing of replies; the stdlib is the fallback
    import orjson as _orjson

    _loads: Callable[[Any], Any] = _orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None
    _loads = json.loads

DEFAULT_MAX_TOKENS = 1024     # enough for one tool call with a file body; the protocol's stop ends it sooner
                              # (a protocol may say otherwise with a `default_max_tokens` attribute)
DEFAULT_CONCURRENCY = 64
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 6
HASH_CHARS = 32
FEED_CHUNK = 64               # cases planned per step while requests are in flight
SPLITS = ("train", "test", "all")
_N_REJECTED = re.compile(r"(\bn\b|'n'|\"n\"|\bnum_?samples\b|not supported|unsupported|only\s+1|"
                         r"must be 1|n_choices)", re.I)


# -- configuration ----------------------------------------------------------------------------------

@dataclass
class EvalConfig:
    """Everything `harness eval` takes. `suite` is a name, a path or a loaded Suite."""

    suite: Any
    endpoints: list[str]
    model: str
    protocol: str | None = None
    split: str | None = None                 # train | test | all (None = all)
    shard: tuple[int, int] | None = None     # (I, N): keep the cases whose stable id hash % N == I
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    samples: int = 1
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    system_prompt: str = "full"              # full | compact
    system_prompt_file: str | None = None
    out: str | os.PathLike[str] | None = None
    resume: bool = False
    cache: bool = True
    cache_path: str | os.PathLike[str] | None = None
    price: Mapping[str, float] | None = None
    api_key_env: str = "OPENAI_API_KEY"
    progress: bool = False
    dry_run: bool = False
    register: bool = True
    extra_body: Mapping[str, Any] | None = None   # merged into every request body (API users)


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


@dataclass
class Outcome:
    summary: dict[str, Any] | None
    manifest: dict[str, Any] | None
    run_dir: Path | None
    stats: Stats
    results: list[dict[str, Any]] | None = None
    dry_run: dict[str, Any] | None = None


# -- helpers ----------------------------------------------------------------------------------------

def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` with 0 <= I < N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise UserError(f"--shard {text!r}: expected I/N, e.g. 0/4")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise UserError(f"--shard {text!r}: need N >= 1 and 0 <= I < N")
    return i, n


def shard_of(case_id: str, n: int) -> int:
    """The shard of a case: a stable hash of its id (the same on every machine and Python)."""
    return int.from_bytes(hashlib.sha256(case_id.encode("utf-8")).digest()[:8], "big") % n


def select_cases(suite: Any, split: str | None, shard: tuple[int, int] | None) -> list[Any]:
    if split not in (None, *SPLITS):
        raise UserError(f"--split {split!r}: use one of {', '.join(SPLITS)}")
    cases = suite.split(None if split in (None, "all") else split)
    if shard is not None:
        i, n = shard
        cases = [c for c in cases if shard_of(c.id, n) == i]
    return cases


def _key_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def system_prompt_record(style: str, path: str | None) -> dict[str, Any]:
    """What run.json records about the system prompt (the file's exact text, as `harness score` does)."""
    if path:
        from protocols.prompts import load_system_prompt_file
        text = load_system_prompt_file(path)
        return {"style": "file", "path": str(Path(path).resolve()),
                "sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text}
    return {"style": style}


def sampling_record(cfg: EvalConfig) -> dict[str, Any]:
    return {"samples": cfg.samples, "temperature": cfg.temperature, "top_p": cfg.top_p,
            "max_tokens": cfg.max_tokens, "seed": cfg.seed}


def default_out(suite_name: str, model: str, t: float | None = None) -> Path:
    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "x"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(t))
    return Path("runs") / f"{clean(suite_name)}-{clean(model)}-{stamp}"


def _protocol_key(spec: Any) -> Any:
    return spec if isinstance(spec, str) else _key_json(spec)


# -- plan -------------------------------------------------------------------------------------------

class CaseCtx:
    """A case with what the hot path needs: its protocol and the arguments of parse()."""

    __slots__ = ("case", "id", "proto", "mode", "tools")

    def __init__(self, case: Any, proto: Any):
        self.case = case
        self.id = case.id
        self.proto = proto
        self.mode = case.mode
        self.tools = case.tools


class Request:
    """One request: its serialised body, identity and the (case, samples) it answers."""

    __slots__ = ("body", "ident", "hash", "n", "targets", "base", "first_sample", "sort_key",
                 "cache_key", "prompt_chars", "single", "answered")

    def __init__(self, body: bytes, ident: bytes, n: int, base: "Base", first_sample: int,
                 sort_key: Any, prompt_chars: int, single: bool):
        self.body = body
        self.ident = ident
        self.hash = hashlib.sha256(ident).hexdigest()[:HASH_CHARS]
        self.n = n
        self.targets: list[tuple[CaseCtx, list[int]]] = []
        self.base = base
        self.first_sample = first_sample
        self.sort_key = sort_key
        self.cache_key: str | None = None
        self.prompt_chars = prompt_chars
        self.single = single
        self.answered = False    # a reply (or a cache hit) was handled: no more targets may join


class Base:
    """A case's request body as canonical JSON fragments (sorted keys, compact, UTF-8), so that the
    big shared parts (system prompt, tools) are serialised once and a variant (n, seed) costs a join."""

    __slots__ = ("fields", "prompt_chars")

    def __init__(self, fields: dict[str, bytes], prompt_chars: int):
        self.fields = fields            # top-level key -> canonical JSON bytes of its value
        self.prompt_chars = prompt_chars

    def body(self, n: int, seed: int | None) -> bytes:
        f = self.fields
        if n > 1 or seed is not None:
            f = dict(f)
            if n > 1:
                f["n"] = b"%d" % n
            if seed is not None:
                f["seed"] = _canon(seed)
        return b"{" + b",".join((_KEYS.get(k) or _key_bytes(k)) + f[k] for k in sorted(f)) + b"}"


_KEYS: dict[str, bytes] = {}


def _key_bytes(k: str) -> bytes:
    kb = _KEYS[k] = _canon(k) + b":"
    return kb


def _canon(obj: Any) -> bytes:
    """Canonical JSON (harness.model.cache's canonical_json): sorted keys, compact separators, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Planner:
    """Builds request bodies; renders each system prompt and tools list once.

    Bodies are canonical JSON (sorted keys at every level: `harness.model.cache.canonical_json` of the same
    dict, byte for byte), assembled from cached fragments: the system message and the tools list are
    serialised once per (protocol, mode, tools), each case's own messages once."""

    def __init__(self, cfg: EvalConfig, protocol_cache: Any, system_text: str | None):
        self.cfg = cfg
        self.protos = protocol_cache
        self.system_text = system_text     # --system-prompt-file text
        self._sys: dict[Any, tuple[bytes | None, int]] = {}
        self._sys_text: dict[str, tuple[bytes | None, int]] = {}
        self._tools: dict[Any, tuple[bytes | None, int]] = {}
        self._tail: dict[Any, dict[str, bytes]] = {}
        self._groups: dict[Any, int] = {}
        self._tools_id: dict[int, tuple[int, int]] = {}
        self._own_sys: dict[str, tuple[bytes, int]] = {}   # a case's own system text -> (fragment, group)
        self.by_ident: dict[bytes, Request] = {}
        self.shared = 0        # case-requests that joined an identical request
        self.new: list[Request] = []   # requests made since the last take_new()
        model = _canon(cfg.model)
        self._model = model

    def system_fragment(self, proto: Any, case: Any) -> tuple[bytes | None, int]:
        """(canonical JSON of the system message or None, its group id)."""
        if self.system_text is not None:
            key: Any = ("file",)
        elif proto.wire == "xml" or not case.tools:
            key = (id(proto), case.mode)
        else:
            key = (id(proto), case.mode, id(case.tools))
        hit = self._sys.get(key)
        if hit is None:
            text = self.system_text if self.system_text is not None else proto.render_system(
                mode=case.mode, style=self.cfg.system_prompt, tools=case.tools)
            # tools-dependent prompts of equal text share one fragment and one group
            hit = self._sys_text.get(text)
            if hit is None:
                frag = _canon({"role": "system", "content": text}) if text else None
                hit = self._sys_text[text] = (frag, hash(frag))
            self._sys[key] = hit
        return hit

    def tools_fragment(self, proto: Any, case: Any) -> tuple[bytes | None, int]:
        key = (id(proto), case.mode, id(case.tools) if case.tools else None)
        hit = self._tools.get(key)
        if hit is None:
            tools = proto.request_tools(mode=case.mode, tools=case.tools)
            frag = _canon(tools) if tools else None
            hit = (frag, hash(frag))
            self._tools[key] = hit
        return hit

    def tail(self, proto: Any, has_tools: bool) -> dict[str, bytes]:
        """The fields after messages/tools: tool_choice, parallel_tool_calls, stop, max_tokens, sampling."""
        key = (id(proto), has_tools)
        hit = self._tail.get(key)
        if hit is None:
            cfg = self.cfg
            t: dict[str, Any] = {}
            if has_tools:
                t["tool_choice"] = "auto"
                cat = getattr(proto, "catalog", None)
                if cat is not None and getattr(cat, "one_call_per_turn", False):
                    t["parallel_tool_calls"] = False
            stop = proto.stop_sequences()
            if stop:
                t["stop"] = list(stop)
            t["max_tokens"] = cfg.max_tokens if cfg.max_tokens is not None else (
                getattr(proto, "default_max_tokens", None) or DEFAULT_MAX_TOKENS)
            if cfg.temperature is not None:
                t["temperature"] = cfg.temperature
            if cfg.top_p is not None:
                t["top_p"] = cfg.top_p
            if cfg.extra_body:
                for k, v in cfg.extra_body.items():
                    if k not in ("model", "messages", "tools", "n", "seed") and k not in t:
                        t[k] = v
            hit = {k: _canon(v) for k, v in t.items()}
            self._tail[key] = hit
        return hit

    def prefix(self, ctx: CaseCtx) -> tuple[Any, bytes | None, bytes]:
        """The cheap part: (dispatch-order key, system-message fragment, the other messages' fragment).
        The order key groups requests by (system prompt, tools) and sorts them by their messages."""
        proto, case = ctx.proto, ctx.case
        msgs = case.messages
        sys_frag: bytes | None
        if msgs and isinstance(msgs[0], Mapping) and msgs[0].get("role") == "system":
            m0 = msgs[0]
            text = m0.get("content")
            if len(m0) == 2 and isinstance(text, str):
                # {"role", "content"} only: its JSON depends on the text alone, so cases that carry the same
                # system prompt (recorded traffic, exported suites) serialise and hash it once
                own = self._own_sys.get(text)
                if own is None:
                    frag = _canon(m0)
                    own = self._own_sys[text] = (frag, hash(frag))
                sys_frag, sys_group = own
            else:
                sys_frag = _canon(m0)
                sys_group = hash(sys_frag)
            rest = msgs[1:]
        else:
            sys_frag, sys_group = self.system_fragment(proto, case)
            rest = msgs
        rest_frag = _canon(rest)
        tools = case.tools
        if tools:
            tk = self._tools_id.get(id(tools))
            if tk is None:
                tk = self._tools_id[id(tools)] = (id(tools), hash(json.dumps(tools, default=str)))
            tools_key: Any = (id(proto), case.mode, tk[1])
        else:
            tools_key = (id(proto), case.mode)
        group = self._groups.setdefault((sys_group, sys_frag and len(sys_frag), tools_key), len(self._groups))
        return (group, rest_frag), sys_frag, rest_frag

    def base(self, ctx: CaseCtx, sys_frag: bytes | None, rest_frag: bytes) -> Base:
        """The body's fragments without n and seed (renders and serialises the tools: the costly part)."""
        proto = ctx.proto
        if sys_frag is None:
            messages = rest_frag
        elif len(rest_frag) > 2:
            messages = b"[" + sys_frag + b"," + rest_frag[1:]
        else:
            messages = b"[" + sys_frag + b"]"
        tools_frag, _ = self.tools_fragment(proto, ctx.case)
        fields = {"model": self._model, "messages": messages}
        if tools_frag is not None:
            fields["tools"] = tools_frag
        fields.update(self.tail(proto, tools_frag is not None))
        chars = len(messages) + (len(tools_frag) if tools_frag is not None else 0)
        return Base(fields, chars)

    def base_body(self, ctx: CaseCtx) -> tuple[Base, Any]:
        """The body's fragments (without n and seed) and the dispatch-order key."""
        sort_key, sys_frag, rest_frag = self.prefix(ctx)
        return self.base(ctx, sys_frag, rest_frag), sort_key

    def take_new(self) -> list[Request]:
        out, self.new = self.new, []
        return out

    def make(self, ctx: CaseCtx, base: Base, sort_key: Any, samples: list[int],
             by_ident: dict[bytes, Request] | None = None) -> Request:
        """The request for `samples` of one case (n = len(samples)), shared with an identical one.
        The seed of a request is seed + its first sample (so sample i alone gets seed + i)."""
        cfg = self.cfg
        n = len(samples)
        seed = cfg.seed + samples[0] if cfg.seed is not None else None
        raw = base.body(n, seed)
        ident = raw
        single = n == 1 and cfg.samples > 1
        if single and cfg.seed is None:
            ident = raw + b"\n#sample=%d" % samples[0]   # identical bodies, different samples
        table = self.by_ident if by_ident is None else by_ident
        req = table.get(ident)
        if req is None or req.answered:
            req = Request(raw, ident, n, base, samples[0], sort_key, base.prompt_chars, single)
            table[ident] = req
            if by_ident is None:
                self.new.append(req)
        elif by_ident is None:
            self.shared += 1
        req.targets.append((ctx, samples))
        return req


# -- dispatch ---------------------------------------------------------------------------------------

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")


def check_key_env_name(name: str | None) -> None:
    """Refuse an --api-key-env value that cannot name an environment variable, without repeating it.

    The name is recorded in run.json, so a key given in its place would be written to disk; argparse
    also takes `--api-key sk-...` as an abbreviation of --api-key-env, which makes that easy to do."""
    if name and not _ENV_NAME.fullmatch(name):
        raise UserError("--api-key-env takes the NAME of the environment variable that holds the API key "
                        "(e.g. OPENAI_API_KEY), not the key itself; the value given is not a variable name "
                        "(not repeated here). Put the key in the environment: export OPENAI_API_KEY=...")


class Runner:
    def __init__(self, cfg: EvalConfig):
        check_key_env_name(cfg.api_key_env)
        if cfg.samples < 1:
            raise UserError(f"--samples {cfg.samples}: must be at least 1")
        if cfg.concurrency < 1:
            raise UserError(f"--concurrency {cfg.concurrency}: must be at least 1")
        if cfg.system_prompt not in ("full", "compact"):
            raise UserError(f"--system-prompt {cfg.system_prompt!r}: use full or compact "
                            f"(or --system-prompt-file PATH)")
        if not cfg.endpoints and not cfg.dry_run:
            raise UserError("no --endpoint given: pass the base URL of an OpenAI-compatible server, "
                            "e.g. --endpoint http://127.0.0.1:8000/v1")
        if not cfg.model:
            raise UserError("no --model given")
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

    # -- setup --------------------------------------------------------------------------------------
    def load(self) -> None:
        from harness.cli.score import ProtocolCache
        from harness.score.verdicts import score
        cfg = self.cfg
        if isinstance(cfg.suite, (str, os.PathLike)):
            from harness.suite.load import load_suite
            self.suite = load_suite(cfg.suite)
        else:
            self.suite = cfg.suite
        self._score = score
        self._protocols = ProtocolCache(cfg.protocol)
        if cfg.protocol:
            import protocols
            self._protocols._by_key[cfg.protocol] = protocols.get(cfg.protocol)   # bad name: error now
        self.sp_record = system_prompt_record(cfg.system_prompt, cfg.system_prompt_file)
        self.cases = select_cases(self.suite, cfg.split, cfg.shard)
        if not self.cases:
            what = f"split {cfg.split!r}" if cfg.split not in (None, "all") else "the suite"
            raise UserError(f"suite {self.suite.name!r}: no case selected ({what}"
                            f"{f', shard {cfg.shard[0]}/{cfg.shard[1]}' if cfg.shard else ''})")
        self.ctxs = [CaseCtx(c, self._protocols.get(c)) for c in self.cases]
        self.by_id = {c.id: c for c in self.cases}

    def described_protocol(self) -> Any:
        described = {}
        for proto in {id(ctx.proto): ctx.proto for ctx in self.ctxs}.values():
            d = proto.describe()
            described[_key_json(d)] = d
        ds = sorted(described.values(), key=lambda d: str(d.get("name")))
        return ds[0] if len(ds) == 1 else ds

    def manifest(self, started: float) -> dict[str, Any]:
        from harness.log.rundir import make_manifest
        cfg = self.cfg
        eps = [str(e) for e in cfg.endpoints]
        return make_manifest(
            suite=self.suite, endpoint=eps[0] if len(eps) == 1 else eps, model=cfg.model,
            protocol=self.described_protocol(), system_prompt=self.sp_record,
            sampling=sampling_record(cfg), seed=cfg.seed, started_at=started,
            source="eval", split=cfg.split or "all",
            shard=f"{cfg.shard[0]}/{cfg.shard[1]}" if cfg.shard else None,
            n_cases_selected=len(self.cases),
            client={"concurrency": cfg.concurrency, "timeout": cfg.timeout, "max_retries": cfg.max_retries},
            api_key_env=cfg.api_key_env, protocol_override=cfg.protocol)

    def check_resume(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """--resume: the run dir's manifest must describe the same experiment."""
        diffs = []

        def cmp(label: str, a: Any, b: Any) -> None:
            if _key_json(a) != _key_json(b):
                diffs.append(f"{label}: run has {json.dumps(a, default=str)[:200]}, "
                             f"now {json.dumps(b, default=str)[:200]}")
        osuite, nsuite = old.get("suite") or {}, new.get("suite") or {}
        cmp("suite hash", osuite.get("hash"), nsuite.get("hash"))
        cmp("model", old.get("model"), new.get("model"))
        cmp("protocol", old.get("protocol"), new.get("protocol"))
        cmp("sampling", old.get("sampling"), new.get("sampling"))
        osp, nsp = old.get("system_prompt") or {}, new.get("system_prompt") or {}
        cmp("system prompt", {k: osp.get(k) for k in ("style", "sha256")},
            {k: nsp.get(k) for k in ("style", "sha256")})
        cmp("split", old.get("split", "all"), new.get("split"))
        cmp("shard", old.get("shard"), new.get("shard"))
        if diffs:
            raise UserError(f"{self.rd.path}: --resume needs the same run settings; what differs:\n  "
                            + "\n  ".join(diffs) + "\n(start a new run with another --out, or resume with "
                            "the original settings)")

    def prepare(self, done: set[tuple[str, int]]) -> list[tuple[Any, ...]]:
        """The cheap planning pass: what each case still needs, in dispatch order (prefix-aware)."""
        cfg = self.cfg
        st = self.stats
        planner = self._planner = Planner(cfg, self._protocols,
                                          self.sp_record.get("text") if self.sp_record.get("style") == "file"
                                          else None)
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
            for run in _runs(missing) if k > 1 else [missing]:
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
        model = self.cfg.model
        ep = self._endpoint_id
        for r in requests:
            r.cache_key = self.cache.key(ep, model, r.ident)
        found = self.cache.get_many([r.cache_key for r in requests])
        if not found:
            return requests
        left = []
        for r in requests:
            hit = found.get(r.cache_key)
            payload = _cached_payload(hit)
            if payload is None:
                left.append(r)
                continue
            resp, lat = payload
            if len(_choices(resp)) < r.n:   # a stale partial entry: ask again
                left.append(r)
                continue
            self.stats.cache_hits += 1
            self.on_response(r, resp, lat, from_cache=True)
        return left

    def cache_put(self, req: Request, resp: Any, latency_ms: float | None) -> None:
        """Remember a complete reply (the cache batches its writes: one transaction per 256 or per second)."""
        if self.cache is None:
            return
        if req.cache_key is None:
            req.cache_key = self.cache.key(self._endpoint_id, self.cfg.model, req.ident)
        try:
            self.cache.put(req.cache_key, {"response": resp, "latency_ms": latency_ms})
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
    def on_response(self, req: Request, resp: Any, latency_ms: float | None, from_cache: bool = False) -> None:
        """A successful reply (or a cache hit): one line per (target, sample); fallback for missing choices."""
        req.answered = True
        choices = _choices(resp)
        usage = resp.get("usage") if isinstance(resp, dict) else None
        got = min(len(choices), req.n)
        if 0 < got < req.n and not from_cache:
            self.n_ok = False
            self.stats.n_fallback = True
        if got and req.n > 1 and not from_cache and self.n_ok is None:
            self.n_ok = True
        n_lines = got * len(req.targets)
        parts = _split_usage(usage, n_lines) if n_lines else None
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
                st.ok += 1
                if v.passed:
                    st.passed += 1
        if lines:
            self.write(lines)
            st.lines += len(lines)
            if usage is not None and isinstance(usage, dict):
                st.prompt_tokens += _int(usage.get("prompt_tokens"))
                st.completion_tokens += _int(usage.get("completion_tokens"))
                st.cached_tokens += _cached_tokens(usage)
        if got and not from_cache and got == req.n:
            self.cache_put(req, resp, latency_ms)
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
                    body = _loads(body)
                except ValueError:
                    self.on_error(req, "the response is not JSON", getattr(reply, "http_status", None), lat)
                    return
            if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
                self.on_error(req, "the response has no choices list", getattr(reply, "http_status", None), lat)
                return
            self.on_response(req, body, lat)
            return
        err = str(getattr(reply, "error", None) or "request failed")
        hs = getattr(reply, "http_status", None)
        if req.n > 1 and _n_rejected(reply, err, hs):
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


def _runs(samples: list[int]) -> list[list[int]]:
    """[0,1,2,4,5] -> [[0,1,2],[4,5]]"""
    out: list[list[int]] = []
    for s in samples:
        if out and out[-1][-1] == s - 1:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def _choices(resp: Any) -> list[Any]:
    if not isinstance(resp, dict):
        return []
    ch = resp.get("choices")
    if not isinstance(ch, list):
        return []
    if len(ch) > 1:
        idx = [c.get("index") if isinstance(c, dict) else None for c in ch]
        if all(isinstance(x, int) for x in idx) and idx != sorted(idx):
            ch = sorted(ch, key=lambda c: c["index"])
    return ch


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _cached_tokens(usage: Mapping[str, Any]) -> int:
    d = usage.get("prompt_tokens_details")
    if isinstance(d, dict):
        return _int(d.get("cached_tokens"))
    return _int(usage.get("cached_tokens"))


def _split_usage(usage: Any, n: int) -> list[dict[str, Any]] | None:
    """The reply's usage as n per-line parts that sum to it exactly (remainders to the first lines)."""
    if not isinstance(usage, dict):
        return None
    p = usage.get("prompt_tokens")
    c = usage.get("completion_tokens")
    d = usage.get("prompt_tokens_details")
    k = d.get("cached_tokens") if isinstance(d, dict) else usage.get("cached_tokens")
    if n == 1:
        return [{"prompt_tokens": p, "completion_tokens": c, "cached_tokens": k}]
    out = []
    vals = []
    for v in (p, c, k):
        if isinstance(v, int) and not isinstance(v, bool):
            q, r = divmod(v, n)
            vals.append((q, r))
        else:
            vals.append(None)
    for i in range(n):
        part = {}
        for name, qr, raw in zip(("prompt_tokens", "completion_tokens", "cached_tokens"), vals, (p, c, k)):
            part[name] = (qr[0] + (1 if i < qr[1] else 0)) if qr is not None else raw
        out.append(part)
    return out


def _cached_payload(hit: Any) -> tuple[dict[str, Any], float | None] | None:
    """A cache entry as (response, latency_ms): our {"response", "latency_ms"} wrapper or a bare response."""
    if hit is None:
        return None
    if isinstance(hit, (bytes, bytearray, str)):
        try:
            hit = _loads(hit)
        except ValueError:
            return None
    if not isinstance(hit, dict):
        return None
    if "response" in hit and isinstance(hit["response"], dict):
        lat = hit.get("latency_ms")
        return hit["response"], (float(lat) if isinstance(lat, (int, float)) else None)
    if isinstance(hit.get("choices"), list):
        return hit, None
    return None


def _n_rejected(reply: Any, err: str, http_status: Any) -> bool:
    """The endpoint refused `n` > 1 (the client's n_unsupported, or our own reading of the message)."""
    if http_status not in (400, 422):
        return False
    try:
        from harness.model.client import n_unsupported
        if n_unsupported(reply):
            return True
    except (ImportError, AttributeError, TypeError):
        pass
    return bool(_N_REJECTED.search(err + " " + _body_text(reply)))


def _body_text(reply: Any) -> str:
    b = getattr(reply, "body", None)
    if isinstance(b, (bytes, bytearray)):
        return bytes(b[:2000]).decode("utf-8", "replace")
    if isinstance(b, str):
        return b[:2000]
    if isinstance(b, dict):
        try:
            return json.dumps(b)[:2000]
        except (TypeError, ValueError):
            return ""
    return ""


# -- progress ---------------------------------------------------------------------------------------

class _Progress:
    """A rich progress bar on stderr, refreshed by a timer (≤ 8/s), never from the hot path."""

    def __init__(self, runner: Runner, total: int, enabled: bool):
        self.runner = runner
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._task: asyncio.Task[None] | None = None
        self._prog: Any = None

    def start(self) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self._prog = Progress(TextColumn("[bold]eval[/]"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                              console=Console(stderr=True), auto_refresh=False, transient=False)
        self._id = self._prog.add_task("eval", total=self.total, info="")
        self._prog.start()
        self._t0 = time.perf_counter()
        self._task = asyncio.ensure_future(self._tick())

    def _update(self) -> None:
        st = self.runner.stats
        done = st.ok + st.errors
        rate = f"{100 * st.passed / st.ok:.1f}%" if st.ok else "-"
        el = max(1e-9, time.perf_counter() - self._t0)
        info = (f"pass {rate} · tok {st.prompt_tokens + st.completion_tokens:,} · err {st.errors} · "
                f"{st.requests_sent / el:,.0f} req/s")
        if st.cache_hits:
            info += f" · cached {st.cache_hits}"
        self._prog.update(self._id, completed=done, info=info)
        self._prog.refresh()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.125)
            self._update()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._prog is not None:
            self._update()
            self._prog.stop()


# -- the whole run ----------------------------------------------------------------------------------

def prepare_out(cfg: EvalConfig, suite_name: str, started: float) -> Path:
    from harness.log.rundir import RESULTS, RUN_JSON
    out = Path(cfg.out) if cfg.out else default_out(suite_name, cfg.model, started)
    if cfg.resume:
        if not cfg.out:
            raise UserError("--resume needs --out DIR: the run directory to continue")
        if not (out / RUN_JSON).is_file():
            raise UserError(f"{out}: no run to resume (no {RUN_JSON}); drop --resume to start a new run there")
    else:
        if out.exists() and not out.is_dir():
            raise UserError(f"{out}: exists and is not a directory; choose another --out")
        existing = [n for n in (RUN_JSON, RESULTS) if (out / n).exists()]
        if existing:
            raise UserError(f"{out}: already holds a run ({', '.join(existing)}); pass --resume to continue it "
                            f"or choose another --out")
    return out


async def run_eval(cfg: EvalConfig) -> Outcome:
    """Plan, dispatch, summarise, register. Raises UserError for bad input (nothing is sent then).

    The cyclic garbage collector is paused for the run (the runner makes no reference cycles; its
    objects are freed by reference counting) and the objects alive at the end are frozen: collections
    over hundreds of thousands of result dicts cost more CPU than parsing them."""
    import gc
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return await _run_eval(cfg)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


async def _run_eval(cfg: EvalConfig) -> Outcome:
    from harness.log.rundir import RunDir, now_iso
    started = time.time()
    t_start = time.perf_counter()
    runner = Runner(cfg)
    runner.load()
    st = runner.stats
    phases = {"load_s": time.perf_counter() - t_start}

    if cfg.dry_run:
        done: set[tuple[str, int]] = set()
        if cfg.resume and cfg.out and (Path(cfg.out) / "run.json").is_file():
            done = RunDir(cfg.out).done_keys()
        requests = runner.plan(done)
        runner.rd = _NullSink()
        runner.open_cache()
        try:
            left = runner.cache_lookup(requests)
        finally:
            if runner.cache is not None:
                runner.cache.close()
        chars = sum(r.prompt_chars for r in left)
        info = {"cases": len(runner.cases), "cases_to_run": st.planned_cases, "samples": st.planned_samples,
                "samples_per_case": cfg.samples, "skipped_done": st.skipped_done,
                "requests_planned": st.requests_planned, "deduped": st.deduped, "cache_hits": st.cache_hits,
                "requests": len(left), "prompt_chars": chars, "prompt_tokens_estimate": chars // 4}
        return Outcome(None, None, None, st, dry_run=info)

    out = prepare_out(cfg, runner.suite.name, started)
    rd = runner.rd = RunDir(out)
    manifest = runner.manifest(started)
    done = set()
    if cfg.resume:
        old = rd.manifest()
        runner.check_resume(old, manifest)
        previous = rd.results()
        runner.kept = {(str(r["id"]), int(r["sample"])): r for r in previous}
        done = {k for k, r in runner.kept.items() if r.get("status") == "ok"}
        for w in rd.warnings:
            print(f"harness: warning: {w}", file=sys.stderr)
        manifest = dict(old)
        manifest["resumed"] = list(old.get("resumed") or []) + [manifest_time(started)]
        manifest["endpoint"] = runner.manifest(started)["endpoint"]
        manifest["ended_at"] = None
    rd.write_manifest(manifest)

    t0 = time.perf_counter()
    items = runner.prepare(done)
    runner.open_cache()
    progress = _Progress(runner, st.planned_samples, cfg.progress)
    try:
        progress.start()
        head_n = max(2 * cfg.concurrency, FEED_CHUNK)
        first = runner.cache_lookup(runner.build(items[:head_n]))
        phases["plan_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()

        def make_client() -> Any:
            # imported only when something must be sent (a rerun answered by the cache never needs it);
            # the import (aiohttp: ~0.1 s, mostly its TLS contexts) is a phase of its own, not dispatch
            ti = time.perf_counter()
            from harness.model.client import ChatClient
            phases["client_import_s"] = time.perf_counter() - ti
            api_key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
            return ChatClient(list(cfg.endpoints), api_key=api_key or None, concurrency=cfg.concurrency,
                              timeout=cfg.timeout, max_retries=cfg.max_retries, seed=cfg.seed,
                              on_event=runner.on_event)

        await runner.dispatch(first, items[head_n:], make_client)
        st.dispatch_s = time.perf_counter() - t0 - phases.get("client_import_s", 0.0)
        phases["plan_overlapped_s"] = st.feed_s
    finally:
        progress.stop()
        runner.cache_flush()
        if runner.cache is not None:
            runner.cache.close()
        rd.close()

    t0 = time.perf_counter()
    from harness.score import metrics
    results = list(runner.kept.values())
    wall = time.perf_counter() - t_start
    summary = metrics.summarize(results, runner.by_id, wall, dict(cfg.price) if cfg.price else None)
    summary["requests_per_s"] = (st.requests_sent / st.dispatch_s) if st.dispatch_s > 0 and st.requests_sent \
        else None
    summary["runner"] = {
        "requests_sent": st.requests_sent, "requests_planned": st.requests_planned,
        "cache_hits": st.cache_hits, "deduped": st.deduped, "resumed_samples": st.skipped_done,
        "n_supported": None if runner.n_ok is None else runner.n_ok, "fallback_requests": st.fallback_requests,
        "dispatch_s": st.dispatch_s, "concurrency": cfg.concurrency, "events": st.events, "phases": phases,
    }
    missing = _missing(runner.cases, cfg.samples, results)
    summary["missing"] = len(missing)
    phases["summary_s"] = time.perf_counter() - t0
    rd.write_summary(summary)
    manifest = rd.update_manifest(ended_at=now_iso())
    if cfg.register:
        try:
            from harness.log import leaderboard as store
            store.register_run(rd)
        except Exception as e:  # the run dir is complete; the leaderboard can be filled later
            print(f"harness: warning: run not added to the leaderboard: {e}", file=sys.stderr)
    return Outcome(summary, manifest, rd.path, st, results=results)


def manifest_time(t: float) -> str:
    from harness.log.rundir import now_iso
    return now_iso(t)


def _missing(cases: Sequence[Any], k: int, results: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    have = {(r["id"], r["sample"]) for r in results}
    return [(c.id, s) for c in cases for s in range(k) if (c.id, s) not in have]


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


class _NullSink:
    def extend(self, lines: Any) -> int:
        return 0


__all__ = ["DEFAULT_MAX_TOKENS", "EvalConfig", "Outcome", "Runner", "Stats", "parse_shard", "run_eval",
           "select_cases", "shard_of"]
