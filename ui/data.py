"""Pure data shaping for the UI: leaderboard rows, run breakdowns, failures, comparisons, secret scrubbing.

Nothing here imports gradio; everything reads the run store (harness.log.leaderboard) and run directories
(harness.log.rundir) and returns plain lists and dicts, so it is testable without a browser and the API
endpoints return exactly what the page shows.
"""
from __future__ import annotations

import html
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# -- secrets ----------------------------------------------------------------------------------------

_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # option values: --api-key X, --token=X, --password X (but --api-key-env NAME is a name, kept)
    (re.compile(r"(--?(?:api[-_]?key|apikey|token|hf[-_]token|access[-_]token|password|passwd|secret|auth)"
                r"(?![-_]?env)(?:=|\s+))(\"[^\"]*\"|'[^']*'|\S+)", re.I), r"\1***"),
    # NAME=value environment assignments whose name says it holds a secret
    (re.compile(r"\b([A-Za-z0-9_]*(?:API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)[A-Za-z0-9_]*=)(\S+)", re.I), r"\1***"),
    (re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1***"),
    (re.compile(r"(\"?(?:api_key|apikey|authorization|x-api-key)\"?\s*[:=]\s*\"?)[^\"\s,}]+", re.I), r"\1***"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "://***@"),                      # user:password@ in URLs
    (re.compile(r"([?&](?:[A-Za-z_]*(?:key|token|secret|sig|signature|password))=)[^&\s]+", re.I), r"\1***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-***"),                     # OpenAI-style keys
    (re.compile(r"\b(?:hf|ghp|gho|ghs|github_pat|xox[abprs]|glpat)[_-][A-Za-z0-9_-]{10,}"), "***"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "***"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), "***"),
]


def scrub_text(text: str) -> str:
    """`text` with anything that looks like a credential replaced by ***."""
    if not text:
        return text
    for pat, rep in _SECRET_PATTERNS:
        text = pat.sub(rep, text)
    return text


def looks_like_secret(value: str) -> bool:
    """True when `value` looks like a key rather than the name of an environment variable."""
    v = value.strip()
    if not v:
        return False
    if scrub_text(v) != v:
        return True
    return not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) or (len(v) >= 32 and not v.isupper())


def command_line(argv: Sequence[str]) -> str:
    """A shell-quoted, scrubbed command line for display."""
    import shlex
    return scrub_text(" ".join(shlex.quote(str(a)) for a in argv))


# -- small formatting helpers -----------------------------------------------------------------------

def is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x


def pct(x: Any, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%" if is_num(x) else "–"


def pct_num(x: Any, digits: int = 1) -> float | None:
    return round(100 * x, digits) if is_num(x) else None


def rnd(x: Any, digits: int = 0) -> float | int | None:
    if not is_num(x):
        return None
    return int(round(x)) if digits == 0 else round(float(x), digits)


def short_date(iso: Any) -> str:
    """`2026-11-27T20:34:52Z` -> `2026-11-27 20:34`."""
    if not isinstance(iso, str) or not iso:
        return ""
    return iso.replace("T", " ").replace("Z", "")[:16]


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def md_escape(x: Any) -> str:
    """Text for a Markdown table cell or sentence: no markup, no pipes, no HTML."""
    s = html.escape(str(x), quote=False)
    return re.sub(r"([\\`*_{}\[\]()#+!|~>])", r"\\\1", s).replace("\n", " ")


def fence(text: str, lang: str = "") -> str:
    """A fenced Markdown code block that `text` cannot break out of."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


# -- run summaries (cached by mtime) ----------------------------------------------------------------

_cache_lock = threading.Lock()
_summary_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_summary(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """summary.json of a run ({} when absent or unreadable), cached on its mtime."""
    p = Path(run_dir) / "summary.json"
    try:
        mtime = p.stat().st_mtime
    except OSError:
        return {}
    key = str(p)
    with _cache_lock:
        hit = _summary_cache.get(key)
        if hit and hit[0] == mtime:
            return hit[1]
    data = _read_json(p) or {}
    with _cache_lock:
        _summary_cache[key] = (mtime, data)
    return data


def run_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    return _read_json(Path(run_dir) / "run.json") or {}


# -- leaderboard ------------------------------------------------------------------------------------

PICKS = ("latest", "best")

# the table the page shows: (column header, key in the API row, datatype)
TABLE_COLUMNS: list[tuple[str, str, str]] = [
    ("model", "model", "str"),
    ("suite", "suite", "str"),
    ("pass %", "pass_rate_pct", "number"),
    ("95% CI", "ci_text", "str"),
    ("pass^k %", "pass_hat_k_pct", "number"),
    ("tok/case", "tokens_per_case_int", "number"),
    ("p50 ms", "latency_p50_ms", "number"),
    ("p95 ms", "latency_p95_ms", "number"),
    ("cost $", "cost", "number"),
    ("samples", "n_samples", "number"),
    ("date", "date", "str"),
    ("protocol", "protocol", "str"),
]
TABLE_HEADERS = [c[0] for c in TABLE_COLUMNS]
TABLE_DATATYPES = [c[2] for c in TABLE_COLUMNS]

# what the sort box offers: label -> API row key
SORT_KEYS: dict[str, str] = {
    "pass rate": "pass_rate", "model": "model", "suite": "suite", "pass^k": "pass_hat_k",
    "tokens/case": "tokens_per_case", "latency p50": "latency_p50_ms", "latency p95": "latency_p95_ms",
    "cost": "cost", "date": "created_at", "protocol": "protocol", "samples": "n_samples",
}


def _wilson(k: int, n: int) -> tuple[float | None, float | None]:
    from harness.score.metrics import wilson
    if not n:
        return None, None
    return wilson(k, n)


def api_row(r: Mapping[str, Any], n_runs: int = 1) -> dict[str, Any]:
    """A store row as the `leaderboard` API returns it (fractions, milliseconds, no endpoint credentials)."""
    from harness.log.rundir import redact_url
    return {
        "model": r.get("model"),
        "suite": r.get("suite"),
        "protocol": r.get("protocol"),
        "pass_rate": r.get("pass_rate"),
        "ci_lo": r.get("ci_lo"),
        "ci_hi": r.get("ci_hi"),
        "pass_hat_k": r.get("pass_hat_k"),
        "pass_hat_k_k": r.get("pass_hat_k_k"),
        "tokens_per_case": r.get("tokens_per_case"),
        "latency_p50_ms": r.get("latency_p50"),
        "latency_p95_ms": r.get("latency_p95"),
        "cost": r.get("cost"),
        "n_cases": r.get("n_cases"),
        "n_samples": r.get("n_samples"),
        "passed": r.get("passed"),
        "errors": r.get("errors"),
        "system_prompt": r.get("system_prompt"),
        "endpoint": redact_url(r.get("endpoint")),
        "created_at": r.get("created_at"),
        "run_dir": r.get("run_dir"),
        "n_runs": n_runs,
    }


def _tag_view(row: dict[str, Any], tag: str) -> dict[str, Any] | None:
    """The row restricted to cases tagged `tag` (pass rate and Wilson CI from summary.by_tag)."""
    g = (run_summary(row["run_dir"]).get("by_tag") or {}).get(tag)
    if not isinstance(g, Mapping) or not g.get("n"):
        return None
    n, k = int(g.get("n") or 0), int(g.get("passed") or 0)
    lo, hi = _wilson(k, n)
    out = dict(row)
    out.update(pass_rate=k / n, ci_lo=lo, ci_hi=hi, n_samples=n, passed=k, tag=tag)
    return out


def _sort_value(v: Any) -> tuple[int, Any]:
    if v is None or (isinstance(v, float) and v != v):
        return (1, 0)
    if isinstance(v, str):
        return (0, v.lower())
    return (0, v)


def leaderboard(rows: Iterable[Mapping[str, Any]], *, pick: str = "latest", search: str = "", suite: str = "",
                protocol: str = "", tag: str = "", sort: str = "pass rate", descending: bool | None = None,
                ) -> list[dict[str, Any]]:
    """One API row per (model, suite): its latest run (`pick="latest"`) or its best (`"best"`), filtered and
    sorted. `tag` restricts pass rate and CI to the cases with that tag (runs without it drop out)."""
    pick = pick if pick in PICKS else "latest"
    s = (search or "").strip().lower()
    out: list[dict[str, Any]] = []
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for r in rows:
        if suite and r.get("suite") != suite:
            continue
        if protocol and r.get("protocol") != protocol:
            continue
        groups.setdefault((r.get("model"), r.get("suite")), []).append(api_row(r))
    for members in groups.values():
        if tag:
            members = [m for m in (_tag_view(m, tag) for m in members) if m is not None]
            if not members:
                continue
        if pick == "best":
            chosen = max(members, key=lambda m: (m["pass_rate"] if is_num(m["pass_rate"]) else -1.0,
                                                 m.get("created_at") or ""))
        else:
            chosen = max(members, key=lambda m: (m.get("created_at") or "", m["pass_rate"] or 0.0))
        chosen["n_runs"] = len(members)
        out.append(chosen)
    if s:
        out = [r for r in out if any(s in str(r.get(f) or "").lower()
                                     for f in ("model", "suite", "protocol", "system_prompt", "run_dir"))]
    key = SORT_KEYS.get(sort, sort if out and sort in out[0] else "pass_rate")
    if descending is None:
        descending = key not in ("model", "suite", "protocol", "latency_p50_ms", "latency_p95_ms", "cost",
                                 "tokens_per_case")
    present = [r for r in out if _sort_value(r.get(key))[0] == 0]
    absent = [r for r in out if _sort_value(r.get(key))[0] == 1]
    present.sort(key=lambda r: (_sort_value(r.get(key))[1], ), reverse=descending)
    return present + absent    # rows without the value last, whatever the direction


def table_rows(api_rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """API rows -> the Dataframe's rows (percentages, rounded numbers, short dates)."""
    out = []
    for r in api_rows:
        lo, hi = r.get("ci_lo"), r.get("ci_hi")
        d = {
            **r,
            "pass_rate_pct": pct_num(r.get("pass_rate")),
            "ci_text": f"{100 * lo:.1f} – {100 * hi:.1f}" if is_num(lo) and is_num(hi) else "",
            "pass_hat_k_pct": pct_num(r.get("pass_hat_k")),
            "tokens_per_case_int": rnd(r.get("tokens_per_case")),
            "latency_p50_ms": rnd(r.get("latency_p50_ms")),
            "latency_p95_ms": rnd(r.get("latency_p95_ms")),
            "cost": (rnd(r.get("cost"), 2) if is_num(r.get("cost")) and r["cost"] >= 1 else rnd(r.get("cost"), 4)),
            "date": short_date(r.get("created_at")),
        }
        out.append([d.get(k) for _, k, _ in TABLE_COLUMNS])
    return out


def facets(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The values the filters offer: suites, protocols, models and case tags of the registered runs."""
    suites, protos, models, tags = set(), set(), set(), set()
    for r in rows:
        if r.get("suite"):
            suites.add(str(r["suite"]))
        if r.get("protocol"):
            protos.add(str(r["protocol"]))
        if r.get("model"):
            models.add(str(r["model"]))
        by_tag = run_summary(r.get("run_dir") or "").get("by_tag") or {}
        if isinstance(by_tag, Mapping):
            tags.update(str(t) for t in by_tag)
    return {"suites": sorted(suites), "protocols": sorted(protos), "models": sorted(models), "tags": sorted(tags)}


def run_label(r: Mapping[str, Any]) -> str:
    """`stub-model-alpha · roo-starter · 2026-11-27 20:34 · 68.9% · runA`"""
    name = Path(str(r.get("run_dir") or "")).name
    return " · ".join(str(x) for x in (r.get("model") or "?", r.get("suite") or "?",
                                       short_date(r.get("created_at")), pct(r.get("pass_rate")), name) if x)


def run_choices(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(label, run_dir) pairs, newest first."""
    rs = sorted(rows, key=lambda r: (r.get("created_at") or "", r.get("id") or 0), reverse=True)
    return [(run_label(r), str(r.get("run_dir"))) for r in rs if r.get("run_dir")]


# -- one run ----------------------------------------------------------------------------------------

_suite_cache: dict[tuple[str, str], Any] = {}


def load_run_suite(manifest: Mapping[str, Any]) -> tuple[Any, str | None]:
    """(the run's Suite or None, a note when it could not be loaded or its content changed)."""
    from harness.suite import load_suite
    s = manifest.get("suite") or {}
    if not isinstance(s, Mapping):
        s = {"name": str(s)}
    want_hash = s.get("hash")
    tries = [x for x in (s.get("path"), s.get("name")) if x]
    last_err = None
    for t in tries:
        key = (str(t), str(want_hash))
        with _cache_lock:
            if key in _suite_cache:
                return _suite_cache[key]
        try:
            suite = load_suite(t, check_references=False)
        except Exception as e:  # noqa: BLE001 - shown to the user as a note
            last_err = str(e).splitlines()[0] if str(e) else type(e).__name__
            continue
        note = None
        if want_hash and suite.content_hash != want_hash:
            note = (f"the suite file {suite.path} changed since this run (hash {str(want_hash)[:12]} → "
                    f"{suite.content_hash[:12]}); conversations and expectations are today's")
        with _cache_lock:
            _suite_cache[key] = (suite, note)
        return suite, note
    return None, (f"the run's suite could not be loaded ({last_err}); conversations and expectations are "
                  f"not shown" if last_err else "the run names no suite")


def _group_rows(groups: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, g in (groups or {}).items():
        if not isinstance(g, Mapping):
            continue
        n, k = int(g.get("n") or 0), int(g.get("passed") or 0)
        lo, hi = _wilson(k, n)
        rows.append({"key": key, "n": n, "passed": k, "pass_rate": g.get("pass_rate", k / n if n else None),
                     "ci_lo": lo, "ci_hi": hi})
    rows.sort(key=lambda r: (r["pass_rate"] if is_num(r["pass_rate"]) else 2.0, r["key"]))
    return rows


def by_tool(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Worst tool first: key, n, passed, pass_rate, ci_lo, ci_hi."""
    return _group_rows(summary.get("by_tool") or {})


def by_violation(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Most frequent code first: code, samples, share of failed samples, description."""
    from protocols.violations import DESCRIPTIONS
    counts = summary.get("by_violation") or {}
    failed = int(summary.get("n_samples") or 0) - int(summary.get("passed") or 0)
    rows = [{"code": c, "samples": int(n), "share_of_failures": (int(n) / failed) if failed else None,
             "description": DESCRIPTIONS.get(c, "")} for c, n in counts.items() if is_num(n)]
    rows.sort(key=lambda r: (-r["samples"], r["code"]))
    return rows


def _tool_key(case: Any, calls: Any) -> str:
    if case is None:
        from harness.score.metrics import UNKNOWN_KEY
        return UNKNOWN_KEY
    from harness.score.verdicts import by_tool_key
    return by_tool_key(case, calls or [])


def failures(results: Iterable[Mapping[str, Any]], suite: Any = None, *, tool: str = "", code: str = "",
             ) -> list[dict[str, Any]]:
    """Each failed (case, sample): id, sample, tool, codes, first detail — filtered by tool and code."""
    cases = {c.id: c for c in suite.cases} if suite is not None else {}
    out = []
    for r in results:
        if r.get("status") != "ok" or r.get("passed") is True:
            continue
        cid = str(r.get("id"))
        t = _tool_key(cases.get(cid), r.get("calls"))
        vs = [v for v in (r.get("violations") or []) if isinstance(v, Mapping)]
        codes = list(dict.fromkeys(str(v.get("code")) for v in vs))
        if tool and t != tool:
            continue
        if code and code not in codes:
            continue
        out.append({"id": cid, "sample": int(r.get("sample") or 0), "tool": t, "codes": codes,
                    "detail": str(vs[0].get("detail") or "") if vs else ""})
    return out


def failure_key(f: Mapping[str, Any]) -> str:
    return f"{f['id']}#{f['sample']}"


def parse_failure_key(key: str) -> tuple[str, int] | None:
    cid, sep, s = (key or "").rpartition("#")
    if not sep or not s.isdigit():
        return None
    return cid, int(s)


def _message_text(m: Mapping[str, Any]) -> str:
    c = m.get("content")
    if isinstance(c, list):
        c = "".join(p.get("text", "") for p in c if isinstance(p, Mapping))
    text = c if isinstance(c, str) else ("" if c is None else json.dumps(c, ensure_ascii=False))
    if m.get("tool_calls"):
        text += ("\n" if text else "") + json.dumps(m["tool_calls"], ensure_ascii=False, indent=2)
    return text


def conversation_markdown(messages: Sequence[Mapping[str, Any]], system_prompt: str | None = None) -> str:
    parts = []
    if system_prompt:
        parts.append(f"*system prompt: {md_escape(system_prompt)} (rendered by the harness from the protocol; "
                     f"not repeated here)*")
    for m in messages:
        role = str(m.get("role") or "?")
        extra = f" ({md_escape(m['name'])})" if m.get("name") else ""
        parts.append(f"**{md_escape(role)}**{extra}\n\n{fence(scrub_text(_message_text(m)))}")
    return "\n\n".join(parts) if parts else "*no conversation*"


def expectation(case: Any) -> Any:
    if case is None:
        return None
    e = case.expect
    calls = None if e.calls is None else [{"name": c.name, "arguments": c.arguments} for c in e.calls]
    out: dict[str, Any] = {"calls": calls}
    if calls is None:
        out["note"] = "any valid call"
    elif calls == []:
        out["note"] = "no call (irrelevance)"
    if e.any_order:
        out["any_order"] = True
    if e.checker != "schema":
        out["checker"] = e.checker
    return out


def failure_detail(results: Iterable[Mapping[str, Any]], suite: Any, key: str,
                   system_prompt: str | None = None) -> dict[str, Any] | None:
    """Everything about one failed (case, sample): conversation (Markdown), raw answer, parsed calls,
    violations, expectation, reference answer."""
    k = parse_failure_key(key)
    if k is None:
        return None
    cid, sample = k
    r = next((x for x in results if str(x.get("id")) == cid and int(x.get("sample") or 0) == sample), None)
    if r is None:
        return None
    case = next((c for c in suite.cases if c.id == cid), None) if suite is not None else None
    resp = r.get("response") or {}
    raw = _message_text(resp) if isinstance(resp, Mapping) else str(resp)
    ref = case.reference if case is not None else None
    return {
        "id": cid, "sample": sample,
        "tags": list(case.tags) if case is not None else [],
        "mode": case.mode if case is not None else None,
        "conversation": conversation_markdown(case.messages, system_prompt) if case is not None
        else "*the case is not in the suite any more*",
        "raw_answer": scrub_text(raw),
        "calls": r.get("calls") or [],
        "violations": [dict(v) for v in (r.get("violations") or []) if isinstance(v, Mapping)],
        "expectation": expectation(case),
        "reference": scrub_text(_message_text(ref)) if isinstance(ref, Mapping) else "",
    }


# -- compare ----------------------------------------------------------------------------------------

def compare_runs(run_a: str, run_b: str) -> dict[str, Any]:
    """Two runs side by side: pass rates with Wilson CIs, flipped cases, exact McNemar p (majority over
    samples per case) — the same computation as `harness compare`."""
    from harness.cli.compare import compare
    from harness.log.rundir import RunDir
    rda, rdb = RunDir(run_a).require(), RunDir(run_b).require()
    ra, rb = rda.results(), rdb.results()
    res = compare(ra, rb)
    ma, mb = rda.manifest(), rdb.manifest()
    notes = []
    sa, sb = ma.get("suite") or {}, mb.get("suite") or {}
    if isinstance(sa, Mapping) and isinstance(sb, Mapping) and sa.get("hash") != sb.get("hash"):
        notes.append(f"the runs used different suite contents ({sa.get('name')} vs {sb.get('name')}); "
                     f"only case ids present in both are paired")
    def codes(results: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
        out: dict[str, set[str]] = {}
        for r in results:
            if r.get("status") == "ok":
                out.setdefault(str(r.get("id")), set()).update(
                    str(v.get("code")) for v in (r.get("violations") or []) if isinstance(v, Mapping))
        return {k: sorted(v) for k, v in out.items()}

    def counts(results: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for r in results:
            if r.get("status") == "ok":
                nc = out.setdefault(str(r.get("id")), [0, 0])
                nc[0] += 1
                nc[1] += r.get("passed") is True
        return out

    codes_a, codes_b = codes(ra), codes(rb)
    count_a, count_b = counts(ra), counts(rb)
    flipped = []
    for direction, ids in (("pass → fail", res["flipped"]["pass_to_fail"]),
                           ("fail → pass", res["flipped"]["fail_to_pass"])):
        for cid in ids:
            ca, cb = count_a.get(cid, [0, 0]), count_b.get(cid, [0, 0])
            flipped.append({"id": cid, "direction": direction, "a_passed": f"{ca[1]}/{ca[0]}",
                            "b_passed": f"{cb[1]}/{cb[0]}", "a_violations": ", ".join(codes_a.get(cid, [])),
                            "b_violations": ", ".join(codes_b.get(cid, []))})
    for label, m, rd in (("a", ma, rda), ("b", mb, rdb)):
        res[label].update(model=m.get("model"), suite=(m.get("suite") or {}).get("name")
                          if isinstance(m.get("suite"), Mapping) else m.get("suite"), run_dir=str(rd.path))
    res["flipped_rows"] = flipped
    res["notes"] = notes
    return res


# -- loop.json / trainer_log.jsonl ------------------------------------------------------------------

def _find_rate(obj: Any, depth: int = 0) -> float | None:
    """A pass rate inside `obj`: a number in 0..1, or obj['pass_rate'] / obj['rate'] a level or two down."""
    if is_num(obj):
        return float(obj) if 0.0 <= obj <= 1.0 else None
    if isinstance(obj, Mapping) and depth < 3:
        for k in ("pass_rate", "rate", "value"):
            if is_num(obj.get(k)) and 0.0 <= obj[k] <= 1.0:
                return float(obj[k])
        for k in ("summary", "metrics"):
            if k in obj:
                v = _find_rate(obj[k], depth + 1)
                if v is not None:
                    return v
    return None


_HELD_KEYS = ("held_out", "heldout", "held_out_pass_rate", "heldout_pass_rate", "test", "test_pass_rate",
              "eval_test")


def _held_rate(obj: Any, depth: int = 0) -> float | None:
    """The held-out (test split) pass rate somewhere in a loop.json record."""
    if not isinstance(obj, Mapping) or depth > 3:
        return None
    for k in _HELD_KEYS:
        if k in obj:
            v = _find_rate(obj[k])
            if v is not None:
                return v
    for k, v in obj.items():
        kl = str(k).lower()
        if "held" in kl or kl.startswith("test") or kl.endswith("test"):
            rate = _find_rate(v)
            if rate is not None:
                return rate
    for v in obj.values():
        if isinstance(v, Mapping):
            rate = _held_rate(v, depth + 1)
            if rate is not None:
                return rate
    return None


def loop_rounds(loop: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """loop.json -> [{round, held_out, decision, adapter}] (tolerant of the loop's exact field names)."""
    if not isinstance(loop, Mapping):
        return []
    rounds = loop.get("rounds") or []
    out = []
    for i, r in enumerate(rounds if isinstance(rounds, list) else []):
        if not isinstance(r, Mapping):
            continue
        n = r.get("round", r.get("index", i))
        decision = r.get("decision")
        if decision is None and isinstance(r.get("promoted"), bool):
            decision = "promoted" if r["promoted"] else "kept previous"
        adapter = r.get("adapter") or r.get("adapter_name") or r.get("name") or ""
        if isinstance(adapter, Mapping):
            adapter = adapter.get("name") or ""
        out.append({"round": int(n) if is_num(n) else i, "held_out": _held_rate(r),
                    "decision": str(decision or r.get("status") or ""), "adapter": str(adapter)})
    return out


def loop_baseline(loop: Mapping[str, Any] | None) -> float | None:
    if not isinstance(loop, Mapping):
        return None
    for k in ("baseline", "before", "initial", "round0"):
        if k in loop:
            v = _held_rate(loop[k]) if isinstance(loop[k], Mapping) else None
            v = v if v is not None else _find_rate(loop[k])
            if v is not None:
                return v
    return None


def read_jsonl(path: Path, limit: int = 200_000) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue          # a line being written
                if isinstance(rec, dict):
                    out.append(rec)
                if len(out) >= limit:
                    break
    except OSError:
        pass
    return out


__all__ = ["PICKS", "SORT_KEYS", "TABLE_COLUMNS", "TABLE_DATATYPES", "TABLE_HEADERS", "api_row", "by_tool",
           "by_violation", "command_line", "compare_runs", "conversation_markdown", "facets", "failure_detail",
           "failure_key", "failures", "leaderboard", "load_run_suite", "loop_baseline", "loop_rounds",
           "looks_like_secret", "md_escape", "pct", "read_jsonl", "run_choices", "run_label", "run_manifest",
           "run_summary", "scrub_text", "table_rows"]
