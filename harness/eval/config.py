"""What one `harness eval` takes and gives back: EvalConfig, Outcome, and the case selection (split, shard)
and run.json records derived from the configuration alone. Standard library only, so importing it is free."""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UserError

if TYPE_CHECKING:
    from harness.eval.dispatch import Stats

DEFAULT_MAX_TOKENS = 1024     # enough for one tool call with a file body; the protocol's stop ends it sooner
                              # (a protocol may say otherwise with a `default_max_tokens` attribute)
DEFAULT_CONCURRENCY = 64
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 6
SPLITS = ("train", "test", "all")
AUTO_SPLIT = "auto"


@dataclass
class EvalConfig:
    """Everything `harness eval` takes. `suite` is a name, a path or a loaded Suite."""

    suite: Any
    endpoints: list[str]
    model: str
    protocol: str | None = None
    split: str | None = None                 # train | test | all | auto (None = all; auto, the CLI's default:
                                             # test when the suite has a train split too, else all)
    shard: tuple[int, int] | None = None     # (I, N): keep the cases whose stable id hash % N == I
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    samples: int = 1
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    system_prompt: str = "full"              # full | compact
    system_prompt_file: str | None = None
    out: str | os.PathLike[str] | None = None
    resume: bool = False
    cache: bool = True
    cache_path: str | os.PathLike[str] | None = None
    price: Mapping[str, float] | None = None
    api_key_env: str = "OPENAI_API_KEY"
    progress: bool = False
    dry_run: bool = False
    register: bool = True
    extra_body: Mapping[str, Any] | None = None   # merged into every request body (API users)
    stop: bool = True                        # the protocol's stop sequences (--no-stop: none)
    preflight: bool = True                   # GET /models of each endpoint before any case is sent
    model_revision: str | None = None        # identity of hosted weights, for the response cache
    batch: bool = False                      # send through the endpoint's Batch API (harness.eval.batch)
    batch_poll: float = 30.0                 # seconds between two looks at a batch's status
    prompt_cache_key: bool | None = None     # send OpenAI's prompt_cache_key (None: api.openai.com, Azure)
    stream: bool = False                     # stream: true; TTFT and ITL per sample (harness.model.stream)



@dataclass
class Outcome:
    summary: dict[str, Any] | None
    manifest: dict[str, Any] | None
    run_dir: Path | None
    stats: Stats
    results: list[dict[str, Any]] | None = None
    dry_run: dict[str, Any] | None = None



def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` with 0 <= I < N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise UserError(f"--shard {text!r}: expected I/N, e.g. 0/4")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise UserError(f"--shard {text!r}: need N >= 1 and 0 <= I < N")
    return i, n


def shard_of(case_id: str, n: int) -> int:
    """The shard of a case: a stable hash of its id (the same on every machine and Python)."""
    return int.from_bytes(hashlib.sha256(case_id.encode("utf-8")).digest()[:8], "big") % n


def resolve_split(suite: Any, split: str | None) -> str:
    """The split a run uses: the one asked for (None: all); `auto` (`harness eval`'s default): `test`
    when the suite has a train split too (train cases feed the trainer; test cases judge), else `all`."""
    if split not in (None, AUTO_SPLIT, *SPLITS):
        raise UserError(f"--split {split!r}: use one of {', '.join(SPLITS)}")
    if split != AUTO_SPLIT:
        return split or "all"
    return "test" if any(c.split == "train" for c in suite.cases) else "all"


def select_cases(suite: Any, split: str | None, shard: tuple[int, int] | None) -> list[Any]:
    split = resolve_split(suite, split)
    cases = suite.split(None if split == "all" else split)
    if shard is not None:
        i, n = shard
        cases = [c for c in cases if shard_of(c.id, n) == i]
    return cases



def key_json(obj: Any) -> str:
    """Canonical text of a run.json field, for comparing two of them."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def system_prompt_record(style: str, path: str | None) -> dict[str, Any]:
    """What run.json records about the system prompt (the file's exact text, as `harness score` does)."""
    if path:
        from protocols.prompts import load_system_prompt_file
        text = load_system_prompt_file(path)
        return {"style": "file", "path": str(Path(path).resolve()),
                "sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text}
    return {"style": style}


def effective_temperature(cfg: EvalConfig) -> float | None:
    """Greedy (0) unless a temperature is given or several samples are asked for (which then get the
    server's default: k greedy samples would be k copies of one answer)."""
    if cfg.temperature is not None:
        return cfg.temperature
    return 0.0 if cfg.samples == 1 else None


def sampling_record(cfg: EvalConfig) -> dict[str, Any]:
    t = effective_temperature(cfg)
    decoding = "greedy" if t == 0 else ("sampled" if t is not None else "sampled (the server's default temperature)")
    return {"samples": cfg.samples, "temperature": t, "top_p": cfg.top_p,
            "max_tokens": cfg.max_tokens, "seed": cfg.seed, "decoding": decoding,
            "temperature_given": cfg.temperature is not None}


def default_out(suite_name: str, model: str, t: float | None = None) -> Path:
    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "x"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(t))
    return Path("runs") / f"{clean(suite_name)}-{clean(model)}-{stamp}"



_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")


def check_key_env_name(name: str | None) -> None:
    """Refuse an --api-key-env value that cannot name an environment variable, without repeating it.

    The name is recorded in run.json, so a key given in its place would be written to disk; argparse
    also takes `--api-key sk-...` as an abbreviation of --api-key-env, which makes that easy to do."""
    if name and not _ENV_NAME.fullmatch(name):
        raise UserError("--api-key-env takes the NAME of the environment variable that holds the API key "
                        "(e.g. OPENAI_API_KEY), not the key itself; the value given is not a variable name "
                        "(not repeated here). Put the key in the environment: export OPENAI_API_KEY=...")


def check_config(cfg: EvalConfig) -> None:
    """Refuse a configuration that cannot run (UserError, before anything is loaded or sent)."""
    check_key_env_name(cfg.api_key_env)
    if cfg.samples < 1:
        raise UserError(f"--samples {cfg.samples}: must be at least 1")
    if cfg.concurrency < 1:
        raise UserError(f"--concurrency {cfg.concurrency}: must be at least 1")
    if cfg.system_prompt not in ("full", "compact"):
        raise UserError(f"--system-prompt {cfg.system_prompt!r}: use full or compact "
                        f"(or --system-prompt-file PATH)")
    if not cfg.endpoints and not cfg.dry_run:
        raise UserError("no --endpoint given: pass the base URL of an OpenAI-compatible server, "
                        "e.g. --endpoint http://127.0.0.1:8000/v1")
    if not cfg.model:
        raise UserError("no --model given")
    if cfg.batch and len(cfg.endpoints) > 1:
        raise UserError("--batch sends one batch to one endpoint: give a single --endpoint")
    if cfg.batch and cfg.stream:
        raise UserError("--batch and --stream do not go together: a Batch API answers whole responses")
    if cfg.batch_poll <= 0:
        raise UserError(f"--batch-poll {cfg.batch_poll}: must be more than 0 seconds")


__all__ = ["AUTO_SPLIT", "DEFAULT_CONCURRENCY", "DEFAULT_MAX_RETRIES", "DEFAULT_MAX_TOKENS", "DEFAULT_TIMEOUT", "SPLITS",
           "EvalConfig", "Outcome", "check_config", "check_key_env_name", "default_out", "effective_temperature",
           "key_json", "parse_shard", "resolve_split", "sampling_record", "select_cases", "shard_of",
           "system_prompt_record"]
