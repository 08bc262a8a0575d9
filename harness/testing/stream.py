"""The scripted server's streamed answers (`stream: true`): a chat.completion sent as OpenAI sends it.

`send_stream` writes `text/event-stream`: per choice a first chunk with the role and the first piece,
then one chunk per piece — content in pieces of PIECE_CHARS characters (about a token each, as
harness/testing/usage.py counts them), each tool call as a delta with its `index`, `id`, `type` and
`function.name`, then its `arguments` in pieces — then a chunk with the `finish_reason`, the usage
chunk (`choices: []`) when `stream_options.include_usage` is set, and `data: [DONE]`. Several choices
(`n`) are interleaved, one chunk per choice per step, as vLLM sends them.

Timing: the first pieces go out as soon as the answer is ready (after the server's `latency`, which is
thus the time to first token); every later step waits `token_delay` seconds (the inter-token latency).
`truncate` cuts the stream halfway and closes the connection (no finish_reason, no `[DONE]`).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

PIECE_CHARS = 4


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def choice_deltas(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """The deltas of one choice's message, in order (the first carries the role)."""
    out: list[dict[str, Any]] = []
    content = msg.get("content")
    for p in pieces(content) if isinstance(content, str) else []:
        out.append({"content": p})
    for k, tc in enumerate(msg.get("tool_calls") or []):
        fn = tc.get("function") or {}
        out.append({"tool_calls": [{"index": k, "id": tc.get("id"), "type": tc.get("type", "function"),
                                    "function": {"name": fn.get("name", ""), "arguments": ""}}]})
        for p in pieces(fn.get("arguments") or ""):
            out.append({"tool_calls": [{"index": k, "function": {"arguments": p}}]})
    if not out:
        out.append({"content": content if isinstance(content, str) else None})
    out[0] = {"role": msg.get("role", "assistant"), **out[0]}
    return out


async def send_stream(request: web.Request, body: dict[str, Any], *, token_delay: float, include_usage: bool,
                      truncate: bool = False) -> web.StreamResponse:
    """Write the chat.completion `body` as an SSE stream (see the module docstring)."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    head = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"], "model": body["model"],
            "system_fingerprint": body.get("system_fingerprint")}

    async def event(obj: Any) -> None:
        await resp.write(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n")

    per_choice = [(ch["index"], choice_deltas(ch["message"]), ch.get("finish_reason")) for ch in body["choices"]]
    steps = max((len(d) for _, d, _ in per_choice), default=0)
    cut = steps // 2 if truncate else None
    for step in range(steps):
        if step == cut:
            if request.transport is not None:
                request.transport.close()
            return resp
        if step and token_delay > 0:
            await asyncio.sleep(token_delay)
        for index, deltas, _ in per_choice:
            if step < len(deltas):
                await event({**head, "choices": [{"index": index, "delta": deltas[step], "logprobs": None,
                                                  "finish_reason": None}]})
    for index, _, finish in per_choice:
        await event({**head, "choices": [{"index": index, "delta": {}, "logprobs": None, "finish_reason": finish}]})
    if include_usage:
        await event({**head, "choices": [], "usage": body.get("usage")})
    await event(b"[DONE]")
    await resp.write_eof()
    return resp


__all__ = ["PIECE_CHARS", "choice_deltas", "pieces", "send_stream"]
