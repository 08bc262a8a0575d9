"""`harness ui` as a real subprocess on loopback: the `leaderboard` API through gradio_client, the page in a
real headless Chromium, basic auth, and the job console (start an eval against the scripted server, watch
it progress, stop it, find it again after an app restart).

Runs are recorded by `harness eval` against the scripted server (models stub-model-alpha and
stub-model-beta). Screenshots go to the test's tmp dir; with HARNESS_UPDATE_SCREENSHOTS=1 they are also
copied to docs/screenshots/ (a plain test run leaves the checkout as it was).
No sleeps as synchronisation: every wait polls with a deadline.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.testing import spawn_server

pytest.importorskip("gradio", reason="the UI needs gradio (pip install 'toolcall-harness[ui]')")
gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is installed with gradio")

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
ALPHA, BETA = "stub-model-alpha", "stub-model-beta"
CHROMIUM = "/usr/bin/chromium"


# -- helpers ----------------------------------------------------------------------------------------

def make_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "HARNESS_UI_AUTH")}
    env.update(HARNESS_HOME=str(tmp / "home"), HARNESS_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(ROOT),
               COLUMNS="200", GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost")
    env.update(extra)
    return env


def harness(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class UI:
    """`harness ui` as a subprocess; `url` once it answers."""

    def __init__(self, env: dict[str, str], home: Path, *extra: str, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = home.parent / f"ui-{self.port}-{time.monotonic_ns()}.log"
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "ui", "--port", str(self.port), "--home", str(home), *extra],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float = 90.0) -> "UI":
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"harness ui exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False
        wait_until(up, timeout, f"harness ui on {self.url}")
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def client(self, **kw: Any) -> Any:
        return gradio_client.Client(self.url, verbose=False, **kw)


@contextlib.contextmanager
def running_ui(env: dict[str, str], home: Path, *extra: str, port: int | None = None) -> Iterator[UI]:
    ui = UI(env, home, *extra, port=port)
    try:
        yield ui.wait()
    finally:
        ui.stop()


def visible_text(dom: str) -> str:
    """The DOM without <script>/<style> (Gradio embeds its config, values included, in a script)."""
    return re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S | re.I)


def proc_gone(pid: int | None) -> bool:
    from ui.jobs import pid_alive
    return pid is None or not pid_alive(pid)


def save_shot(src: Path, name: str) -> None:
    assert src.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{src} is not a PNG"
    assert src.stat().st_size > 10_000, f"{src} is suspiciously small ({src.stat().st_size} bytes)"
    if os.environ.get("HARNESS_UPDATE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, SHOTS / name)


# -- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two runs recorded by `harness eval` against the scripted server, in a fresh HARNESS_HOME."""
    tmp = tmp_path_factory.mktemp("ui")
    env = make_env(tmp)
    runs = {}
    for model, mix in ((ALPHA, "0.85"), (BETA, "0.45")):
        out = tmp / "runs" / model
        with spawn_server("--suite", "roo-starter", "--answer", f"mix:{mix}", "--models", model) as url:
            r = harness(env, "eval", "--suite", "roo-starter", "--split", "test", "--endpoint", url, "--model", model,
                        "--samples", "2", "--system-prompt", "compact", "--out", str(out), "--quiet")
        assert r.returncode == 0, r.stderr + r.stdout
        runs[model] = {"dir": out, "summary": json.loads((out / "summary.json").read_text())}
    return {"tmp": tmp, "env": env, "home": tmp / "home", "runs": runs}


@pytest.fixture(scope="module")
def app(recorded: dict[str, Any]) -> Iterator[UI]:
    with running_ui(recorded["env"], recorded["home"]) as ui:
        yield ui


# -- the leaderboard API ----------------------------------------------------------------------------

def test_leaderboard_api_returns_both_runs(app: UI, recorded: dict[str, Any]) -> None:
    rows = app.client().predict(api_name="/leaderboard")
    by_model = {r["model"]: r for r in rows}
    assert set(by_model) == {ALPHA, BETA}, rows
    for model in (ALPHA, BETA):
        s = recorded["runs"][model]["summary"]
        r = by_model[model]
        assert r["suite"] == "roo-starter" and r["protocol"] == "roo-xml"
        assert r["pass_rate"] == pytest.approx(s["pass_rate"])
        assert [r["ci_lo"], r["ci_hi"]] == pytest.approx(s["ci95"])
        assert r["pass_hat_k"] == pytest.approx(s["pass_hat_k"]["2"]) and r["pass_hat_k_k"] == 2
        assert r["n_samples"] == s["n_samples"] == 340
        assert r["tokens_per_case"] == pytest.approx(s["tokens"]["per_case"])
        assert r["latency_p50_ms"] == pytest.approx(s["latency_ms"]["p50"])
        assert Path(r["run_dir"]) == recorded["runs"][model]["dir"].resolve()
    # best first by default; the two mixes are far apart
    assert [r["model"] for r in rows] == [ALPHA, BETA]
    assert by_model[ALPHA]["pass_rate"] > by_model[BETA]["pass_rate"]
    # the filters are API parameters too
    c = app.client()
    assert [r["model"] for r in c.predict(search="beta", api_name="/leaderboard")] == [BETA]
    assert [r["model"] for r in c.predict(sort="pass rate", api_name="/leaderboard")] == [ALPHA, BETA]
    assert c.predict(suite="no-such-suite", api_name="/leaderboard") == []
    tagged = c.predict(tag="read_file", api_name="/leaderboard")
    want = recorded["runs"][ALPHA]["summary"]["by_tag"]["read_file"]
    assert {r["model"] for r in tagged} == {ALPHA, BETA}
    assert next(r for r in tagged if r["model"] == ALPHA)["pass_rate"] == pytest.approx(want["pass_rate"])
    # the compare endpoint: exact McNemar on the paired cases
    res = c.predict(recorded["runs"][ALPHA]["dir"].name, recorded["runs"][BETA]["dir"].name, api_name="/compare")
    assert res["paired"]["n_cases"] == 170
    assert res["paired"]["pass_to_fail"] > res["paired"]["fail_to_pass"]
    assert res["paired"]["p_value"] < 0.05 and res["paired"]["significant"] is True


def test_page_in_headless_chromium(app: UI, recorded: dict[str, Any], tmp_path: Path) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is absent: install the Debian `chromium` package for the browser test")
    from ui.browser import Chromium
    with Chromium(CHROMIUM, width=1400, height=1000) as browser:
        shot = tmp_path / "leaderboard.png"
        cap = browser.capture(app.url, wait_text=[ALPHA, BETA, "95% CI"], timeout=60, screenshot=shot)
        assert cap.found, f"the page never showed both models; it shows:\n{cap.text[:3000]}"
        page = visible_text(cap.dom)
        table = page[page.find('id="lb-table"'):]
        assert ALPHA in table and BETA in table, "the leaderboard table does not list both runs"
        alpha_rate = f"{100 * recorded['runs'][ALPHA]['summary']['pass_rate']:.1f}"
        assert alpha_rate in cap.text, f"alpha's pass rate {alpha_rate} is not on the page"
        assert "<svg" in page[page.find('id="lb-chart"'):], "the pass-rate chart is missing"
        assert_loopback_only(cap.requested)
        save_shot(shot, "leaderboard.png")

        # clicking alpha's row (not the newest run, which the tab shows by default) opens it in the Run detail tab
        # (innerText holds visible elements only, so the tab really switched)
        click_alpha = ("(() => { const cell = [...document.querySelectorAll('#lb-table [role=gridcell]')]"
                      f".find(c => c.innerText.trim() === '{ALPHA}'); if (!cell) return 0; "
                      "for (const t of ['pointerdown', 'mousedown', 'pointerup', 'mouseup', 'click']) "
                      "cell.dispatchEvent(new MouseEvent(t, {bubbles: true, cancelable: true, view: window})); "
                      "return 1; })()")
        cap = browser.capture(app.url, wait_text=[ALPHA, BETA],
                              actions=[(click_alpha, ["Failure explorer", f"model {ALPHA}"])], timeout=60)
        assert cap.found, f"clicking {ALPHA}'s row did not open its run:\n{cap.text[:3000]}"

        # run detail of beta (selected through the URL), with its failure explorer open on the first failure
        shot = tmp_path / "run_detail.png"
        run = recorded["runs"][BETA]["dir"].name
        cap = browser.capture(f"{app.url}?tab=run&run={run}", wait_text=["Failure explorer", "pass rate by tool",
                                                                         "what the model sent", "expectation"],
                              timeout=60, screenshot=shot, full_page=True)
        assert cap.found, cap.text[:3000]
        first_fail = next(r for r in _results(recorded["runs"][BETA]["dir"]) if not r["passed"])
        assert first_fail["id"] in cap.text
        assert first_fail["violations"][0]["code"] in cap.text
        save_shot(shot, "run_detail.png")

        shot = tmp_path / "compare.png"
        cap = browser.capture(f"{app.url}?tab=compare", wait_text=["McNemar", "flipped cases"], timeout=60,
                              screenshot=shot)
        assert cap.found, cap.text[:3000]
        save_shot(shot, "compare.png")


def assert_loopback_only(urls: list[str]) -> None:
    from urllib.parse import urlsplit
    outside = [u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")
               and urlsplit(u).hostname not in ("127.0.0.1", "localhost", "::1")]
    assert not outside, f"the page fetched from outside the machine: {outside[:5]}"


def _results(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines() if line.strip()]


def test_auth_refuses_without_credentials(recorded: dict[str, Any]) -> None:
    env = make_env(recorded["tmp"])
    with running_ui(env, recorded["home"], "--auth", "alice:s3cret-pw") as ui:
        with pytest.raises(Exception) as e:       # gradio_client: AuthenticationError
            ui.client().predict(api_name="/leaderboard")
        assert "credentials" in str(e.value).lower() or "login" in str(e.value).lower()
        with pytest.raises(Exception):
            ui.client(auth=("alice", "wrong")).predict(api_name="/leaderboard")
        for path, body in (("config", None), ("gradio_api/info", None), ("gradio_api/call/leaderboard", b'{"data":[]}')):
            req = urllib.request.Request(ui.url + path, data=body, headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as he:
                urllib.request.urlopen(req, timeout=10)
            assert he.value.code in (401, 403), (path, he.value.code)
        rows = ui.client(auth=("alice", "s3cret-pw")).predict(api_name="/leaderboard")
        assert {r["model"] for r in rows} == {ALPHA, BETA}
        assert "s3cret-pw" not in ui.output()


# -- the job console --------------------------------------------------------------------------------

def kill_jobs(home: Path) -> None:
    from ui.jobs import pid_alive
    for f in (home / "jobs").glob("*/job.json"):
        job = json.loads(f.read_text())
        if job.get("pid") and pid_alive(job["pid"], job.get("proc_start")):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job["pgid"] or job["pid"], signal.SIGKILL)


def _progress(c: Any, job_id: str) -> dict[str, Any]:
    return c.predict(job_id, api_name="/job_progress")


def test_job_start_progress_stop_and_reattach(recorded: dict[str, Any], tmp_path: Path) -> None:
    tmp = tmp_path
    env = make_env(tmp, SECRET_TEST_KEY="sk-test-UI-SECRET-0123456789")
    home = recorded["home"]
    port = free_port()
    # 0.5 s per answer at concurrency 1: 170 samples take ~85 s, plenty of time to watch and stop them
    with contextlib.ExitStack() as stack:
        stack.callback(kill_jobs, home)      # whatever happens, no job outlives the test
        url = stack.enter_context(spawn_server("--suite", "roo-starter", "--answer", "mix:0.7", "--latency", "0.5",
                                                            "--models", "stub-model-gamma,stub-model-delta"))
        ui = UI(env, home, port=port).wait()
        try:
            c = ui.client()
            # a key value where the variable NAME belongs is refused, and written nowhere
            with pytest.raises(Exception) as e:
                c.predict(url, "stub-model-gamma", "roo-starter", 1, 1, "sk-test-UI-SECRET-0123456789",
                          api_name="/start_eval")
            assert "name" in str(e.value).lower()
            job = c.predict(url, "stub-model-gamma", "roo-starter", 1, 1, "SECRET_TEST_KEY", "compact", "test",
                            api_name="/start_eval")
            jid = job["id"]
            assert job["kind"] == "eval" and job["status"] == "running" and job["pid"]
            assert "--api-key-env SECRET_TEST_KEY" in job["command"]

            p = wait_until(lambda: (q := _progress(c, jid))["progress"].get("done", 0) >= 3 and q, 60,
                           "the eval job to score a few samples")
            assert p["progress"]["planned"] == 170
            assert p["status"] == "running" and p["child_pid"]
            assert 0.0 <= p["progress"]["pass_rate"] <= 1.0
            later = wait_until(lambda: (q := _progress(c, jid))["progress"]["done"] > p["progress"]["done"] and q,
                               30, "more progress")
            assert later["progress"]["done"] < 170

            # the jobs tab shows it, live (screenshot for the docs)
            if os.access(CHROMIUM, os.X_OK):
                from ui.browser import Chromium
                shot = tmp / "jobs.png"
                with Chromium(CHROMIUM, width=1400, height=1000) as browser:
                    cap = browser.capture(f"{ui.url}?tab=jobs&job={jid}", wait_text=["samples scored", jid,
                                                                                     "pass rate so far"],
                                          timeout=60, screenshot=shot, full_page=True)
                assert cap.found, cap.text[:3000]
                save_shot(shot, "jobs.png")

            # a second job, left running across the app restart
            job2 = c.predict(url, "stub-model-delta", "roo-starter", 1, 1, "SECRET_TEST_KEY", "full", "test",
                             api_name="/start_eval")

            # stop the first: SIGTERM to its process group; both processes go away
            pids = (p["pid"], p["child_pid"])
            c.predict(jid, api_name="/stop_job")
            stopped = wait_until(lambda: (q := _progress(c, jid))["status"] in ("stopped", "killed") and q, 30,
                                 "the job to stop")
            wait_until(lambda: all(proc_gone(x) for x in pids), 20, f"processes {pids} to exit")
            done_at_stop = stopped["progress"]["done"]
            assert done_at_stop < 170
        finally:
            ui.stop()

        # the app is gone; the second job is not (it runs in its own session)
        job2_pid = job2["pid"]
        assert not proc_gone(job2_pid), "a job must outlive the app"

        # restart the app on the same home: both jobs come back, with their state
        with running_ui(env, home) as ui2:
            c2 = ui2.client()
            jobs = {j["id"]: j for j in c2.predict(api_name="/jobs")}
            assert jid in jobs and job2["id"] in jobs
            assert jobs[jid]["status"] in ("stopped", "killed")
            assert _progress(c2, jid)["progress"]["done"] == done_at_stop
            assert jobs[job2["id"]]["status"] == "running"
            p2 = _progress(c2, job2["id"])["progress"]["done"]
            wait_until(lambda: _progress(c2, job2["id"])["progress"]["done"] > p2, 30, "the reattached job to progress")
            child2 = _progress(c2, job2["id"])["child_pid"]
            # the new app can stop a job it did not start
            c2.predict(job2["id"], api_name="/stop_job")
            wait_until(lambda: _progress(c2, job2["id"])["status"] in ("stopped", "killed"), 30, "job 2 to stop")
            wait_until(lambda: proc_gone(job2_pid) and proc_gone(child2), 20, "job 2's processes to exit")

            # a loop job builds its command line through the same CLI and fails clearly when it cannot run
            lj = c2.predict(url, str(tmp / "no-such-model"), "roo-starter", 1, api_name="/start_loop")
            fin = wait_until(lambda: (q := _progress(c2, lj["id"]))["status"] not in ("running",) and q, 120,
                             "the loop job to end")
            assert fin["status"] == "failed" and fin["exit_code"] != 0
            log = Path(fin["log"]).read_text()
            assert "harness" in log and ("error" in log.lower() or "invalid choice" in log)

    # no key value anywhere in the job registry
    for f in (home / "jobs").rglob("*"):
        if f.is_file():
            assert "sk-test-UI-SECRET" not in f.read_text(errors="replace"), f


# -- pure parts (no server) -------------------------------------------------------------------------

def test_harness_cli_does_not_import_gradio() -> None:
    code = ("import sys, harness.cli as c; c.build_parser(); "
            "assert 'gradio' not in sys.modules, 'gradio imported by the CLI'; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_scrub_and_forms() -> None:
    from ui.data.text import looks_like_secret, scrub_text
    from ui.forms import FormError, eval_job
    line = ("harness eval --api-key sk-live-abcdefghijklmnop --endpoint https://u:pw@host/v1?api_key=XYZ "
            "OPENAI_API_KEY=abc123 -H 'Authorization: Bearer tok_abcdef123456' --api-key-env MY_KEY hf_abcdefghijklmnop")
    s = scrub_text(line)
    for secret in ("sk-live-abcdefghijklmnop", "u:pw@", "XYZ", "abc123", "tok_abcdef123456", "hf_abcdefghijklmnop"):
        assert secret not in s, (secret, s)
    assert "--api-key-env MY_KEY" in s
    assert looks_like_secret("sk-abcdefghijklmnopqrstuvwxyz") and not looks_like_secret("OPENAI_API_KEY")
    spec = eval_job(endpoint="http://127.0.0.1:8000/v1", model="m", suite="roo-starter", concurrency=4, samples=2,
                    api_key_env="MY_KEY", home="/h", job_id="20260101-000000-eval-abcdef")
    assert spec.args[:2] == ["eval", "--suite"] and "--api-key-env" in spec.args and spec.out.startswith("/h/runs/")
    for bad in ({"api_key_env": "sk-abcdefghijklmnopqrstuvwxyz"}, {"endpoint": "http://user:pw@host/v1"},
                {"endpoint": "ftp://x"}, {"concurrency": 0}, {"extra": "--api-key sk-abcdefghijklmnop"}):
        kw = dict(endpoint="http://127.0.0.1:8000/v1", model="m", suite="roo-starter", home="/h", job_id="j-x")
        kw.update(bad)
        with pytest.raises(FormError):
            eval_job(**kw)


def test_leaderboard_latest_or_best() -> None:
    from ui.data.leaderboard import leaderboard
    rows = [
        {"model": "m", "suite": "s", "protocol": "p", "pass_rate": 0.9, "created_at": "2026-01-01T00:00:00Z",
         "run_dir": "/r/old"},
        {"model": "m", "suite": "s", "protocol": "p", "pass_rate": 0.5, "created_at": "2026-02-01T00:00:00Z",
         "run_dir": "/r/new"},
        {"model": "n", "suite": "s", "protocol": "q", "pass_rate": None, "created_at": "2026-02-01T00:00:00Z",
         "run_dir": "/r/n"},
    ]
    latest = leaderboard(rows)
    assert [(r["model"], r["run_dir"], r["n_runs"]) for r in latest] == [("m", "/r/new", 2), ("n", "/r/n", 1)]
    best = leaderboard(rows, pick="best")
    assert best[0]["run_dir"] == "/r/old"
    assert [r["model"] for r in leaderboard(rows, protocol="q")] == ["n"]
    assert [r["model"] for r in leaderboard(rows, sort="model", descending=True)] == ["n", "m"]


def test_progress_readers(tmp_path: Path) -> None:
    """trainer_log.jsonl -> loss points; loop.json -> held-out pass rate per round (the files other
    commands write; the UI only reads them)."""
    from ui.jobs import JobRegistry
    reg = JobRegistry(tmp_path / "home")
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "trainer_log.jsonl").write_text("".join(json.dumps({"step": i, "loss": 2.0 / i, "lr": 1e-4, "epoch": i / 10,
                                                               "tokens_per_s": 100.0, "elapsed_s": i}) + "\n"
                                                   for i in range(1, 6)) + '{"step": 6, "lo')
    d = reg.job_dir("20260101-000000-train-aaaaaa")
    d.mkdir(parents=True)
    (d / "job.json").write_text(json.dumps({"id": d.name, "kind": "train", "title": "t", "command": "harness train",
                                            "out": str(out), "planned": 10, "pid": None, "started_at": 1.0}))
    (d / "exit.json").write_text(json.dumps({"rc": 0, "ended_at": 2.0}))
    p = reg.progress(d.name)
    assert p["status"] == "done" and p["step"] == 5 and [q["step"] for q in p["points"]] == [1, 2, 3, 4, 5]
    assert p["loss"] == pytest.approx(0.4)

    loop_out = tmp_path / "loop"
    loop_out.mkdir()
    (loop_out / "loop.json").write_text(json.dumps({"baseline": {"held_out": {"pass_rate": 0.2}}, "rounds": [
        {"round": 1, "held_out": {"pass_rate": 0.35}, "decision": "promoted", "adapter": "a1"},
        {"round": 2, "eval": {"test": {"pass_rate": 0.3}}, "decision": "kept previous"}]}))
    d = reg.job_dir("20260101-000000-loop-bbbbbb")
    d.mkdir(parents=True)
    (d / "job.json").write_text(json.dumps({"id": d.name, "kind": "loop", "title": "l", "command": "harness loop",
                                            "out": str(loop_out), "planned": 3, "pid": None, "started_at": 1.0,
                                            "stop_requested_at": 1.5}))
    p = reg.progress(d.name)
    assert p["status"] == "killed"
    assert [(r["round"], r["held_out"], r["decision"]) for r in p["rounds"]] == [(1, 0.35, "promoted"),
                                                                                 (2, 0.3, "kept previous")]
    assert p["baseline"] == pytest.approx(0.2)
