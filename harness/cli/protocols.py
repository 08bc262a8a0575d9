"""`harness protocols list|show`: the built-in protocols and the agent versions they mirror (data from
protocols.info; this module only prints). W6b's `import-mcp` subcommand registers here too."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("protocols", help="list the protocols and show one's tools, rules and prompt",
                       description="The built-in protocols (wire format, the agent version each catalog mirrors, "
                                   "tool count, source) and how to use your own catalog.")
    ps = p.add_subparsers(dest="protocols_command", required=True, metavar="SUBCOMMAND")
    ls = ps.add_parser("list", help="one line per built-in protocol")
    ls.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ls.set_defaults(func=run_list)
    sh = ps.add_parser("show", help="a protocol's tools with their parameters, its rules and compact prompt")
    sh.add_argument("name", help="a built-in name or WIRE:PATH")
    sh.add_argument("--mode", help="mode slug for the prompt (protocols with modes)")
    sh.add_argument("--json", action="store_true", help="one JSON object instead of text")
    sh.set_defaults(func=run_show)
    for register_more in _EXTRA:
        register_more(ps)


# other subcommands (e.g. import-mcp) append a `register(subparsers)` callable here
_EXTRA: list = []


def run_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from protocols.info import USER_PROTOCOLS, protocol_rows
    rows = protocol_rows()
    if args.json:
        for r in rows:
            print(json.dumps(asdict(r), ensure_ascii=False))
        return 0
    head = ("name", "wire", "agent", "tools", "source")
    table = [head] + [(r.name, r.wire, r.agent or "-", "-" if r.tools is None else str(r.tools), r.source or "-")
                      for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    print("\nyour own tools:")
    for spec, what in USER_PROTOCOLS:
        print(f"  --protocol {spec:<12} {what}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from protocols.info import protocol_detail
    d = protocol_detail(args.name, args.mode)
    if args.json:
        print(json.dumps(asdict(d), ensure_ascii=False, indent=1))
        return 0
    r = d.row
    print(f"{r.name}  ({r.wire}{', ' + r.agent if r.agent else ''})")
    if r.summary:
        print(f"  {r.summary}")
    if r.source:
        print(f"  source: {r.source}")
    if d.current:
        print(f"  current: {d.current}")
    if d.tools:
        print(f"\ntools ({len(d.tools)}):")
        for t in d.tools:
            params = ", ".join(f"{p['name']}{'' if p['required'] else '?'}: {p['type']}" for p in t["params"])
            flags = " [strict]" if t["strict"] else ""
            print(f"  {t['name']}({params}){flags}" + (f"  group {t['group']}" if t["group"] else ""))
    if d.rules:
        print("\nrules:")
        for rule in d.rules:
            print(f"  - {rule}")
    print("\ncompact prompt:")
    print("  " + d.prompt.rstrip("\n").replace("\n", "\n  "))
    return 0


# -- import-mcp (W6b) ------------------------------------------------------------------------------

def add_import_mcp(ps: argparse._SubParsersAction) -> None:
    m = ps.add_parser(
        "import-mcp", help="start an MCP stdio server, list its tools, save them for --protocol mcp:FILE",
        description="Start an MCP server over stdio with the official MCP SDK, list its tools (every page, "
                    "following nextCursor) and save them with the server's name, version and the negotiated "
                    "protocol revision. Then: harness suites generate --from-protocol mcp:FILE --out S.jsonl.",
        epilog="example: harness protocols import-mcp --out tools.json -- npx -y @modelcontextprotocol/server-everything")
    m.add_argument("--out", required=True, help="where to write the tools/list file (JSON)")
    m.add_argument("--timeout", type=float, default=30.0, help="seconds for the server to start and list (30)")
    m.add_argument("--cwd", default=None, help="working directory for the server (default: this one)")
    m.add_argument("--legacy-handshake", action="store_true",
                   help="use the initialize handshake (revisions up to 2025-11-25) instead of probing "
                        "2026-07-28's server/discover first")
    m.add_argument("server_command", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS",
                   help="the server's command line, after --")
    m.set_defaults(func=run_import_mcp)


def run_import_mcp(args: argparse.Namespace) -> int:
    import sys

    from harness.suite.importers.mcp_tools import list_server_tools, save
    command = list(args.server_command)
    if command and command[0] == "--":
        command = command[1:]
    print(f"starting {' '.join(command) or '(no command)'} ...", file=sys.stderr)
    got = list_server_tools(command, timeout=args.timeout, cwd=args.cwd, legacy=args.legacy_handshake)
    save(got, args.out)
    server = got.data["server"]
    print(f"wrote {args.out}: {got.tools} tools in {got.pages} page{'s' if got.pages != 1 else ''} from "
          f"{server['name'] or '(unnamed server)'} {server['version']} (MCP {got.data['protocolVersion']}); "
          f"next: harness suites generate --from-protocol mcp:{args.out} --out suite.jsonl")
    return 0


_EXTRA.append(add_import_mcp)
