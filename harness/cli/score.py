"""`harness score`: make a run directory from recorded responses, without any endpoint.

    harness score --suite roo-core --responses answers.jsonl --out runs/recorded [--fail-under 0.8]

Responses are JSONL lines `{"id", "sample", "message"}` where `message` is an OpenAI assistant message
(dict) or its plain text; any number of samples per case (a missing `sample` numbers them in file
order). Optional per-line `usage` and `latency_ms` are kept. Every line is checked before anything is
scored or written, so a bad file never half-runs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELP = "score recorded responses against a suite (no endpoint) and write a run directory"


@dataclass
class Response:
    line: int
    id: str
    sample: int
    message: str | dict[str, Any]
    usage: dict[str, Any] | None = None
    latency_ms: float | None = None


def fraction(text: str) -> float:
    """--fail-under: a fraction 0..1, or a percentage above 1 (80 = 0.8)."""
    try:
        x = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 0.8 or 80, got {text!r}") from None
    if text.endswith("%") or x > 1:
        x /= 100.0
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction 0..1 or a percentage 0..100, got {text!r}")
    return x


def register(sub: Any) -> None:
    p = sub.add_parser("score", help=HELP, description=HELP)
    p.add_argument("--suite", required=True, metavar="S", help="a shipped suite name or a suite file")
    p.add_argument("--responses", required=True, metavar="R.jsonl",
                   help='recorded answers: JSONL lines {"id", "sample", "message"}')
    p.add_argument("--out", required=True, metavar="DIR", help="the run directory to write")
    p.add_argument("--protocol", metavar="P", help="parse every case with this protocol instead of the suite's")
    p.add_argument("--model", default="recorded", help="model name recorded in run.json and the leaderboard")
    sp = p.add_mutually_exclusive_group()
    sp.add_argument("--system-prompt", choices=("full", "compact"), dest="system_prompt",
                    help="the system-prompt rendering the answers were produced with (recorded in run.json)")
    sp.add_argument("--system-prompt-file", metavar="PATH", dest="system_prompt_file",
                    help="the exact system-prompt text the answers were produced with (recorded in run.json)")
    p.add_argument("--fail-under", type=fraction, metavar="X",
                   help="exit 1 when the pass rate is below X (0.8 or 80)")
    p.add_argument("--force", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-register", action="store_true", help="do not add the run to the leaderboard")
    p.add_argument("--failures", type=int, default=10, metavar="N", help="list the first N failures (default 10)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the headline")
    p.set_defaults(func=run)


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

class ProtocolCache:
    """protocols.from_spec once per distinct spec."""

    def __init__(self, override: str | None = None):
        self.override = override
        self._by_key: dict[Any, Any] = {}
        self._by_id: dict[int, tuple[Any, Any]] = {}   # id(spec block) -> (the block, kept alive; protocol)

    def key(self, spec: Any) -> Any:
        return spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True, default=str)

    def get(self, case: Any) -> Any:
        spec = self.override or case.protocol
        if type(spec) is str:
            proto = self._by_key.get(spec)
            if proto is not None:
                return proto
        else:   # a suite's `protocol:` block: the same object for all its cases, serialised once
            hit = self._by_id.get(id(spec))
            if hit is not None and hit[0] is spec:
                return hit[1]
        k = self.key(spec)
        proto = self._by_key.get(k)
        if proto is None:
            import protocols
            proto = protocols.from_spec(spec, source=case.source or "<suite>")
            self._by_key[k] = proto
        if type(spec) is not str:
            self._by_id[id(spec)] = (spec, proto)
        return proto

    def protocols(self) -> list[Any]:
        return list(self._by_key.values())


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


def system_prompt_record(args: argparse.Namespace) -> dict[str, Any]:
    from harness.errors import InputError
    if getattr(args, "system_prompt_file", None):
        p = Path(args.system_prompt_file)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"{p}: cannot read the system-prompt file: {e.strerror}") from None
        return {"style": "file", "path": str(p.resolve()),
                "sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text}
    if getattr(args, "system_prompt", None):
        return {"style": args.system_prompt}
    return {"style": "default"}


def _prepare_out(out: Path, force: bool) -> None:
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


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.score import metrics
    from harness.log import report
    from harness.log import leaderboard as store
    from harness.log.rundir import RunDir, make_manifest, now_iso
    from harness.suite.load import load_suite

    started = time.time()
    suite = load_suite(args.suite)
    cases = {c.id: c for c in suite.cases}
    responses = read_responses(args.responses, cases, f"suite {suite.name!r}")
    sp = system_prompt_record(args)
    protos = ProtocolCache(args.protocol)
    if args.protocol:
        import protocols
        protos._by_key[args.protocol] = protocols.get(args.protocol)  # a bad name fails before any work
    out = Path(args.out)
    _prepare_out(out, args.force)

    t0 = time.perf_counter()
    results = score_responses(cases, responses, protos)
    wall = time.perf_counter() - t0

    described = sorted((p.describe() for p in protos.protocols()), key=lambda d: str(d.get("name")))
    rd = RunDir(out)
    resp_path = Path(args.responses)
    manifest = make_manifest(
        suite=suite, endpoint=None, model=args.model,
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

    console = Console()
    if not args.no_register:
        try:
            store.register_run(rd)
        except Exception as e:  # the run dir is written; the leaderboard can be filled later
            print(f"harness: warning: run not added to the leaderboard: {e}", file=sys.stderr)
    if args.quiet:
        console.print(report.headline(summary), highlight=False)
    else:
        report.print_summary(summary, manifest, console)
        report.print_failures(results, console, limit=args.failures)
        missing = len(cases) - summary["n_cases"]
        if missing > 0:
            console.print(f"{missing} of {len(cases)} suite cases have no response", highlight=False)
        console.print(f"run directory: {out}", highlight=False)
    if args.fail_under is not None:
        rate = summary.get("pass_rate")
        if rate is None or rate < args.fail_under:
            print(f"harness: pass rate {report.pct(rate)} is under --fail-under {report.pct(args.fail_under)}",
                  file=sys.stderr)
            return 1
    return 0
