"""The scripted server in the shapes of the servers hobbyists run (`--mimic llama.cpp|ollama`), so
`harness eval` is tested against their differences from vLLM/OpenAI without building them:

llama.cpp (`llama-server`, tools/server; OpenAI routes with `--jinja` for tools):
* `n` other than 1 is refused with HTTP **500** `{"error": {"code": 500, "message": "Only one completion
  choice is allowed", "type": "server_error"}}` (its params parser throws; observed on real servers);
* `usage` has prompt/completion/total tokens; builds before prompt_tokens_details was added omit it (this
  mimic omits it: the harder case); every answer carries llama.cpp's `timings` object (`cache_n` = prompt
  tokens reused from the slot's cache, `prompt_n`, `prompt_ms`, `predicted_n`, `predicted_ms`, per-token and
  per-second figures); `system_fingerprint` is the build (`b<N>-<commit>`); /v1/models cards are
  `owned_by: "llamacpp"` with a `meta` object.

Ollama (its OpenAI compatibility layer, /v1/chat/completions):
* `n` is not a supported field: it is ignored and one choice comes back;
* `seed` is ignored here (it is honoured only by some versions);
* `usage` has prompt/completion/total tokens only; no prompt_tokens_details, no timings;
  `system_fingerprint: "fp_ollama"`; /v1/models cards are `owned_by: "library"`.

A mimic rewrites a request before the answer book sees it (`before`) and reshapes the OpenAI-style body
the scripted server built (`after`); nothing else of the server changes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MIMICS = ("llama.cpp", "ollama")


@dataclass(frozen=True)
class Mimic:
    name: str

    def before(self, req: dict[str, Any]) -> tuple[dict[str, Any], tuple[int, bytes] | None]:
        """(the request as this server reads it, or an error reply it sends instead)."""
        n = req.get("n", 1)
        if self.name == "llama.cpp":
            if n not in (None, 1):
                return req, (500, json.dumps({"error": {"code": 500, "message": "Only one completion choice is "
                                                        "allowed", "type": "server_error"}}).encode())
            return req, None
        req = {k: v for k, v in req.items() if k not in ("n", "seed")}      # ollama: neither is read
        return req, None

    def after(self, body: dict[str, Any], *, cached: int, elapsed_ms: float) -> dict[str, Any]:
        usage = body.get("usage") or {}
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        plain = {"completion_tokens": completion, "prompt_tokens": prompt, "total_tokens": prompt + completion}
        choices = [{"finish_reason": c.get("finish_reason"), "index": c.get("index"), "message": c.get("message")}
                   for c in body.get("choices") or []]
        if self.name == "llama.cpp":
            new_prompt = max(prompt - cached, 0)
            p_ms, g_ms = max(elapsed_ms * 0.3, 0.001), max(elapsed_ms * 0.7, 0.001)
            timings = {"cache_n": cached, "prompt_n": new_prompt, "prompt_ms": p_ms,
                       "prompt_per_token_ms": p_ms / max(new_prompt, 1),
                       "prompt_per_second": 1000.0 * new_prompt / p_ms, "predicted_n": completion,
                       "predicted_ms": g_ms, "predicted_per_token_ms": g_ms / max(completion, 1),
                       "predicted_per_second": 1000.0 * completion / g_ms}
            return {"choices": choices, "created": body.get("created"), "model": body.get("model"),
                    "system_fingerprint": "b6500-scripted", "object": "chat.completion", "usage": plain,
                    "id": str(body.get("id")).replace("scripted", "llamacpp"), "timings": timings}
        return {"id": str(body.get("id")).replace("chatcmpl-scripted-", "chatcmpl-"), "object": "chat.completion",
                "created": body.get("created"), "model": body.get("model"), "system_fingerprint": "fp_ollama",
                "choices": choices, "usage": plain}

    def model_card(self, model: str, created: int) -> dict[str, Any]:
        if self.name == "llama.cpp":
            return {"id": model, "object": "model", "created": created, "owned_by": "llamacpp",
                    "meta": {"vocab_type": 2, "n_ctx_train": 8192, "n_params": 135000000}}
        return {"id": model, "object": "model", "created": created,
                "owned_by": "library"}


def mimic_for(name: str | None) -> Mimic | None:
    if name in (None, "", "openai"):
        return None
    if name not in MIMICS:
        raise ValueError(f"--mimic {name!r}: use one of {', '.join(MIMICS)}")
    return Mimic(name)


__all__ = ["MIMICS", "Mimic", "mimic_for"]
