"""The served model: its weights, tokenizer and dtype loaded from a local directory; generation runs on
the worker thread (worker.py) and adapters are applied by lora.py."""
from __future__ import annotations

import inspect
import os
from pathlib import Path

from harness.serve.engine.config import EngineConfig, EngineError
from harness.serve.engine.lora import AdapterLayers
from harness.serve.engine.worker import BatchWorker


class LocalModel(BatchWorker, AdapterLayers):
    """The model, its adapters and the generation worker thread. `submit` and `call` are thread-safe;
    everything else runs on the worker thread."""

    def __init__(self, cfg: EngineConfig):
        model_dir = Path(cfg.model).expanduser()
        if not model_dir.is_dir():
            raise EngineError(f"{model_dir}: no such model directory")
        if not (model_dir / "config.json").is_file():
            raise EngineError(f"{model_dir}: not a transformers model directory (no config.json)")
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        transformers.logging.set_verbosity_error()
        self.torch = torch
        self.model_dir = model_dir.resolve()
        self.threads = cfg.threads or max(1, _cpu_count() - 1)
        torch.set_num_threads(self.threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            self.detok = AutoTokenizer.from_pretrained(str(model_dir))   # the worker's own (not shared across threads)
        except Exception as e:  # noqa: BLE001 - any loader failure is the user's directory
            raise EngineError(f"{model_dir}: cannot load the tokenizer: {e}") from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise EngineError(f"{model_dir}: the tokenizer has no chat template (chat_template.jinja or "
                              "tokenizer_config.json 'chat_template'); the chat endpoint needs one")
        if cfg.device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            device = cfg.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EngineError(f"--device {cfg.device}: CUDA is not available on this machine")
        if cfg.dtype == "auto":
            dtype = torch.float32 if device == "cpu" else (
                torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        else:
            dtype = getattr(torch, cfg.dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise EngineError(f"--dtype {cfg.dtype}: not a torch dtype")
        try:
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
        except Exception as e:  # noqa: BLE001
            raise EngineError(f"{model_dir}: cannot load the model: {e}") from None
        self.device = torch.device(device)
        self.base = model.to(self.device).eval()
        # transformers 5.24 renamed the forward's `past_key_values` to `cache` (the old name warns)
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keep_last = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self.dtype = dtype
        self.max_len = int(getattr(model.config, "max_position_embeddings", 0) or 0) or 1 << 20
        gen = getattr(model, "generation_config", None)
        eos: set[int] = set()
        for src in (getattr(gen, "eos_token_id", None), getattr(model.config, "eos_token_id", None),
                    self.tokenizer.eos_token_id):
            if isinstance(src, int):
                eos.add(src)
            elif isinstance(src, (list, tuple)):
                eos.update(int(x) for x in src)
        self.eos_ids = frozenset(eos)
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (min(eos) if eos else 0))
        self.max_rows = cfg.max_batch_rows
        self.batch_wait = max(0.0, cfg.batch_wait_ms) / 1000.0
        self._init_adapters()
        self._start_worker(cfg)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1
