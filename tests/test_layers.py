"""The layers of docs' "Layout" hold: an `ast` walk of every import in the project's packages.

Every import statement is read — at module level, in class bodies, inside functions — and resolved to
absolute module names (relative imports included; `from harness import cli` counts as importing
`harness.cli`; `importlib.import_module("...")` with a constant string counts too). Rules:

* `trainers` never imports `harness`, not even inside a function;
* nothing outside `harness/cli/` imports `harness.cli`;
* `protocols` imports only the standard library, `jsonschema` and itself;
* `ui` imports from `harness` only the top-level package (its public API), `harness.log*` and
  `harness.score*`;
* `bench` never imports `tests`;
* `harness` imports `trainers` only inside functions (or under `if TYPE_CHECKING:`);
* nothing imports `ui` but `ui` itself and `harness/cli/ui.py`, there inside a function;
* no `_private` name (module or imported name) is imported from another top-level package, nor, inside
  `harness`, from another harness subpackage — `harness._util` is the one private home they share;
* no source module (protocols, harness, trainers, ui) is over MAX_LINES lines, except at most two in
  LONG_MODULES, whose docstrings say why each is "one thing" (those words, and the reason).

A failure names FILE:LINE and the rule.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocols", "harness", "trainers", "ui", "bench")
SOURCE_PACKAGES = ("protocols", "harness", "trainers", "ui")
MAX_LINES = 600
# path -> why it may be longer than MAX_LINES; at most two, each docstring saying "one thing" and why
LONG_MODULES: dict[str, str] = {}
PROTOCOLS_MAY_IMPORT = frozenset({"jsonschema"})


@dataclass(frozen=True)
class Import:
    """One imported module (after resolution) at one line."""

    path: str                # file, relative to the root, posix
    line: int
    target: str              # absolute dotted module name
    names: tuple[str, ...]   # names taken from it by `from target import ...` (empty otherwise)
    lazy: bool               # inside a function
    type_only: bool          # under `if TYPE_CHECKING:`


def module_of(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file() or base.is_dir()


def _bench_sibling(root: Path, importer_pkg: str, dotted: str) -> str:
    """bench scripts import their siblings by bare name (bench/ is on sys.path when they run)."""
    first = dotted.split(".")[0]
    if importer_pkg == "bench" and first not in PACKAGES and (root / "bench" / f"{first}.py").is_file():
        return f"bench.{dotted}"
    return dotted


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
           (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(root: Path, rel: Path) -> list[Import]:
    """Every import of one file, resolved."""
    path = root / rel
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    mod = module_of(rel)
    is_pkg = rel.name == "__init__.py"
    pkg_parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
    top = rel.parts[0]
    out: list[Import] = []
    srel = rel.as_posix()

    def add(line: int, target: str, names: tuple[str, ...], lazy: bool, tc: bool) -> None:
        out.append(Import(srel, line, target, names, lazy, tc))

    def visit(node: ast.AST, lazy: bool, tc: bool) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                add(node.lineno, _bench_sibling(root, top, a.name), (), lazy, tc)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[:len(pkg_parts) - (node.level - 1)] if node.level > 1 else pkg_parts
                modname = ".".join(base + ([node.module] if node.module else []))
            else:
                modname = _bench_sibling(root, top, node.module or "")
            names = tuple(a.name for a in node.names if a.name != "*")
            plain: list[str] = []
            for n in names:   # `from pkg import submodule` imports pkg.submodule
                if _is_module(root, f"{modname}.{n}"):
                    add(node.lineno, f"{modname}.{n}", (), lazy, tc)
                else:
                    plain.append(n)
            if plain or not names:
                add(node.lineno, modname, tuple(plain), lazy, tc)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if fname in ("import_module", "__import__"):
                add(node.lineno, node.args[0].value, (), lazy, tc)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, lazy, True)
            for child in node.orelse:
                visit(child, lazy, tc)
            return
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner, tc)

    visit(tree, False, False)
    return out


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _under(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def check_import(imp: Import) -> list[str]:
    """The rules an import breaks, each as 'FILE:LINE: rule: detail'."""
    here = f"{imp.path}:{imp.line}"
    src_parts = imp.path[:-3].split("/")
    src_top = src_parts[0]
    tparts = imp.target.split(".")
    ttop = tparts[0]
    what = imp.target + (f" ({', '.join(imp.names)})" if imp.names else "")
    bad: list[str] = []

    if src_top == "trainers" and ttop == "harness":
        bad.append(f"{here}: trainers never imports harness (not even lazily): {what}")
    if _under(imp.target, "harness.cli") and not imp.path.startswith("harness/cli/"):
        bad.append(f"{here}: only harness/cli/ imports harness.cli: {what}")
    if src_top == "protocols" and ttop != "protocols" and ttop != "__future__":
        if ttop in PACKAGES or ttop == "tests":
            bad.append(f"{here}: protocols imports no other project package: {what}")
        elif ttop not in sys.stdlib_module_names and ttop not in PROTOCOLS_MAY_IMPORT:
            bad.append(f"{here}: protocols imports only the standard library and jsonschema: {what}")
    if src_top == "ui" and ttop == "harness" and len(tparts) > 1 and tparts[1] not in ("log", "score"):
        bad.append(f"{here}: ui uses only harness's public API and harness.log/harness.score: {what}")
    if src_top == "bench" and ttop == "tests":
        bad.append(f"{here}: bench never imports tests: {what}")
    if src_top == "harness" and ttop == "trainers" and not (imp.lazy or imp.type_only):
        bad.append(f"{here}: harness imports trainers only inside functions: {what}")
    if ttop == "ui" and src_top != "ui":
        if imp.path != "harness/cli/ui.py":
            bad.append(f"{here}: only harness/cli/ui.py imports ui: {what}")
        elif not imp.lazy:
            bad.append(f"{here}: harness/cli/ui.py imports ui only inside a function: {what}")

    if ttop in PACKAGES:
        private_mods = [p for p in tparts[1:] if _private(p)]
        private_names = [n for n in imp.names if _private(n)]
        if private_mods or private_names:
            src_sub = src_parts[1] if len(src_parts) > 2 else ""
            tsub = tparts[1] if len(tparts) > 1 else ""
            if src_top != ttop:
                bad.append(f"{here}: private name imported from another package: {what}")
            elif src_top == "harness" and src_sub != tsub:
                # harness._util is the shared private home: its public names may be used anywhere in harness
                shared = tsub == "_util" and private_mods == ["_util"] and not private_names
                if not shared:
                    bad.append(f"{here}: private name imported from another harness subpackage: {what}")
    return bad


def source_files(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    return sorted(p.relative_to(root) for pkg in packages if (root / pkg).is_dir()
                  for p in (root / pkg).rglob("*.py") if ".venv" not in p.parts)


def import_violations(root: Path) -> list[str]:
    return [v for rel in source_files(root) for imp in imports_of(root, rel) for v in check_import(imp)]


def size_violations(root: Path, long_modules: dict[str, str] | None = None,
                    max_lines: int = MAX_LINES) -> list[str]:
    long_modules = LONG_MODULES if long_modules is None else long_modules
    bad: list[str] = []
    if len(long_modules) > 2:
        bad.append(f"LONG_MODULES lists {len(long_modules)} modules: at most two may be over {max_lines} lines")
    for rel in source_files(root, SOURCE_PACKAGES):
        text = (root / rel).read_text(encoding="utf-8")
        n = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        key = rel.as_posix()
        if key in long_modules:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "one thing" not in doc.lower():
                bad.append(f"{key}:1: allowlisted long module: its docstring must say why it is one thing")
            if n <= max_lines:
                bad.append(f"{key}:1: listed in LONG_MODULES but only {n} lines: drop it from the list")
        elif n > max_lines:
            bad.append(f"{key}:{n}: {n} lines, over the {max_lines}-line limit: split it into modules with one job")
    for key in long_modules:
        if not (root / key).is_file():
            bad.append(f"{key}: listed in LONG_MODULES but missing")
    return bad


# ------------------------------------------------------------------------------------------------
# the project itself
# ------------------------------------------------------------------------------------------------

def test_import_layers_hold():
    bad = import_violations(ROOT)
    assert not bad, "import-layer violations:\n" + "\n".join(bad)


def test_no_source_module_is_too_long():
    bad = size_violations(ROOT)
    assert not bad, "module-size violations:\n" + "\n".join(bad)


def test_the_walk_sees_the_whole_project():
    files = source_files(ROOT)
    assert len(files) > 50 and {f.parts[0] for f in files} == set(PACKAGES)
    lazy = [i for i in imports_of(ROOT, Path("harness/cli/ui.py")) if i.target.startswith("ui")]
    assert lazy and all(i.lazy for i in lazy)     # the one allowed import of ui is seen, as lazy


# ------------------------------------------------------------------------------------------------
# the checker can fail
# ------------------------------------------------------------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
    return tmp_path


def test_checker_reports_trainers_importing_harness(tmp_path):
    root = _tree(tmp_path, {"harness/__init__.py": "", "trainers/__init__.py": "",
                            "trainers/x.py": '"""x."""\nimport os\nimport harness\n'})
    bad = import_violations(root)
    assert bad == ["trainers/x.py:3: trainers never imports harness (not even lazily): harness"]


def test_checker_reports_each_rule(tmp_path):
    root = _tree(tmp_path, {
        "harness/__init__.py": "",
        "harness/cli/__init__.py": "",
        "harness/cli/ui.py": "import ui.app\ndef run():\n    from ui.app import launch\n",
        "harness/_util/__init__.py": "",
        "harness/_util/fs.py": "def atomic(): pass\n",
        "harness/eval/__init__.py": "",
        "harness/eval/runner.py": ("from harness import cli\nimport trainers.data\n"
                                   "def f():\n    import trainers.data\n"
                                   "from harness._util.fs import atomic\nfrom harness.model.client import _pool\n"
                                   "from ..model import client\n"),
        "harness/model/__init__.py": "",
        "harness/model/client.py": "from .cache import _key\n",
        "harness/model/cache.py": "_key = 1\n",
        "protocols/__init__.py": "import json\nimport yaml\nfrom harness import api\n",
        "trainers/__init__.py": "",
        "trainers/data.py": "def f():\n    import importlib\n    importlib.import_module('harness.suite')\n",
        "ui/__init__.py": "",
        "ui/app.py": "import harness\nfrom harness.log import rundir\nfrom harness.eval import runner\nfrom . import tabs\n",
        "ui/tabs.py": "from protocols import _secret\n",
        "bench/x.py": "from tests.fakes import thing\nfrom _common import y\nimport ui\n",
        "bench/_common.py": "y = 1\n",
    })
    bad = import_violations(root)
    expected = [
        "bench/x.py:1: bench never imports tests",
        "bench/x.py:3: only harness/cli/ui.py imports ui",
        "harness/cli/ui.py:1: harness/cli/ui.py imports ui only inside a function",
        "harness/eval/runner.py:1: only harness/cli/ imports harness.cli",
        "harness/eval/runner.py:2: harness imports trainers only inside functions",
        "harness/eval/runner.py:6: private name imported from another harness subpackage",
        "protocols/__init__.py:2: protocols imports only the standard library and jsonschema",
        "protocols/__init__.py:3: protocols imports no other project package",
        "trainers/data.py:3: trainers never imports harness",
        "ui/app.py:3: ui uses only harness's public API",
        "ui/tabs.py:1: private name imported from another package",
    ]
    assert len(bad) == len(expected), "\n".join(bad)
    for line, want in zip(sorted(bad), sorted(expected)):
        assert line.startswith(want), (line, want)


def test_size_rule_counts_lines_and_checks_the_allowlist(tmp_path):
    root = _tree(tmp_path, {"harness/big.py": "x = 1\n" * 601, "harness/ok.py": "x = 1\n" * 600,
                            "protocols/long.py": '"""Long."""\n' + "x = 1\n" * 700,
                            "ui/fine.py": '"""Long, but one thing: a table."""\n' + "x = 1\n" * 700})
    bad = size_violations(root, {"protocols/long.py": "why", "ui/fine.py": "why"})
    assert bad == ["harness/big.py:601: 601 lines, over the 600-line limit: split it into modules with one job",
                   "protocols/long.py:1: allowlisted long module: its docstring must say why it is one thing"]
    assert any("at most two" in b for b in size_violations(root, {"a": "", "b": "", "c": ""}))
