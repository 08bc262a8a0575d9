"""Security (issue 9), end to end with real processes on loopback:

* the API key never reaches a run directory, the response cache, the leaderboard, a log, a report or the
  UI — also when the endpoint echoes it back in answers, in a 401 for a wrong key, or in 5xx errors, and
  when a user types `--api-key KEY` (argparse would take it as an abbreviation of --api-key-env);
* suite files never execute code: YAML `!!python/...` tags and pickles are refused with FILE:LINE and
  the payload never runs; no unsafe loader is used anywhere in the code;
* `harness serve` and `harness ui` bind 127.0.0.1 by default (argparse defaults and the socket actually
  bound, read from /proc/net/tcp*).

Covered elsewhere, not repeated here: the engine's adapter API refusing names and paths that escape their
folder (tests/harness/test_engine.py::test_names_and_paths_that_escape), the UI's basic auth
(tests/ui/test_ui.py::test_auth_refuses_without_credentials), key scrubbing inside the client
(tests/harness/test_client.py::test_the_key_goes_only_into_the_authorization_header) and no key in the job
registry (tests/ui/test_ui.py::test_job_start_progress_stop_and_reattach).
"""
from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pickle
import re
import selectors
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
from tests.harness.test_eval import harness, make_env, raw_lines

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-SECURITY-5f0c2a9e7d13b4c6"
WRONG = "sk-test-WRONGKEY-88c1d2e3f4a5b6a7"
SECRETS = (KEY, WRONG, "SECURITY-5f0c2a9e7d13b4c6", "WRONGKEY-88c1d2e3f4a5b6a7")
KEY_ENV = "MY_ENDPOINT_KEY"


# -- helpers ----------------------------------------------------------------------------------------

def assert_no_secret(text: str | bytes, where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for s in SECRETS:
        assert s.encode() not in data, f"{s!r} found in {where}"


def listening_hosts(port: int) -> set[str]:
    """Addresses with a TCP socket listening on `port` on this machine (/proc/net/tcp and tcp6)."""
    hosts = set()
    for name, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            rows = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            addr, _, hexport = cols[1].partition(":")
            if cols[3] != "0A" or int(hexport, 16) != port:     # 0A: LISTEN
                continue
            raw = bytes.fromhex(addr)
            if v6:   # four host-order 32-bit words
                hosts.add(str(ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))))
            else:
                hosts.add(str(ipaddress.IPv4Address(raw[::-1])))
    return hosts


def wait_until(pred: Any, timeout: float, what: str) -> Any:
    """Poll `pred` until it is truthy (bounded by `timeout`): no sleep stands in for a condition."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configure(url: str, **opts: Any) -> None:
    req = urllib.request.Request(url.rsplit("/v1", 1)[0] + "/configure", data=json.dumps(opts).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


SUITE_CASES = [("config", "Show me config.yaml"), ("notes", "Read notes.md"), ("tests", "Run the tests"),
               ("chat", "Say hello")]


def write_suite_and_script(tmp: Path) -> tuple[Path, Path]:
    """A 4-case roo-xml suite, and scripted answers of which two repeat the key (a path, a sentence)."""
    lines = [json.dumps({"suite": {"name": "keyed", "protocol": "roo-xml", "mode": "code"}})]
    for cid, text in SUITE_CASES:
        lines.append(json.dumps({"id": cid, "split": "test", "messages": [{"role": "user", "content":
                                                                             f"<task>\n{text}\n</task>"}],
                                 "expect": {"calls": [{"name": "read_file"}]}}))
    suite = tmp / "keyed.jsonl"
    suite.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rules = [
        {"contains": "config.yaml", "message": {"role": "assistant", "content":
            f"<read_file>\n<args>\n<file>\n<path>{KEY}/config.yaml</path>\n</file>\n</args>\n</read_file>"}},
        {"contains": "notes.md", "message": {"role": "assistant", "content": f"Your key is {KEY}, keep it safe."}},
    ]
    script = tmp / "secret-rules.jsonl"      # the only file here allowed to hold the key: the server's input
    script.write_text("\n".join(json.dumps(r) for r in rules) + "\n", encoding="utf-8")
    return suite, script


# -- the key ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Runs against a server that requires KEY and echoes whatever Authorization it gets in its errors:
    the right key (answers repeat it), a wrong key (401), the right key with every request failing (500);
    then report/leaderboard. Every process output is kept for the greps."""
    tmp = tmp_path_factory.mktemp("keyed")
    suite, script = write_suite_and_script(tmp)
    env = make_env(tmp, **{KEY_ENV: KEY})
    outputs: dict[str, str] = {}

    def cli(label: str, *args: str, env_: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        r = harness(env_, *args, timeout=120)
        outputs[label] = r.stdout + r.stderr
        assert "Traceback" not in r.stderr, r.stderr[-3000:]
        return r

    def eval_args(out: Path, *extra: str) -> list[str]:
        return ["eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted", "--out", str(out),
                "--system-prompt", "compact", "--api-key-env", KEY_ENV, *extra]

    with spawn_server("--script", str(script), "--api-key", KEY, "--echo-key") as url:
        good = tmp / "runs" / "good"
        r = cli("eval-good", *eval_args(good, "--junit", str(tmp / "junit.xml")))   # with progress output
        assert r.returncode == 0, r.stderr
        assert all(x["status"] == "ok" for x in raw_lines(good))

        wrong = tmp / "runs" / "wrong-key"
        r = cli("eval-wrong-key", *eval_args(wrong, "--no-cache"), env_=make_env(tmp, **{KEY_ENV: WRONG}))
        assert r.returncode == 1
        errors = [x["error"] for x in raw_lines(wrong)]
        assert errors and all(e.startswith("HTTP 401: Incorrect API key provided. (you sent: Bearer ***)")
                              for e in errors), errors

        configure(url, fail_500=1.0)
        failing = tmp / "runs" / "http-500"
        r = cli("eval-500", *eval_args(failing, "--no-cache", "--max-retries", "1"))
        assert r.returncode == 1
        errors = [x["error"] for x in raw_lines(failing)]
        assert errors and all(e.startswith("HTTP 500 after 2 attempts: The server had an error while processing "
                                           "your request. (you sent: Bearer ***)") for e in errors), errors
        configure(url, fail_500=0.0)

        # the key typed on the command line: refused before anything is written and never repeated, as
        # --api-key (no abbreviation of --api-key-env) or given in the place of the variable's name
        typed = tmp / "runs" / "typed"
        for opt in ("--api-key", "--api-key-env"):
            r = cli("eval-typed-key", "eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted",
                    "--out", str(typed), opt, KEY)
            want = "--api-key-env takes the NAME" if opt == "--api-key-env" else "never taken on the command line"
            assert r.returncode == 2 and want in r.stderr, r.stderr
            assert not typed.exists()
            r = cli("loop-typed-key", "loop", "--endpoint", url, "--base-model", str(tmp / "none"), "--suite",
                    str(suite), "--out", str(tmp / "loop"), opt, KEY)
            assert r.returncode == 2 and want in r.stderr, r.stderr
            assert not (tmp / "loop" / "loop.json").exists()

    for run in (good, wrong, failing):
        cli(f"report-{run.name}", "report", str(run))
        cli(f"report-json-{run.name}", "report", str(run), "--json")
    r = cli("leaderboard", "leaderboard", "--json")
    assert r.returncode == 0 and str(good.resolve()) in r.stdout
    yield {"tmp": tmp, "env": env, "home": tmp / "home", "runs": (good, wrong, failing), "outputs": outputs,
           "script": script}


def test_the_key_is_never_written(keyed: dict[str, Any]) -> None:
    tmp: Path = keyed["tmp"]
    good = keyed["runs"][0]
    # the endpoint repeated the key in its answers: what was scored and stored is the scrubbed text
    by_id = {x["id"]: x for x in raw_lines(good)}
    assert by_id["notes"]["response"]["content"] == "Your key is ***, keep it safe."
    assert by_id["config"]["calls"][0]["arguments"]["args"].count("***/config.yaml") == 1
    # every file the harness wrote: run dirs, response cache, leaderboard (SQLite bytes), junit, ...
    files = [p for p in tmp.rglob("*") if p.is_file() and p != keyed["script"]]
    names = {p.name for p in files}
    assert {"results.jsonl", "run.json", "summary.json", "junit.xml"} <= names
    assert any(n.startswith("responses.sqlite") for n in names)       # the response cache
    assert (keyed["home"] / "leaderboard.sqlite") in files                # the leaderboard
    for p in files:
        assert_no_secret(p.read_bytes(), str(p))
    # every command's stdout and stderr (progress bar, failures table, reports, leaderboard)
    assert set(keyed["outputs"]) >= {"eval-good", "eval-wrong-key", "eval-500", "eval-typed-key", "leaderboard"}
    for label, text in keyed["outputs"].items():
        assert_no_secret(text, f"the output of {label}")
    assert json.loads((good / "run.json").read_text())["api_key_env"] == KEY_ENV


def test_ui_binds_loopback_and_shows_no_key(keyed: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("gradio", reason="the UI needs gradio (pip install 'toolcall-harness[ui]')")
    gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is installed with gradio")
    env = {**keyed["env"], "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost",
           "no_proxy": "127.0.0.1,localhost"}
    env.pop("HARNESS_UI_AUTH", None)
    port = free_port()
    log = tmp_path / "ui.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "ui", "--port", str(port), "--home",
                                 str(keyed["home"])], cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}/"

            def up() -> bool:
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:
                        return r.status == 200
                except (urllib.error.URLError, OSError):
                    return False
            wait_until(up, 120, f"harness ui on {url}")
            assert listening_hosts(port) == {"127.0.0.1"}          # no --host: loopback only
            client = gradio_client.Client(url, verbose=False)
            rows = client.predict(api_name="/leaderboard")
            runs = client.predict(api_name="/runs")
            good, wrong, _ = keyed["runs"]
            assert any(Path(r["run_dir"]) == good.resolve() for r in runs)
            cmp = client.predict(good.name, wrong.name, api_name="/compare")
            texts = [json.dumps(rows), json.dumps(runs), json.dumps(cmp)]
            for path in ("", "config", "gradio_api/info"):
                with urllib.request.urlopen(url + path, timeout=30) as r:
                    texts.append(r.read().decode("utf-8", "replace"))
            for t in texts:
                assert_no_secret(t, "the UI")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert_no_secret(log.read_bytes(), "the UI's log")


# -- suite files never execute code -----------------------------------------------------------------

def _yaml_with(tag_value: str) -> str:
    return ("name: evil\nprotocol: roo-xml\nmode: code\ncases:\n"
            "  - id: a\n"
            "    messages:\n"
            "      - role: user\n"
            f"        content: {tag_value}\n"            # line 8
            "    expect: {calls: []}\n")


class _Payload:
    """Unpickling this runs `touch MARKER` (what a malicious pickle would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("kind", ["apply", "new", "name", "module", "pickle.pkl", "pickle.yaml", "pickle.jsonl"])
def test_suite_files_never_execute_code(kind: str, tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    if kind.startswith("pickle"):
        path = tmp_path / f"suite.{kind.split('.')[1]}"
        path.write_bytes(pickle.dumps([_Payload(marker)], protocol=0))     # protocol 0: mostly ASCII
        line = None
    else:
        path = tmp_path / "suite.yaml"
        tag = {"apply": f"!!python/object/apply:os.system ['touch {marker}']",
               "new": f"!!python/object/new:os.system ['touch {marker}']",
               "name": "!!python/name:os.system",
               "module": "!!python/module:os"}[kind]
        path.write_text(_yaml_with(tag), encoding="utf-8")
        line = 8
    env = make_env(tmp_path)
    for args in (("suites", "validate", str(path)),
                 ("eval", "--suite", str(path), "--endpoint", "http://127.0.0.1:9/v1", "--model", "m",
                  "--out", str(tmp_path / "run"))):
        r = harness(env, *args, timeout=60)
        out = r.stdout + r.stderr
        assert r.returncode in (1, 2) and "Traceback" not in out, out
        m = re.search(re.escape(str(path)) + r":(\d+): ", out)
        assert m, out
        if line is not None:
            assert int(m.group(1)) == line, out
            assert "python/" in out, out       # names the tag it refused
    assert not marker.exists(), "the suite file executed code"
    assert not (tmp_path / "run").exists()


UNSAFE = re.compile(r"\bimport (pickle|marshal|shelve|dill|cloudpickle)\b|\bpickle\.loads?\(|\byaml\.unsafe_load\("
                    r"|\byaml\.(Unsafe|Full)?Loader\b|\bUnsafeLoader\b|\bFullLoader\b|(?<![\w.])(?<!def )(eval|exec)\(")
YAML_LOAD = re.compile(r"\byaml\.load(_all)?\(")


def unsafe(code: str) -> bool:
    """A line that deserialises with code execution possible (yaml.load is fine only with SafeLoader)."""
    return bool(UNSAFE.search(code) or (YAML_LOAD.search(code) and "SafeLoader" not in code))


def test_no_unsafe_deserialisation_in_the_code() -> None:
    """Suites, responses, caches and run dirs are read with json and yaml's safe loader only."""
    hits = []
    for folder in ("harness", "protocols", "trainers", "ui", "suites"):
        for p in (ROOT / folder).rglob("*.py"):
            for i, text in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
                if unsafe(text.split("#", 1)[0]):
                    hits.append(f"{p.relative_to(ROOT)}:{i}: {text.strip()}")
    assert not hits, "\n".join(hits)
    for bad in ("data = yaml.load(f)", "import pickle", "yaml.load(t, Loader=yaml.Loader)", "x = eval(s)"):
        assert unsafe(bad), bad                                   # the check can fail
    assert not unsafe("yaml.load(t, Loader=yaml.SafeLoader)") and not unsafe("async def eval(self):")


# -- loopback by default ----------------------------------------------------------------------------

def test_default_hosts_are_loopback() -> None:
    from harness.cli import build_parser
    p = build_parser()
    for argv in (["serve", "--model", "m"], ["serve", "--engine", "vllm", "--model", "m"], ["ui"]):
        assert p.parse_args(argv).host == "127.0.0.1", argv


def test_serve_binds_loopback_by_default(tmp_path: Path) -> None:
    """The socket `harness serve --engine local` really listens on, without --host."""
    pytest.importorskip("torch", reason="the local engine needs torch (pip install 'toolcall-harness[train]')")
    from trainers.scratch import build_tiny_model
    model = build_tiny_model(tmp_path / "model", ["read the file config.yaml please"] * 20, preset="test")
    env = {**make_env(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "--engine", "local", "--model", str(model),
                             "--port", "0", "--dtype", "float32", "--device", "cpu"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(120), "no listening line within 120 s"
        line = proc.stdout.readline()
        m = re.match(r"listening http://127\.0\.0\.1:(\d+)/v1", line)
        assert m, line
        assert listening_hosts(int(m.group(1))) == {"127.0.0.1"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
