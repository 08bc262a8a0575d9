"""A run's failures as training data: the harness half of `harness data export`, `harness train
--from-run` and the loop's data stage.

The harness reads the run directory (run.json, results.jsonl) and the suite the run was scored against
(checked by content hash, so the references are the ones the run used), and hands the cases and result
lines to `trainers.data.examples_from_results`, which builds the examples (trainers never read runs).

    examples, stats = export_run("runs/r1", replay=0.2, seed=0)
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import UserError


def run_suite(manifest: Mapping[str, Any], run_path: Path, suite_override: str | None = None) -> Any:
    """The suite a run was scored against: `suite_override` (--suite FILE) or the one run.json names,
    refused when its content changed since the run."""
    from harness.suite import load_suite
    rec = manifest.get("suite") or {}
    if suite_override:
        suite = load_suite(suite_override)
    else:
        path, name = rec.get("path"), rec.get("name")
        if path and Path(str(path)).is_file():
            suite = load_suite(str(path))
        elif name:
            try:
                suite = load_suite(str(name))
            except UserError:
                raise UserError(f"{run_path}/run.json: the run's suite {name!r} ({path}) is not found; "
                                f"pass --suite FILE") from None
        else:
            raise UserError(f"{run_path}/run.json: records no suite; pass --suite FILE")
    want = rec.get("hash")
    if want and suite.content_hash and want != suite.content_hash:
        raise UserError(f"{run_path}/run.json: suite {suite.name!r} changed since the run (content hash "
                        f"{str(want)[:12]}… vs {str(suite.content_hash)[:12]}…); the references must be those "
                        f"the run was scored against")
    return suite


def protocol_override(manifest: Mapping[str, Any]) -> str | None:
    """The run's --protocol override, if it had one."""
    ov = manifest.get("protocol_override")
    return ov if isinstance(ov, str) and ov else None


def export_run(run_dir: str | os.PathLike[str], *, replay: float = 0.0, seed: int = 0,
               suite: str | None = None) -> tuple[list[dict[str, Any]], Any]:
    """(examples, trainers.data.ExportStats) for a run directory: its failed train-split cases (one per
    case) plus a seeded replay share (`replay` = the fraction of the result that are passed cases)."""
    from trainers import data

    from harness.log.rundir import RunDir
    data.check_replay(replay)
    rd = RunDir(run_dir).require()
    manifest = rd.manifest()
    system = data.SystemPrompt.from_record(manifest.get("system_prompt"), str(rd.manifest_path))
    s = run_suite(manifest, rd.path, suite)
    return data.examples_from_results(s.cases, rd.results(), system, protocol=protocol_override(manifest),
                                      replay=replay, seed=seed, suite_name=s.name,
                                      stats=data.ExportStats(run=str(rd.path)))


def examples_from_run(run_dir: str | os.PathLike[str], *, replay: float = 0.0, seed: int = 0,
                      suite: str | None = None) -> list[dict[str, Any]]:
    """The training examples of a run (`export_run` without the counts)."""
    return export_run(run_dir, replay=replay, seed=seed, suite=suite)[0]


__all__ = ["examples_from_run", "export_run", "protocol_override", "run_suite"]
