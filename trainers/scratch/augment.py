"""Copy augmentation for training from scratch: examples shown with fresh values for the words their
target copies from the conversation, so a small model learns to copy instead of memorising values.
"""
from __future__ import annotations

import re
from typing import Any

from trainers.sft.masks import IGNORE_INDEX

_LETTERS = re.compile(r"[A-Za-z]+")
_TAG_WORDS = re.compile(r"</?([A-Za-z_][A-Za-z0-9_]*)")


class CopyAugmenter:
    """Fresh values for the words a target copies from its conversation.

    A word (a run of two or more ASCII letters) that occurs both in the target and in the
    conversation (not the system prompt), and is not part of the protocol's structure (a word of the
    system prompt or of a tag name in the target), is a copied value. `sample(i, rng)` renders
    example i with each copied word replaced, consistently in the conversation and the target, by
    another copied word of the train split or a random letter string. The model cannot memorise
    the split's values, so it learns to copy them — what a held-out case asks of it. Text-level
    substitution on the example's chat-template rendering, then one fast tokenizer call: the loss
    span is the target's characters, as in `trainers.sft.masks.target_tokens`.
    """

    def __init__(self, tokenizer: Any, examples: list[dict[str, Any]], encoded: list[tuple[list[int], list[int]]]):
        self.tok = tokenizer
        self.items: list[tuple[str, str, str, int, list[str]] | None] = []
        pool: set[str] = set()
        for ex, (ids, labels) in zip(examples, encoded):
            self.items.append(self._prepare(ex, ids, labels, pool))
        self.pool = sorted(pool)
        self.n_augmentable = sum(1 for it in self.items if it and it[4])

    def _prepare(self, ex: dict[str, Any], ids: list[int], labels: list[int], pool: set[str]
                 ) -> tuple[str, str, str, int, list[str]] | None:
        msgs = [{k: v for k, v in m.items() if k != "training"} for m in ex["messages"]]
        tools = ex.get("tools") or None
        tok = self.tok
        full = tok.apply_chat_template(msgs, tools=tools, tokenize=False)
        prompt = tok.apply_chat_template(msgs[:-1], tools=tools, tokenize=False, add_generation_prompt=True)
        if not full.startswith(prompt) or list(tok(full, add_special_tokens=False)["input_ids"]) != ids:
            return None      # a template that renders differently in pieces: no augmentation for it
        sys_end = 0
        if msgs and msgs[0].get("role") == "system":
            head = tok.apply_chat_template(msgs[:1], tools=tools, tokenize=False)
            if prompt.startswith(head):
                sys_end = len(head)
        system, convo, target = full[:sys_end], full[sys_end:len(prompt)], full[len(prompt):]
        labelled = [i for i, x in enumerate(labels) if x != IGNORE_INDEX]
        enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
        span_end = enc["offset_mapping"][labelled[-1]][1] if labelled else len(full)
        tail = len(full) - span_end               # text after the loss span (e.g. the newline after <|im_end|>)
        tags = " ".join(_TAG_WORDS.findall(target))
        structure = set(_LETTERS.findall(system)) | set(_LETTERS.findall(tags))
        structure |= {"im", "start", "end", "system", "user", "assistant", "tool"}
        in_convo = set(w for w in _LETTERS.findall(convo) if len(w) >= 2)
        copied = sorted(w for w in set(_LETTERS.findall(target)) if len(w) >= 2 and w in in_convo
                        and w not in structure)
        pool.update(w.lower() for w in copied)
        return system, convo, target, tail, copied

    def _fresh(self, word: str, rng: Any) -> str:
        if self.pool and rng.random() < 0.5:
            new = self.pool[rng.randrange(len(self.pool))]
        else:
            new = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))
        if word.isupper() and len(word) > 1:
            return new.upper()
        if word[0].isupper():
            return new[0].upper() + new[1:]
        return new

    def sample(self, i: int, rng: Any) -> tuple[list[int], list[int]] | None:
        it = self.items[i]
        if it is None or not it[4]:
            return None
        system, convo, target, tail, copied = it
        mapping = {w: self._fresh(w, rng) for w in copied}

        def sub(text: str) -> str:
            return _LETTERS.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)
        convo2, target2 = sub(convo), sub(target)
        text = system + convo2 + target2
        start, end = len(system) + len(convo2), len(text) - tail
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        labels = [t if (a >= start and b <= end and b > a) else IGNORE_INDEX
                  for t, (a, b) in zip(ids, enc["offset_mapping"])]
        return ids, labels


__all__ = ["CopyAugmenter"]
