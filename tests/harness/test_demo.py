"""`harness demo` with its budgets cut down: every stage runs (base from scratch, engine, loop, control),
demo.json has the promised fields, and the engine never outlives the demo — not after a normal end, not
after SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (Linux /proc)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            pids.append(int(d.name))
    return pids


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _mini_starter(tmp: Path) -> Path:
    """40 train / 12 test cases of roo-starter, its generator reference kept (probes and fresh cases)."""
    from harness.suite import load_suite
    src = Path(load_suite("roo-starter").path).read_text(encoding="utf-8").splitlines()
    header = json.loads(src[0])
    header["suite"]["name"] = "mini-starter"
    train = [ln for ln in src[1:] if '"split": "train"' in ln][::17]
    test = [ln for ln in src[1:] if '"split": "test"' in ln][::14]
    out = tmp / "mini-starter.jsonl"
    out.write_text("\n".join([json.dumps(header)] + train + test) + "\n", encoding="utf-8")
    return out


def test_demo_runs_every_stage_and_writes_demo_json(home):
    from harness.loop.demo import DemoConfig, format_table, run_demo
    out = home / "demo"
    said: list[str] = []
    cfg = DemoConfig(out=str(out), suite=str(_mini_starter(home)), base_steps=3, rounds=1, round_steps=2,
                     train_sample=6, probe=3, fresh=6, batch_size=4, lora_r=8, max_tokens=4, concurrency=32,
                     progress=False)
    result = run_demo(cfg, say=said.append)
    saved = json.loads((out / "demo.json").read_text())
    for key in ("before", "after", "control"):
        assert 0.0 <= saved[key]["pass_rate"] <= 1.0 and saved[key]["n_cases"] == 13
    # refused: the loop's adapter gate found the 2-step candidate's greedy answers equal to the base's
    assert len(saved["rounds"]) == 1 and saved["rounds"][0]["decision"] in ("promoted", "rejected", "refused")
    assert saved["rounds"][0]["examples"].get("fresh") == 6
    assert saved["base_steps"] == 3 and saved["control"]["train_steps"] >= 1
    assert set(saved["timings"]) >= {"train_base_s", "loop_s", "control_train_s", "control_eval_s", "total_s"}
    assert (out / "loop" / "heldout.png").is_file()
    table = format_table(result)
    assert "before" in table and "control" in table and "wall time" in table
    assert any(s.startswith("[4/4]") for s in said)
    assert _processes_mentioning(str(out)) == []          # the engines were stopped


def test_sigterm_stops_the_demo_and_its_engine(home):
    out = home / "demo-term"
    env = {**os.environ, "HARNESS_HOME": str(home / "home"), "HARNESS_CACHE_DIR": str(home / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "demo", "--out", str(out), "--base-steps", "2",
                             "--rounds", "1", "--quiet"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    engine_seen = False
    while time.monotonic() < deadline and proc.poll() is None:
        engines = [p for p in _processes_mentioning(str(out)) if p != proc.pid]
        if engines and (out / "loop").is_dir():      # the engine serves and the loop has started
            engine_seen = True
            break
        time.sleep(0.1)   # polling other processes' state, bounded by the deadline
    assert engine_seen, "the demo ended before its engine was seen"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert b"Traceback" not in err
    gone = time.monotonic() + 30
    while _processes_mentioning(str(out)) and time.monotonic() < gone:
        time.sleep(0.1)   # the engine's process group is being stopped
    assert _processes_mentioning(str(out)) == []
