"""vLLM's rules for LoRA adapters: the one compatibility check that `harness train`, `harness adapters
check`, `harness serve`, the closed loop and the local engine all use (standard library only, no torch).

`check_adapter(dir, *, max_lora_rank=16, base_model=None) -> list[str]`: one line per reason vLLM would
refuse the adapter or serve it wrongly (reference §1.4 and vLLM's `PEFTHelper.validate_legal`), `[]` when
it is fine:
  * files: `adapter_config.json` readable JSON with `r`, `lora_alpha`, `target_modules`; weights in
    `adapter_model.safetensors` whose header is readable and whose byte ranges fit the file;
  * `peft_type` LORA; `modules_to_save` empty ("vLLM only supports modules_to_save being None."); no DoRA
    ("vLLM does not yet support DoRA."); `bias` "none"; no trainable token indices; no
    `rank_pattern`/`alpha_pattern` (vLLM reads only `r` and `lora_alpha`, so the scaling would be wrong);
  * rank: `r` (and every tensor's rank) <= `max_lora_rank`, which must itself be one of vLLM's allowed
    values (`VLLM_LORA_RANKS`, vllm/config/lora.py `MaxLoRARanks`);
  * targets: only linear projections vLLM serves LoRA on for the architecture (embed_tokens, lm_head,
    norms and other non-linear modules are refused); tensor names match `target_modules`; every A has
    its B and their shapes agree with `r`;
  * base (`base_model` given): `base_model_name_or_path` names the same model (same string, same
    resolved path or same last path component), and when `base_model` is a local directory every LoRA
    tensor fits the shape of the base weight it adapts (a different base fails here).

`rank_problem(r)` / `check_lora_rank(r)`: the rank rule alone, for command-line options and TrainConfig.
"""
from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainers.errors import TrainingError

# vLLM's --max-lora-rank choices (vllm/config/lora.py); an adapter's r must be <= the flag
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_MAX_LORA_RANK = 16          # vLLM's default --max-lora-rank
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"

# vLLM's LoRA-capable linear layers per architecture, packed modules expanded to the PEFT names.
_LLAMA_LIKE = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
SUPPORTED_TARGETS: dict[str, frozenset[str]] = {
    **{arch: _LLAMA_LIKE for arch in (
        "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "GemmaForCausalLM",
        "Gemma2ForCausalLM", "Gemma3ForCausalLM", "GraniteForCausalLM", "Olmo2ForCausalLM",
        "Starcoder2ForCausalLM", "InternLM2ForCausalLM", "SmolLM3ForCausalLM", "Glm4ForCausalLM")},
    "Phi3ForCausalLM": frozenset({"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}),
    "PhiForCausalLM": frozenset({"q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"}),
}
# Architecture unknown (or no base given): linear projection names of the common families.
GENERIC_TARGETS = _LLAMA_LIKE | {"qkv_proj", "gate_up_proj", "dense", "fc1", "fc2", "out_proj", "query_key_value",
                                 "dense_h_to_4h", "dense_4h_to_h", "c_attn", "c_proj", "c_fc", "w1", "w2", "w3",
                                 "wqkv", "wo"}
EMBEDDING_MODULES = frozenset({"embed_tokens", "lm_head", "wte", "wpe", "embed_in", "embed_out",
                               "word_embeddings", "tok_embeddings", "output", "embeddings"})

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>A|B)\.weight$")


def rank_problem(r: int) -> str | None:
    """Why vLLM would refuse `r` as a LoRA rank or a --max-lora-rank (None when it is one of its values)."""
    if r in VLLM_LORA_RANKS:
        return None
    return f"vLLM allows only {', '.join(map(str, VLLM_LORA_RANKS))}, got {r}"


def check_lora_rank(r: int) -> None:
    """TrainingError unless `r` is a rank vLLM loads (the --lora-r of a training run)."""
    if r not in VLLM_LORA_RANKS:
        raise TrainingError(f"--lora-r {r}: vLLM loads only ranks {', '.join(map(str, VLLM_LORA_RANKS))}; "
                            f"pick one of them (16 is the default and vLLM's default --max-lora-rank)")


def read_safetensors_header(path: str | Path) -> dict[str, dict[str, Any]]:
    """Tensor name -> {"dtype", "shape", "data_offsets"} from a safetensors file, without torch.
    Raises ValueError naming what is wrong when the file is not a complete safetensors file."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ValueError(f"{size} bytes: too short for a safetensors header")
        n = int.from_bytes(raw, "little")
        if n < 2 or n > size - 8 or n > 100 << 20:
            raise ValueError(f"header length {n} does not fit the file ({size} bytes): not a safetensors file")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    header.pop("__metadata__", None)
    end = 0
    for name, info in header.items():
        try:
            dtype, shape, (lo, hi) = info["dtype"], info["shape"], info["data_offsets"]
            nbytes = math.prod(int(d) for d in shape) * _DTYPE_BYTES[dtype]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"tensor {name!r}: malformed header entry") from None
        if hi - lo != nbytes or lo < 0:
            raise ValueError(f"tensor {name!r}: {hi - lo} bytes for a {dtype} tensor of shape {shape}")
        end = max(end, hi)
    if 8 + n + end > size:
        raise ValueError(f"truncated: the tensors need {8 + n + end} bytes, the file has {size}")
    return header


def _load_config(d: Path, problems: list[str]) -> dict[str, Any] | None:
    cfg_path = d / CONFIG_FILE
    if not d.is_dir():
        problems.append(f"{d}: not a directory")
        return None
    if not cfg_path.is_file():
        problems.append(f"{cfg_path}: missing (not a PEFT adapter directory)")
        return None
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{cfg_path}: unreadable: {e}")
        return None
    except json.JSONDecodeError as e:
        problems.append(f"{cfg_path}:{e.lineno}: invalid JSON: {e.msg}")
        return None
    if not isinstance(cfg, dict):
        problems.append(f"{cfg_path}: not a JSON object")
        return None
    return cfg


def _base_info(base_model: str) -> tuple[str | None, dict[str, list[int]] | None, str | None]:
    """(architecture, weight name -> shape, problem) of a local base directory; (None, None, None) for an ID."""
    d = Path(base_model).expanduser()
    if not d.is_dir():
        return None, None, None
    arch = None
    try:
        archs = json.loads((d / "config.json").read_text(encoding="utf-8")).get("architectures") or []
        arch = archs[0] if archs else None
    except (OSError, ValueError, AttributeError):
        pass
    files: list[Path] = []
    index = d / "model.safetensors.index.json"
    if index.is_file():
        try:
            files = sorted({d / f for f in json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()})
        except (OSError, ValueError, KeyError, TypeError) as e:
            return arch, None, f"{index}: unreadable weight index ({e})"
    elif (d / "model.safetensors").is_file():
        files = [d / "model.safetensors"]
    if not files:
        return arch, None, None
    shapes: dict[str, list[int]] = {}
    for f in files:
        try:
            for name, info in read_safetensors_header(f).items():
                shapes[name] = list(info["shape"])
        except (OSError, ValueError) as e:
            return arch, None, f"{f}: {e}"
    return arch, shapes, None


def _same_model(a: str, b: str) -> bool:
    a, b = a.rstrip("/\\"), b.rstrip("/\\")
    if a == b:
        return True
    with contextlib.suppress(OSError):
        pa, pb = Path(a).expanduser(), Path(b).expanduser()
        if pa.exists() and pb.exists() and pa.resolve() == pb.resolve():
            return True
    return re.split(r"[/\\]", a)[-1] == re.split(r"[/\\]", b)[-1]


def _base_weight_shape(module: str, shapes: Mapping[str, list[int]]) -> list[int] | None:
    stem = module[len("base_model.model."):] if module.startswith("base_model.model.") else module
    for key in (f"{stem}.weight", f"{stem}.base_layer.weight"):
        if key in shapes:
            return shapes[key]
    tail = stem.split(".", 1)[1] if "." in stem else stem        # saved without the "model." prefix
    for key in (f"{tail}.weight", f"model.{stem}.weight"):
        if key in shapes:
            return shapes[key]
    return None


def check_adapter(adapter_dir: str | Path, *, max_lora_rank: int = DEFAULT_MAX_LORA_RANK,
                  base_model: str | None = None, check_base_name: bool = True) -> list[str]:
    """Every reason vLLM (started with `--max-lora-rank max_lora_rank`, serving `base_model` when given)
    would refuse this PEFT LoRA directory or serve it wrongly; `[]` when it is compatible.
    `check_base_name=False` skips the name comparison and keeps the shape check (the local engine: an
    adapter that fits the served weights loads, whatever its config calls the base)."""
    d = Path(adapter_dir).expanduser()
    problems: list[str] = []
    if max_lora_rank not in VLLM_LORA_RANKS:
        problems.append(f"max_lora_rank {max_lora_rank} is not one of vLLM's allowed values "
                        f"{', '.join(map(str, VLLM_LORA_RANKS))}")
    cfg = _load_config(d, problems)
    if cfg is None:
        return problems
    where = str(d / CONFIG_FILE)

    peft_type = cfg.get("peft_type", "LORA")
    if str(peft_type).upper() != "LORA":
        problems.append(f"{where}: peft_type is {peft_type!r}; vLLM serves only LoRA adapters")
    missing = [k for k in ("r", "lora_alpha", "target_modules") if k not in cfg]
    if missing:
        problems.append(f"{where}: missing required fields {', '.join(missing)}")
    r = cfg.get("r")
    if "r" in cfg and (not isinstance(r, int) or isinstance(r, bool) or r < 1):
        problems.append(f"{where}: r is {r!r}, not a positive whole number")
        r = None
    if cfg.get("modules_to_save"):
        problems.append(f"{where}: modules_to_save is {cfg['modules_to_save']!r}: "
                        "vLLM only supports modules_to_save being None.")
    if cfg.get("use_dora"):
        problems.append(f"{where}: use_dora is true: vLLM does not yet support DoRA.")
    if cfg.get("bias", "none") not in (None, "none"):
        problems.append(f"{where}: bias is {cfg['bias']!r}: vLLM serves LoRA adapters without bias only "
                        "(bias must be 'none')")
    if cfg.get("trainable_token_indices"):
        problems.append(f"{where}: trainable_token_indices is set: vLLM cannot serve trained token embeddings")
    for key in ("rank_pattern", "alpha_pattern"):
        if cfg.get(key):
            problems.append(f"{where}: {key} is set: vLLM reads only r and lora_alpha for every module, so "
                            "this adapter would be served with the wrong scaling")
    if isinstance(r, int) and r > max_lora_rank:
        problems.append(f"{where}: LoRA rank {r} is greater than max_lora_rank {max_lora_rank}.")

    arch, base_shapes, base_problem = (None, None, None)
    if base_model:
        arch, base_shapes, base_problem = _base_info(base_model)
        if base_problem:
            problems.append(f"base model {base_model}: {base_problem}")
        trained_on = cfg.get("base_model_name_or_path")
        if not check_base_name:
            pass
        elif not trained_on:
            if base_shapes is None:
                problems.append(f"{where}: base_model_name_or_path is not set, so the adapter cannot be "
                                f"matched to the served base {base_model}")
        elif not _same_model(str(trained_on), base_model):
            problems.append(f"{where}: base model mismatch: the adapter was trained on {trained_on!r}, "
                            f"the served base is {base_model!r}")
    supported = SUPPORTED_TARGETS.get(arch or "", GENERIC_TARGETS)
    arch_note = f"{arch}" if arch in SUPPORTED_TARGETS else "this architecture"

    targets = cfg.get("target_modules")
    target_names: set[str] | None = None
    if isinstance(targets, list):
        target_names = {str(t).rsplit(".", 1)[-1] for t in targets}
        for t in sorted(target_names):
            if t in EMBEDDING_MODULES:
                problems.append(f"{where}: target module {t!r}: vLLM serves LoRA on linear projections only "
                                "(embedding / lm_head LoRA needs the extra-vocabulary support vLLM removed)")
            elif t not in supported:
                problems.append(f"{where}: target module {t!r} is not a LoRA-capable linear layer of "
                                f"{arch_note} in vLLM (expected some of {', '.join(sorted(supported))})")
    elif isinstance(targets, str) and targets != "all-linear":
        pass  # a regex: the tensor names below say which modules it hit
    elif targets is not None and not isinstance(targets, str):
        problems.append(f"{where}: target_modules is {targets!r}, not a list or a pattern")

    weights = d / WEIGHTS_FILE
    if not weights.is_file():
        if not (d / "adapter_model.bin").is_file():
            problems.append(f"{weights}: missing (no adapter weights in the directory)")
        return problems
    try:
        header = read_safetensors_header(weights)
    except OSError as e:
        problems.append(f"{weights}: unreadable: {e}")
        return problems
    except ValueError as e:
        problems.append(f"{weights}: corrupt: {e}")
        return problems
    if not header:
        problems.append(f"{weights}: holds no tensors")
        return problems

    # per-tensor findings are grouped: one line per kind of problem, with a count and the first example
    grouped: dict[str, list[str]] = {}

    def note(kind: str, example: str) -> None:
        grouped.setdefault(kind, []).append(example)

    pairs: dict[str, dict[str, list[int]]] = {}
    for key, info in header.items():
        m = _LORA_KEY.match(key)
        if m is None:
            if "lora_magnitude_vector" in key:
                note("DoRA magnitude tensors (vLLM does not yet support DoRA)", key)
            elif "lora_embedding_" in key:
                note("embedding LoRA tensors: vLLM serves LoRA on linear projections only", key)
            else:
                note("tensors that are not LoRA A/B weights (modules_to_save, bias or trained embeddings?): "
                     "vLLM would refuse or ignore them", key)
            continue
        pairs.setdefault(m["module"], {})[m["ab"]] = list(info["shape"])

    seen_names: set[str] = set()
    bad_targets: set[str] = set()
    for module, ab in sorted(pairs.items()):
        short = module.rsplit(".", 1)[-1]
        seen_names.add(short)
        if short in EMBEDDING_MODULES or short not in supported:
            if target_names is None or short not in target_names:   # not yet reported from the config
                bad_targets.add(short)
        if set(ab) != {"A", "B"}:
            note("LoRA layers missing their A or B matrix (incomplete adapter)", module)
            continue
        a, b = ab["A"], ab["B"]
        if len(a) != 2 or len(b) != 2 or a[0] != b[1]:
            note("LoRA layers whose A and B do not form a low-rank pair", f"{module}: lora_A {a}, lora_B {b}")
            continue
        rank = a[0]
        if isinstance(r, int) and rank != r:
            note(f"LoRA layers whose rank differs from r={r} in {CONFIG_FILE}", f"{module}: rank {rank}")
        if rank > max_lora_rank and not (isinstance(r, int) and r > max_lora_rank):
            note(f"LoRA layers of a rank greater than max_lora_rank {max_lora_rank}", f"{module}: rank {rank}")
        if base_shapes is not None:
            shape = _base_weight_shape(module, base_shapes)
            if shape is None:
                note(f"LoRA layers the base model {base_model} does not have (different base model?)", module)
            elif len(shape) != 2 or a[1] != shape[1] or b[0] != shape[0]:
                note(f"LoRA layers that do not fit the base weights of {base_model} (different base model?)",
                     f"{module}: lora_A {a} / lora_B {b} vs base {shape}")
    for kind, examples in grouped.items():
        more = f" and {len(examples) - 1} more" if len(examples) > 1 else ""
        problems.append(f"{weights}: {len(examples)} {kind}; e.g. {examples[0]}{more}")
    for short in sorted(bad_targets):
        if short in EMBEDDING_MODULES:
            problems.append(f"{weights}: LoRA on {short!r}: vLLM serves LoRA on linear projections only")
        else:
            problems.append(f"{weights}: LoRA on {short!r}, which is not a LoRA-capable linear layer of "
                            f"{arch_note} in vLLM")
    if target_names is not None and pairs:
        unknown = seen_names - target_names
        if unknown:
            problems.append(f"{weights}: tensors for {', '.join(sorted(unknown))}, which target_modules does not list")
        absent = target_names - seen_names
        if absent:
            problems.append(f"{weights}: target_modules lists {', '.join(sorted(absent))} but the file has no "
                            "tensors for them (incomplete or corrupt adapter)")
    return problems


__all__ = ["CONFIG_FILE", "DEFAULT_MAX_LORA_RANK", "EMBEDDING_MODULES", "GENERIC_TARGETS", "SUPPORTED_TARGETS",
           "VLLM_LORA_RANKS", "WEIGHTS_FILE", "check_adapter", "check_lora_rank", "rank_problem",
           "read_safetensors_header"]
