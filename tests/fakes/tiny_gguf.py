"""A tiny Llama GGUF written from a model directory that trainers.scratch builds (no download): the
`gguf` package's GGUFWriter with llama.cpp's conventions (tensor names, the q/k row permutation,
a byte-level BPE vocabulary as `gpt2` with merges, control tokens, the chat template)."""
from __future__ import annotations

import json
from pathlib import Path


def _permute(w, n_head: int):
    """llama.cpp stores q/k rows interleaved per head (transformers' GGUF loader undoes this)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_gguf(model_dir: Path, out: Path, *, eos_token: str | None = None,
                    chat_template: str | None = None) -> Path:
    """`model_dir` (a LlamaForCausalLM + tokenizer.json) as a float32 GGUF at `out`. `eos_token`
    overrides the EOS written (to make a file whose EOS disagrees with its template)."""
    import gguf
    import numpy as np
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    cfg = model.config
    tj = json.loads((Path(model_dir) / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = dict(tj["model"]["vocab"])
    for a in tj["added_tokens"]:
        vocab[a["content"]] = a["id"]
    tokens = [""] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    control = {a["id"] for a in tj["added_tokens"] if a["special"]}
    merges = [" ".join(m) if isinstance(m, list) else m for m in tj["model"]["merges"]]

    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name("tiny-test")
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3 if i in control else 1 for i in range(len(tokens))])
    w.add_token_merges(merges)
    w.add_eos_token_id(vocab[eos_token] if eos_token else tok.eos_token_id)
    w.add_pad_token_id(tok.pad_token_id)
    w.add_add_bos_token(False)
    w.add_chat_template(chat_template if chat_template is not None else tok.chat_template)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    for key, value in model.state_dict().items():
        if key == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        a = value.detach().float().numpy()
        if key.endswith("q_proj.weight"):
            a = _permute(a, cfg.num_attention_heads)
        elif key.endswith("k_proj.weight"):
            a = _permute(a, cfg.num_key_value_heads)
        w.add_tensor(names.get_name(key, try_suffixes=(".weight", ".bias")), np.ascontiguousarray(a))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out
