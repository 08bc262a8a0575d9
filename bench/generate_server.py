"""The plain-`transformers` yardstick of bench/engine.py: `model.generate` behind a minimal OpenAI-compatible
chat route, batched as a user would write it.

    python bench/generate_server.py --model DIR [--dtype float32|bfloat16] [--batch 8] [--threads N]

prints `listening http://127.0.0.1:PORT/v1`. Requests that arrive together are answered in static
batches of up to --batch (left padding, greedy, `max_new_tokens` = the largest max_tokens in the batch,
generate's own `stop_strings`); a batch runs until all its rows end, then the next starts. It speaks the
stop fields the runner uses with vLLM (`include_stop_str_in_output`, each choice's `stop_reason`) and says
`owned_by: vllm` in /v1/models so the runner sends it the whole stop list, as it does the local engine:
the same requests as the engine gets, so the comparison is of the generation, not of the prompts.
"""
from __future__ import annotations

import argparse
import asyncio
import queue
import threading
import time
import uuid
from typing import Any

from aiohttp import web


class Batcher:
    def __init__(self, model_dir: str, dtype: str, batch: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.tok.padding_side = "left"
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
        self.batch = batch
        self.q: queue.Queue[tuple[dict[str, Any], asyncio.AbstractEventLoop, asyncio.Future[Any]]] = queue.Queue()
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self) -> None:
        while True:
            items = [self.q.get()]
            deadline = time.monotonic() + 0.01
            while len(items) < self.batch:
                try:
                    items.append(self.q.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            try:
                outs = self.generate([b for b, _, _ in items])
                for (_, lp, fut), out in zip(items, outs, strict=True):
                    lp.call_soon_threadsafe(_set, fut, out)
            except Exception as e:  # noqa: BLE001 - handed to every request of the batch
                for _, lp, fut in items:
                    lp.call_soon_threadsafe(_fail, fut, e)

    def generate(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        torch = self.torch
        texts = [self.tok.apply_chat_template(b["messages"], add_generation_prompt=True, tokenize=False)
                 for b in bodies]
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        stops = sorted({s for b in bodies for s in _stops(b)})
        max_new = max(int(b.get("max_tokens") or 256) for b in bodies)
        kw: dict[str, Any] = {"stop_strings": stops, "tokenizer": self.tok} if stops else {}
        if all(b.get("ignore_eos") for b in bodies):
            kw["min_new_tokens"] = max_new
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_new, do_sample=False,
                                      pad_token_id=self.tok.pad_token_id, **kw)
        width = enc["input_ids"].shape[1]
        answers = []
        for i, b in enumerate(bodies):
            gen = out[i, width:].tolist()
            eos = self.model.generation_config.eos_token_id
            eos = set(eos if isinstance(eos, list) else [eos])
            limit = int(b.get("max_tokens") or 256)
            n = next((j for j, t in enumerate(gen) if t in eos), len(gen))
            reason, toks = ("stop", n + 1) if n < len(gen) else ("length", len(gen))
            text = self.tok.decode(gen[:min(n, limit)], skip_special_tokens=True)
            hit, cut = None, len(text) + 1
            for s in _stops(b):
                j = text.find(s)
                if j != -1 and j < cut:
                    hit, cut = s, j
            if hit is not None:
                text = text[:cut + len(hit)] if b.get("include_stop_str_in_output") else text[:cut]
                reason = "stop"
                toks = len(self.tok(text, add_special_tokens=False)["input_ids"])
            elif n >= limit:
                reason, toks = "length", limit
            answers.append({"text": text, "finish_reason": reason, "stop_reason": hit,
                            "prompt": int(enc["attention_mask"][i].sum()), "completion": min(toks, limit)})
        return answers


def _stops(body: dict[str, Any]) -> list[str]:
    s = body.get("stop") or []
    return [s] if isinstance(s, str) else [x for x in s if x]


def _set(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _fail(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def app(b: Batcher, name: str) -> web.Application:
    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        b.q.put((body, loop, fut))
        a = await fut
        return web.json_response({
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": name, "choices": [{"index": 0, "message": {"role": "assistant", "content": a["text"]},
                                        "finish_reason": a["finish_reason"], "stop_reason": a["stop_reason"]}],
            "usage": {"prompt_tokens": a["prompt"], "completion_tokens": a["completion"],
                      "total_tokens": a["prompt"] + a["completion"], "prompt_tokens_details": {"cached_tokens": 0}}})

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": name, "object": "model", "owned_by": "vllm"}]})

    a = web.Application()
    a.router.add_post("/v1/chat/completions", chat)
    a.router.add_get("/v1/models", models)
    return a


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--served-model-name", default="generate")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    b = await asyncio.to_thread(Batcher, args.model, args.dtype, args.batch)
    runner = web.AppRunner(app(b, args.served_model_name), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"listening http://127.0.0.1:{runner.addresses[0][1]}/v1", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
