"""Activation smoothing (SmoothQuant, Xiao et al. 2023) for a causal LM's dynamic-range int8 file.

    smooth = smoothed_copy(model, calibration_ids, alpha=0.5)   # same function in float

Dynamic-range int8 quantizes each FULLY_CONNECTED input per row at run time, so one outlier
channel (SmolLM2's down-projection inputs reach 3,065 in a few channels) leaves the other
channels a few levels of int8. Per input channel j of a matmul, x_j / s_j and W_j * s_j give
the same product in float; s_j = max|x_j|^alpha / max|W_j|^(1 - alpha) moves the outliers
into the weights, which are quantized per output channel offline. The divisions are folded
into what produces the input, so the graph keeps its ops:
  * query/key/value and gate/up: into the RMSNorm scale before them;
  * down: into the up projection's output columns (silu(gate) * up is linear in up);
  * attention output: into the value projection's output columns, one factor per key/value
    channel shared by the query heads that read it (grouped-query attention).
The tied token table and the logits' matmul are left alone (smoothing them would store the
table twice). Maxima come from running the Keras model on calibration sequences.
"""

from __future__ import annotations

import numpy as np

MIN_FACTOR, MAX_FACTOR = 1e-4, 1e4  # a dead channel must not blow a weight up


def _record(layer, key: str, maxima: dict):
    """Makes `layer` note max |input| per channel under `key` (`del layer.call` undoes it)."""
    original = layer.call

    def call(inputs, *args, **kwargs):
        seen = np.max(np.abs(np.asarray(inputs)).reshape(-1, inputs.shape[-1]), axis=0)
        maxima[key] = np.maximum(maxima.get(key, 0.0), seen)
        return original(inputs, *args, **kwargs)

    layer.call = call


def activation_maxima(model, sequences) -> list:
    """Per block, {"attention", "mlp", "down", "output": max |input| per channel} of the four
    matmul inputs, over the tokens of `sequences` (lists of token ids, run one at a time so
    that no padding is counted)."""
    blocks = [{} for _ in model.blocks]
    recorded = [(maxima, key, layer) for maxima, block in zip(blocks, model.blocks)
                for key, layer in (("attention", block.attention.query), ("mlp", block.gate),
                                   ("down", block.down),
                                   ("output", block.attention.output_dense))]
    for maxima, key, layer in recorded:
        _record(layer, key, maxima)
    try:
        for ids in sequences:
            model(np.asarray([ids], dtype="int32"))
    finally:
        for _, _, layer in recorded:
            del layer.call  # the class's own call again
    return blocks


def factors(x_max, w_max, alpha: float) -> np.ndarray:
    """s = x^alpha / w^(1 - alpha) per channel; 1 where a channel never fired."""
    x_max, w_max = np.asarray(x_max, np.float64), np.asarray(w_max, np.float64)
    s = np.ones_like(x_max)
    live = (x_max > 0) & (w_max > 0)
    s[live] = x_max[live] ** alpha / w_max[live] ** (1.0 - alpha)
    return np.clip(s, MIN_FACTOR, MAX_FACTOR)


def _smooth_block(block, maxima: dict, alpha: float) -> None:
    att = block.attention
    qkv = [att.query.kernel, att.key.kernel, att.value.kernel]
    s = factors(maxima["attention"], np.max([np.abs(k.numpy()).max(1) for k in qkv], 0), alpha)
    block.attention_norm.scale.assign(block.attention_norm.scale.numpy() / s)
    for kernel in qkv:
        kernel.assign(kernel.numpy() * s[:, None])

    gate_up = [block.gate.kernel, block.up.kernel]
    s = factors(maxima["mlp"], np.max([np.abs(k.numpy()).max(1) for k in gate_up], 0), alpha)
    block.mlp_norm.scale.assign(block.mlp_norm.scale.numpy() / s)
    for kernel in gate_up:
        kernel.assign(kernel.numpy() * s[:, None])

    down = block.down.kernel
    s = factors(maxima["down"], np.abs(down.numpy()).max(1), alpha)
    block.up.kernel.assign(block.up.kernel.numpy() / s[None, :])
    down.assign(down.numpy() * s[:, None])

    # Attention output channel (head h, dim d) is value channel (h // groups, d).
    heads, kv, d = att.num_heads, att.num_kv_heads, att.head_dim
    out = att.output_dense.kernel
    x_kv = np.asarray(maxima["output"]).reshape(kv, heads // kv, d).max(1)
    w_kv = np.abs(out.numpy()).max(1).reshape(kv, heads // kv, d).max(1)
    s = factors(x_kv, w_kv, alpha)                                       # [kv, d]
    att.value.kernel.assign(att.value.kernel.numpy() / s.reshape(1, kv * d))
    per_head = np.repeat(s[:, None, :], heads // kv, axis=1).reshape(heads * d)
    out.assign(out.numpy() * per_head[:, None])


def smoothed_copy(model, sequences, alpha: float = 0.5):
    """A new CausalLM equal to `model` in float whose matmul inputs were smoothed with
    factors from `sequences` (token id lists); `model` is left unchanged."""
    from pipeline.models.causal_lm import CausalLM

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha}: must be in [0, 1]")
    copy = CausalLM.from_config(model.get_config())
    copy.build()
    copy.set_weights(model.get_weights())
    for block, maxima in zip(copy.blocks, activation_maxima(copy, sequences)):
        _smooth_block(block, maxima, alpha)
    return copy
