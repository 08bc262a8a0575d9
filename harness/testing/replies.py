"""The replies the scripted server writes: OpenAI's error envelope and a `Reply` the handlers hand back
(the server counts its status in /stats before writing it)."""
from __future__ import annotations

import json
from dataclasses import dataclass

JSON_CT = "application/json"


def error_body(message: str, type_: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> bytes:
    """OpenAI's error envelope `{"error": {"message", "type", "param", "code"}}` as bytes."""
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}).encode()


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] | None = None
    content_type: str = JSON_CT
