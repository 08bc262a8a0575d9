"""`mcp:PATH`: saved tools/list results of both MCP revisions, pages joined, schema errors naming the file
and the tool, annotations as tags, plain and `mcp--server--tool` names, parsing on the native wire."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import protocols
from protocols.mcp import (McpListError, catalog_from_listing, listing_from_json, parse_ref, read_listing,
                           sanitize_mcp_name, zoo_tool_name)

# 2026-07-28: any 2020-12 keyword, outputSchema, annotations, icons, ttlMs/cacheScope/resultType
PAGE_1 = {
    "resultType": "complete", "ttlMs": 60000, "cacheScope": "public", "nextCursor": "page-2",
    "tools": [
        {"name": "search_issues", "title": "Search issues", "description": "Search the tracker's issues.",
         "icons": [{"src": "https://example.com/i.png", "mimeType": "image/png"}],
         "inputSchema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                         "$defs": {"State": {"enum": ["open", "closed"]}},
                         "properties": {"query": {"type": "string", "minLength": 1},
                                        "state": {"$ref": "#/$defs/State"},
                                        "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
                         "required": ["query"],
                         "if": {"properties": {"state": {"const": "closed"}}}, "then": {"required": ["limit"]},
                         "additionalProperties": False},
         "outputSchema": {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "integer"}}}},
         "annotations": {"readOnlyHint": True, "openWorldHint": False}},
    ],
}
PAGE_2 = {"resultType": "complete", "ttlMs": 60000, "cacheScope": "public",
          "tools": [{"name": "close_issue", "description": "Close an issue.",
                     "inputSchema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
                     "annotations": {"destructiveHint": True, "idempotentHint": True}}]}
# 2025-11-25: properties/required only, execution.taskSupport, no ttlMs/cacheScope
OLD = {"tools": [{"name": "get_time", "description": "The current time in a zone.",
                  "inputSchema": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
                  "execution": {"taskSupport": "forbidden"}}]}


def write(tmp: Path, data: object, name: str = "tools.json") -> str:
    p = tmp / name
    p.write_text(json.dumps(data))
    return str(p)


def call(name: str, args: dict) -> dict:
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]}


def test_revision_2026_pages_joined_in_order(tmp_path: Path) -> None:
    listing = read_listing(write(tmp_path, [PAGE_1, PAGE_2]))
    assert [t.name for t in listing.tools] == ["search_issues", "close_issue"] and listing.pages == 2
    assert listing.tools[0].title == "Search issues" and listing.tools[0].output_schema is not None


def test_revision_2025_and_jsonrpc_envelope(tmp_path: Path) -> None:
    p = write(tmp_path, {"jsonrpc": "2.0", "id": 7, "result": OLD})
    proto = protocols.get(f"mcp:{p}")
    assert list(proto.catalog.tools) == ["get_time"]
    assert proto.parse(call("get_time", {"zone": "UTC"})).codes == []
    assert "missing_required_param" in proto.parse(call("get_time", {})).codes


def test_import_mcp_file_shape_carries_server_and_revision(tmp_path: Path) -> None:
    data = {"server": {"name": "tracker", "version": "2.0.1"}, "protocolVersion": "2026-07-28",
            "command": ["x"], "pages": [PAGE_1, PAGE_2]}
    cat = protocols.get(f"mcp:{write(tmp_path, data)}").catalog
    assert cat.name == "tracker" and cat.version == "2.0.1" and "2026-07-28" in cat.description


def test_2020_12_keywords_are_checked_when_parsing(tmp_path: Path) -> None:
    proto = protocols.get(f"mcp:{write(tmp_path, [PAGE_1, PAGE_2])}")
    ok = proto.parse(call("search_issues", {"query": "crash", "state": "open"}))
    assert ok.codes == []
    assert "invalid_param_value" in proto.parse(call("search_issues", {"query": "x", "state": "stale"})).codes
    assert "missing_required_param" in proto.parse(call("search_issues", {"query": "x", "state": "closed"})).codes
    assert "unexpected_param" in proto.parse(call("search_issues", {"query": "x", "sort": "new"})).codes
    assert "$schema" not in proto.request_tools()[0]["function"]["parameters"]


def test_annotations_become_tags(tmp_path: Path) -> None:
    cat = protocols.get(f"mcp:{write(tmp_path, [PAGE_1, PAGE_2])}").catalog
    assert cat.tools["search_issues"].tags == ("mcp:read-only",)
    assert cat.tools["close_issue"].tags == ("mcp:destructive", "mcp:idempotent")


@pytest.mark.parametrize("data, where, what", [
    ([{"tools": [{"name": "bad", "inputSchema": {"type": "object", "properties": {"x": {"type": "strng"}}}}]}],
     "tools[0] 'bad'", "inputSchema is not a valid JSON Schema 2020-12 at properties/x/type"),
    ([PAGE_1, {"tools": [{"name": "flat", "inputSchema": {"type": "string"}}]}],
     "pages[1].tools[0] 'flat'", 'inputSchema must have "type": "object" at its root'),
    ({"tools": [{"name": "o", "inputSchema": {"type": "object"}, "outputSchema": {"minimum": "1"}}]},
     "tools[0] 'o'", "outputSchema is not a valid JSON Schema 2020-12"),
    ({"tools": [{"name": "a", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": "yes"}}]},
     "tools[0] 'a'", "annotations.readOnlyHint must be true or false"),
    ([PAGE_1], "", "the last page has nextCursor"),
    ([PAGE_1, PAGE_1 | {"nextCursor": None}], "pages[1].tools[0]", "duplicate tool 'search_issues'"),
    ({"tools": [{"inputSchema": {"type": "object"}}]}, "tools[0].name", "missing"),
    ({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}}, "", "a JSON-RPC error"),
    ({"items": []}, "", "not a tools/list result"),
])
def test_schema_errors_name_file_and_tool(tmp_path: Path, data: object, where: str, what: str) -> None:
    p = write(tmp_path, data)
    with pytest.raises(McpListError) as e:
        protocols.get(f"mcp:{p}")
    msg = str(e.value)
    assert msg.startswith(p) and where in msg and what in msg, msg


def test_unreadable_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(McpListError, match="file not found; save a tools/list result first"):
        read_listing(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text('{"tools": [\n')
    with pytest.raises(McpListError, match=r"bad.json:2: invalid JSON"):
        read_listing(str(tmp_path / "bad.json"))


def test_zoo_names_render_and_parse_as_zoo_does(tmp_path: Path) -> None:
    p = write(tmp_path, {"server": {"name": "issue tracker!", "version": "1"}, "protocolVersion": "2025-11-25",
                         "pages": [PAGE_1, PAGE_2]})
    proto = protocols.get(f"mcp:{p}?names=zoo")
    assert list(proto.catalog.tools) == ["mcp--issue_tracker--search_issues", "mcp--issue_tracker--close_issue"]
    assert [t["function"]["name"] for t in proto.request_tools()] == list(proto.catalog.tools)
    turn = proto.parse(call("mcp--issue_tracker--close_issue", {"id": 3}))
    assert turn.codes == [] and turn.calls[0].name == "mcp--issue_tracker--close_issue"
    # models that turn the hyphens into underscores are matched, reported under the real name
    turn = proto.parse(call("mcp__issue_tracker__close_issue", {"id": 3}))
    assert turn.codes == [] and turn.calls[0].name == "mcp--issue_tracker--close_issue"
    assert "unknown_tool" in proto.parse(call("close_issue", {"id": 3})).codes
    # plain names (Claude Desktop and most clients): the server's own
    plain = protocols.get(f"mcp:{p}")
    assert plain.parse(call("close_issue", {"id": 3})).codes == []
    assert "unknown_tool" in plain.parse(call("mcp__issue_tracker__close_issue", {"id": 3})).codes
    # server= overrides the saved name
    assert "mcp--gh--close_issue" in protocols.get(f"mcp:{p}?names=zoo&server=gh").catalog.tools


def test_sanitising_and_the_64_character_cut() -> None:
    assert sanitize_mcp_name("my  server.v2") == "my_serverv2"
    assert sanitize_mcp_name("a--b") == "a-b" and sanitize_mcp_name("9lives") == "_9lives"
    assert sanitize_mcp_name("") == "_" and sanitize_mcp_name("!!") == "_unnamed"
    long = zoo_tool_name("s" * 40, "t" * 40)
    assert len(long) == 64 and long.startswith("mcp--" + "s" * 40 + "--")


def test_bad_refs_say_what_to_do() -> None:
    with pytest.raises(McpListError, match="names=plain .* or names=zoo"):
        parse_ref("tools.json?names=roo-ish")
    with pytest.raises(McpListError, match="unknown option 'nmes'"):
        parse_ref("tools.json?nmes=zoo")
    assert parse_ref("t.json?names=zoo&server=gh").server == "gh"


def test_roo_lints_never_apply_to_a_servers_tools(tmp_path: Path) -> None:
    # an MCP tool that happens to be called like a Roo tool is the server's tool, not Roo's
    p = write(tmp_path, {"tools": [{"name": "attempt_completion", "inputSchema": {
        "type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}}]})
    turn = protocols.get(f"mcp:{p}").parse(call("attempt_completion", {"result": "Done. Anything else?"}))
    assert turn.codes == []


def test_protocol_block_in_a_suite(tmp_path: Path) -> None:
    from harness.suite import check
    write(tmp_path, [PAGE_1, PAGE_2], "cat.json")
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: mcp-block\nprotocol: {wire: mcp, catalog: cat.json, names: zoo, server: gh}\ncases:\n"
        "  - id: c1\n    messages: [{role: user, content: close issue 3}]\n"
        "    expect: {calls: [{name: mcp--gh--close_issue, arguments: {id: {const: 3}}}]}\n"
        "    reference: {role: assistant, content: null, tool_calls: [{id: c1, type: function, function: "
        "{name: mcp--gh--close_issue, arguments: '{\"id\": 3}'}}]}\n")
    got, problems = check(str(suite))
    assert problems == [] and got is not None and len(got.cases) == 1
    # and the string form, relative to the suite file
    suite.write_text(suite.read_text().replace("{wire: mcp, catalog: cat.json, names: zoo, server: gh}",
                                               "mcp:cat.json?names=zoo&server=gh"))
    got, problems = check(str(suite))
    assert problems == [], problems


def test_listing_to_catalog_without_a_server_name_uses_the_file_stem(tmp_path: Path) -> None:
    cat = catalog_from_listing(listing_from_json(OLD, source=str(tmp_path / "clock.json")), names="zoo")
    assert list(cat.tools) == ["mcp--clock--get_time"]
