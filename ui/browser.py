"""Drive a real headless Chromium over the DevTools protocol: load a page, wait until its rendered text
shows what you expect, then save a screenshot and the rendered DOM. Used by tests/ui/test_ui.py and to
refresh docs/screenshots:

    python -m ui.browser http://127.0.0.1:7860/ shot.png --wait-text stub-model-alpha [--dom dom.html]

Gradio renders client-side (the page fetches its data over the queue after load), so Chromium's
`--dump-dom`/`--screenshot` with a virtual-time budget capture the page before the data arrives; polling the
live page's `innerText` through the DevTools protocol waits for the real thing. Only loopback is contacted.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                  "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--no-default-browser-check",
                  "--disable-dev-shm-usage")


def find_chromium() -> str | None:
    for c in CHROMIUM_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return shutil.which("chromium")


class BrowserError(RuntimeError):
    pass


@dataclass
class Capture:
    text: str          # document.body.innerText when the wait ended
    dom: str           # document.documentElement.outerHTML
    waited_s: float
    found: bool
    requested: list[str]   # URLs the page requested (to check that nothing left the machine)


class _CDP:
    def __init__(self, ws: Any):
        self.ws = ws
        self.ids = itertools.count(1)
        self.requested: list[str] = []     # every URL the page asked for (Network.requestWillBeSent)

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        mid = next(self.ids)
        await self.ws.send_str(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"DevTools call {method} timed out")
            msg = await self.ws.receive(timeout=left)
            if msg.type.name != "TEXT":
                raise BrowserError(f"DevTools connection closed during {method}")
            data = json.loads(msg.data)
            if data.get("method") == "Network.requestWillBeSent":
                self.requested.append(str(((data.get("params") or {}).get("request") or {}).get("url")))
            if data.get("id") == mid:
                if "error" in data:
                    raise BrowserError(f"{method}: {data['error']}")
                return data.get("result") or {}

    async def eval(self, expr: str) -> Any:
        r = await self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        return (r.get("result") or {}).get("value")


class Chromium:
    """A headless Chromium process with a DevTools port on loopback."""

    def __init__(self, binary: str | None = None, *, width: int = 1400, height: int = 1000,
                 user_data_dir: str | os.PathLike[str] | None = None):
        self.binary = binary or find_chromium()
        if not self.binary:
            raise BrowserError("no Chromium found (install the Debian `chromium` package)")
        self.width, self.height = width, height
        self._own_dir = user_data_dir is None
        self.user_data_dir = Path(user_data_dir or tempfile.mkdtemp(prefix="harness-chromium-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._err = tempfile.TemporaryFile()

    def start(self, timeout: float = 30.0) -> "Chromium":
        self.user_data_dir.mkdir(parents=True, exist_ok=True)
        marker = self.user_data_dir / "DevToolsActivePort"
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
        self.proc = subprocess.Popen(
            [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.user_data_dir}", "--remote-debugging-port=0",
             "--remote-debugging-address=127.0.0.1", f"--window-size={self.width},{self.height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._err, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._err.seek(0)
                raise BrowserError(f"Chromium exited with {self.proc.returncode}: "
                                   f"{self._err.read().decode(errors='replace')[-2000:]}")
            try:
                first = marker.read_text().splitlines()[0]
                self.port = int(first)
                return self
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        self.close()
        raise BrowserError(f"Chromium did not open its DevTools port within {timeout} s")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._err.close()
        if self._own_dir:
            shutil.rmtree(self.user_data_dir, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def _page_ws(self, session: Any) -> str:
        async with session.put(f"http://127.0.0.1:{self.port}/json/new?about:blank") as r:
            if r.status == 405:   # very old Chromium: GET
                async with session.get(f"http://127.0.0.1:{self.port}/json/new?about:blank") as r2:
                    return (await r2.json(content_type=None))["webSocketDebuggerUrl"]
            return (await r.json(content_type=None))["webSocketDebuggerUrl"]

    async def capture_async(self, url: str, *, wait_text: Sequence[str] = (), timeout: float = 60.0,
                            screenshot: str | os.PathLike[str] | None = None, full_page: bool = False,
                            settle_s: float = 0.5,
                            actions: Sequence[tuple[str, Sequence[str]]] = ()) -> Capture:
        """Open `url`, wait until every string of `wait_text` is in the rendered text (`innerText`: visible
        elements only, no scripts); then for each (javascript, texts) of `actions`, run the script and wait
        for its texts; then save a PNG screenshot (of the whole page with `full_page`)."""
        import aiohttp
        async with aiohttp.ClientSession() as session:
            ws_url = await self._page_ws(session)
            async with session.ws_connect(ws_url, max_msg_size=0) as ws:
                cdp = _CDP(ws)
                await cdp.call("Page.enable")
                await cdp.call("Network.enable")
                await cdp.call("Emulation.setDeviceMetricsOverride",
                               {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
                t0 = time.monotonic()
                await cdp.call("Page.navigate", {"url": url})

                async def wait_for(texts: Sequence[str]) -> tuple[bool, str]:
                    text = ""
                    while time.monotonic() - t0 < timeout:
                        text = await cdp.eval("document.body ? document.body.innerText : ''") or ""
                        busy = await cdp.eval("document.querySelectorAll('.eta-bar, .progress-text').length") or 0
                        if all(w in text for w in texts) and not busy:
                            return True, text
                        await asyncio.sleep(0.25)
                    return False, text

                found, text = await wait_for(wait_text)
                for js, texts in actions:
                    if not found:
                        break
                    await cdp.eval(js)
                    found, text = await wait_for(texts)
                await asyncio.sleep(settle_s)        # let charts and fonts settle
                dom = await cdp.eval("document.documentElement.outerHTML") or ""
                if screenshot is not None:
                    if full_page:    # grow the viewport to the page (captureBeyondViewport stretches some widgets)
                        for _ in range(3):
                            h = int(await cdp.eval("Math.max(document.body.scrollHeight, "
                                                   "document.documentElement.scrollHeight)") or self.height)
                            h = min(max(h, self.height), 8000)
                            await cdp.call("Emulation.setDeviceMetricsOverride",
                                           {"width": self.width, "height": h, "deviceScaleFactor": 1,
                                            "mobile": False})
                            await asyncio.sleep(settle_s)
                            h2 = int(await cdp.eval("document.documentElement.scrollHeight") or h)
                            if h2 <= h:
                                break
                    shot = await cdp.call("Page.captureScreenshot", {"format": "png"})
                    Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
                return Capture(text=text, dom=dom, waited_s=time.monotonic() - t0, found=found,
                               requested=list(cdp.requested))

    def capture(self, url: str, **kw: Any) -> Capture:
        return asyncio.run(self.capture_async(url, **kw))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ui.browser", description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("screenshot")
    p.add_argument("--wait-text", action="append", default=[], help="wait until the page shows this text")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=1000)
    p.add_argument("--full-page", action="store_true")
    p.add_argument("--dom", help="also write the rendered DOM here")
    a = p.parse_args(argv)
    with Chromium(width=a.width, height=a.height) as c:
        cap = c.capture(a.url, wait_text=a.wait_text, timeout=a.timeout, screenshot=a.screenshot,
                        full_page=a.full_page)
    if a.dom:
        Path(a.dom).write_text(cap.dom, encoding="utf-8")
    print(f"{'found' if cap.found else 'NOT found'} after {cap.waited_s:.1f} s -> {a.screenshot}")
    return 0 if cap.found else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
