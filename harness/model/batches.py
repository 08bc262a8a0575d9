"""The Batch API client: OpenAI's Files + Batches endpoints over aiohttp (DESIGN.md "Runs", `--batch`).

    async with BatchClient("https://api.openai.com/v1", api_key=os.environ["OPENAI_API_KEY"]) as bc:
        f = await bc.upload(jsonl_bytes, "batch-0.jsonl")        # POST /files, purpose=batch
        b = await bc.create(f["id"], metadata={"harness_run": "..."})   # POST /batches (24h window)
        b = await bc.retrieve(b["id"])                            # poll: b["status"], b["request_counts"]
        out = await bc.content(b["output_file_id"])               # GET /files/{id}/content

The transport is the chat client's (harness.model.client): one aiohttp session with the key set once as
its default `Authorization` header (request_headers), the same retry policy (harness.model.limits: 5xx,
408/409/429 and dropped connections retried with full-jitter back-off or the server's Retry-After) and
the same reading of error envelopes (server_message). The key is never part of an exception, a repr or
a return value; an echo of it in an error body is replaced with `***`.

Provider limits (OpenAI, "Batch API" guide and openai-python `batch_create_params.py`, checked 2026):
at most MAX_LINES requests and MAX_BYTES bytes per input file; the only completion window is "24h".
"""
from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp

from harness.log.rundir import redact_url
from harness.model.client import EndpointError, normalize_endpoint, request_headers, server_message
from harness.model.limits import MAX_RETRY_AFTER, RETRY_STATUSES, backoff_wait, retry_after_seconds

MAX_LINES = 50_000                 # requests per batch input file (OpenAI)
MAX_BYTES = 200 * 1024 * 1024      # bytes per batch input file (OpenAI)
COMPLETION_WINDOW = "24h"
CHAT_ROUTE = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


class BatchAPIError(EndpointError):
    """The endpoint's Files/Batches API refused a call or cannot be reached (after retries)."""


class BatchClient:
    """Files + Batches calls against one OpenAI-compatible base URL (…/v1)."""

    def __init__(self, endpoint: str, *, api_key: str | None = None, timeout: float = 300.0,
                 max_retries: int = 6, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 seed: int | None = None) -> None:
        self.base = normalize_endpoint(endpoint)
        self.name = redact_url(self.base)
        self._headers = request_headers(api_key or None)
        del self._headers["Content-Type"]    # set per call: JSON bodies, or the multipart upload's boundary
        self._secret = api_key if api_key and len(api_key) >= 8 else None
        self._timeout = float(timeout)
        self._max_retries = int(max_retries)
        self._backoff = (float(backoff_base), float(backoff_max))
        self._rng = random.Random(seed)
        self._session: aiohttp.ClientSession | None = None
        self.calls = 0

    def __repr__(self) -> str:
        return f"BatchClient({self.name}, api_key={'set' if 'Authorization' in self._headers else 'none'})"

    async def __aenter__(self) -> BatchClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, cookie_jar=aiohttp.DummyCookieJar(),
                                                  timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # -- calls -------------------------------------------------------------------------------------

    async def upload(self, data: bytes, filename: str) -> dict[str, Any]:
        """POST /files (purpose=batch): the File object."""
        def form() -> aiohttp.FormData:
            fd = aiohttp.FormData()
            fd.add_field("purpose", "batch")
            fd.add_field("file", data, filename=filename, content_type="application/jsonl")
            return fd
        return await self._json("POST", "/files", form=form)

    async def create(self, input_file_id: str, *, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """POST /batches for /v1/chat/completions with the 24 h window: the Batch object."""
        body: dict[str, Any] = {"input_file_id": input_file_id, "endpoint": CHAT_ROUTE,
                                "completion_window": COMPLETION_WINDOW}
        if metadata:
            body["metadata"] = metadata
        return await self._json("POST", "/batches", body=body)

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/batches/{batch_id}")

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return await self._json("POST", f"/batches/{batch_id}/cancel")

    async def list(self, limit: int = 100, pages: int = 5) -> list[dict[str, Any]]:
        """The newest batches (at most `pages` pages of `limit`), newest first."""
        out: list[dict[str, Any]] = []
        after = None
        for _ in range(pages):
            q = f"?limit={limit}" + (f"&after={after}" if after else "")
            page = await self._json("GET", "/batches" + q)
            data = [b for b in page.get("data") or [] if isinstance(b, dict)]
            out.extend(data)
            if not page.get("has_more") or not data:
                break
            after = data[-1].get("id")
        return out

    async def content(self, file_id: str) -> bytes:
        """GET /files/{id}/content: the file's bytes (an output or error JSONL)."""
        return await self._call("GET", f"/files/{file_id}/content", raw=True)

    # -- transport ---------------------------------------------------------------------------------

    async def _json(self, method: str, path: str, *, body: Any = None, form: Any = None) -> dict[str, Any]:
        raw = await self._call(method, path, body=body, form=form)
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise BatchAPIError(f"{self.name}{path}: the answer is not a JSON object (does this endpoint "
                                f"implement the OpenAI Batch API? drop --batch to send requests one by one)")
        return doc

    async def _call(self, method: str, path: str, *, body: Any = None, form: Any = None,
                    raw: bool = False) -> bytes:
        if self._session is None:
            raise RuntimeError("BatchClient is not open: use `async with BatchClient(...) as bc:`")
        base, q, query = self.base.partition("?")
        url = base + path + (("&" if "?" in path else "?") + query if q else "")
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            status, data, retry_after, detail = 0, b"", None, ""
            try:
                kw: dict[str, Any] = {}
                if form is not None:
                    kw["data"] = form()
                elif body is not None:
                    kw["json"] = body
                async with self._session.request(method, url, **kw) as resp:
                    status = resp.status
                    data = await resp.read()
                    retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
            except asyncio.TimeoutError:
                detail = f"no answer within {self._timeout:g} s"
            except aiohttp.ClientError as e:
                detail = f"{type(e).__name__}: {e}"
            except OSError as e:
                detail = f"{type(e).__name__}: {e}"
            if 200 <= status < 300:
                return data
            if status:
                msg, _ = server_message(data)
                detail = f"HTTP {status}: {msg}"
            retryable = not status or status >= 500 or status in RETRY_STATUSES
            if retry_after is not None and retry_after > MAX_RETRY_AFTER:
                retryable = False
            if not retryable or attempt > self._max_retries:
                hint = ""
                if status in (404, 405):
                    hint = " (this endpoint may not implement the OpenAI Batch API; drop --batch)"
                elif status == 401:
                    hint = " (check the API key in the environment variable named by --api-key-env)"
                after = f" after {attempt} attempts" if attempt > 1 else ""
                raise BatchAPIError(self._scrub(f"{method} {self.name}{path}{after}: {detail}{hint}"))
            await asyncio.sleep(backoff_wait(self._rng, attempt, retry_after, *self._backoff))

    def _scrub(self, text: str) -> str:
        if self._secret and self._secret in text:
            text = text.replace(self._secret, "***")
        return text.replace(self.base, self.name) if self.base != self.name else text


def input_line(custom_id: str, body: bytes) -> bytes:
    """One line of a batch input file; `body` is the canonical JSON of the chat request, sent as it is."""
    return (b'{"custom_id":' + json.dumps(custom_id).encode() + b',"method":"POST","url":"' + CHAT_ROUTE.encode()
            + b'","body":' + body + b"}\n")


def split_lines(lines: list[bytes], max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> list[list[int]]:
    """Indices of `lines` cut into consecutive groups within the per-file line and byte limits."""
    groups: list[list[int]] = []
    cur: list[int] = []
    size = 0
    for i, line in enumerate(lines):
        if len(line) > max_bytes:
            raise BatchAPIError(f"one batch request is {len(line):,} bytes, over the provider's "
                                f"{max_bytes:,}-byte file limit")
        if cur and (len(cur) >= max_lines or size + len(line) > max_bytes):
            groups.append(cur)
            cur, size = [], 0
        cur.append(i)
        size += len(line)
    if cur:
        groups.append(cur)
    return groups


__all__ = ["CHAT_ROUTE", "COMPLETION_WINDOW", "MAX_BYTES", "MAX_LINES", "TERMINAL", "BatchAPIError",
           "BatchClient", "input_line", "split_lines"]
