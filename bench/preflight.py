"""How long `harness eval`'s endpoint pre-flight takes to say what is wrong (harness/model/preflight.py).

    python bench/preflight.py

Each failure against loopback: a closed port (refused), the base without /v1 (404), a refused key (401),
an unknown model, and a server that never answers (the 2 s budget); the time and the first words of the
message, one line each. For comparison, the retries the same wrong port cost without the check
(`--no-preflight`, default retries) are measured by `--with-retries` (slow: about a minute).
"""
from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.model.preflight import PreflightError, check_endpoint  # noqa: E402

MODELS = {"object": "list", "data": [{"id": "qwen", "object": "model", "owned_by": "vllm", "root": "/m/qwen"}]}


@contextlib.contextmanager
def server(routes: dict):
    release = threading.Event()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status, body = routes.get(self.path, (404, {"error": "not found"}))
            if status is None:
                release.wait(30)
                return
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        release.set()
        srv.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(label: str, endpoint: str, model: str = "qwen", key: str | None = None) -> None:
    t0 = time.perf_counter()
    try:
        check_endpoint(endpoint, model, api_key=key, api_key_env="OPENAI_API_KEY")
        msg = "(no error)"
    except PreflightError as e:
        msg = str(e)
    print(f"{label:<22} {time.perf_counter() - t0:7.3f} s  {msg[:110]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--with-retries", action="store_true", help="also time a run against a closed port "
                    "with --no-preflight (the old behaviour)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    timed("unreachable (refused)", f"http://127.0.0.1:{closed_port()}/v1")
    with server({"/v1/models": (200, MODELS)}) as base:
        timed("wrong path (404)", base)
        timed("unknown model", base + "/v1", model="gpt-5")
        timed("ok", base + "/v1")
    with server({"/v1/models": (401, {"error": {"message": "bad key"}})}) as base:
        timed("401, no key", base + "/v1")
        timed("401, key refused", base + "/v1", key="sk-0123456789abcdef")
    with server({"/v1/models": (None, None)}) as base:
        timed("no answer (budget)", base + "/v1")
    if args.with_retries:
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, HARNESS_CACHE_DIR=tmp, HARNESS_HOME=tmp)
            for extra in ([], ["--no-preflight"]):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "harness.cli", "eval", "--suite", "roo-starter", "--endpoint",
                                f"http://127.0.0.1:{closed_port()}/v1", "--model", "m", "--out", f"{tmp}/r{len(extra)}",
                                "--quiet", "--no-register", *extra], cwd=ROOT, env=env, capture_output=True)
                print(f"harness eval, wrong port {' '.join(extra) or '(pre-flight)':<16} "
                      f"{time.perf_counter() - t0:7.2f} s (process included)")


if __name__ == "__main__":
    main()
