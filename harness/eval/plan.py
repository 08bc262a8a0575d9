"""Planning `harness eval`: the selected cases become request bodies, hashed once (DESIGN.md "Runs").

The selected cases (`split`, `shard`) become request bodies.
messages = [system prompt] + case.messages, where the system prompt is the protocol's
rendering for the case's mode (`system_prompt` "full" | "compact") or the exact text of
`system_prompt_file`; a case that carries its own system message keeps it and gets none added.
`tools` = protocol.request_tools(...) (with tool_choice "auto" and parallel_tool_calls false for
one-call-per-turn catalogs), `stop` = the protocol's generation_limits for the case's mode as the endpoint
takes them (harness.eval.stops), `max_tokens` (default: the protocol's, else DEFAULT_MAX_TOKENS),
`temperature` 0 unless one is given or several samples are asked for, top_p / seed when given, `n` for several samples, and `stream: true`
with `stream_options: {include_usage: true}` under --stream. Each body is
serialised once (canonical JSON: sorted keys, compact, UTF-8 — what harness.model.cache keys on) from cached
fragments (the system message and the tools are serialised once per protocol/mode/tools) and hashed once
(`request_hash` = sha256 of the request's
identity, 32 hex digits). Then:
  * resume: (id, sample) pairs with an `ok` line in results.jsonl are skipped; a partly done case asks
    only for its missing samples (n = how many are missing, seed + first missing sample);
  * dedupe: cases whose requests are byte-identical share one request; each still gets its own lines;
  * cache: planned requests are looked up in batches (`ResponseCache.get_many`, one query each); a hit
    produces its result lines without a request;
  * order: requests are grouped by (system prompt, tools) and sorted by their message JSON, so requests
    sharing a prefix go out together and server-side prefix caches hit;
  * prompt_cache_key: OpenAI routes requests with the same key to the same cache; each (system prompt,
    tools) prefix gets a stable key (sent to api.openai.com / Azure OpenAI, or as --prompt-cache-key says).
Planning runs in two passes: `prepare` (every case: what it still needs and its place in the order;
cheap) and `build` (bodies, hashes, dedupe, cache lookup; the costly part). `harness eval` builds the
first 2 x concurrency requests, starts sending, and builds the rest in chunks of FEED_CHUNK cases while
those are in flight, so planning overlaps the network wait. A case whose request is byte-identical to
one already answered (only possible across chunks, since identical requests sort together) gets its
own request, which the cache usually answers.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from harness.eval.config import DEFAULT_MAX_TOKENS, EvalConfig, effective_temperature
from harness.eval.stops import StopPolicy, stops_for

HASH_CHARS = 32


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
                f["seed"] = canon(seed)
        return b"{" + b",".join((_KEYS.get(k) or _key_bytes(k)) + f[k] for k in sorted(f)) + b"}"


_KEYS: dict[str, bytes] = {}


def _key_bytes(k: str) -> bytes:
    kb = _KEYS[k] = canon(k) + b":"
    return kb


def canon(obj: Any) -> bytes:
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
        self.cache_key_on = prompt_cache_key_on(cfg)
        self._cache_keys: dict[tuple[bytes | None, bytes | None], bytes] = {}
        self.stop_policy: StopPolicy | None = None   # the endpoint's (run.py's pre-flight); None: unknown
        model = canon(cfg.model)
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
                frag = canon({"role": "system", "content": text}) if text else None
                hit = self._sys_text[text] = (frag, hash(frag))
            self._sys[key] = hit
        return hit

    def tools_fragment(self, proto: Any, case: Any) -> tuple[bytes | None, int]:
        key = (id(proto), case.mode, id(case.tools) if case.tools else None)
        hit = self._tools.get(key)
        if hit is None:
            tools = proto.request_tools(mode=case.mode, tools=case.tools)
            frag = canon(tools) if tools else None
            hit = (frag, hash(frag))
            self._tools[key] = hit
        return hit

    def tail(self, proto: Any, has_tools: bool, mode: str | None = None,
             tools: Any = None) -> dict[str, bytes]:
        """The fields after messages/tools: tool_choice, parallel_tool_calls, stop, max_tokens, sampling."""
        key = (id(proto), has_tools, mode, id(tools) if tools is not None and proto.wire != "xml" else None)
        hit = self._tail.get(key)
        if hit is None:
            cfg = self.cfg
            t: dict[str, Any] = {}
            if has_tools:
                t["tool_choice"] = "auto"
                cat = getattr(proto, "catalog", None)
                if cat is not None and getattr(cat, "one_call_per_turn", False):
                    t["parallel_tool_calls"] = False
            limits = proto.generation_limits(mode=mode, tools=tools)
            stop = stops_for(limits.stop, self.stop_policy or StopPolicy(enabled=cfg.stop))
            if stop:
                t["stop"] = stop
                if self.stop_policy is not None and self.stop_policy.include_in_output:
                    t["include_stop_str_in_output"] = True     # vLLM: keep the closing tag in the text
            t["max_tokens"] = cfg.max_tokens if cfg.max_tokens is not None else (
                limits.max_tokens or DEFAULT_MAX_TOKENS)
            temperature = effective_temperature(cfg)
            if temperature is not None:
                t["temperature"] = temperature
            if cfg.top_p is not None:
                t["top_p"] = cfg.top_p
            if cfg.stream:     # the usage comes in the stream's last chunk only when asked for
                t["stream"] = True
                t["stream_options"] = {"include_usage": True}
            if cfg.extra_body:
                for k, v in cfg.extra_body.items():
                    if k not in ("model", "messages", "tools", "n", "seed") and k not in t:
                        t[k] = v
            hit = {k: canon(v) for k, v in t.items()}
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
                    frag = canon(m0)
                    own = self._own_sys[text] = (frag, hash(frag))
                sys_frag, sys_group = own
            else:
                sys_frag = canon(m0)
                sys_group = hash(sys_frag)
            rest = msgs[1:]
        else:
            sys_frag, sys_group = self.system_fragment(proto, case)
            rest = msgs
        rest_frag = canon(rest)
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
        fields.update(self.tail(proto, tools_frag is not None, ctx.mode, ctx.tools))
        chars = len(messages) + (len(tools_frag) if tools_frag is not None else 0)
        if self.cache_key_on:
            fields["prompt_cache_key"] = self.prompt_cache_key(sys_frag, tools_frag)
        return Base(fields, chars)

    def prompt_cache_key(self, sys_frag: bytes | None, tools_frag: bytes | None) -> bytes:
        """OpenAI's `prompt_cache_key` of a (system prompt, tools) prefix: the same for every request that
        shares it (in this run and the next), so the provider routes them to one cache."""
        k = (sys_frag, tools_frag)
        hit = self._cache_keys.get(k)
        if hit is None:
            h = hashlib.sha256((sys_frag or b"") + b"\0" + (tools_frag or b"")).hexdigest()[:24]
            hit = self._cache_keys[k] = canon(f"toolcall-harness-{h}")
        return hit

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



def prompt_cache_key_on(cfg: EvalConfig) -> bool:
    """Whether bodies carry `prompt_cache_key`: as asked, else only for OpenAI's own hosts (others may
    refuse an unknown field, and a local engine's prefix cache needs no key)."""
    if cfg.prompt_cache_key is not None:
        return bool(cfg.prompt_cache_key)
    from urllib.parse import urlsplit
    hosts = [(urlsplit(str(e)).hostname or "").lower() for e in cfg.endpoints]
    return bool(hosts) and all(h == "api.openai.com" or h.endswith(".openai.azure.com") for h in hosts)


def sample_runs(samples: list[int]) -> list[list[int]]:
    """[0,1,2,4,5] -> [[0,1,2],[4,5]]"""
    out: list[list[int]] = []
    for s in samples:
        if out and out[-1][-1] == s - 1:
            out[-1].append(s)
        else:
            out.append([s])
    return out


__all__ = ["HASH_CHARS", "Base", "CaseCtx", "Planner", "Request", "canon", "prompt_cache_key_on", "sample_runs"]
