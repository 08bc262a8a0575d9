"""The shipped catalogs: Roo Code v3.29.3 (XML), Roo's native v3.41.0 schemas, and the Cline example.

Expected values come from the normative reference (/work/shared/reference/roo-code-protocol.md, §2.2,
§5, §6, §9.2), written out here so that a wrong catalog fails.
"""
from __future__ import annotations

import json
import re

import jsonschema
import pytest

import protocols
from protocols.catalog import catalog_from_dict, load_catalog

ROO_XML = "roo-code-v3.29.3.json"
ROO_NATIVE = "roo-native-v3.41.0.json"
CLINE = "cline-example.json"

# toolNames order (packages/types/src/tool.ts @ v3.29.3)
ROO_TOOLS = [
    "execute_command", "read_file", "write_to_file", "apply_diff", "insert_content", "search_and_replace",
    "search_files", "list_files", "list_code_definition_names", "browser_action", "use_mcp_tool",
    "access_mcp_resource", "ask_followup_question", "attempt_completion", "switch_mode", "new_task",
    "fetch_instructions", "codebase_search", "update_todo_list", "run_slash_command", "generate_image",
]

# toolParamNames (src/shared/tools.ts @ v3.29.3), order kept, duplicate "args" removed
ROO_PARAM_NAMES = [
    "command", "path", "content", "line_count", "regex", "file_pattern", "recursive", "action", "url",
    "coordinate", "text", "server_name", "tool_name", "arguments", "uri", "question", "result", "diff",
    "mode_slug", "reason", "line", "mode", "message", "cwd", "follow_up", "task", "size", "search", "replace",
    "use_regex", "ignore_case", "args", "start_line", "end_line", "query", "todos", "prompt", "image",
]

# §5: parameters the prompt marks required / optional (optional ones that the prompt shows)
ROO_REQUIRED = {
    "execute_command": ["command"],
    "read_file": ["args"],
    "write_to_file": ["path", "content", "line_count"],
    "apply_diff": ["path", "diff"],
    "insert_content": ["path", "line", "content"],
    "search_and_replace": ["path", "search", "replace"],
    "search_files": ["path", "regex"],
    "list_files": ["path"],
    "list_code_definition_names": ["path"],
    "browser_action": ["action"],
    "use_mcp_tool": ["server_name", "tool_name", "arguments"],
    "access_mcp_resource": ["server_name", "uri"],
    "ask_followup_question": ["question", "follow_up"],
    "attempt_completion": ["result"],
    "switch_mode": ["mode_slug"],
    "new_task": ["mode", "message"],
    "fetch_instructions": ["task"],
    "codebase_search": ["query"],
    "update_todo_list": ["todos"],
    "run_slash_command": ["command"],
    "generate_image": ["prompt", "path"],
}
ROO_OPTIONAL = {
    "execute_command": {"cwd"},
    "search_and_replace": {"start_line", "end_line", "use_regex", "ignore_case"},
    "search_files": {"file_pattern"},
    "list_files": {"recursive"},
    "browser_action": {"url", "coordinate", "size", "text"},
    "switch_mode": {"reason"},
    "new_task": {"todos"},
    "codebase_search": {"path"},
    "run_slash_command": {"args"},
    "generate_image": {"image"},
    "read_file": {"path", "start_line", "end_line"},   # older single-file form, hidden from prompts
    "write_to_file": set(), "apply_diff": set(), "insert_content": set(), "list_code_definition_names": set(),
    "use_mcp_tool": set(), "access_mcp_resource": set(), "ask_followup_question": set(),
    "attempt_completion": set(), "fetch_instructions": set(), "update_todo_list": set(),
}

# §6 (src/shared/tools.ts @ v3.29.3)
ROO_GROUPS = {
    "read": ["read_file", "fetch_instructions", "search_files", "list_files", "list_code_definition_names",
             "codebase_search"],
    "edit": ["apply_diff", "write_to_file", "insert_content", "search_and_replace", "generate_image"],
    "browser": ["browser_action"],
    "command": ["execute_command"],
    "mcp": ["use_mcp_tool", "access_mcp_resource"],
    "modes": ["switch_mode", "new_task"],
}
ROO_ALWAYS = ["ask_followup_question", "attempt_completion", "switch_mode", "new_task", "update_todo_list",
              "run_slash_command"]
ROO_MODES = {
    "architect": ["read", "edit", "browser", "mcp"],
    "code": ["read", "edit", "browser", "command", "mcp"],
    "ask": ["read", "browser", "mcp"],
    "debug": ["read", "edit", "browser", "command", "mcp"],
    "orchestrator": [],
}


# -- a Roo-semantics scanner for checking example wire text ----------------------------------

def roo_scan(text: str, tool_names, param_names) -> list[dict]:
    """Tool calls in `text` the way Roo Code v3.29.3's parser reads them (enough for well-formed text).

    Each call: {"name", "params", "closed", "stray" (text at tool level, which Roo discards),
    "before" (text before the call)}. Values: `content` loses one leading and one trailing newline,
    everything else is trimmed; only the exact closing tag ends a value.
    """
    calls: list[dict] = []
    pos, n = 0, len(text)
    while pos < n:
        opens = [(text.find(f"<{t}>", pos), t) for t in tool_names]
        opens = [o for o in opens if o[0] != -1]
        if not opens:
            break
        start, name = min(opens)
        before = text[pos:start]
        pos = start + len(name) + 2
        params: dict[str, str] = {}
        stray, closed = "", False
        while True:
            close = text.find(f"</{name}>", pos)
            popen = [(text.find(f"<{p}>", pos), p) for p in param_names]
            popen = [o for o in popen if o[0] != -1 and (close == -1 or o[0] < close)]
            if popen:
                k, p = min(popen)
                stray += text[pos:k]
                vstart = k + len(p) + 2
                vend = text.find(f"</{p}>", vstart)
                if vend == -1:
                    params[p] = text[vstart:]
                    pos = n
                    break
                raw = text[vstart:vend]
                if p == "content":
                    raw = raw[1:] if raw.startswith("\n") else raw
                    raw = raw[:-1] if raw.endswith("\n") else raw
                    params[p] = raw
                else:
                    params[p] = raw.strip()
                pos = vend + len(p) + 3
            elif close != -1:
                stray += text[pos:close]
                closed = True
                pos = close + len(name) + 3
                break
            else:
                stray += text[pos:]
                pos = n
                break
        calls.append({"name": name, "params": params, "closed": closed, "stray": stray, "before": before})
    return calls


def assert_wellformed_example(cat, tool, example: str) -> dict:
    calls = roo_scan(example, list(cat.tools), list(cat.param_names))
    assert len(calls) == 1, f"{tool.name}: example must hold exactly one call: {example!r}"
    call = calls[0]
    assert call["name"] == tool.name, f"{tool.name}: example calls {call['name']}"
    assert call["before"] == "", f"{tool.name}: example must start with <{tool.name}>"
    assert example.startswith(f"<{tool.name}>") and example.endswith(f"</{tool.name}>"), example
    assert call["closed"], f"{tool.name}: example does not close </{tool.name}>"
    assert call["stray"].strip() == "", f"{tool.name}: stray text at tool level: {call['stray']!r}"
    for p in call["params"]:
        assert p in cat.param_names, f"{tool.name}: <{p}> is not in the catalog's param_names whitelist"
        assert p in tool.param_names, f"{tool.name}: <{p}> is not a parameter of the tool"
    for r in tool.required:
        assert call["params"].get(r, "").strip(), f"{tool.name}: example lacks required <{r}>"
    # the values obey the tool's own schema (enums, digit patterns)
    jsonschema.validate(call["params"], tool.parameters)
    # and every tag opened in the example text is closed
    for p in call["params"]:
        assert example.count(f"<{p}>") == example.count(f"</{p}>"), f"{tool.name}: unbalanced <{p}>"
    return call


# -- Roo XML catalog ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def roo():
    return load_catalog(ROO_XML)


@pytest.fixture(scope="module")
def native():
    return load_catalog(ROO_NATIVE)


@pytest.fixture(scope="module")
def cline():
    return load_catalog(CLINE)


def test_roo_xml_header(roo):
    assert roo.wire == "xml"
    assert roo.version == "3.29.3"
    assert roo.one_call_per_turn is True
    assert roo.default_mode == "code"
    assert protocols.ROO_XML_CATALOG == ROO_XML


def test_roo_xml_has_all_21_tools_in_toolnames_order(roo):
    assert list(roo.tools) == ROO_TOOLS
    assert len(roo.tools) == 21


def test_roo_param_names_whitelist_exact(roo):
    assert list(roo.param_names) == ROO_PARAM_NAMES
    assert len(set(roo.param_names)) == len(roo.param_names)


@pytest.mark.parametrize("tool", ROO_TOOLS)
def test_roo_required_and_optional_params(roo, tool):
    spec = roo.tools[tool]
    assert spec.required == ROO_REQUIRED[tool]
    assert set(spec.param_names) - set(spec.required) == ROO_OPTIONAL[tool]


def test_roo_spot_checks(roo):
    # a few facts from §5 spelled out on their own
    assert roo.tools["write_to_file"].required == ["path", "content", "line_count"]
    assert roo.tools["ask_followup_question"].required == ["question", "follow_up"]
    assert roo.tools["new_task"].required == ["mode", "message"]
    assert "todos" not in roo.tools["new_task"].required
    assert "command" not in roo.tools["attempt_completion"].param_names  # removed from the prompt
    assert roo.tools["browser_action"].parameters["properties"]["action"]["enum"] == [
        "launch", "click", "hover", "type", "scroll_down", "scroll_up", "resize", "close"]
    assert roo.tools["fetch_instructions"].parameters["properties"]["task"]["enum"] == [
        "create_mcp_server", "create_mode"]


@pytest.mark.parametrize("tool", ROO_TOOLS)
def test_roo_params_are_described_strings_in_the_whitelist(roo, tool):
    spec = roo.tools[tool]
    jsonschema.Draft202012Validator.check_schema(spec.parameters)
    assert spec.parameters["type"] == "object"
    assert spec.description.strip()
    for name, schema in spec.parameters["properties"].items():
        assert schema["type"] == "string", f"{tool}.{name}: XML values are strings"
        assert schema.get("description", "").strip(), f"{tool}.{name}: needs a description"
        assert name in roo.param_names, f"{tool}.{name}: not in toolParamNames, Roo would never parse it"
    assert set(spec.required) <= set(spec.param_names)


def test_roo_read_file_legacy_form_is_hidden_not_required(roo):
    props = roo.tools["read_file"].parameters["properties"]
    for legacy in ("path", "start_line", "end_line"):
        assert props[legacy].get("deprecated") is True
    assert props["args"].get("deprecated") is not True


def test_roo_groups_and_always_available_exact(roo):
    assert {g: list(v) for g, v in roo.groups.items()} == ROO_GROUPS
    assert list(roo.always_available) == ROO_ALWAYS


def test_roo_every_tool_in_a_group_or_always_available(roo):
    grouped = {t for names in roo.groups.values() for t in names} | set(roo.always_available)
    assert set(roo.tools) == grouped
    for spec in roo.tools.values():
        if spec.group is not None:
            assert spec.name in roo.groups[spec.group], f"{spec.name}: group field disagrees with groups"
        else:
            assert spec.name in roo.always_available


def test_roo_modes_and_groups(roo):
    assert list(roo.modes) == list(ROO_MODES)
    for slug, groups in ROO_MODES.items():
        m = roo.modes[slug]
        assert list(m.groups) == groups, slug
        assert m.name.strip() and m.role_definition.strip() and m.when_to_use.strip(), slug
    names = {m.slug: m.name for m in roo.modes.values()}
    assert names["architect"].endswith("Architect") and names["orchestrator"].endswith("Orchestrator")


def test_roo_architect_markdown_only(roo):
    arch = roo.modes["architect"]
    r = arch.restrictions["edit"]
    assert r.file_regex == r"\.md$"
    assert r.description == "Markdown files only"
    assert r.allows("notes/plan.md") and not r.allows("app.js") and not r.allows("README.md.bak")
    assert roo.restriction("write_to_file", "architect") == r
    assert roo.restriction("write_to_file", "code") is None
    assert not any(m.restrictions for s, m in roo.modes.items() if s != "architect")


def test_roo_tools_per_mode(roo):
    ask = roo.tool_names_for_mode("ask")
    assert "write_to_file" not in ask and "apply_diff" not in ask and "execute_command" not in ask
    assert "read_file" in ask and "browser_action" in ask and "use_mcp_tool" in ask
    assert set(roo.tool_names_for_mode("orchestrator")) == set(ROO_ALWAYS)
    arch = roo.tool_names_for_mode("architect")
    assert "write_to_file" in arch and "execute_command" not in arch
    assert set(roo.tool_names_for_mode("code")) == set(ROO_TOOLS)
    assert roo.tool_names_for_mode(None) == roo.tool_names_for_mode("code")


@pytest.mark.parametrize("tool", ROO_TOOLS)
def test_roo_examples_are_valid_calls(roo, tool):
    spec = roo.tools[tool]
    assert 1 <= len(spec.examples) <= 2, f"{tool}: give 1-2 examples"
    for ex in spec.examples:
        assert_wellformed_example(roo, spec, ex)


def test_roo_example_values(roo):
    call = assert_wellformed_example(roo, roo.tools["read_file"], roo.tools["read_file"].examples[0])
    assert "<file>" in call["params"]["args"] and "<path>src/app.ts</path>" in call["params"]["args"]
    w = roo.tools["write_to_file"]
    for ex in w.examples:
        p = assert_wellformed_example(roo, w, ex)["params"]
        assert int(p["line_count"]) == len(p["content"].split("\n")), "line_count must match the content"
    a = roo.tools["ask_followup_question"]
    for ex in a.examples:
        p = assert_wellformed_example(roo, a, ex)["params"]
        assert 2 <= len(re.findall(r"<suggest[ >]", p["follow_up"])) <= 4
        for mode in re.findall(r'<suggest mode="([^"]+)">', p["follow_up"]):
            assert mode in roo.modes
    d = roo.tools["apply_diff"]
    for ex in d.examples:
        diff = assert_wellformed_example(roo, d, ex)["params"]["diff"]
        lines = diff.split("\n")
        assert lines[0] == "<<<<<<< SEARCH" and lines[1].startswith(":start_line:") and lines[-1] == ">>>>>>> REPLACE"
        assert lines.count("=======") == 1 and lines.count("-------") == 1
    u = roo.tools["use_mcp_tool"]
    for ex in u.examples:
        assert isinstance(json.loads(assert_wellformed_example(roo, u, ex)["params"]["arguments"]), dict)
    t = roo.tools["update_todo_list"]
    for ex in t.examples:
        todos = assert_wellformed_example(roo, t, ex)["params"]["todos"]
        assert all(re.match(r"^-?\s*\[[ xX\-~]\]\s+\S", line) for line in todos.split("\n"))


def test_roo_scanner_rejects_broken_examples(roo):
    # the checker itself must be able to fail
    spec = roo.tools["list_files"]
    for bad in ["<list_files>\n<path>src</path>\n",                      # not closed
                "<list_files>\n<pathx>src</pathx>\n</list_files>",       # required param missing
                "<list_files>\n<path>src</path>\n<regex>x</regex>\n</list_files>",  # not this tool's param
                "<list_files>\n<path>src</path>\nstray words\n</list_files>",
                "<list_files>\n<path>src</path>\n<recursive>true</recursive>\n</list_files>\n<read_file>"
                "<args></args></read_file>"]:
        with pytest.raises(AssertionError):
            assert_wellformed_example(roo, spec, bad)


def test_roo_descriptions_are_not_roo_prose(roo):
    # a few characteristic phrases of Roo's own prompt: our wording must differ
    roo_phrases = ["Request to read the contents", "STRICTLY FORBIDDEN", "Request to execute a CLI command",
                   "Puppeteer-controlled browser instance", "SURGICAL EDITS ONLY", "Request to write content",
                   "A clear, specific question addressing", "Formulate this result in a way that is final"]
    blob = json.dumps(json.loads((protocols.catalog.DATA_DIR / ROO_XML).read_text(encoding="utf-8")))
    for phrase in roo_phrases:
        assert phrase not in blob, phrase


# -- Roo native catalog ------------------------------------------------------------------------

NATIVE_TOOLS = {
    "access_mcp_resource", "apply_diff", "apply_patch", "ask_followup_question", "attempt_completion",
    "browser_action", "codebase_search", "execute_command", "fetch_instructions", "generate_image", "list_files",
    "new_task", "read_file", "run_slash_command", "search_and_replace", "search_replace", "edit_file",
    "search_files", "switch_mode", "update_todo_list", "write_to_file",
}
NATIVE_NOT_STRICT = {"apply_diff", "browser_action", "search_and_replace", "search_replace", "edit_file",
                     "apply_patch"}
# §9.2: optional fields typed as nullable in the strict schemas
NATIVE_NULLABLE = {
    ("execute_command", "cwd"), ("search_files", "file_pattern"), ("codebase_search", "path"),
    ("new_task", "todos"), ("run_slash_command", "args"), ("generate_image", "image"),
}


def _nullable(schema) -> bool:
    t = schema.get("type")
    return isinstance(t, list) and "null" in t


def _walk_objects(schema, path="$"):
    """Every object schema inside `schema` (the root, array items, nested properties)."""
    if not isinstance(schema, dict):
        return
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "object" in types:
        yield path, schema
        for k, v in schema.get("properties", {}).items():
            yield from _walk_objects(v, f"{path}.{k}")
    if "array" in types:
        yield from _walk_objects(schema.get("items"), f"{path}[]")


def test_native_header(native, roo):
    assert native.wire == "native"
    assert native.version == "3.41.0"
    assert native.one_call_per_turn is True
    assert set(native.tools) == NATIVE_TOOLS
    # inherited from the XML catalog
    assert list(native.modes) == list(roo.modes)
    assert native.modes["architect"].restrictions["edit"].file_regex == r"\.md$"
    assert native.always_available == roo.always_available
    assert native.default_mode == "code"
    assert protocols.ROO_NATIVE_CATALOG == ROO_NATIVE


def test_native_strictness(native):
    for spec in native.tools.values():
        assert spec.strict == (spec.name not in NATIVE_NOT_STRICT), spec.name
        jsonschema.Draft202012Validator.check_schema(spec.parameters)
        assert spec.parameters.get("additionalProperties") is False, spec.name
        if not spec.strict:
            continue
        for where, obj in _walk_objects(spec.parameters):
            assert obj.get("additionalProperties") is False, f"{spec.name} {where}"
            assert sorted(obj.get("required", [])) == sorted(obj.get("properties", {})), \
                f"{spec.name} {where}: a strict schema lists every property as required"


def test_native_optionals_nullable(native):
    for tool, prop in NATIVE_NULLABLE:
        assert _nullable(native.tools[tool].parameters["properties"][prop]), (tool, prop)
    # required-in-spirit fields are not nullable
    for tool, prop in [("execute_command", "command"), ("write_to_file", "path"), ("write_to_file", "content"),
                       ("switch_mode", "reason"), ("switch_mode", "mode_slug"), ("attempt_completion", "result")]:
        assert not _nullable(native.tools[tool].parameters["properties"][prop]), (tool, prop)


def test_native_v341_shapes(native):
    t = native.tools
    assert t["write_to_file"].param_names == ["path", "content"]          # no line_count
    files = t["read_file"].parameters["properties"]["files"]
    assert files["type"] == "array" and files["minItems"] == 1
    item = files["items"]
    assert set(item["properties"]) == {"path", "line_ranges"}
    lr = item["properties"]["line_ranges"]
    assert lr["type"] == ["array", "null"]
    assert lr["items"] == {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    fu = t["ask_followup_question"].parameters["properties"]["follow_up"]
    assert (fu["minItems"], fu["maxItems"]) == (1, 4)
    assert set(fu["items"]["properties"]) == {"text", "mode"} and _nullable(fu["items"]["properties"]["mode"])
    assert t["list_files"].parameters["properties"]["recursive"]["type"] == "boolean"
    assert t["fetch_instructions"].parameters["properties"]["task"]["enum"] == ["create_mcp_server", "create_mode"]
    assert t["browser_action"].parameters["properties"]["action"]["enum"] == [
        "launch", "click", "hover", "type", "press", "scroll_down", "scroll_up", "resize", "close", "screenshot"]
    assert t["browser_action"].required == ["action"]
    assert t["apply_diff"].required == ["path", "diff"]
    ops = t["search_and_replace"].parameters["properties"]["operations"]
    assert ops["minItems"] == 1 and ops["items"]["required"] == ["search", "replace"]
    assert t["edit_file"].required == ["file_path", "old_string", "new_string"]
    assert t["apply_patch"].required == ["patch"]
    for name in ("use_mcp_tool", "insert_content", "list_code_definition_names"):
        assert name not in t, f"{name} has no native schema at v3.41.0"


def test_native_groups_cover_every_tool(native):
    grouped = {t for names in native.groups.values() for t in names}
    assert grouped <= set(native.tools), "groups may only name tools of this catalog"
    assert set(native.tools) == grouped | set(native.always_available)
    assert list(native.groups["edit"]) == ["apply_diff", "write_to_file", "generate_image"]
    assert "list_code_definition_names" not in native.groups["read"]
    for spec in native.tools.values():
        if spec.group is not None:
            assert spec.name in native.groups[spec.group], spec.name


def test_native_tools_per_mode(native):
    code = native.tool_names_for_mode("code")
    assert "write_to_file" in code and "execute_command" in code and "apply_diff" in code
    # opt-in edit tools are not offered by any built-in mode
    for opt_in in ("search_replace", "edit_file", "apply_patch", "search_and_replace"):
        assert all(opt_in not in native.tool_names_for_mode(m) for m in native.modes)
    assert "write_to_file" not in native.tool_names_for_mode("ask")
    assert set(native.tool_names_for_mode("orchestrator")) == set(native.always_available)


def test_native_param_names_cover_all_properties(native):
    for spec in native.tools.values():
        for p in spec.param_names:
            assert p in native.param_names, f"{spec.name}.{p}: Roo's native parser drops keys outside toolParamNames"
    assert "line_count" not in native.param_names and "files" in native.param_names


def test_native_examples_validate(native):
    for spec in native.tools.values():
        assert spec.examples, spec.name
        for ex in spec.examples:
            jsonschema.validate(json.loads(ex), spec.parameters)


def test_native_schema_rejects_missing_nullable():
    # a strict schema needs the key even when unused: {"command": "ls"} without cwd is invalid
    spec = load_catalog(ROO_NATIVE).tools["execute_command"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"command": "ls"}, spec.parameters)
    jsonschema.validate({"command": "ls", "cwd": None}, spec.parameters)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"command": "ls", "cwd": None, "extra": 1}, spec.parameters)


# -- Cline example -----------------------------------------------------------------------------

def test_cline_example(cline):
    assert cline.wire == "xml" and cline.one_call_per_turn is True
    assert "replace_in_file" in cline.tools and "plan_mode_respond" in cline.tools
    assert cline.tools["execute_command"].required == ["command", "requires_approval"]
    assert cline.tools["ask_followup_question"].required == ["question"]
    assert "options" in cline.tools["ask_followup_question"].param_names
    assert cline.tools["write_to_file"].required == ["path", "content"]
    assert set(cline.modes) == {"act", "plan"} and cline.default_mode == "act"
    plan = cline.tool_names_for_mode("plan")
    act = cline.tool_names_for_mode("act")
    assert "plan_mode_respond" in plan and "write_to_file" not in plan and "execute_command" not in plan
    assert "plan_mode_respond" not in act and "replace_in_file" in act
    grouped = {t for names in cline.groups.values() for t in names} | set(cline.always_available)
    assert set(cline.tools) == grouped
    for spec in cline.tools.values():
        assert spec.examples
        for ex in spec.examples:
            assert_wellformed_example(cline, spec, ex)


def test_cline_example_param_names_derived(cline):
    # no explicit whitelist: the union of the tools' parameters, in order of first use
    expected = list(dict.fromkeys(p for t in cline.tools.values() for p in t.param_names))
    assert list(cline.param_names) == expected


@pytest.mark.parametrize("fname", [ROO_XML, ROO_NATIVE, CLINE])
def test_catalog_files_are_plain_json_round_trip(fname):
    path = protocols.catalog.DATA_DIR / fname
    data = json.loads(path.read_text(encoding="utf-8"))
    again = catalog_from_dict(data, source=str(path), base_dir=path.parent)
    assert list(again.tools) == list(load_catalog(fname).tools)


def test_docs_list_every_violation_code_and_shipped_catalog():
    from pathlib import Path

    from protocols.violations import CODES
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocols.md").read_text(encoding="utf-8")
    for code in CODES:
        assert f"| `{code}` |" in doc, f"docs/protocols.md does not describe violation code {code}"
    for fname in (ROO_XML, ROO_NATIVE, CLINE):
        assert fname in doc
