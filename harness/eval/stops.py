"""Stop sequences per endpoint, and the closing tag a stop cut off put back (DESIGN.md "Runs").

XML protocols stop at the closing tag of any tool offered in the case's mode
(`Protocol.generation_limits`), so a model ends after its first call. A server cuts the matched stop
string off the text; the runner restores it, so a well-formed answer still parses as one closed call:

* vLLM (`owned_by: vllm` in /v1/models) and the local engine (`harness`) are asked
  `include_stop_str_in_output: true` and keep it;
* a choice whose `stop_reason` is one of the stop strings (vLLM without that flag, the local engine)
  gets that string appended;
* otherwise (OpenAI and the like report only `finish_reason: "stop"`): when the text ends inside an
  opened-but-unclosed tool tag whose closing tag was a stop string, that tag is appended. An answer
  that ended there by itself (end of turn) cannot be told apart and is closed too.

How many stop strings an endpoint takes: vLLM, SGLang, llama.cpp and the local engine take the whole
list; any other endpoint (OpenAI's API accepts at most 4) gets the list only when it has at most
STOP_LIMIT strings, else none at all — a subset would end some tools' calls and not others, so a
verdict would depend on which tool the model picked. `--no-stop` sends none.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STOP_LIMIT = 4    # OpenAI's API: "Up to 4 sequences"
UNLIMITED = frozenset({"vllm", "sglang", "llamacpp", "llama.cpp", "harness"})   # /v1/models owned_by
REPORTS_STOP_REASON = frozenset({"vllm", "harness"})
_OPEN_TAG = re.compile(r"<([A-Za-z_][\w.-]{0,63})>")


@dataclass(frozen=True)
class StopPolicy:
    enabled: bool = True
    limit: int | None = STOP_LIMIT       # most stop strings the endpoint takes (None: no limit)
    include_in_output: bool = False      # send include_stop_str_in_output (vLLM, the local engine)
    server: str = "unknown"              # what /v1/models said the server is
    guess_close: bool = True             # no stop_reason in replies: close an unclosed tool tag

    def record(self) -> dict[str, Any]:
        """run.json's `stop` entry."""
        return {"enabled": self.enabled, "server": self.server, "limit": self.limit,
                "include_stop_str_in_output": self.include_in_output, "close_unclosed_tag": self.guess_close}


def policy_for(owned_by: Iterable[str], enabled: bool = True) -> StopPolicy:
    """The policy for endpoints whose /v1/models `owned_by` values are `owned_by` (empty: not known)."""
    kinds = {str(o).lower() for o in owned_by if o}
    if not enabled:
        return StopPolicy(False, None, False, ",".join(sorted(kinds)) or "unknown")
    if kinds and kinds <= UNLIMITED:
        # vLLM and the local engine say which stop string matched (stop_reason): no guessing there
        return StopPolicy(True, None, kinds <= REPORTS_STOP_REASON, ",".join(sorted(kinds)),
                          guess_close=not kinds <= REPORTS_STOP_REASON)
    return StopPolicy(True, STOP_LIMIT, False, ",".join(sorted(kinds)) or "unknown")


def stops_for(stop: tuple[str, ...], policy: StopPolicy) -> list[str]:
    """The stop strings to send, from the protocol's list and the endpoint's policy."""
    if not policy.enabled or not stop:
        return []
    if policy.limit is not None and len(stop) > policy.limit:
        return []
    return list(stop)


def restore_stop(msg: dict[str, Any], choice: Mapping[str, Any], stops: list[str],
                 guess_close: bool = True) -> str | None:
    """Put back the stop string a server cut off `msg`'s text (in place); the string added, or None."""
    if not stops or choice.get("finish_reason") != "stop":
        return None
    text = msg.get("content")
    if not isinstance(text, str):
        return None
    reason = choice.get("stop_reason")
    if isinstance(reason, str):
        if reason in stops and not text.endswith(reason):
            msg["content"] = text + reason
            return reason
        return None
    if reason is not None or not guess_close:   # a stop token id (end of turn), or a server that says
        return None                                # which string matched: nothing was cut
    tag = unclosed_tool(text, stops)
    if tag is None:
        return None
    msg["content"] = text + tag
    return tag


def unclosed_tool(text: str, stops: list[str]) -> str | None:
    """The closing tag (one of `stops`) of the last tool tag opened in `text` and not closed after it."""
    closing = set(stops)
    for m in reversed(list(_OPEN_TAG.finditer(text))):
        tag = f"</{m.group(1)}>"
        if tag in closing:
            return None if tag in text[m.end():] else tag
    return None


__all__ = ["STOP_LIMIT", "StopPolicy", "policy_for", "restore_stop", "stops_for", "unclosed_tool"]
