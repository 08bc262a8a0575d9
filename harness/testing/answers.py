"""How the scripted server chooses its answers: a suite's references (or wrong answers, or a seeded mix),
JSONL script rules, else a fixed text; and how `stop` / `max_tokens` cut an answer.

Matching a suite case: the reference of the case whose non-system messages and tools equal the request's
(the tools as the case's protocol sends them, compared as canonical JSON), else of the first case whose
non-system messages alone equal them. In mix mode each choice is the reference with probability P,
decided by a hash of (server seed, the request's `seed`, case id, choice index), so reruns agree.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

FIXED_TEXT = "I am a scripted server and I have no scripted answer for this prompt."
WRONG_TEXT = "Sure! I looked into it and everything seems fine. Let me know if there is anything else."


def canonical(obj: Any) -> str:
    """Canonical JSON text (sorted keys, compact separators)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def strip_system(messages: list[Any]) -> list[Any]:
    if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
        return messages[1:]
    return messages


def messages_key(messages: list[Any]) -> str:
    """The lookup key of a conversation: canonical JSON of its messages after a leading system message."""
    return canonical(strip_system(messages))


def _request_tools(case: Any, protos: dict[str, Any]) -> str | None:
    """Canonical JSON of the `tools` the harness sends for `case` under its own protocol ("" for none),
    or None when the protocol cannot say."""
    try:
        spec = case.protocol
        k = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True, default=str)
        proto = protos.get(k)
        if proto is None:
            import protocols
            proto = protos[k] = protocols.from_spec(spec, source=case.source or "<suite>")
        tools = proto.request_tools(mode=case.mode, tools=case.tools)
        return canonical(tools) if tools else ""
    except Exception:  # noqa: BLE001 - then the case is matched on its messages alone
        return None


def text_of(content: Any) -> str:
    """The text of a message's content (a string, or content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


class Answer:
    """An assistant message ready to send, with its size precomputed."""

    __slots__ = ("message", "chars", "tool_calls")

    def __init__(self, message: dict[str, Any]) -> None:
        msg: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        tcs = message.get("tool_calls")
        if tcs:
            norm = []
            for i, tc in enumerate(tcs):
                fn = dict(tc.get("function") or {})
                args = fn.get("arguments", "{}")
                if not isinstance(args, str):
                    fn["arguments"] = json.dumps(args, ensure_ascii=False)
                norm.append({"id": tc.get("id") or f"call_{i}", "type": tc.get("type") or "function",
                             "function": fn})
            msg["tool_calls"] = norm
        for extra in ("reasoning_content", "refusal"):
            if message.get(extra) is not None:
                msg[extra] = message[extra]
        self.message = msg
        self.tool_calls = msg.get("tool_calls")
        content = msg["content"] if isinstance(msg["content"], str) else ""
        self.chars = len(content) + (len(json.dumps(self.tool_calls)) if self.tool_calls else 0)


def cut(ans: Answer, stop: list[str] | None, include_stop: bool, max_chars: int | None) -> tuple[dict[str, Any], int, str]:
    """Apply `stop` and `max_tokens` to an answer: (message, completion chars, finish_reason)."""
    msg = ans.message
    finish = "tool_calls" if ans.tool_calls else "stop"
    if not stop and max_chars is None:
        return msg, ans.chars, finish
    content = msg["content"] if isinstance(msg["content"], str) else None
    tool_calls = ans.tool_calls
    changed = False
    if content is not None and stop:
        best = -1
        best_s = ""
        for s in stop:
            if s:
                j = content.find(s)
                if j >= 0 and (best < 0 or j < best):
                    best, best_s = j, s
        if best >= 0:
            content = content[: best + (len(best_s) if include_stop else 0)]
            tool_calls = None  # the model stopped inside its text: nothing after it is generated
            finish = "stop"
            changed = True
    if max_chars is not None:
        budget = max_chars
        if content is not None and len(content) > budget:
            content = content[:budget]
            tool_calls = None
            finish = "length"
            changed = True
        elif content is not None:
            budget -= len(content)
        if tool_calls and finish != "length":
            kept = []
            for tc in tool_calls:
                fn = tc["function"]
                cost = len(fn.get("name", "")) + len(fn.get("arguments", ""))
                if cost <= budget:
                    kept.append(tc)
                    budget -= cost
                    continue
                cut_fn = {**fn, "arguments": fn.get("arguments", "")[: max(0, budget - len(fn.get("name", "")))]}
                kept.append({**tc, "function": cut_fn})
                finish = "length"
                break
            if finish == "length":
                tool_calls = kept
                changed = True
    if not changed:
        return msg, ans.chars, finish
    out: dict[str, Any] = {**msg, "content": content}
    if tool_calls:
        out["tool_calls"] = tool_calls
    else:
        out.pop("tool_calls", None)
    chars = len(content or "") + (len(json.dumps(tool_calls)) if tool_calls else 0)
    return out, chars, finish


def generated_chars(msg: dict[str, Any]) -> int:
    """Characters a model generates for `msg`: its text plus each tool call's name and arguments."""
    content = msg.get("content")
    n = len(content) if isinstance(content, str) else 0
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        n += len(fn.get("name", "")) + len(fn.get("arguments", ""))
    return n


def mix_pick(seed: int | None, req_seed: Any, case_id: str | None, index: int, p: float) -> bool:
    """Deterministic: True (answer with the reference) with probability p per (server seed, request seed,
    case id, choice index) — reruns agree; a request with another `seed` samples anew."""
    key = f"{seed or 0}\x00{req_seed!r}\x00{case_id}\x00{index}"
    h = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64 < p


class AnswerBook:
    """The answers one server gives: mode "fixed", "reference", "wrong", "mix" (from a suite) or "script"."""

    def __init__(self, *, suite: str | None = None, answer: str = "reference",
                 script: str | os.PathLike[str] | None = None) -> None:
        self.fixed = Answer({"role": "assistant", "content": FIXED_TEXT})
        self.wrong = Answer({"role": "assistant", "content": WRONG_TEXT})
        self._by_key: dict[str, tuple[str, Answer]] = {}     # messages -> the first such case
        self._by_exact: dict[str, tuple[str, Answer]] = {}   # messages + "\0" + tools -> the case
        self._rules: list[tuple[str, Answer]] = []
        self.mode = "fixed"
        self.mix_p = 0.0
        self.duplicate_prompts = 0
        if suite is not None and script is not None:
            raise ValueError("give either suite or script, not both")
        if suite is not None:
            self._load_suite(suite, answer)
        elif script is not None:
            self._load_script(script)

    def _load_suite(self, suite: str, answer: str) -> None:
        from harness.suite import load_suite  # the suite loader of the harness itself

        if answer in ("reference", "wrong"):
            self.mode = answer
        elif answer.startswith("mix:"):
            self.mode = "mix"
            try:
                self.mix_p = float(answer[4:])
            except ValueError:
                raise ValueError(f"--answer {answer!r}: mix:P needs a probability, e.g. mix:0.7") from None
            if not 0.0 <= self.mix_p <= 1.0:
                raise ValueError(f"--answer {answer!r}: P must be within [0, 1]")
        else:
            raise ValueError(f"--answer {answer!r}: expected reference, wrong or mix:P")
        protos: dict[str, Any] = {}
        for case in load_suite(suite).cases:
            key = messages_key(case.messages)
            ref = case.reference or {"role": "assistant", "content": FIXED_TEXT}
            entry = (case.id, Answer(ref))
            tools = _request_tools(case, protos)
            if tools is not None:
                exact = key + "\0" + tools
                if exact in self._by_exact:
                    self.duplicate_prompts += 1   # same messages and tools: indistinguishable
                else:
                    self._by_exact[exact] = entry
            self._by_key.setdefault(key, entry)

    def _load_script(self, path: str | os.PathLike[str]) -> None:
        self.mode = "script"
        for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rule = json.loads(line)
                contains = rule["contains"]
                message = rule["message"]
                if not isinstance(contains, str) or not isinstance(message, dict):
                    raise TypeError("contains must be a string and message an object")
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{i}: bad rule ({e}); expected "
                                 '{"contains": "...", "message": {"role": "assistant", ...}}') from None
            self._rules.append((contains, Answer(message)))

    def lookup(self, messages: list[Any], rest: list[str], tools_c: str) -> tuple[str, str | None, Answer, bool]:
        """(mode for this request, case id, base answer, matched) for a request whose non-system messages
        are `rest` (canonical JSON each) and whose tools are `tools_c` (canonical JSON, "" for none)."""
        mode = self.mode
        if mode in ("reference", "wrong", "mix"):
            mkey = "[" + ",".join(rest) + "]"
            hit = self._by_exact.get(mkey + "\0" + tools_c)
            if hit is None:
                hit = self._by_key.get(mkey)
            if hit is None:
                return "fixed", None, self.fixed, False
            return mode, hit[0], hit[1], True
        if mode == "script":
            text = ""
            for m in reversed(messages):
                if isinstance(m, dict) and m.get("role") == "user":
                    text = text_of(m.get("content"))
                    break
            for contains, ans in self._rules:
                if contains in text:
                    return mode, None, ans, True
            return mode, None, self.fixed, False
        return mode, None, self.fixed, True

    def choice(self, mode: str, base: Answer, case_id: str | None, index: int, server_seed: int | None,
               req_seed: Any) -> Answer:
        """The answer of choice `index`: the base, or the wrong answer (mode wrong, or mix's draw)."""
        if mode == "wrong":
            return self.wrong
        if mode == "mix" and not mix_pick(server_seed, req_seed, case_id, index, self.mix_p):
            return self.wrong
        return base
