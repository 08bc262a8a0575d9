"""`harness eval --batch`: the planned requests through the endpoint's Batch API (DESIGN.md "Runs").

The planner (harness.eval.plan) builds every request as in a direct run; the response cache and the
dedupe answer what they can (those never reach a batch file). The rest become batch input lines
(`custom_id` = the request hash), cut into files within the provider's per-file limits
(harness.model.batches), uploaded and submitted as one batch each. The run directory keeps:

    batch.json            {"version": 1, "endpoint", "batches": [{"index", "input", "lines", "hashes",
                           "input_file_id", "id", "status", "request_counts", "output_file_id",
                           "error_file_id", "collected", "answered"}]}
    batch/input-N.jsonl   what was uploaded (request bodies only: no key, no header)
    batch/output-N.jsonl, batch/errors-N.jsonl   what the provider returned

Each step is written to batch.json before the next one starts (write the file, upload, create, collect),
so `--resume` after kill -9 polls the batch already submitted instead of paying for a second one; a
batch whose creation was sent but not recorded is found again by its input file id (GET /batches).
When a batch ends, its output lines are mapped back by custom_id — each request at most once — and
handled exactly like direct replies (parsed, scored, appended to results.jsonl, put in the response
cache); error-file lines, and the requests of an expired, cancelled or failed batch that got no answer,
become `status: "error"` lines that a later `--resume` (batch or not) asks again. Samples that an
endpoint answered with fewer choices than `n` are asked in a further batch round.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness._util.fs import atomic_write_json
from harness.errors import UserError
from harness.eval.plan import Request

BATCH_JSON = "batch.json"
BATCH_DIR = "batch"
PLAN_CHUNK = 256          # cases built (and looked up in the cache) per step
MAX_ROUNDS = 4            # batch rounds in one invocation (a round only follows n-fallbacks)
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


class BatchStateError(UserError):
    """batch.json in the run directory is unreadable or describes another endpoint."""


def load_state(run_dir: Path, endpoint: str) -> dict[str, Any]:
    path = run_dir / BATCH_JSON
    if not path.is_file():
        return {"version": 1, "endpoint": endpoint, "batches": []}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BatchStateError(f"{path}: unreadable ({e}); move it away to submit the remaining requests "
                              f"again (batches it lists may still be running at the provider)") from None
    if not isinstance(state, dict) or not isinstance(state.get("batches"), list):
        raise BatchStateError(f"{path}: no `batches` list; move it away to start the batches afresh")
    if state.get("endpoint") != endpoint:
        raise BatchStateError(f"{path}: its batches belong to {state.get('endpoint')}, not {endpoint}; resume "
                              f"with that --endpoint (or move batch.json away)")
    return state


def answered_hashes(run_dir: Path) -> set[str] | None:
    """The request hashes a Batch API answered in this run (batch.json), or None without batches."""
    path = Path(run_dir) / BATCH_JSON
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {h for b in state.get("batches") or [] for h in b.get("answered") or []}


class BatchRun:
    """One invocation's batch work: submit what is new, poll what is pending, collect what ended."""

    def __init__(self, runner: Any, client: Any, endpoint: str, progress: Any) -> None:
        self.runner = runner
        self.client = client
        self.rd = runner.rd
        self.dir = Path(self.rd.path)
        self.state = load_state(self.dir, endpoint)
        self.progress = progress
        self.todo: dict[str, Request] = {}

    def save(self) -> None:
        atomic_write_json(self.dir / BATCH_JSON, self.state)

    def add(self, requests: list[Request]) -> None:
        for r in requests:
            have = self.todo.get(r.hash)
            if have is None:
                self.todo[r.hash] = r
            elif have is not r:   # the same request built in two chunks: one line answers both
                have.targets.extend(r.targets)

    # -- submitting --------------------------------------------------------------------------------

    def write_new(self) -> None:
        """Write input files for the requests no pending batch holds (before anything is sent)."""
        from harness.model import batches as api    # its limits read now: tests (and users) may lower them
        held = {h for b in self.state["batches"] if not b.get("collected") for h in b.get("hashes") or []}
        new = [h for h, r in self.todo.items() if h not in held and not r.answered]
        if not new:
            return
        lines = [api.input_line(h, self.todo[h].body) for h in new]
        (self.dir / BATCH_DIR).mkdir(exist_ok=True)
        for group in api.split_lines(lines, api.MAX_LINES, api.MAX_BYTES):
            index = len(self.state["batches"])
            name = f"{BATCH_DIR}/input-{index}.jsonl"
            (self.dir / name).write_bytes(b"".join(lines[i] for i in group))
            self.state["batches"].append({"index": index, "input": name, "lines": len(group),
                                          "hashes": [new[i] for i in group], "input_file_id": None, "id": None,
                                          "status": "local", "collected": False})
        self.save()

    async def submit(self, b: dict[str, Any]) -> None:
        if not b.get("input_file_id"):
            f = await self.client.upload((self.dir / b["input"]).read_bytes(), Path(b["input"]).name)
            b["input_file_id"] = f.get("id")
            b["status"] = "uploaded"
            self.save()
        if not b.get("id"):
            found = await self._find(b["input_file_id"])
            obj = found or await self.client.create(b["input_file_id"],
                                                    metadata={"harness_run": self.dir.name[:500],
                                                              "harness_batch": str(b["index"])})
            self._update(b, obj)
            self.save()
            self.progress.note(f"batch {b['id']} {'found again' if found else 'submitted'} "
                               f"({b['lines']:,} requests; input {b['input']})")

    async def _find(self, file_id: str) -> dict[str, Any] | None:
        """A batch already created from `file_id` (a creation whose answer was lost to a crash)."""
        for obj in await self.client.list():
            if obj.get("input_file_id") == file_id:
                return obj
        return None

    @staticmethod
    def _update(b: dict[str, Any], obj: dict[str, Any]) -> None:
        for k in ("id", "status", "output_file_id", "error_file_id", "request_counts", "errors"):
            if obj.get(k) is not None or k in ("output_file_id", "error_file_id"):
                b[k] = obj.get(k)

    # -- polling and collecting --------------------------------------------------------------------

    async def poll(self, every: float) -> None:
        while True:
            live = [b for b in self.state["batches"] if not b.get("collected")]
            if not live:
                return
            for b in live:
                if not self.needed(b):
                    await self.drop(b)
                    continue
                if not b.get("id"):
                    await self.submit(b)
                    continue
                old = (b.get("status"), json.dumps(b.get("request_counts"), sort_keys=True))
                self._update(b, await self.client.retrieve(b["id"]))
                if (b.get("status"), json.dumps(b.get("request_counts"), sort_keys=True)) != old:
                    self.save()
                if b.get("status") in TERMINAL:
                    await self.collect(b)
            self.progress.update(self.state["batches"])
            if any(not b.get("collected") for b in self.state["batches"]):
                await asyncio.sleep(every)

    def needed(self, b: dict[str, Any]) -> bool:
        """Whether a pending batch still holds a request this invocation must answer (a direct
        `--resume` may have answered them all since)."""
        todo = self.todo
        return any((r := todo.get(h)) is not None and not r.answered for h in b.get("hashes") or [])

    async def drop(self, b: dict[str, Any]) -> None:
        """A pending batch nobody needs any more: cancel it at the provider (what it already answered is
        billed either way) and stop waiting for it."""
        from harness.model.batches import BatchAPIError
        if b.get("id") and b.get("status") not in TERMINAL:
            try:
                self._update(b, await self.client.cancel(b["id"]))
            except BatchAPIError as e:     # e.g. it ended meanwhile: nothing to cancel
                self.progress.note(f"batch {b['id']}: not cancelled ({e})")
                try:
                    self._update(b, await self.client.retrieve(b["id"]))
                except BatchAPIError:
                    pass    # only the status shown is stale; nothing waits for this batch
            else:
                self.progress.note(f"batch {b['id']} cancelled: its requests were answered otherwise")
        b["collected"] = True
        b["answered"] = []
        self.save()

    async def collect(self, b: dict[str, Any]) -> None:
        """Map a finished batch's output and error lines back to their requests, once each."""
        answered: list[str] = []
        for key, name in (("output_file_id", "output"), ("error_file_id", "errors")):
            fid = b.get(key)
            if not fid:
                continue
            data = await self.client.content(fid)
            (self.dir / BATCH_DIR / f"{name}-{b['index']}.jsonl").write_bytes(data)
            for raw in data.splitlines():
                if raw.strip():
                    h = self._line(b, raw)
                    if h is not None:
                        answered.append(h)
        why = self._why(b)
        for h in b.get("hashes") or []:
            req = self.todo.get(h)
            if req is not None and not req.answered:
                self.runner.on_error(req, why, None)
        b["collected"] = True
        b["answered"] = answered
        self.save()

    def _line(self, b: dict[str, Any], raw: bytes) -> str | None:
        """Handle one output/error line; the hash of a request it answered with a 200, else None."""
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        cid = doc.get("custom_id") if isinstance(doc, dict) else None
        req = self.todo.get(cid) if isinstance(cid, str) else None
        if req is None or req.answered:     # not asked by this invocation, or already handled
            return None
        resp = doc.get("response") if isinstance(doc.get("response"), dict) else {}
        code = resp.get("status_code")
        body = resp.get("body")
        if code == 200 and isinstance(body, dict) and isinstance(body.get("choices"), list):
            self.runner.handle_reply(req, SimpleNamespace(status="ok", body=body, latency_ms=None))
            return req.hash
        err = doc.get("error") if isinstance(doc.get("error"), dict) else None
        if err is None and isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
        msg = str((err or {}).get("message") or "no answer in the batch's output")
        if err and err.get("code"):
            msg = f"{msg} ({err['code']})"
        self.runner.handle_reply(req, SimpleNamespace(
            status="error", body=body, latency_ms=None, http_status=code if isinstance(code, int) else None,
            error=(f"HTTP {code}: " if isinstance(code, int) else "") + f"batch {b.get('id')}: {msg}"))
        return None

    @staticmethod
    def _why(b: dict[str, Any]) -> str:
        status = b.get("status")
        errs = (b.get("errors") or {}).get("data") if isinstance(b.get("errors"), dict) else None
        detail = ""
        if errs:
            e0 = errs[0] if isinstance(errs[0], dict) else {}
            detail = f": {e0.get('message')} (line {e0.get('line')}, {e0.get('code')})"
        return (f"batch {b.get('id')} ended {status} without an answer for this request{detail}; "
                f"`--resume` asks it again")


async def dispatch_batch(runner: Any, items: list[tuple[Any, ...]], api_key: str | None) -> dict[str, Any]:
    """Answer the prepared `items` through the Batch API (or the cache); returns summary.json's `batch`."""
    from harness.model.batches import BatchClient
    cfg = runner.cfg
    endpoint = str(cfg.endpoints[0])
    progress = BatchProgress(cfg.progress)
    t0 = time.perf_counter()
    async with BatchClient(endpoint, api_key=api_key, timeout=max(cfg.timeout, 60.0),
                           max_retries=cfg.max_retries, seed=cfg.seed) as client:
        run = BatchRun(runner, client, client.name, progress)
        for i in range(0, len(items), PLAN_CHUNK):
            run.add(runner.cache_lookup(runner.build(items[i:i + PLAN_CHUNK])))
        runner.feeding = False
        try:
            progress.start()
            for _ in range(MAX_ROUNDS):
                before = sum(b.get("lines", 0) for b in run.state["batches"])
                run.write_new()
                runner.stats.requests_sent += sum(b.get("lines", 0) for b in run.state["batches"]) - before
                await run.poll(cfg.batch_poll)
                if not runner.pending:
                    break
                run.add(list(runner.pending))     # samples the endpoint did not give through `n`
                runner.pending.clear()
            for req in list(runner.pending):
                runner.on_error(req, "still unanswered after the batch rounds; `--resume` asks it again", None)
            runner.pending.clear()
        finally:
            progress.stop(run.state["batches"])
    batches = run.state["batches"]
    return {"batches": len(batches), "ids": [b.get("id") for b in batches],
            "status": [b.get("status") for b in batches], "wait_s": time.perf_counter() - t0,
            "api_calls": client.calls}


class BatchProgress:
    """Batch status on stderr: a rich bar on a terminal, else one line per change of status or counts."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self._prog: Any = None
        self._last = ""

    def start(self) -> None:
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self._prog = Progress(TextColumn("[bold]batch[/]"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=False)
            self._id = self._prog.add_task("batch", total=None, info="")
            self._prog.start()

    def note(self, text: str) -> None:
        if self._prog is not None:
            self._prog.console.print(text, highlight=False)
        elif self.enabled:
            print(f"harness: {text}", file=sys.stderr, flush=True)

    def update(self, batches: list[dict[str, Any]]) -> None:
        if not batches:      # everything answered by the cache: no batch to report
            return
        total = done = failed = 0
        status: dict[str, int] = {}
        for b in batches:
            c = b.get("request_counts") or {}
            total += int(c.get("total") or b.get("lines") or 0)
            done += int(c.get("completed") or 0)
            failed += int(c.get("failed") or 0)
            status[str(b.get("status"))] = status.get(str(b.get("status")), 0) + 1
        info = " ".join(f"{k}:{v}" for k, v in sorted(status.items())) + f" · ok {done:,} · failed {failed:,}"
        if self._prog is not None:
            self._prog.update(self._id, total=total or None, completed=done + failed, info=info)
        elif self.enabled:
            line = f"batch: {done + failed:,}/{total:,} · {info}"
            if line != self._last:
                self._last = line
                print(f"harness: {line}", file=sys.stderr, flush=True)

    def stop(self, batches: list[dict[str, Any]]) -> None:
        self.update(batches)
        if self._prog is not None:
            self._prog.stop()


__all__ = ["BATCH_DIR", "BATCH_JSON", "BatchProgress", "BatchRun", "BatchStateError", "answered_hashes",
           "dispatch_batch", "load_state"]
