"""`harness suites validate|list|generate` — check, list and generate suite files."""
from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("suites", help="validate, list and generate test suites",
                       description="Validate suite files, list the shipped suites, generate suites from specs.")
    ss = p.add_subparsers(dest="suites_command", required=True, metavar="ACTION")

    v = ss.add_parser("validate", help="check suite files; every problem as FILE:LINE: message",
                      description="Check suite files (or shipped suite names). Prints every problem as "
                                  "FILE:LINE: message and exits 1 if there is any.")
    v.add_argument("files", nargs="+", metavar="FILE", help="suite file (.yaml, .yml, .jsonl) or shipped suite name")
    v.add_argument("--no-references", action="store_true",
                   help="skip checking that each reference parses and meets its expectation")
    v.set_defaults(func=run)

    ls = ss.add_parser("list", help="the shipped suites (or the given files) with case counts",
                       description="List suites: name, cases, train/test counts, protocol, description.")
    ls.add_argument("files", nargs="*", metavar="FILE", help="suite files to list instead of the shipped suites")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=run)

    g = ss.add_parser("generate", help="generate a suite file from a generator spec or any protocol's catalog",
                      description="Generate a suite from a spec (a shipped spec name or a YAML path), or from any "
                                  "catalog's schemas (--from-protocol mcp:tools.json, native:PATH, roo-native, ...), "
                                  "with a seed.")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", help="spec name (suites/specs/NAME.yaml) or path")
    src.add_argument("--from-protocol", metavar="P",
                     help="a protocol whose catalog's schemas give the cases (e.g. mcp:tools.json)")
    g.add_argument("--seed", type=int, default=None, help="random seed (default: the spec's own; 0 for --from-protocol)")
    g.add_argument("--per-tool", type=int, default=5, help="--from-protocol: cases per tool (5)")
    g.add_argument("--irrelevance", type=int, default=None,
                   help="--from-protocol: cases no tool fits, expecting no call (default: a tenth of the cases, at least 2)")
    g.add_argument("--out", required=True, help="output file: .jsonl (one case per line) or .yaml")
    g.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    action = args.suites_command
    if action == "validate":
        return _validate(args)
    if action == "list":
        return _list(args)
    return _generate(args)


def _validate(args: argparse.Namespace) -> int:
    from harness.suite import check
    bad = 0
    for f in args.files:
        suite, problems = check(f, check_references=not args.no_references)
        if problems:
            bad += 1
            for line in problems:
                print(line)
        else:
            assert suite is not None
            print(f"ok: {len(suite.cases)} cases ({suite.path})")
    return 1 if bad else 0


def _list(args: argparse.Namespace) -> int:
    import json

    from harness.suite import check, list_shipped, suite_summary
    names = args.files or list_shipped()
    rows = []
    failed = 0
    for n in names:
        suite, problems = check(n)
        if suite is None:
            failed += 1
            for line in problems:
                print(line, file=sys.stderr)
            continue
        rows.append(suite_summary(suite))
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 1 if failed else 0
    from rich.console import Console
    from rich.table import Table
    table = Table(title="suites" if args.files else "shipped suites")
    for col, kw in (("name", {"style": "bold"}), ("cases", {"justify": "right"}), ("train", {"justify": "right"}),
                    ("test", {"justify": "right"}), ("protocol", {}), ("description", {"overflow": "fold"})):
        table.add_column(col, **kw)
    for r in rows:
        table.add_row(r["name"], str(r["cases"]), str(r["train"]), str(r["test"]), r["protocol"], r["description"])
    Console().print(table)
    return 1 if failed else 0


def _generate(args: argparse.Namespace) -> int:
    from harness.suite import check
    if args.from_protocol:
        from harness.suite.generate.from_protocol import write_from_protocol
        top, cases = write_from_protocol(args.from_protocol, args.out, seed=args.seed or 0, per_tool=args.per_tool,
                                         irrelevance=args.irrelevance)
        suite, problems = check(args.out)
        if problems:   # every reference was checked while generating, so this is a bug: say so, keep the file
            for line in problems:
                print(line, file=sys.stderr)
            return 1
        train = sum(c.split == "train" for c in cases)
        tools = len({c.meta["task"] for c in cases} - {"irrelevance"})
        print(f"wrote {args.out}: {len(cases)} cases ({train} train, {len(cases) - train} test) for {tools} tools")
        for tool, why in top["generator"].get("skipped_tools", {}).items():
            print(f"skipped {tool}: {why}", file=sys.stderr)
        return 0
    from harness.suite.generate import write_suite
    train, test = write_suite(args.spec, args.out, seed=args.seed)
    suite, problems = check(args.out)
    if problems:   # the generator checks every reference, so this means a bug: say so, keep the file
        for line in problems:
            print(line, file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {train + test} cases ({train} train, {test} test)")
    return 0
