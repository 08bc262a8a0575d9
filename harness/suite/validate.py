"""The rules a suite must follow: one pass over a parsed suite file that collects every problem.

Checked: the suite's top-level keys; each case's id (unique), protocol (compiled once per distinct
spec), mode (one of the catalog's), split, tags, meta, messages (roles, content, tool calls; the last
one is the user's or a tool's), tools (OpenAI function tools with valid JSON Schemas), and, in
`validate_expect`, its expectation and reference. Unknown keys are reported with a "did you mean".
Nothing stops the pass: a case with problems is left out and the next one checked, so one run of
`harness suites validate` lists everything to fix.

Schemas the validator accepts are recorded for the native protocol's validators, which then do not
meta-check them again when they compile them; a file whose exact bytes already passed the structural
checks skips jsonschema's meta-check (`schemas_known_valid`, set from the parse cache's marker).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UserError
from harness.suite.model import Case
from harness.suite.parse_cache import json_safe
from harness.suite.problems import Problems, close, protocol_label, spec_key, tname
from harness.suite.schemas import SIMPLE_KEYS, canonical_json, schema_check
from harness.suite.validate_expect import ExpectChecks

if TYPE_CHECKING:
    from harness.suite.load import DocPath, Document

SUITE_KEYS = ("name", "description", "protocol", "mode", "generator", "version", "cases")
CASE_KEYS = ("id", "protocol", "mode", "split", "tags", "messages", "tools", "expect", "reference", "meta")
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content", "reasoning",
                "refusal")
ROLES = ("system", "user", "assistant", "tool")
SPLITS = ("train", "test")


def _resolve_relative(spec: Any, base_dir: Path | None) -> Any:
    """Catalog paths in a protocol spec are relative to the suite file's folder when they exist there."""
    if base_dir is None:
        return spec
    if isinstance(spec, str):
        wire, sep, rest = spec.partition(":")
        query = ""
        if wire == "mcp":   # mcp:PATH?names=zoo: the query is not part of the path
            rest, q, query = rest.partition("?")
            query = q + query
        if sep and wire in ("xml", "native", "hermes", "mcp") and rest and not os.path.isabs(rest):
            cand = base_dir / rest
            if cand.is_file():
                return f"{wire}:{cand}{query}"
        return spec
    if isinstance(spec, dict) and isinstance(spec.get("catalog"), str) and not os.path.isabs(spec["catalog"]):
        cand = base_dir / spec["catalog"]
        if cand.is_file():
            return {**spec, "catalog": str(cand)}
    return spec


class Validator(ExpectChecks):
    """One pass over a parsed suite: every problem is collected (none stops the pass), the valid cases
    built; `references` then checks the references that `run` left pending."""

    def __init__(self, doc: Document, base_dir: Path | None, check_references: bool = True) -> None:
        self.doc = doc
        self.p = Problems(doc)
        self.base_dir = base_dir
        self.check_refs = check_references
        self._protocols: dict[str, tuple[Any, str | None]] = {}
        self.pending_refs: list[tuple[int, Case, Any]] = []
        self._known_cache: dict[int, tuple[Any, Any]] = {}
        # set when this exact file already passed the structural checks under the same code (the
        # schemas marker): its JSON Schemas are then known to pass check_schema and are not re-checked
        self.schemas_known_valid = False
        self._note_valid: Any = None

    def schema_problem(self, spec: Any) -> str | None:
        """`schema_problem(spec)`, skipping jsonschema's meta-check for a file known to pass it; each
        schema jsonschema accepts is recorded for the native protocol's validators (which then skip
        the same meta-check of the same schema when they compile it)."""
        text = None
        if self.schemas_known_valid and isinstance(spec, dict) and not spec.keys() <= SIMPLE_KEYS:
            try:
                text = canonical_json(spec)
                why = None
            except (TypeError, ValueError):
                text = None
        if text is None:
            why, text = schema_check(spec)
        if why is None and text is not None and (self.doc.json_exact or json_safe(spec)):
            if self._note_valid is None:
                from protocols.schema import note_valid_schema
                self._note_valid = note_valid_schema
            self._note_valid(text)
        return why

    # -- protocols, compiled once per distinct spec --
    def protocol(self, spec: Any) -> tuple[Any, str | None]:
        key = spec_key(spec)
        hit = self._protocols.get(key)
        if hit is None:
            import protocols
            try:
                if not isinstance(spec, (str, dict)):
                    raise UserError(f"protocol must be a name or a {{wire, catalog}} mapping, not {tname(spec)}")
                hit = (protocols.from_spec(spec, source=self.doc.path), None)
            except UserError as e:
                hit = (None, str(e))
            except Exception as e:  # noqa: BLE001 - a broken user catalog must not give a traceback
                hit = (None, f"{type(e).__name__}: {e}")
            self._protocols[key] = hit
        return hit

    def run(self) -> tuple[list[Case], dict[str, Any]]:
        doc, p = self.doc, self.p
        top = doc.top
        if not isinstance(top, dict):
            top = {}
        for k in top:
            if k not in SUITE_KEYS:
                p.add(("@key", k), f"unknown top-level key '{k}' (allowed: {', '.join(SUITE_KEYS)})")
        for k in ("name", "description", "version"):
            if k in top and not isinstance(top[k], str):
                p.add((k,), f"'{k}' must be a string, not {tname(top[k])}")
        if "generator" in top and not isinstance(top["generator"], (dict, str)):
            p.add(("generator",), "'generator' must be a mapping (spec, seed) or a spec name")
        default_proto = top.get("protocol")
        default_proto_ok = True
        if default_proto is not None:
            default_proto = _resolve_relative(default_proto, self.base_dir)
            proto, err = self.protocol(default_proto)
            if err:
                p.add(("protocol",), f"protocol: {err}")
                default_proto_ok = False
        default_mode = top.get("mode")
        if default_mode is not None:
            if not isinstance(default_mode, str):
                p.add(("mode",), f"'mode' must be a mode slug string, not {tname(default_mode)}")
                default_mode = None
            elif default_proto is not None and default_proto_ok:
                cat = getattr(self.protocol(default_proto)[0], "catalog", None)
                if cat is not None and cat.modes and default_mode not in cat.modes:
                    p.add(("mode",), f"unknown mode '{default_mode}' for protocol {protocol_label(default_proto)} "
                                     f"(modes: {', '.join(cat.modes)})")
                    default_mode = None
        if doc.kind == "yaml" and doc.root_node is not None:
            for path, msg in doc.duplicate_keys():
                p.add(path, msg)

        cases_raw = doc.cases
        if not isinstance(cases_raw, list):
            if cases_raw is None:
                p.add(("@key", "cases") if "cases" not in top else ("cases",),
                      "the suite has no 'cases': add a list of cases")
            else:
                p.add(("cases",), f"'cases' must be a list of cases, not {tname(cases_raw)}")
            return [], top
        if not cases_raw:
            p.add(("cases",), "the suite has no cases")
        seen_ids: dict[str, int] = {}
        cases: list[Case] = []
        pending_refs: list[tuple[int, Case, Any]] = []
        for i, raw in enumerate(cases_raw):
            case = self.case(i, raw, default_proto, default_proto_ok, default_mode, seen_ids)
            if case is not None:
                cases.append(case)
                if case.reference is not None and self.check_refs:
                    pending_refs.append((i, case, self.protocol(case.protocol)[0]))
        self.pending_refs = pending_refs
        return cases, top

    def case(self, i: int, raw: Any, default_proto: Any, default_proto_ok: bool, default_mode: Any,
             seen_ids: dict[str, int]) -> Case | None:
        p = self.p
        at = ("cases", i)
        if not isinstance(raw, dict):
            p.add(at, f"case #{i + 1}: a case must be a mapping of fields, not {tname(raw)}")
            return None
        n_before = len(p.items)
        cid = raw.get("id")
        label = f"case #{i + 1}"
        if "id" not in raw:
            p.add(at, f"{label}: missing 'id' (a unique string)")
        elif not isinstance(cid, str) or not cid.strip():
            p.add(at + ("id",), f"{label}: 'id' must be a non-empty string, not {tname(cid)}")
        else:
            label = f"case '{cid}'"
            if cid in seen_ids:
                p.add(at + ("id",), f"{label}: duplicate id (first used on line {seen_ids[cid]})")
            else:
                seen_ids[cid] = self.doc.case_lines[i] if i < len(self.doc.case_lines) else 1
        for k in raw:
            if k not in CASE_KEYS:
                hint = close(k, CASE_KEYS)
                p.add(at + ("@key", k), f"{label}: unknown key '{k}'" + (f" (did you mean '{hint}'?)" if hint else
                                                                       f" (allowed: {', '.join(CASE_KEYS)})"))
        # protocol
        proto = None
        pspec = raw.get("protocol", default_proto)
        if "protocol" in raw:
            pspec = _resolve_relative(raw["protocol"], self.base_dir)
            proto, err = self.protocol(pspec)
            if err:
                p.add(at + ("protocol",), f"{label}: protocol: {err}")
        elif default_proto is None:
            p.add(at, f"{label}: no protocol: set 'protocol' on the case or at the top of the suite")
        elif default_proto_ok:
            proto = self.protocol(default_proto)[0]
        catalog = getattr(proto, "catalog", None) if proto is not None else None
        # mode
        mode = raw.get("mode", default_mode)
        if "mode" in raw:
            if mode is not None and not isinstance(mode, str):
                p.add(at + ("mode",), f"{label}: 'mode' must be a mode slug string, not {tname(mode)}")
                mode = None
            elif mode is not None and catalog is not None and catalog.modes and mode not in catalog.modes:
                p.add(at + ("mode",), f"{label}: unknown mode '{mode}' for protocol {protocol_label(pspec)} "
                                      f"(modes: {', '.join(catalog.modes)})")
        # split, tags, meta
        split = raw.get("split", "test")
        if split not in SPLITS:
            p.add(at + ("split",), f"{label}: split must be 'train' or 'test', not {split!r}")
        tags = raw.get("tags", [])
        if tags is None:
            tags = []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            p.add(at + ("tags",), f"{label}: 'tags' must be a list of strings")
            tags = []
        meta = raw.get("meta", {})
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            p.add(at + ("meta",), f"{label}: 'meta' must be a mapping")
            meta = {}
        messages = self.messages(at, label, raw)
        tools = self.tools(at, label, raw)
        expect = self.expect(at, label, raw, catalog, tools, proto)
        reference = raw.get("reference")
        if "reference" in raw:
            reference = self.reference_shape(at, label, reference)
        if len(p.items) != n_before:
            return None
        line = self.doc.case_lines[i] if i < len(self.doc.case_lines) else 1
        return Case(id=cid, protocol=pspec, messages=messages, expect=expect, mode=mode, split=split,
                    tags=list(tags), tools=tools, reference=reference, meta=dict(meta),
                    source=f"{self.doc.path}:{line}")

    # -- fields --
    def messages(self, at: DocPath, label: str, raw: dict[str, Any]) -> list[dict[str, Any]]:
        p = self.p
        msgs = raw.get("messages")
        if "messages" not in raw:
            p.add(at, f"{label}: missing 'messages' (the conversation so far, a non-empty list)")
            return []
        if not isinstance(msgs, list) or not msgs:
            p.add(at + ("messages",), f"{label}: 'messages' must be a non-empty list of chat messages")
            return []
        for j, m in enumerate(msgs):
            mp = at + ("messages", j)
            where = f"{label}: messages[{j}]"
            if not isinstance(m, dict):
                p.add(mp, f"{where}: a message must be a mapping with 'role' and 'content', not {tname(m)}")
                continue
            role = m.get("role")
            if role not in ROLES:
                p.add(mp + ("role",) if "role" in m else mp,
                      f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}")
            for k in m:
                if k not in MESSAGE_KEYS:
                    p.add(mp + ("@key", k), f"{where}: unknown message key '{k}' (allowed: {', '.join(MESSAGE_KEYS)})")
            content = m.get("content")
            if "content" in m and content is not None and not isinstance(content, (str, list)):
                p.add(mp + ("content",), f"{where}: content must be a string, a list of parts or null, "
                                         f"not {tname(content)}")
            elif isinstance(content, list):
                for q, part in enumerate(content):
                    if not (isinstance(part, str) or (isinstance(part, dict) and isinstance(part.get("type"), str))):
                        p.add(mp + ("content", q), f"{where}: content[{q}] must be a part with a 'type' "
                                                   f"(e.g. {{type: text, text: ...}})")
            if role in ("system", "user", "tool") and not isinstance(content, (str, list)):
                p.add(mp + ("content",) if "content" in m else mp,
                      f"{where}: a {role} message needs content (a string or a list of parts)")
            if "tool_calls" in m:
                if role != "assistant":
                    p.add(mp + ("tool_calls",), f"{where}: only assistant messages carry tool_calls")
                else:
                    self.tool_calls(mp + ("tool_calls",), where, m["tool_calls"])
            if role == "assistant" and content is None and not m.get("tool_calls"):
                p.add(mp, f"{where}: an assistant message needs content or tool_calls")
            if role == "tool" and not isinstance(m.get("tool_call_id"), str):
                p.add(mp + ("tool_call_id",) if "tool_call_id" in m else mp,
                      f"{where}: a tool message needs 'tool_call_id' (the id of the call it answers)")
        last = msgs[-1]
        if isinstance(last, dict) and last.get("role") in ("assistant", "system"):
            p.add(at + ("messages", len(msgs) - 1),
                  f"{label}: the conversation must end with a user or tool message (the model answers next)")
        return msgs

    def tool_calls(self, path: DocPath, where: str, tcs: Any) -> None:
        p = self.p
        if not isinstance(tcs, list):
            p.add(path, f"{where}: tool_calls must be a list")
            return
        for q, tc in enumerate(tcs):
            tp = path + (q,)
            fn = tc.get("function") if isinstance(tc, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                p.add(tp, f"{where}: tool_calls[{q}] must be {{id, type: function, function: {{name, arguments}}}}")
                continue
            args = fn.get("arguments")
            if args is not None and not isinstance(args, (str, dict)):
                p.add(tp + ("function", "arguments"),
                      f"{where}: tool_calls[{q}].function.arguments must be a JSON string or an object")
            if "type" in tc and tc["type"] != "function":
                p.add(tp + ("type",), f"{where}: tool_calls[{q}].type must be 'function'")
            if "id" in tc and not isinstance(tc["id"], str):
                p.add(tp + ("id",), f"{where}: tool_calls[{q}].id must be a string")

    def tools(self, at: DocPath, label: str, raw: dict[str, Any]) -> list[dict[str, Any]] | None:
        p = self.p
        if "tools" not in raw or raw["tools"] is None:
            return None
        tools = raw["tools"]
        if not isinstance(tools, list):
            p.add(at + ("tools",), f"{label}: 'tools' must be a list of OpenAI function tools")
            return None
        names: set[str] = set()
        for j, t in enumerate(tools):
            tp = at + ("tools", j)
            fn = t.get("function") if isinstance(t, dict) else None
            if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(fn, dict):
                p.add(tp, f"{label}: tools[{j}] must be {{type: function, function: {{name, description, parameters}}}}")
                continue
            name = fn.get("name")
            if not isinstance(name, str) or not name:
                p.add(tp + ("function",), f"{label}: tools[{j}].function needs a 'name' string")
            elif name in names:
                p.add(tp + ("function", "name"), f"{label}: tools[{j}]: duplicate function name '{name}'")
            else:
                names.add(name)
            if "description" in fn and not isinstance(fn["description"], str):
                p.add(tp + ("function", "description"), f"{label}: tools[{j}].function.description must be a string")
            params = fn.get("parameters")
            if params is not None:
                why = self.schema_problem(params)
                if why is None and params.get("type", "object") != "object":
                    why = "must be a JSON Schema of type object"
                if why:
                    p.add(tp + ("function", "parameters"), f"{label}: tools[{j}].function.parameters: {why}")
        return tools

    def reference_shape(self, at: DocPath, label: str, ref: Any) -> dict[str, Any] | None:
        p = self.p
        rp = at + ("reference",)
        if ref is None:
            return None
        if not isinstance(ref, dict):
            p.add(rp, f"{label}: reference must be an assistant message (a mapping with content/tool_calls)")
            return None
        if ref.get("role", "assistant") != "assistant":
            p.add(rp + ("role",), f"{label}: reference.role must be 'assistant'")
        for k in ref:
            if k not in MESSAGE_KEYS:
                p.add(rp + ("@key", k), f"{label}: reference: unknown message key '{k}'")
        content = ref.get("content")
        if content is not None and not isinstance(content, (str, list)):
            p.add(rp + ("content",), f"{label}: reference.content must be a string, a list of parts or null")
        if "tool_calls" in ref:
            self.tool_calls(rp + ("tool_calls",), f"{label}: reference", ref["tool_calls"])
        if content is None and not ref.get("tool_calls"):
            p.add(rp, f"{label}: reference needs content or tool_calls")
        if "role" not in ref:
            ref = {"role": "assistant", **ref}
        return ref



__all__ = ["CASE_KEYS", "SUITE_KEYS", "Validator"]
