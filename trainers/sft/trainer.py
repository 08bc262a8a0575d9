"""The SFT trainer glue shared by the peft and unsloth backends: examples in (a run's, through the
harness's reader, or an SFT JSONL file), TRL's prompt-completion dataset and SFTConfig, the optional
prefix-sharing SFTTrainer, and `run_sft`: train, save the adapter (or model) with the tokenizer, check it
against vLLM's rules, write training.json.

Heavy packages (torch, transformers, trl, datasets) are imported inside the functions that need them.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from trainers.config import RunReader, TrainConfig, TrainResult
from trainers.errors import TrainingError
from trainers.launch import is_main_process
from trainers.sft.checkpoints import CHECKPOINTS_KEPT, checkpoint_step, checkpoints, identity, prepare_out
from trainers.sft.log import Progress, make_log_callback
from trainers.sft.masks import IGNORE_INDEX, check_prepared_labels, encode_examples
from trainers.sft.record import TRAINING_JSON, device_summary, package_versions, write_json
from trainers.sft.runtime import quiet_libraries
from trainers.vllm_rules import check_adapter


def read_run_examples(cfg: TrainConfig, read_run: RunReader | None) -> tuple[list[dict[str, Any]], Any]:
    """The examples of --from-run, through the reader the harness hands in (trainers read no run directory)."""
    if read_run is None:
        raise TrainingError(f"--from-run {cfg.run}: trainers do not read run directories; pass "
                            f"read_run=harness.loop.data.export_run (or train on --data SFT.jsonl)")
    return read_run(cfg.run, replay=cfg.replay, seed=cfg.seed, suite=cfg.suite)


def load_examples(cfg: TrainConfig, tokenizer: Any, read_run: RunReader | None = None
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The training examples and what was done to them (counts for training.json and the log)."""
    from trainers import data
    if cfg.run is not None:
        examples, st = read_run_examples(cfg, read_run)
        source: dict[str, Any] = {"run": str(Path(cfg.run).resolve()), "replay": cfg.replay}
        if not examples:
            raise TrainingError(f"{cfg.run}: no training examples: the run has no failed train-split case "
                                f"({st.failed_results} failed results, {st.skipped_test} test-split cases "
                                f"never used)")
    else:
        examples = data.read_jsonl(cfg.data)
        st = data.ExportStats()
        source = {"data": str(Path(cfg.data).resolve())}
    if cfg.max_length is not None:
        examples, st = data.fit_to_length(examples, tokenizer, cfg.max_length, st)
        if not examples:
            raise TrainingError(f"every example is longer than --max-length {cfg.max_length} tokens")
    counts = {k: v for k, v in st.to_dict().items() if k not in ("run", "warnings")}
    source.update({"examples": len(examples), "counts": counts, "warnings": st.warnings})
    return examples, source


def to_dataset(examples: list[dict[str, Any]]) -> Any:
    """A datasets.Dataset in TRL's conversational prompt-completion form; `tools` as a JSON string
    (TRL decodes it; Arrow cannot hold arbitrary JSON Schemas as structs)."""
    from datasets import Dataset

    from trainers import data
    rows = []
    any_tools = any(ex.get("tools") for ex in examples)
    for ex in examples:
        pc = data.split_prompt_completion(ex)
        row = {"prompt": pc["prompt"], "completion": pc["completion"]}
        if any_tools:
            row["tools"] = json.dumps(pc["tools"]) if pc.get("tools") else None
        rows.append(row)
    return Dataset.from_list(rows)


def sft_config(cfg: TrainConfig, n_examples: int, **extra: Any) -> Any:
    import torch
    from trl import SFTConfig
    steps_hint = cfg.max_steps or max(1, int((cfg.epochs or 1) * n_examples / (cfg.batch_size * cfg.grad_accum)))
    logging_steps = cfg.logging_steps or (1 if steps_hint <= 100 else 10)
    kw: dict[str, Any] = dict(
        output_dir=str(cfg.out),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr,
        lr_scheduler_type="cosine",
        warmup_ratio=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        logging_steps=logging_steps,
        logging_first_step=True,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        save_total_limit=CHECKPOINTS_KEPT,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to="none",
        disable_tqdm=True,
        assistant_only_loss=True,
        completion_only_loss=True,
        max_length=cfg.max_length,
        include_num_input_tokens_seen="all",
        gradient_checkpointing=cfg.gradient_checkpointing,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,   # several processes: every trainable (LoRA) weight is used
        remove_unused_columns=True,
        packing=False,
    )
    if cfg.max_steps is not None:
        kw["max_steps"] = cfg.max_steps
    else:
        kw["num_train_epochs"] = cfg.epochs
    if torch.cuda.is_available():
        kw["bf16"] = torch.cuda.is_bf16_supported()
        kw["fp16"] = not kw["bf16"]
    else:   # TRL defaults to bf16 autocast, on a CPU too: a third slower there, and not the float32 we state
        kw["bf16"] = kw["fp16"] = False
    kw.update(extra)
    return make_config(SFTConfig, kw)


def make_config(cls: Any, kw: dict[str, Any]) -> Any:
    """`cls(**kw)` across transformers/TRL versions: warmup as a ratio (`warmup_ratio` before transformers 5,
    a float `warmup_steps` since), the tokens-seen option as a bool on older versions, and options a version
    lacks left out with a warning."""
    import inspect
    params = inspect.signature(cls.__init__).parameters
    if "warmup_ratio" in kw and "warmup_ratio" not in params:
        kw["warmup_steps"] = float(kw.pop("warmup_ratio"))
    if "gradient_checkpointing" in kw and "activation_checkpointing" in params:   # the v5 name
        kw["activation_checkpointing"] = kw.pop("gradient_checkpointing")
    tok_seen = params.get("include_num_input_tokens_seen")
    if tok_seen is not None and isinstance(tok_seen.default, bool) and "include_num_input_tokens_seen" in kw:
        kw["include_num_input_tokens_seen"] = True
    dropped = [k for k in kw if k not in params]
    for k in dropped:      # TRL 0.2x (unsloth's pin) lacks a few 1.x options
        kw.pop(k)
    if dropped:
        print(f"harness: warning: this TRL/transformers has no {', '.join(dropped)} option; left out", file=sys.stderr)
    return cls(**kw)


PREFIX_SHARING_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")   # plain lm_head over the last hidden state


def bsz_tokens(ids: Any, p: int) -> int:
    return int(ids.size(0)) * int(ids.size(1) - p)


def make_trainer_class(share_prefix: bool) -> Any:
    """SFTTrainer, or a subclass whose training loss runs the batch's shared prefix once.

    Examples of one run share their first tokens (system prompt, tools, the start of the user turn).
    The subclass runs that prefix once (batch 1), expands its KV cache across the batch and runs only
    the suffixes: the loss is TRL's token-mean NLL over the same labels (within float error; a test
    compares them) at a fraction of the cost when the prompt dominates. It falls back to TRL's own
    loss whenever the shortcut does not apply: evaluation, several processes, gradient checkpointing,
    padding-free or left-padded batches, architectures outside PREFIX_SHARING_MODEL_TYPES, or a shared
    prefix under 16 tokens."""
    from trl import SFTTrainer
    if not share_prefix:
        return SFTTrainer

    class PrefixSharingSFTTrainer(SFTTrainer):
        prefix_steps = 0

        def _backbone(self, model: Any) -> Any:
            m = model
            if hasattr(m, "get_base_model"):
                m = m.get_base_model()
            cfg = getattr(m, "config", None)
            if getattr(cfg, "model_type", None) not in PREFIX_SHARING_MODEL_TYPES:
                return None
            if not (hasattr(m, "model") and hasattr(m, "lm_head")):
                return None
            if getattr(cfg, "final_logit_softcapping", None):
                return None
            return m

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            import torch

            from trainers.sft.prefix import nll_sum, shared_prefix_length, suffix_logits
            ids, labels, attn = inputs.get("input_ids"), inputs.get("labels"), inputs.get("attention_mask")
            base = self._backbone(model) if model is not None else None
            ok = (not return_outputs and self.model.training and base is not None and ids is not None
                  and labels is not None and attn is not None and "position_ids" not in inputs
                  and self.accelerator.num_processes == 1
                  and not (getattr(self.args, "activation_checkpointing", False) or self.args.gradient_checkpointing)
                  and not self.aux_loss_enabled and self.label_smoother is None and self.compute_loss_func is None
                  and self.args.loss_type == "nll" and ids.dim() == 2 and ids.size(0) > 1)
            if ok:
                lens = attn.sum(1)
                ok = bool((attn == (torch.arange(attn.size(1), device=attn.device)[None] < lens[:, None])).all())
            p = 0
            if ok:
                rows = [(r[:n].tolist(), lab[:n].tolist()) for r, lab, n in zip(ids, labels, lens.tolist())]
                p = shared_prefix_length(rows)
                vocab = int(getattr(base.config, "vocab_size", 0) or 0)
                ok = p >= 16 and bsz_tokens(ids, p) * vocab <= 64 * 2 ** 20    # full suffix logits stay small
            if not ok:
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            logits = suffix_logits(base, ids[:1, :p], ids[:, p:])
            lab = labels[:, p:]
            nll = nll_sum(logits, lab)
            lab = lab[:, 1:]
            mask = lab != -100
            num_tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
            loss = nll / torch.as_tensor(num_tokens, device=nll.device).clamp(min=1)
            mode = "train"
            with torch.no_grad():
                lp = logits[:, :-1].float().log_softmax(-1)
                ent = -(lp.exp() * lp).sum(-1)
                correct = (lp.argmax(-1) == lab) & mask
                n = mask.sum().clamp(min=1)
                self._metrics[mode]["entropy"].append(float((ent * mask).sum() / n))
                self._metrics[mode]["mean_token_accuracy"].append(float(correct.sum() / n))
            self._total_train_tokens += int(attn.sum())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            PrefixSharingSFTTrainer.prefix_steps += 1
            return loss

    return PrefixSharingSFTTrainer


def run_sft(cfg: TrainConfig, model: Any, tokenizer: Any, examples: list[dict[str, Any]], source: dict[str, Any],
            model_info: dict[str, Any], t_start: float, backend_info: dict[str, Any] | None = None) -> TrainResult:
    """Train with TRL's SFTTrainer (model already wrapped for LoRA or full), save, check, describe.

    Under `accelerate launch` (trainers.launch) every process trains; only the main one prepares the
    output folder (the others wait for it, then find the same checkpoint), logs and writes the outputs."""
    import torch

    from trainers import data

    out = Path(cfg.out)
    encoded = encode_examples(tokenizer, examples, f"{cfg.run or cfg.data}")
    ident = identity(cfg, data.data_sha256(examples))
    main = is_main_process()
    args = sft_config(cfg, len(examples))
    with args.main_process_first(local=False, desc="preparing the output folder"):
        if main:
            resume_from = prepare_out(cfg, ident)
        else:
            resume_from = checkpoints(out)[-1][1] if cfg.resume and checkpoints(out) else None
    resume_step = checkpoint_step(resume_from) if resume_from else None
    dataset = to_dataset(examples)
    with Progress(cfg.max_steps, f"train {cfg.backend}", cfg.progress if main else False) as bar, \
            quiet_libraries():
        cb = make_log_callback(out, resume_step, bar, main=main)
        trainer_cls = make_trainer_class(cfg.share_prefix and cfg.backend == "peft")
        trainer = trainer_cls(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                              callbacks=[cb])
        from transformers.trainer_callback import PrinterCallback
        trainer.remove_callback(PrinterCallback)   # raw log dicts on stdout; our bar and trainer_log.jsonl say it
        check_prepared_labels(trainer, encoded)
        if resume_from is not None and main:
            print(f"resumed from {resume_from.name}", flush=True)
        t_train = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        train_s = time.perf_counter() - t_train
    state = trainer.state
    tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
    first_step = resume_step or 0
    tps = None
    if train_s > 0 and tokens:
        done_frac = (state.global_step - first_step) / max(state.global_step, 1)
        tps = tokens * done_frac / train_s

    # save: adapter (or full model) + tokenizer with its chat template
    if trainer.accelerator.num_processes > 1 or trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled:
        trainer.save_model(str(out))   # every process takes part (ZeRO-3 / FSDP gather); the main one writes
        if not main:
            return TrainResult(out, state.global_step, resume_from.name if resume_from else None, len(examples),
                               getattr(result, "training_loss", None), None, time.perf_counter() - t_start, [],
                               {"main_process": False})
    else:
        trainer.model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    problems: list[str] = []
    if model_info.get("method") == "lora":
        problems = check_adapter(out, max_lora_rank=cfg.max_lora_rank, base_model=str(cfg.base_model))
    info = {
        "kind": "lora-adapter" if model_info.get("method") == "lora" else "full-model",
        "backend": cfg.backend,
        "base_model": str(Path(cfg.base_model).resolve()) if Path(cfg.base_model).exists() else cfg.base_model,
        "data": source,
        "data_sha256": ident["data_sha256"],
        "hyperparameters": {
            **model_info, "epochs": cfg.epochs, "max_steps": cfg.max_steps, "lr": cfg.lr,
            "batch_size": cfg.batch_size, "grad_accum": cfg.grad_accum, "save_steps": cfg.save_steps,
            "warmup_ratio": cfg.warmup_ratio, "weight_decay": cfg.weight_decay, "max_length": cfg.max_length,
            "lr_scheduler": "cosine", "assistant_only_loss": True, "completion_only_loss": True,
            "gradient_checkpointing": cfg.gradient_checkpointing,
            "share_prefix": cfg.share_prefix and cfg.backend == "peft", "threads": torch.get_num_threads(),
            "prefix_shared_steps": getattr(type(trainer), "prefix_steps", 0), **(backend_info or {}),
            "num_processes": trainer.accelerator.num_processes,
            "distributed": str(trainer.accelerator.distributed_type).rsplit(".", 1)[-1],
        },
        "seed": cfg.seed,
        "steps": state.global_step,
        "resumed_from": resume_from.name if resume_from else None,
        "train_loss": getattr(result, "training_loss", None),
        "target_tokens": sum(1 for _, lab in encoded for x in lab if x != IGNORE_INDEX),
        "tokens_seen": tokens,
        "tokens_per_s": round(tps, 1) if tps else None,
        "timing": {"wall_s": round(time.perf_counter() - t_start, 2), "train_s": round(train_s, 2)},
        "versions": package_versions(),
        "device": device_summary(),
        "vllm_compatible": not problems if model_info.get("method") == "lora" else None,
        "adapter_problems": problems,
    }
    write_json(out / TRAINING_JSON, info)
    del torch
    return TrainResult(out, state.global_step, info["resumed_from"], len(examples), info["train_loss"],
                       info["tokens_per_s"], time.perf_counter() - t_start, problems, info)


__all__ = ["PREFIX_SHARING_MODEL_TYPES", "load_examples", "make_config", "make_trainer_class", "read_run_examples",
           "run_sft", "sft_config", "to_dataset"]
