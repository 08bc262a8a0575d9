"""Unit and property tests for protocols/lints/ (value grammar, placeholders, prompt rules R4-R9)."""
from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import violations as V
from protocols.lints import (
    ROO_TOOLS,
    call_lints,
    completion_problem,
    diff_problems,
    followup_problems,
    opener_problem,
    placeholder_problems,
    todo_problems,
)


def block(search: str, replace: str, start: int | None = 1, dashes: bool = True, head: str = "<<<<<<< SEARCH") -> str:
    parts = [head]
    if start is not None:
        parts.append(f":start_line:{start}")
    if dashes:
        parts.append("-------")
    parts += [search, "=======", replace, ">>>>>>> REPLACE"]
    return "\n".join(parts)


def codes(vs) -> list[str]:
    return [v.code for v in vs]


# ======================================================================================== apply_diff

class TestDiffAccepted:
    def test_canonical_block(self):
        assert diff_problems(block("old = 1", "new = 2")) == []

    def test_search_marker_with_extra_angle(self):
        assert diff_problems(block("old", "new", head="<<<<<<< SEARCH>")) == []

    def test_search_marker_with_trailing_blanks(self):
        assert diff_problems(block("old", "new", head="<<<<<<< SEARCH>  ")) == []
        assert diff_problems(block("old", "new", head="<<<<<<< SEARCH\t")) == []

    def test_separator_with_trailing_blanks(self):
        d = "<<<<<<< SEARCH\n:start_line:3\n-------\nold\n=======  \nnew\n>>>>>>> REPLACE"
        assert diff_problems(d) == []

    def test_several_blocks_mixed_markers(self):
        d = block("a", "b", start=1, head="<<<<<<< SEARCH>") + "\n\n" + block("c", "d", start=9)
        assert diff_problems(d) == []

    def test_start_and_end_line(self):
        d = "<<<<<<< SEARCH\n:start_line:5\n:end_line:10\n-------\nfind me\n=======\nreplaced\n>>>>>>> REPLACE"
        assert diff_problems(d) == []

    def test_start_line_without_dashes(self):
        assert diff_problems(block("content1", "new1", start=10, dashes=False)) == []

    def test_start_line_with_blank_between_colon_and_number(self):
        assert diff_problems(block("x", "y", start=None).replace("<<<<<<< SEARCH", "<<<<<<< SEARCH\n:start_line: 7")) == []

    def test_prose_before_and_between_blocks_is_ignored(self):
        d = "test.ts\n" + block("a", "b") + "\nsome words\n" + block("c", "d", start=4)
        assert diff_problems(d) == []

    def test_empty_replace_deletes(self):
        assert diff_problems(block("    // Comment to remove", "")) == []

    def test_escaped_markers_are_content(self):
        search = "before\n\\=======\n\\<<<<<<< SEARCH\n\\>>>>>>> REPLACE\n\\-------\nafter"
        replace = "before\n\\:start_line:5\n\\:end_line:10\nafter"
        assert diff_problems(block(search, replace)) == []

    def test_crlf_inside_content_and_markers_before_last(self):
        d = "<<<<<<< SEARCH\r\n:start_line:1\r\n-------\r\nold\r\n=======\r\nnew\r\n>>>>>>> REPLACE"
        assert diff_problems(d) == []

    def test_line_number_prefixes_in_search(self):
        assert diff_problems(block("2 | line to delete", "")) == []

    def test_marker_like_text_inside_lines(self):
        assert diff_problems(block("x = '<<<<<<< SEARCH'", "y = '======='")) == []


class TestDiffRejected:
    def one(self, diff: str) -> str:
        problems = diff_problems(diff)
        assert problems, diff
        return " | ".join(problems)

    def test_separator_before_search(self):
        msg = self.one("=======\ncontent\n>>>>>>> REPLACE")
        assert "line 1" in msg and "'======='" in msg

    def test_replace_before_search(self):
        assert "line 1" in self.one(">>>>>>> REPLACE\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE")

    def test_missing_separator(self):
        msg = self.one("<<<<<<< SEARCH\ncontent\n>>>>>>> REPLACE")
        assert "block 1" in msg and "line 3" in msg and "separator" in msg

    def test_two_separators(self):
        msg = self.one("<<<<<<< SEARCH\ncontent\n=======\n=======\n>>>>>>> REPLACE")
        assert "line 4" in msg and "'======='" in msg

    def test_separator_in_replace_of_second_block(self):
        d = block("a", "b") + "\n" + block("c", "d\n=======\ne", start=5)
        assert "block 2" in self.one(d)

    def test_bare_replace_prefix_before_separator(self):
        msg = self.one("<<<<<<< SEARCH\ncontent\n>>>>>>>")
        assert "'>>>>>>>'" in msg and "escape" in msg

    def test_conflict_marker_inside_search(self):
        assert "escape" in self.one(block("<<<<<<< HEAD\nx", "y"))

    def test_conflict_marker_inside_replace(self):
        assert "REPLACE part" in self.one(block("x", ">>>>>>> branch"))

    def test_double_angle_search_marker(self):
        assert self.one("<<<<<<< SEARCH>>\nsome content\n=======\nnew content\n>>>>>>> REPLACE")

    def test_spaced_angle_search_marker(self):
        assert self.one("<<<<<<< SEARCH  >\nsome content\n=======\nnew content\n>>>>>>> REPLACE")

    def test_second_search_before_separator(self):
        assert "second '<<<<<<< SEARCH'" in self.one("<<<<<<< SEARCH\na\n<<<<<<< SEARCH\nb\n=======\nc\n>>>>>>> REPLACE")

    def test_search_before_replace(self):
        assert "not closed" in self.one("<<<<<<< SEARCH\na\n=======\nb\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE")

    def test_incomplete_after_separator(self):
        msg = self.one("<<<<<<< SEARCH\ncontent\n=======\nnew content")
        assert "'>>>>>>> REPLACE' not found" in msg

    def test_incomplete_after_search(self):
        assert "'=======' not found" in self.one("<<<<<<< SEARCH\n:start_line:1\n-------\ncontent")

    @pytest.mark.parametrize("marker", [":start_line:5", ":end_line:10", "  :start_line:5  ", ":end_line:"])
    def test_line_marker_in_replace(self, marker):
        d = f"<<<<<<< SEARCH\ncontent to find\n=======\nsome replacement\n{marker}\nmore\n>>>>>>> REPLACE"
        msg = self.one(d)
        assert "REPLACE part" in msg and marker.strip()[:10] in msg

    def test_line_marker_in_replace_of_later_block(self):
        d = block("content1", "replacement1") + "\n\n" + block("content2", ":start_line:5\nreplacement2", start=None)
        assert "block 2" in self.one(d)

    def test_no_block_at_all(self):
        assert "missing required sections" in self.one("test.ts\nInvalid diff format")

    def test_empty_string(self):
        assert "missing required sections" in self.one("")

    @pytest.mark.parametrize("search", ["", "   ", "\n\n"])
    def test_empty_search(self, search):
        assert "empty" in self.one(block(search, "new"))

    def test_empty_search_without_header(self):
        assert "empty" in self.one("<<<<<<< SEARCH\n=======\nnew\n>>>>>>> REPLACE")

    def test_missing_start_line_is_reported(self):
        msg = self.one(block("a", "b", start=None))
        assert "block 1" in msg and ":start_line:" in msg

    def test_missing_start_line_names_the_blocks(self):
        d = block("a", "b") + "\n" + block("c", "d", start=None) + "\n" + block("e", "f", start=None, dashes=False)
        problems = diff_problems(d)
        assert problems == ["blocks 2, 3: no ':start_line:N' line after '<<<<<<< SEARCH' (the prompt requires one)"]

    def test_start_line_after_dashes_is_search_text(self):
        msg = self.one("<<<<<<< SEARCH\n-------\n:start_line:3\nold\n=======\nnew\n>>>>>>> REPLACE")
        assert "line 3" in msg and "as text" in msg

    def test_indented_start_line_is_search_text(self):
        assert "as text" in self.one("<<<<<<< SEARCH\n  :start_line:3\n-------\nold\n=======\nnew\n>>>>>>> REPLACE")

    def test_start_line_without_number(self):
        assert "as text" in self.one("<<<<<<< SEARCH\n:start_line: abc\n-------\nold\n=======\nnew\n>>>>>>> REPLACE")

    def test_start_line_zero(self):
        assert "start at 1" in self.one(block("a", "b", start=0))

    def test_end_before_start(self):
        d = "<<<<<<< SEARCH\n:start_line:9\n:end_line:3\n-------\nold\n=======\nnew\n>>>>>>> REPLACE"
        assert ":end_line:3" in self.one(d)

    def test_text_glued_to_dashes(self):
        d = "<<<<<<< SEARCH\n:start_line:1\n-------old = 1\n=======\nnew = 1\n>>>>>>> REPLACE"
        assert "'-------'" in self.one(d)

    def test_identical_search_and_replace(self):
        assert "identical" in self.one(block("same\nlines", "same\nlines"))

    def test_indented_marker(self):
        msg = self.one("  <<<<<<< SEARCH\n:start_line:1\n-------\na\n=======\nb\n>>>>>>> REPLACE")
        assert "indented" in msg and "missing required sections" in msg

    def test_replace_marker_with_trailing_text_merges_blocks(self):
        d = block("a", "b").replace(">>>>>>> REPLACE", ">>>>>>> REPLACE  ") + "\n" + block("c", "d", start=5)
        problems = diff_problems(d)
        assert any("block 1" in p and "trailing characters" in p for p in problems)
        assert not any("missing required sections" in p for p in problems)  # block 2 still reads

    def test_crlf_replace_marker_not_last(self):
        d = block("a", "b").replace("\n", "\r\n") + "\r\n" + block("c", "d", start=5)
        assert "block 1" in self.one(d)

    def test_non_string(self):
        assert diff_problems(None) == ["diff is not text"]  # type: ignore[arg-type]


# A transcription of Roo's block pattern (multi-search-replace.ts @ v3.29.3) with JavaScript semantics
# (\s as JS whitespace, \d as ASCII digits, $ as end of input). It backtracks badly on big inputs, so
# it is only an oracle for small generated diffs.
_JS_S = "[\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_ROO_BLOCK = re.compile(
    r"(?:\A|\n)(?<!\\)<<<<<<< SEARCH>?S*\n((?::start_line:S*([0-9]+)S*\n))?((?::end_line:S*([0-9]+)S*\n))?"
    r"((?<!\\)-------S*\n)?([\s\S]*?)(?:\n)?(?:(?<=\n)(?<!\\)=======S*\n)([\s\S]*?)(?:\n)?"
    r"(?:(?<=\n)(?<!\\)>>>>>>> REPLACE)(?=\n|\Z)".replace("S*", _JS_S + "*"))

_CONTENT = st.sampled_from(["", "  ", "a", "  b", "x\r", "7", "\\=======", "\\:start_line:2", "-------", "------- ",
                            "-------x", "--------", ":start_line:3", "  :end_line:4", "<<<<<<< HEAD", ">>>>>>> x",
                            "=======", "\t"])
_HEADER = st.sampled_from([":start_line:3", ":start_line:", ":start_line: 12 ", "  :start_line:4", ":start_line:0",
                           ":start_line:x", ":end_line:9", "-------", "------- ", "-------x", "", " ", "12"])


@st.composite
def _diffs(draw):
    """Diffs built from blocks whose marker lines, headers and contents vary around Roo's grammar."""
    out: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        out += draw(st.lists(st.sampled_from(["", "prose", "  "]), max_size=1))
        out.append(draw(st.sampled_from(["<<<<<<< SEARCH", "<<<<<<< SEARCH>", "<<<<<<< SEARCH  ",
                                         " <<<<<<< SEARCH", "<<<<<<< SEARCH\r"])))
        out += draw(st.lists(_HEADER, max_size=4))
        out += draw(st.lists(_CONTENT, max_size=3))
        out.append(draw(st.sampled_from(["=======", "======= ", "  =======", "=======\r"])))
        out += draw(st.lists(_CONTENT, max_size=3))
        out.append(draw(st.sampled_from([">>>>>>> REPLACE", ">>>>>>> REPLACE", ">>>>>>> REPLACE ",
                                         " >>>>>>> REPLACE", ">>>>>>> REPLACE\r"])))
    if draw(st.booleans()):
        out.append(draw(st.sampled_from(["", "\n", "trailing"])))
    return "\n".join(out)


def _intended(diff: str) -> tuple[int, list[tuple[int, str, str]]] | None:
    """The blocks the lint's own parse sees (None when it reports a structural or marker problem)."""
    from protocols.lints.diff import diff_blocks
    blocks, error = diff_blocks(diff)
    if error or not blocks or not all(b.recognised for b in blocks):
        return None
    return len(blocks), [(b.start or 0, "\n".join(b.search), "\n".join(b.replace)) for b in blocks]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_diffs())
def test_block_reading_agrees_with_roos_pattern(diff):
    mine = _intended(diff)
    if mine is None:
        return
    n, blocks = mine
    found = [(int(m.group(2) or 0), m.group(6), m.group(7)) for m in _ROO_BLOCK.finditer(diff)]
    assert found == blocks, diff
    empty = any(s == "" for _, s, _ in blocks)
    assert any("empty" in p for p in diff_problems(diff)) == empty


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_diffs())
def test_reported_marker_problem_means_roo_reads_the_blocks_differently(diff):
    from protocols.lints.diff import diff_blocks, marker_sequence
    blocks, error = diff_blocks(diff)
    if error or not blocks or all(b.recognised for b in blocks):
        return
    triples, _ = marker_sequence(diff.split("\n"))
    matches = list(_ROO_BLOCK.finditer(diff))
    # Roo either sees fewer blocks, or one of its blocks runs over another block's markers.
    assert len(matches) < len(triples) or any(">>>>>>> REPLACE" in m.group(7) or "=======" in m.group(6)
                                               for m in matches), diff


# ======================================================================================== placeholders

@pytest.mark.parametrize("path", [
    "path/to/file", "path/to/your/file.py", "/path/to/project/main.py", "C:\\path\\to\\file.txt", "<path>",
    "<file_path>", "your_file_here", "your_file.py", "src/your-module/index.js", "TODO", "...", "…",
    "[insert path here]", "{file_path}", "src/.../main.py", "filename.ext", "src/file_here.txt", "N/A",
    "src/<component>.tsx", "yourfile.js",
])
def test_path_placeholders(path):
    assert placeholder_problems("read_file", {"path": path}), path
    assert codes(call_lints("write_to_file", {"path": path, "content": "x", "line_count": "1"})) == [
        V.PLACEHOLDER_CONTENT]


@pytest.mark.parametrize("path", [
    "src/main.py", "app/[slug]/page.tsx", "pages/[...slug].tsx", "{{cookiecutter.project_slug}}/README.md",
    "docs/rest-api.md", "src/todo.py", "TODO.md", "public/placeholder.png", "path/tool.py", "lib/path/to.js",
    "yourself.py", "my_path/to_do.txt", "src/app/(auth)/login/page.tsx", "./README.md", "a b/c.txt",
])
def test_path_negatives(path):
    assert placeholder_problems("read_file", {"path": path}) == [], path


def test_cwd_and_image_are_paths():
    assert placeholder_problems("execute_command", {"command": "npm test", "cwd": "/path/to/project"})
    assert placeholder_problems("generate_image", {"prompt": "a cat", "path": "cat.png", "image": "<image>"})


@pytest.mark.parametrize("command", [
    "cd /path/to/project && npm test", "<command>", "your_command_here", "git push origin <your-branch>",
    "cat ~/path/to/config", "TODO", "...",
])
def test_command_placeholders(command):
    assert placeholder_problems("execute_command", {"command": command}), command


@pytest.mark.parametrize("command", [
    "npm test", "grep -rn 'TODO' src", "echo '<div>' > a.html", "python -c 'print(1)'", "ls ..", "cd .. && ls",
    "sort <in.txt >out.txt", "pytest tests/test_paths.py",
])
def test_command_negatives(command):
    assert placeholder_problems("execute_command", {"command": command}) == [], command


def test_generic_whole_value_placeholders():
    assert placeholder_problems("switch_mode", {"mode_slug": "<mode>", "reason": "TODO"}) == [
        "mode_slug '<mode>' is a placeholder", "reason 'TODO' is a placeholder"]
    assert placeholder_problems("new_task", {"mode": "code", "message": "..."})
    assert placeholder_problems("codebase_search", {"query": "[insert query here]"})
    assert placeholder_problems("attempt_completion", {"result": "..."})


def test_literal_values_where_placeholders_are_meant():
    # a regex or search string may well be "TODO" or "..."
    assert placeholder_problems("search_files", {"path": "src", "regex": "TODO"}) == []
    assert placeholder_problems("search_files", {"path": "src", "regex": "..."}) == []
    assert placeholder_problems("search_and_replace", {"path": "a.py", "search": "TODO", "replace": "DONE"}) == []
    assert placeholder_problems("browser_action", {"action": "type", "text": "..."}) == []


def test_read_file_args_paths_and_native_files():
    args = "<file><path>src/a.py</path></file><file><path>path/to/file.py</path></file>"
    assert placeholder_problems("read_file", {"args": args}) == ["path 'path/to/file.py' is a 'path/to/...' template"]
    files = [{"path": "src/a.py", "line_ranges": None}, {"path": "<path>", "line_ranges": None}]
    assert placeholder_problems("read_file", {"files": files})


def test_non_roo_tools_and_non_strings_are_ignored():
    assert placeholder_problems("get_weather", {"path": "path/to/file"}) == []
    assert placeholder_problems("read_file", {"path": 3, "args": ["x"], "files": "nope"}) == []
    assert placeholder_problems("read_file", "not a mapping") == []  # type: ignore[arg-type]


OMISSIONS = [
    "// Lines 1-50 remain unchanged",
    "// Previous content remains here",
    "# Previous content remains here",
    "/* Previous content remains the same */",
    "{/* Rest of the code remains the same */}",
    "<!-- Existing content unchanged -->",
    "[Previous content from line 1-305 remains exactly the same]",
    "// rest of code unchanged",
    "# ... existing code ...",
    "/* previous code */",
    "<!-- remaining content -->",
    "...",
    "…",
    "    // ... rest of the file",
    "  # ... (omitted for brevity)",
    "// Your code here",
    "-- rest of the queries unchanged",
    "// ...",
    "    // … existing methods …",
    "/* ... */",
    "// keep existing code",
    "// Implementation goes here",
    "// (rest of file unchanged)",
    " * rest of the methods remain unchanged",
    "// code omitted",
    "% rest of document unchanged",
    "; rest of config unchanged",
    "// everything else stays the same",
    "// unchanged",
]


@pytest.mark.parametrize("line", OMISSIONS)
def test_omission_comments(line):
    content = f"function a() {{\n  return 1;\n}}\n{line}\nfunction b() {{}}\n"
    problems = placeholder_problems("write_to_file", {"path": "src/app.jsx", "content": content})
    assert problems and "line 4" in problems[0], line


NOT_OMISSIONS = [
    "const remains = 'some value';",
    "const unchanged = true;",
    "// Adding new functionality",
    'const s = "// rest of code unchanged";',
    "rest_of_code = compute()",
    "restOfCode();",
    "# Existing routes",
    "// Other methods",
    "// keep other fields unchanged",
    "// If the content is unchanged, skip the write",
    "# Handle the rest of the request",
    "// rest of the arguments are forwarded to the handler",
    "#rest-of-page { color: red }",
    "#include <rest.h>",
    "  --rest-of-args \\",
    "*rest_of_code = 0;",
    "// TODO: handle the remaining cases",
    "// previous value is the same, skip",
    "// Original implementation by John",
    "# existing code path handles retries",
    "// Remaining items are processed in the next loop",
    "x = [...rest]",
    "[rest, of, code] = parts",
    '["rest", "of", "code"]',
    "// This is a legitimate comment that remains here",
    "// return the content as is",
    "---",
    "print('...')",
]


@pytest.mark.parametrize("line", NOT_OMISSIONS)
def test_not_omission_comments(line):
    content = f"line one\n{line}\nline three"
    assert placeholder_problems("write_to_file", {"path": "src/app.js", "content": content}) == [], line


def test_bare_ellipsis_is_code_in_python_yaml_and_prose():
    stub = "class P(Protocol):\n    def f(self) -> int:\n        ...\n"
    assert placeholder_problems("write_to_file", {"path": "p.py", "content": stub}) == []
    assert placeholder_problems("write_to_file", {"path": "p.pyi", "content": stub}) == []
    assert placeholder_problems("write_to_file", {"path": "a.yaml", "content": "a: 1\n...\n"}) == []
    assert placeholder_problems("write_to_file", {"path": "notes.md", "content": "Wait\n...\nthen"}) == []
    assert placeholder_problems("write_to_file", {"path": "a.ts", "content": "let a\n...\n"})
    # but an ellipsis comment is an omission even in Python
    assert placeholder_problems("write_to_file", {"path": "p.py", "content": "import os\n# ...\n"})


def test_markdown_headings_are_not_comments():
    md = "# Rest of the guide\n\n## Existing content\n\n* rest of items unchanged\n\nText."
    assert placeholder_problems("write_to_file", {"path": "docs/guide.md", "content": md}) == []
    md2 = "# Title\n<!-- rest of the document unchanged -->\n"
    assert placeholder_problems("write_to_file", {"path": "docs/guide.md", "content": md2})


def test_insert_content_omissions():
    assert placeholder_problems("insert_content", {"path": "a.js", "line": "3", "content": "// ... existing code"})
    assert placeholder_problems("insert_content", {"path": "a.js", "line": "3", "content": "foo();\nbar();"}) == []


def test_apply_diff_replace_omissions_not_in_search():
    bad = block("function a() {\n  one();\n  two();\n}", "function a() {\n  // ... existing code ...\n  three();\n}")
    problems = placeholder_problems("apply_diff", {"path": "a.js", "diff": bad})
    assert problems == ["block 1, line 10: omission comment '// ... existing code ...' instead of the real code"]
    kept = block("// ... existing code ...\nold();", "// ... existing code ...\nnew();")
    assert placeholder_problems("apply_diff", {"path": "a.js", "diff": kept}) == []


def test_omission_listing_is_capped():
    content = "// rest of code unchanged\n" * 100
    problems = placeholder_problems("write_to_file", {"path": "a.js", "content": content})
    assert len(problems) == 9 and problems[-1] == "… and 92 more"


@pytest.mark.parametrize("content,declared,ok", [
    ("a\nb\nc", "3", True), ("a\nb\nc", "2", False), ("a\nb\nc", "4", False), ("a\nb\n", "2", True),
    ("a\nb\n", "3", True), ("", "0", True), ("", "1", True), ("one", 1, True), ("one", 2, False),
    ("```py\na = 1\n```", "1", True), ("```py\na = 1\n```", "3", True), ("x\n" * 100, " 100 ", True),
    ("a\r\nb\r\n", "2", True), ("a", 1.0, True),
])
def test_line_count(content, declared, ok):
    problems = placeholder_problems("write_to_file", {"path": "a.txt", "content": content, "line_count": declared})
    assert (problems == []) is ok, problems
    if not ok:
        assert problems[0].startswith(f"line_count {int(str(declared).strip())} does not match")


def test_line_count_codes():
    vs = call_lints("write_to_file", {"path": "a.txt", "content": "a\nb", "line_count": "7"})
    assert codes(vs) == [V.PLACEHOLDER_CONTENT] and "line_count 7" in vs[0].detail
    vs = call_lints("write_to_file", {"path": "a.txt", "content": "a\nb", "line_count": "two"})
    assert codes(vs) == [V.INVALID_PARAM_VALUE] and "line_count 'two'" in vs[0].detail
    assert call_lints("write_to_file", {"path": "a.txt", "content": "a\nb", "line_count": None}) == []
    assert call_lints("write_to_file", {"path": "a.txt", "content": "a\nb"}) == []


# ======================================================================================== attempt_completion

@pytest.mark.parametrize("result", [
    "Done. Would you like me to add tests?",
    "I fixed the bug.\n\nLet me know if you need anything else.",
    "Updated the config. Feel free to ask if you have questions.",
    "All tests pass. Is there anything else I can help with",
    "Do you want me to also update the docs?",
    "The endpoint is live. I can also add unit tests if you'd like.",
    "Refactored the module. If you have any other questions, just ask.",
    "Deployed to staging. Want me to deploy it to production too?",
    "Renamed the variable. Let me know if you'd like any changes! 😊",
    "Migrated the schema.\n\n**Would you like me to continue with the data?**",
    "The README is written.\n\nLet me know if you need anything else.\n\nHappy coding!",
    "Fixed it. Should I also update the changelog.",
    "Done. Don't hesitate to reach out for further adjustments.",
    "Implemented the parser. If you'd like, I can add streaming support next.",
    "Created the component (want me to add stories?)",
    "Want me to run it?\n```bash\nnpm test\n```",
    "Added the route. Any questions？",
])
def test_completion_questions_and_offers(result):
    msg = completion_problem(result)
    assert msg, result
    assert codes(call_lints("attempt_completion", {"result": result})) == [V.QUESTION_IN_COMPLETION]


@pytest.mark.parametrize("result", [
    "I updated `config.yaml` so the server listens on port 8080.",
    "The function now handles empty input; run `pytest` to verify.",
    "If you need to change the port, edit config.yaml.",
    "Added the `?` operator for optional chaining.",
    "The regex is `colou?r`",
    "Created README.md with installation and usage sections.",
    "Here is the regex:\n```\n^a?$\n```",
    "Let me summarize: all tests pass.",
    "Nothing else was changed.",
    "The FAQ entry 'Why does it fail?' now has an answer.",
    "If you need more memory, raise the limit in settings.json.",
    "Run it with:\n\n```bash\nnpm start\n```\n",
    "",
    "   ",
    "Fixed the crash; the question of caching is left for later.",
])
def test_completion_negatives(result):
    assert completion_problem(result) is None, result


def test_completion_non_string():
    assert completion_problem(None) is None  # type: ignore[arg-type]


# ======================================================================================== openers

@pytest.mark.parametrize("text", [
    "Great, I fixed it.", "Certainly! Here is the file.", "Okay, done.", "OK. Done.", "ok done", "Sure - done",
    "Sure", "  Great!", "**Sure!** I updated it.", "<thinking>plan</thinking>\nGreat, the tests pass.",
    "<thinking>a</thinking><thinking>b</thinking> Okay then", "> Okay, here it is", "OKAY, fine", "Sure, ",
    "<think>hmm</think>\n\nCertainly.", "\"Sure\", I said",
])
def test_openers(text):
    assert opener_problem(text), text


@pytest.mark.parametrize("text", [
    "Surely this works", "Greatest common divisor is now cached", "Okapi support added", "Sure-fire fix applied",
    "I updated the file. Great results.", "<thinking>Sure, let me think</thinking>\nUpdated the file.",
    "<thinking>unclosed Sure", "Certainty is hard", "OKR dashboard updated", "Greatly improved speed", "",
    "The result is great.", "Surety bonds added",
])
def test_opener_negatives(text):
    assert opener_problem(text) is None, text


def test_completion_opener_code():
    vs = call_lints("attempt_completion", {"result": "Sure! I fixed the bug."})
    assert codes(vs) == [V.CONVERSATIONAL_OPENER]
    vs = call_lints("attempt_completion", {"result": "Great! Want anything else?"})
    assert codes(vs) == [V.QUESTION_IN_COMPLETION, V.CONVERSATIONAL_OPENER]


# ======================================================================================== todos

@pytest.mark.parametrize("todos", [
    "[ ] a", "- [ ] a", "-[x] a", "[X] a", "[-] a", "[~] a", "- [ x ] a", "[  ] a", "  - [ ] indented",
    "[ ] a\n\n[x] b\n", "[ ] a\r\n[x] b\r\n", "- [ ]   spaced text", "-   [-] in progress",
])
def test_todo_accepted(todos):
    assert todo_problems(todos) == [], todos


@pytest.mark.parametrize("todos", [
    "* [ ] a", "1. [ ] a", "[] a", "[x]a", "[ ]", "- [ ]", "[y] a", "a plain line", "- a", "[\t] a",
    "[ ] ok\nnot ok", "[xx] a",
])
def test_todo_rejected(todos):
    problems = todo_problems(todos)
    assert problems, todos


def test_todo_messages_and_codes():
    problems = todo_problems("[ ] ok\n* nope\n[x] fine")
    assert problems == ["line 2 '* nope' is not a checklist item ('[ ] task', '[x] task' or '[-] task')"]
    assert todo_problems("no items here") [-1] == "no checklist item at all"
    vs = call_lints("update_todo_list", {"todos": "* nope"})
    assert codes(vs) == [V.INVALID_PARAM_VALUE] and vs[0].detail.startswith("todos: line 1")
    assert codes(call_lints("new_task", {"mode": "code", "message": "go", "todos": "1. x"})) == [V.INVALID_PARAM_VALUE]
    assert call_lints("new_task", {"mode": "code", "message": "go", "todos": "[ ] x"}) == []
    assert call_lints("update_todo_list", {"todos": ["[ ] native list"]}) == []


# ======================================================================================== follow_up

@pytest.mark.parametrize("n,ok", [(0, False), (1, False), (2, True), (3, True), (4, True), (5, False)])
def test_followup_counts(n, ok):
    fu = "\n".join(f"<suggest>option {i}</suggest>" for i in range(n))
    assert (followup_problems(fu if n else "just text", ()) == []) is ok


def test_followup_modes():
    modes = {"code", "architect", "ask"}
    good = '<suggest mode="code">Switch to code</suggest><suggest>Stay</suggest>'
    assert followup_problems(good, modes) == []
    bad = '<suggest mode="nope">Switch</suggest><suggest>Stay</suggest>'
    assert followup_problems(bad, modes) == ["suggestion 1 names unknown mode 'nope'"]
    assert followup_problems(bad, ()) == []
    assert followup_problems("<suggest mode='ask'>a</suggest><suggest>b</suggest>", modes) == []
    assert followup_problems("<suggest mode=code>a</suggest><suggest>b</suggest>", modes) == [
        "suggestion 1: the mode attribute needs a quoted value"]
    assert followup_problems('<suggest id="1">a</suggest><suggest>b</suggest>', modes) == [
        "suggestion 1 has attribute 'id' (only 'mode' is allowed)"]


def test_followup_empty_and_unclosed():
    assert followup_problems("<suggest>a</suggest><suggest>  </suggest>") == ["suggestion 2 is empty"]
    assert followup_problems("<suggest>a</suggest><suggest/>") == ["suggestion 2 is empty"]
    assert "no closing </suggest>" in " ".join(followup_problems("<suggest>a</suggest><suggest>b"))
    assert followup_problems("<suggestion>a</suggestion><suggestion>b</suggestion>")[0].startswith(
        "follow_up holds no <suggest>")


def test_followup_codes():
    vs = call_lints("ask_followup_question", {"question": "Which?", "follow_up": "<suggest>only one</suggest>"},
                    mode_slugs=("code",))
    assert codes(vs) == [V.INVALID_PARAM_VALUE] and "follow_up holds 1" in vs[0].detail
    native = [{"text": "a", "mode": None}, {"text": "b", "mode": "code"}]
    assert call_lints("ask_followup_question", {"question": "Which?", "follow_up": native}) == []


# ======================================================================================== read_file args

def files(*bodies: str) -> str:
    return "".join(f"<file>{b}</file>" for b in bodies)


@pytest.mark.parametrize("args", [
    files("<path>a.py</path>"),
    files(*[f"<path>f{i}.py</path>" for i in range(5)]),
    files("<path>a.py</path><line_range>1-10</line_range><line_range>20-20</line_range>"),
    "\n  " + files("\n<path>src/a.py</path>\n<line_range> 3-4 </line_range>\n") + "\n",
])
def test_read_file_args_ok(args):
    assert call_lints("read_file", {"args": args}) == []


@pytest.mark.parametrize("args,fragment", [
    ("<path>a.py</path>", "no <file>"),
    (files(*[f"<path>f{i}.py</path>" for i in range(6)]), "6 files"),
    (files("<path></path>"), "no non-empty <path>"),
    (files("<line_range>1-2</line_range>"), "no non-empty <path>"),
    (files("<path>a</path><path>b</path>"), "2 <path>"),
    (files("<path>a</path><line_range>10-1</line_range>"), "ends before it starts"),
    (files("<path>a</path><line_range>a-b</line_range>"), "not 'start-end'"),
    (files("<path>a</path><line_range>5</line_range>"), "not 'start-end'"),
    (files("<path>a</path><line_range>0-3</line_range>"), "starts at 0"),
    (files("<path>a</path><line_range>1-2"), "not closed"),
    ("<file><path>a</path>", "no closing </file>"),
])
def test_read_file_args_bad(args, fragment):
    vs = call_lints("read_file", {"args": args})
    assert codes(vs) == [V.INVALID_PARAM_VALUE] and fragment in vs[0].detail, vs


def test_read_file_legacy_and_native_forms_are_not_linted_here():
    assert call_lints("read_file", {"path": "a.py", "start_line": "1", "end_line": "5"}) == []
    assert call_lints("read_file", {"files": [{"path": "a.py", "line_ranges": [[1, 2]]}]}) == []


# ======================================================================================== dispatch

def test_apply_diff_dispatch():
    vs = call_lints("apply_diff", {"path": "a.py", "diff": "<<<<<<< SEARCH\nx\n>>>>>>> REPLACE"})
    assert codes(vs) == [V.MALFORMED_DIFF]
    assert call_lints("apply_diff", {"path": "a.py", "diff": block("x", "y")}) == []
    assert call_lints("apply_diff", {"path": "a.py", "diff": {"not": "text"}}) == []
    many = "\n".join(block(f"a{i}", f"a{i}", start=0) for i in range(30))   # 60 problems, one violation
    vs = call_lints("apply_diff", {"path": "a.py", "diff": many})
    assert codes(vs) == [V.MALFORMED_DIFF] and vs[0].detail.endswith("… and 52 more")


def test_one_violation_per_code_and_unknown_tools():
    vs = call_lints("write_to_file", {"path": "path/to/x.js", "content": "// ... existing code ...",
                                      "line_count": "9"})
    assert codes(vs) == [V.PLACEHOLDER_CONTENT]
    assert "path/to" in vs[0].detail and "omission" in vs[0].detail and "line_count 9" in vs[0].detail
    assert call_lints("calculate_area", {"path": "path/to/file", "result": "Sure?"}) == []
    assert call_lints("read_file", "raw json string") == []  # type: ignore[arg-type]


# ======================================================================================== robustness

FUNCS = [
    diff_problems,
    completion_problem,
    opener_problem,
    todo_problems,
    lambda s: followup_problems(s, ("code", "ask")),
    lambda s: placeholder_problems("write_to_file", {"path": s, "content": s, "line_count": s}),
    lambda s: placeholder_problems("apply_diff", {"path": "a.js", "diff": s}),
    lambda s: placeholder_problems("execute_command", {"command": s, "cwd": s}),
    lambda s: call_lints("read_file", {"args": s, "path": s}),
    lambda s: call_lints("attempt_completion", {"result": s}),
    lambda s: call_lints("ask_followup_question", {"question": s, "follow_up": s}, ("code",)),
    lambda s: call_lints("apply_diff", {"path": s, "diff": s}),
]

_markup = st.text(alphabet=st.sampled_from(list("<>=/-:[]x \n\r\t.#*`?\\SEARCHREPLACEsuggestfilepathline_range0123"
                                                "456789\u2028\ufeff")), max_size=300)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), _markup))
def test_never_raises(s):
    for f in FUNCS:
        f(s)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["path", "content", "diff", "result", "todos", "follow_up", "args", "files",
                                        "line_count", "command", "cwd", "mode", "regex"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=50),
                                 st.lists(st.one_of(st.text(max_size=5), st.dictionaries(st.text(max_size=5),
                                                                                         st.text(max_size=5))),
                                          max_size=3))),
       st.sampled_from(sorted(ROO_TOOLS) + ["other"]))
def test_call_lints_never_raises_on_native_values(arguments, name):
    for v in call_lints(name, arguments, ("code",)):
        assert v.code in V.CODES and v.detail


MIB = 1 << 20
ADVERSARIAL = {
    "search markers": "<<<<<<< SEARCH\n" * 50000,
    "equals": "=" * MIB,
    "slashes": "/" * MIB,
    "newlines": "\n" * MIB,
    "spaces": " " * MIB,
    "question marks": "?" * MIB,
    "brackets": "[" * MIB,
    "angles": "<" * MIB,
    "dots": "." * MIB,
    "hashes": "# rest of " * (MIB // 10),
    "comment lines": "// rest of code unchanged\n" * (MIB // 26),
    "blocks": block("a", "b", start=None) * (MIB // 60),
    "good blocks": (block("a", "b") + "\n") * (MIB // 60),
    "start line blanks": "<<<<<<< SEARCH\n:start_line:\n" + " \n" * (MIB // 2) + "=======\nb\n>>>>>>> REPLACE",
    "digits": "<<<<<<< SEARCH\n:start_line:" + "9" * MIB + "\nx\n=======\ny\n>>>>>>> REPLACE",
    "suggest": "<suggest" * (MIB // 8),
    "suggest attrs": "<suggest " + "a=" * (MIB // 2),
    "suggest quote": '<suggest mode="' + "x" * MIB,
    "files": "<file>" * (MIB // 6),
    "closed files": "<file><path>a</path><line_range>1-2</line_range></file>" * (MIB // 55),
    "todo bracket": "[" + " " * MIB + "]",
    "todo lines": "- [ ] x\n" * (MIB // 8),
    "thinking": "<thinking>" * (MIB // 10),
    "closed thinking": "<thinking></thinking>" * (MIB // 21),
    "if you": "if you would like " * (MIB // 18),
    "fences": "```\n" * (MIB // 4),
    "your": "your_" * (MIB // 5),
    "path to": "path/to/" * (MIB // 8),
    "ellipsis lines": "...\n" * (MIB // 4),
    "anchor comments": ("// " + "existing " * 13 + "x\n") * (MIB // 120),
    "long comment words": ("// rest of the " + "a" * 150 + " same\n") * (MIB // 170),
    "offer sentence": "I can " + "x " * (MIB // 2) + "if you would like",
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_linear_time_on_adversarial_input(name):
    s = ADVERSARIAL[name]
    for i, f in enumerate(FUNCS):
        t0 = time.process_time()      # CPU time: parallel test load does not count
        f(s)
        elapsed = time.process_time() - t0
        assert elapsed < 1.0, f"{name}: function #{i} took {elapsed:.2f}s"


# Roo's own validation cases (multi-search-replace.spec.ts), in Roo's non-strict reading
@pytest.mark.parametrize("diff,roo_accepts", [
    ("<<<<<<< SEARCH\nsome content\n=======\nnew content\n>>>>>>> REPLACE", True),
    ("<<<<<<< SEARCH>\nsome content\n=======\nnew content\n>>>>>>> REPLACE", True),
    ("<<<<<<< SEARCH>>\nsome content\n=======\nnew content\n>>>>>>> REPLACE", False),
    ("<<<<<<< SEARCH>\ncontent1\n=======\nnew1\n>>>>>>> REPLACE\n\n<<<<<<< SEARCH\ncontent2\n=======\nnew2\n"
     ">>>>>>> REPLACE", True),
    ("<<<<<<< SEARCH>  \nsome content\n=======\nnew content\n>>>>>>> REPLACE", True),
    ("<<<<<<< SEARCH  >\nsome content\n=======\nnew content\n>>>>>>> REPLACE", False),
    ("<<<<<<< SEARCH>\n:start_line:10\n-------\ncontent1\n=======\nnew1\n>>>>>>> REPLACE", True),
    ("<<<<<<< SEARCH\n:start_line:10\n-------\ncontent1\n=======\nnew1\n>>>>>>> REPLACE\n\n<<<<<<< SEARCH\n"
     ":start_line:10\n-------\ncontent2\n=======\nnew2\n>>>>>>> REPLACE", True),
    ("=======\ncontent\n>>>>>>> REPLACE", False),
    ("<<<<<<< SEARCH\ncontent\n>>>>>>> REPLACE", False),
    ("<<<<<<< SEARCH\ncontent\n=======\n=======\n>>>>>>> REPLACE", False),
    ("<<<<<<< SEARCH\ncontent\n>>>>>>>", False),
    ("<<<<<<< SEARCH\ncontent\n=======\nnew content", False),
    ("<<<<<<< SEARCH\ncontent to find\n=======\n:start_line:5\nreplacement content\n>>>>>>> REPLACE", False),
    ("<<<<<<< SEARCH\n:start_line:5\n:end_line:10\n-------\ncontent to find\n=======\nreplacement content\n"
     ">>>>>>> REPLACE", True),
    ("<<<<<<< SEARCH\ncontent to find\n=======\nreplacement content\n\\:start_line:5\nmore content\n"
     ">>>>>>> REPLACE", True),
    ("<<<<<<< SEARCH\ncontent to find\n=======\n  :start_line:5  \nreplacement content\n>>>>>>> REPLACE", False),
    ("test.ts\n<<<<<<< SEARCH\nfunction hello() {\n=======\nfunction helloWorld() {\n>>>>>>> REPLACE\n"
     "<<<<<<< SEARCH\n    console.log(\"hello\")\n=======\n    console.log(\"hello world\")\n>>>>>>> REPLACE", True),
    ("test.ts\nInvalid diff format", False),
    ("\n<<<<<<< SEARCH\n:start_line:2\n-------\n2 | line to delete\n=======\n>>>>>>> REPLACE", True),
])
def test_roo_validation_cases(diff, roo_accepts):
    assert (diff_problems(diff, strict=False) == []) is roo_accepts


def test_strict_adds_prompt_demands_only():
    no_start = block("a", "b", start=None)
    assert diff_problems(no_start, strict=False) == []
    assert diff_problems(no_start)
    zero = block("a", "b", start=0)
    assert diff_problems(zero, strict=False) == [] and diff_problems(zero)
    glued = "<<<<<<< SEARCH\n:start_line:1\n-------old\n=======\nnew\n>>>>>>> REPLACE"
    assert diff_problems(glued, strict=False)  # Roo would search for "-------old"
    assert diff_problems(zero) == ["block 1: ':start_line:0' is not a line number (lines start at 1)"]
