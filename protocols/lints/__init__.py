"""Per-call value lints, one module per family, and `call_lints`, which runs the families a tool has.

Each family takes raw values (XML params are strings; native args may be anything) and returns short
human messages; `call_lints` turns them into `Violation`s for one parsed call. Every check runs in
time linear in its input: values are scanned line by line or with `str.find`, and no regular
expression can backtrack over more than one short line or a bounded tail of the text.

    diff          apply_diff's SEARCH/REPLACE grammar (malformed_diff)
    placeholders  placeholder values, omitted code, write_to_file line_count (placeholder_content)
    omissions     the omitted-code comments placeholders reports
    completion    attempt_completion questions/offers, conversational openers
    todos         todo checklists            followup   follow_up suggestions
    read_file     read_file's <file> args    roo_tools  the tools the lints apply to
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from protocols import violations as V
from protocols.lints._text import cap, short
from protocols.lints.completion import completion_problem, opener_problem
from protocols.lints.diff import diff_blocks, diff_problems, diff_report
from protocols.lints.followup import followup_problems
from protocols.lints.placeholders import declared_line_count, placeholder_problems
from protocols.lints.read_file import MAX_READ_FILES, read_file_args_problems
from protocols.lints.roo_tools import ROO_TOOLS
from protocols.lints.todos import todo_problems
from protocols.types import Violation

__all__ = [
    "MAX_READ_FILES", "ROO_TOOLS", "call_lints", "completion_problem", "diff_problems", "followup_problems",
    "opener_problem", "placeholder_problems", "todo_problems",
]


def _join(problems: list[str]) -> str:
    return "; ".join(cap(problems))


def call_lints(name: str, arguments: Mapping[str, Any], mode_slugs: Collection[str] = ()) -> list[Violation]:
    """Value-level violations of one parsed call (missing params and schemas are checked elsewhere)."""
    if not isinstance(arguments, Mapping) or name not in ROO_TOOLS:
        return []
    out: list[Violation] = []
    invalid: list[str] = []

    parsed_diff = None
    if name == "apply_diff":
        diff = arguments.get("diff")
        if isinstance(diff, str) and diff.strip():
            parsed_diff = diff_blocks(diff)
            problems = diff_report(*parsed_diff)
            if problems:
                out.append(Violation(V.MALFORMED_DIFF, _join(problems)))

    placeholders = placeholder_problems(name, arguments, parsed_diff)
    if placeholders:
        out.append(Violation(V.PLACEHOLDER_CONTENT, _join(placeholders)))

    if name == "attempt_completion":
        result = arguments.get("result")
        if isinstance(result, str) and result.strip():
            q = completion_problem(result)
            if q:
                out.append(Violation(V.QUESTION_IN_COMPLETION, q))
            o = opener_problem(result)
            if o:
                out.append(Violation(V.CONVERSATIONAL_OPENER, o))
    elif name in ("update_todo_list", "new_task"):
        todos = arguments.get("todos")
        if isinstance(todos, str) and todos.strip():
            invalid += [f"todos: {p}" for p in todo_problems(todos)]
    elif name == "ask_followup_question":
        follow_up = arguments.get("follow_up")
        if isinstance(follow_up, str) and follow_up.strip():
            invalid += [f"follow_up: {p}" for p in followup_problems(follow_up, mode_slugs)]
    elif name == "read_file":
        args = arguments.get("args")
        if isinstance(args, str) and args.strip():
            invalid += [f"args: {p}" for p in read_file_args_problems(args)]
    elif name == "write_to_file":
        if declared_line_count(arguments.get("line_count")) == "bad":
            invalid.append(f"line_count '{short(str(arguments.get('line_count')))}' is not a whole number")

    if invalid:
        out.append(Violation(V.INVALID_PARAM_VALUE, _join(invalid)))
    return out
