"""Several processes (GPUs) for training, through `accelerate launch` (DESIGN.md "Training", "Scale").

    cmd = launch_command(2, resolve_config("zero2"), ["--data", "sft.jsonl", "--base-model", "m", "--out", "a"])
    os.execv(cmd[0], cmd)      # harness/cli/train.py: accelerate starts and watches the processes

No process management of our own: `harness train --num-processes N` replaces itself with
`python -m accelerate.commands.launch --num_processes N [--config_file F | --multi_gpu] -m harness.cli
train ...the same options...`; accelerate (torchrun, or DeepSpeed's launcher) starts the N processes,
forwards signals and stops them all when one fails. Each process trains its share of every batch (the
Trainer's distributed sampler; the global batch is N x --batch-size x --grad-accum); only the main
process (`is_main_process`) writes trainer_log.jsonl, checkpoints' shared files, the adapter and
training.json, so `--resume` reads one consistent output folder.

Without a config file, N > 1 processes use accelerate's multi-process launcher (torchrun): one process
per GPU on NCCL, or, on a machine without GPUs, N CPU processes on gloo (how the tests run it). The
shipped configs (trainers/accelerate/*.yaml) are `zero2`, `zero3` (DeepSpeed; needs the deepspeed
package) and `fsdp` (PyTorch FSDP2); any accelerate config file can be named instead.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from trainers.errors import TrainingError

CONFIG_DIR = Path(__file__).resolve().parent / "accelerate"
SHIPPED = ("zero2", "zero3", "fsdp")


def resolve_config(name: str) -> Path:
    """A shipped config name (zero2, zero3, fsdp) or the path of an accelerate config file."""
    if name in SHIPPED:
        return CONFIG_DIR / f"{name}.yaml"
    p = Path(name)
    if not p.is_file():
        raise TrainingError(f"--accelerate-config {name}: neither one of {', '.join(SHIPPED)} nor an existing "
                            f"file (an accelerate config YAML, e.g. from `accelerate config`)")
    return p


def distributed_type(config: Path) -> str | None:
    """The config's `distributed_type` (DEEPSPEED, FSDP, MULTI_GPU, ...), read without a YAML library."""
    for line in config.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "distributed_type" and not line.startswith((" ", "\t")):
            return value.split("#")[0].strip().strip("'\"").upper() or None
    return None


def check_requirements(config: Path | None) -> None:
    """Refuse, before anything starts, a launch whose packages are missing."""
    if importlib.util.find_spec("accelerate") is None:
        raise TrainingError("--num-processes needs accelerate: pip install 'toolcall-harness[train]'")
    if config is not None and distributed_type(config) == "DEEPSPEED" and importlib.util.find_spec("deepspeed") is None:
        raise TrainingError(f"--accelerate-config {config}: DeepSpeed ZeRO needs the deepspeed package "
                            f"(pip install deepspeed, on a machine with CUDA); `fsdp` needs nothing more")


def launch_command(num_processes: int, config: Path | None, train_args: list[str],
                   python: str | None = None) -> list[str]:
    """The `accelerate launch` command line that runs `harness train train_args` in N processes."""
    if num_processes < 1:
        raise TrainingError(f"--num-processes {num_processes}: must be at least 1")
    cmd = [python or sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes),
           "--num_machines", "1"]
    if config is not None:
        cmd += ["--config_file", str(config)]
    elif num_processes > 1:
        # torchrun's launcher (a free rendezvous port): one process per GPU, or CPU processes on gloo
        cmd += ["--multi_gpu", "--main_process_port", "0"]
    return cmd + ["-m", "harness.cli", "train", *train_args]


def is_launched() -> bool:
    """True in a process that accelerate (torchrun, DeepSpeed) started: it trains instead of launching."""
    return "LOCAL_RANK" in os.environ


def die_with_launcher() -> None:
    """Linux: have the kernel SIGKILL this process when its launcher dies. torchrun starts each process in
    a session of its own, so a `kill -9` of `harness train` (the launcher) would otherwise leave them
    training on, writing into the folder a `--resume` is about to use."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)       # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:        # the launcher died before the request took effect
        os._exit(1)


def is_main_process() -> bool:
    """The process that writes the output folder (global rank 0; the only one without a launcher)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


__all__ = ["CONFIG_DIR", "SHIPPED", "check_requirements", "die_with_launcher", "distributed_type", "is_launched",
           "is_main_process",
           "launch_command", "resolve_config"]
