"""How a trained model is traced for export: the graph each delegate takes, built at the source.

    with graph_shaping.traced_for(graph_shaping.NNAPI):
        archive.add_endpoint(...)          # tracing happens inside the block

Training uses keras-hub's layers unchanged (batched einsum attention, Keras masked softmax,
token gather on flattened ids). Only while a model is traced at batch 1 for conversion does
this module change how two things are written, with the same weights and the same math:

* Attention (every keras `MultiHeadAttention`, hence keras-hub's `CachedMultiHeadAttention`
  inside `TransformerEncoder`/`TransformerDecoder`), when the query has a static batch of 1:
  each head is two plain 2-D matmuls, `q_h @ k_h^T` and `p_h @ v_h`, which the converter
  writes as FULLY_CONNECTED ops with run-time weights, instead of rank-4 einsums that become
  BATCH_MATMUL; and the padding/causal mask is an additive bias `(mask - 1) * penalty` added
  before SOFTMAX, instead of Keras' `where(mask, scores, -1e9)` (SELECT_V2 and a bool CAST).
  Why: the TFLite NNAPI delegate has no BATCH_MATMUL case and rejects SELECT_V2 and bool
  casts (export/nnapi_rules.py), and -1e9 would wipe out the int8 range of the scores
  (full-integer quantization gives the masked and the real scores one scale). The penalty is
  30 for int8 graphs (e^-30 ~ 1e-13: masked keys get no weight, and the scores keep ~0.15
  per int8 step) and 1e4 for float graphs (safe in fp16 on the GPU).
* Token embeddings (`pipeline.models.student.FlatTokenEmbedding`): the LiteRT GPU backend
  takes GATHER only with 1-D indices, so float graphs reshape the [1, L] ids to [L] first;
  the NNAPI delegate rejects an int32 RESHAPE but takes GATHER with [1, L] indices, so NNAPI
  graphs gather on the ids as they come.

* The float16-weights file: LiteRT's GPU backend refuses a GATHER whose table is a DEQUANTIZEd
  float16 constant ("GATHER: Input / output dtype mismatch"), so its graph (GPU_FP16) adds a
  run-time zero, `min(ids[0, 0], 0)` as float, to the table before the gather: the table is
  then an ordinary float tensor (one ADD over V x H values per invoke).

Targets: GPU for fp32 and int8_dynamic, GPU_FP16 for fp16, NNAPI for int8_full.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

GPU = "gpu"
GPU_FP16 = "gpu_fp16"
NNAPI = "nnapi"
FLOAT_MASK_PENALTY = 1e4
INT8_MASK_PENALTY = 30.0


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    mask_penalty: float
    flat_token_ids: bool          # gather on 1-D ids (the GPU backend's GATHER)
    runtime_table: bool = False   # the gather table goes through a run-time ADD first


TARGETS = {
    GPU: Target(GPU, FLOAT_MASK_PENALTY, flat_token_ids=True),
    GPU_FP16: Target(GPU_FP16, FLOAT_MASK_PENALTY, flat_token_ids=True, runtime_table=True),
    NNAPI: Target(NNAPI, INT8_MASK_PENALTY, flat_token_ids=False),
}
TARGET_OF_VARIANT = {"fp32": GPU, "fp16": GPU_FP16, "int8_dynamic": GPU, "int8_full": NNAPI}


def _batch_one_attention(original, penalty):
    """A `MultiHeadAttention._compute_attention` that writes batch-1 attention as 2-D matmuls."""
    import tensorflow as tf
    from keras import ops

    def compute_attention(self, query, key, value, attention_mask=None, training=None,
                          return_attention_scores=False, use_causal_mask=False):
        if (len(query.shape) != 4 or query.shape[0] != 1 or key.shape[0] != 1
                or return_attention_scores or None in tuple(query.shape) + tuple(key.shape)):
            return original(self, query, key, value, attention_mask=attention_mask,
                            training=training, return_attention_scores=return_attention_scores,
                            use_causal_mask=use_causal_mask)
        _, t, heads, key_dim = query.shape
        s, value_dim = key.shape[1], value.shape[-1]
        query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))
        bias = None
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "float32")           # [1, T or 1, S]
            static = tf.get_static_value(mask)                    # a causal mask is constant
            if static is not None:
                bias = ((static - 1.0) * penalty).reshape(tuple(mask.shape[-2:]))
            else:
                bias = ops.reshape((mask - 1.0) * penalty, tuple(mask.shape[-2:]))
        if use_causal_mask:
            causal = ((np.tril(np.ones((t, s), np.float32), s - t) - 1.0) * penalty)
            bias = causal if bias is None else bias + causal
        # A constant bias (a causal mask) is added to the scores flattened to [1, T*S]: the
        # LiteRT GPU backend computes an ADD of a [T, S] run-time tensor and a [T, S] constant
        # wrongly (see tests/test_gpu.py), and the converter cannot fold this reshape away.
        constant_bias = isinstance(bias, np.ndarray)
        if constant_bias:
            bias = np.broadcast_to(bias, (t, s)).reshape(1, t * s).astype(np.float32)
        outputs = []
        for h in range(heads):
            q = ops.reshape(query[:, :, h:h + 1, :], (t, key_dim))
            k = ops.reshape(key[:, :, h:h + 1, :], (s, key_dim))
            v = ops.reshape(value[:, :, h:h + 1, :], (s, value_dim))
            scores = tf.matmul(q, k, transpose_b=True)             # [T, S]
            if constant_bias:
                scores = ops.reshape(ops.reshape(scores, (1, t * s)) + bias, (t, s))
            elif bias is not None:
                scores = scores + bias
            probabilities = ops.softmax(scores, axis=-1)
            # p @ v as (v^T @ p^T)^T: a matmul with transpose_b and a run-time left operand is
            # written as FULLY_CONNECTED(v^T, weights=p); `p @ v` (or `p @ (v^T)^T`, which the
            # converter folds back) becomes BATCH_MATMUL.
            context_t = tf.matmul(tf.transpose(v), probabilities, transpose_b=True)  # [dv, T]
            outputs.append(ops.reshape(tf.transpose(context_t), (1, t, 1, value_dim)))
        output = outputs[0] if heads == 1 else ops.concatenate(outputs, axis=2)
        return output, None

    return compute_attention


def _float_attention_mask(original):
    """`MultiHeadAttention._compute_attention_mask` in float32 at batch 1 (the original casts
    every mask to bool, and bool tensors are rejected by the NNAPI delegate)."""
    from keras import ops

    def compute_attention_mask(self, query, value, query_mask=None, value_mask=None,
                               key_mask=None, attention_mask=None, use_causal_mask=False):
        simple = (query_mask is None and value_mask is None and key_mask is None
                  and getattr(self, "_sliding_window", None) is None
                  and query.shape[0] == 1 and None not in tuple(query.shape[:2]))
        if not simple:
            return original(self, query, value, query_mask=query_mask, value_mask=value_mask,
                            key_mask=key_mask, attention_mask=attention_mask,
                            use_causal_mask=use_causal_mask)
        mask = None if attention_mask is None else ops.cast(attention_mask, "float32")
        if use_causal_mask:
            t, s = query.shape[1], value.shape[1]
            causal = np.tril(np.ones((1, t, s), np.float32), s - t)
            mask = causal if mask is None else ops.minimum(mask, causal)
        return mask

    return compute_attention_mask


def _float_merged_mask(inputs, padding_mask, attention_mask):
    """keras-hub's `merge_padding_and_attention_mask`, in float32: the int32 RESHAPE and the
    bool casts of the original are rejected by the NNAPI delegate."""
    from keras import ops
    from keras.src.backend import get_keras_mask

    mask = padding_mask if padding_mask is not None else get_keras_mask(inputs)
    if mask is not None:
        mask = ops.expand_dims(ops.cast(mask, "float32"), axis=1)     # [B, 1, S]
    if attention_mask is not None:
        attention_mask = ops.cast(attention_mask, "float32")           # [B, T, S]
        mask = attention_mask if mask is None else ops.minimum(mask, attention_mask)
    return mask


@contextlib.contextmanager
def _patched(module, name, value):
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


@contextlib.contextmanager
def traced_for(target: str):
    """Within the block, models trace the graph of `target` (GPU or NNAPI); see module doc."""
    from keras.src.layers.attention import multi_head_attention
    from pipeline.models import student

    from keras_hub.src.layers.modeling import transformer_decoder, transformer_encoder

    spec = TARGETS[target]
    attention = multi_head_attention.MultiHeadAttention
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(attention, "_compute_attention", _batch_one_attention(
            attention._compute_attention, spec.mask_penalty)))
        stack.enter_context(_patched(attention, "_compute_attention_mask", _float_attention_mask(
            attention._compute_attention_mask)))
        stack.enter_context(_patched(student.FlatTokenEmbedding, "flat_token_ids",
                                     spec.flat_token_ids))
        stack.enter_context(_patched(student.FlatTokenEmbedding, "runtime_table",
                                     spec.runtime_table))
        for module in (transformer_encoder, transformer_decoder):
            if hasattr(module, "merge_padding_and_attention_mask"):
                stack.enter_context(_patched(module, "merge_padding_and_attention_mask",
                                             _float_merged_mask))
        yield spec
