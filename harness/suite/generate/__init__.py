"""The seeded suite generator: a spec (YAML, under suites/specs/) -> cases with train/test splits.

    from harness.suite.generate import generate, generate_suite, write_suite
    cases = generate("roo-core", seed=7)          # a shipped spec by name, or a path, or a mapping

Inside: `spec` (reading specs; the spec format), `values` (templates and parameter values), `patterns`
(the regexes of expectations), `calls` (a value in the protocol's wire, and its expectation), `env`
(environment details and user turns), `recovery` (failed turns and Roo's feedback), `splits`
(near-duplicate keys and the leak-free train/test split), `build` (pools, decks, cases, generate).
"""
from __future__ import annotations

from harness.suite.generate.build import GENERATOR_VERSION, generate, generate_suite, write_suite
from harness.suite.generate.recovery import FAILURES
from harness.suite.generate.spec import SpecError, list_specs, load_spec
from harness.suite.generate.splits import case_keys, leakage, text_key, value_key
from harness.suite.generate.values import Value, build_value, fill

__all__ = ["FAILURES", "GENERATOR_VERSION", "SpecError", "Value", "build_value", "case_keys", "fill", "generate",
           "generate_suite", "leakage", "list_specs", "load_spec", "text_key", "value_key", "write_suite"]
