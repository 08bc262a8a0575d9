"""`harness train --num-processes N [--accelerate-config ...]`: accelerate launch, on CPU with 2 processes
(gloo), a tiny model built here. The 2-process run is killed with SIGKILL (its whole process group, as
when the machine dies) once a checkpoint is complete, then resumed; its adapter has the shapes of a
one-process run and its loss falls. No sleeps as synchronisation: the kill polls for the checkpoint."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainers import data, launch, scratch, sft
from trainers.errors import TrainingError

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from harness.suite import load_suite
    tmp = tmp_path_factory.mktemp("accelerate")
    examples = data.examples_from_cases(load_suite("roo-starter").split("train")[:32], None, "compact")
    scratch.build_tiny_model(tmp / "model", scratch.corpus_texts(examples), preset="test", seed=0)
    data.write_jsonl(examples, tmp / "sft.jsonl")
    return tmp


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=ENV, timeout=timeout)


# -- the launch command ---------------------------------------------------------------------------------

def test_launch_command_and_forwarded_options() -> None:
    from harness.cli import build_parser
    from harness.cli import train as train_cli
    argv = ["train", "--data", "d.jsonl", "--base-model", "m", "--out", "o", "--max-steps", "5", "--lr", "0.002",
            "--target-modules", "q_proj", "v_proj", "--resume", "--num-processes", "2", "--accelerate-config", "fsdp"]
    args = build_parser().parse_args(argv)
    fwd = train_cli.forwarded_args(train_cli._parser, args)
    assert "--num-processes" not in fwd and "--accelerate-config" not in fwd
    again = build_parser().parse_args(["train", *fwd])
    keep = {k: v for k, v in vars(args).items() if k not in (*train_cli.LAUNCH_OPTIONS, "func")}
    assert {k: v for k, v in vars(again).items() if k in keep} == keep      # the same training, option by option
    cmd = launch.launch_command(2, None, fwd, python="py")
    assert cmd[:4] == ["py", "-m", "accelerate.commands.launch", "--num_processes"] and cmd[4] == "2"
    assert "--multi_gpu" in cmd and cmd[cmd.index("-m", 3):][:3] == ["-m", "harness.cli", "train"]
    cfg = launch.resolve_config("zero3")
    assert "--config_file" in launch.launch_command(4, cfg, fwd) and "--multi_gpu" not in launch.launch_command(4, cfg, fwd)
    with pytest.raises(TrainingError, match="neither one of zero2, zero3, fsdp"):
        launch.resolve_config("no-such-config.yaml")


@pytest.mark.parametrize("name, kind", [("zero2", "DEEPSPEED"), ("zero3", "DEEPSPEED"), ("fsdp", "FSDP")])
def test_shipped_configs_are_accelerate_configs(name: str, kind: str) -> None:
    from accelerate.commands.config.config_args import load_config_from_file
    path = launch.resolve_config(name)
    cfg = load_config_from_file(str(path))            # accelerate's own reader: unknown keys fail here
    assert str(cfg.distributed_type).endswith(kind) and launch.distributed_type(path) == kind
    assert cfg.mixed_precision in (None, "no")          # bf16/fp16 come from harness train itself
    if kind == "DEEPSPEED":
        assert cfg.deepspeed_config["zero_stage"] == int(name[-1])
        assert "gradient_accumulation_steps" not in cfg.deepspeed_config
    else:
        assert cfg.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"


def test_launch_refusals_are_user_errors(setup, tmp_path) -> None:
    base = ["train", "--data", str(setup / "sft.jsonl"), "--base-model", str(setup / "model"), "--out", str(tmp_path / "o")]
    p = _cli(*base, "--num-processes", "2", "--backend", "unsloth")
    assert p.returncode == 2 and "--backend peft" in p.stderr
    if not importlib.util.find_spec("deepspeed"):
        p = _cli(*base, "--num-processes", "2", "--accelerate-config", "zero2")
        assert p.returncode == 2 and "deepspeed" in p.stderr and "Traceback" not in p.stderr


# -- two processes on gloo ----------------------------------------------------------------------------

def test_two_processes_train_and_resume_after_kill_9(setup, tmp_path) -> None:
    from safetensors import safe_open

    from harness.loop.data import export_run
    from trainers.backends import peft as peft_backend
    from trainers.config import TrainConfig
    one = tmp_path / "one"
    peft_backend.train(TrainConfig(base_model=str(setup / "model"), out=str(one), data=str(setup / "sft.jsonl"),
                                   max_steps=1, batch_size=4, progress=False), export_run)

    out = tmp_path / "two"
    args = ["train", "--data", str(setup / "sft.jsonl"), "--base-model", str(setup / "model"), "--out", str(out),
            "--max-steps", "6", "--save-steps", "2", "--batch-size", "4", "--lr", "5e-3", "--quiet",
            "--num-processes", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 240
    workers: list[int] = []
    try:
        while time.time() < deadline:
            if (out / "checkpoint-2" / "trainer_state.json").is_file() or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"training ended before it could be killed: {proc.stderr.read()[-3000:]}"
        workers = children(proc.pid)
        assert len(workers) >= 2, workers             # accelerate (torchrun) started the two processes
        os.kill(proc.pid, signal.SIGKILL)             # kill -9 of `harness train` (now the launcher)
    finally:
        proc.wait(timeout=30)
    alive = workers
    while alive and time.time() < deadline:           # they die with their launcher (trainers.launch)
        alive = [w for w in alive if state(w) != "Z"]
        time.sleep(0.02)
    for w in alive:                                   # (a failed test leaves nothing running)
        os.kill(w, signal.SIGKILL)
    assert not alive, "the training processes outlived their launcher"
    assert not (out / "adapter_model.safetensors").exists()
    killed_at = max(n for n, _ in sft.checkpoints(out))
    assert killed_at < 6

    p = _cli(*args, "--resume")
    assert p.returncode == 0, p.stderr[-4000:]
    assert f"resumed from checkpoint-{killed_at}" in p.stdout
    assert p.stdout.count("trained lora-adapter") == 1           # the main process reports, once
    log = sft.read_trainer_log(out)
    assert [r["step"] for r in log] == list(range(1, 7))          # one writer, continued without a duplicate
    assert log[-1]["loss"] < log[0]["loss"]
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == 6 and info["resumed_from"] == f"checkpoint-{killed_at}"
    assert info["hyperparameters"]["num_processes"] == 2 and info["hyperparameters"]["distributed"] == "MULTI_CPU"

    def shapes(d: Path) -> dict[str, tuple[int, ...]]:
        with safe_open(str(d / "adapter_model.safetensors"), "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    assert shapes(out) == shapes(one) and shapes(one)
    assert json.loads((out / "adapter_config.json").read_text())["r"] == \
        json.loads((one / "adapter_config.json").read_text())["r"]
