"""Before any case is sent: does the endpoint answer, at this path, with this key, for this model?

`harness eval` asks `GET {base}/models` of each endpoint within PREFLIGHT_BUDGET_S (2 s in all) and
turns the usual mistakes into one PreflightError each, with what to do (instead of minutes of retries
per case before the same conclusion):

* unreachable (connection refused, unknown host, no answer within the budget);
* wrong path: a 404 on `{base}/models` while `{base}/v1/models` answers -> "use {base}/v1";
* 401/403: names the environment variable the key is read from (set or refused);
* unknown model: lists the models the endpoint serves.

A 404 on `/models` at a base that looks right (a server without the route): a warning, and the run goes
on without the served-weights identity. The answer also gives what the runner keys and tunes on: each
served model's `owned_by` (vLLM, the local engine, ...) and the identity of the weights behind the
model name (vLLM's `root`, the local engine's `weights` hash, `parent` for an adapter), so a restarted
server with other weights under the same name is never answered from the response cache.

Standard library only (urllib in a daemon thread, so even a hanging DNS lookup keeps the budget).
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UserError

PREFLIGHT_BUDGET_S = 2.0
IDENTITY_KEYS = ("root", "weights", "weights_sha256", "revision", "parent")


class PreflightError(UserError):
    """The endpoint cannot serve the run (unreachable, wrong path, refused key, unknown model)."""


@dataclass
class Served:
    """What one endpoint's /models said about the model the run asks for."""

    endpoint: str
    models: list[str] = field(default_factory=list)
    owned_by: str | None = None
    identity: dict[str, Any] | None = None   # the IDENTITY_KEYS of the model's entry (and its parent's)
    elapsed_s: float = 0.0
    warning: str | None = None               # /models not served: checks skipped


def _redact(url: str) -> str:
    from harness.log.rundir import redact_url
    return str(redact_url(url))


def _split_base(endpoint: str) -> tuple[str, str]:
    """(the base path without trailing slash or pasted /chat/completions, its ?query)."""
    u, q, query = endpoint.strip().partition("?")
    u = u.rstrip("/")
    for tail in ("/chat/completions", "/completions"):
        if u.endswith(tail):
            u = u[: -len(tail)].rstrip("/")
    return u, q + query


def _get(url: str, headers: Mapping[str, str], timeout: float) -> tuple[int | None, bytes, str | None]:
    """(HTTP status or None, body, the connection error's text) of one GET, within `timeout` seconds."""
    box: list[tuple[int | None, bytes, str | None]] = []

    def go() -> None:
        req = urllib.request.Request(url, headers=dict(headers), method="GET")
        try:
            with urllib.request.urlopen(req, timeout=max(0.05, timeout)) as r:   # noqa: S310 - http(s) only
                box.append((r.status, r.read(4 << 20), None))
        except urllib.error.HTTPError as e:
            box.append((e.code, e.read(65536) if e.fp is not None else b"", None))
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                reason = f"no answer within {PREFLIGHT_BUDGET_S:g} s"    # the same as the join's deadline
            box.append((None, b"", str(reason) or type(reason).__name__))

    t = threading.Thread(target=go, name="harness-preflight", daemon=True)
    t.start()
    t.join(timeout)
    if not box:
        return None, b"", f"no answer within {PREFLIGHT_BUDGET_S:g} s"
    return box[0]


def _unreachable(endpoint: str, why: str) -> PreflightError:
    low = why.lower()
    if "refused" in low:
        hint = "nothing listens there: start the server (e.g. `harness serve ...`) or fix the host/port"
    elif "name or service" in low or "nodename" in low or "getaddrinfo" in low or "not known" in low:
        hint = "the host name does not resolve: check the spelling of the host"
    else:
        hint = "check that the server is up and the URL is right"
    return PreflightError(f"endpoint {_redact(endpoint)}: cannot connect ({why}); {hint}. "
                          f"(--no-preflight skips this check)")


def check_endpoint(endpoint: str, model: str, *, api_key: str | None, api_key_env: str | None,
                   budget_s: float = PREFLIGHT_BUDGET_S) -> Served:
    """GET {endpoint}/models and check it; PreflightError with what to do, or what it serves."""
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    base, query = _split_base(endpoint)
    headers = {"Accept": "application/json", "User-Agent": "toolcall-harness preflight"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    status, body, err = _get(base + "/models" + query, headers, deadline - time.perf_counter())
    if status is None:
        raise _unreachable(endpoint, err or "no answer")
    if status in (401, 403):
        env = api_key_env or "OPENAI_API_KEY"
        if api_key:
            raise PreflightError(f"endpoint {_redact(endpoint)}: HTTP {status}: the key in ${env} was refused; "
                                 f"put a valid key there (or name another variable with --api-key-env)")
        raise PreflightError(f"endpoint {_redact(endpoint)}: HTTP {status}: the endpoint wants an API key; "
                             f"export {env}=<your key> (or name another variable with --api-key-env)")
    if status == 404:
        if not base.endswith("/v1"):
            s2, _, _ = _get(base + "/v1/models" + query, headers, deadline - time.perf_counter())
            if s2 is not None and 200 <= s2 < 300:
                raise PreflightError(f"endpoint {_redact(endpoint)}: HTTP 404 on {_redact(base)}/models, but "
                                     f"{_redact(base)}/v1/models answers: use --endpoint {_redact(base)}/v1{query}")
        return Served(endpoint, elapsed_s=time.perf_counter() - t0,
                      warning=f"endpoint {_redact(endpoint)}: GET /models answered 404; the model name and the "
                              f"served weights are not checked (the response cache keys on the name alone)")
    if not 200 <= status < 300:
        # a server error here says nothing sure about the route: the run's own retries will tell
        return Served(endpoint, elapsed_s=time.perf_counter() - t0,
                      warning=f"endpoint {_redact(endpoint)}: GET /models answered HTTP {status}; not checked")
    return _read_models(endpoint, model, body, time.perf_counter() - t0)


def _read_models(endpoint: str, model: str, body: bytes, elapsed: float) -> Served:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        return Served(endpoint, elapsed_s=elapsed,
                      warning=f"endpoint {_redact(endpoint)}: /models is not an OpenAI model list; not checked")
    entries = {str(m.get("id")): m for m in data if isinstance(m, dict) and m.get("id") is not None}
    served = Served(endpoint, models=sorted(entries), elapsed_s=elapsed)
    entry = entries.get(model)
    if entry is None:
        if not entries:   # an empty list (some proxies): nothing to check against
            served.warning = f"endpoint {_redact(endpoint)}: /models lists no model; the name is not checked"
            return served
        shown = ", ".join(served.models[:20]) + (f" and {len(served.models) - 20} more" if len(served.models) > 20
                                                  else "")
        raise PreflightError(f"endpoint {_redact(endpoint)} does not serve model {model!r}; it serves: {shown}. "
                             f"Pass one of these with --model")
    served.owned_by = str(entry.get("owned_by")) if entry.get("owned_by") is not None else None
    ident = {k: entry[k] for k in IDENTITY_KEYS if entry.get(k) not in (None, "")}
    parent = entries.get(str(entry.get("parent"))) if entry.get("parent") else None
    if parent is not None:    # an adapter: the base weights under it count too
        ident["parent_identity"] = {k: parent[k] for k in IDENTITY_KEYS if parent.get(k) not in (None, "")}
    served.identity = ident or None
    return served


def weights_identity(served: list[Served], revision: str | None) -> str | None:
    """The text the response cache keys on besides the model name (None: nothing known)."""
    parts: dict[str, Any] = {}
    ids = sorted({json.dumps(s.identity, sort_keys=True, default=str) for s in served if s.identity})
    if ids:
        parts["served"] = ids
    if revision:
        parts["revision"] = revision
    return json.dumps(parts, sort_keys=True) if parts else None


__all__ = ["PREFLIGHT_BUDGET_S", "PreflightError", "Served", "check_endpoint", "weights_identity"]
