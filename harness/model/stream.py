"""Reading a streamed chat completion (`stream: true`): server-sent events in, one chat.completion out.

OpenAI's stream (and vLLM's, SGLang's, llama.cpp's, Ollama's) is `text/event-stream`: events separated
by a blank line, each `data: <json chunk>` (a `chat.completion.chunk`), ended by `data: [DONE]`. A chunk's
`choices[i].delta` holds the next piece of choice `index`: `role`, `content`, `reasoning_content` (or
`reasoning`), and `tool_calls` deltas keyed by their own `index`, whose first delta carries `id`, `type`
and `function.name`, later ones `function.arguments` pieces to concatenate. With `stream_options:
{include_usage: true}` a last chunk has `choices: []` and the request's `usage`.

`StreamAssembler` turns the chunks into the body a non-streamed request would have returned, so the
runner parses a streamed answer exactly as any other — which is how Roo Code parses: once the stream
has ended, a tool left unclosed executes with what it has (the roo-xml scanner treats the end of the
text as the end of the stream).

Timing, per choice: time to first token (TTFT) is from the start of the request to the first chunk that
carries generated text (content, reasoning or a tool-call piece; a role-only or empty delta is not a
token), inter-token latency (ITL) the gaps between such chunks after the first; a choice's `itl_ms` is
their mean (None with fewer than two such chunks), `itl_gaps_ms` keeps them all.
"""
from __future__ import annotations

import json
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import Any

SSE_CONTENT_TYPE = "text/event-stream"
_TEXT_FIELDS = ("content", "reasoning_content", "reasoning")


class StreamError(Exception):
    """The stream failed: an `error` event, a chunk that is not JSON, or an end before `[DONE]`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind        # "stream_error" (the server said so) | "bad_chunk" | "truncated"


@dataclass(slots=True)
class ChoiceTiming:
    ttft_ms: float | None = None
    itl_gaps_ms: list[float] = field(default_factory=list)
    last_ms: float | None = None

    @property
    def itl_ms(self) -> float | None:
        g = self.itl_gaps_ms
        return sum(g) / len(g) if g else None


@dataclass(slots=True)
class StreamTiming:
    """What a streamed reply measured: per choice index, TTFT and ITL; the number of events read."""

    choices: dict[int, ChoiceTiming] = field(default_factory=dict)
    events: int = 0

    def for_choice(self, index: int) -> tuple[float | None, float | None]:
        """(ttft_ms, itl_ms) of choice `index`, rounded to 0.01 ms (None where nothing was measured)."""
        c = self.choices.get(index)
        if c is None:
            return None, None
        itl = c.itl_ms
        return (None if c.ttft_ms is None else round(c.ttft_ms, 2)), (None if itl is None else round(itl, 2))

    def to_dict(self) -> dict[str, Any]:
        return {str(i): {"ttft_ms": self.for_choice(i)[0], "itl_ms": self.for_choice(i)[1]}
                for i in sorted(self.choices)}


class StreamAssembler:
    """Chunks in (`add(chunk, t_ms)`), the assembled chat.completion out (`body()`)."""

    def __init__(self) -> None:
        self.timing = StreamTiming()
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.done = False

    def add(self, chunk: dict[str, Any], t_ms: float) -> None:
        self.timing.events += 1
        err = chunk.get("error")
        if err is not None:       # vLLM, SGLang and OpenAI send a failure mid-stream as an error event
            msg = err.get("message") if isinstance(err, dict) else err
            raise StreamError("stream_error", f"error event in the stream: {' '.join(str(msg).split())[:1000]}")
        for k in ("id", "created", "model", "system_fingerprint"):
            if k in chunk and chunk[k] is not None:
                self._head.setdefault(k, chunk[k])
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]         # the last one wins (continuous usage stats send many)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return
        for ch in choices:
            if isinstance(ch, dict):
                self._add_choice(ch, t_ms)

    def _add_choice(self, ch: dict[str, Any], t_ms: float) -> None:
        i = ch.get("index", 0)
        i = i if isinstance(i, int) and not isinstance(i, bool) else 0
        acc = self._choices.get(i)
        if acc is None:
            acc = self._choices[i] = {"role": "assistant", "text": {}, "calls": {}, "finish": None,
                                      "logprobs": None}
        delta = ch.get("delta")
        token = False
        if isinstance(delta, dict):
            if isinstance(delta.get("role"), str):
                acc["role"] = delta["role"]
            for f in _TEXT_FIELDS:
                piece = delta.get(f)
                if isinstance(piece, str):
                    acc["text"].setdefault(f, []).append(piece)
                    token = token or bool(piece)
            for tc in delta.get("tool_calls") or ():
                if isinstance(tc, dict):
                    token = self._add_call(acc["calls"], tc) or token
        if ch.get("finish_reason") is not None:
            acc["finish"] = ch["finish_reason"]
        if ch.get("logprobs") is not None:
            acc["logprobs"] = ch["logprobs"]
        if token:
            t = self.timing.choices.get(i)
            if t is None:
                t = self.timing.choices[i] = ChoiceTiming()
            if t.ttft_ms is None:
                t.ttft_ms = t_ms
            else:
                t.itl_gaps_ms.append(t_ms - (t.last_ms if t.last_ms is not None else t_ms))
            t.last_ms = t_ms

    @staticmethod
    def _add_call(calls: dict[int, dict[str, Any]], tc: dict[str, Any]) -> bool:
        """Merge one tool-call delta; True when it carried part of the call (a name or arguments)."""
        k = tc.get("index", len(calls))
        k = k if isinstance(k, int) and not isinstance(k, bool) else len(calls)
        call = calls.get(k)
        if call is None:
            call = calls[k] = {"id": None, "type": "function", "name": [], "arguments": []}
        if isinstance(tc.get("id"), str) and tc["id"]:
            call["id"] = tc["id"]
        if isinstance(tc.get("type"), str):
            call["type"] = tc["type"]
        fn = tc.get("function")
        got = False
        if isinstance(fn, dict):
            for part in ("name", "arguments"):
                piece = fn.get(part)
                if isinstance(piece, str):
                    call[part].append(piece)
                    got = got or bool(piece)
        return got

    def body(self) -> dict[str, Any]:
        """The chat.completion the chunks add up to (content None when no text was streamed)."""
        choices = []
        for i in sorted(self._choices):
            acc = self._choices[i]
            msg: dict[str, Any] = {"role": acc["role"]}
            texts = acc["text"]
            msg["content"] = "".join(texts["content"]) if "content" in texts else None
            for f in ("reasoning_content", "reasoning"):
                if f in texts:
                    msg[f] = "".join(texts[f])
            if acc["calls"]:
                msg["tool_calls"] = [{"id": c["id"] or f"call_{k}", "type": c["type"],
                                      "function": {"name": "".join(c["name"]), "arguments": "".join(c["arguments"])}}
                                     for k, c in sorted(acc["calls"].items())]
            choices.append({"index": i, "message": msg, "logprobs": acc["logprobs"], "finish_reason": acc["finish"]})
        out = {"id": self._head.get("id"), "object": "chat.completion", "created": self._head.get("created"),
               "model": self._head.get("model"), "choices": choices, "usage": self.usage}
        if "system_fingerprint" in self._head:
            out["system_fingerprint"] = self._head["system_fingerprint"]
        return out

    def complete(self) -> bool:
        """Ended well: `[DONE]` seen, or (servers that omit it) every choice has its finish_reason."""
        return self.done or (bool(self._choices) and all(a["finish"] is not None for a in self._choices.values()))


async def read_stream(lines: AsyncIterable[bytes], t0: float, secret: bytes | None = None
                      ) -> tuple[dict[str, Any], StreamTiming]:
    """Read an SSE body line by line (aiohttp's `resp.content`); the assembled body and its timing.

    `t0` is the request's `time.perf_counter()` start. `secret` (the API key) is replaced by `***` in
    every line before it is parsed. Raises StreamError; network errors propagate (the client retries)."""
    asm = StreamAssembler()
    data: list[bytes] = []

    def dispatch() -> None:
        payload = b"\n".join(data)
        data.clear()
        if payload.strip() == b"[DONE]":
            asm.done = True
            return
        t_ms = (time.perf_counter() - t0) * 1000.0
        try:
            chunk = json.loads(payload)
        except (ValueError, RecursionError):
            raise StreamError("bad_chunk", f"a stream event is not JSON: "
                                           f"{' '.join(payload[:80].decode('utf-8', 'replace').split())!r}") from None
        if isinstance(chunk, dict):
            asm.add(chunk, t_ms)

    async for raw in lines:
        if asm.done:
            break
        line = raw.rstrip(b"\r\n")
        if secret is not None and secret in line:
            line = line.replace(secret, b"***")
        if not line:                      # a blank line ends an event
            if data:
                dispatch()
            continue
        if line.startswith(b":"):         # a comment (keep-alive)
            continue
        name, _, value = line.partition(b":")
        if name == b"data":
            data.append(value[1:] if value.startswith(b" ") else value)
        # event:, id:, retry: carry nothing a chat completion needs
    if data and not asm.done:
        dispatch()                        # the last event without its blank line
    if not asm.complete():
        raise StreamError("truncated", "the stream ended before `data: [DONE]` (and before every choice "
                                       "had its finish_reason)")
    return asm.body(), asm.timing


__all__ = ["SSE_CONTENT_TYPE", "ChoiceTiming", "StreamAssembler", "StreamError", "StreamTiming", "read_stream"]
