"""Held-out evaluation in process: batched greedy generation with a local model, parsed and scored with
the suite's protocol — the measurement behind `train-base` (no server needed).

    report = evaluate_model("models/tiny", suite.split("test"), system_style="compact")
    report["pass_rate"], report["by_tool"]

Each batch shares its common token prefix (the system prompt and the start of the user turn): the
prefix is run once and its KV cache is expanded across the batch (`trainers.sft.prefix`); the rest of
each prompt sits after left padding in the middle, with its own position ids, so every row decodes from
the same step.

Same judge as the runner: each case's protocol comes from the runner's `ProtocolCache`, its messages
and tools are rendered as the runner sends them (`trainers.data.prompt_for`: the protocol's
`render_system` and `request_tools`), the text is cut at the protocol's stop sequences (as the engine
cuts at a request's `stop`), and the answer is parsed by the protocol and judged by
`harness.score.verdicts.score`, a scoring error counting as a failure. One difference stays: native
protocols' `<tool_call>{json}</tool_call>` blocks (the tiny template's rendering of tool calls) become
OpenAI `tool_calls` here (`to_message`), as a server with a hermes tool-call parser returns them, while
the local engine leaves tool calls in `content`.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)


def to_message(text: str, wire: str) -> dict[str, Any]:
    """The assistant message a server would return for generated `text`."""
    if wire != "native":
        return {"role": "assistant", "content": text}
    calls = []
    for i, m in enumerate(_TOOL_CALL.finditer(text)):
        try:
            obj = json.loads(m.group(1))
        except json.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return {"role": "assistant", "content": text}
        args = obj.get("arguments", {})
        calls.append({"id": f"call_{i}", "type": "function",
                      "function": {"name": obj["name"],
                                   "arguments": args if isinstance(args, str) else json.dumps(args)}})
    if not calls:
        return {"role": "assistant", "content": text}
    rest = _TOOL_CALL.sub("", text).strip()
    return {"role": "assistant", "content": rest or None, "tool_calls": calls}


def _common_prefix(rows: list[list[int]]) -> int:
    first = rows[0]
    p = min(len(r) for r in rows) - 1          # every row keeps at least one token after the prefix
    for r in rows[1:]:
        k = 0
        while k < p and r[k] == first[k]:
            k += 1
        p = k
    return max(p, 0)


def generate_greedy(model: Any, rows: list[list[int]], eos_ids: set[int], pad_id: int,
                    max_new_tokens: int) -> list[list[int]]:
    """Greedy continuations of `rows` (token id lists) in one batch, sharing their common prefix."""
    import torch
    from transformers import DynamicCache

    from trainers.sft.prefix import cache_kwarg, expand_cache

    bsz = len(rows)
    p = _common_prefix(rows)
    cache = DynamicCache()
    kw = {cache_kwarg(model): cache}
    with torch.inference_mode():
        if p > 0:
            model(input_ids=torch.tensor([rows[0][:p]]), use_cache=True, logits_to_keep=1, **kw)
            expand_cache(cache, bsz, contiguous=True)
        tails = [r[p:] for r in rows]
        width = max(len(t) for t in tails)
        ids = torch.full((bsz, width), pad_id, dtype=torch.long)
        mask = torch.zeros((bsz, p + width), dtype=torch.long)
        mask[:, :p] = 1
        pos = torch.full((bsz, width), p, dtype=torch.long)
        for i, t in enumerate(tails):
            ids[i, width - len(t):] = torch.tensor(t)
            mask[i, p + width - len(t):] = 1
            pos[i, width - len(t):] = torch.arange(p, p + len(t))
        next_pos = torch.tensor([p + len(t) for t in tails], dtype=torch.long)
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                    **kw)
        done = torch.zeros(bsz, dtype=torch.bool)
        gen: list[list[int]] = [[] for _ in range(bsz)]
        for _ in range(max_new_tokens):
            nxt = out.logits[:, -1].argmax(-1)
            for i in range(bsz):
                if not done[i]:
                    tok = int(nxt[i])
                    if tok in eos_ids:
                        done[i] = True
                    else:
                        gen[i].append(tok)
            if bool(done.all()):
                break
            mask = torch.cat([mask, torch.ones((bsz, 1), dtype=torch.long)], dim=1)
            out = model(input_ids=nxt.unsqueeze(1), attention_mask=mask, position_ids=next_pos.unsqueeze(1),
                        use_cache=True, logits_to_keep=1, **kw)
            next_pos = next_pos + 1
    return gen


def evaluate_model(model_dir: str | Path | None, cases: list[Any], system_style: Any = "compact",
                   max_new_tokens: int = 160, batch_size: int = 32, *, model: Any = None, tokenizer: Any = None,
                   protocol: Any = None, keep_outputs: bool = False, threads: int | None = None) -> dict[str, Any]:
    """Greedy-generate every case's answer with the model and score it with the case's protocol.
    Returns {pass_rate, n, passed, by_tool: {tool: {n, passed, pass_rate}}, by_violation: {code: n},
    wall_s, generated_tokens, tokens_per_s[, outputs]}. `threads`: torch CPU threads while generating."""
    import torch

    threads_before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _evaluate(model_dir, cases, system_style, max_new_tokens, batch_size, model, tokenizer, protocol,
                         keep_outputs)
    finally:
        torch.set_num_threads(threads_before)


def _evaluate(model_dir: Any, cases: list[Any], system_style: Any, max_new_tokens: int, batch_size: int, model: Any,
              tokenizer: Any, protocol: Any, keep_outputs: bool) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers import data

    from harness.score.protocols import ProtocolCache
    from harness.score.verdicts import by_tool_key, score

    if model is None:
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    was_training = model.training
    model.eval()
    system = data.SystemPrompt.parse(system_style)
    fixed = protocol if hasattr(protocol, "parse") else None          # a Protocol object for every case
    protocols = ProtocolCache(None if fixed is not None else protocol)
    items = []
    for c in cases:
        proto = fixed if fixed is not None else protocols.get(c)
        msgs, tools = data.prompt_for(c, proto, system)
        ids = tokenizer.apply_chat_template(msgs, tools=tools, tokenize=True, add_generation_prompt=True,
                                            return_dict=True)["input_ids"]
        items.append((c, proto, list(ids)))
    eos = {tokenizer.eos_token_id}
    for t in ("<|im_end|>", "<|endoftext|>"):
        tid = tokenizer.convert_tokens_to_ids(t)
        if isinstance(tid, int) and tid >= 0 and tid != tokenizer.unk_token_id:
            eos.add(tid)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    order = sorted(range(len(items)), key=lambda i: len(items[i][2]))   # similar lengths batch together
    t0 = time.perf_counter()
    texts: dict[int, str] = {}
    n_gen = 0
    for s in range(0, len(order), batch_size):
        chunk = order[s:s + batch_size]
        outs = generate_greedy(model, [items[i][2] for i in chunk], eos, pad, max_new_tokens)
        for i, g in zip(chunk, outs):
            n_gen += len(g)
            texts[i] = tokenizer.decode(g, skip_special_tokens=True)
    wall = time.perf_counter() - t0
    if was_training:
        model.train()

    by_tool: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_violation: Counter[str] = Counter()
    passed = 0
    outputs = []
    for i, (c, proto, _ids) in enumerate(items):
        text = texts[i]
        for stop in proto.stop_sequences() or []:
            k = text.find(stop)
            if k >= 0:
                text = text[:k]
        msg = to_message(text, proto.wire)
        try:
            turn = proto.parse(msg, mode=c.mode, tools=c.tools)
            v = score(c, turn, proto)
        except Exception:  # noqa: BLE001 - as in the runner: a parser bug fails this answer, not the run
            turn, v = None, None
        key = by_tool_key(c, turn)
        if v is None:
            by_tool[key][0] += 1
            if keep_outputs:
                outputs.append({"id": c.id, "passed": False, "text": texts[i], "violations": []})
            continue
        by_tool[key][0] += 1
        by_tool[key][1] += int(v.passed)
        passed += int(v.passed)
        for viol in v.violations:
            by_violation[viol.code] += 1
        if keep_outputs:
            outputs.append({"id": c.id, "passed": v.passed, "text": texts[i],
                            "violations": [x.code for x in v.violations]})
    n = len(items)
    rep: dict[str, Any] = {
        "pass_rate": passed / n if n else None,
        "n": n,
        "passed": passed,
        "by_tool": {k: {"n": a, "passed": b, "pass_rate": b / a if a else None}
                    for k, (a, b) in sorted(by_tool.items())},
        "by_violation": dict(by_violation.most_common()),
        "wall_s": round(wall, 2),
        "generated_tokens": n_gen,
        "tokens_per_s": round(n_gen / wall, 1) if wall > 0 else None,
    }
    if keep_outputs:
        rep["outputs"] = outputs
    return rep
