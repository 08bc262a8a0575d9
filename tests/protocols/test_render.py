"""protocols.prompts: wire text, system prompts, OpenAI tool entries, Hermes prompts, prompt files."""
from __future__ import annotations

import getpass
import json
import os
import re
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.catalog import DATA_DIR, catalog_from_dict, load_catalog
from protocols.errors import UserError
from protocols.prompts import (
    format_hermes_call,
    format_xml_call,
    load_system_prompt_file,
    openai_tools,
    render_hermes_system,
    render_native_system,
    render_xml_system,
    tool_to_openai,
)

from tests.protocols.test_catalogs import ROO_NATIVE, ROO_XML, roo_scan

FULL_HEADINGS = ["MARKDOWN RULES", "TOOL USE", "# Tool Use Formatting", "# Tools", "# Tool Use Guidelines",
                 "CAPABILITIES", "MODES", "RULES", "SYSTEM INFORMATION", "OBJECTIVE"]
NATIVE_HEADINGS = ["MARKDOWN RULES", "TOOL USE", "# Tool Use Guidelines", "CAPABILITIES", "MODES", "RULES",
                   "SYSTEM INFORMATION", "OBJECTIVE"]


@pytest.fixture(scope="module")
def roo():
    return load_catalog(ROO_XML)


@pytest.fixture(scope="module")
def native():
    return load_catalog(ROO_NATIVE)


def headings(text: str) -> list[str]:
    """Section headings (lines that are all caps, or start with '# ') in order of appearance."""
    return [ln for ln in text.split("\n") if re.fullmatch(r"[A-Z][A-Z' ]+[A-Z]", ln) or ln.startswith("# ")]


def tool_headings(text: str) -> list[str]:
    return re.findall(r"^## (\S+)$", text, re.M)


def mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


# -- format_xml_call -----------------------------------------------------------------------------

def test_format_xml_call_simple():
    assert format_xml_call("read_file", {"path": "a.py"}) == "<read_file>\n<path>a.py</path>\n</read_file>"
    assert format_xml_call("list_files", {"path": "src", "recursive": "true"}) == (
        "<list_files>\n<path>src</path>\n<recursive>true</recursive>\n</list_files>")
    assert format_xml_call("attempt_completion", {}) == "<attempt_completion>\n</attempt_completion>"


def test_format_xml_call_content_on_its_own_lines():
    out = format_xml_call("write_to_file", {"path": "a.txt", "content": "x = 1\n", "line_count": "1"})
    assert out == "<write_to_file>\n<path>a.txt</path>\n<content>\nx = 1\n\n</content>\n" \
                  "<line_count>1</line_count>\n</write_to_file>"


def test_format_xml_call_keeps_param_order():
    out = format_xml_call("search_files", {"regex": "x", "path": "."})
    assert out.index("<regex>") < out.index("<path>")


def test_format_xml_call_reproduces_catalog_examples(roo):
    # scanning an example and formatting its params again gives the same call; the text itself is the
    # same wherever the example writes non-content values without padding newlines
    exact = 0
    for spec in roo.tools.values():
        for ex in spec.examples:
            call = roo_scan(ex, list(roo.tools), list(roo.param_names))[0]
            again = format_xml_call(spec.name, call["params"])
            assert roo_scan(again, list(roo.tools), list(roo.param_names))[0]["params"] == call["params"]
            if all(f"<{k}>{v}</{k}>" in ex for k, v in call["params"].items() if k != "content"):
                assert again == ex, spec.name
                exact += 1
    assert exact >= 20


VALUE = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="<>"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(content=VALUE, path=VALUE.map(str.strip), line_count=st.integers(0, 10**6))
def test_format_xml_call_round_trips_through_roo_semantics(roo, content, path, line_count):
    params = {"path": path, "content": content, "line_count": str(line_count)}
    text = format_xml_call("write_to_file", params)
    calls = roo_scan(text, list(roo.tools), list(roo.param_names))
    assert len(calls) == 1 and calls[0]["closed"]
    assert calls[0]["params"] == params


def test_format_xml_call_padding_is_lost_except_in_content(roo):
    # documented limit: the parser trims every value but content
    text = format_xml_call("write_to_file", {"path": "  a.py ", "content": "  keep  \n", "line_count": "1"})
    got = roo_scan(text, list(roo.tools), list(roo.param_names))[0]["params"]
    assert got["path"] == "a.py"
    assert got["content"] == "  keep  \n"


def test_format_xml_call_empty_content_round_trips(roo):
    text = format_xml_call("write_to_file", {"path": "a", "content": "", "line_count": "0"})
    assert roo_scan(text, list(roo.tools), list(roo.param_names))[0]["params"]["content"] == ""


# -- render_xml_system: full ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["architect", "code", "ask", "debug", "orchestrator"])
def test_full_has_every_section_in_roo_order(roo, mode):
    text = render_xml_system(roo, mode, "full")
    hs = headings(text)
    assert [h for h in hs if h in FULL_HEADINGS] == FULL_HEADINGS, hs
    # role, MARKDOWN RULES, TOOL USE (+ tools, guidelines), CAPABILITIES, MODES, RULES, SYSTEM INFORMATION,
    # OBJECTIVE: seven separators
    assert text.count("\n\n====\n\n") == 7


@pytest.mark.parametrize("mode", ["architect", "code", "ask", "debug", "orchestrator"])
def test_full_lists_exactly_the_tools_of_the_mode(roo, mode):
    text = render_xml_system(roo, mode, "full")
    offered = roo.tool_names_for_mode(mode)
    assert sorted(tool_headings(text)) == sorted(offered)
    for name in roo.tools:
        if name not in offered:
            assert not mentions(text, name), f"{mode}: {name} is not offered but the prompt names it"


def test_full_tool_sections_have_params_usage_and_example(roo):
    text = render_xml_system(roo, "code", "full")
    for spec in roo.tools.values():
        start = text.index(f"## {spec.name}\n")
        nxt = text.find("\n## ", start + 1)
        end = text.index("# Tool Use Guidelines") if nxt == -1 else nxt
        section = text[start:end]
        assert f"Description: {spec.description}" in section
        for p in spec.required:
            assert f"- {p}: (required)" in section, (spec.name, p)
        for p in set(spec.param_names) - set(spec.required):
            if spec.parameters["properties"][p].get("deprecated"):
                assert f"- {p}:" not in section
            else:
                assert f"- {p}: (optional)" in section, (spec.name, p)
        assert f"Usage:\n<{spec.name}>" in section
        for ex in spec.examples:
            assert ex in section


def test_full_ask_mode_has_no_edit_or_command(roo):
    text = render_xml_system(roo, "ask", "full")
    for t in ("write_to_file", "apply_diff", "insert_content", "search_and_replace", "execute_command"):
        assert f"## {t}" not in text and not mentions(text, t)
    assert "## read_file" in text


def test_full_rules(roo):
    text = render_xml_system(roo, "code", "full")
    rules = text[text.index("\nRULES\n"):text.index("\nSYSTEM INFORMATION\n")]
    assert "one tool per message" in rules.lower()
    assert "cd other/dir && npm install" in rules
    assert "relative" in rules
    assert "complete file" in rules
    assert "2-4" in rules and "ask_followup_question" in rules
    assert "never end it with a question" in rules
    for w in ("Great", "Certainly", "Okay", "Sure"):
        assert f'"{w}"' in rules
    assert r"\.md$" not in rules  # code mode is not restricted


def test_full_architect_states_its_restriction(roo):
    text = render_xml_system(roo, "architect", "full")
    rules = text[text.index("\nRULES\n"):text.index("\nSYSTEM INFORMATION\n")]
    assert r"`\.md$`" in rules and "Markdown files only" in rules


def test_full_modes_section_lists_each_mode(roo):
    text = render_xml_system(roo, "code", "full")
    modes = text[text.index("\nMODES\n"):text.index("\nRULES\n")]
    for m in roo.modes.values():
        assert f"{m.name} ({m.slug}) - {m.when_to_use}" in modes


def test_full_starts_with_the_mode_role(roo):
    for slug, m in roo.modes.items():
        assert render_xml_system(roo, slug, "full").startswith(m.role_definition)


def test_full_default_mode_is_code(roo):
    assert render_xml_system(roo, None, "full") == render_xml_system(roo, "code", "full")


def test_full_system_information_is_fixed(roo):
    text = render_xml_system(roo, "code", "full")
    info = text[text.index("\nSYSTEM INFORMATION\n"):text.index("\nOBJECTIVE\n")]
    assert "Operating System: Linux" in info
    assert "Default Shell: /bin/bash" in info
    assert "Home Directory: /home/user" in info
    assert "Current Workspace Directory: /home/user/project" in info
    host_values = {os.getcwd(), socket.gethostname(), os.path.expanduser("~"), os.environ.get("SHELL", "")}
    try:
        user = getpass.getuser()
        host_values |= {f"/home/{user}", f"{user}@"}
    except Exception:  # pragma: no cover - no user name in some containers
        pass
    for v in host_values:
        if len(v) > 4 and v not in ("/home/user", "/bin/bash"):
            assert v not in text, f"host value {v!r} leaked into the prompt"


def test_full_is_deterministic(roo):
    a = render_xml_system(roo, "debug", "full")
    path = DATA_DIR / ROO_XML
    fresh = catalog_from_dict(json.loads(path.read_text(encoding="utf-8")), source=str(path))
    assert render_xml_system(fresh, "debug", "full") == a
    assert render_xml_system(roo, "debug", "full") == a


def test_full_rejects_unknown_mode_and_style(roo):
    with pytest.raises(UserError, match="nope"):
        render_xml_system(roo, "nope", "full")
    with pytest.raises(UserError, match="tiny"):
        render_xml_system(roo, "code", "tiny")


def test_full_generic_catalog_without_modes():
    cat = catalog_from_dict({"name": "mine", "tools": [
        {"name": "get_weather", "description": "Current weather for a city.",
         "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City."}},
                        "required": ["city"]},
         "examples": ["<get_weather>\n<city>Oslo</city>\n</get_weather>"]},
        {"name": "done", "description": "Finish.", "parameters": {"type": "object", "properties": {}}}]})
    text = render_xml_system(cat, None, "full")
    hs = headings(text)
    assert [h for h in hs if h in FULL_HEADINGS] == [h for h in FULL_HEADINGS if h != "MODES"]
    assert tool_headings(text) == ["get_weather", "done"]
    assert "- city: (required) City." in text
    assert "Parameters: none" in text
    assert "ask_followup_question" not in text and "attempt_completion" not in text


def test_full_cline_example():
    cat = load_catalog("cline-example.json")
    plan = render_xml_system(cat, "plan", "full")
    assert "## plan_mode_respond" in plan and "## write_to_file" not in plan
    assert "Act (act) - " in plan
    act = render_xml_system(cat, "act", "full")
    assert "## replace_in_file" in act and "## plan_mode_respond" not in act


# -- render_xml_system: compact ------------------------------------------------------------------

def six_tool_catalog(roo):
    names = ["read_file", "write_to_file", "list_files", "execute_command", "ask_followup_question",
             "attempt_completion"]
    data = {"name": "six", "wire": "xml", "one_call_per_turn": True, "param_names": list(roo.param_names),
            "tools": [{"name": n, "description": roo.tools[n].description, "parameters": roo.tools[n].parameters}
                      for n in names]}
    return catalog_from_dict(data)


def test_compact_is_short_and_lists_signatures(roo):
    text = render_xml_system(six_tool_catalog(roo), None, "compact")
    assert len(text) < 400, len(text)
    lines = text.strip().split("\n")
    assert lines[-1] == "One tool call per message."
    assert "write_to_file(path, content, line_count)" in lines
    assert "list_files(path, [recursive])" in lines
    assert "execute_command(command, [cwd])" in lines
    assert "read_file(args)" in lines            # the older path form is not advertised
    assert len(lines) == 1 + 6 + 1


def test_compact_only_mode_tools(roo):
    text = render_xml_system(roo, "ask", "compact")
    assert "write_to_file" not in text and "execute_command" not in text
    assert "read_file(args)" in text
    orch = render_xml_system(roo, "orchestrator", "compact")
    listed = [ln.split("(")[0] for ln in orch.strip().split("\n")[1:-1]]
    assert sorted(listed) == sorted(roo.tool_names_for_mode("orchestrator"))
    assert render_xml_system(roo, "ask", "compact") == text


# -- render_native_system ------------------------------------------------------------------------

def test_native_full(native):
    text = render_native_system(native, "code", "full")
    hs = headings(text)
    assert [h for h in hs if h in FULL_HEADINGS] == NATIVE_HEADINGS
    assert "# Tools" not in hs and "# Tool Use Formatting" not in hs
    assert tool_headings(text) == []
    assert "<write_to_file>" not in text and "<tool_name>" not in text
    tool_use = text[text.index("\nTOOL USE\n"):text.index("# Tool Use Guidelines")]
    assert "native tool-calling" in tool_use and "exactly one tool call" in tool_use
    for name in native.tools:
        if name not in native.tool_names_for_mode("code"):
            assert not mentions(text, name), name
    assert render_native_system(native, "code", "full") == text


def test_native_full_ask_has_no_write(native):
    text = render_native_system(native, "ask", "full")
    assert not mentions(text, "write_to_file") and not mentions(text, "execute_command")


def test_native_compact_and_generic(native):
    compact = render_native_system(native, "code", "compact")
    assert 1 <= len(compact.strip().split("\n")) <= 2 and "exactly one" in compact
    generic = render_native_system(None, None, "full")
    assert generic == render_native_system(None, None, "compact")
    assert len(generic) < 400 and "MODES" not in generic
    with pytest.raises(UserError):
        render_native_system(native, "code", "verbose")
    with pytest.raises(UserError):
        render_native_system(native, "nope", "full")


# -- OpenAI tools --------------------------------------------------------------------------------

def test_tool_to_openai_strict_only_when_strict(native, roo):
    wt = tool_to_openai(native.tools["write_to_file"])
    assert wt == {"type": "function", "function": {
        "name": "write_to_file", "description": native.tools["write_to_file"].description,
        "parameters": native.tools["write_to_file"].parameters, "strict": True}}
    ad = tool_to_openai(native.tools["apply_diff"])
    assert "strict" not in ad["function"]
    assert "strict" not in tool_to_openai(roo.tools["write_to_file"])["function"]


def test_tool_to_openai_copies_and_hides_deprecated(roo):
    spec = roo.tools["read_file"]
    out = tool_to_openai(spec)
    assert list(out["function"]["parameters"]["properties"]) == ["args"]
    out["function"]["parameters"]["properties"]["args"]["type"] = "integer"
    assert spec.parameters["properties"]["args"]["type"] == "string"
    assert "path" in spec.parameters["properties"]


def test_openai_tools_order(native):
    specs = native.tools_for_mode("code")
    out = openai_tools(specs)
    assert [t["function"]["name"] for t in out] == [s.name for s in specs]
    assert openai_tools([]) == []


# -- Hermes --------------------------------------------------------------------------------------

def _tools_block(text: str) -> list[dict]:
    inner = text[text.index("<tools>\n") + len("<tools>\n"):text.index("\n</tools>")]
    return [json.loads(line) for line in inner.split("\n")]


def test_hermes_full(native):
    tools = openai_tools(native.tools_for_mode("ask"))
    text = render_hermes_system(tools, "full")
    assert _tools_block(text) == tools
    assert "<tool_call>" in text and '"arguments"' in text
    assert render_hermes_system(tools, "full") == text


def test_hermes_accepts_bare_functions_and_compact(native):
    tools = openai_tools(native.tools_for_mode("orchestrator"))
    bare = [t["function"] for t in tools]
    assert render_hermes_system(bare, "full") == render_hermes_system(tools, "full")
    compact = render_hermes_system(tools, "compact")
    listed = _tools_block(compact)
    assert [t["name"] for t in listed] == [t["function"]["name"] for t in tools]
    assert all(set(t) == {"name", "parameters"} for t in listed)
    assert len(compact) < len(render_hermes_system(tools, "full"))


def test_format_hermes_call():
    out = format_hermes_call("get_weather", {"city": "Zürich", "days": 2})
    assert out.startswith("<tool_call>\n") and out.endswith("\n</tool_call>")
    body = json.loads(out[len("<tool_call>\n"):-len("\n</tool_call>")])
    assert body == {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}
    assert "Zürich" in out


# -- load_system_prompt_file ---------------------------------------------------------------------

def test_load_system_prompt_file_exact(tmp_path):
    p = tmp_path / "prompt.txt"
    text = "You are Roo.\n\n====\n\nTOOL USE  \n"
    p.write_text(text, encoding="utf-8")
    assert load_system_prompt_file(str(p)) == text


def test_load_system_prompt_file_errors(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(UserError, match=re.escape(str(missing))):
        load_system_prompt_file(str(missing))
    with pytest.raises(UserError, match=re.escape(str(tmp_path))):
        load_system_prompt_file(str(tmp_path))
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\t\n", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        load_system_prompt_file(str(empty))
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UserError, match="UTF-8"):
        load_system_prompt_file(str(binary))
