"""Suite files: load, validate and resolve them by name.

A suite is YAML (a list of cases, or a mapping with `name`, `description`, `protocol`, `mode`,
`generator`, `version` and `cases`) or JSONL (one case per line; an optional first line
`{"suite": {...}}` carries the same top-level keys). The case format is DESIGN.md's "Suites" section.

    suite = load_suite("roo-core")          # a shipped suite, by name
    suite = load_suite("my/suite.yaml")     # or a file
    problems = validate_file("my/suite.yaml")   # ["my/suite.yaml:12: case 'x': ...", ...]

Validation collects every problem before it reports, and each problem names the file and the line of
the offending field (`FILE:LINE: message`); `load_suite` raises one `SuiteError` carrying all of them,
so a bad suite never half-runs. YAML is read with safe-load semantics only (PyYAML's SafeLoader: no
object construction, no code); the composed node tree supplies the line numbers, and it is only walked
when there is a problem to place. A case's `reference` must parse under the case's protocol without
violations and satisfy the case's own expectation (scored with `harness.score.verdicts.score`).

Speed: JSONL (the shipped suites' format) needs no YAML parse at all; protocols are compiled once per
distinct `protocol` spec; argument schemas are checked with a fast path for the simple shapes
(`const`, `type`, `enum`, `pattern`, ...) and a cache for the rest. A YAML file's parsed data is kept
in a small on-disk cache keyed by the sha256 of its bytes (`$HARNESS_CACHE_DIR/suites`, else
`$XDG_CACHE_HOME/harness/suites`; `HARNESS_SUITE_CACHE=0` turns it off), so reloading a large YAML
suite costs a JSON read. The structural checks always run, but jsonschema's meta-check of each JSON
Schema (`check_schema`, ~2 ms a schema) is skipped for a file whose exact bytes already passed the
structural checks under the same code (a `schemas-*.ok` marker in the same cache, keyed by the file's
sha256 and a fingerprint of the code that decides validity: this module, `scoring`, `cases`, the
protocol modules and catalogs, the Python version and the installed jsonschema); within one load,
identical schemas (equal canonical JSON) are meta-checked once. The reference checks (a parse and a
score per case, the costly part) are skipped for a file whose exact bytes already passed them under
the same fingerprint (a `refs-*.ok` marker). Schemas the loader accepts are recorded for the native
protocol's validators, which then do not meta-check them again when they compile them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.suite.model import Case, Expect, ExpectedCall, Suite
from harness.errors import SuiteError, UserError
from harness._util.fs import atomic_open

SUITE_EXTS = (".yaml", ".yml", ".jsonl")
SUITE_KEYS = ("name", "description", "protocol", "mode", "generator", "version", "cases")
CASE_KEYS = ("id", "protocol", "mode", "split", "tags", "messages", "tools", "expect", "reference", "meta")
EXPECT_KEYS = ("calls", "any_order", "checker", "functions", "category")
CALL_KEYS = ("name", "arguments")
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content", "reasoning",
                "refusal")
ROLES = ("system", "user", "assistant", "tool")
SPLITS = ("train", "test")
CHECKERS = ("schema", "bfcl")
_CACHE_VERSION = 1

Path_ = tuple[Any, ...]   # a path into the document: keys and list indices


# -- shipped suites ---------------------------------------------------------------------------------

def _package_dir() -> Any:
    return resources.files("suites")


def list_shipped() -> list[str]:
    """Names of the suites shipped in the `suites` package (sorted)."""
    out = set()
    for entry in _package_dir().iterdir():
        n = entry.name
        for ext in SUITE_EXTS:
            if n.endswith(ext) and entry.is_file():
                out.add(n[: -len(ext)])
    return sorted(out)


def shipped_path(name: str) -> Any | None:
    """The packaged file of a shipped suite called `name` (a Traversable), or None."""
    base = _package_dir()
    stem = name
    for ext in SUITE_EXTS:
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    for ext in (".jsonl", ".yaml", ".yml"):
        t = base.joinpath(stem + ext)
        if t.is_file():
            return t
    return None


def resolve(name_or_path: str | os.PathLike[str]) -> tuple[str, bytes]:
    """(the path to show in messages, the file's bytes) for a suite file or a shipped suite name."""
    s = os.fspath(name_or_path)
    p = Path(s)
    if p.is_file():
        try:
            return s, p.read_bytes()
        except OSError as e:
            raise SuiteError(f"{s}:1: cannot read the suite file: {e.strerror or e}") from None
    t = shipped_path(s)
    if t is not None:
        return str(t), t.read_bytes()
    if p.is_dir():
        raise SuiteError(f"{s}:1: is a directory; give a suite file (.yaml, .yml or .jsonl) or a shipped suite name")
    shipped = ", ".join(list_shipped()) or "none"
    raise SuiteError(f"{s}:1: no such suite file, and no shipped suite has that name (shipped: {shipped})")


# -- the parsed document ----------------------------------------------------------------------------

@dataclass
class _Doc:
    """The parsed file: its data, where each case starts, and how to find the line of any field."""

    path: str
    kind: str                       # "yaml" | "jsonl"
    top: dict[str, Any] = field(default_factory=dict)      # suite-level keys (not cases)
    cases: list[Any] = field(default_factory=list)
    case_lines: list[int] = field(default_factory=list)
    cases_prefix: Path_ = ("cases",)  # document path of the case list ((), when the file is a bare list)
    header_line: int = 1
    root_node: Any = None           # YAML node tree (lazily re-composed when a problem needs a line)
    text: str | None = None
    cache_write: Any = None         # (cache file, sha256, data) to store once the suite validates
    json_exact: bool = False        # the data is exactly what its JSON text reads back as (str keys, ...)

    def line(self, path: Path_) -> int:
        if self.kind == "jsonl":
            if path and path[0] == "cases" and len(path) > 1 and isinstance(path[1], int) \
                    and path[1] < len(self.case_lines):
                return self.case_lines[path[1]]
            return self.header_line
        node = self._root()
        if node is None:
            return 1
        return _node_line(node, path)

    def _root(self) -> Any:
        if self.root_node is None and self.text is not None:
            import yaml
            try:
                self.root_node = yaml.compose(self.text, Loader=_safe_loader())
            except yaml.YAMLError:
                self.root_node = None
        return self.root_node

    def doc_path(self, case_path: Path_) -> Path_:
        """A path relative to the suite mapping -> the document path ("cases" may be the root list)."""
        if case_path and case_path[0] == "cases":
            return self.cases_prefix + tuple(case_path[1:])
        return case_path


def _safe_loader() -> Any:
    import yaml
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _node_line(node: Any, path: Path_) -> int:
    """1-based line of the node at `path`; the deepest existing node when the path runs out. A path
    ending in ("key", NAME) -> the line of the key NAME itself (for unknown/duplicate keys)."""
    import yaml
    cur = node
    line = node.start_mark.line + 1
    i = 0
    while i < len(path):
        step = path[i]
        if step == "@key" and i + 1 < len(path) and isinstance(cur, yaml.MappingNode):
            name = path[i + 1]
            for k, _v in cur.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(name):
                    return k.start_mark.line + 1
            return cur.start_mark.line + 1
        nxt = None
        if isinstance(cur, yaml.MappingNode):
            for k, v in cur.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(step):
                    nxt, nline = v, k.start_mark.line + 1   # the last duplicate wins, as in construction
        elif isinstance(cur, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(cur.value):
            nxt = cur.value[step]
            nline = nxt.start_mark.line + 1
        if nxt is None:
            break
        cur, line = nxt, nline   # a field is placed on its key's line, a list item on its first line
        i += 1
    return line


def _decode(path: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SuiteError(f"{path}:{line}: the file is not UTF-8 text (byte 0x{data[e.start]:02x} at column "
                         f"{col}); save it as UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _is_jsonl(path: str, text: str) -> bool:
    low = path.lower()
    if low.endswith(".jsonl") or low.endswith(".ndjson"):
        return True
    if low.endswith((".yaml", ".yml")):
        return False
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return first.lstrip().startswith("{") and first.rstrip().endswith("}")


def _parse_jsonl(path: str, text: str) -> _Doc:
    doc = _Doc(path=path, kind="jsonl", json_exact=True)
    errors: list[str] = []
    first = True
    for n, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            errors.append(f"{path}:{n}: invalid JSON at column {e.colno}: {e.msg}")
            first = False
            continue
        if first and isinstance(obj, dict) and set(obj) == {"suite"}:
            first = False
            doc.header_line = n
            if not isinstance(obj["suite"], dict):
                errors.append(f"{path}:{n}: the header line's 'suite' must be an object of suite keys")
            else:
                doc.top = obj["suite"]
            continue
        first = False
        doc.cases.append(obj)
        doc.case_lines.append(n)
    if errors:
        raise SuiteError("\n".join(errors))
    return doc


def _cache_dir() -> Path | None:
    if os.environ.get("HARNESS_SUITE_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    base = os.environ.get("HARNESS_CACHE_DIR")
    if base:
        return Path(base) / "suites"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "harness" / "suites"


_FINGERPRINT: list[str] = []
# the harness modules that decide whether a suite is valid and its references correct (with every
# protocols module and catalog); a change elsewhere (the runner, the CLI, ...) re-checks nothing
_VALIDITY_MODULES = ("suite.py", "scoring.py", "cases.py")
# jsonschema decides schema validity (check_schema) and checks references' arguments; its meta-schemas
# live in jsonschema_specifications, $ref resolution in referencing, and the `format` checks that
# check_schema applies (regex, uri-reference, ...) depend on which of the optional libraries are there
_SCHEMA_LIBS = ("jsonschema", "jsonschema_specifications", "referencing")
_FORMAT_LIBS = ("fqdn", "idna", "rfc3987", "rfc3986_validator", "rfc3987_syntax", "rfc3339_validator", "webcolors",
                "jsonpointer", "uri_template", "isoduration")


def _fingerprint() -> str:
    """A digest of the code and data that decide whether a suite's schemas are valid and its references
    correct: this module, the scorer and the case types, the protocol modules and their catalogs, the
    Python version, and the installed jsonschema (its files' sizes and times, and which optional format
    libraries it finds). A change to any of them re-checks every suite."""
    if not _FINGERPRINT:
        import protocols
        h = hashlib.sha256()
        here = Path(__file__).parent
        pdir = Path(protocols.__file__).parent
        files = [("harness/" + n, here / n) for n in _VALIDITY_MODULES]
        files += [("protocols/" + f.name, f) for f in sorted(pdir.glob("*.py"))]
        files += [("protocols/data/" + f.name, f) for f in sorted((pdir / "data").glob("*.json"))]
        for name, f in files:
            try:
                h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
            except OSError:
                h.update(name.encode() + b"\0?")
        h.update(f"python {sys.version}\0".encode())
        _libs_state(h)
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def _libs_state(h: Any) -> None:
    """Feed `h` with the installed schema libraries' state without importing them (stat only)."""
    import importlib.util
    for name in _SCHEMA_LIBS + _FORMAT_LIBS:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None) if spec is not None else None
        if not origin:
            h.update(f"{name}: absent\0".encode())
            continue
        root = os.path.dirname(origin) if name in _SCHEMA_LIBS and origin.endswith("__init__.py") else None
        paths = [origin] if root is None else _tree(root)
        for f in paths:
            try:
                st = os.stat(f)
                h.update(f"{name}:{os.path.relpath(f, root or os.path.dirname(origin))}:{st.st_size}:"
                         f"{st.st_mtime_ns}\0".encode())
            except OSError:
                h.update(f"{name}:{f}:?\0".encode())


def _tree(root: str) -> list[str]:
    out: list[str] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if e.name == "__pycache__":
                continue
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            else:
                out.append(e.path)
    return out


def _refs_marker(digest: str) -> Path | None:
    """The file whose presence says: every reference of the suite with this sha256 checked out."""
    cache = _cache_dir()
    if cache is None:
        return None
    return cache / f"refs-{hashlib.sha256((digest + ':' + _fingerprint()).encode()).hexdigest()}.ok"


def _schemas_marker(digest: str) -> Path | None:
    """The file whose presence says: the suite with this sha256 passed the structural checks, so each of
    its JSON Schemas passed jsonschema's check_schema (the costly part) under the same code."""
    cache = _cache_dir()
    if cache is None:
        return None
    return cache / f"schemas-{hashlib.sha256((digest + ':' + _fingerprint()).encode()).hexdigest()}.ok"


def _touch(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    except OSError:
        pass


def _json_safe(x: Any) -> bool:
    """True when `x` survives a JSON round trip unchanged (str keys, JSON scalars only)."""
    stack = [x]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, w in v.items():
                if not isinstance(k, str):
                    return False
                stack.append(w)
        elif isinstance(v, list):
            stack.extend(v)
        elif v is None or isinstance(v, (str, bool, int)):
            continue
        elif isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")):
                return False
        else:
            return False
    return True


def _parse_yaml(path: str, text: str, digest: str) -> _Doc:
    import yaml
    cache = _cache_dir()
    cfile = cache / f"{digest}.json" if cache is not None else None
    if cfile is not None:
        try:
            with open(cfile, encoding="utf-8") as f:
                c = json.load(f)
            if c.get("v") == _CACHE_VERSION and c.get("sha256") == digest:
                doc = _Doc(path=path, kind="yaml", text=text, json_exact=True)
                _split_yaml_data(doc, c["data"], None)
                doc.case_lines = list(c["case_lines"])
                return doc
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    loader = _safe_loader()(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(s for s in (e.context, e.problem) if s) or "syntax error"
        raise SuiteError(f"{path}:{line}: invalid YAML: {what}") from None
    except yaml.reader.ReaderError as e:   # a character YAML does not allow (control bytes, ...)
        pos = e.position if isinstance(e.position, int) else 0
        line = text.count("\n", 0, pos) + 1
        ch = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or "\0")
        raise SuiteError(f"{path}:{line}: invalid YAML: {e.reason} (character U+{ch:04X})") from None
    except yaml.YAMLError as e:
        raise SuiteError(f"{path}:1: invalid YAML: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise SuiteError(f"{path}:1: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    doc = _Doc(path=path, kind="yaml", text=text, root_node=node)
    _split_yaml_data(doc, data, node)
    if cfile is not None and doc.cases:
        doc.cache_write = (cfile, digest, data)
    return doc


def _write_cache(doc: _Doc) -> None:
    """Keep a valid YAML suite's parsed data for the next load (best effort; JSON only)."""
    if doc.cache_write is None:
        return
    cfile, digest, data = doc.cache_write
    if not _json_safe(data):
        return
    try:
        with atomic_open(cfile) as f:
            json.dump({"v": _CACHE_VERSION, "sha256": digest, "data": data,
                       "case_lines": doc.case_lines}, f, ensure_ascii=False, separators=(",", ":"))
    except OSError:
        pass


def _split_yaml_data(doc: _Doc, data: Any, node: Any) -> None:
    import yaml
    if data is None:
        raise SuiteError(f"{doc.path}:1: the suite is empty: add a list of cases or a mapping with 'cases'")
    if isinstance(data, list):
        doc.cases = data
        doc.cases_prefix = ()
        seq = node
    elif isinstance(data, dict):
        doc.top = {k: v for k, v in data.items() if k != "cases"}
        doc.cases = data.get("cases")  # validated later
        seq = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == "cases":
                    seq = v
    else:
        raise SuiteError(f"{doc.path}:1: the top level must be a list of cases or a mapping with 'cases', "
                         f"not a {type(data).__name__}")
    if node is not None:
        if isinstance(seq, yaml.SequenceNode) and isinstance(doc.cases, list):
            doc.case_lines = [c.start_mark.line + 1 for c in seq.value]
        else:
            doc.case_lines = [1] * (len(doc.cases) if isinstance(doc.cases, list) else 0)


def _yaml_duplicate_keys(doc: _Doc) -> list[tuple[Path_, str]]:
    """Duplicate keys in the suite mapping, each case, its expect and its expected calls (YAML keeps the
    last value silently; a duplicated key is almost always a mistake)."""
    import yaml
    root = doc._root()
    out: list[tuple[Path_, str]] = []

    def scan(node: Any, where: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        seen: dict[str, int] = {}
        for k, _v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    out.append((("@line", k.start_mark.line + 1),
                                f"{where}duplicate key '{k.value}' (first on line {seen[k.value]}); "
                                f"YAML keeps only the last one"))
                else:
                    seen[k.value] = k.start_mark.line + 1

    def child(node: Any, key: str) -> Any:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key:
                    return v
        return None

    if root is None:
        return out
    seq = root
    if isinstance(root, yaml.MappingNode):
        scan(root, "")
        seq = child(root, "cases")
    if isinstance(seq, yaml.SequenceNode):
        for cnode in seq.value:
            scan(cnode, "")
            exp = child(cnode, "expect")
            scan(exp, "expect: ")
            calls = child(exp, "calls")
            if isinstance(calls, yaml.SequenceNode):
                for c in calls.value:
                    scan(c, "expect.calls: ")
                    scan(child(c, "arguments"), "expect.calls.arguments: ")
    return out


# -- schema checks ----------------------------------------------------------------------------------

_JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
_SIMPLE_KEYS = frozenset({"const", "type", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum",
                          "description", "title"})
_SCHEMA_CACHE: dict[str, str | None] = {}
# json.dumps(x, sort_keys=True), without building an encoder per call (the same text, the same errors)
_canonical_json = json.JSONEncoder(sort_keys=True).encode


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a valid JSON Schema (jsonschema's check_schema), or None. Cached; the
    common simple shapes are checked without jsonschema."""
    return _schema_check(schema)[0]


def _schema_check(schema: Any) -> tuple[str | None, str | None]:
    """(schema_problem's answer, the schema's canonical JSON when jsonschema decided it, else None).
    Identical schemas (equal canonical JSON) are checked once per process."""
    if not isinstance(schema, dict):
        return f"a JSON Schema must be an object, not {type(schema).__name__}", None
    if schema.keys() <= _SIMPLE_KEYS:
        t = schema.get("type")
        if t is not None and not (t in _JSON_TYPES or (isinstance(t, list) and t and all(x in _JSON_TYPES for x in t))):
            return f"type {t!r} is not a JSON Schema type ({', '.join(_JSON_TYPES)})", None
        if "enum" in schema and not isinstance(schema["enum"], list):
            return "enum must be a list of values", None
        for k in ("minLength", "maxLength"):
            if k in schema and (not isinstance(schema[k], int) or isinstance(schema[k], bool) or schema[k] < 0):
                return f"{k} must be a non-negative integer", None
        for k in ("minimum", "maximum"):
            if k in schema and (not isinstance(schema[k], (int, float)) or isinstance(schema[k], bool)):
                return f"{k} must be a number", None
        for k in ("description", "title"):
            if k in schema and not isinstance(schema[k], str):
                return f"{k} must be a string", None
        if "pattern" in schema:
            p = schema["pattern"]
            if not isinstance(p, str):
                return "pattern must be a string", None
            try:
                re.compile(p)
            except re.error as e:
                return f"pattern {p[:60]!r} is not a valid regular expression: {e}", None
        return None, None
    try:
        key = _canonical_json(schema)
    except (TypeError, ValueError):
        return "the schema is not plain JSON data", None
    if key in _SCHEMA_CACHE:
        return _SCHEMA_CACHE[key], key
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
        why = None
    except SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path)
        why = f"invalid JSON Schema{' at ' + where if where else ''}: {e.message}"
    except Exception as e:  # noqa: BLE001 - a schema that crashes the meta-check is still a user error
        why = f"invalid JSON Schema: {type(e).__name__}: {e}"
    if len(_SCHEMA_CACHE) > 20_000:
        _SCHEMA_CACHE.clear()
    _SCHEMA_CACHE[key] = why
    return why, key


# -- validation -------------------------------------------------------------------------------------

class _Problems:
    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.items: list[tuple[Path_, str]] = []

    def add(self, path: Path_, msg: str) -> None:
        self.items.append((path, msg))

    def __bool__(self) -> bool:
        return bool(self.items)

    def render(self) -> list[str]:
        out = []
        for path, msg in self.items:
            if path and path[0] == "@line":
                line = path[1]
            else:
                line = self.doc.line(self.doc.doc_path(path))
            out.append((line, f"{self.doc.path}:{line}: {msg}"))
        out.sort(key=lambda x: x[0])   # stable: same-line problems keep their order
        return [m for _, m in out]


def _tname(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _spec_key(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    try:
        return json.dumps(spec, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(spec)


def _resolve_relative(spec: Any, base_dir: Path | None) -> Any:
    """Catalog paths in a protocol spec are relative to the suite file's folder when they exist there."""
    if base_dir is None:
        return spec
    if isinstance(spec, str):
        wire, sep, rest = spec.partition(":")
        if sep and wire in ("xml", "native", "hermes") and rest and not os.path.isabs(rest):
            cand = base_dir / rest
            if cand.is_file():
                return f"{wire}:{cand}"
        return spec
    if isinstance(spec, dict) and isinstance(spec.get("catalog"), str) and not os.path.isabs(spec["catalog"]):
        cand = base_dir / spec["catalog"]
        if cand.is_file():
            return {**spec, "catalog": str(cand)}
    return spec


class _Validator:
    def __init__(self, doc: _Doc, base_dir: Path | None, check_references: bool = True) -> None:
        self.doc = doc
        self.p = _Problems(doc)
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
        if self.schemas_known_valid and isinstance(spec, dict) and not spec.keys() <= _SIMPLE_KEYS:
            try:
                text = _canonical_json(spec)
                why = None
            except (TypeError, ValueError):
                text = None
        if text is None:
            why, text = _schema_check(spec)
        if why is None and text is not None and (self.doc.json_exact or _json_safe(spec)):
            if self._note_valid is None:
                from protocols.wire.native import note_valid_schema
                self._note_valid = note_valid_schema
            self._note_valid(text)
        return why

    # -- protocols, compiled once per distinct spec --
    def protocol(self, spec: Any) -> tuple[Any, str | None]:
        key = _spec_key(spec)
        hit = self._protocols.get(key)
        if hit is None:
            import protocols
            try:
                if not isinstance(spec, (str, dict)):
                    raise UserError(f"protocol must be a name or a {{wire, catalog}} mapping, not {_tname(spec)}")
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
                p.add((k,), f"'{k}' must be a string, not {_tname(top[k])}")
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
                p.add(("mode",), f"'mode' must be a mode slug string, not {_tname(default_mode)}")
                default_mode = None
            elif default_proto is not None and default_proto_ok:
                cat = getattr(self.protocol(default_proto)[0], "catalog", None)
                if cat is not None and cat.modes and default_mode not in cat.modes:
                    p.add(("mode",), f"unknown mode '{default_mode}' for protocol {self._pname(default_proto)} "
                                     f"(modes: {', '.join(cat.modes)})")
                    default_mode = None
        if doc.kind == "yaml" and doc.root_node is not None:
            for path, msg in _yaml_duplicate_keys(doc):
                p.add(path, msg)

        cases_raw = doc.cases
        if not isinstance(cases_raw, list):
            if cases_raw is None:
                p.add(("@key", "cases") if "cases" not in top else ("cases",),
                      "the suite has no 'cases': add a list of cases")
            else:
                p.add(("cases",), f"'cases' must be a list of cases, not {_tname(cases_raw)}")
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

    @staticmethod
    def _pname(spec: Any) -> str:
        return spec if isinstance(spec, str) else str(spec.get("name") or f"{spec.get('wire')}:{spec.get('catalog')}")

    def case(self, i: int, raw: Any, default_proto: Any, default_proto_ok: bool, default_mode: Any,
             seen_ids: dict[str, int]) -> Case | None:
        p = self.p
        at = ("cases", i)
        if not isinstance(raw, dict):
            p.add(at, f"case #{i + 1}: a case must be a mapping of fields, not {_tname(raw)}")
            return None
        n_before = len(p.items)
        cid = raw.get("id")
        label = f"case #{i + 1}"
        if "id" not in raw:
            p.add(at, f"{label}: missing 'id' (a unique string)")
        elif not isinstance(cid, str) or not cid.strip():
            p.add(at + ("id",), f"{label}: 'id' must be a non-empty string, not {_tname(cid)}")
        else:
            label = f"case '{cid}'"
            if cid in seen_ids:
                p.add(at + ("id",), f"{label}: duplicate id (first used on line {seen_ids[cid]})")
            else:
                seen_ids[cid] = self.doc.case_lines[i] if i < len(self.doc.case_lines) else 1
        for k in raw:
            if k not in CASE_KEYS:
                hint = _close(k, CASE_KEYS)
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
                p.add(at + ("mode",), f"{label}: 'mode' must be a mode slug string, not {_tname(mode)}")
                mode = None
            elif mode is not None and catalog is not None and catalog.modes and mode not in catalog.modes:
                p.add(at + ("mode",), f"{label}: unknown mode '{mode}' for protocol {self._pname(pspec)} "
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
    def messages(self, at: Path_, label: str, raw: dict[str, Any]) -> list[dict[str, Any]]:
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
                p.add(mp, f"{where}: a message must be a mapping with 'role' and 'content', not {_tname(m)}")
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
                                         f"not {_tname(content)}")
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

    def tool_calls(self, path: Path_, where: str, tcs: Any) -> None:
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

    def tools(self, at: Path_, label: str, raw: dict[str, Any]) -> list[dict[str, Any]] | None:
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

    def expect(self, at: Path_, label: str, raw: dict[str, Any], catalog: Any,
               tools: list[dict[str, Any]] | None, proto: Any) -> Expect:
        p = self.p
        if "expect" not in raw or raw["expect"] is None:
            return Expect()
        e = raw["expect"]
        ep = at + ("expect",)
        if not isinstance(e, dict):
            p.add(ep, f"{label}: 'expect' must be a mapping (calls, any_order, ...)")
            return Expect()
        for k in e:
            if k not in EXPECT_KEYS:
                hint = _close(k, EXPECT_KEYS)
                p.add(ep + ("@key", k), f"{label}: unknown key 'expect.{k}'" + (
                    f" (did you mean '{hint}'?)" if hint else f" (allowed: {', '.join(EXPECT_KEYS)})"))
        any_order = e.get("any_order", False)
        if not isinstance(any_order, bool):
            p.add(ep + ("any_order",), f"{label}: expect.any_order must be true or false, not {any_order!r}")
            any_order = False
        checker = e.get("checker", "schema")
        if checker not in CHECKERS:
            p.add(ep + ("checker",), f"{label}: expect.checker must be one of {', '.join(CHECKERS)}, not {checker!r}")
            checker = "schema"
        functions = e.get("functions", [])
        if functions is None:
            functions = []
        if not isinstance(functions, list) or not all(isinstance(f, dict) for f in functions):
            p.add(ep + ("functions",), f"{label}: expect.functions must be a list of function definitions")
            functions = []
        category = e.get("category", "")
        if not isinstance(category, str):
            p.add(ep + ("category",), f"{label}: expect.category must be a string")
            category = ""
        if tools:
            known = self._known_tools(catalog, tools)
        else:
            ck = id(catalog)
            if ck not in self._known_cache:
                self._known_cache[ck] = (catalog, self._known_tools(catalog, None))
            known = self._known_cache[ck][1]
        calls_raw = e.get("calls")
        calls: tuple[ExpectedCall, ...] | None = None
        if calls_raw is not None:
            if not isinstance(calls_raw, list):
                p.add(ep + ("calls",), f"{label}: expect.calls must be a list of expected calls ([] = no call)")
            else:
                out = []
                for j, c in enumerate(calls_raw):
                    ec = self.expected_call(ep + ("calls", j), f"{label}: expect.calls[{j}]", c, known, checker)
                    if ec is not None:
                        out.append(ec)
                calls = tuple(out)
        return Expect(calls=calls, any_order=any_order, checker=checker, functions=tuple(functions),
                      category=category)

    @staticmethod
    def _known_tools(catalog: Any, tools: list[dict[str, Any]] | None) -> dict[str, set[str] | None] | None:
        """tool name -> its parameter names (None = not checkable); None when names are not checkable."""
        known: dict[str, set[str] | None] = {}
        if catalog is not None:
            for name, spec in catalog.tools.items():
                props = spec.parameters.get("properties") if isinstance(spec.parameters, dict) else None
                known[name] = set(props) if isinstance(props, dict) and props else None
        if tools:
            for t in tools:
                fn = t.get("function") if isinstance(t, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                    pr = fn.get("parameters")
                    props = pr.get("properties") if isinstance(pr, dict) else None
                    known[fn["name"]] = set(props) if isinstance(props, dict) and props else None
        return known or None

    def expected_call(self, cp: Path_, where: str, c: Any, known: dict[str, set[str] | None] | None,
                      checker: str) -> ExpectedCall | None:
        p = self.p
        if not isinstance(c, dict):
            p.add(cp, f"{where}: an expected call must be a mapping with 'name' and 'arguments'")
            return None
        for k in c:
            if k not in CALL_KEYS:
                p.add(cp + ("@key", k), f"{where}: unknown key '{k}' (allowed: name, arguments)")
        name = c.get("name")
        if not isinstance(name, str) or not name:
            p.add(cp + ("name",) if "name" in c else cp, f"{where}: needs a 'name' (the tool's name)")
            return None
        params: set[str] | None = None
        if known is not None:
            if name in known:
                params = known[name]
            elif not name.startswith(("mcp--", "mcp__")):
                hint = _close(name, tuple(known))
                p.add(cp + ("name",), f"{where}: unknown tool '{name}'" + (
                    f" (did you mean '{hint}'?)" if hint else " (not in the protocol's catalog or the case's tools)"))
        args = c.get("arguments", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            p.add(cp + ("arguments",), f"{where}: arguments must map each parameter to a JSON Schema "
                                       f"or a list of allowed values")
            return None
        for param, spec in args.items():
            ap = cp + ("arguments", param)
            if not isinstance(param, str):
                p.add(ap, f"{where}: parameter names must be strings, not {param!r}")
                continue
            if params is not None and param not in params and checker != "bfcl":
                # (BFCL's own answers name a few parameters their docs lack; BFCL scores them as they are)
                hint = _close(param, tuple(params))
                p.add(cp + ("arguments", "@key", param),
                      f"{where}: '{name}' has no parameter '{param}'" + (
                          f" (did you mean '{hint}'?)" if hint else f" (parameters: {', '.join(sorted(params))})"))
            if isinstance(spec, dict):
                why = self.schema_problem(spec)
                if why:
                    p.add(ap, f"{where}: arguments.{param}: {why}")
            elif isinstance(spec, list):
                if checker != "bfcl" and not spec:
                    p.add(ap, f"{where}: arguments.{param}: an empty list of alternatives matches nothing")
            elif checker == "bfcl":
                continue
            else:
                p.add(ap, f"{where}: arguments.{param} must be a JSON Schema (a mapping) or a list of allowed "
                          f"values, not {_tname(spec)}")
        return ExpectedCall(name=name, arguments=dict(args))

    def reference_shape(self, at: Path_, label: str, ref: Any) -> dict[str, Any] | None:
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

    def references(self, pending: list[tuple[int, Case, Any]]) -> None:
        """Each reference parses without violations and satisfies its case's expectation."""
        try:
            from harness.score.verdicts import score
        except ImportError:  # pragma: no cover - scoring ships with the harness
            score = None
        p = self.p
        for i, case, proto in pending:
            if proto is None:
                continue
            rp = ("cases", i, "reference")
            label = f"case '{case.id}'"
            try:
                turn = proto.parse(case.reference, mode=case.mode, tools=case.tools)
                # the verdict is what counts: it keeps the protocol's violations except where the
                # expectation overrides them (no call expected; BFCL's own checker)
                found = score(case, turn, proto).violations if score is not None else turn.violations
                problems = [f"{v.code}: {v.detail}" if v.detail else v.code for v in found]
            except Exception as e:  # noqa: BLE001 - report, never a traceback
                problems = [f"could not be checked ({type(e).__name__}: {e})"]
            if problems:
                shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
                p.add(rp, f"{label}: the reference is not a correct answer under {self._pname(case.protocol)}: {shown}")


def _close(word: str, choices: tuple[str, ...]) -> str | None:
    import difflib
    m = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.75)
    return m[0] if m else None


# -- public API -------------------------------------------------------------------------------------

def check(name_or_path: str | os.PathLike[str], *, check_references: bool = True) -> tuple[Suite | None, list[str]]:
    """(the suite, or None when it has problems; every problem as `FILE:LINE: message`)."""
    try:
        path, data = resolve(name_or_path)
        digest = hashlib.sha256(data).hexdigest()
        text = _decode(path, data)
        if not text.strip():
            return None, [f"{path}:1: the suite file is empty: add a list of cases or a mapping with 'cases'"]
        doc = _parse_jsonl(path, text) if _is_jsonl(path, text) else _parse_yaml(path, text, digest)
    except SuiteError as e:
        return None, str(e).splitlines()
    p = Path(path)
    base_dir = p.parent if p.is_file() else None
    v = _Validator(doc, base_dir, check_references=check_references)
    schemas_marker = _schemas_marker(digest)
    v.schemas_known_valid = schemas_marker is not None and schemas_marker.exists()
    cases, top = v.run()
    if schemas_marker is not None and not v.p and not v.schemas_known_valid:
        _touch(schemas_marker)
    if check_references and v.pending_refs:
        marker = _refs_marker(digest) if not v.p else None
        if marker is None or not marker.exists():
            v.references(v.pending_refs)
            if marker is not None and not v.p:
                _touch(marker)
    problems = v.p.render()
    if problems:
        return None, problems
    _write_cache(doc)
    default_name = p.name
    for ext in SUITE_EXTS:
        if default_name.endswith(ext):
            default_name = default_name[: -len(ext)]
    meta = {k: v_ for k, v_ in top.items() if k != "cases"}
    name = top.get("name") if isinstance(top.get("name"), str) and top.get("name") else default_name
    return Suite(name=name, path=path, cases=cases, content_hash=digest, meta=meta), []


def validate_file(path: str | os.PathLike[str]) -> list[str]:
    """Every problem of a suite file as `FILE:LINE: message` (empty when the suite is valid)."""
    return check(path)[1]


def load_suite(name_or_path: str | os.PathLike[str], *, check_references: bool = True) -> Suite:
    """Load and validate a suite file or a shipped suite by name; raise SuiteError listing every problem."""
    suite, problems = check(name_or_path, check_references=check_references)
    if problems or suite is None:
        raise SuiteError("\n".join(problems) or f"{name_or_path}: the suite could not be loaded")
    return suite


def suite_summary(suite: Suite) -> dict[str, Any]:
    """Counts for listings: cases, train, test, protocol(s), description."""
    protos = sorted({_Validator._pname(c.protocol) for c in suite.cases})
    return {"name": suite.name, "cases": len(suite.cases),
            "train": sum(1 for c in suite.cases if c.split == "train"),
            "test": sum(1 for c in suite.cases if c.split == "test"),
            "protocol": ", ".join(protos), "description": str(suite.meta.get("description", "")),
            "path": suite.path, "content_hash": suite.content_hash}


# -- writing ----------------------------------------------------------------------------------------

def case_to_dict(case: Case) -> dict[str, Any]:
    """A case as the plain mapping a suite file holds (fields at their defaults are left out)."""
    d: dict[str, Any] = {"id": case.id}
    d["protocol"] = case.protocol
    if case.mode is not None:
        d["mode"] = case.mode
    d["split"] = case.split
    if case.tags:
        d["tags"] = list(case.tags)
    d["messages"] = case.messages
    if case.tools is not None:
        d["tools"] = case.tools
    e = case.expect
    ed: dict[str, Any] = {}
    if e.calls is not None:
        ed["calls"] = [{"name": c.name, "arguments": dict(c.arguments)} if c.arguments else {"name": c.name}
                       for c in e.calls]
    if e.any_order:
        ed["any_order"] = True
    if e.checker != "schema":
        ed["checker"] = e.checker
    if e.functions:
        ed["functions"] = list(e.functions)
    if e.category:
        ed["category"] = e.category
    d["expect"] = ed
    if case.reference is not None:
        d["reference"] = case.reference
    if case.meta:
        d["meta"] = case.meta
    return d


def dump_suite(cases: list[Case], path: str | os.PathLike[str], *, top: Mapping[str, Any] | None = None,
               dedupe_protocol: bool = True) -> None:
    """Write cases as a suite file: JSONL (`.jsonl`, header line + one case per line) or YAML."""
    top = dict(top or {})
    rows = [case_to_dict(c) for c in cases]
    if dedupe_protocol and rows and "protocol" in top:
        for r in rows:
            if r.get("protocol") == top["protocol"]:
                del r["protocol"]
    if dedupe_protocol and rows and "mode" in top:
        for r in rows:
            if r.get("mode") == top["mode"]:
                del r["mode"]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".jsonl":
        lines = [json.dumps({"suite": top}, ensure_ascii=False)] if top else []
        lines += [json.dumps(r, ensure_ascii=False) for r in rows]
        text = "\n".join(lines) + "\n"
    else:
        text = _yaml_text({**top, "cases": rows})
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)


def _yaml_text(data: Any) -> str:
    import yaml
    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class _Dumper(base):  # type: ignore[misc, valid-type]
        pass

    def _str(dumper: Any, s: str) -> Any:
        if "\n" in s:
            return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", s)

    _Dumper.add_representer(str, _str)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)


__all__ = ["CASE_KEYS", "SUITE_KEYS", "case_to_dict", "check", "dump_suite", "list_shipped", "load_suite",
           "resolve", "schema_problem", "shipped_path", "suite_summary", "validate_file"]

