"""Import BFCL's single-turn categories as suite cases (`harness import bfcl`).

BFCL's data files (`data/BFCL_v4_<category>.json`) are JSON Lines despite the extension; answers live
in `data/possible_answer/` under the same file name and are joined on `id`. Each entry becomes one
case of the suite format (docs: DESIGN.md "Suites"):

* `messages` — the first turn of `question`, exactly as BFCL sends it to a function-calling model
  (BFCL's FC handlers add no system prompt of their own; live entries carry theirs in the turn);
* `tools` — `protocols.bfcl.functions_to_tools`: BFCL's OpenAI conversion of the function docs;
* `expect` — `checker: bfcl` with the category, the function docs as BFCL has them, and the answer's
  calls as `{name, arguments: {param: [alternatives]}}` (`[]` for irrelevance), `any_order` for the
  parallel categories;
* `reference` — one correct assistant message: a `tool_calls` entry per expected call with the first
  alternative of each parameter that fits the parameter's declared type and enum (BFCL's answers also
  list values such as `None` or "dontcare" of another type; such a parameter is left out when `""`
  allows it, else its first alternative is used), parameters whose only alternative is `""` left
  out, under the name the `native` protocol puts on the wire (dots sanitised). Irrelevance cases get
  a short text answer and no call.

The data folder defaults to the `data/` folder of an installed `bfcl_eval` package, located without
importing it (importing bfcl_eval pulls its SDKs in and creates folders).
"""
from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.bfcl import functions_to_tools

from harness.errors import InputError, UserError
from harness._util.fs import atomic_open

CATEGORIES: tuple[str, ...] = (
    "simple_python", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
    "irrelevance", "live_irrelevance",
)
ALIASES = {"simple": "simple_python"}
# older releases named simple_python "simple"; v3 files carry the BFCL_v3_ prefix
_FILE_NAMES = {"simple_python": ("simple_python", "simple")}
_PREFIXES = ("BFCL_v4_", "BFCL_v3_")
INSTALL_HINT = "pip install --no-deps bfcl-eval"


@dataclass
class Entry:
    """One BFCL question with its answer (None for the irrelevance categories)."""

    record: dict[str, Any]
    source: str                               # FILE:LINE of the question
    ground_truth: list[dict[str, Any]] | None


def is_irrelevance(category: str) -> bool:
    return "irrelevance" in category


def default_data_dir() -> Path:
    """`data/` of the installed `bfcl_eval` package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("bfcl_eval")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        data = Path(loc) / "data"
        if data.is_dir():
            return data
    raise UserError(
        "BFCL data not found: the bfcl_eval package is not installed "
        f"(`{INSTALL_HINT}`; --no-deps skips its ~30 SDK dependencies), or pass --data DIR "
        "(the folder holding BFCL_v4_<category>.json and possible_answer/)")


def parse_categories(spec: str | Sequence[str] | None) -> list[str]:
    """Category names from `a,b` (or a list); None/empty = all. Unknown names are a UserError."""
    if spec is None:
        return list(CATEGORIES)
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for raw in items:
        name = ALIASES.get(raw.strip(), raw.strip())
        if not name:
            continue
        if name not in CATEGORIES:
            raise UserError(f"--categories: unknown BFCL category {raw.strip()!r}; "
                            f"choose from {', '.join(CATEGORIES)}")
        if name not in out:
            out.append(name)
    if not out:
        raise UserError("--categories: no category given")
    return out


def category_file(data_dir: Path, category: str) -> Path:
    """The question file of `category` in `data_dir` (BFCL_v4_simple_python.json, or an older name)."""
    for stem in _FILE_NAMES.get(category, (category,)):
        for prefix in _PREFIXES:
            path = data_dir / f"{prefix}{stem}.json"
            if path.is_file():
                return path
    raise InputError(f"{data_dir / f'BFCL_v4_{category}.json'}: no such file (BFCL category {category!r}); "
                     "--data must be BFCL's data folder")


def read_numbered_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """A JSON Lines file as (line number, object) pairs, blank lines skipped: each case's `source` and
    each error name the FILE:LINE it came from (BFCL's files are JSON Lines despite `.json`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{lineno}: invalid JSON (column {e.colno}): {e.msg}") from None
        if not isinstance(obj, dict):
            raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        out.append((lineno, obj))
    return out


def _check_question(obj: dict[str, Any], where: str) -> None:
    if not isinstance(obj.get("id"), str) or not obj["id"]:
        raise InputError(f"{where}: field 'id' must be a non-empty string")
    q = obj.get("question")
    if not isinstance(q, list) or not q or not isinstance(q[0], list) or not q[0]:
        raise InputError(f"{where}: field 'question' must be a list of turns, the first a non-empty list of messages")
    for i, m in enumerate(q[0]):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or "content" not in m:
            raise InputError(f"{where}: field 'question[0][{i}]' must be a message with 'role' and 'content'")
    fns = obj.get("function")
    if not isinstance(fns, list):
        raise InputError(f"{where}: field 'function' must be a list of function docs")
    for i, fn in enumerate(fns):
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InputError(f"{where}: field 'function[{i}]' must be a function doc with a 'name'")
        params = fn.get("parameters")
        if not isinstance(params, dict) or not isinstance(params.get("properties", {}), dict):
            raise InputError(f"{where}: field 'function[{i}].parameters' must be an object with 'properties'")


def _check_answer(obj: dict[str, Any], where: str) -> None:
    if not isinstance(obj.get("id"), str):
        raise InputError(f"{where}: field 'id' must be a string")
    gt = obj.get("ground_truth")
    if not isinstance(gt, list):
        raise InputError(f"{where}: field 'ground_truth' must be a list of expected calls")
    for i, call in enumerate(gt):
        if not isinstance(call, dict) or len(call) != 1 or not isinstance(next(iter(call.values())), dict):
            raise InputError(f"{where}: field 'ground_truth[{i}]' must be {{function_name: {{param: [values]}}}}")
        for param, alts in next(iter(call.values())).items():
            if not isinstance(alts, list):
                raise InputError(f"{where}: field 'ground_truth[{i}].{param}' must be a list of acceptable values")


def load_category(data_dir: Path, category: str) -> list[Entry]:
    """The entries of one category, answers joined on id."""
    qpath = category_file(data_dir, category)
    questions = read_numbered_jsonl(qpath)
    seen: dict[str, str] = {}
    for lineno, obj in questions:
        where = f"{qpath}:{lineno}"
        _check_question(obj, where)
        if obj["id"] in seen:
            raise InputError(f"{where}: duplicate id {obj['id']!r} (first at {seen[obj['id']]})")
        seen[obj["id"]] = where
    if is_irrelevance(category):
        return [Entry(obj, f"{qpath}:{n}", None) for n, obj in questions]
    apath = qpath.parent / "possible_answer" / qpath.name
    if not apath.is_file():
        raise InputError(f"{apath}: no such file (the answers of BFCL category {category!r})")
    answers: dict[str, list[dict[str, Any]]] = {}
    for lineno, obj in read_numbered_jsonl(apath):
        _check_answer(obj, f"{apath}:{lineno}")
        answers[obj["id"]] = obj["ground_truth"]
    out = []
    for lineno, obj in questions:
        gt = answers.get(obj["id"])
        if gt is None:
            raise InputError(f"{qpath}:{lineno}: id {obj['id']!r} has no answer in {apath}")
        out.append(Entry(obj, f"{qpath}:{lineno}", gt))
    return out


# -- the reference answer --------------------------------------------------------------------------

def _first(alternatives: Sequence[Any]) -> tuple[bool, Any]:
    for alt in alternatives:
        if alt != "":
            return True, alt
    return False, None


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "any": (str,), "integer": (int,), "float": (int, float), "boolean": (bool,),
    "array": (list,), "tuple": (list,), "dict": (dict,),
}


def _conforms(value: Any, spec: Mapping[str, Any] | None) -> bool:
    """Whether a value fits the parameter's declared type and enum (what the request's schema says)."""
    if not spec:
        return True
    types = _JSON_TYPES.get(spec.get("type"))   # type: ignore[arg-type]
    if types is not None:
        if isinstance(value, bool) and bool not in types:
            return False
        if not isinstance(value, types):
            return False
    enum = spec.get("enum")
    return not (isinstance(enum, list) and value not in enum)


def _choose(spec: Mapping[str, Any] | None, alternatives: Sequence[Any]) -> tuple[bool, Any]:
    """The first alternative that also fits the request's schema (BFCL accepts them all, a training
    target should not break the schema it is shown); else leave the parameter out if allowed; else
    the first alternative."""
    for alt in alternatives:
        if alt != "" and _conforms(alt, spec):
            return True, alt
    if "" in alternatives:
        return False, None
    return _first(alternatives)


def _pick_dict(alt: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, alts in alt.items():
        found, value = _first(alts) if isinstance(alts, list) else (True, alts)
        if found:
            out[key] = value
    return out


def _pick(spec: Mapping[str, Any] | None, alternatives: Sequence[Any]) -> tuple[bool, Any]:
    """The reference value of one parameter (see `_choose`), with nested dicts (written as
    {key: [alternatives]}) resolved to their first alternatives."""
    found, value = _choose(spec, alternatives)
    if not found:
        return False, None
    declared = (spec or {}).get("type")
    items = (spec or {}).get("items") if isinstance((spec or {}).get("items"), dict) else {}
    if declared == "dict" and isinstance(value, dict):
        return True, _pick_dict(value)
    if declared in ("array", "tuple") and items.get("type") == "dict" and isinstance(value, list):
        return True, [_pick_dict(v) if isinstance(v, dict) else v for v in value]
    return True, value


def reference_arguments(doc: Mapping[str, Any] | None, params: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    props = ((doc or {}).get("parameters") or {}).get("properties") or {}
    out = {}
    for param, alts in params.items():
        if param not in props and "" in alts:
            continue   # an answer parameter the schema lacks can only be right when left out
        found, value = _pick(props.get(param), alts)
        if found:
            out[param] = value
    return out


def _wire_names(names: Iterable[str]) -> dict[str, str]:
    from protocols.wire.names import wire_names
    return wire_names(names)


def reference_message(functions: Sequence[Mapping[str, Any]],
                      ground_truth: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One correct assistant message (OpenAI format) for a BFCL answer; `content: None` and no
    tool_calls for irrelevance (an empty ground truth)."""
    docs = {fn["name"]: fn for fn in functions}
    wire = _wire_names([fn["name"] for fn in functions] + [next(iter(c)) for c in ground_truth])
    calls = []
    for i, call in enumerate(ground_truth):
        name, params = next(iter(call.items()))
        args = reference_arguments(docs.get(name), params)
        calls.append({"id": f"call_{i}", "type": "function",
                      "function": {"name": wire.get(name, name), "arguments": json.dumps(args, ensure_ascii=False)}})
    msg: dict[str, Any] = {"role": "assistant", "content": None}
    if calls:
        msg["tool_calls"] = calls
    else:
        msg["content"] = "None of the available functions applies to this request."
    return msg


def build_case(entry: Entry, category: str) -> dict[str, Any]:
    rec = entry.record
    functions = rec["function"]
    gt = entry.ground_truth or []
    reference: dict[str, Any] | None = reference_message(functions, gt)
    if not _reference_passes(functions, gt, reference, category):
        # a handful of BFCL answers cannot be met even by BFCL (a required parameter the answer leaves
        # out, a parameter the doc lacks): keep the case, as BFCL scores it, but no training target
        reference = None
    return {
        "id": rec["id"],
        "protocol": "native",
        "split": "test",
        "tags": [category],
        "messages": rec["question"][0],
        "tools": functions_to_tools(functions),
        "expect": {
            "checker": "bfcl",
            "category": category,
            "functions": functions,
            "calls": [{"name": name, "arguments": params} for call in gt for name, params in call.items()],
            "any_order": "parallel" in category,
        },
        "reference": reference,
    }


def _reference_passes(functions: Sequence[Mapping[str, Any]], gt: Sequence[Mapping[str, Any]],
                      reference: Mapping[str, Any], category: str) -> bool:
    from protocols import bfcl, get
    turn = get("native").parse(dict(reference), tools=functions_to_tools(functions))
    return not bfcl.check(functions, turn.calls, gt, category)


def import_bfcl(data_dir: str | os.PathLike[str] | None = None, categories: str | Sequence[str] | None = None,
                on_category: Callable[[str, int], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Suite cases by category, in BFCL's file order. Nothing is written."""
    cats = parse_categories(categories)
    if data_dir is None:
        root = default_data_dir()
    else:
        root = Path(data_dir)
        if not root.is_dir():
            raise InputError(f"{root}: --data is not a folder (BFCL's data folder, holding BFCL_v4_<category>.json; "
                             f"or install it: `{INSTALL_HINT}` and leave --data out)")
    out: dict[str, list[dict[str, Any]]] = {}
    for cat in cats:
        out[cat] = [build_case(e, cat) for e in load_category(root, cat)]
        if on_category is not None:
            on_category(cat, len(out[cat]))
    return out


def write_cases(cases: Iterable[Mapping[str, Any]], out: str | os.PathLike[str]) -> int:
    """Write cases as JSONL, atomically (a failed import leaves no half file). Returns the count."""
    n = 0
    with atomic_open(out) as fh:
        for case in cases:
            fh.write(json.dumps(case, ensure_ascii=False) + "\n")
            n += 1
    return n


__all__ = [
    "CATEGORIES", "Entry", "INSTALL_HINT", "build_case", "category_file", "default_data_dir", "import_bfcl",
    "load_category", "parse_categories", "read_numbered_jsonl", "reference_arguments", "reference_message",
    "write_cases",
]
