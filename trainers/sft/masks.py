"""The loss mask: which tokens of an example are trained on (its target, inside the chat template's
`{% generation %}` span and after the prompt), and the checks that refuse a mask that would be empty
or that TRL would compute differently.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from trainers.errors import TrainingError

IGNORE_INDEX = -100


def has_generation_markers(template: str | None) -> bool:
    import re
    return bool(template) and re.search(r"\{%-?\s*generation\s*-?%\}", template) is not None and \
        re.search(r"\{%-?\s*endgeneration\s*-?%\}", template) is not None


def require_generation_markers(tokenizer: Any, where: str) -> None:
    tpl = getattr(tokenizer, "chat_template", None)
    if not tpl:
        raise TrainingError(f"{where}: the tokenizer has no chat template; assistant-only loss needs one "
                            f"with {{% generation %}} markers")
    if not has_generation_markers(tpl if isinstance(tpl, str) else json.dumps(tpl)):
        raise TrainingError(f"{where}: the chat template has no {{% generation %}}/{{% endgeneration %}} markers, "
                            f"so the assistant-only loss mask would be empty and nothing would be learned "
                            f"(huggingface/trl#4147); use a template that marks assistant turns")


def _ids(out: Any) -> list[int]:
    ids = out["input_ids"] if isinstance(out, Mapping) or hasattr(out, "keys") else out
    if ids and isinstance(ids[0], list):
        ids = ids[0]
    return list(ids)


def target_tokens(tokenizer: Any, example: Mapping[str, Any]) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one example with the loss on its target only: the tokens that are both
    inside the template's `{% generation %}` span and after the prompt (TRL's prompt-completion
    masking with `assistant_only_loss=True`: the intersection of its completion and assistant masks).
    Labels are IGNORE_INDEX elsewhere."""
    msgs = [{k: v for k, v in m.items() if k != "training"} for m in example["messages"]]
    tools = example.get("tools") or None
    prompt = tokenizer.apply_chat_template(msgs[:-1], tools=tools, tokenize=True, add_generation_prompt=True,
                                           return_dict=True)
    full = tokenizer.apply_chat_template(msgs, tools=tools, tokenize=True, return_dict=True,
                                         return_assistant_tokens_mask=True)
    p_ids, ids = _ids(prompt), _ids(full)
    amask = full.get("assistant_masks") if hasattr(full, "get") else None
    if amask is None:
        amask = [0] * len(ids)
    if amask and isinstance(amask[0], list):
        amask = amask[0]
    start = 0
    for a, b in zip(p_ids, ids):
        if a != b:
            break
        start += 1
    labels = [t if (i >= start and amask[i]) else IGNORE_INDEX for i, t in enumerate(ids)]
    return ids, labels


def encode_examples(tokenizer: Any, examples: Sequence[Mapping[str, Any]], where: str = "training data"
                    ) -> list[tuple[list[int], list[int]]]:
    """Tokenize every example with its target mask; TrainingError when the template lacks generation
    markers or any example's mask is empty (the loss would silently be zero)."""
    require_generation_markers(tokenizer, where)
    out = []
    for i, ex in enumerate(examples):
        ids, labels = target_tokens(tokenizer, ex)
        if all(x == IGNORE_INDEX for x in labels):
            ident = (ex.get("meta") or {}).get("id", f"#{i + 1}")
            raise TrainingError(f"{where}: example {ident} has an empty loss mask (no target token inside the "
                                f"chat template's generation span); check the template and the data")
        out.append((ids, labels))
    return out


def check_prepared_labels(trainer: Any, expected: list[tuple[list[int], list[int]]]) -> None:
    """TRL's prepared labels must put loss exactly where our mask does (and never nowhere)."""
    ds = trainer.train_dataset
    if ds is None or "labels" not in ds.column_names:
        return
    for i, row in enumerate(ds):
        labels = row["labels"]
        got = sum(1 for x in labels if x != IGNORE_INDEX)
        if got == 0:
            raise TrainingError(f"training example #{i + 1} has an empty loss mask after TRL's preparation")
        if i < len(expected):
            want = sum(1 for x in expected[i][1] if x != IGNORE_INDEX)
            if got != want:
                raise TrainingError(f"training example #{i + 1}: TRL masks {got} target tokens where the chat "
                                    f"template's generation span gives {want}; refusing to train on a wrong mask")


__all__ = ["IGNORE_INDEX", "check_prepared_labels", "encode_examples", "has_generation_markers",
           "require_generation_markers", "target_tokens"]
