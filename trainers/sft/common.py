"""What every training backend shares: the loss mask, trainer_log.jsonl, training.json, the vLLM
adapter rules, seeding and the progress display.

Heavy packages (torch, transformers) are imported inside the functions that need them.
"""
from __future__ import annotations

import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from protocols.errors import UserError

IGNORE_INDEX = -100
LOG_NAME = "trainer_log.jsonl"
TRAINING_JSON = "training.json"
LOG_FIELDS = ("step", "loss", "lr", "epoch", "tokens_per_s", "elapsed_s")

# vLLM's --max-lora-rank choices (vllm/config/lora.py); an adapter's r must be one of them and <= the flag
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_MAX_LORA_RANK = 16        # vLLM's default --max-lora-rank
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainingError(UserError):
    """Training cannot start or continue (bad data, bad template, bad options); one clear line."""


# -- chat template and loss mask ---------------------------------------------------------------------

def has_generation_markers(template: str | None) -> bool:
    import re
    return bool(template) and re.search(r"\{%-?\s*generation\s*-?%\}", template) is not None and \
        re.search(r"\{%-?\s*endgeneration\s*-?%\}", template) is not None


def require_generation_markers(tokenizer: Any, where: str) -> None:
    tpl = getattr(tokenizer, "chat_template", None)
    if not tpl:
        raise TrainingError(f"{where}: the tokenizer has no chat template; assistant-only loss needs one "
                            f"with {{% generation %}} markers")
    if not has_generation_markers(tpl if isinstance(tpl, str) else json.dumps(tpl)):
        raise TrainingError(f"{where}: the chat template has no {{% generation %}}/{{% endgeneration %}} markers, "
                            f"so the assistant-only loss mask would be empty and nothing would be learned "
                            f"(huggingface/trl#4147); use a template that marks assistant turns")


def _ids(out: Any) -> list[int]:
    ids = out["input_ids"] if isinstance(out, Mapping) or hasattr(out, "keys") else out
    if ids and isinstance(ids[0], list):
        ids = ids[0]
    return list(ids)


def target_tokens(tokenizer: Any, example: Mapping[str, Any]) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one example with the loss on its target only: the tokens that are both
    inside the template's `{% generation %}` span and after the prompt (TRL's prompt-completion
    masking with `assistant_only_loss=True`: the intersection of its completion and assistant masks).
    Labels are IGNORE_INDEX elsewhere."""
    msgs = [{k: v for k, v in m.items() if k != "training"} for m in example["messages"]]
    tools = example.get("tools") or None
    prompt = tokenizer.apply_chat_template(msgs[:-1], tools=tools, tokenize=True, add_generation_prompt=True,
                                           return_dict=True)
    full = tokenizer.apply_chat_template(msgs, tools=tools, tokenize=True, return_dict=True,
                                         return_assistant_tokens_mask=True)
    p_ids, ids = _ids(prompt), _ids(full)
    amask = full.get("assistant_masks") if hasattr(full, "get") else None
    if amask is None:
        amask = [0] * len(ids)
    if amask and isinstance(amask[0], list):
        amask = amask[0]
    start = 0
    for a, b in zip(p_ids, ids):
        if a != b:
            break
        start += 1
    labels = [t if (i >= start and amask[i]) else IGNORE_INDEX for i, t in enumerate(ids)]
    return ids, labels


def encode_examples(tokenizer: Any, examples: Sequence[Mapping[str, Any]], where: str = "training data"
                    ) -> list[tuple[list[int], list[int]]]:
    """Tokenize every example with its target mask; TrainingError when the template lacks generation
    markers or any example's mask is empty (the loss would silently be zero)."""
    require_generation_markers(tokenizer, where)
    out = []
    for i, ex in enumerate(examples):
        ids, labels = target_tokens(tokenizer, ex)
        if all(x == IGNORE_INDEX for x in labels):
            ident = (ex.get("meta") or {}).get("id", f"#{i + 1}")
            raise TrainingError(f"{where}: example {ident} has an empty loss mask (no target token inside the "
                                f"chat template's generation span); check the template and the data")
        out.append((ids, labels))
    return out


# -- trainer_log.jsonl ------------------------------------------------------------------------------

class TrainerLog:
    """Appends one JSON line per logging step (`step, loss, lr, epoch, tokens_per_s, elapsed_s`).

    `start(resume_step)` drops lines past the step a resumed run restarts from, so the log continues
    with no duplicated step. Every line is flushed at once (the UI and the CLI tail the file)."""

    def __init__(self, out_dir: str | os.PathLike[str]):
        self.path = Path(out_dir) / LOG_NAME
        self._f: Any = None

    def start(self, resume_step: int | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        elif self.path.exists():
            kept = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue          # a line cut by a kill
                if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= resume_step:
                    kept.append(json.dumps(rec))
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(k + "\n" for k in kept))
            os.replace(tmp, self.path)
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, step: int, loss: float | None, lr: float | None, epoch: float | None,
              tokens_per_s: float | None, elapsed_s: float, **extra: Any) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "step": int(step),
            "loss": None if loss is None or not math.isfinite(loss) else round(float(loss), 6),
            "lr": None if lr is None else float(f"{lr:.6g}"),
            "epoch": None if epoch is None else round(float(epoch), 4),
            "tokens_per_s": None if tokens_per_s is None else round(float(tokens_per_s), 1),
            "elapsed_s": round(float(elapsed_s), 3),
        }
        rec.update(extra)
        if self._f is None:
            self.start(None)
        self._f.write(json.dumps(rec) + "\n")
        self._f.flush()
        return rec

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def read_trainer_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    p = Path(path)
    if p.is_dir():
        p = p / LOG_NAME
    out = []
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


# -- training.json, versions, seeding ---------------------------------------------------------------

def package_versions() -> dict[str, str | None]:
    from importlib import metadata
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "tokenizers", "safetensors",
                 "unsloth", "toolcall-harness"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, p)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % (2 ** 32))
    except ImportError:  # pragma: no cover
        pass
    import torch
    torch.manual_seed(seed)


def device_summary() -> dict[str, Any]:
    import torch
    d: dict[str, Any] = {"cuda": torch.cuda.is_available(), "threads": torch.get_num_threads(),
                         "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        d["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return d


# -- vLLM adapter compatibility ----------------------------------------------------------------------

def adapter_problems(adapter_dir: str | os.PathLike[str], max_lora_rank: int = 256,
                     base_model: str | None = None) -> list[str]:
    """vLLM's rules for a LoRA adapter (reference §1.4): adapter files present, no modules_to_save,
    no DoRA, bias none, rank in vLLM's set and <= max_lora_rank. Uses
    `harness.serve.adapters.check_adapter` when it is available (it knows more, e.g. target modules)."""
    try:
        from harness.serve.adapters import check_adapter  # type: ignore[import-not-found]
    except ImportError:
        check_adapter = None
    if check_adapter is not None:
        return list(check_adapter(str(adapter_dir), max_lora_rank=max_lora_rank, base_model=base_model))
    d = Path(adapter_dir)
    cfg_path = d / "adapter_config.json"
    if not cfg_path.is_file():
        return [f"{d}: no adapter_config.json"]
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        return [f"{cfg_path}: unreadable: {e}"]
    probs = []
    if not ((d / "adapter_model.safetensors").is_file() or (d / "adapter_model.bin").is_file()):
        probs.append(f"{d}: no adapter_model.safetensors")
    if cfg.get("modules_to_save"):
        probs.append(f"modules_to_save is {cfg['modules_to_save']!r}: vLLM only supports modules_to_save being None")
    if cfg.get("use_dora"):
        probs.append("use_dora is true: vLLM does not support DoRA")
    if cfg.get("bias", "none") != "none":
        probs.append(f"bias is {cfg.get('bias')!r}: vLLM needs bias 'none'")
    r = cfg.get("r")
    if not isinstance(r, int) or r not in VLLM_LORA_RANKS:
        probs.append(f"rank r={r!r} is not one of vLLM's ranks {list(VLLM_LORA_RANKS)}")
    elif r > max_lora_rank:
        probs.append(f"rank r={r} is above --max-lora-rank {max_lora_rank}")
    for key in ("rank_pattern", "alpha_pattern"):
        if cfg.get(key):
            ranks = cfg[key].values() if key == "rank_pattern" else []
            bad = [x for x in ranks if x not in VLLM_LORA_RANKS]
            if bad:
                probs.append(f"{key} has ranks {bad} outside vLLM's set")
    return probs


def check_lora_rank(r: int) -> None:
    if r not in VLLM_LORA_RANKS:
        raise TrainingError(f"--lora-r {r}: vLLM loads only ranks {', '.join(map(str, VLLM_LORA_RANKS))}; "
                            f"pick one of them (16 is the default and vLLM's default --max-lora-rank)")


# -- progress ---------------------------------------------------------------------------------------

class Progress:
    """A rich progress bar fed from log records (step, loss, tokens/s); silent when not a terminal
    unless `force`."""

    def __init__(self, total: int | None, description: str = "training", enabled: bool | None = None):
        self.total = total
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._p: Any = None
        self._task: Any = None
        self.description = description

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RP, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            self._p = RP(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                         console=Console(stderr=True), transient=False)
            self._p.__enter__()
            self._task = self._p.add_task(self.description, total=self.total, info="")
        return self

    def update(self, step: int, loss: float | None = None, tokens_per_s: float | None = None,
               total: int | None = None, **extra: Any) -> None:
        if self._p is None:
            return
        info = []
        if loss is not None:
            info.append(f"loss {loss:.4f}")
        if tokens_per_s:
            info.append(f"{tokens_per_s:,.0f} tok/s")
        for k, v in extra.items():
            info.append(f"{k} {v}")
        kw: dict[str, Any] = {"completed": step, "info": "  ".join(info)}
        if total is not None:
            kw["total"] = total
        self._p.update(self._task, **kw)

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)
            self._p = None


def now() -> float:
    return time.perf_counter()


def first_existing(paths: Iterable[Path]) -> Path | None:
    for p in paths:
        if p.exists():
            return p
    return None


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """No `datasets`/`transformers` progress bars (dataset maps, weight loading) and no deprecation warnings
    about checkpointing options we do not set: our own progress bar and trainer_log.jsonl are the record a
    user reads. Restores what it turned off."""
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging
    restore = []
    if datasets.is_progress_bar_enabled():
        datasets.disable_progress_bars()
        restore.append(datasets.enable_progress_bars)
    if hf_logging.is_progress_bar_enabled():
        hf_logging.disable_progress_bar()
        restore.append(hf_logging.enable_progress_bar)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*(gradient|activation)_checkpointing.*", category=FutureWarning)
            yield
    finally:
        for undo in restore:
            undo()
