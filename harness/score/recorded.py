"""Scoring recorded responses against a suite without any endpoint: what `harness score` does.

    outcome = score_recorded("roo-core", "answers.jsonl", "runs/recorded")   # -> Scored(summary, manifest, ...)

Responses are JSONL lines `{"id", "sample", "message"}` where `message` is an OpenAI assistant message
(dict) or its plain text; any number of samples per case (a missing `sample` numbers them in file
order). Optional per-line `usage` and `latency_ms` are kept. Every line is checked before anything is
scored or written, so a bad file never half-runs. `result_line` is also the scorer of the loops, which
judge answers they generated themselves.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.score.protocols import ProtocolCache


@dataclass
class Response:
    line: int
    id: str
    sample: int
    message: str | dict[str, Any]
    usage: dict[str, Any] | None = None
    latency_ms: float | None = None


@dataclass
class Scored:
    """What score_recorded wrote: the run directory's summary, manifest and result lines."""

    summary: dict[str, Any]
    manifest: dict[str, Any]
    results: list[dict[str, Any]]
    n_cases: int          # cases in the suite (some may have no response)
    run_dir: Path


# -- reading ---------------------------------------------------------------------------------------

def read_responses(path: str | os.PathLike[str], case_ids: Iterable[str], suite_name: str = "the suite",
                   ) -> list[Response]:
    """Every response line, checked: InputError naming FILE:LINE for malformed JSON, unknown ids,
    duplicates and bad fields."""
    from harness.errors import InputError
    known = set(case_ids)
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such responses file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory; give a JSONL file of responses") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    out: list[Response] = []
    seen: dict[tuple[str, int], int] = {}
    next_sample: dict[str, int] = {}
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{n}"
        try:
            rec = json.loads(raw)
        except UnicodeDecodeError:
            raise InputError(f"{where}: not UTF-8 text") from None
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: invalid JSON at column {e.colno}: {e.msg}") from None
        if not isinstance(rec, dict):
            raise InputError(f'{where}: expected a JSON object {{"id", "sample", "message"}}, '
                             f"got {type(rec).__name__}")
        cid = rec.get("id")
        if not isinstance(cid, str) or not cid:
            raise InputError(f"{where}: field 'id' is missing or not a string")
        if cid not in known:
            raise InputError(f"{where}: unknown case id {cid!r} (not in {suite_name})")
        sample = rec.get("sample")
        if sample is None:
            sample = next_sample.get(cid, 0)
        elif isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
            raise InputError(f"{where}: field 'sample' must be an integer >= 0, got {sample!r}")
        next_sample[cid] = max(next_sample.get(cid, 0), sample + 1)
        key = (cid, sample)
        if key in seen:
            raise InputError(f"{where}: duplicate response for id {cid!r} sample {sample} "
                             f"(first at line {seen[key]})")
        seen[key] = n
        if "message" not in rec:
            raise InputError(f"{where}: field 'message' is missing (an OpenAI assistant message or its text)")
        msg = rec["message"]
        if msg is None:
            msg = ""
        if not isinstance(msg, (str, dict)):
            raise InputError(f"{where}: field 'message' must be an assistant message object or a string, "
                             f"got {type(msg).__name__}")
        if isinstance(msg, dict) and "tool_calls" in msg and msg["tool_calls"] is not None and \
                not isinstance(msg["tool_calls"], list):
            raise InputError(f"{where}: field 'message.tool_calls' must be a list")
        usage = rec.get("usage")
        lat = rec.get("latency_ms")
        out.append(Response(n, cid, sample, msg, usage if isinstance(usage, dict) else None,
                            float(lat) if isinstance(lat, (int, float)) and not isinstance(lat, bool) else None))
    return out


# -- scoring ---------------------------------------------------------------------------------------

def result_line(case: Any, resp: Response, proto: Any, judge: Any = None) -> dict[str, Any]:
    """Parse and score one response: the results.jsonl line (DESIGN.md "Runs"). `judge`:
    harness.score.verdicts.judge, passed in by loops (an import statement per response costs as much as a
    small parse)."""
    if judge is None:
        from harness.score.verdicts import judge
    verdict = judge(case, resp.message, proto)
    message = resp.message if isinstance(resp.message, dict) else {"role": "assistant", "content": resp.message}
    u = resp.usage or {}
    return {
        "id": resp.id,
        "sample": resp.sample,
        "status": "ok",
        "passed": verdict.passed,
        "violations": [v.to_dict() for v in verdict.violations],
        "calls": [c.to_dict() for c in verdict.calls],
        "response": message,
        "usage": {"prompt_tokens": u.get("prompt_tokens"), "completion_tokens": u.get("completion_tokens"),
                  "cached_tokens": u.get("cached_tokens",
                                         (u.get("prompt_tokens_details") or {}).get("cached_tokens")
                                         if isinstance(u.get("prompt_tokens_details"), dict) else None)},
        "latency_ms": resp.latency_ms,
        "request_hash": None,
    }


def score_responses(cases: Mapping[str, Any], responses: Iterable[Response],
                    protocol_cache: ProtocolCache) -> list[dict[str, Any]]:
    from harness.score.verdicts import judge
    get = protocol_cache.get
    out = []
    for r in responses:
        case = cases[r.id]
        out.append(result_line(case, r, get(case), judge))
    return out


def recorded_system_prompt(style: str | None, path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """run.json's `system_prompt`: the style the answers were produced with, or the file's exact text."""
    from harness.errors import InputError
    if path:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"{p}: cannot read the system-prompt file: {e.strerror}") from None
        return {"style": "file", "path": str(p.resolve()),
                "sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text}
    if style:
        return {"style": style}
    return {"style": "default"}


def prepare_out(out: Path, force: bool) -> None:
    from harness.errors import InputError
    from harness.log.rundir import RESULTS, RUN_JSON, SUMMARY
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory; choose another --out")
    existing = [n for n in (RUN_JSON, RESULTS, SUMMARY) if (out / n).exists()]
    if existing and not force:
        raise InputError(f"{out}: already holds a run ({', '.join(existing)}); choose another --out or "
                         f"pass --force to replace it")
    for n in existing:
        (out / n).unlink()


def score_recorded(suite_ref: Any, responses_path: str | os.PathLike[str], out: str | os.PathLike[str], *,
                   protocol: str | None = None, model: str = "recorded", system_prompt: str | None = None,
                   system_prompt_file: str | os.PathLike[str] | None = None, force: bool = False,
                   register: bool = True) -> Scored:
    """Check every response, score them, write the run directory and (unless `register` is false) add
    it to the leaderboard. InputError/UserError for bad input, before anything is written."""
    from harness.log import leaderboard as store
    from harness.log.rundir import RunDir, make_manifest, now_iso
    from harness.score import metrics
    from harness.suite import load_suite

    started = time.time()
    suite = load_suite(suite_ref)
    cases = {c.id: c for c in suite.cases}
    responses = read_responses(responses_path, cases, f"suite {suite.name!r}")
    sp = recorded_system_prompt(system_prompt, system_prompt_file)
    protos = ProtocolCache(protocol)
    protos.load_override()   # a bad name fails before any work
    out = Path(out)
    prepare_out(out, force)

    t0 = time.perf_counter()
    results = score_responses(cases, responses, protos)
    wall = time.perf_counter() - t0

    described = sorted((p.describe() for p in protos.protocols()), key=lambda d: str(d.get("name")))
    rd = RunDir(out)
    resp_path = Path(responses_path)
    manifest = make_manifest(
        suite=suite, endpoint=None, model=model,
        protocol=described[0] if len(described) == 1 else described,
        system_prompt=sp, sampling=None, seed=None, started_at=started,
        source="score",
        responses={"path": str(resp_path.resolve()),
                   "sha256": hashlib.sha256(resp_path.read_bytes()).hexdigest(), "lines": len(responses)})
    rd.write_manifest(manifest)
    with rd:
        rd.extend(results)
    summary = metrics.summarize(results, cases, wall, None)
    summary["requests_per_s"] = None   # recorded answers: no request was made (wall_s is the scoring time)
    rd.write_summary(summary)
    manifest = rd.update_manifest(ended_at=now_iso())
    if register:
        try:
            store.register_run(rd)
        except Exception as e:  # the run dir is written; the leaderboard can be filled later
            print(f"harness: warning: run not added to the leaderboard: {e}", file=sys.stderr)
    return Scored(summary, manifest, results, len(cases), out)


__all__ = ["Response", "Scored", "prepare_out", "read_responses", "recorded_system_prompt", "result_line",
           "score_recorded", "score_responses"]
