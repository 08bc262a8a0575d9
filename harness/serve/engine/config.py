"""The local engine's configuration and errors (vLLM's error envelope)."""
from __future__ import annotations

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
    dtype: str = "auto"                   # auto (float32 on CPU, bfloat16/float16 on CUDA) | float32 | ...
    threads: int | None = None            # torch CPU threads (None: cores - 1, at least 1)
    batch_wait_ms: float = 2.0            # when idle, wait this long for more requests to start together


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
