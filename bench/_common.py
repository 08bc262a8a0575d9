"""Shared pieces of the peer benchmarks: installing peers into a cache, a timed scripted server, drivers.

Installing: each Python peer gets its own virtualenv and the node peers one npm prefix, under a cache
dir (default ~/.cache/toolcall-harness-bench, or $TOOLCALL_BENCH_CACHE), created on first use and
reused while its recorded package list is unchanged. Installs run under `nice -n 19` (a shared
machine) and log to <cache>/logs/<name>.log; a failure raises PeerUnavailable with the log's tail,
which the benchmark reports as a skipped peer instead of crashing.

Timed server: harness.testing's ScriptedServer with the monotonic times of the first chat
request and of the last reply added to /stats, so a whole-process wall time splits into start-up (launch
to first request), drive (first request to last reply) and exit (last reply to process exit). Linux's
CLOCK_MONOTONIC is system-wide, so the server's and the benchmark's clocks agree. With
`--prefix-cache-blocks K` its emulated prefix cache keeps only the K most recently used prefix blocks
(LRU), as a server's bounded KV cache does; the stock emulation never forgets a prefix, so the order of
dispatch cannot change its hits.

Drivers (`python bench/_common.py lean|sdk BODIES.jsonl URL CONCURRENCY`): the same request bodies sent
by a lean aiohttp loop or by a bare `openai.AsyncOpenAI` loop, each in its own process so its wall time
is measured like any peer's. This module imports only the standard library at the top, so the `sdk`
driver runs inside a virtualenv that has only `openai`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(os.environ.get("TOOLCALL_BENCH_CACHE") or Path.home() / ".cache" / "toolcall-harness-bench")
NICE = ["nice", "-n", "19"]


class PeerUnavailable(Exception):
    """A peer could not be installed or run; the message says why (shown as `skipped: ...`)."""


# -- installing -------------------------------------------------------------------------------------

def _tail(path: Path, chars: int = 600) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " ".join(text[-chars:].split())


def _run_logged(cmd: Sequence[str], log: Path, timeout: float, env: dict[str, str] | None = None,
                cwd: Path | None = None) -> None:
    with log.open("a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        try:
            r = subprocess.run(list(cmd), stdout=f, stderr=subprocess.STDOUT, timeout=timeout, env=env, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise PeerUnavailable(f"`{' '.join(cmd[-3:])}` took over {timeout:.0f} s (log {log})") from None
        except OSError as e:
            raise PeerUnavailable(f"cannot run {cmd[0]}: {e}") from None
    if r.returncode != 0:
        raise PeerUnavailable(f"`{' '.join(cmd)}` exited {r.returncode}: ...{_tail(log)} (log {log})")


def ensure_venv(cache: Path, name: str, specs: Sequence[str], *, before: Sequence[str] = (),
                before_if_pulled: str | None = None, timeout: float = 3600.0) -> Path:
    """The python of <cache>/venvs/<name> with `specs` installed (installed now if needed).

    `before` are installed first, always; `before_if_pulled` (a requirement such as torch==2.13.0) is
    installed first only when a dry run of `specs` would pull that package (a local CPU wheel instead of
    a multi-GB download)."""
    venv = cache / "venvs" / name
    py = venv / "bin" / "python"
    marker = venv / "installed.json"
    want = {"specs": list(specs), "before": list(before), "before_if_pulled": before_if_pulled}
    try:
        if py.exists() and json.loads(marker.read_text()) == want:
            return py
    except (OSError, ValueError):
        pass
    (cache / "logs").mkdir(parents=True, exist_ok=True)
    log = cache / "logs" / f"{name}.log"
    log.write_text(f"installing {name}: {want}\n")
    if venv.exists():
        shutil.rmtree(venv)
    _run_logged([*NICE, sys.executable, "-m", "venv", str(venv)], log, 300)
    pip = [*NICE, str(py), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    if before:
        _run_logged([*pip, *before], log, timeout)
    if before_if_pulled:
        pkg = before_if_pulled.split("=")[0].split("<")[0].split(">")[0].strip().lower()
        report = venv / "dry-run.json"
        _run_logged([*pip, "--dry-run", "--quiet", "--report", str(report), *specs], log, timeout)
        names = {i["metadata"]["name"].lower() for i in json.loads(report.read_text()).get("install", [])}
        if pkg in names:
            _run_logged([*pip, before_if_pulled], log, timeout)
    _run_logged([*pip, *specs], log, timeout)
    marker.write_text(json.dumps(want))
    return py


def ensure_npm(cache: Path, name: str, specs: Sequence[str], binary: str, *, timeout: float = 3600.0) -> Path:
    """The executable `binary` of npm packages `specs` installed under <cache>/node/<name>."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise PeerUnavailable("node and npm are not installed")
    prefix = cache / "node" / name
    exe = prefix / "node_modules" / ".bin" / binary
    marker = prefix / "installed.json"
    want = {"specs": list(specs)}
    try:
        if exe.exists() and json.loads(marker.read_text()) == want:
            return exe
    except (OSError, ValueError):
        pass
    (cache / "logs").mkdir(parents=True, exist_ok=True)
    log = cache / "logs" / f"{name}.log"
    log.write_text(f"installing {name}: {want}\n")
    prefix.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, npm_config_fund="false", npm_config_audit="false", npm_config_update_notifier="false")
    _run_logged([*NICE, "npm", "install", "--prefix", str(prefix), "--no-save", "--loglevel", "warn", *specs],
                log, timeout, env=env, cwd=prefix)
    if not exe.exists():
        raise PeerUnavailable(f"npm installed {specs} but {exe} is missing (log {log})")
    marker.write_text(json.dumps(want))
    return exe


# -- the timed server -------------------------------------------------------------------------------

class LRUBlocks:
    """The scripted server's set of seen prefix blocks, bounded: the `capacity` most recently used."""

    def __init__(self, capacity: int) -> None:
        from collections import OrderedDict
        self.capacity = max(1, int(capacity))
        self._d: OrderedDict[int, None] = OrderedDict()

    def __contains__(self, h: object) -> bool:
        if h in self._d:
            self._d.move_to_end(h)   # a hit is a use
            return True
        return False

    def add(self, h: int) -> None:
        self._d[h] = None
        self._d.move_to_end(h)
        while len(self._d) > self.capacity:
            self._d.popitem(last=False)

    def clear(self) -> None:
        self._d.clear()


def _timed_server_class() -> type:
    from harness.testing import ScriptedServer

    class TimedServer(ScriptedServer):
        """ScriptedServer whose /stats also says when the first chat request came and the last reply left."""

        def reset_stats(self) -> None:
            super().reset_stats()
            self._first_at: float | None = None
            self._last_at: float | None = None

        def stats(self) -> dict[str, Any]:
            return {**super().stats(), "first_request_at": self._first_at, "last_reply_at": self._last_at}

        async def _chat(self, request: Any) -> Any:
            if self._first_at is None:
                self._first_at = time.monotonic()
            try:
                return await super()._chat(request)
            finally:
                self._last_at = time.monotonic()

    return TimedServer


def _serve_timed(argv: list[str]) -> int:
    import asyncio

    from harness.testing.scripted import build_parser, serve_until_signal

    blocks = None
    if "--prefix-cache-blocks" in argv:
        i = argv.index("--prefix-cache-blocks")
        blocks = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    args = build_parser().parse_args(argv)
    opts = {k: v for k, v in vars(args).items() if k != "models"}

    async def serve() -> None:
        srv = _timed_server_class()(models=[m for m in args.models.split(",") if m], **opts)
        if blocks is not None:
            srv._seen_prefixes = LRUBlocks(blocks)
        await serve_until_signal(srv)

    asyncio.run(serve())
    return 0


@contextmanager
def spawn_timed_server(*args: str, timeout: float = 60.0) -> Iterator[str]:
    """harness.testing.spawn_server, but the timed server (its own process); yields …/v1."""
    from harness.testing import spawn_process

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with spawn_process([sys.executable, str(Path(__file__).resolve()), "serve", "--port", "0", *args], cwd=ROOT,
                       env=env, timeout=timeout) as url:
        yield url


def server_stats(url: str) -> dict[str, Any]:
    import urllib.request
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/stats", timeout=10) as r:
        return json.loads(r.read())


def server_reset(url: str) -> None:
    import urllib.request
    req = urllib.request.Request(url.rsplit("/v1", 1)[0] + "/reset_stats", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f})"


# -- drivers (run as their own processes) -----------------------------------------------------------

async def _drive_lean(bodies: list[bytes], url: str, conc: int) -> int:
    import asyncio

    import aiohttp

    chat = url.rstrip("/") + "/chat/completions"
    queue = list(reversed(bodies))
    ok = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok
        while queue:
            b = queue.pop()
            async with session.post(chat, data=b, headers={"Content-Type": "application/json"}) as resp:
                ok += bool(json.loads(await resp.read()).get("choices"))

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:
        await asyncio.gather(*[worker(session) for _ in range(conc)])
    return ok


async def _drive_sdk(bodies: list[bytes], url: str, conc: int) -> int:
    import asyncio

    import openai

    reqs = [json.loads(b) for b in bodies]
    reqs.reverse()
    ok = 0
    client = openai.AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=2)

    async def worker() -> None:
        nonlocal ok
        while reqs:
            r = await client.chat.completions.create(**reqs.pop())
            ok += bool(r.choices)

    try:
        await asyncio.gather(*[worker() for _ in range(conc)])
    finally:
        await client.close()
    return ok


def _drive(kind: str, path: str, url: str, conc: str) -> int:
    import asyncio

    bodies = Path(path).read_bytes().splitlines()
    fn = _drive_lean if kind == "lean" else _drive_sdk
    t = time.perf_counter()
    ok = asyncio.run(fn(bodies, url, int(conc)))
    print(json.dumps({"ok": ok, "loop_s": time.perf_counter() - t}))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == ["serve"]:
        sys.exit(_serve_timed(sys.argv[2:]))
    if sys.argv[1:2] in (["lean"], ["sdk"]) and len(sys.argv) == 5:
        sys.exit(_drive(*sys.argv[1:]))
    sys.exit("usage: python bench/_common.py serve [scripted_server options] | lean|sdk BODIES URL CONCURRENCY")
