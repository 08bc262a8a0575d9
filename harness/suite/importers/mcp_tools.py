"""An MCP server's tools, saved: start the server over stdio with the official `mcp` SDK, list its
tools (following nextCursor to the last page) and write what `mcp:PATH` reads.

The saved file: `{"server": {"name", "version"}, "protocolVersion": <negotiated>, "command": [...],
"pages": [ListToolsResult, ...]}` — the pages exactly as the server sent them (camelCase, MCP's wire
names), so the file is also a plain list of tools/list results for any other reader.
The SDK is imported only here (`pip install 'toolcall-harness[mcp]'`).
"""
from __future__ import annotations

import builtins
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError

_GROUP: Any = getattr(builtins, "BaseExceptionGroup", ())   # Python 3.11+
MAX_PAGES = 1000   # a server whose nextCursor never ends must not hang the import


class McpImportError(UserError):
    """The MCP server could not be started, or did not answer tools/list."""


@dataclass
class Imported:
    data: dict[str, Any]
    tools: int
    pages: int


def _stderr_tail(f: Any, limit: int = 600) -> str:
    try:
        f.flush()
        f.seek(0)
        text = f.read().strip()
    except (OSError, ValueError):
        return ""
    return f"; its stderr ends: {text[-limit:]}" if text else ""


async def _list(command: list[str], timeout: float, errlog: Any, cwd: str | None, legacy: bool) -> dict[str, Any]:
    import anyio
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=command[0], args=command[1:], cwd=cwd)
    pages: list[dict[str, Any]] = []
    with anyio.fail_after(timeout):
        async with Client(stdio_client(params, errlog=errlog), cache=None, mode="legacy" if legacy else "auto") as client:
            cursor: str | None = None
            while True:
                page = await client.list_tools(cursor=cursor)
                pages.append(page.model_dump(by_alias=True, exclude_none=True, mode="json"))
                cursor = page.next_cursor
                if not cursor:
                    break
                if len(pages) >= MAX_PAGES:
                    raise McpImportError(f"{command[0]}: tools/list still had a nextCursor after {MAX_PAGES} pages")
            info = client.server_info
            version = client.protocol_version
    return {"server": {"name": info.name if info else "", "version": (info.version or "") if info else ""},
            "protocolVersion": version, "command": command, "pages": pages}


def _leaves(e: BaseException) -> list[BaseException]:
    if _GROUP and isinstance(e, _GROUP):
        return [x for sub in e.exceptions for x in _leaves(sub)]
    return [e]


def list_server_tools(command: list[str], timeout: float = 30.0, cwd: str | None = None,
                      legacy: bool = False) -> Imported:
    """Start `command` as an MCP stdio server and return its whole tools/list (see the module doc).
    `legacy`: the initialize handshake (revisions up to 2025-11-25) instead of probing server/discover."""
    try:
        import anyio
        import mcp  # noqa: F401
    except ImportError:
        raise McpImportError("import-mcp needs the MCP SDK: pip install 'toolcall-harness[mcp]' "
                             "(or pip install mcp)") from None
    if not command:
        raise McpImportError("import-mcp: give the server's command after --, e.g. "
                             "harness protocols import-mcp --out tools.json -- python my_server.py")
    exe = command[0]
    if shutil.which(exe, path=None) is None and not Path(exe).is_file():
        raise McpImportError(f"{exe}: command not found (not on PATH and not a file); give the MCP server's "
                             f"command after --")
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as errlog:
        try:
            data = anyio.run(_list, command, timeout, errlog, cwd, legacy)
        except McpImportError:
            raise
        except BaseException as e:  # noqa: BLE001 - the SDK's failures, told as what went wrong
            leaves = _leaves(e)
            if any(isinstance(x, TimeoutError) for x in leaves):   # (before OSError: it is one)
                raise McpImportError(f"{' '.join(command)}: no tools/list answer within {timeout:g}s (is it an "
                                     f"MCP stdio server? raise --timeout for a slow start)"
                                     f"{_stderr_tail(errlog)}") from None
            if any(isinstance(x, KeyboardInterrupt) for x in leaves):
                raise KeyboardInterrupt from None
            spawn = next((x for x in leaves if isinstance(x, OSError)), None)
            if spawn is not None:
                raise McpImportError(f"{exe}: cannot start the MCP server: {spawn.strerror or spawn}") from None
            why = "; ".join(f"{type(x).__name__}: {x}" for x in leaves)[:300]
            raise McpImportError(f"{' '.join(command)}: the MCP server closed or failed before listing its tools "
                                 f"({why}){_stderr_tail(errlog)}") from None
    n = sum(len(p.get("tools", [])) for p in data["pages"])
    return Imported(data=data, tools=n, pages=len(data["pages"]))


def save(imported: Imported, out: str) -> None:
    """Write the listing, then check it reads back as `mcp:PATH` would (a bad schema names its tool)."""
    from protocols.mcp import listing_from_json
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(imported.data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    listing_from_json(imported.data, source=out)


__all__ = ["Imported", "McpImportError", "list_server_tools", "save"]
