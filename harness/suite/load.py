"""Suite files: read one (YAML or JSONL, every field placed at its FILE:LINE), validate it, get a Suite.

A suite is YAML (a list of cases, or a mapping with `name`, `description`, `protocol`, `mode`,
`generator`, `version` and `cases`) or JSONL (one case per line; an optional first line
`{"suite": {...}}` carries the same top-level keys). The case format is DESIGN.md's "Suites" section.

    suite = load_suite("roo-core")          # a shipped suite, by name
    suite = load_suite("my/suite.yaml")     # or a file
    problems = validate_file("my/suite.yaml")   # ["my/suite.yaml:12: case 'x': ...", ...]

Validation (`validate`) collects every problem before it reports, and each problem names the file and
the line of the offending field (`FILE:LINE: message`); `load_suite` raises one `SuiteError` carrying
all of them, so a bad suite never half-runs. YAML is read with safe-load semantics only (PyYAML's
SafeLoader: no object construction, no code); the composed node tree supplies the line numbers, and
it is only walked when there is a problem to place.

Speed: JSONL (the shipped suites' format) needs no YAML parse at all; a YAML file's parsed data, and
markers saying that a file's exact bytes already passed the schema and the reference checks under
the same code, are kept in `parse_cache`, so reloading a suite costs little more than a JSON read.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import SuiteError

try:  # optional: ~3x faster than json for a big JSONL suite; any line it refuses goes to json (errors, NaN, big ints)
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = None
from harness.suite.model import Suite
from harness.suite.parse_cache import parsed_file, read_parsed, refs_marker, schemas_marker, touch, write_parsed
from harness.suite.problems import protocol_label
from harness.suite.shipped import SUITE_EXTS, resolve
from harness.suite.validate import Validator

DocPath = tuple[Any, ...]   # a path into the document: keys and list indices


# -- the parsed document ----------------------------------------------------------------------------

@dataclass
class Document:
    """The parsed file: its data, where each case starts, and how to find the line of any field."""

    path: str
    kind: str                       # "yaml" | "jsonl"
    top: dict[str, Any] = field(default_factory=dict)      # suite-level keys (not cases)
    cases: list[Any] = field(default_factory=list)
    case_lines: list[int] = field(default_factory=list)
    cases_prefix: DocPath = ("cases",)  # document path of the case list ((), when the file is a bare list)
    header_line: int = 1
    root_node: Any = None           # YAML node tree (lazily re-composed when a problem needs a line)
    text: str | None = None
    cache_write: Any = None         # (cache file, sha256, data) to store once the suite validates
    json_exact: bool = False        # the data is exactly what its JSON text reads back as (str keys, ...)

    def line(self, path: DocPath) -> int:
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

    def duplicate_keys(self) -> list[tuple[DocPath, str]]:
        """Duplicate keys of a YAML suite (see `_yaml_duplicate_keys`)."""
        return _yaml_duplicate_keys(self)

    def doc_path(self, case_path: DocPath) -> DocPath:
        """A path relative to the suite mapping -> the document path ("cases" may be the root list)."""
        if case_path and case_path[0] == "cases":
            return self.cases_prefix + tuple(case_path[1:])
        return case_path


def _safe_loader() -> Any:
    import yaml
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _node_line(node: Any, path: DocPath) -> int:
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


def _loads_line(raw: str) -> Any:
    if _fast_loads is not None:
        try:
            return _fast_loads(raw)
        except ValueError:
            pass        # json decides (and words the error)
    return json.loads(raw)


def _parse_jsonl(path: str, text: str) -> Document:
    doc = Document(path=path, kind="jsonl", json_exact=True)
    errors: list[str] = []
    first = True
    for n, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = _loads_line(raw)
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


def _parse_yaml(path: str, text: str, digest: str) -> Document:
    import yaml
    cfile = parsed_file(digest)
    hit = read_parsed(cfile, digest) if cfile is not None else None
    if hit is not None:
        try:
            doc = Document(path=path, kind="yaml", text=text, json_exact=True)
            _split_yaml_data(doc, hit[0], None)
            doc.case_lines = hit[1]
            return doc
        except (ValueError, KeyError, TypeError, AttributeError):
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
    doc = Document(path=path, kind="yaml", text=text, root_node=node)
    _split_yaml_data(doc, data, node)
    if cfile is not None and doc.cases:
        doc.cache_write = (cfile, digest, data)
    return doc



def _write_cache(doc: Document) -> None:
    """Keep a valid YAML suite's parsed data for the next load (best effort)."""
    if doc.cache_write is not None:
        cfile, digest, data = doc.cache_write
        write_parsed(cfile, digest, data, doc.case_lines)


def _split_yaml_data(doc: Document, data: Any, node: Any) -> None:
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


def _yaml_duplicate_keys(doc: Document) -> list[tuple[DocPath, str]]:
    """Duplicate keys in the suite mapping, each case, its expect and its expected calls (YAML keeps the
    last value silently; a duplicated key is almost always a mistake)."""
    import yaml
    root = doc._root()
    out: list[tuple[DocPath, str]] = []

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


# -- loading -------------------------------------------------------------------------------------

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
    v = Validator(doc, base_dir, check_references=check_references)
    schemas_ok = schemas_marker(digest)
    v.schemas_known_valid = schemas_ok is not None and schemas_ok.exists()
    cases, top = v.run()
    if schemas_ok is not None and not v.p and not v.schemas_known_valid:
        touch(schemas_ok)
    if check_references and v.pending_refs:
        marker = refs_marker(digest) if not v.p else None
        if marker is None or not marker.exists():
            v.references(v.pending_refs)
            if marker is not None and not v.p:
                touch(marker)
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
    protos = sorted({protocol_label(c.protocol) for c in suite.cases})
    return {"name": suite.name, "cases": len(suite.cases),
            "train": sum(1 for c in suite.cases if c.split == "train"),
            "test": sum(1 for c in suite.cases if c.split == "test"),
            "protocol": ", ".join(protos), "description": str(suite.meta.get("description", "")),
            "path": suite.path, "content_hash": suite.content_hash}


__all__ = ["Document", "check", "load_suite", "suite_summary", "validate_file"]
