"""Test suites: the case model, loading with FILE:LINE problems, validation, writing, shipped suites.

    from harness.suite import load_suite, check, dump_suite
    suite = load_suite("roo-core")            # a shipped suite by name, or a path

Inside: `model` (Case, Expect, ExpectedCall, Suite), `shipped` (the suites package, name -> file),
`load` (parse YAML/JSONL keeping lines; check/load_suite), `validate` and `validate_expect` (the
rules), `problems` (FILE:LINE rendering), `schemas` (JSON Schema validity, fast), `parse_cache`
(the on-disk cache and its markers), `write` (case_to_dict, dump_suite); `generate/` (the seeded
generator) and `importers/` (BFCL) are subpackages.
"""
from __future__ import annotations

from harness.suite.load import check, load_suite, suite_summary, validate_file
from harness.suite.model import Case, Expect, ExpectedCall, Suite
from harness.suite.schemas import schema_problem
from harness.suite.shipped import SUITE_EXTS, list_shipped, resolve, shipped_path
from harness.suite.validate import CASE_KEYS, SUITE_KEYS
from harness.suite.write import case_to_dict, dump_suite

__all__ = ["CASE_KEYS", "SUITE_EXTS", "SUITE_KEYS", "Case", "Expect", "ExpectedCall", "Suite", "case_to_dict",
           "check", "dump_suite", "list_shipped", "load_suite", "resolve", "schema_problem", "shipped_path",
           "suite_summary", "validate_file"]
