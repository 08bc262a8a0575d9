"""Adapters on the worker thread: loading and unloading PEFT LoRA adapters, and choosing them per row.

Rows of different adapters share a step: one adapter in the batch uses `PeftModel.set_adapter`, the base
alone runs with the adapter layers disabled, a mix uses PEFT's per-row `adapter_names` (mixed-batch
LoRA). An unloaded adapter's weights are deleted once no row uses them; the last one unwraps the base.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from harness.serve.engine.request import GenRequest, Row


@dataclass
class AdapterInfo:
    name: str
    key: str
    path: str
    bytes: int
    rank: int
    loaded_at: float


class AdapterLayers:
    """The adapter half of LocalModel (model.py): runs on the worker thread, via `call` for loads."""

    base: Any
    stats: dict[str, int]
    _cv: threading.Condition
    _inbox: deque[GenRequest]
    _rows: list[Row]

    def _init_adapters(self) -> None:
        self.peft: Any = None
        self.adapters: dict[str, AdapterInfo] = {}      # key -> info (the worker's view)
        self.doomed: set[str] = set()                   # unloaded keys, deleted once no row uses them
        self._mode: Any = "unset"            # PEFT layer state: "unset" | "disabled" | "enabled" | an adapter key
        self._row_names: list[str] | None = None
        self._row_hooks: list[Any] = []

    # ---- adapters on the forward pass

    def _forward(self, adapters: list[str | None], _run: Any = None, **kw: Any) -> Any:
        """Run `_run()` (the lean pass) or the base model's forward on `kw` with the rows' adapters set."""
        uniq = set(adapters)
        peft = self.peft
        fwd = _run or self.base
        if peft is None:
            return fwd(**kw)
        if uniq == {None}:
            if self._mode != "disabled":
                peft.base_model.disable_adapter_layers()
                self._mode = "disabled"
                self.stats["adapter_switches"] += 1
            return fwd(**kw)
        if self._mode == "disabled" or self._mode == "unset":
            peft.base_model.enable_adapter_layers()
            self._mode = "enabled"
        if len(uniq) == 1:
            key = next(iter(uniq))
            if self._mode != key:
                peft.set_adapter(key)
                self._mode = key
                self.stats["adapter_switches"] += 1
            return fwd(**kw)
        # PEFT's mixed-batch LoRA: every LoRA layer gets `adapter_names` (one per row, "__base__" for the
        # base) from the pre-hooks installed once per load (`_install_row_hooks`), not re-registered per step
        self._row_names = [a if a is not None else "__base__" for a in adapters]
        self.stats["mixed_steps"] += 1
        try:
            return fwd(**kw)
        finally:
            self._row_names = None

    def _install_row_hooks(self) -> None:
        """(Re)install the pre-forward hooks that hand each LoRA layer the rows' adapter names."""
        for h in self._row_hooks:
            h.remove()
        self._row_hooks = []
        if self.peft is None:
            return
        from peft.tuners.lora import LoraLayer

        def hook(module: Any, args: Any, kwargs: dict[str, Any]) -> Any:
            if self._row_names is not None:
                kwargs["adapter_names"] = self._row_names
            return args, kwargs

        for module in self.peft.modules():
            if isinstance(module, LoraLayer):
                self._row_hooks.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    # ---- adapter management (worker thread, via `call`)

    def load_adapter(self, key: str, name: str, path: str) -> AdapterInfo:
        from peft import PeftModel

        try:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.base, path, adapter_name=key, is_trainable=False)
            else:
                self.peft.load_adapter(path, adapter_name=key, is_trainable=False)
        except Exception:
            self._forget(key)
            raise
        self.peft.eval()
        self._mode = "unset"
        self._install_row_hooks()
        nbytes = 0
        marker = f".{key}."
        for pname, p in self.peft.named_parameters():
            if marker in pname and ".lora_" in pname:
                nbytes += p.numel() * p.element_size()
        rank = int(getattr(self.peft.peft_config[key], "r", 0) or 0)
        info = AdapterInfo(name=name, key=key, path=path, bytes=nbytes, rank=rank, loaded_at=time.time())
        self.adapters[key] = info
        return info

    def unload_adapter(self, key: str) -> None:
        self.doomed.add(key)
        self._reap_adapters()

    def _reap_adapters(self) -> None:
        if not self.doomed:
            return
        with self._cv:
            busy = {r.adapter for r in self._inbox}
        busy |= {row.req.adapter for row in self._rows}
        for key in list(self.doomed):
            if key not in busy:
                self.doomed.discard(key)
                self._forget(key)

    def _forget(self, key: str) -> None:
        """Delete an adapter's weights; unwrap the base model when none is left."""
        try:
            self._drop_adapter(key)
        finally:
            self._install_row_hooks()

    def _drop_adapter(self, key: str) -> None:
        self.adapters.pop(key, None)
        self._mode = "unset"
        peft = self.peft
        if peft is None:                       # a first load that failed half-way
            strip_lora_layers(self.base)
            return
        others = set(peft.peft_config) - {key}
        if not others:                         # the last adapter: back to the plain base model
            self.base = peft.unload()
            self.peft = None
            strip_lora_layers(self.base)
            return
        if key in peft.peft_config:
            peft.delete_adapter(key)
        else:                                  # a load that failed after injecting some layers
            from peft.tuners.tuners_utils import BaseTunerLayer
            for module in peft.modules():
                if isinstance(module, BaseTunerLayer) and key in getattr(module, "lora_A", {}):
                    module.delete_adapter(key)


def strip_lora_layers(model: Any) -> None:
    """Put back the plain base layers wherever a half-finished PEFT injection left LoRA wrappers."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # pragma: no cover
        return
    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
