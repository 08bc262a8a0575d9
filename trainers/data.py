"""Failures → training data (DESIGN.md "Training").

Each failed (case, sample) of a run becomes one chat example in OpenAI messages format:

    {"messages": [system, *case.messages, reference], "tools": "<JSON list>"}   # tools: native protocols only

The system message is rendered exactly as the run rendered it (run.json `system_prompt`: the protocol's
`full` or `compact` rendering for the case's mode, or the exact text of `--system-prompt-file`; a case
that carries its own system message keeps it), `tools` is what the runner put in the request
(`protocol.request_tools`), and the target is the case's `reference` in the protocol's wire format
(XML text for roo-xml, `tool_calls` for native and roo-native). Examples are deduplicated by case, a
seeded replay share of cases that passed is added so the model does not forget them, and test-split
cases are never used. Only the last message (the reference) is a training target: earlier assistant
turns of a multi-turn case are context and carry `"training": false`.

    examples, stats = examples_from_results(suite.cases, run.results(), system, replay=0.2, seed=0)
    examples = examples_from_cases(suite.split("train"), None, "compact")
    kept, stats = fit_to_length(examples, tokenizer, max_length=1024)   # cut from the left or skip
    write_jsonl(examples, "sft.jsonl")                                   # TRL / Axolotl / LLaMA-Factory

Pure: cases, result lines and the system prompt are handed in (the harness reads run directories and
suites: `harness.loop.data.export_run`). Imports the standard library and `protocols` only; a tokenizer
is needed only for `fit_to_length`.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols.errors import UserError

SYSTEM_STYLES = ("full", "compact")
TOOLS_FORMATS = ("json", "axolotl", "list")


# -- system prompt ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SystemPrompt:
    """How a run rendered its system prompt: the protocol's `full`/`compact` rendering, or a file's text."""

    style: str                    # full | compact | file
    text: str | None = None       # the exact text for style "file"

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | str | None, where: str = "run.json") -> "SystemPrompt":
        """From run.json's `system_prompt` ({"style": ...} as the runner and `harness score` write it).
        `default` (a scored run that did not say) is the runner's default, `full`."""
        if record is None:
            return cls("full")
        if isinstance(record, str):
            record = {"style": record}
        style = record.get("style") or "default"
        if style in ("default", None):
            return cls("full")
        if style in SYSTEM_STYLES:
            return cls(style)
        if style == "file":
            text = record.get("text")
            if not isinstance(text, str):
                path = record.get("path")
                if not path:
                    raise UserError(f"{where}: system_prompt has style 'file' but neither its text nor its path")
                from protocols.prompts import load_system_prompt_file
                text = load_system_prompt_file(str(path))
            sha = record.get("sha256")
            if sha and hashlib.sha256(text.encode()).hexdigest() != sha:
                raise UserError(f"{where}: the system-prompt file {record.get('path')} changed since the run "
                                f"(sha256 differs); training data must use the prompt the run used")
            return cls("file", text)
        raise UserError(f"{where}: unknown system_prompt style {style!r} (expected full, compact or file)")

    @classmethod
    def parse(cls, spec: "SystemPrompt | str | Mapping[str, Any] | None") -> "SystemPrompt":
        """`full`, `compact`, `file:PATH`, a run.json record or a SystemPrompt."""
        if isinstance(spec, SystemPrompt):
            return spec
        if isinstance(spec, str) and spec.startswith("file:"):
            from protocols.prompts import load_system_prompt_file
            return cls("file", load_system_prompt_file(spec[5:]))
        if isinstance(spec, str) and spec not in SYSTEM_STYLES + ("default",):
            raise UserError(f"system prompt {spec!r}: use full, compact or file:PATH")
        return cls.from_record(spec)

    def record(self) -> dict[str, Any]:
        if self.style == "file":
            return {"style": "file", "sha256": hashlib.sha256((self.text or "").encode()).hexdigest()}
        return {"style": self.style}

    def render(self, proto: Any, case: Any) -> str:
        if self.style == "file":
            return self.text or ""
        return proto.render_system(mode=case.mode, style=self.style, tools=case.tools)


# -- one case → prompt / example --------------------------------------------------------------------

def protocol_for(case: Any, protocol: Any, cache: dict[Any, Any]) -> Any:
    """The Protocol of `case`: `protocol` (a Protocol, a name or a spec) or the case's own, one per spec in `cache`."""
    import protocols
    spec = protocol if protocol is not None else case.protocol
    if hasattr(spec, "parse") and hasattr(spec, "render_system"):
        return spec
    key = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True, default=str)
    proto = cache.get(key)
    if proto is None:
        proto = protocols.from_spec(spec, source=getattr(case, "source", "") or "<suite>")
        cache[key] = proto
    return proto


def prompt_for(case: Any, proto: Any, system: SystemPrompt) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(messages, tools) exactly as the runner sends them for `case`: the rendered system message
    (none when the case has its own, or the rendering is empty) + the case's messages; `tools` from
    the protocol (None for text protocols)."""
    msgs = [dict(m) for m in case.messages]
    if not (msgs and msgs[0].get("role") == "system"):
        text = system.render(proto, case)
        if text:
            msgs.insert(0, {"role": "system", "content": text})
    tools = proto.request_tools(mode=case.mode, tools=case.tools)
    return msgs, (list(tools) if tools else None)


def _clean_target(ref: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": ref.get("content")}
    if ref.get("tool_calls"):
        calls = []
        for c in ref["tool_calls"]:
            c = copy.deepcopy(dict(c))
            fn = c.get("function") or {}
            args = fn.get("arguments")
            if not isinstance(args, str):       # OpenAI format: arguments is a JSON string
                fn["arguments"] = json.dumps(args if args is not None else {}, ensure_ascii=False)
            c["function"] = fn
            c.setdefault("type", "function")
            calls.append(c)
        out["tool_calls"] = calls
    if out["content"] is None and not out.get("tool_calls"):
        out["content"] = ""
    return out


def example_for(case: Any, proto: Any, system: SystemPrompt, kind: str = "case") -> dict[str, Any] | None:
    """The training example of one case (None when the case has no reference)."""
    if not case.reference:
        return None
    msgs, tools = prompt_for(case, proto, system)
    for m in msgs:      # earlier assistant turns are context: only the reference is trained on
        if m.get("role") == "assistant":
            m["training"] = False
    msgs.append(_clean_target(case.reference))
    ex: dict[str, Any] = {"messages": msgs}
    if tools:
        ex["tools"] = tools
    ex["meta"] = {"id": case.id, "kind": kind, "tags": list(getattr(case, "tags", []) or [])}
    return ex


def examples_from_cases(cases: Iterable[Any], protocol: Any = None,
                        system_style: "SystemPrompt | str | Mapping[str, Any] | None" = "full") -> list[dict[str, Any]]:
    """One example per train-split case that has a reference (test-split cases are never used).
    `protocol`: a Protocol, a protocol name, or None for each case's own; `system_style`: full,
    compact, file:PATH or a run.json `system_prompt` record."""
    system = SystemPrompt.parse(system_style)
    cache: dict[Any, Any] = {}
    out = []
    for c in cases:
        if getattr(c, "split", "test") != "train":
            continue
        ex = example_for(c, protocol_for(c, protocol, cache), system)
        if ex is not None:
            out.append(ex)
    return out


# -- a run's results → examples ----------------------------------------------------------------------

@dataclass
class ExportStats:
    run: str = ""
    failed_results: int = 0          # ok lines that did not pass (all samples)
    failed_cases: int = 0            # distinct failed cases (train split, with a reference)
    passed_cases: int = 0            # train cases whose every ok sample passed (replay pool)
    replay: int = 0                  # replay examples added
    skipped_test: int = 0            # failed cases in the test split (never used)
    skipped_no_reference: int = 0
    skipped_unknown: int = 0         # result ids not in the suite
    errors: int = 0                  # endpoint errors (not model failures)
    truncated: int = 0               # cut from the left to fit --max-length
    system_dropped: int = 0          # of those, the system prompt had to go too
    dropped_too_long: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def check_replay(replay: float) -> None:
    if not 0.0 <= replay < 1.0:
        raise UserError(f"--replay {replay}: the replay share must be in [0, 1)")


def examples_from_results(cases: Sequence[Any], results: Iterable[Mapping[str, Any]], system: SystemPrompt, *,
                          protocol: Any = None, replay: float = 0.0, seed: int = 0, suite_name: str = "",
                          stats: ExportStats | None = None) -> tuple[list[dict[str, Any]], ExportStats]:
    """(examples, stats) of a run's result lines over its suite's `cases`: one example per failed
    train-split case with a reference (in suite order), plus a seeded `replay` share of cases whose every
    ok sample passed. `protocol`: the run's --protocol override (None: each case's own). The harness
    reads the run directory and the suite (`harness.loop.data.export_run`) and hands them in here."""
    check_replay(replay)
    st = stats or ExportStats()
    by_id = {c.id: c for c in cases}
    cache: dict[Any, Any] = {}

    failed: dict[str, None] = {}          # the failed cases (exported in suite order, not arrival order)
    ok_any: dict[str, bool] = {}          # case -> every ok sample passed so far
    for r in results:
        if r.get("status") != "ok":
            st.errors += 1
            continue
        cid = str(r.get("id"))
        if cid not in by_id:
            st.skipped_unknown += 1
            continue
        passed = bool(r.get("passed"))
        if not passed:
            st.failed_results += 1
            failed[cid] = None
        ok_any[cid] = ok_any.get(cid, True) and passed
    if st.skipped_unknown:
        st.warnings.append(f"{st.skipped_unknown} result lines name cases that are not in suite {suite_name!r}")

    examples: list[dict[str, Any]] = []
    order = {c.id: i for i, c in enumerate(cases)}
    for cid in sorted(failed, key=order.__getitem__):   # suite order: results.jsonl is in arrival order
        case = by_id[cid]
        if case.split != "train":
            st.skipped_test += 1
            continue
        if not case.reference:
            st.skipped_no_reference += 1
            continue
        ex = example_for(case, protocol_for(case, protocol, cache), system, kind="failure")
        examples.append(ex)
    st.failed_cases = len(examples)

    pool = [cid for cid, all_ok in ok_any.items()
            if all_ok and by_id[cid].split == "train" and by_id[cid].reference]
    st.passed_cases = len(pool)
    if replay > 0 and examples and pool:
        want = int(round(len(examples) * replay / (1.0 - replay)))
        rng = random.Random(seed)
        pick = rng.sample(sorted(pool), min(want, len(pool)))
        for cid in pick:
            case = by_id[cid]
            examples.append(example_for(case, protocol_for(case, protocol, cache), system, kind="replay"))
        st.replay = len(pick)
        if len(pick) < want:
            st.warnings.append(f"replay: wanted {want} passed cases, only {len(pick)} available")
    if examples and replay > 0:
        random.Random(seed + 1).shuffle(examples)   # replays spread through the set, seeded
    return examples, st


# -- length -----------------------------------------------------------------------------------------

def count_tokens(tokenizer: Any, messages: Sequence[Mapping[str, Any]], tools: Any = None) -> int:
    ids = tokenizer.apply_chat_template(list(messages), tools=tools or None, tokenize=True,
                                        add_generation_prompt=False, return_dict=False)
    if isinstance(ids, Mapping):
        ids = ids["input_ids"]
    if ids and isinstance(ids[0], list):
        ids = ids[0]
    return len(ids)


def fit_example(ex: Mapping[str, Any], tokenizer: Any, max_length: int) -> tuple[dict[str, Any] | None, str]:
    """`ex` cut from the left to fit `max_length` tokens: the oldest non-system turns go first (whole
    user turns, so the conversation still starts with a user message), never the target; the system
    prompt is kept when the rest fits with it, else dropped. Returns (example or None, "kept" |
    "truncated" | "truncated_no_system" | "dropped")."""
    msgs = list(ex["messages"])
    tools = ex.get("tools")
    if count_tokens(tokenizer, msgs, tools) <= max_length:
        return dict(ex), "kept"
    head = msgs[:1] if msgs and msgs[0].get("role") == "system" else []
    body = msgs[len(head):]
    fits = False
    while True:
        cut = next((i for i in range(1, len(body) - 1) if body[i].get("role") == "user"), None)
        if cut is None:
            break
        body = body[cut:]
        if count_tokens(tokenizer, head + body, tools) <= max_length:
            fits = True
            break
    what = "truncated"
    if not fits and head and count_tokens(tokenizer, body, tools) <= max_length:
        head, fits, what = [], True, "truncated_no_system"
    if not fits:
        return None, "dropped"
    out = dict(ex)
    out["messages"] = head + body
    return out, what


def fit_to_length(examples: Iterable[Mapping[str, Any]], tokenizer: Any, max_length: int,
                  stats: ExportStats | None = None) -> tuple[list[dict[str, Any]], ExportStats]:
    st = stats or ExportStats()
    out = []
    for ex in examples:
        fitted, what = fit_example(ex, tokenizer, max_length)
        if what.startswith("truncated"):
            st.truncated += 1
            st.system_dropped += what == "truncated_no_system"
        elif what == "dropped":
            st.dropped_too_long += 1
        if fitted is not None:
            out.append(fitted)
    return out, st


# -- files ------------------------------------------------------------------------------------------

def to_record(ex: Mapping[str, Any], tools_format: str = "json", with_meta: bool = False) -> dict[str, Any]:
    """The JSONL record of an example. tools_format: `json` (the tools list as one JSON string: TRL
    and LLaMA-Factory, Arrow-safe for any schema), `axolotl` (a list whose function.parameters are
    JSON strings: Axolotl decodes them) or `list` (plain nested objects)."""
    if tools_format not in TOOLS_FORMATS:
        raise UserError(f"--tools-format {tools_format!r}: use one of {', '.join(TOOLS_FORMATS)}")
    rec: dict[str, Any] = {"messages": ex["messages"]}
    tools = ex.get("tools")
    if tools:
        if tools_format == "json":
            rec["tools"] = json.dumps(tools, ensure_ascii=False)
        elif tools_format == "axolotl":
            conv = []
            for t in tools:
                t = copy.deepcopy(dict(t))
                fn = t.get("function")
                if isinstance(fn, dict) and not isinstance(fn.get("parameters"), str):
                    fn["parameters"] = json.dumps(fn.get("parameters") or {}, ensure_ascii=False)
                conv.append(t)
            rec["tools"] = conv
        else:
            rec["tools"] = tools
    if with_meta and ex.get("meta"):
        rec["meta"] = ex["meta"]
    return rec


def write_jsonl(examples: Iterable[Mapping[str, Any]], path: str | os.PathLike[str], *,
                tools_format: str = "json", with_meta: bool = False) -> int:
    """Write examples atomically (temp file + rename). Returns the number of lines."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(to_record(ex, tools_format, with_meta), ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, p)
    return n


def _decode_tools(tools: Any, where: str) -> list[dict[str, Any]] | None:
    if tools is None or tools == "":
        return None
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError as e:
            raise UserError(f"{where}: 'tools' is a string but not JSON: {e.msg}") from None
    if not isinstance(tools, list):
        raise UserError(f"{where}: 'tools' must be a list of tool objects or its JSON string")
    out = []
    for t in tools:
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and \
                isinstance(t["function"].get("parameters"), str):
            t = copy.deepcopy(t)
            try:
                t["function"]["parameters"] = json.loads(t["function"]["parameters"])
            except json.JSONDecodeError as e:
                raise UserError(f"{where}: a tool's parameters string is not JSON: {e.msg}") from None
        out.append(t)
    return out or None


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Examples from an SFT JSONL file (ours or a user's): {"messages": [...], "tools"?}. Every line
    is checked; a problem is a UserError naming FILE:LINE."""
    p = Path(path)
    try:
        data = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such training data file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read: {e.strerror}") from None
    out = []
    for n, raw in enumerate(data.split("\n"), 1):
        if not raw.strip():
            continue
        where = f"{path}:{n}"
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as e:
            raise UserError(f"{where}: invalid JSON at column {e.colno}: {e.msg}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("messages"), list) or not rec["messages"]:
            raise UserError(f"{where}: expected an object with a non-empty 'messages' list")
        msgs = rec["messages"]
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
                raise UserError(f"{where}: messages[{i}] needs a role of system, user, assistant or tool")
        if msgs[-1].get("role") != "assistant":
            raise UserError(f"{where}: the last message must be the assistant target")
        ex: dict[str, Any] = {"messages": [{k: v for k, v in m.items() if v is not None or k == "content"}
                                           for m in msgs]}
        tools = _decode_tools(rec.get("tools"), where)
        if tools:
            ex["tools"] = tools
        if isinstance(rec.get("meta"), dict):
            ex["meta"] = rec["meta"]
        out.append(ex)
    if not out:
        raise UserError(f"{path}: no examples")
    return out


def data_sha256(examples: Iterable[Mapping[str, Any]]) -> str:
    """A stable digest of the examples (messages + tools), for training.json."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps({"messages": ex["messages"], "tools": ex.get("tools")}, sort_keys=True,
                            ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def split_prompt_completion(ex: Mapping[str, Any]) -> dict[str, Any]:
    """{"prompt": messages[:-1], "completion": [target], "tools"?}: TRL's prompt-completion form, so
    the loss falls on the target only (earlier assistant turns are context)."""
    msgs = [{k: v for k, v in m.items() if k != "training"} for m in ex["messages"]]
    out: dict[str, Any] = {"prompt": msgs[:-1], "completion": msgs[-1:]}
    if ex.get("tools"):
        out["tools"] = ex["tools"]
    return out


__all__ = [
    "ExportStats", "SystemPrompt", "check_replay", "count_tokens", "data_sha256", "example_for",
    "examples_from_cases", "examples_from_results", "fit_example", "fit_to_length", "prompt_for", "protocol_for",
    "read_jsonl", "split_prompt_completion", "to_record", "write_jsonl",
]
