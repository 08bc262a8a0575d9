"""`kill -9` at seeded moments of `harness eval`, `harness train` and `harness loop`, then `--resume`: the
result equals an uninterrupted run's (issue 9).

Kill moments are read from the progress files each command writes (results.jsonl line counts,
trainer_log.jsonl steps, loop.json stages, the files of the stage under way), chosen by
`random.Random(SEED)` where a choice is to be made, and several kills hit the same output folder one
after the other (kill, resume, kill the resumed process, ..., resume to the end). No sleep stands in
for a condition: the parent polls the files with a deadline. Every process is killed as a process
group with SIGKILL (nothing is flushed or cleaned up, as after a power cut).

Compared with an uninterrupted run of the same command:
* eval: the same verdict for every (case, sample), each exactly once in results.jsonl, the same summary;
* train: trainer_log.jsonl steps 1..N once each, the same losses and the same adapter weights;
* loop: the same decisions and the same round records (stage by stage, minus names, paths and timings),
  the same verdicts in every evaluation and the same adapter weights.
"""
from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.testing import spawn_server
from tests.harness.test_eval import make_env, raw_lines, reset_stats, server_stats
from tests.harness.test_loop import loop_cmd, served_base, small_suite  # noqa: F401  (module-scoped fixtures)

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
SEED = 20260427
POLL_S = 0.01                 # interval between two looks at a progress file


# -- killing ----------------------------------------------------------------------------------------

def run_and_kill(cmd: list[str], env: dict[str, str], when: Callable[[], bool], what: str,
                 deadline_s: float = 180.0) -> None:
    """Start `cmd`; SIGKILL its process group as soon as `when()` holds. Fails when the process ends
    first or the moment does not come within `deadline_s`."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + deadline_s
        while not when():
            if proc.poll() is not None:
                err.seek(0)
                raise AssertionError(f"the process ended ({proc.returncode}) before the kill point ({what}):\n"
                                     f"{err.read().decode(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"kill point not reached within {deadline_s} s: {what}")
            time.sleep(POLL_S)   # polling interval of a file another process writes, bounded by the deadline
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        err.close()
    assert proc.returncode == -signal.SIGKILL, (what, proc.returncode)


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def read_json(path: Path) -> Any:
    """A JSON file another process rewrites atomically (None while it does not exist yet)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run(cmd: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0 and "Traceback" not in r.stderr, (cmd, r.stdout[-2000:], r.stderr[-3000:])
    return r


def harness_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def verdicts(run_dir: Path) -> dict[tuple[str, int], bool]:
    """(id, sample) -> passed, asserting each appears exactly once and with a verdict."""
    lines = raw_lines(run_dir)
    keys = collections.Counter((x["id"], x["sample"]) for x in lines)
    assert keys and max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    assert all(x["status"] == "ok" for x in lines), [x for x in lines if x["status"] != "ok"][:3]
    return {(x["id"], x["sample"]): x["passed"] for x in lines}


def same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    from safetensors.torch import load_file
    wa, wb = load_file(str(a / "adapter_model.safetensors")), load_file(str(b / "adapter_model.safetensors"))
    assert set(wa) == set(wb) and wa
    for k in wa:
        assert (wa[k] - wb[k]).abs().max().item() < atol, k


# -- eval -------------------------------------------------------------------------------------------

def test_eval_killed_at_seeded_points_resumes_to_the_uninterrupted_verdicts(tmp_path: Path) -> None:
    """Four kills on one run directory: as soon as run.json exists (before or at the first result), then
    at three seeded results.jsonl line counts; each restart is a --resume of the previous one."""
    rng = random.Random(SEED)
    n_samples, conc = 340, 8                         # roo-starter test split (170 cases) x 2 samples
    points = sorted(rng.sample(range(20, n_samples - 40), 3))
    with spawn_server("--suite", "roo-starter", "--answer", "mix:0.75", "--seed", "3", "--latency", "0.08") as url:
        def args(out: Path) -> list[str]:
            return harness_cmd("eval", "--suite", "roo-starter", "--split", "test", "--endpoint", url, "--model",
                               "scripted", "--out", str(out), "--samples", "2", "--seed", "11", "--system-prompt",
                               "compact", "--concurrency", str(conc), "--quiet")
        ref = tmp_path / "ref"
        run(args(ref), make_env(tmp_path / "ref-env"))
        want = verdicts(ref)
        assert len(want) == n_samples and 0 < sum(want.values()) < n_samples

        reset_stats(url)
        out = tmp_path / "killed"
        env = make_env(tmp_path / "killed-env")        # its own response cache, on as by default
        results = out / "results.jsonl"
        run_and_kill(args(out), env, lambda: (out / "run.json").is_file(), "run.json written")
        for i, n in enumerate(points):
            run_and_kill(args(out) + ["--resume"], env, lambda n=n: count_lines(results) >= n,
                         f"kill {i + 2}: {n} result lines")
            assert count_lines(results) < n_samples + 1
        before = len(raw_lines(out))
        assert points[-1] <= before < n_samples
        assert not (out / "summary.json").exists()
        run(args(out) + ["--resume"], env)

        assert verdicts(out) == want                    # each (case, sample) once, the same verdict
        asked = server_stats(url)["chat_requests"]
        assert n_samples // 2 <= asked <= n_samples // 2 + 4 * conc, asked   # re-asked: only what was in flight
        s, sr = (json.loads((d / "summary.json").read_text()) for d in (out, ref))
        for k in ("n_cases", "n_samples", "passed", "pass_rate", "ci95", "pass_at_k", "pass_hat_k", "by_tool",
                  "by_violation", "errors"):
            assert s[k] == sr[k], k
        assert s["runner"]["resumed_samples"] == before
        m = json.loads((out / "run.json").read_text())
        assert len(m["resumed"]) == 4 and m["ended_at"]


# -- train ------------------------------------------------------------------------------------------

MAX_STEPS, SAVE_STEPS = 8, 2


@pytest.fixture(scope="module")
def train_setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory over roo-starter's first train cases (two thirds failed) and a tiny model whose
    tokenizer was trained on those conversations (as tests/trainers/test_train_peft.py builds them)."""
    from harness.log.rundir import RunDir, make_manifest
    from harness.suite import load_suite
    from trainers import data
    from trainers import scratch
    tmp = tmp_path_factory.mktemp("crash-train")
    s = load_suite("roo-starter")
    train = s.split("train")[:24]
    texts = scratch.corpus_texts(data.examples_from_cases(train, None, "compact"))
    scratch.build_tiny_model(tmp / "model", texts, preset="tiny", seed=0)
    rd = RunDir(tmp / "run")
    rd.write_manifest(make_manifest(suite=s, model="m", system_prompt={"style": "compact"}))
    rd.extend([{"id": c.id, "sample": 0, "status": "ok", "passed": i % 3 == 0, "violations": [], "calls": [],
                "response": {"role": "assistant", "content": "x"}} for i, c in enumerate(train)])
    rd.close()
    return tmp


def test_train_killed_before_and_after_checkpoints_resumes_to_the_same_adapter(train_setup: Path,
                                                                              tmp_path: Path) -> None:
    """Two kills on one output folder: right after step 1 is logged (before the first checkpoint: --resume
    starts again from step 0), then after a seeded later step (resumes from the newest checkpoint)."""
    from trainers import sft
    from trainers import vllm_rules
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}

    def args(out: Path) -> list[str]:
        return harness_cmd("train", "--from-run", str(train_setup / "run"), "--base-model", str(train_setup / "model"),
                           "--backend", "peft", "--out", str(out), "--max-steps", str(MAX_STEPS), "--save-steps",
                           str(SAVE_STEPS), "--batch-size", "8", "--lr", "1e-2", "--threads", "1", "--quiet")

    def logged(out: Path) -> int:
        steps = [r["step"] for r in sft.read_trainer_log(out)] if (out / "trainer_log.jsonl").exists() else []
        return max(steps, default=0)

    ref = tmp_path / "ref"           # the uninterrupted run, on the other core while the killed one goes on
    ref_log = tempfile.TemporaryFile()
    ref_proc = subprocess.Popen(args(ref), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=ref_log)
    try:
        out = tmp_path / "killed"
        later = random.Random(SEED).randint(SAVE_STEPS + 1, MAX_STEPS - 1)
        run_and_kill(args(out), env, lambda: logged(out) >= 1, "step 1 logged")
        assert not sft.checkpoints(out) or sft.checkpoints(out)[-1][0] <= SAVE_STEPS
        run_and_kill(args(out) + ["--resume"], env, lambda: logged(out) >= later, f"step {later} logged")
        resumed_from = max(n for n, _ in sft.checkpoints(out))
        assert resumed_from <= later < MAX_STEPS
        assert not (out / "adapter_model.safetensors").exists()
        r = run(args(out) + ["--resume"], env)
        assert f"resumed from checkpoint-{resumed_from}" in r.stdout
        rc = ref_proc.wait(300)
        ref_log.seek(0)
        assert rc == 0, ref_log.read().decode(errors="replace")[-3000:]
    finally:
        if ref_proc.poll() is None:
            ref_proc.kill()
            ref_proc.wait()
        ref_log.close()

    la, lb = sft.read_trainer_log(ref), sft.read_trainer_log(out)
    assert [x["step"] for x in lb] == list(range(1, MAX_STEPS + 1))          # each step once
    assert [x["loss"] for x in lb] == pytest.approx([x["loss"] for x in la], abs=1e-4)
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == MAX_STEPS and info["resumed_from"] == f"checkpoint-{resumed_from}"
    same_weights(ref, out)
    assert vllm_rules.check_adapter(out, max_lora_rank=256) == []


# -- loop -------------------------------------------------------------------------------------------

VOLATILE = {"started", "seconds", "run_dir", "adapter", "path", "name", "tokens_per_s", "train_loss",
            "resumed_from", "reused", "reason", "model"}   # "model": the load stage's adapter name, unique per load


def stable(rec: Any) -> Any:
    """A loop.json record without what legitimately differs between two runs: timings, paths, adapter
    names (unique per load), training throughput and the loss average of a resumed invocation."""
    if isinstance(rec, dict):
        return {k: stable(v) for k, v in rec.items() if k not in VOLATILE and k != "candidate"}
    if isinstance(rec, list):
        return [stable(v) for v in rec]
    return rec


def test_loop_killed_in_different_stages_resumes_to_the_same_rounds(served_base: Any,  # noqa: F811
                                                                     small_suite: Path) -> None:  # noqa: F811
    """Three kills on one loop folder, one per stage family, each moment a seeded choice within it:
    during the baseline or train-split evaluation (a results.jsonl line count), during training (once
    its config is written, before or after a logged step), and during the held-out evaluation of the
    loaded candidate."""
    base, url, root, env = served_base
    rng = random.Random(SEED)
    ref, out = root / "crash-ref", root / "crash-killed"
    lr = ("--lr", "0.05", "--max-steps", "8")   # a candidate that changes answers: the gate passes, eval_test runs
    run(loop_cmd(base, url, small_suite, ref, *lr), env, timeout=600)

    state = lambda: read_json(out / "loop.json") or {}                       # noqa: E731
    stages = lambda: ((state().get("rounds") or [{}])[0]).get("stages", {})  # noqa: E731
    kills: list[tuple[str, Callable[[], bool]]] = []
    first = rng.choice(["baseline-test", "round-1/eval-train"])
    n_first = rng.randint(1, 6)
    kills.append((f"{first}: {n_first} result lines", lambda: count_lines(out / first / "results.jsonl") >= n_first))
    adapter = out / "round-1" / "adapter"
    step = rng.choice([0, 1, 2])           # 0: its config is written, the first step is not done yet
    kills.append((f"training: step {step} logged", lambda: (adapter / "train_config.json").is_file()
                  and count_lines(adapter / "trainer_log.jsonl") >= step))
    n_test = rng.randint(0, 4)
    held_out = out / "round-1" / "eval-test" / "results.jsonl"
    kills.append((f"held-out evaluation: {n_test} result lines",
                  lambda: "load" in stages() and count_lines(held_out) >= n_test))

    cmd = loop_cmd(base, url, small_suite, out, *lr)
    for i, (what, when) in enumerate(kills):
        run_and_kill(cmd + (["--resume"] if i else []), env, when, what, deadline_s=300)
    run(cmd + ["--resume"], env, timeout=600)

    a, b = read_json(ref / "loop.json"), read_json(out / "loop.json")
    assert [r["decision"] for r in a["rounds"]] == [r["decision"] for r in b["rounds"]]
    assert stable(a["baseline"]) == stable(b["baseline"])
    assert stable(a["rounds"]) == stable(b["rounds"])
    assert b["rounds"][0]["stages"]["train"]["steps"] == a["rounds"][0]["stages"]["train"]["steps"]
    for rel in ("baseline-test", "round-1/eval-train", "round-1/eval-test"):
        assert verdicts(out / rel) == verdicts(ref / rel), rel
    same_weights(ref / "round-1" / "adapter", out / "round-1" / "adapter")
