"""Which tool-call parser a real server needs for a model: the model's family from its config.json
(`model_type`, plus `when` fields such as `vocab_size`) looked up in `tool_parsers.json`, per engine.

    choice = choose_tool_parser("vllm", "models/qwen2.5-0.5b", override=None, native=True)
    choice.parser     # "hermes"
    choice.family     # "qwen2.5"
    choice.source     # "config.json model_type qwen2"

Why the launcher cares: the runner sends `tool_choice: "auto"` for native suites, which vLLM answers with
HTTP 400 unless it runs with `--enable-auto-tool-choice --tool-call-parser P` (SGLang: without a parser
it returns the call as text). A model whose family is not in the table gets ToolParserUnknown when a
native suite will be served, and a warning otherwise (XML and hermes suites need no parser).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.errors import UserError

TABLE = Path(__file__).with_name("tool_parsers.json")
NONE = "none"          # --tool-call-parser none: start without a parser, on purpose


class ToolParserUnknown(UserError):
    """No tool-call parser is known for the model's family, and a native suite needs one."""


@dataclass(frozen=True)
class ParserChoice:
    parser: str | None     # None: start the server without a tool parser
    family: str | None
    source: str            # why: "--tool-call-parser", "config.json model_type qwen2", "no config.json"


@lru_cache(maxsize=1)
def families() -> tuple[dict[str, Any], ...]:
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    return tuple(data["families"])


def parser_table(engine: str) -> list[tuple[str, str, str | None]]:
    """(family, model types, parser) rows for `engine` — the table docs/serving.md prints."""
    rows = []
    for f in families():
        when = "".join(f" ({k} {v})" for k, v in (f.get("when") or {}).items())
        rows.append((f["family"], ", ".join(f["model_types"]) + when, f.get(engine)))
    return rows


def read_model_config(model: str) -> dict[str, Any] | None:
    """The model directory's config.json, or None when `model` is not a local directory (a hub id: the
    server downloads it, we cannot look inside)."""
    p = Path(model).expanduser()
    cfg = p / "config.json"
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{cfg}: unreadable model config ({e})") from None
    return data if isinstance(data, dict) else None


def family_of(config: dict[str, Any]) -> dict[str, Any] | None:
    """The first table row whose model_type and `when` fields match `config` (a text config nested under
    `text_config`, as multimodal checkpoints have, is looked at too)."""
    for cfg in (config, config.get("text_config") if isinstance(config.get("text_config"), dict) else None):
        if not cfg:
            continue
        mt = cfg.get("model_type")
        for f in families():
            if mt in f["model_types"] and all(cfg.get(k) == v for k, v in (f.get("when") or {}).items()):
                return f
    return None


def choose_tool_parser(engine: str, model: str, *, override: str | None, native: bool,
                       config: dict[str, Any] | None = None) -> ParserChoice:
    """The parser to start `engine` with for `model`; ToolParserUnknown when none is known and `native`
    (a native suite will be served). `override` ("none" for no parser) wins over the table."""
    if override:
        if override == NONE:
            return ParserChoice(None, None, "--tool-call-parser none")
        return ParserChoice(override, None, "--tool-call-parser")
    cfg = config if config is not None else read_model_config(model)
    what = "no config.json (not a local model directory)" if cfg is None else \
        f"config.json model_type {cfg.get('model_type')!r}"
    fam = family_of(cfg) if cfg is not None else None
    parser = fam.get(engine) if fam is not None else None
    if parser:
        return ParserChoice(parser, fam["family"], f"config.json model_type {cfg.get('model_type')}")
    if fam is not None:
        what = f"the {fam['family']} family has no {engine} tool-call parser"
    known = sorted({f[engine] for f in families() if f.get(engine)})
    msg = (f"--model {model}: no tool-call parser is known for it ({what}); native suites send "
           f"tool_choice \"auto\", which {engine} refuses without one. Pass --tool-call-parser NAME "
           f"({engine}'s names include {', '.join(known)}), or --tool-call-parser none for XML/hermes suites only")
    if native:
        raise ToolParserUnknown(msg)
    return ParserChoice(None, fam["family"] if fam else None, "warning: " + msg)


def suite_is_native(suite: Any) -> bool:
    """Whether any case of a loaded suite uses a native (OpenAI tool_calls) wire format."""
    import protocols

    seen: dict[str, bool] = {}
    for case in suite.cases:
        spec = case.protocol
        key = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True, default=str)
        if key not in seen:
            seen[key] = protocols.from_spec(spec, source=case.source or "<suite>").wire == "native"
        if seen[key]:
            return True
    return False


__all__ = ["NONE", "ParserChoice", "ToolParserUnknown", "choose_tool_parser", "families", "family_of",
           "parser_table", "read_model_config", "suite_is_native"]
