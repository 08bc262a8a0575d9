"""The local engine's configuration and errors (vLLM's error envelope)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus

from aiohttp import web

from harness.errors import UserError


class EngineError(UserError):
    """The model directory cannot be served (missing, no chat template, unloadable)."""


@dataclass
class EngineConfig:
    model: str
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    adapter_roots: list[str] = field(default_factory=list)   # empty: the current dir and the model's parent
    allow_any_adapter_path: bool = False
    max_loras: int | None = None          # most adapters loaded at once (None: no limit)
    max_lora_rank: int | None = None      # refuse adapters of a higher rank, as vLLM does (None: no limit)
    max_batch_rows: int = 64              # rows decoded together
    max_n: int = 16
    default_max_tokens: int | None = None  # None: the context left after the prompt (vLLM's default)
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"                   # auto (bf16 where the CPU runs it faster, else float32) | ...
    threads: int | None = None            # torch CPU threads (None: cores - 1, at least 1)
    batch_wait_ms: float = 2.0            # when idle, wait this long for more requests to start together
    kv_cache_memory: int = 1 << 30        # bytes for the running rows' KV slots and the prefix store
    lean: bool = True                     # the lean forward on Llama-shaped models (False: transformers')
    quantize: str | None = None           # "int8": dynamic int8 Linear layers (CPU; no LoRA adapters then)


class APIError(Exception):
    """An error answered in vLLM's envelope."""

    def __init__(self, status: int, message: str, err_type: str = "BadRequestError", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.err_type, self.param = status, message, err_type, param

    def response(self) -> web.Response:
        body = {"error": {"message": self.message, "type": self.err_type, "param": self.param, "code": self.status}}
        return web.json_response(body, status=self.status)


def bad(message: str, param: str | None = None) -> APIError:
    return APIError(HTTPStatus.BAD_REQUEST, message, "BadRequestError", param)


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 1000 ** 2, "mb": 1000 ** 2, "mib": 1 << 20,
          "g": 1000 ** 3, "gb": 1000 ** 3, "gib": 1 << 30}


def parse_size(text: str) -> int:
    """'512MiB', '2GiB', '1.5G', '1073741824' -> bytes (EngineError naming the value otherwise)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS or float(m.group(1)) <= 0:
        raise EngineError(f"--kv-cache-memory {text!r}: give a size such as 512MiB, 2GiB or a byte count")
    return int(float(m.group(1)) * _UNITS[unit])
