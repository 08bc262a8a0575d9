"""The `full` system prompt: the sections of Roo Code v3.29.3's prompt, in Roo's order, in this
project's own words, for the tools a mode offers (XML wire: with the tool catalog; native: without).

One cohesive thing: every section reads the same `PromptContext`, and the sections' wording is the
prompt. Nothing reads the host: SYSTEM INFORMATION uses fixed values, so the same catalog and mode
always give byte-identical prompts (the response cache and server-side prefix caches depend on it).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocols.catalog import Catalog, ModeSpec, ToolSpec
from protocols.prompts.calls import CONTENT_PARAM, format_xml_call

# Fixed, made-up environment for the SYSTEM INFORMATION section (never the real host).
OPERATING_SYSTEM = "Linux"
DEFAULT_SHELL = "/bin/bash"
HOME_DIRECTORY = "/home/user"
WORKSPACE_DIRECTORY = "/home/user/project"

SEPARATOR = "\n\n====\n\n"


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


def compact_signature(spec: ToolSpec) -> str:
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


class PromptContext:
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


def _intro(ctx: PromptContext) -> str:
    if ctx.mode and ctx.mode.role_definition.strip():
        return ctx.mode.role_definition.strip()
    if ctx.catalog.description.strip():
        return ("You are a software engineering assistant that works by calling tools. "
                f"Tool set: {ctx.catalog.name}.")
    return "You are a software engineering assistant that works by calling tools."


def _markdown_rules(ctx: PromptContext) -> str:
    where = " This applies to every reply, including the result of attempt_completion." if ctx.has(
        "attempt_completion") else " This applies to every reply."
    return ("MARKDOWN RULES\n\n"
            "Whenever a reply mentions a file or a code construct, write it as a clickable markdown link of the "
            "form [`name`](relative/path.ext:line). The line number is required for code constructs and "
            "optional for plain file references." + where)


def _tool_use(ctx: PromptContext) -> str:
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


def _tools_section(ctx: PromptContext) -> str:
    return "# Tools\n\n" + "\n\n".join(_tool_section(t) for t in ctx.tools)


def _guidelines(ctx: PromptContext) -> str:
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


def _capabilities(ctx: PromptContext) -> str:
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


def _modes(ctx: PromptContext) -> str:
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


def _restriction_rule(ctx: PromptContext) -> str | None:
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


def _rules(ctx: PromptContext) -> str:
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


def _system_information(ctx: PromptContext) -> str:
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


def _objective(ctx: PromptContext) -> str:
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


def full_prompt(ctx: PromptContext) -> str:
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
