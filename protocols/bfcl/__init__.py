"""BFCL (Berkeley Function Calling Leaderboard) semantics: request tools and the AST checker.

Our own implementation of what `bfcl-eval` 2026.3.23 does for its single-turn Python categories
(`bfcl_eval/model_handler/utils.py: convert_to_tool` for the request, `eval_checker/eval_runner.py`
plus `eval_checker/ast_eval/ast_checker.py` for the verdict). Agreement with BFCL itself is measured
by `bench/bfcl_agreement.py`, which runs BFCL's own checker as an oracle.

`convert` builds the request (`to_json_schema`, `functions_to_tools`: the OpenAI `tools` BFCL sends);
`checker` gives BFCL's verdict on the calls (`check`, `check_result`), with the semantics it mirrors.
"""
from __future__ import annotations

from protocols.bfcl.checker import BfclCategoryError, CheckResult, check, check_result, expected_from_calls, \
    normalize_string
from protocols.bfcl.convert import FLOAT_NOTE, OPENAPI_TYPES, PYTHON_HINT, functions_to_tools, to_json_schema

BFCL_VERSION = "2026.3.23"

__all__ = [
    "BFCL_VERSION", "BfclCategoryError", "CheckResult", "FLOAT_NOTE", "OPENAPI_TYPES", "PYTHON_HINT",
    "check", "check_result", "expected_from_calls", "functions_to_tools", "normalize_string",
    "to_json_schema",
]
