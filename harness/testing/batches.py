"""A scripted OpenAI Files + Batches endpoint, mounted on the scripted server (harness.testing.scripted).

Routes (the real API's shapes): POST /v1/files (multipart: `purpose`, `file`), GET /v1/files/{id},
GET /v1/files/{id}/content, POST /v1/batches ({input_file_id, endpoint, completion_window, metadata}),
GET /v1/batches/{id}, POST /v1/batches/{id}/cancel, GET /v1/batches (`limit`, `after`).

State machine of a batch, one `step` (seconds, `time_scale`) per transition:

    validating --(bad input file)--> failed                      (errors.data: code, message, line)
    validating --> in_progress --> finalizing --> completed      (output_file_id, error_file_id)
                   in_progress --(expire_after N lines)--> expired   (N lines answered; the rest in the
                                                                      error file, code batch_expired)
                   in_progress --(cancel)--> cancelling --> cancelled (answered lines kept; no error lines
                                                                      for the rest, as the real API)

Lines are answered with `ScriptedServer.complete` (the same answer book, usage and prefix cache as chat
completions), `lines_per_step` of them per step so that `request_counts` move while a client polls.
`fail_lines` (0..1) makes that fraction of lines (chosen by a hash of the custom_id, so reruns agree)
fail with a 500 in the error file. `stats()` counts files, batches created and lines answered.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from harness.testing.replies import JSON_CT, error_body

CHAT_URL = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def _now() -> int:
    return int(time.time())


class BatchEndpoint:
    """The Files + Batches routes; `complete(body) -> (status, JSON bytes)` answers one request."""

    def __init__(self, complete: Callable[[Any], tuple[int, bytes]], *, time_scale: float = 0.01,
                 lines_per_step: int = 500, expire_after: int | None = None, fail_lines: float = 0.0,
                 api_key: str | None = None) -> None:
        self._complete = complete
        self.step = float(time_scale)
        self.lines_per_step = max(1, int(lines_per_step))
        self.expire_after = expire_after
        self.fail_lines = float(fail_lines)
        self._api_key = api_key
        self.files: dict[str, dict[str, Any]] = {}
        self.content: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._cancel: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self.lines_answered = 0
        self.auth_seen: set[str] = set()

    def configure(self, **opts: Any) -> None:
        for k, v in opts.items():
            if k == "time_scale":
                self.step = float(v)
            elif k == "expire_after":
                self.expire_after = None if v is None else int(v)
            elif k == "fail_lines":
                self.fail_lines = float(v)
            elif k == "lines_per_step":
                self.lines_per_step = max(1, int(v))
            else:
                raise ValueError(f"unknown batch option {k!r}")

    def stats(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for b in self.batches.values():
            by_status[b["status"]] = by_status.get(b["status"], 0) + 1
        return {"files": len(self.files), "batches_created": len(self.batches), "batch_status": by_status,
                "batch_lines_answered": self.lines_answered}

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/v1/files", self._upload)
        r.add_get("/v1/files/{fid}", self._file)
        r.add_get("/v1/files/{fid}/content", self._file_content)
        r.add_post("/v1/batches", self._create)
        r.add_get("/v1/batches", self._list)
        r.add_get("/v1/batches/{bid}", self._retrieve)
        r.add_post("/v1/batches/{bid}/cancel", self._cancel_batch)

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- helpers -----------------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}-scripted{next(self._ids):06d}"

    def _denied(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization")
        if auth:
            self.auth_seen.add(auth)
        if self._api_key is not None and auth != f"Bearer {self._api_key}":
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    def _new_file(self, data: bytes, purpose: str, filename: str) -> dict[str, Any]:
        fid = self._id("file")
        obj = {"id": fid, "object": "file", "bytes": len(data), "created_at": _now(), "filename": filename,
               "purpose": purpose, "status": "processed", "status_details": None}
        self.files[fid] = obj
        self.content[fid] = data
        return obj

    # -- files -------------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        if not request.content_type.startswith("multipart/"):
            return _error(400, "Uploads must be multipart/form-data with `purpose` and `file`.")
        purpose, data, filename = None, None, "upload"
        reader = await request.multipart()
        async for part in reader:
            if part.name == "purpose":
                purpose = (await part.read()).decode()
            elif part.name == "file":
                filename = part.filename or filename
                data = bytes(await part.read())
        if purpose not in ("batch", "fine-tune", "assistants", "vision", "user_data", "evals"):
            return _error(400, f"'{purpose}' is not a valid purpose.", param="purpose")
        if data is None:
            return _error(400, "'file' is a required property", param="file")
        return web.json_response(self._new_file(data, purpose, filename))

    async def _file(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        obj = self.files.get(request.match_info["fid"])
        if obj is None:
            return _error(404, f"No such File object: {request.match_info['fid']}", param="id")
        return web.json_response(obj)

    async def _file_content(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        fid = request.match_info["fid"]
        if fid not in self.content:
            return _error(404, f"No such File object: {fid}", param="id")
        return web.Response(body=self.content[fid], content_type="application/octet-stream")

    # -- batches -----------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        try:
            req = json.loads(await request.read())
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        if not isinstance(req, dict):
            return _error(400, "The request body must be a JSON object.")
        fid = req.get("input_file_id")
        if fid not in self.files:
            return _error(400, f"No such File object: {fid}", param="input_file_id")
        if self.files[fid]["purpose"] != "batch":
            return _error(400, "The input file must be uploaded with purpose 'batch'.", param="input_file_id")
        if req.get("endpoint") != CHAT_URL:
            return _error(400, f"This endpoint serves batches for {CHAT_URL} only.", param="endpoint")
        if req.get("completion_window") != "24h":
            return _error(400, "completion_window must be '24h'.", param="completion_window")
        bid = self._id("batch")
        now = _now()
        b = {"id": bid, "object": "batch", "endpoint": CHAT_URL, "errors": None, "input_file_id": fid,
             "completion_window": "24h", "status": "validating", "output_file_id": None, "error_file_id": None,
             "created_at": now, "in_progress_at": None, "expires_at": now + 86400, "finalizing_at": None,
             "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None,
             "cancelled_at": None, "request_counts": {"total": 0, "completed": 0, "failed": 0},
             "metadata": req.get("metadata") if isinstance(req.get("metadata"), dict) else None}
        self.batches[bid] = b
        task = asyncio.ensure_future(self._work(b))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response(b)

    async def _retrieve(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        b = self.batches.get(request.match_info["bid"])
        if b is None:
            return _error(404, f"No batch with id {request.match_info['bid']!r} found.", param="batch_id")
        return web.json_response(b)

    async def _list(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        items = sorted(self.batches.values(), key=lambda b: b["id"], reverse=True)   # newest first
        after = request.query.get("after")
        if after:
            ids = [b["id"] for b in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        limit = max(1, min(100, int(request.query.get("limit", "20"))))
        page = items[:limit]
        return web.json_response({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                                  "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit})

    async def _cancel_batch(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        b = self.batches.get(request.match_info["bid"])
        if b is None:
            return _error(404, f"No batch with id {request.match_info['bid']!r} found.", param="batch_id")
        if b["status"] in TERMINAL or b["status"] == "finalizing":
            return _error(409, f"Cannot cancel a batch with status '{b['status']}'.")
        if b["status"] != "cancelling":
            b["status"], b["cancelling_at"] = "cancelling", _now()
            self._cancel.add(b["id"])
        return web.json_response(b)

    # -- the worker --------------------------------------------------------------------------------

    def _parse_input(self, data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(lines, validation errors) of a batch input file."""
        lines, errors, seen = [], [], set()
        for no, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                errors.append({"code": "invalid_json_line", "message": "This line is not parseable as valid "
                               "JSON.", "param": None, "line": no})
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("custom_id"), str):
                errors.append({"code": "missing_required_parameter", "message": "custom_id is required.",
                               "param": "custom_id", "line": no})
                continue
            if obj["custom_id"] in seen:
                errors.append({"code": "duplicate_custom_id", "message": "The custom_id for this request is "
                               "a duplicate of another request.", "param": "custom_id", "line": no})
                continue
            if obj.get("method") != "POST" or obj.get("url") != CHAT_URL:
                errors.append({"code": "invalid_url", "message": f"The URL provided for this request does "
                               f"not match the batch endpoint {CHAT_URL}.", "param": "url", "line": no})
                continue
            if not isinstance(obj.get("body"), dict):
                errors.append({"code": "invalid_request", "message": "body must be a JSON object.",
                               "param": "body", "line": no})
                continue
            seen.add(obj["custom_id"])
            lines.append(obj)
        if not lines and not errors:
            errors.append({"code": "empty_file", "message": "The batch input file is empty.", "param": None,
                           "line": None})
        return lines, errors

    def _fails(self, custom_id: str) -> bool:
        if self.fail_lines <= 0:
            return False
        h = int.from_bytes(hashlib.sha256(custom_id.encode()).digest()[:8], "big") / 2 ** 64
        return h < self.fail_lines

    async def _work(self, b: dict[str, Any]) -> None:
        await asyncio.sleep(self.step)
        lines, errors = self._parse_input(self.content[b["input_file_id"]])
        if errors:
            b.update(status="failed", failed_at=_now(), errors={"object": "list", "data": errors})
            return
        b["request_counts"]["total"] = len(lines)
        if b["id"] in self._cancel:
            return await self._finish(b, [], [], [])
        b.update(status="in_progress", in_progress_at=_now())
        out: list[bytes] = []
        err: list[bytes] = []
        answered = 0
        for start in range(0, len(lines), self.lines_per_step):
            await asyncio.sleep(self.step)
            if b["id"] in self._cancel:
                return await self._finish(b, lines[answered:], out, err, cancelled=True)
            for obj in lines[start:start + self.lines_per_step]:
                if self.expire_after is not None and answered >= self.expire_after:
                    return await self._finish(b, lines[answered:], out, err, expired=True)
                answered += 1
                self.lines_answered += 1
                cid = obj["custom_id"]
                rid = self._id("req")
                if self._fails(cid):
                    err.append(_line(rid, cid, 500, json.loads(error_body("The server had an error while "
                                     "processing your request.", "server_error"))))
                    b["request_counts"]["failed"] += 1
                    continue
                status, body = self._complete(obj["body"])
                doc = json.loads(body)
                (out if status == 200 else err).append(_line(rid, cid, status, doc))
                b["request_counts"]["completed" if status == 200 else "failed"] += 1
        b.update(status="finalizing", finalizing_at=_now())
        await asyncio.sleep(self.step)
        await self._finish(b, [], out, err)

    async def _finish(self, b: dict[str, Any], left: list[dict[str, Any]], out: list[bytes], err: list[bytes],
                      *, expired: bool = False, cancelled: bool = False) -> None:
        if expired:
            for obj in left:   # the real API lists unfinished requests in the error file
                err.append(json.dumps({"id": self._id("req"), "custom_id": obj["custom_id"], "response": None,
                                       "error": {"code": "batch_expired", "message": "This request could not "
                                                 "be executed before the completion window expired."}}).encode())
                b["request_counts"]["failed"] += 1
        if out:
            b["output_file_id"] = self._new_file(b"\n".join(out) + b"\n", "batch_output",
                                                 "batch_output.jsonl")["id"]
        if err:
            b["error_file_id"] = self._new_file(b"\n".join(err) + b"\n", "batch_output",
                                                "batch_errors.jsonl")["id"]
        if expired:
            b.update(status="expired", expired_at=_now())
        elif cancelled or b["id"] in self._cancel:
            await asyncio.sleep(self.step)
            b.update(status="cancelled", cancelled_at=_now())
        else:
            b.update(status="completed", completed_at=_now())


def _line(rid: str, custom_id: str, status: int, body: Any) -> bytes:
    return json.dumps({"id": rid, "custom_id": custom_id,
                       "response": {"status_code": status, "request_id": rid, "body": body},
                       "error": None}).encode()


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> web.Response:
    return web.Response(status=status, body=error_body(message, "invalid_request_error", param, code),
                        content_type=JSON_CT)


__all__ = ["CHAT_URL", "TERMINAL", "BatchEndpoint"]
