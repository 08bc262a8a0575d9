"""`harness parse`: what a model's answer *is* under a protocol, one JSON line per input."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from harness.errors import InputError, UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "parse", help="parse model answers into tool calls and violations",
        description="For each input print {\"id\", \"calls\", \"violations\"} as one JSON line. JSONL input "
                    "lines are {\"id\", \"mode\"?, \"text\"} (text protocols) or {\"id\", \"mode\"?, \"message\"} "
                    "(an OpenAI assistant message), optionally with \"tools\" for the native protocol.")
    p.add_argument("--protocol", "-p", required=True,
                   help="roo-xml, roo-native, native, hermes, or WIRE:CATALOG.json (xml:, native:, hermes:)")
    p.add_argument("--mode", help="mode slug (roo protocols: code, architect, ask, debug, orchestrator)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--jsonl", metavar="FILE", help="JSONL input, '-' for stdin")
    src.add_argument("file", nargs="?", metavar="FILE",
                     help="one answer: a text file, or a .json file holding an assistant message")
    p.set_defaults(func=run)


def _records(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    if args.jsonl is None:
        path = Path(args.file)
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        if path.suffix == ".json":
            try:
                msg = json.loads(raw)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
            yield f"{path}:1", {"id": path.name, "message": msg}
        else:
            yield f"{path}:1", {"id": path.name, "text": raw}
        return
    name = "<stdin>" if args.jsonl == "-" else args.jsonl
    try:
        fh = sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8")
    except OSError as e:
        raise InputError(f"{name}: cannot read: {e.strerror}") from None
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{name}:{lineno}"
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{where}: invalid JSON: {e.msg} (column {e.colno})") from None
                if not isinstance(rec, dict):
                    raise InputError(f"{where}: expected an object with 'id' and 'text' or 'message'")
                yield where, rec
        except UnicodeDecodeError as e:
            raise InputError(f"{name}: not UTF-8 text ({e.reason})") from None


def run(args: argparse.Namespace) -> int:
    import protocols

    proto = protocols.get(args.protocol)
    cat = proto.catalog
    out = sys.stdout
    for where, rec in _records(args):
        if "message" in rec:
            message = rec["message"]
            if not isinstance(message, (dict, str)):
                raise InputError(f"{where}: field 'message' must be an assistant message object or a string")
        elif "text" in rec:
            message = rec["text"]
            if not isinstance(message, str):
                raise InputError(f"{where}: field 'text' must be a string")
        else:
            raise InputError(f"{where}: each line needs 'text' (text protocols) or 'message' (an assistant message)")
        mode = rec.get("mode", args.mode)
        if mode is not None and cat is not None and cat.modes and mode not in cat.modes:
            raise UserError(f"{where}: unknown mode {mode!r}; {proto.name} has {', '.join(cat.modes)}")
        tools = rec.get("tools")
        turn = proto.parse(message, mode=mode, tools=tools if isinstance(tools, list) else None)
        out.write(json.dumps({"id": rec.get("id"), **turn.to_dict()}, ensure_ascii=False) + "\n")
    out.flush()
    return 0
