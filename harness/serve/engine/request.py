"""A chat request: its parsing and checks (vLLM's messages and limits) and the GenRequest the worker
thread generates for, whose future resolves on the event loop."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from harness.serve.engine.config import APIError, EngineConfig, bad

MAX_STOP_STRINGS = 64          # an XML protocol stops at every closing tag of a mode (Roo code mode: 21)


@dataclass(eq=False)
class GenRequest:
    prompt_ids: list[int]
    n: int
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    stop: list[str]
    stop_token_ids: frozenset[int]
    seed: int | None
    ignore_eos: bool
    include_stop: bool                  # include_stop_str_in_output: keep the matched stop string
    adapter: str | None                 # the worker's adapter key (None: base)
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    arrival: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    generator: Any = None
    choices: list[dict[str, Any] | None] = field(default_factory=list)
    left: int = 0
    cached: int = 0                     # prompt tokens served from the prefix store

    def finish(self, index: int, choice: dict[str, Any]) -> None:
        self.choices[index] = choice
        self.left -= 1
        if self.left == 0:
            self.loop.call_soon_threadsafe(_resolve, self.future, self.choices)

    def fail(self, exc: BaseException) -> None:
        self.left = 0
        self.loop.call_soon_threadsafe(_reject, self.future, exc)


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _reject(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


@dataclass(eq=False)
class Row:
    req: GenRequest
    index: int
    pos: int                            # position id of the token this row feeds next
    tokens: list[int] = field(default_factory=list)
    done: bool = False


def text_content(content: Any) -> Any:
    """OpenAI content parts -> one string (text parts joined); strings and None pass through."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", None))
    return content


def number(body: dict[str, Any], key: str, default: Any, *, lo: float | None = None, hi: float | None = None,
           integer: bool = False) -> Any:
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
        raise bad(f"'{key}' must be {'a whole number' if integer else 'a number'}, got {v!r}", key)
    if lo is not None and v < lo or hi is not None and v > hi:
        rng = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise bad(f"'{key}' must be {rng}, got {v!r}", key)
    return int(v) if integer else float(v)


def parse_chat(body: dict[str, Any], *, base_id: str, adapters: Mapping[str, Any], tokenizer: Any, max_len: int,
               cfg: EngineConfig) -> tuple[GenRequest, str]:
    """The GenRequest of a chat completion body and the model name to answer with (APIError when the body
    is refused). `adapters` maps served adapter names to their AdapterInfo."""
    model_name = body.get("model")
    adapter_key: str | None = None
    if model_name in (None, "", base_id):
        model_name = base_id
    elif isinstance(model_name, str) and model_name in adapters:
        adapter_key = adapters[model_name].key
    else:
        raise APIError(HTTPStatus.NOT_FOUND, f"The model `{model_name}` does not exist.", "NotFoundError", "model")
    if body.get("stream"):
        raise bad("stream is not supported by the local engine: send stream false", "stream")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise bad("logprobs are not supported by the local engine", "logprobs")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        raise bad(f"response_format {fmt.get('type')!r} is not supported by the local engine", "response_format")
    for key in ("presence_penalty", "frequency_penalty"):
        if number(body, key, 0.0, lo=-2.0, hi=2.0) != 0.0:
            raise bad(f"'{key}' is not supported by the local engine (send 0 or leave it out)", key)
    if number(body, "repetition_penalty", 1.0, lo=0.0) != 1.0:
        raise bad("'repetition_penalty' is not supported by the local engine", "repetition_penalty")
    tool_choice = body.get("tool_choice")
    if tool_choice not in (None, "auto", "none"):
        raise bad("the local engine has no tool-call parser: tool_choice must be 'auto' or 'none' (tool calls "
                  "are returned in the message content)", "tool_choice")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise bad("'messages' must be a non-empty list of message objects", "messages")
    msgs = [dict(m, content=text_content(m.get("content"))) for m in messages]
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise bad("'tools' must be a list", "tools")
    tools = [t.get("function", t) if isinstance(t, dict) and t.get("type") == "function" else t
             for t in tools] if tools else None
    kwargs = body.get("chat_template_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise bad("'chat_template_kwargs' must be an object", "chat_template_kwargs")
    try:
        text = tokenizer.apply_chat_template(msgs, tools=tools, add_generation_prompt=True,
                                             tokenize=False, **kwargs)
    except Exception as e:  # noqa: BLE001 - a template error is the request's
        raise bad(f"the chat template cannot render these messages: {type(e).__name__}: {e}", "messages") from None
    prompt_ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if not prompt_ids:
        raise bad("the rendered prompt is empty", "messages")
    if len(prompt_ids) >= max_len:
        raise bad(f"This model's maximum context length is {max_len} tokens. However, your request has "
                  f"{len(prompt_ids)} input tokens. Please reduce the length of the input messages.", "messages")
    room = max_len - len(prompt_ids)
    max_tokens = number(body, "max_completion_tokens", None, lo=1, integer=True)
    if max_tokens is None:
        max_tokens = number(body, "max_tokens", None, lo=1, integer=True)
    if max_tokens is None:
        max_tokens = cfg.default_max_tokens or room
    max_tokens = min(max_tokens, room)
    n = number(body, "n", 1, lo=1, hi=min(cfg.max_n, cfg.max_batch_rows), integer=True)
    temperature = number(body, "temperature", 1.0, lo=0.0, hi=100.0)
    top_p = number(body, "top_p", 1.0, lo=0.0, hi=1.0)
    if top_p <= 0.0:
        raise bad("'top_p' must be in (0, 1]", "top_p")
    top_k = number(body, "top_k", 0, lo=-1, integer=True)
    seed = number(body, "seed", None, integer=True)
    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= MAX_STOP_STRINGS:
        stops = list(stop)
    else:
        raise bad(f"'stop' must be a string or a list of at most {MAX_STOP_STRINGS} strings", "stop")
    stops = [s for s in stops if s]
    stop_ids = body.get("stop_token_ids") or []
    if not isinstance(stop_ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in stop_ids):
        raise bad("'stop_token_ids' must be a list of token ids", "stop_token_ids")
    loop = asyncio.get_running_loop()
    req = GenRequest(prompt_ids=prompt_ids, n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                     top_k=max(0, top_k), stop=stops, stop_token_ids=frozenset(stop_ids), seed=seed,
                     ignore_eos=bool(body.get("ignore_eos")),
                     include_stop=bool(body.get("include_stop_str_in_output")), adapter=adapter_key, loop=loop,
                     future=loop.create_future())
    return req, model_name
