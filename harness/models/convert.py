"""A `.gguf` file or a Hugging Face model directory -> an ordinary safetensors model directory.

The result loads with plain `transformers` (and vLLM, PEFT, our engine): config.json, model.safetensors,
tokenizer.json + tokenizer_config.json, the chat template, generation_config.json whose eos list holds
the template's end-of-turn token, and harness_model.json (weights hash, provenance, versions).

GGUF goes through transformers' own GGUF loader (`from_pretrained(dir, gguf_file=...)`, the `gguf`
package), which dequantizes the weights to float; its GGUF quantizer is then dropped so that
`save_pretrained` writes plain safetensors. The end-of-turn check runs before the slow weight load:
a model whose chat template ends turns with a token that is not an EOS would generate past every
answer (transformers 4.x sets `<|im_start|>` as the EOS of llama GGUFs, for one), so it is refused
unless `eos_token=` names the token to add. The saved directory is reloaded and its logits compared
with the converted model's before it is moved into place, so what is registered is known to load.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.models.errors import ModelError
from harness.models.progress import Status
from harness.models.registry import INFO_FILE, INFO_FORMAT, ModelInfo, check_name, ensure_dir, models_dir, \
    read_info, weights_hash

DTYPES = ("auto", "float32", "bfloat16", "float16")
_MARK = "\u2063harness-end-of-turn-probe\u2063"
_HUGE_MAX_LEN = 1 << 40


def source_kind(path: Path) -> str:
    if path.is_file() and path.suffix.lower() == ".gguf":
        return "gguf"
    if path.is_dir() and (path / "config.json").is_file():
        return "hf-dir"
    if path.is_dir() and len(list(path.glob("*.gguf"))) == 1:
        return "gguf-dir"
    raise ModelError(f"{path}: not a .gguf file nor a Hugging Face model directory (no config.json); "
                     f"`harness models import` takes one of those")


def _eos_list(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def end_of_turn(tokenizer: Any) -> tuple[str, int] | None:
    """The token the chat template closes an assistant turn with (ChatML's `<|im_end|>`, Llama 3's
    `<|eot_id|>`): the first special token after the assistant's content, with only whitespace
    before it. None when the template closes turns with no special token."""
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _MARK}]
    try:
        text = tokenizer.apply_chat_template(msgs, tokenize=False)
    except Exception as e:  # a template that raises on this plain conversation is unusable for us
        raise ModelError(f"the chat template fails on a plain user/assistant conversation: {e}") from None
    if not isinstance(text, str) or _MARK not in text:
        return None
    tail = text.split(_MARK, 1)[1]
    special = {t for t in tokenizer.all_special_tokens}
    special.update(str(t) for t in getattr(tokenizer, "added_tokens_decoder", {}).values()
                   if getattr(t, "special", False))
    for ids in (tokenizer(tail, add_special_tokens=False)["input_ids"],):
        for tid in ids:
            tok = tokenizer.convert_ids_to_tokens(int(tid))
            if tok in special:
                return tok, int(tid)
            if tokenizer.decode([int(tid)]).strip():
                return None  # real text before any special token: the turn ends without one
    return None


def check_end_of_turn(tokenizer: Any, gen_eos: list[int], *, where: str, expected: str | None = None,
                      extra_eos: str | None = None) -> tuple[tuple[str, int], list[int]]:
    """((end-of-turn token, id), the eos ids to write): the template's end-of-turn token must be the
    tokenizer's EOS or in generation_config's eos list (or be named by `extra_eos`); else ModelError."""
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"{where}: the tokenizer has no chat template; pass one with --chat-template FILE "
                         f"(a Jinja file as in tokenizer_config.json's chat_template)")
    eot = end_of_turn(tokenizer)
    if eot is None:
        raise ModelError(f"{where}: the chat template ends an assistant turn with no special token, so nothing "
                         f"tells a server where an answer ends; pass a template that does with --chat-template FILE")
    if expected is not None and eot[0] != expected:
        raise ModelError(f"{where}: the chat template ends turns with {eot[0]!r}, the catalog expects {expected!r}; "
                         f"the file is not the model the catalog describes")
    eos = list(dict.fromkeys(_eos_list(tokenizer.eos_token_id) + gen_eos))
    if extra_eos is not None:
        tid = tokenizer.convert_tokens_to_ids(extra_eos)
        if tid is None or tid == tokenizer.unk_token_id or tokenizer.convert_ids_to_tokens(tid) != extra_eos:
            raise ModelError(f"{where}: --eos-token {extra_eos!r} is not a token of this tokenizer")
        eos.append(int(tid))
    if eot[1] not in eos:
        names = ", ".join(f"{tokenizer.convert_ids_to_tokens(i)!r} (id {i})" for i in eos) or "none"
        raise ModelError(
            f"{where}: the chat template ends each turn with {eot[0]!r} (id {eot[1]}), but the EOS token(s) are "
            f"{names}: generation would run past every answer. transformers 4.x sets a wrong EOS for llama "
            f"GGUFs (upgrade to transformers>=5); or pass --eos-token {eot[0]!r} to add it to generation_config")
    return eot, list(dict.fromkeys(eos))


def _load_tokenizer(src: Path, kind: str, chat_template: str | None) -> Any:
    from transformers import AutoTokenizer
    try:
        if kind == "hf-dir":
            tok = AutoTokenizer.from_pretrained(str(src))
        else:
            tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    except Exception as e:
        raise ModelError(f"{src}: cannot read its tokenizer with transformers: {e}") from None
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


def _torch_dtype(dtype: str, kind: str) -> Any:
    import torch
    if dtype == "auto":
        return torch.float32 if kind != "hf-dir" else "auto"   # GGUF: the dequantized values, exactly
    return getattr(torch, dtype)


def _load_model(src: Path, kind: str, dtype: str) -> Any:
    from transformers import AutoModelForCausalLM
    try:
        if kind == "hf-dir":
            model = AutoModelForCausalLM.from_pretrained(str(src), dtype=_torch_dtype(dtype, kind))
        else:
            model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name,
                                                         dtype=_torch_dtype(dtype, kind))
    except Exception as e:
        raise ModelError(f"{src}: transformers cannot load it as a causal LM: {type(e).__name__}: {e}") from None
    if kind != "hf-dir":
        # transformers keeps GGUF models marked as quantized and refuses to save them; the weights are
        # plain float tensors by now, so the marks go and save_pretrained writes ordinary safetensors
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    if dtype != "auto" or kind != "hf-dir":
        model.config.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    return model


def _hf_gen_eos(src: Path, kind: str) -> list[int]:
    """The eos list of an HF directory's generation_config.json (GGUF files carry only the tokenizer's)."""
    f = src / "generation_config.json"
    if kind != "hf-dir" or not f.is_file():
        return []
    try:
        return _eos_list(json.loads(f.read_text(encoding="utf-8")).get("eos_token_id"))
    except (OSError, ValueError, TypeError) as e:
        raise ModelError(f"{f}: unreadable: {e}") from None


def _portable_tokenizer_config(out: Path, chat_template: str) -> None:
    """transformers 5 names the class `TokenizersBackend` and keeps the template in chat_template.jinja
    only; `PreTrainedTokenizerFast` and a chat_template field load in 4.x (vLLM's) as well as in 5."""
    f = out / "tokenizer_config.json"
    cfg = json.loads(f.read_text(encoding="utf-8"))
    if cfg.get("tokenizer_class") == "TokenizersBackend":
        cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg.setdefault("chat_template", chat_template)
    f.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _verify_saved(out: Path, model: Any, tokenizer: Any, eot: tuple[str, int], where: str) -> None:
    """The saved directory loads with plain transformers and computes what the converted model does."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    tok2 = AutoTokenizer.from_pretrained(str(out))
    gen2 = GenerationConfig.from_pretrained(str(out))
    got = end_of_turn(tok2)
    if got != eot or eot[1] not in _eos_list(gen2.eos_token_id):
        raise ModelError(f"{where}: the saved tokenizer/generation config lost the end-of-turn token "
                         f"{eot[0]!r} (got {got}); this is a bug, please report it")
    m2 = AutoModelForCausalLM.from_pretrained(str(out), dtype=model.dtype)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                        tokenize=True, return_dict=True)["input_ids"]
    x = torch.tensor([list(ids)[:32]])
    with torch.no_grad():
        a, b = model(x).logits, m2(x).logits
    if not torch.allclose(a, b, atol=1e-4, rtol=1e-3):
        raise ModelError(f"{where}: the saved weights do not reproduce the converted model's logits "
                         f"(max difference {float((a - b).abs().max()):.3g}); this is a bug, please report it")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for pkg in ("toolcall-harness", "transformers", "torch", "gguf", "safetensors"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def convert(source: str | Path, name: str, *, provenance: dict[str, Any] | None = None, dtype: str = "auto",
            chat_template: str | None = None, eos_token: str | None = None, expected_end_of_turn: str | None = None,
            force: bool = False, status: Status | None = None) -> ModelInfo:
    """Convert `source` (a .gguf file or an HF directory) into `$HARNESS_HOME/models/NAME` and register it."""
    status = status or Status(quiet=True)
    check_name(name)
    if dtype not in DTYPES:
        raise ModelError(f"dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    src = Path(source).expanduser().resolve()
    if not src.exists():
        raise ModelError(f"{src}: no such file or directory")
    kind = source_kind(src)
    if kind == "gguf-dir":
        src, kind = next(src.glob("*.gguf")), "gguf"
    dest = models_dir() / name
    if dest.exists() and not force:
        raise ModelError(f"{dest}: a model named {name!r} is already registered; pass --force to replace it, "
                         f"or choose another --name")
    ensure_dir(models_dir(), "models folder", "HARNESS_HOME")   # before the slow part, not after it
    t0 = time.perf_counter()
    with _quiet_transformers(status):
        _convert_into(src, kind, dest, name, t0=t0, provenance=provenance, dtype=dtype,
                      chat_template=chat_template, eos_token=eos_token, expected_end_of_turn=expected_end_of_turn,
                      status=status)
    info = read_info(dest)
    assert info is not None
    return info


def _convert_into(src: Path, kind: str, dest: Path, name: str, *, t0: float, provenance: dict[str, Any] | None,
                  dtype: str, chat_template: str | None, eos_token: str | None, expected_end_of_turn: str | None,
                  status: Status) -> None:
    with status.waiting(f"reading the tokenizer of {src.name}"):
        tok = _load_tokenizer(src, kind, chat_template)
    eot, eos = check_end_of_turn(tok, _hf_gen_eos(src, kind), where=str(src), expected=expected_end_of_turn,
                                 extra_eos=eos_token)
    status.say(f"end-of-turn token {eot[0]!r} (id {eot[1]}) is an EOS token: ok")
    what = "loading and dequantizing the GGUF weights" if kind == "gguf" else "loading the weights"
    with status.waiting(what):
        model = _load_model(src, kind, dtype)
    from transformers import GenerationConfig
    gen = getattr(model, "generation_config", None) or GenerationConfig()
    gen.eos_token_id = eos[0] if len(eos) == 1 else eos
    if gen.pad_token_id is None:
        gen.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
    if gen.bos_token_id is None and tok.bos_token_id is not None:
        gen.bos_token_id = tok.bos_token_id
    model.generation_config = gen
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos and (tok.model_max_length is None or tok.model_max_length > _HUGE_MAX_LEN):
        tok.model_max_length = int(max_pos)
    root = models_dir()
    ensure_dir(root, "models folder", "HARNESS_HOME")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        with status.waiting(f"writing safetensors into {dest}"):
            model.save_pretrained(str(tmp), safe_serialization=True)
            tok.save_pretrained(str(tmp))
            _portable_tokenizer_config(tmp, tok.chat_template)
        with status.waiting("checking that the saved directory loads and computes the same logits"):
            _verify_saved(tmp, model, tok, eot, str(src))
        digest, per_file = weights_hash(tmp)
        for f in tmp.iterdir():   # mkstemp-style 0600 files would keep other users (a server) out
            os.chmod(f, 0o644)
        os.chmod(tmp, 0o755)
        record = {
            "format": INFO_FORMAT, "name": name, "weights_sha256": digest, "weights_files": per_file,
            "architecture": (model.config.architectures or [type(model).__name__])[0],
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "dtype": str(model.dtype).removeprefix("torch."),
            "end_of_turn": {"token": eot[0], "id": eot[1]}, "eos_token_ids": eos,
            "source": {"converted_from": kind, "path": str(src), **(provenance or {})},
            "converted_with": _versions(), "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "convert_seconds": round(time.perf_counter() - t0, 1),
        }
        (tmp / INFO_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        _install(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _install(tmp: Path, dest: Path) -> None:
    """Move the finished directory into place; a replaced one is removed only after the move."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _quiet_transformers(status: Status) -> Iterator[None]:
    """transformers' own tqdm bars only on a terminal; its warnings (dequantization notices) off.
    Restored afterwards. Its GGUF loader calls a bare `tqdm` that no transformers switch reaches (and
    TQDM_DISABLE is read when tqdm is imported), so that module's name is pointed at a silent one."""
    import functools
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    bare = getattr(gguf_utils, "tqdm", None)
    hf_logging.set_verbosity_error()
    if (status.quiet or not status.tty) and bare is not None:
        hf_logging.disable_progress_bar()
        gguf_utils.tqdm = functools.partial(bare, disable=True)
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        if bare is not None:
            gguf_utils.tqdm = bare


def import_model(path: str | Path, name: str, *, sha256: str | None = None, **kw: Any) -> ModelInfo:
    """`harness models import PATH --name N`: verify (when a sha256 is given) and convert a local model."""
    from harness.models.pull import verify_sha256
    src = Path(path).expanduser()
    if sha256 is not None and not src.is_file():
        raise ModelError(f"{src}: --sha256 checks a file (a .gguf), not a directory")
    digest = verify_sha256(src, sha256, what=str(src), status=kw.get("status")) if src.is_file() else None
    return convert(src, name, provenance={"kind": "local", "file_sha256": digest}, **kw)


__all__ = ["DTYPES", "check_end_of_turn", "convert", "end_of_turn", "import_model", "source_kind"]
