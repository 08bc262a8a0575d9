"""The served model: its weights, tokenizer and dtype loaded from a local directory; generation runs on
the worker thread (worker.py) and adapters are applied by lora.py."""
from __future__ import annotations

import inspect
import logging
import os
import time
from pathlib import Path
from typing import Any

from harness.serve.engine.config import EngineConfig, EngineError
from harness.serve.engine.kvcache import PrefixStore, SlotCache
from harness.serve.engine.lean import LeanLlama, supports_lean
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
            dtype = cpu_dtype(torch) if device == "cpu" else (
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
        if cfg.quantize == "int8":
            self.base = quantize_int8(torch, self.base, device)
        elif cfg.quantize is not None:
            raise EngineError(f"--quantize {cfg.quantize}: only int8 is supported")
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
        self.weights = weights_identity(self.model_dir)
        self.kv_budget = cfg.kv_cache_memory
        self.lean = LeanLlama(torch, lambda: self.base, lambda: self._stopping) \
            if cfg.lean and supports_lean(self.base) else None
        if self.lean is not None:
            self.slots = SlotCache(torch, layers=self.lean.layers, kv_heads=self.lean.kv_heads,
                                   head_dim=self.lean.head_dim, dtype=dtype, device=self.device)
            self.store = PrefixStore(self.slots.bytes_per_token)
        self._init_adapters()
        self._start_worker(cfg)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


log = logging.getLogger("harness.serve.engine")


def cpu_dtype(torch: Any) -> Any:
    """bfloat16 when this CPU multiplies in it clearly faster than in float32 (AMX, AVX-512-bf16), else
    float32: one timed matmul of a decoder's shape in each (about 0.1 s at start)."""
    def best(dtype: Any) -> float:
        a = torch.randn(8, 1024, dtype=dtype)
        w = torch.randn(1024, 2816, dtype=dtype)
        times = []
        for _ in range(6):
            t = time.perf_counter()
            for _ in range(4):
                a @ w
            times.append(time.perf_counter() - t)
        return min(times[1:])

    with torch.inference_mode():
        fp32, bf16 = best(torch.float32), best(torch.bfloat16)
    pick = torch.bfloat16 if bf16 * 1.25 < fp32 else torch.float32
    log.info("dtype auto: matmul float32 %.2f ms, bfloat16 %.2f ms -> %s", fp32 * 1e3, bf16 * 1e3, pick)
    return pick


def weights_identity(model_dir: Path) -> str | None:
    """The served weights' identity for /v1/models: harness.models' (harness_model.json's hash, else the
    sha256 of the safetensors); None for a directory without safetensors (logged: the runner's response
    cache then keys on the model name and root alone)."""
    from harness.models.errors import ModelError
    from harness.models.registry import weights_identity as identity

    try:
        return identity(model_dir)
    except ModelError as e:
        if (model_dir / "harness_model.json").is_file():
            raise EngineError(str(e)) from None
        log.info("no weights hash in /v1/models: %s", e)
        return None


def quantize_int8(torch: Any, model: Any, device: str) -> Any:
    """Every Linear (the LM head included) as a dynamic-int8 one: a quarter of float32's bytes per
    decode step, which is what a memory-bound CPU decode pays for (bench/engine.py has the figures)."""
    if device != "cpu":
        raise EngineError("--quantize int8 runs on the CPU only (use --device cpu)")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # torch.ao's deprecation notice (torchao is its successor)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
