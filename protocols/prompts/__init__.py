"""Rendering: tool calls into wire text, catalogs into system prompts and OpenAI `tools` entries.

Pure, deterministic functions over the catalog data (standard library only). Nothing here reads the
host: the SYSTEM INFORMATION section uses fixed values so that the same catalog and mode always give
byte-identical prompts (the response cache and server-side prefix caches depend on it).

Styles (`style=`):
  * ``full``    -- the sections of Roo Code v3.29.3's system prompt, in Roo's order, in this project's
                   own words; for native protocols the XML tool catalog is left out.
  * ``compact`` -- a few hundred characters for small-context models: one line on the format, one
                   line per tool, one line on the one-call rule.
A user's exact prompt text is read with `load_system_prompt_file` (``--system-prompt-file``).
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from protocols.catalog import Catalog, ModeSpec, ToolSpec
from protocols.errors import UserError

STYLES = ("full", "compact")

# Fixed, made-up environment for the SYSTEM INFORMATION section (never the real host).
OPERATING_SYSTEM = "Linux"
DEFAULT_SHELL = "/bin/bash"
HOME_DIRECTORY = "/home/user"
WORKSPACE_DIRECTORY = "/home/user/project"

SEPARATOR = "\n\n====\n\n"

# The one parameter whose value keeps its inner whitespace in Roo's parser (one leading and one
# trailing newline are stripped); every other value is trimmed.
CONTENT_PARAM = "content"


# -- wire text --------------------------------------------------------------------------------

def format_xml_call(name: str, params: Mapping[str, str]) -> str:
    """Canonical XML wire text for one tool call, as Roo Code v3.29.3 reads it.

        >>> print(format_xml_call("read_file", {"path": "a.py"}))
        <read_file>
        <path>a.py</path>
        </read_file>

    `content` is written on its own lines (``<content>\\nVALUE\\n</content>``): Roo strips exactly one
    leading and one trailing newline from it, so VALUE comes back unchanged, whitespace included.
    Every other value is written verbatim between its tags.

    Round-trip limits (what Roo's parser cannot give back, so neither can this text):
      * values other than `content` are trimmed by the parser (JavaScript ``String.trim``), so a value
        with leading or trailing whitespace comes back without it;
      * a value that contains its own closing tag (``</diff>`` inside a diff) is cut at the first
        occurrence -- only write_to_file's `content` is read up to the *last* ``</content>``;
      * parameter names outside the catalog's `param_names` whitelist are not recognised at all.
    There is no escaping in this format (no entities, no CDATA), so none is applied.
    """
    lines = [f"<{name}>"]
    for key, value in params.items():
        text = "" if value is None else str(value)
        if key == CONTENT_PARAM:
            lines.append(f"<{key}>\n{text}\n</{key}>")
        else:
            lines.append(f"<{key}>{text}</{key}>")
    lines.append(f"</{name}>")
    return "\n".join(lines)


def format_hermes_call(name: str, arguments: Mapping[str, Any]) -> str:
    """One Hermes/Qwen-style call: ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``."""
    body = json.dumps({"name": name, "arguments": dict(arguments)}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


# -- OpenAI request entries -------------------------------------------------------------------

def _offered_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a parameters schema without properties marked ``"deprecated": true``.

    Deprecated properties (e.g. read_file's older single-file form) are still accepted by the parser
    but are never advertised to the model.
    """
    schema = copy.deepcopy(dict(parameters))
    props = schema.get("properties")
    if isinstance(props, dict):
        hidden = [k for k, v in props.items() if isinstance(v, Mapping) and v.get("deprecated") is True]
        for k in hidden:
            del props[k]
        if hidden and isinstance(schema.get("required"), list):
            schema["required"] = [r for r in schema["required"] if r not in hidden]
    return schema


def tool_to_openai(spec: ToolSpec) -> dict[str, Any]:
    """An OpenAI `tools` entry: ``{"type": "function", "function": {name, description, parameters[, strict]}}``.

    `strict` is present (and true) only for tools whose catalog entry says ``"strict": true``.
    """
    function: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "parameters": _offered_schema(spec.parameters),
    }
    if spec.strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def openai_tools(specs: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    """`tool_to_openai` over several tools, in order."""
    return [tool_to_openai(s) for s in specs]


# -- helpers ----------------------------------------------------------------------------------

def _check_style(style: str) -> None:
    if style not in STYLES:
        raise UserError(f"system prompt style {style!r}: use one of {', '.join(STYLES)} "
                        f"(or --system-prompt-file PATH for an exact prompt)")


def _resolve_mode(catalog: Catalog, mode: str | None) -> ModeSpec | None:
    """The mode to render (the catalog's default when `mode` is None); a clear error for an unknown slug."""
    if not catalog.modes:
        return None
    m = catalog.mode(mode)
    if m is None:
        wanted = mode if mode is not None else catalog.default_mode
        raise UserError(f"catalog {catalog.name!r}: unknown mode {wanted!r}; "
                        f"use one of {', '.join(catalog.modes)}")
    return m


def _visible_params(spec: ToolSpec) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, schema, required) for the parameters shown to a model: required first, then optional.

    Within each half the catalog's order is kept; deprecated parameters are left out.
    """
    props = spec.parameters.get("properties", {}) or {}
    required = set(spec.required)
    shown = [(k, v if isinstance(v, dict) else {}, k in required) for k, v in props.items()
             if not (isinstance(v, Mapping) and v.get("deprecated") is True)]
    return [p for p in shown if p[2]] + [p for p in shown if not p[2]]


def _placeholder(name: str, schema: Mapping[str, Any], required: bool) -> str:
    title = schema.get("title")
    text = str(title) if isinstance(title, str) and title else f"{name.replace('_', ' ')} here"
    if not required and "\n" not in text:
        text += " (optional)"
    return text


def _usage(spec: ToolSpec) -> str:
    lines = [f"<{spec.name}>"]
    for name, schema, required in _visible_params(spec):
        ph = _placeholder(name, schema, required)
        if name == CONTENT_PARAM or "\n" in ph:
            lines.append(f"<{name}>\n{ph}\n</{name}>")
        else:
            lines.append(f"<{name}>{ph}</{name}>")
    lines.append(f"</{spec.name}>")
    return "\n".join(lines)


def _param_line(name: str, schema: Mapping[str, Any], required: bool) -> str:
    desc = str(schema.get("description", "")).strip()
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and not all(str(e) in desc for e in enum):
        desc = (desc + " " if desc else "") + "One of: " + ", ".join(str(e) for e in enum) + "."
    return f"- {name}: ({'required' if required else 'optional'}) {desc}".rstrip()


def _tool_section(spec: ToolSpec) -> str:
    parts = [f"## {spec.name}", f"Description: {spec.description.strip()}"]
    params = _visible_params(spec)
    if params:
        parts.append("Parameters:")
        parts.extend(_param_line(*p) for p in params)
    else:
        parts.append("Parameters: none")
    parts.append("Usage:\n" + _usage(spec))
    examples = [e for e in spec.examples if isinstance(e, str) and e.strip()]
    if len(examples) == 1:
        parts.append("Example:\n" + examples[0])
    elif examples:
        parts.append("Examples:\n" + "\n\n".join(examples))
    return "\n".join(parts)


def _compact_signature(spec: ToolSpec) -> str:
    names = [n if req else f"[{n}]" for n, _, req in _visible_params(spec)]
    return f"{spec.name}({', '.join(names)})"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


# -- the full prompt, section by section -------------------------------------------------------

def _prompt_order(catalog: Catalog, mode: ModeSpec | None) -> list[ToolSpec]:
    """The mode's tools in the order Roo lists them: group by group, then the always-available ones.

    The set is exactly `catalog.tools_for_mode`; without modes it is the catalog's order.
    """
    offered = catalog.tools_for_mode(mode.slug if mode else None)
    if mode is None:
        return offered
    by_name = {t.name: t for t in offered}
    order: list[str] = []
    for g in mode.groups:
        order += [n for n in catalog.groups.get(g, ()) if n in by_name and n not in order]
    order += [n for n in catalog.always_available if n in by_name and n not in order]
    order += [n for n in by_name if n not in order]
    return [by_name[n] for n in order]


class _Ctx:
    """What a full prompt depends on: catalog, mode, offered tools and the wire (xml or native)."""

    def __init__(self, catalog: Catalog, mode: ModeSpec | None, native: bool):
        self.catalog = catalog
        self.mode = mode
        self.native = native
        self.tools = _prompt_order(catalog, mode)
        self.names = [t.name for t in self.tools]
        self.one_call = catalog.one_call_per_turn

    def has(self, *names: str) -> bool:
        return all(n in self.names for n in names)

    def any(self, *names: str) -> bool:
        return any(n in self.names for n in names)


def _intro(ctx: _Ctx) -> str:
    if ctx.mode and ctx.mode.role_definition.strip():
        return ctx.mode.role_definition.strip()
    if ctx.catalog.description.strip():
        return ("You are a software engineering assistant that works by calling tools. "
                f"Tool set: {ctx.catalog.name}.")
    return "You are a software engineering assistant that works by calling tools."


def _markdown_rules(ctx: _Ctx) -> str:
    where = " This applies to every reply, including the result of attempt_completion." if ctx.has(
        "attempt_completion") else " This applies to every reply."
    return ("MARKDOWN RULES\n\n"
            "Whenever a reply mentions a file or a code construct, write it as a clickable markdown link of the "
            "form [`name`](relative/path.ext:line). The line number is required for code constructs and "
            "optional for plain file references." + where)


def _tool_use(ctx: _Ctx) -> str:
    if ctx.native:
        count = ("Make exactly one tool call in every response: never zero and never more than one."
                 if ctx.one_call else
                 "Make at least one tool call in every response; several calls are allowed when they are "
                 "independent.")
        return ("TOOL USE\n\n"
                "You have a set of tools, and each call runs after the user approves it. Call them only through "
                "the platform's native tool-calling (function-calling) mechanism: never write a tool call as XML "
                "or as JSON in the text of your reply. " + count +
                " Work step by step, choosing each call from the result of the previous one.")
    count = ("Each message you send must contain one tool call, and only one."
             if ctx.one_call else "Every message you send must contain at least one tool call.")
    return ("TOOL USE\n\n"
            "You have a set of tools, and each call runs after the user approves it. " + count +
            " Work step by step, choosing each call from the result of the previous one.\n\n"
            "# Tool Use Formatting\n\n"
            "A tool call is written as XML-style tags: the tool's name is the outer tag, and each parameter is a "
            "child tag that holds its value:\n\n"
            "<tool_name>\n<first_parameter>value</first_parameter>\n<second_parameter>value</second_parameter>\n"
            "...\n</tool_name>\n\n"
            "Use the tool's real name as the tag, spelled exactly as listed below, and close every tag you open. "
            "Values are plain text: write booleans as true or false and numbers as digits.")


def _tools_section(ctx: _Ctx) -> str:
    return "# Tools\n\n" + "\n\n".join(_tool_section(t) for t in ctx.tools)


def _guidelines(ctx: _Ctx) -> str:
    pick = "Choose the tool that suits the current step best"
    if ctx.has("list_files") and ctx.has("execute_command"):
        pick += ", for example list_files rather than running ls in a terminal"
    fmt = ("Make each call through the native tool-calling mechanism, with arguments that follow the tool's schema."
           if ctx.native else "Write each call in the XML format shown for that tool.")
    one = ("When several actions are needed, take them one call at a time, each based on what the previous "
           "call returned; never assume how a call turned out." if ctx.one_call else
           "Base each call on the results you already have; never assume how a call turned out.")
    return ("# Tool Use Guidelines\n\n"
            "1. Work out what you already know and what you still need to find out.\n"
            f"2. {pick}, and consider which tool would gather any missing information most directly.\n"
            f"3. {one}\n"
            f"4. {fmt}\n"
            "5. After each call the user replies with its result: whether it succeeded or failed and why, linter "
            "errors, terminal output or other feedback. Use that reply to decide the next step.\n"
            "6. Always wait for that reply before continuing; never take a call's success for granted.\n\n"
            "Going one confirmed step at a time lets you catch errors as soon as they appear, adapt to new "
            "information, and make sure each action builds on a correct previous one.")


def _capabilities(ctx: _Ctx) -> str:
    lines = ["CAPABILITIES", ""]
    lines.append(f"- The tools available in this conversation are: {', '.join(ctx.names)}.")
    if ctx.has("execute_command"):
        lines.append("- You can run command-line programs on the user's computer with execute_command. Say what each "
                     "command does. Prefer one well-formed command over writing a script. Each command runs in a "
                     "new terminal; long-running and interactive commands are allowed.")
    if ctx.any("list_files", "read_file"):
        lines.append(f"- The first user message includes, in environment_details, a recursive listing of the files "
                     f"in the workspace ('{WORKSPACE_DIRECTORY}'). Folder and file names show how the project is "
                     f"organised and which languages it uses.")
    if ctx.has("list_files"):
        lines.append("- list_files shows other directories: the top level by default, or everything below a "
                     "directory when recursive is true.")
    if ctx.has("search_files"):
        lines.append("- search_files finds a regular expression across many files and shows each match in context, "
                     "which helps to locate implementations, usages and code that needs changing.")
    if ctx.has("codebase_search"):
        lines.append("- codebase_search finds code by meaning, which is the quickest way into an unfamiliar part "
                     "of the project.")
    if ctx.has("list_code_definition_names"):
        lines.append("- list_code_definition_names gives an overview of the classes and functions in a file or "
                     "directory, a good step between the file listing and reading files.")
    edit_tools = [n for n in ("write_to_file", "apply_diff", "insert_content", "search_and_replace",
                              "search_replace", "edit_file", "apply_patch", "replace_in_file") if ctx.has(n)]
    if ctx.has("read_file") or edit_tools:
        what = "read files" if ctx.has("read_file") else ""
        if edit_tools:
            what += (" and " if what else "") + f"change them ({', '.join(edit_tools)})"
        lines.append(f"- You can {what}.")
    if ctx.has("browser_action"):
        lines.append("- browser_action opens web pages in a browser, interacts with them and returns screenshots "
                     "and console output, for example to check a web app you have just changed.")
    if ctx.any("use_mcp_tool", "access_mcp_resource"):
        lines.append("- Connected MCP servers can add tools and resources, reached through "
                     f"{_join([n for n in ('use_mcp_tool', 'access_mcp_resource') if ctx.has(n)])}.")
    return "\n".join(lines)


def _modes(ctx: _Ctx) -> str:
    lines = ["MODES", "", "- The available modes are:"]
    for m in ctx.catalog.modes.values():
        desc = m.when_to_use.strip() or m.role_definition.strip().split(".")[0]
        lines.append(f"  * {m.name} ({m.slug}) - {desc}")
    if ctx.mode is not None:
        lines.append(f"- The current mode is {ctx.mode.name} ({ctx.mode.slug}).")
    if ctx.has("fetch_instructions"):
        how = ("call fetch_instructions with task create_mode." if ctx.native else
               "fetch them with this call:\n" + format_xml_call("fetch_instructions", {"task": "create_mode"}))
        lines.append(f"- Before creating or editing a mode for this project, read the instructions for it: {how}")
    return "\n".join(lines)


def _restriction_rule(ctx: _Ctx) -> str | None:
    if ctx.mode is not None and ctx.mode.restrictions:
        parts = []
        for group, r in ctx.mode.restrictions.items():
            if group in ctx.mode.groups:
                desc = f" ({r.description})" if r.description else ""
                parts.append(f"`{r.file_regex}`{desc}")
        if parts:
            return (f"- In {ctx.mode.name} mode you may only edit files whose path matches {_join(parts)}. An edit "
                    f"to any other file is rejected with an error that names the allowed pattern.")
    if any(m.restrictions for m in ctx.catalog.modes.values()):
        return ("- Some modes may only edit certain files; an edit outside them is rejected with an error that "
                "names the allowed pattern.")
    return None


def _rules(ctx: _Ctx) -> str:
    r: list[str] = ["RULES", ""]
    r.append(f"- The project directory is {WORKSPACE_DIRECTORY}. Give every file path relative to it.")
    r.append(f"- You cannot `cd` to another directory to work there: you always operate from "
             f"'{WORKSPACE_DIRECTORY}', so pass the right path to each tool. To run a command in another "
             f"directory, change directory inside that same command, as in `cd other/dir && npm install`.")
    r.append("- Never write ~ or $HOME for the home directory.")
    if ctx.has("execute_command"):
        r.append("- Before running a command, check SYSTEM INFORMATION so that the command suits the user's "
                 "operating system and shell. If the expected output does not appear, assume the command worked "
                 "and carry on.")
    if ctx.has("search_files"):
        r.append("- Make search_files patterns specific enough to be useful but not so narrow that they miss "
                 "variants; read the surrounding code of interesting matches before changing anything.")
    if ctx.has("write_to_file"):
        r.append("- A write_to_file call must contain the complete file. Partial content and placeholders such as "
                 "'// rest of the code stays the same' are forbidden; include every part, changed or not.")
        others = [n for n in ("apply_diff", "insert_content", "search_and_replace") if ctx.has(n)]
        if others:
            r.append(f"- To change an existing file, prefer {_join(others)} to write_to_file, which is slower and "
                     f"unsuited to large files.")
    if ctx.any("write_to_file", "apply_diff", "insert_content", "search_and_replace"):
        r.append("- Put the files of a new project in their own directory unless the user says otherwise, and keep "
                 "your changes consistent with the surrounding code and the project's conventions.")
    restriction = _restriction_rule(ctx)
    if restriction:
        r.append(restriction)
    if ctx.has("ask_followup_question"):
        r.append("- Ask the user questions only with ask_followup_question, and only when the tools cannot find "
                 "the answer. Ask one clear question and offer 2-4 specific suggested answers, ordered by "
                 "priority, so that the user can reply quickly. Do not ask for more than you need.")
    else:
        r.append("- Do not ask the user for more information than you need; use the tools to find it.")
    if ctx.has("read_file"):
        r.append("- If the user has already given a file's content in a message, do not read that file again.")
    r.append("- Your goal is to complete the task, not to hold a conversation.")
    if ctx.has("attempt_completion"):
        r.append("- When the task is done, present the result with attempt_completion. The result must be final: "
                 "never end it with a question or an offer of further help.")
    r.append('- Never start a message with "Great", "Certainly", "Okay" or "Sure". Be direct and technical rather '
             'than conversational: write "I updated the CSS", not "Great, I updated the CSS".')
    r.append("- The environment_details block at the end of a user message is generated automatically. Use it as "
             "context, but do not treat it as part of the user's request.")
    if ctx.has("codebase_search"):
        r.append("- Whenever you start exploring code you have not looked at yet in this conversation, reach for "
                 "codebase_search first, ahead of the other search and file tools.")
    if ctx.any("use_mcp_tool", "access_mcp_resource"):
        r.append("- Use MCP tools and resources one at a time, like any other tool, and wait for each result.")
    if ctx.one_call:
        per = "response" if ctx.native else "message"
        r.append(f"- Use one tool per {per}, then wait for the user's reply with its result before the next step. "
                 f"Never assume that a call succeeded.")
    return "\n".join(r)


def _system_information(ctx: _Ctx) -> str:
    text = ("SYSTEM INFORMATION\n\n"
            f"Operating System: {OPERATING_SYSTEM}\n"
            f"Default Shell: {DEFAULT_SHELL}\n"
            f"Home Directory: {HOME_DIRECTORY}\n"
            f"Current Workspace Directory: {WORKSPACE_DIRECTORY}\n\n"
            "The workspace directory is the default directory for every tool. New terminals start in it; changing "
            "directory inside a terminal does not change the workspace directory.")
    if ctx.has("list_files"):
        text += (" To look outside the workspace, use list_files; pass recursive true only when you need the "
                 "nested structure.")
    return text


def _objective(ctx: _Ctx) -> str:
    ask = (" ask for it with ask_followup_question instead" if ctx.has("ask_followup_question")
           else " ask the user for it instead")
    done = ("4. When the task is done, present the result with attempt_completion."
            if ctx.has("attempt_completion") else "4. When the task is done, say so plainly and stop.")
    return ("OBJECTIVE\n\n"
            "Work through the task iteratively, in clear and manageable steps.\n\n"
            "1. Study the task and break it into concrete, reachable goals, ordered sensibly.\n"
            "2. Work through the goals one at a time, using the tools as needed; each result tells you what is "
            "done and what remains.\n"
            "3. Before each call, think it through: look at the project structure, choose the most relevant tool, "
            "then go through its required parameters and check whether the user has given each value or it can "
            "be inferred with confidence. If so, make the call. If a required value is missing, do not call the "
            "tool with a guessed or placeholder value:" + ask + ". Do not ask about optional parameters.\n"
            f"{done}\n"
            "5. The user may reply with feedback for you to act on, but avoid pointless back-and-forth: do not end "
            "your replies with questions or offers of further help.")


def _full(ctx: _Ctx) -> str:
    sections = [_intro(ctx), _markdown_rules(ctx)]
    if ctx.native:
        sections.append(_tool_use(ctx) + "\n\n" + _guidelines(ctx))
    else:
        sections.append(_tool_use(ctx) + "\n\n" + _tools_section(ctx) + "\n\n" + _guidelines(ctx))
    sections.append(_capabilities(ctx))
    if ctx.catalog.modes:
        sections.append(_modes(ctx))
    sections += [_rules(ctx), _system_information(ctx), _objective(ctx)]
    return SEPARATOR.join(sections) + "\n"


# -- public renderers -------------------------------------------------------------------------

def render_xml_system(catalog: Catalog, mode: str | None = None, style: str = "full") -> str:
    """The system prompt for an XML-wire catalog in `mode` (the catalog's default mode when None).

    Only the tools the mode offers (`catalog.tools_for_mode`) are described. Raises UserError for an
    unknown style or mode.
    """
    _check_style(style)
    m = _resolve_mode(catalog, mode)
    ctx = _Ctx(catalog, m, native=False)
    if style == "compact":
        head = "Reply with one XML tool call: <tool><param>value</param></tool>."
        if not catalog.one_call_per_turn:
            head = "Reply with XML tool calls: <tool><param>value</param></tool>."
        lines = [head] + [_compact_signature(t) for t in ctx.tools]
        if catalog.one_call_per_turn:
            lines.append("One tool call per message.")
        return "\n".join(lines) + "\n"
    return _full(ctx)


def render_native_system(catalog: Catalog | None, mode: str | None = None, style: str = "full") -> str:
    """The system prompt for a native (OpenAI `tool_calls`) protocol.

    With a catalog, `full` has the sections of the XML prompt but tells the model to use the platform's
    native tool calling and leaves out the XML tool catalog (the tools travel in the request);
    `compact` is one or two lines. Without a catalog (BFCL and user suites with their own functions) a
    short generic instruction is returned for either style.
    """
    _check_style(style)
    if catalog is None:
        return ("Use the functions provided with this request when one of them fits the user's request, calling "
                "them through native tool calls with arguments that follow their schemas; never write a call as "
                "text. If none fits, answer without calling a function.\n")
    m = _resolve_mode(catalog, mode)
    ctx = _Ctx(catalog, m, native=True)
    if style == "compact":
        if catalog.one_call_per_turn:
            return ("Call exactly one of the provided tools in every response, through native tool calls; never "
                    "write a call as text.\n")
        return "Call the provided tools through native tool calls; never write a call as text.\n"
    return _full(ctx)


def _function_of(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    if entry.get("type") == "function" and isinstance(entry.get("function"), Mapping):
        return entry["function"]
    return entry


def render_hermes_system(tools: list[dict[str, Any]], style: str = "full") -> str:
    """A Hermes/Qwen-style prompt: the function schemas as JSON inside <tools></tools>, and the
    instruction to answer with ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

    `tools` are OpenAI `tools` entries (or bare function objects). `compact` lists only names and
    parameter schemas, one JSON object per line without spaces.
    """
    _check_style(style)
    if style == "compact":
        listed = [json.dumps({"name": f.get("name"), "parameters": f.get("parameters", {})},
                             ensure_ascii=False, separators=(",", ":"))
                  for f in (_function_of(t) for t in tools)]
        return ("Call functions with <tool_call>{\"name\": ..., \"arguments\": {...}}</tool_call>.\n"
                "<tools>\n" + "\n".join(listed) + "\n</tools>\n")
    listed = [json.dumps(t if t.get("type") == "function" else {"type": "function", "function": t},
                         ensure_ascii=False) for t in tools]
    return ("You can call functions to help with the user's request. Their signatures, as JSON Schema, are listed "
            "inside <tools></tools>:\n"
            "<tools>\n" + "\n".join(listed) + "\n</tools>\n\n"
            "To call a function, write a JSON object with its name and its arguments inside "
            "<tool_call></tool_call> tags:\n"
            "<tool_call>\n{\"name\": \"function_name\", \"arguments\": {\"parameter\": \"value\"}}\n</tool_call>\n"
            "Write one <tool_call> block per call, with arguments that follow the function's schema. If no "
            "function fits the request, answer in plain text without a <tool_call> block.\n")


def load_system_prompt_file(path: str) -> str:
    """The exact text of a user's system-prompt file (``--system-prompt-file``), unchanged.

    Raises UserError naming the path when the file is missing, unreadable, not UTF-8 or empty.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: system prompt file not found; pass the path of a text file with the exact "
                        f"prompt") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a system prompt file") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: system prompt file is not valid UTF-8 (byte {e.start})") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read system prompt file: {e.strerror or e}") from None
    if not text.strip():
        raise UserError(f"{path}: system prompt file is empty")
    return text


__all__ = [
    "STYLES", "format_hermes_call", "format_xml_call", "load_system_prompt_file", "openai_tools",
    "render_hermes_system", "render_native_system", "render_xml_system", "tool_to_openai",
]
