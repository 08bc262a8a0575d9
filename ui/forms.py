"""Job forms -> `harness` command lines. Pure functions: they validate what the user typed and build the
argument list the job runs; they never see an API key (only the name of the variable that holds it)."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ui.data.text import looks_like_secret, scrub_text

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FormError(ValueError):
    """A form value the job cannot run with; the message names the field."""


@dataclass
class JobSpec:
    kind: str
    args: list[str]
    out: str
    planned: int | None
    title: str


def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return s[:limit] or "x"


def _int(v: Any, field: str, lo: int = 1, default: int | None = None) -> int | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return default
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise FormError(f"{field}: expected a whole number, got {v!r}") from None
    if f != int(f) or int(f) < lo:
        raise FormError(f"{field}: must be a whole number ≥ {lo}, got {v!r}")
    return int(f)


def _url(v: Any, field: str = "endpoint") -> str:
    u = _text(v)
    if not u:
        raise FormError(f"{field}: give the base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1")
    parts = urlsplit(u)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FormError(f"{field}: not an http(s) URL: {scrub_text(u)!r}")
    if "@" in parts.netloc or scrub_text(u) != u:
        raise FormError(f"{field}: the URL carries credentials; put the key in an environment variable and give "
                        f"its name instead")
    return u


def _env_name(v: Any) -> str:
    name = _text(v)
    if not name:
        return ""
    if looks_like_secret(name) or not ENV_NAME.match(name):
        raise FormError("API key variable: give the NAME of an environment variable that holds the key (like "
                        "OPENAI_API_KEY), never the key itself")
    return name


def _extra(v: Any) -> list[str]:
    text = _text(v)
    if not text:
        return []
    try:
        args = shlex.split(text)
    except ValueError as e:
        raise FormError(f"extra arguments: {e}") from None
    if scrub_text(" ".join(args)) != " ".join(args):
        raise FormError("extra arguments: they look like they carry a key or password; put it in an environment "
                        "variable and give its name (--api-key-env NAME)")
    return args


def _required(v: Any, field: str) -> str:
    t = _text(v)
    if not t:
        raise FormError(f"{field}: required")
    return t


def eval_job(*, endpoint: Any, model: Any, suite: Any, concurrency: Any = 16, samples: Any = 1,
             api_key_env: Any = "OPENAI_API_KEY", system_prompt: Any = "full", split: Any = "all", out: Any = "",
             extra: Any = "", home: str | Path, job_id: str) -> JobSpec:
    url = _url(endpoint)
    m = _required(model, "model")
    s = _required(suite, "suite")
    conc = _int(concurrency, "concurrency", default=16)
    k = _int(samples, "samples", default=1)
    env = _env_name(api_key_env)
    sp = _text(system_prompt) or "full"
    if sp not in ("full", "compact"):
        raise FormError(f"system prompt: full or compact, got {sp!r}")
    sp_split = _text(split) or "all"
    if sp_split not in ("all", "train", "test"):
        raise FormError(f"split: all, train or test, got {sp_split!r}")
    out_dir = _text(out) or str(Path(home) / "runs" / f"{_slug(Path(s).stem)}-{_slug(m)}-{job_id[-6:]}")
    args = ["eval", "--suite", s, "--endpoint", url, "--model", m, "--out", out_dir, "--concurrency", str(conc),
            "--samples", str(k), "--system-prompt", sp, "--split", sp_split]
    if env:
        args += ["--api-key-env", env]
    args += _extra(extra)
    return JobSpec("eval", args, out_dir, None, f"eval {m} on {Path(s).stem}")


def train_job(*, from_run: Any, base_model: Any, backend: Any = "peft", method: Any = "lora", max_steps: Any = None,
              lr: Any = "", out: Any = "", extra: Any = "", home: str | Path, job_id: str) -> JobSpec:
    run = _required(from_run, "training data (a run)")
    base = _required(base_model, "base model")
    b = _text(backend) or "peft"
    if b not in ("peft", "unsloth"):
        raise FormError(f"backend: peft or unsloth, got {b!r}")
    meth = _text(method) or "lora"
    if meth not in ("lora", "full"):
        raise FormError(f"method: lora or full, got {meth!r}")
    steps = _int(max_steps, "max steps", default=None)
    out_dir = _text(out) or str(Path(home) / "adapters" / f"{_slug(Path(base).name)}-{job_id[-6:]}")
    args = ["train", "--from-run", run, "--base-model", base, "--backend", b, "--method", meth, "--out", out_dir]
    if steps:
        args += ["--max-steps", str(steps)]
    if _text(lr):
        try:
            float(_text(lr))
        except ValueError:
            raise FormError(f"learning rate: expected a number like 2e-4, got {_text(lr)!r}") from None
        args += ["--lr", _text(lr)]
    args += _extra(extra)
    return JobSpec("train", args, out_dir, steps, f"train {Path(base).name} on {Path(run).name}")


def loop_job(*, endpoint: Any, base_model: Any, suite: Any, rounds: Any = 3, backend: Any = "peft",
             samples: Any = 1, out: Any = "", extra: Any = "", home: str | Path, job_id: str) -> JobSpec:
    url = _url(endpoint)
    base = _required(base_model, "base model")
    s = _required(suite, "suite")
    n = _int(rounds, "rounds", default=3)
    k = _int(samples, "samples", default=1)
    b = _text(backend) or "peft"
    if b not in ("peft", "unsloth"):
        raise FormError(f"backend: peft or unsloth, got {b!r}")
    out_dir = _text(out) or str(Path(home) / "loops" / f"{_slug(Path(s).stem)}-{job_id[-6:]}")
    args = ["loop", "--endpoint", url, "--base-model", base, "--suite", s, "--rounds", str(n), "--backend", b,
            "--samples", str(k), "--out", out_dir, *_extra(extra)]
    return JobSpec("loop", args, out_dir, n, f"loop {Path(base).name} on {Path(s).stem}")


__all__ = ["FormError", "JobSpec", "eval_job", "loop_job", "train_job"]
