"""The closed loop against the real local engine: every stage runs, loop.json records it, the plot is
written, and a loop killed with SIGKILL in the middle of a round resumes to the same decisions."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.score.compare import mcnemar_regression_p, paired_flips
from harness.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]


def test_regression_test_is_one_sided_and_exact():
    assert mcnemar_regression_p(0, 5) == 1.0
    assert mcnemar_regression_p(3, 3) == 1.0
    assert mcnemar_regression_p(6, 0) == pytest.approx(1 / 64)
    assert mcnemar_regression_p(5, 1) == pytest.approx(7 / 64)
    assert paired_flips({"a": True, "b": False, "c": True}, {"a": False, "b": True, "c": True, "d": True}) == (1, 1)


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory) -> Path:
    """A 24-train / 8-test slice of roo-starter that keeps the generator reference (fresh cases)."""
    suite = load_suite("roo-starter")
    src = Path(suite.path).read_text(encoding="utf-8").splitlines()
    header = json.loads(src[0])
    train = [ln for ln in src[1:] if '"split": "train"' in ln][:24]
    test = [ln for ln in src[1:] if '"split": "test"' in ln][:8]
    out = tmp_path_factory.mktemp("suite") / "mini-starter.jsonl"
    header["suite"]["name"] = "mini-starter"
    out.write_text("\n".join([json.dumps(header)] + train + test) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def served_base(tmp_path_factory, small_suite):
    from trainers.scratch import PRESETS, Preset, build_tiny_model
    suite = load_suite(str(small_suite))
    texts = [m["content"] for c in suite.cases for m in c.messages] + [c.reference["content"] for c in suite.cases]
    root = tmp_path_factory.mktemp("served")
    preset = Preset(**{**PRESETS["test"].__dict__, "max_position_embeddings": 4096})
    base = build_tiny_model(root / "base", texts * 4, preset)
    env = {**os.environ, "HARNESS_HOME": str(root / "home"), "HARNESS_CACHE_DIR": str(root / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "--engine", "local", "--model", str(base),
                             "--port", "0", "--adapter-root", str(root)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening "), line
        yield base, line.split()[-1], root, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def loop_cmd(base: Path, url: str, suite: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "loop", "--endpoint", url, "--base-model", str(base),
            "--suite", str(suite), "--rounds", "1", "--max-steps", "2", "--batch-size", "4", "--fresh", "6",
            "--lora-r", "8", "--system-prompt", "compact", "--max-tokens", "12", "--concurrency", "8",
            "--out", str(out), "--quiet", *extra]


def test_probe_suite_is_a_train_sample_plus_unseen_cases(small_suite, tmp_path):
    from harness.suite.generate import case_keys
    from harness.loop.rounds import Loop, LoopConfig
    loop = Loop(LoopConfig(endpoint="http://127.0.0.1:9/v1", base_model=str(tmp_path), suite=str(small_suite),
                           out=str(tmp_path / "loop"), train_sample=10, probe=7, seed=3))
    path = loop._probe_suite(1, tmp_path / "probe.jsonl")
    probe = load_suite(str(path))
    suite = load_suite(str(small_suite))
    train_ids = {c.id for c in suite.split("train")}
    picked = [c for c in probe.cases if c.id in train_ids]
    unseen = [c for c in probe.cases if c.id not in train_ids]
    assert len(picked) == 10 and len(unseen) == 7 and all(c.split == "train" for c in probe.cases)
    suite_keys = {k for c in suite.cases for k in case_keys(c)}
    assert not any(set(case_keys(c)) & suite_keys for c in unseen)      # unseen values, test split untouched
    assert all(c.reference for c in probe.cases)
    again = loop._probe_suite(1, tmp_path / "again.jsonl")              # a resumed round writes the same suite
    assert again.read_bytes() == path.read_bytes()
    assert loop._probe_suite(2, tmp_path / "r2.jsonl").read_bytes() != path.read_bytes()


def test_loop_runs_every_stage_and_records_it(served_base, small_suite):
    base, url, root, env = served_base
    out = root / "loop-a"
    r = subprocess.run(loop_cmd(base, url, small_suite, out, "--train-sample", "16", "--probe", "4"), cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    state = json.loads((out / "loop.json").read_text())
    rnd = state["rounds"][0]
    assert list(rnd["stages"]) == ["eval_train", "data", "train", "check", "load", "gate", "eval_test", "decide"]
    assert all(s["done"] for s in rnd["stages"].values())
    assert rnd["stages"]["data"]["kinds"].get("fresh") == 6       # targeted fresh cases joined the failures
    assert rnd["stages"]["eval_train"]["n_cases"] == 20            # 16 sampled train cases + 4 unseen probes
    kinds = rnd["stages"]["data"]["kinds"]
    assert kinds.get("failure", 0) + kinds.get("probe_failure", 0) > 0
    assert rnd["stages"]["check"]["problems"] == []
    gate = rnd["stages"]["gate"]
    assert gate["checked"] == 4 and gate["passed"] == (gate["differ"] >= 1)
    if gate["passed"]:
        assert rnd["decision"] in ("promoted", "rejected")
    else:   # a candidate whose greedy answers equal the base's: refused, never evaluated
        assert rnd["decision"] == "refused" and rnd["stages"]["eval_test"]["refused"]
    assert (out / "heldout.png").stat().st_size > 1000
    # each evaluation is a run directory with every case exactly once
    runs = [out / "baseline-test", out / "round-1" / "eval-train", out / "round-1" / "gate" / "base"]
    for run in runs + ([out / "round-1" / "eval-test"] if gate["passed"] else []):
        ids = [json.loads(x)["id"] for x in (run / "results.jsonl").read_text().splitlines()]
        assert len(ids) == len(set(ids)) > 0
    # a rejected candidate is unloaded; a promoted one stays served
    models = subprocess.run([sys.executable, "-m", "harness.cli", "adapters", "list", "--endpoint", url],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60).stdout
    assert (rnd["candidate"] in models) == (rnd["decision"] == "promoted")
    assert "held-out" in r.stdout


def test_loop_killed_mid_round_resumes_to_the_same_decisions(served_base, small_suite):
    base, url, root, env = served_base
    lr = ("--lr", "0.05", "--max-steps", "8")   # a candidate that changes answers: the gate passes, eval_test runs
    ref = root / "loop-ref"
    assert subprocess.run(loop_cmd(base, url, small_suite, ref, *lr), cwd=ROOT, env=env, capture_output=True,
                          timeout=600).returncode == 0
    out = root / "loop-b"
    proc = subprocess.Popen(loop_cmd(base, url, small_suite, out, *lr), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    killed_after = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            st = json.loads((out / "loop.json").read_text())
            stages = st["rounds"][0]["stages"] if st.get("rounds") else {}
        except (OSError, ValueError, KeyError, IndexError):
            stages = {}
        if "data" in stages:           # killed after the data stage, before or during training
            proc.send_signal(signal.SIGKILL)
            killed_after = list(stages)
            break
        time.sleep(0.05)   # polling a file another process writes; bounded by the deadline
    proc.wait(timeout=60)
    assert killed_after is not None, "the loop finished before it could be killed"
    again = subprocess.run(loop_cmd(base, url, small_suite, out, *lr, "--resume"), cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    a = json.loads((ref / "loop.json").read_text())
    b = json.loads((out / "loop.json").read_text())
    assert [r["decision"] for r in a["rounds"]] == [r["decision"] for r in b["rounds"]]
    assert a["rounds"][0]["stages"]["data"]["sha256"] == b["rounds"][0]["stages"]["data"]["sha256"]
    assert a["rounds"][0]["stages"]["gate"]["differ"] == b["rounds"][0]["stages"]["gate"]["differ"]
    print("\nresumed round: gate", b["rounds"][0]["stages"]["gate"], "decision", b["rounds"][0]["decision"])
    assert a["rounds"][0]["stages"]["eval_test"].get("pass_rate") == b["rounds"][0]["stages"]["eval_test"].get("pass_rate")
    # a second --resume of a finished loop changes nothing
    done = subprocess.run(loop_cmd(base, url, small_suite, out, *lr, "--resume"), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and json.loads((out / "loop.json").read_text())["rounds"] == b["rounds"]


def test_loop_refuses_to_overwrite_without_resume(served_base, small_suite):
    base, url, root, env = served_base
    out = root / "loop-a"
    r = subprocess.run(loop_cmd(base, url, small_suite, out), cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "--resume" in r.stderr and "Traceback" not in r.stderr


def _adapter(base: Path, out: Path, active: bool) -> Path:
    """A PEFT LoRA on the tiny base: as initialised (lora_B = 0: an exact no-op, like an adapter a server
    loads and silently does not apply) or with lora_B drawn at random (it changes the answers)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    if active:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0.0, 1.0)
    model.save_pretrained(out)
    return out


def test_adapter_gate_refuses_an_adapter_that_changes_nothing(served_base, small_suite, monkeypatch):
    """harness.loop.gate against the local engine: a no-op adapter (zero lora_B) answers every case as the
    base does and fails the gate; an adapter with weight in it changes answers and passes."""
    import asyncio
    from harness.loop.gate import changes_outputs, pick_cases
    from harness.serve import load_adapter
    base, url, root, env = served_base
    monkeypatch.setenv("HARNESS_HOME", env["HARNESS_HOME"])
    suite = load_suite(str(small_suite))
    cases = pick_cases(suite.cases, [suite.cases[3].id], 4)
    assert [c.id for c in cases][:2] == [suite.cases[3].id, suite.cases[0].id]
    results = {}
    for active in (False, True):
        name = asyncio.run(load_adapter(url, _adapter(base, root / f"gate-ad-{active}", active), max_lora_rank=64))
        results[active] = changes_outputs(url, base=Path(base).name, candidate=name, cases=cases,
                                          out=root / f"gate-{active}", system_prompt="compact",
                                          api_key_env="OPENAI_API_KEY", max_tokens=12)
    assert results[False].checked == 4 and results[False].differ == 0 and not results[False].passed
    assert sorted(results[False].same) == sorted(c.id for c in cases)
    assert results[True].checked == 4 and results[True].differ >= 1 and results[True].passed


def test_loop_backend_unsloth_on_a_cpu_machine_says_it_needs_a_gpu(tmp_path):
    """The loop dispatches to the backend it was given and checks it before any request: on a machine
    without CUDA, unsloth stops at once with its own message (no endpoint is ever contacted)."""
    from harness.loop.backends import backend_train
    from trainers.backends import peft, unsloth
    assert backend_train("unsloth") is unsloth.train and backend_train("peft") is peft.train
    env = {**os.environ, "HARNESS_HOME": str(tmp_path / "home"), "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run([sys.executable, "-m", "harness.cli", "loop", "--endpoint", "http://127.0.0.1:9/v1",
                        "--base-model", str(tmp_path), "--suite", "roo-starter", "--out", str(tmp_path / "loop"),
                        "--backend", "unsloth", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == ("harness: error: the unsloth backend needs an NVIDIA GPU "
                                                  "(torch.cuda.is_available() is False); use --backend peft")
    assert "Traceback" not in r.stderr and not (tmp_path / "loop" / "loop.json").exists()
