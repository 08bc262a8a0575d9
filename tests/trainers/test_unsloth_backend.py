"""The unsloth backend's error paths, on a CPU: clear one-line errors, and unsloth is never imported
without a GPU."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trainers.errors import TrainingError
from trainers.backends import unsloth as unsloth_backend
from trainers.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def model_dir(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text("{}")
    return d


def _cfg(model_dir, tmp_path):
    return TrainConfig(base_model=str(model_dir), out=str(tmp_path / "o"), data=str(tmp_path / "d.jsonl"),
                       backend="unsloth", max_steps=1)


def test_no_gpu_is_a_clear_error_before_any_import(model_dir, tmp_path, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    imported = [m for m in sys.modules if m == "unsloth" or m.startswith("unsloth.")]
    with pytest.raises(TrainingError) as e:
        unsloth_backend.train(_cfg(model_dir, tmp_path))
    assert "the unsloth backend needs an NVIDIA GPU (torch.cuda.is_available() is False); use --backend peft" \
        in str(e.value)
    assert [m for m in sys.modules if m == "unsloth" or m.startswith("unsloth.")] == imported == []


def test_missing_package_names_the_pip_command(model_dir, tmp_path, monkeypatch):
    import importlib.util
    monkeypatch.setattr(unsloth_backend, "require_gpu", lambda: None)      # as on a GPU host
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "unsloth" else real(name, *a))
    with pytest.raises(TrainingError) as e:
        unsloth_backend.train(_cfg(model_dir, tmp_path))
    assert 'pip install "unsloth[huggingface]"' in str(e.value) and "--backend peft" in str(e.value)


def test_unsloth_refusing_the_device_is_a_clear_error(monkeypatch):
    class Boom:
        def find_module(self, *a):  # pragma: no cover - old protocol
            return None

        def find_spec(self, name, path=None, target=None):
            if name == "unsloth":
                raise NotImplementedError("Unsloth cannot find any torch accelerator")
            return None
    monkeypatch.delitem(sys.modules, "unsloth", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Boom(), *sys.meta_path])
    with pytest.raises(TrainingError, match="unsloth refused this machine"):
        unsloth_backend.import_unsloth()


def test_cli_on_cpu(model_dir, tmp_path):
    if __import__("torch").cuda.is_available():
        pytest.skip("a GPU is present")
    sft = tmp_path / "d.jsonl"
    sft.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n')
    p = subprocess.run([sys.executable, "-m", "harness.cli", "train", "--data", str(sft), "--base-model",
                        str(model_dir), "--backend", "unsloth", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip() == ("harness: error: the unsloth backend needs an NVIDIA GPU "
                                "(torch.cuda.is_available() is False); use --backend peft")
