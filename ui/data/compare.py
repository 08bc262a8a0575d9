"""Two runs side by side for the compare tab and the `/compare` API: harness.score.compare's paired
comparison (the same numbers as `harness compare`) plus what the page adds — each run's model, suite and
folder, the flipped cases with their pass counts and violation codes, and a note when the suites differ.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _codes(results: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """id -> the violation codes of its scored samples (sorted, distinct)."""
    out: dict[str, set[str]] = {}
    for r in results:
        if r.get("status") == "ok":
            out.setdefault(str(r.get("id")), set()).update(
                str(v.get("code")) for v in (r.get("violations") or []) if isinstance(v, Mapping))
    return {k: sorted(v) for k, v in out.items()}


def compare_runs(run_a: str, run_b: str) -> dict[str, Any]:
    """Two runs side by side: pass rates with Wilson CIs, flipped cases, exact McNemar p (majority over
    samples per case) — the same computation as `harness compare`."""
    from harness.log.rundir import RunDir
    from harness.score.compare import case_verdicts, compare
    rda, rdb = RunDir(run_a).require(), RunDir(run_b).require()
    ra, rb = rda.results(), rdb.results()
    res = compare(ra, rb)
    ma, mb = rda.manifest(), rdb.manifest()
    notes = []
    sa, sb = ma.get("suite") or {}, mb.get("suite") or {}
    if isinstance(sa, Mapping) and isinstance(sb, Mapping) and sa.get("hash") != sb.get("hash"):
        notes.append(f"the runs used different suite contents ({sa.get('name')} vs {sb.get('name')}); "
                     f"only case ids present in both are paired")
    codes_a, codes_b = _codes(ra), _codes(rb)
    count_a, count_b = case_verdicts(ra), case_verdicts(rb)
    flipped = []
    for direction, ids in (("pass → fail", res["flipped"]["pass_to_fail"]),
                           ("fail → pass", res["flipped"]["fail_to_pass"])):
        for cid in ids:
            ca, cb = count_a.get(cid, (0, 0)), count_b.get(cid, (0, 0))
            flipped.append({"id": cid, "direction": direction, "a_passed": f"{ca[1]}/{ca[0]}",
                            "b_passed": f"{cb[1]}/{cb[0]}", "a_violations": ", ".join(codes_a.get(cid, [])),
                            "b_violations": ", ".join(codes_b.get(cid, []))})
    for label, m, rd in (("a", ma, rda), ("b", mb, rdb)):
        res[label].update(model=m.get("model"), suite=(m.get("suite") or {}).get("name")
                          if isinstance(m.get("suite"), Mapping) else m.get("suite"), run_dir=str(rd.path))
    res["flipped_rows"] = flipped
    res["notes"] = notes
    return res


__all__ = ["compare_runs"]
