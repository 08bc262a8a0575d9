"""Agreement of `protocols.bfcl.check` with BFCL's own checker, on tens of thousands of answers.

    python bench/bfcl_agreement.py [--data DIR] [--sample N] [--seed S] [--examples K] [--json OUT]
    python bench/bfcl_agreement.py --prepare-oracle      # build the oracle venv (PyPI) and stop

From every case of BFCL's ten single-turn Python categories (imported with `harness.suite.importers.bfcl`) it
builds mutated model answers — the right answer, other acceptable values, wrong values and types,
int-for-float and float-for-int, missing/extra parameters, wrong names, reordered/dropped/duplicated
parallel calls, no call, undecodable arguments, string case and punctuation variants, nested dict and
list edits — and scores each with our checker and with BFCL itself. It also compares the request
tools (`functions_to_tools` against BFCL's `convert_to_tool`) for every case.

The oracle is `bfcl-eval` itself, run unmodified in its own virtualenv under the cache folder
(`$HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/harness`, else `~/.cache/harness`; `bfcl-oracle/<version>-pyXY`),
as ONE subprocess over a JSONL of pairs. It goes through BFCL's real evaluation path:
`eval_runner._evaluate_single_ast_entry` / `_evaluate_single_relevance_entry` with the real
`OpenAICompletionsHandler.decode_ast` (the raw `tool_calls` argument strings are decoded by BFCL) and
the real `ast_checker`, with `model_name` chosen from BFCL's registry so that dotted names are
compared as BFCL does for the wire form used (`underscore_to_dot`).

Building the venv is the only step that needs the network (PyPI). The script builds it on first use;
`--prepare-oracle` builds it and stops (what .ci/run does before the tests), and the test
(tests/harness/test_bfcl_oracle.py) calls `agreement(build=False)`, so it never reaches the network.

BFCL is installed with `--no-deps`; its checker needs no third-party code, but its import chain goes
through the model registry, which imports every model handler and their SDKs. The venv therefore gets
only the three small packages those modules *execute* at import time (tenacity and overrides for
decorators, filelock), and the SDKs/numeric libraries that are merely imported (openai, anthropic,
numpy, pandas, tree_sitter, …; see STUB_PACKAGES) are replaced by inert placeholder modules inside
the oracle process — the checking path never calls them. BFCL_PROJECT_ROOT points at a scratch folder
because importing BFCL creates result/, score/ and .file_locks/ there.

This file doubles as the oracle worker (`--oracle-worker IN OUT`, run by the venv's python); that part
imports only the standard library and bfcl_eval, so nothing of this project is needed in the venv.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

BFCL_VERSION = "2026.3.23"
# what BFCL's handler modules execute at import time; everything else they import is a placeholder
ORACLE_PACKAGES = (f"bfcl-eval=={BFCL_VERSION}", "tenacity==9.2.1", "overrides==7.7.0", "filelock==3.20.0")
STUB_PACKAGES = (
    "openai", "anthropic", "mistralai", "cohere", "google", "boto3", "qwen_agent", "writerai",
    "datamodel_code_generator", "httpx", "requests", "tree_sitter", "tree_sitter_java",
    "tree_sitter_javascript", "numpy", "pandas", "tqdm", "dotenv",
)
# BFCL registry entries: an FC model whose dotted names travel as '_' (OpenAI-style), and one that keeps dots
MODEL_UNDERSCORE_TO_DOT = "gpt-4.1-2025-04-14-FC"
MODEL_KEEPS_DOTS = "gorilla-openfunctions-v2"
ROOT = Path(__file__).resolve().parents[1]


class OracleUnavailable(RuntimeError):
    """The oracle venv cannot be built or run here (no network, no venv module, ...), or is not built."""


# ================================================================================================
# The oracle worker (runs inside the venv: stdlib + bfcl_eval only)
# ================================================================================================

def _install_placeholders() -> list[str]:
    """Inert modules for STUB_PACKAGES that are not installed. Attribute access yields a class that
    can be called, subclassed, decorated with and compared; nothing in the checking path uses them."""
    import importlib.abc
    import importlib.machinery
    import types

    class _Meta(type):
        def __getattr__(cls, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return cls

        def __or__(cls, other: Any) -> Any:
            return cls

        __ror__ = __or__

    class Placeholder(metaclass=_Meta):
        def __init__(self, *a: Any, **k: Any) -> None:
            pass

        def __call__(self, *a: Any, **k: Any) -> Any:
            return self

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return Placeholder()

    class PlaceholderModule(types.ModuleType):
        __path__: list[str] = []

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return Placeholder

    stubbed: list[str] = []

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
            if fullname.split(".")[0] not in STUB_PACKAGES:
                return None
            for finder in sys.meta_path:
                if finder is self:
                    continue
                try:
                    if finder.find_spec(fullname, path, target) is not None:
                        return None   # really installed: use it
                except Exception:
                    continue
            stubbed.append(fullname)
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

        def create_module(self, spec: Any) -> Any:
            return PlaceholderModule(spec.name)

        def exec_module(self, module: Any) -> None:
            pass

    sys.meta_path.append(Finder())
    return stubbed


def oracle_worker(inp: str, outp: str) -> int:
    stubbed = _install_placeholders()
    from bfcl_eval.constants.enums import Language, ModelStyle, ReturnFormat
    from bfcl_eval.constants.model_config import MODEL_CONFIG_MAPPING
    from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI
    from bfcl_eval.eval_checker import eval_runner
    from bfcl_eval.model_handler.api_inference.openai_completion import OpenAICompletionsHandler
    from bfcl_eval.model_handler.utils import convert_to_tool
    from bfcl_eval.utils import _func_doc_language_specific_pre_processing, is_relevance_or_irrelevance

    assert MODEL_CONFIG_MAPPING[MODEL_UNDERSCORE_TO_DOT].underscore_to_dot
    assert not MODEL_CONFIG_MAPPING[MODEL_KEEPS_DOTS].underscore_to_dot
    handler = OpenAICompletionsHandler(model_name="oracle", temperature=0, registry_name="oracle", is_fc_model=True)
    cases: dict[str, dict[str, Any]] = {}
    n = 0
    with open(inp, encoding="utf-8") as fin, open(outp, "w", encoding="utf-8") as fout:
        for line in fin:
            rec = json.loads(line)
            if rec["kind"] == "case":
                cases[rec["case"]] = rec
                continue
            out: dict[str, Any] = {"pid": rec["pid"]}
            try:
                if rec["kind"] == "tools":
                    case = cases[rec["case"]]
                    fns = _func_doc_language_specific_pre_processing(copy.deepcopy(case["functions"]),
                                                                     case["category"])
                    out["tools"] = convert_to_tool(fns, GORILLA_TO_OPENAPI, ModelStyle.OPENAI_COMPLETIONS)
                else:
                    case = cases[rec["case"]]
                    cat = case["category"]
                    model = MODEL_KEEPS_DOTS if rec["dotted"] else MODEL_UNDERSCORE_TO_DOT
                    # what BFCL's OpenAI FC handler stores: [{name: raw arguments}] or the message text
                    result = ([{name: raw} for name, raw in rec["calls"]] if rec["calls"] is not None
                              else rec["text"])
                    prompt = {"id": rec["case"], "function": case["functions"]}
                    if is_relevance_or_irrelevance(cat):
                        r = eval_runner._evaluate_single_relevance_entry(
                            handler, rec["case"], result, prompt, model, cat)
                    else:
                        r = eval_runner._evaluate_single_ast_entry(
                            handler, rec["case"], result, case["answer"], prompt, model, cat,
                            language=Language.PYTHON, return_format=ReturnFormat.PYTHON, has_tool_call_tag=False)
                    out["valid"] = bool(r["valid"])
                    out["error_type"] = "" if r["valid"] else r.get("error_type", "")
            except Exception as e:  # BFCL itself crashed on this answer
                out["exception"] = f"{type(e).__name__}: {e}"[:300]
            fout.write(json.dumps(out) + "\n")
            n += 1
    print(json.dumps({"pairs": n, "placeholders": sorted({s.split('.')[0] for s in stubbed})}))
    return 0


# ================================================================================================
# The oracle venv
# ================================================================================================

def cache_root() -> Path:
    if os.environ.get("HARNESS_CACHE_DIR"):
        return Path(os.environ["HARNESS_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "harness"
    return Path.home() / ".cache" / "harness"


def oracle_dir(version: str = BFCL_VERSION) -> Path:
    return cache_root() / "bfcl-oracle" / f"{version}-py{sys.version_info[0]}{sys.version_info[1]}"


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_oracle(version: str = BFCL_VERSION, log: Any = None, build: bool = True) -> tuple[Path, float]:
    """The oracle venv's python (built once, cached) and the seconds spent building it now (0 if cached).
    With build=False a venv that is not there yet is OracleUnavailable (no network is touched)."""
    venv = oracle_dir(version)
    py = _venv_python(venv)
    marker = venv / ".ready"
    if marker.is_file() and py.is_file():
        return py, 0.0
    if not build:
        raise OracleUnavailable(f"{venv} is not built (python bench/bfcl_agreement.py --prepare-oracle builds it)")
    t0 = time.monotonic()
    venv.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{venv.name}.", dir=venv.parent))
    try:
        if log:
            log(f"building the BFCL oracle venv in {venv} …")
        r = subprocess.run([sys.executable, "-m", "venv", str(build)], capture_output=True, text=True)
        if r.returncode != 0:
            raise OracleUnavailable(f"python -m venv failed: {(r.stderr or r.stdout).strip()[-500:]}")
        packages = list(ORACLE_PACKAGES)
        r = subprocess.run([str(_venv_python(build)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "--no-input", "--retries", "2", "--timeout", "30", "--no-deps", *packages],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise OracleUnavailable(f"pip install {' '.join(packages)} failed (network?): "
                                    f"{(r.stderr or r.stdout).strip()[-800:]}")
        (build / ".ready").write_text(json.dumps({"packages": packages, "python": sys.version}) + "\n")
        # (venv scripts hard-code their folder; bin/python does not, and it is all the oracle uses)
        if not marker.is_file():   # else another process finished first: use theirs
            if venv.exists():
                shutil.rmtree(venv, ignore_errors=True)   # a broken leftover
            try:
                os.replace(build, venv)
            except OSError:
                if not marker.is_file():
                    raise
    except subprocess.TimeoutExpired as e:
        raise OracleUnavailable(f"pip install timed out after {e.timeout:.0f}s") from None
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    if not py.is_file():
        raise OracleUnavailable(f"{py}: missing after building the venv")
    return py, time.monotonic() - t0


def oracle_data_dir(py: Path) -> Path:
    """BFCL's data folder inside the oracle venv (found without importing bfcl_eval)."""
    code = ("import importlib.util, sys; s = importlib.util.find_spec('bfcl_eval'); "
            "sys.stdout.write(s.submodule_search_locations[0])")
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        raise OracleUnavailable(f"bfcl_eval not importable in the oracle venv: {r.stderr.strip()[-300:]}")
    return Path(r.stdout) / "data"


def run_oracle(py: Path, cases: dict[str, dict[str, Any]], pairs: list[dict[str, Any]],
               tool_cases: list[str] = ()) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """BFCL's verdict for each pair (by pid), in one subprocess; plus the worker's summary line."""
    with tempfile.TemporaryDirectory(prefix="bfcl-oracle-") as tmp:
        inp, outp = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        used = {p["case"] for p in pairs} | set(tool_cases)
        with open(inp, "w", encoding="utf-8") as fh:
            for cid in cases:
                if cid in used:
                    c = cases[cid]
                    fh.write(json.dumps({"kind": "case", "case": cid, "category": c["expect"]["category"],
                                         "functions": c["expect"]["functions"],
                                         "answer": [{e["name"]: e["arguments"]} for e in c["expect"]["calls"]]}) + "\n")
            for cid in tool_cases:
                fh.write(json.dumps({"kind": "tools", "case": cid, "pid": f"tools:{cid}"}) + "\n")
            for p in pairs:
                fh.write(json.dumps({"kind": "check", **p}) + "\n")
        root = Path(tmp) / "bfcl-root"
        root.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["BFCL_PROJECT_ROOT"] = str(root)
        r = subprocess.run([str(py), str(Path(__file__).resolve()), "--oracle-worker", str(inp), str(outp)],
                           capture_output=True, text=True, env=env, cwd=tmp)
        if r.returncode != 0:
            raise OracleUnavailable(f"the BFCL oracle failed (exit {r.returncode}): {r.stderr.strip()[-1500:]}")
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        results = {}
        with open(outp, encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                results[rec["pid"]] = rec
    return results, summary


# ================================================================================================
# Pairs: mutated answers
# ================================================================================================

def load_cases(data_dir: Path, categories: Any = None) -> dict[str, dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from harness.suite.importers.bfcl import import_bfcl
    by_cat = import_bfcl(data_dir, categories)
    return {c["id"]: c for cases in by_cat.values() for c in cases}


def _sanitise(name: str) -> str:
    return name.replace(".", "_")


def _dummy(spec: dict[str, Any] | None) -> Any:
    t = (spec or {}).get("type")
    return {"string": "example", "integer": 1, "float": 1.5, "boolean": True, "array": [], "tuple": [],
            "dict": {}, "any": "x"}.get(t, "example")


def _other_value(v: Any) -> Any:
    """A different value of the same JSON type."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 1
    if isinstance(v, float):
        return v + 1.25
    if isinstance(v, str):
        return v + "zq"
    if isinstance(v, list):
        return v + [v[0]] if v else ["zq"]
    if isinstance(v, dict):
        if not v:
            return {"zq": 1}
        k = next(iter(v))
        return {**v, k: _other_value(v[k])}
    return "zq"


def _wrong_type(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return 12345
    if isinstance(v, list):
        return ", ".join(map(str, v))
    if isinstance(v, dict):
        return json.dumps(v)
    return 0


def _insert(s: str, rng: random.Random, chars: str) -> str:
    i = rng.randrange(len(s) + 1)
    return s[:i] + rng.choice(chars) + s[i:]


def _case_variant(s: str, rng: random.Random) -> str:
    return rng.choice([s.upper(), s.swapcase(), s.title(), s.lower()]) if s.lower() != s.upper() else s + " "


def _mutate_strings(v: Any, fn: Any) -> Any:
    """Apply fn to every string inside v (lists and dict values)."""
    if isinstance(v, str):
        return fn(v)
    if isinstance(v, list):
        return [_mutate_strings(x, fn) for x in v]
    if isinstance(v, dict):
        return {k: _mutate_strings(x, fn) for k, x in v.items()}
    return v


def _raw(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)


def mutations(case: dict[str, Any], rng: random.Random) -> list[tuple[str, list[tuple[str, Any]] | None, str]]:
    """(kind, calls as (name, args dict | raw string) or None for a text-only answer, text)."""
    ex = case["expect"]
    fns = ex["functions"]
    docs = {f["name"]: f for f in fns}
    out: list[tuple[str, list[tuple[str, Any]] | None, str]] = []

    def add(kind: str, calls: list[tuple[str, Any]] | None, text: str = "") -> None:
        out.append((kind, calls, text))

    if not ex["calls"]:   # irrelevance
        f = rng.choice(fns) if fns else {"name": "lookup", "parameters": {"properties": {}, "required": []}}
        props = f["parameters"].get("properties", {})
        args = {p: _dummy(props.get(p)) for p in f["parameters"].get("required", [])}
        add("no_call", None, "I cannot help with that using the available functions.")
        add("no_call_empty_text", None, "")
        add("call", [(f["name"], args)])
        add("call_sanitised", [(_sanitise(f["name"]), args)])
        add("call_empty_args", [(f["name"], {})])
        add("call_invalid_json", [(f["name"], _raw(args)[:-1] or "{")])
        add("call_non_object", [(f["name"], json.dumps(list(args.values())))])
        add("two_calls", [(f["name"], args), (f["name"], args)])
        add("call_and_invalid_call", [(f["name"], args), (f["name"], "{oops")])
        return out

    if case["reference"] is None:  # BFCL's own answer cannot be met: no correct answer to mutate
        return out
    ref = [(e["name"], json.loads(tc["function"]["arguments"]))
           for e, tc in zip(ex["calls"], case["reference"]["tool_calls"])]
    answers = [e["arguments"] for e in ex["calls"]]
    parallel = "parallel" in ex["category"]

    def with_args(j: int, args: Any) -> list[tuple[str, Any]]:
        calls = [(n, copy.deepcopy(a)) for n, a in ref]
        calls[j] = (calls[j][0], args)
        return calls

    def props_of(j: int) -> dict[str, Any]:
        return ((docs.get(ref[j][0]) or {}).get("parameters") or {}).get("properties") or {}

    def pick(pred: Any) -> tuple[int, str] | None:
        """A random (call index, param) among the reference's params satisfying pred(spec, alts, value)."""
        cands = [(j, p) for j, (_, a) in enumerate(ref) for p, v in a.items()
                 if pred(props_of(j).get(p) or {}, answers[j].get(p, []), v)]
        return rng.choice(cands) if cands else None

    def edit(kind: str, pred: Any, change: Any) -> None:
        hit = pick(pred)
        if hit is None:
            return
        j, p = hit
        args = copy.deepcopy(ref[j][1])
        new = change(args[p], props_of(j).get(p) or {}, answers[j].get(p, []))
        if new is _DROP:
            del args[p]
        else:
            args[p] = new
        add(kind, with_args(j, args))

    anything = lambda s, a, v: True  # noqa: E731
    is_str = lambda s, a, v: isinstance(v, str) and v != ""  # noqa: E731

    add("right", [(n, copy.deepcopy(a)) for n, a in ref])
    if any("." in n for n, _ in ref):
        add("right_sanitised", [(_sanitise(n), copy.deepcopy(a)) for n, a in ref])
    # acceptable alternatives
    edit("alt_value", lambda s, a, v: len([x for x in a if x != "" and x != v]) > 0,
         lambda v, s, a: rng.choice([x for x in a if x != "" and x != v]))
    edit("omit_optional", lambda s, a, v: "" in a, lambda v, s, a: _DROP)
    # values
    edit("wrong_value", anything, lambda v, s, a: _other_value(v))
    edit("wrong_type", anything, lambda v, s, a: _wrong_type(v))
    edit("null_value", anything, lambda v, s, a: None)
    edit("int_for_float", lambda s, a, v: s.get("type") == "float" and isinstance(v, float) and v.is_integer(),
         lambda v, s, a: int(v))
    edit("int_for_float_param", lambda s, a, v: s.get("type") == "float" and isinstance(v, (int, float))
         and not isinstance(v, bool), lambda v, s, a: int(v) if float(v).is_integer() else round(v))
    edit("float_for_int", lambda s, a, v: isinstance(v, int) and not isinstance(v, bool), lambda v, s, a: float(v))
    edit("bool_for_int", lambda s, a, v: isinstance(v, int) and not isinstance(v, bool), lambda v, s, a: True)
    edit("int_for_bool", lambda s, a, v: isinstance(v, bool), lambda v, s, a: int(v))
    edit("number_as_string", lambda s, a, v: isinstance(v, (int, float)) and not isinstance(v, bool),
         lambda v, s, a: str(v))
    # strings
    edit("string_case", is_str, lambda v, s, a: _case_variant(v, rng))
    edit("string_punct_ignored", is_str, lambda v, s, a: _insert(v, rng, " ,./-_*^"))
    edit("string_punct_kept", is_str, lambda v, s, a: _insert(v, rng, "!?;:()'\t\n#"))
    edit("string_quote_swap", lambda s, a, v: isinstance(v, str) and ("'" in v or '"' in v),
         lambda v, s, a: v.replace("'", "\x00").replace('"', "'").replace("\x00", '"'))
    edit("string_whitespace", is_str, lambda v, s, a: f" {v} ")
    edit("string_in_list_case", lambda s, a, v: isinstance(v, list) and any(isinstance(x, str) for x in v),
         lambda v, s, a: _mutate_strings(v, lambda x: _case_variant(x, rng)))
    edit("string_in_list_punct", lambda s, a, v: isinstance(v, list) and any(isinstance(x, str) and x for x in v),
         lambda v, s, a: _mutate_strings(v, lambda x: _insert(x, rng, " -_.") if x else x))
    # lists
    edit("list_reordered", lambda s, a, v: isinstance(v, list) and len(set(map(json.dumps, v))) > 1,
         lambda v, s, a: list(reversed(v)))
    edit("list_dropped_item", lambda s, a, v: isinstance(v, list) and len(v) > 0, lambda v, s, a: v[:-1])
    edit("list_empty", lambda s, a, v: isinstance(v, list) and len(v) > 0, lambda v, s, a: [])
    edit("list_item_wrong_type", lambda s, a, v: isinstance(v, list) and len(v) > 0,
         lambda v, s, a: [_wrong_type(v[0])] + v[1:])
    edit("list_item_int_for_float", lambda s, a, v: isinstance(v, list) and any(isinstance(x, float) for x in v),
         lambda v, s, a: [int(x) if isinstance(x, float) else x for x in v])
    # dicts (nested)
    is_dict = lambda s, a, v: isinstance(v, dict) and len(v) > 0  # noqa: E731
    edit("dict_value_changed", is_dict, lambda v, s, a: _other_value(v))
    edit("dict_key_dropped", is_dict, lambda v, s, a: dict(list(v.items())[:-1]))
    edit("dict_key_added", lambda s, a, v: isinstance(v, dict), lambda v, s, a: {**v, "zq_extra": "x"})
    edit("dict_string_case", lambda s, a, v: isinstance(v, dict) and any(isinstance(x, str) for x in v.values()),
         lambda v, s, a: _mutate_strings(v, lambda x: _case_variant(x, rng)))
    edit("list_of_dicts_changed", lambda s, a, v: isinstance(v, list) and v and isinstance(v[0], dict),
         lambda v, s, a: [_other_value(v[0])] + v[1:])
    edit("list_of_dicts_case", lambda s, a, v: isinstance(v, list) and v and isinstance(v[0], dict),
         lambda v, s, a: _mutate_strings(v, lambda x: _case_variant(x, rng)))
    # BFCL's corners: answers of another type than declared ("variables"), optional markers, any
    edit("declared_type_for_variable",
         lambda s, a, v: s.get("type") in _DECLARED and any(x != "" for x in a)
         and type(next(x for x in a if x != "")) is not _DECLARED[s["type"]],
         lambda v, s, a: _dummy(s))
    edit("empty_string_value", lambda s, a, v: isinstance(v, str), lambda v, s, a: "")
    edit("punct_only_string", lambda s, a, v: isinstance(v, str), lambda v, s, a: rng.choice([" ", "-", "_.", " , "]))
    edit("any_given_int", lambda s, a, v: s.get("type") == "any", lambda v, s, a: 1)
    edit("dict_for_list_of_dicts", lambda s, a, v: isinstance(v, list) and v and isinstance(v[0], dict),
         lambda v, s, a: v[0])
    edit("list_of_non_dicts", lambda s, a, v: isinstance(v, list) and v and isinstance(v[0], dict),
         lambda v, s, a: ["x" for _ in v])
    edit("empty_dict", lambda s, a, v: isinstance(v, dict), lambda v, s, a: {})
    edit("nested_list_item_case", lambda s, a, v: isinstance(v, list) and any(isinstance(x, list) for x in v),
         lambda v, s, a: _mutate_strings(v, str.upper))
    hit = pick(lambda s, a, v: True)
    if hit is not None and len(ref[hit[0]][1]) > 1:   # two edits in one call
        j, p = hit
        q = rng.choice([x for x in ref[j][1] if x != p])
        args = copy.deepcopy(ref[j][1])
        args[p] = _mutate_strings(args[p], lambda x: _case_variant(x, rng))
        args[q] = rng.choice([_other_value(args[q]), _mutate_strings(args[q], lambda x: _insert(x, rng, " _-")),
                              copy.deepcopy(args[q])])
        add("two_edits", with_args(j, args))
    # parameters
    req = pick(lambda s, a, v: True)
    if req is not None:
        j, _ = req
        required = set((docs.get(ref[j][0]) or {}).get("parameters", {}).get("required", []))
        present_required = [p for p in ref[j][1] if p in required]
        if present_required:
            args = dict(ref[j][1])
            del args[rng.choice(present_required)]
            add("missing_required", with_args(j, args))
        answer_only = [p for p in ref[j][1] if p not in required and "" not in answers[j].get(p, [])]
        if answer_only:
            args = dict(ref[j][1])
            del args[rng.choice(answer_only)]
            add("missing_answer_param", with_args(j, args))
    j = rng.randrange(len(ref))
    add("extra_param_unknown", with_args(j, {**ref[j][1], "zq_unknown": "x"}))
    spare = [p for p in props_of(j) if p not in ref[j][1]]
    if spare:
        p = rng.choice(spare)
        alts = [x for x in answers[j].get(p, []) if x != ""]
        if alts:
            add("optional_given", with_args(j, {**ref[j][1], p: alts[0]}))
        add("extra_param_schema", with_args(j, {**ref[j][1], p: _dummy(props_of(j).get(p))}))
    # names and calls
    add("wrong_name", [(n + "_v2" if k == j else n, a) for k, (n, a) in enumerate(ref)])
    others = [f["name"] for f in fns if f["name"] != ref[j][0]]
    if others:
        add("other_function", [(rng.choice(others) if k == j else n, a) for k, (n, a) in enumerate(ref)])
    if any("." in n for n, _ in ref):
        add("sanitised_wrong_value", [(_sanitise(n), _other_value(a) if k == j else a) for k, (n, a) in enumerate(ref)])
    add("no_call", None, "Sure, here is the answer.")
    add("no_call_empty_text", None, "")
    add("duplicated_call", [*ref, ref[j]])
    add("extra_call_other", [*ref, (rng.choice([f["name"] for f in fns]), {})])
    if len(ref) > 1:
        add("dropped_call", [c for k, c in enumerate(ref) if k != j])
        shuffled = ref[:]
        while shuffled == ref:
            rng.shuffle(shuffled)
        add("reordered_calls", shuffled)
        add("reversed_calls", list(reversed(ref)))
        k2 = (j + 1) % len(ref)
        swapped = [(n, a) for n, a in ref]
        swapped[j], swapped[k2] = (ref[j][0], ref[k2][1]), (ref[k2][0], ref[j][1])
        add("swapped_args", swapped)
    if len(ref) == 1 and not parallel:
        add("two_calls", [ref[0], ref[0]])
    # decoding
    add("invalid_json", with_args(j, _raw(ref[j][1])[:-1]))
    add("non_object_json", with_args(j, json.dumps(list(ref[j][1].values()))))
    add("empty_string_args", with_args(j, ""))
    add("empty_object_args", with_args(j, {}))
    return out


_DROP = object()
_DECLARED = {"string": str, "integer": int, "float": float, "boolean": bool, "array": list, "tuple": list,
             "dict": dict, "any": str}


def build_pairs(cases: dict[str, dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    pairs = []
    for cid, case in cases.items():
        rng = random.Random(f"{seed}:{cid}")
        for k, (kind, calls, text) in enumerate(mutations(case, rng)):
            raw = None if calls is None else [[n, _raw(a)] for n, a in calls]
            dotted = any("." in n for n, _ in calls or [])
            pairs.append({"pid": f"{cid}#{k}", "case": cid, "mkind": kind, "calls": raw, "text": text,
                          "dotted": dotted})
    return pairs


# ================================================================================================
# Our verdicts and the comparison
# ================================================================================================

def score_ours(cases: dict[str, dict[str, Any]], pairs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from protocols import ToolCall
    from protocols.bfcl import check_result

    out = {}
    for p in pairs:
        ex = cases[p["case"]]["expect"]
        calls = []
        for name, raw in p["calls"] or []:
            try:
                args = json.loads(raw)
            except ValueError:
                args = raw
            calls.append(ToolCall(name, args if isinstance(args, dict) else raw))
        expected = [{e["name"]: e["arguments"]} for e in ex["calls"]]
        r = check_result(ex["functions"], calls, expected, ex["category"])
        out[p["pid"]] = {"valid": r.valid, "error_type": r.error_type, "code": r.code}
    return out


def score_end_to_end(cases: dict[str, dict[str, Any]], pairs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The whole scoring path a run takes: the `native` protocol parses the assistant message (the
    pair's calls as OpenAI `tool_calls`), then `harness.score.verdicts.score` judges it against the case."""
    sys.path.insert(0, str(ROOT))
    import protocols
    from harness.suite.model import Case, Expect, ExpectedCall
    from harness.score.verdicts import score

    proto = protocols.get("native")
    objs = {}
    out = {}
    for p in pairs:
        cid = p["case"]
        if cid not in objs:
            c = cases[cid]
            ex = c["expect"]
            objs[cid] = Case(id=cid, protocol="native", messages=c["messages"], tools=c["tools"], expect=Expect(
                calls=tuple(ExpectedCall(e["name"], e["arguments"]) for e in ex["calls"]), any_order=ex["any_order"],
                checker="bfcl", functions=tuple(ex["functions"]), category=ex["category"]))
        case = objs[cid]
        msg: dict[str, Any] = {"role": "assistant", "content": p["text"] or None}
        if p["calls"] is not None:
            msg["tool_calls"] = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                                 for i, (n, a) in enumerate(p["calls"])]
        verdict = score(case, proto.parse(msg, tools=case.tools), proto)
        out[p["pid"]] = {"valid": verdict.passed, "error_type": ",".join(verdict.codes), "code": ""}
    return out


def compare(cases: dict[str, dict[str, Any]], pairs: list[dict[str, Any]], ours: dict[str, dict[str, Any]],
            oracle: dict[str, dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    crashes: list[dict[str, Any]] = []
    for p in pairs:
        o, u = oracle.get(p["pid"]), ours[p["pid"]]
        c = by_kind[p["mkind"]]
        if o is None or "exception" in o:
            c["oracle_crash"] += 1
            crashes.append({"pair": p, "ours": u, "oracle": o})
            continue
        c["pairs"] += 1
        c["oracle_valid"] += o["valid"]
        if o["valid"] == u["valid"]:
            c["agree"] += 1
            if not o["valid"]:
                c["both_invalid"] += 1
                c["same_error_type"] += (o["error_type"] == u["error_type"])
        else:
            c["disagree"] += 1
            examples[p["mkind"]].append({"pair": p, "ours": u, "oracle": o,
                                         "category": cases[p["case"]]["expect"]["category"]})
    total = Counter()
    for c in by_kind.values():
        total.update(c)
    return {"total": dict(total), "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
            "disagreements": {k: v for k, v in examples.items()}, "oracle_crashes": crashes}


def compare_tools(cases: dict[str, dict[str, Any]], oracle: dict[str, dict[str, Any]]) -> tuple[int, int, list[str]]:
    sys.path.insert(0, str(ROOT))
    from protocols.bfcl import functions_to_tools

    same = n = 0
    bad = []
    for cid, case in cases.items():
        o = oracle.get(f"tools:{cid}")
        if o is None:
            continue
        n += 1
        ours = functions_to_tools(case["expect"]["functions"])
        for t in ours:
            t["function"]["name"] = _sanitise(t["function"]["name"])   # BFCL sanitises; our native protocol does
        if json.dumps(ours) == json.dumps(o.get("tools")):   # key order included
            same += 1
        else:
            bad.append(cid)
    return same, n, bad


def agreement(data_dir: Path | None = None, sample: int | None = None, seed: int = 0, log: Any = None,
              with_tools: bool = True, end_to_end: bool = False, build: bool = True) -> dict[str, Any]:
    """Build (or reuse; with build=False only reuse) the oracle, build pairs, score both ways; the report dict."""
    py, build_s = ensure_oracle(log=log, build=build)
    data = Path(data_dir) if data_dir else oracle_data_dir(py)
    t0 = time.monotonic()
    cases = load_cases(data)
    pairs = build_pairs(cases, seed)
    n_all = len(pairs)
    if sample and sample < len(pairs):
        pairs = random.Random(seed).sample(pairs, sample)
    t1 = time.monotonic()
    ours = score_ours(cases, pairs)
    t2 = time.monotonic()
    tool_cases = list(cases) if with_tools else []
    oracle, summary = run_oracle(py, cases, pairs, tool_cases)
    t3 = time.monotonic()
    report = compare(cases, pairs, ours, oracle)
    if end_to_end:
        e2e = compare(cases, pairs, score_end_to_end(cases, pairs), oracle)
        report["end_to_end"] = {"total": e2e["total"], "by_kind": e2e["by_kind"],
                                "disagreements": e2e["disagreements"]}
    if with_tools:
        same, n, bad = compare_tools(cases, oracle)
        report["tools"] = {"cases": n, "identical": same, "different": bad[:20]}
    report.update({"oracle_python": str(py), "oracle_build_s": round(build_s, 1), "pairs_built": n_all,
                   "pairs_scored": len(pairs), "cases": len(cases), "placeholders": summary["placeholders"],
                   "seconds": {"build_pairs": round(t1 - t0, 1), "ours": round(t2 - t1, 2),
                               "oracle": round(t3 - t2, 1)},
                   "data": str(data)})
    return report


def _print(report: dict[str, Any], n_examples: int) -> None:
    t = report["total"]
    pairs, agree = t.get("pairs", 0), t.get("agree", 0)
    print(f"BFCL oracle: bfcl-eval {BFCL_VERSION} ({report['oracle_python']}; venv build "
          f"{report['oracle_build_s']}s{' — cached' if report['oracle_build_s'] == 0 else ''}); "
          f"placeholders for {', '.join(report['placeholders'])}")
    print(f"data: {report['data']} — {report['cases']} cases, {report['pairs_built']} pairs built, "
          f"{report['pairs_scored']} scored; time {report['seconds']}")
    print(f"\nagreement on validity: {agree}/{pairs} = {100.0 * agree / max(pairs, 1):.3f}%   "
          f"(BFCL valid: {t.get('oracle_valid', 0)}, invalid: {pairs - t.get('oracle_valid', 0)}; "
          f"same error type when both invalid: {t.get('same_error_type', 0)}/{t.get('both_invalid', 0)}; "
          f"BFCL crashed: {t.get('oracle_crash', 0)})")
    print(f"\n{'mutation kind':28} {'pairs':>6} {'BFCL ok':>8} {'agree':>6} {'disagree':>8} "
          f"{'err type =':>10} {'crash':>6}")
    for kind, c in report["by_kind"].items():
        print(f"{kind:28} {c.get('pairs', 0):6} {c.get('oracle_valid', 0):8} {c.get('agree', 0):6} "
              f"{c.get('disagree', 0):8} {c.get('same_error_type', 0):>5}/{c.get('both_invalid', 0):<4} "
              f"{c.get('oracle_crash', 0):6}")
    if "tools" in report:
        tl = report["tools"]
        print(f"\nrequest tools identical to BFCL's convert_to_tool (names sanitised): "
              f"{tl['identical']}/{tl['cases']} cases" + (f"; differ: {tl['different']}" if tl["different"] else ""))
    if "end_to_end" in report:
        e = report["end_to_end"]
        ep, ea = e["total"].get("pairs", 0), e["total"].get("agree", 0)
        print(f"\nend to end (native protocol parse + harness.score.verdicts.score) vs BFCL: {ea}/{ep} = "
              f"{100.0 * ea / max(ep, 1):.3f}%")
        for kind, exs in sorted(e["disagreements"].items(), key=lambda kv: -len(kv[1])):
            x = exs[0]
            print(f"   {kind:26} {len(exs):5} disagree, e.g. {x['pair']['case']}: ours {x['ours']['valid']} "
                  f"({x['ours']['error_type']}), BFCL {x['oracle']['valid']} ({x['oracle'].get('error_type', '')})")
    for kind, exs in report["disagreements"].items():
        print(f"\n-- disagreements: {kind} ({len(exs)})")
        for e in exs[:n_examples]:
            p = e["pair"]
            print(f"   {p['case']} [{e['category']}] calls={json.dumps(p['calls'])[:300]} text={p['text']!r}")
            print(f"      ours: {e['ours']}   BFCL: {e['oracle']}")
    crashes = report["oracle_crashes"]
    if crashes:
        print(f"\n-- BFCL crashed on {len(crashes)} pairs (left out of the agreement); ours said: "
              f"{dict(Counter(str(c['ours']['valid']) + ' ' + c['ours']['error_type'] for c in crashes))}")
        for e in crashes[:n_examples]:
            print(f"   {e['pair']['case']} {e['pair']['mkind']}: {e['oracle']}")


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--oracle-worker"]:
        return oracle_worker(argv[1], argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="BFCL data folder (default: the oracle venv's bfcl_eval/data)")
    ap.add_argument("--sample", type=int, help="score a random sample of this many pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=3, help="examples printed per disagreeing kind")
    ap.add_argument("--no-tools", action="store_true", help="skip the request-tools comparison")
    ap.add_argument("--end-to-end", action="store_true",
                    help="also score every pair through the native protocol and harness.score.verdicts (a run's path)")
    ap.add_argument("--json", metavar="OUT", help="also write the full report as JSON")
    ap.add_argument("--prepare-oracle", action="store_true",
                    help="build the oracle venv (PyPI, once) and check that bfcl_eval is there; score nothing")
    args = ap.parse_args(argv)
    if args.prepare_oracle:
        try:
            py, build_s = ensure_oracle(log=lambda m: print(m, file=sys.stderr))
            data = oracle_data_dir(py)
        except OracleUnavailable as e:
            print(f"bfcl_agreement: the BFCL oracle is unavailable: {e}", file=sys.stderr)
            return 3
        how = "cached" if build_s == 0 else f"built in {build_s:.1f}s"
        print(f"BFCL oracle ready: bfcl-eval {BFCL_VERSION} in {py} ({how}); data {data}")
        return 0
    try:
        report = agreement(args.data, args.sample, args.seed, log=lambda m: print(m, file=sys.stderr),
                           with_tools=not args.no_tools, end_to_end=args.end_to_end)
    except OracleUnavailable as e:
        print(f"bfcl_agreement: the BFCL oracle is unavailable: {e}", file=sys.stderr)
        return 3
    _print(report, args.examples)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    t = report["total"]
    return 0 if t.get("agree", 0) >= 0.995 * max(t.get("pairs", 1), 1) else 1


if __name__ == "__main__":
    sys.exit(main())
