"""A tiny decoder-only causal LM (Llama-style) whose cached call paths export to one `.tflite`
with `prefill` and `decode` signatures that LiteRT's GPU backend runs whole.

    config = CausalLMConfig(vocabulary_size=4096, num_layers=4, hidden_dim=256, num_heads=4,
                            num_kv_heads=2, intermediate_dim=512, max_length=128)
    model = build_causal_lm(config, seed=0)
    logits = model(token_ids)                              # training: [B, T] -> [B, T, V]
    caches = model.empty_caches()                          # [(key, value)] per layer, [1, C, D]
    logits, caches = model.prefill(tokens, length, start, caches)   # [1, P] -> [1, V]
    logits, caches = model.decode(token, position, caches)          # [1, 1] -> [1, V]

Blocks: keras-hub `ReversibleEmbedding` (tied input/output table, stored once in the file),
keras-hub `RotaryEmbedding` (subclassed: see `RotaryEmbedding`), RMSNorm, grouped-query attention, SwiGLU MLP (sigmoid and multiplies: no
GELU, no erf). Every path goes through the same layers and weights; the graph is written for
the phone's delegates at the source, whatever the batch:
  * token ids are flattened before the embedding gather (the GPU backend takes GATHER only
    with 1-D indices);
  * heads are folded into the batch axis ([B*heads, T, head_dim]) before the rotary
    embedding, whose rotate-half stacks on a new axis: rank 4 there, never 5;
  * grouped-query attention needs no key/value repeat: the query heads of one key/value head
    are contiguous, so [B*heads, T, d] reshapes to [B*kv_heads, group*T, d] and meets its
    keys in one batched matmul;
  * masks are an additive bias computed in float from positions,
    `max(min(q_pos - k_pos, 0), -1) * 1e4` (0 or -1e4: exact zero weight after softmax, and
    safe in fp16), the same formula for training (causal) and for the cache;
  * positions, the mask and the cache's one-hot rows are broadcast as rank-4 tensors
    (`as_4d`): the GPU backend computed `start [1] + arange(T)` (a run-time [1] against a
    constant [T]) wrongly, and a [V, H] + [1, 1] add too;
  * the cache is per layer a key and a value tensor [1, C, kv_heads*head_dim] (rotated
    keys), written at run-time positions. `cache_update="mask"` (default) writes
    `cache * (1 - w) + onehot @ new` with the one-hot matrix built in float from the
    positions (rows outside [0, C) are simply not written); `"slice"` uses
    DYNAMIC_UPDATE_SLICE at the run-time start. Both were measured fully accelerated and
    exact on the GPU backend; slice is ~10 % faster on XNNPACK, but it clamps a start whose
    chunk runs past C (overwriting real entries), so it is not the default.
Padding rows of a prefill chunk (positions >= start + length) write junk into the cache;
every later query masks keys past its own position, and the next chunk or decode step
overwrites those rows before any query can see them.
"""

from __future__ import annotations

import dataclasses

import keras
import keras_hub
import numpy as np
from keras import ops

MASK_PENALTY = 1e4  # additive bias of a masked key: e^-1e4 == 0 in float32, finite in fp16
CACHE_UPDATES = ("mask", "slice")


@dataclasses.dataclass(frozen=True)
class CausalLMConfig:
    """Sizes of the model; max_length is the cache length C (prompt + generated tokens)."""
    vocabulary_size: int = 4096
    num_layers: int = 4
    hidden_dim: int = 256
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_dim: int = 512
    max_length: int = 128
    rope_max_wavelength: float = 10000.0
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02

    def __post_init__(self):
        checks = [
            (self.vocabulary_size >= 2, "vocabulary_size must be >= 2"),
            (1 <= self.num_layers <= 64, "num_layers must be in 1..64"),
            (self.num_heads >= 1 and self.hidden_dim % self.num_heads == 0,
             "num_heads must divide hidden_dim"),
            (self.num_kv_heads >= 1 and self.num_heads % self.num_kv_heads == 0,
             "num_kv_heads must divide num_heads"),
            ((self.hidden_dim // max(self.num_heads, 1)) % 2 == 0,
             "hidden_dim / num_heads must be even (rotary embedding)"),
            (self.intermediate_dim >= 1 and self.max_length >= 2,
             "intermediate_dim must be >= 1 and max_length >= 2"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"CausalLMConfig: {message}")

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    @property
    def cache_dim(self) -> int:
        return self.num_kv_heads * self.head_dim


def as_4d(x, axis):
    """A float vector as a rank-4 tensor with its entries on `axis` (the others 1). Why: the
    GPU backend computes a broadcast of a run-time [1] against a constant [T] wrongly (start
    + arange gave wrong positions), while the same arithmetic on rank-4 shapes is exact."""
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    return ops.reshape(x, shape)


def positions_from(start, length: int):
    """float [T]: start (int32 [1]) + 0..T-1, added as rank-4 tensors (see as_4d)."""
    start = as_4d(ops.cast(start, "float32"), 3)
    return ops.reshape(start + as_4d(ops.cast(ops.arange(length), "float32"), 2), (length,))


def attention_bias(query_positions, key_positions):
    """[1, 1, Tq, Tk] additive mask: 0 where key position <= query position, else -1e4.
    Positions are float vectors; float ops only (no bool tensors, no SELECT), rank 4."""
    diff = as_4d(query_positions, 2) - as_4d(key_positions, 3)
    return ops.maximum(ops.minimum(diff, 0.0), -1.0) * MASK_PENALTY


def write_cache(cache, new, positions, start, mode="mask"):
    """`cache` [1, C, D] with rows `positions` (float [T], = start + 0..T-1) set to `new`
    [1, T, D]. mask: one-hot in float (exact: products with 1 and sums with 0), broadcasts
    in rank 4; slice: DYNAMIC_UPDATE_SLICE at the int32 `start` [1]."""
    if mode not in CACHE_UPDATES:
        raise ValueError(f"cache_update {mode!r}: must be one of {CACHE_UPDATES}")
    if mode == "slice":
        index = ops.concatenate([ops.zeros((1,), "int32"), start, ops.zeros((1,), "int32")])
        return ops.slice_update(cache, index, new)
    c, t, d = cache.shape[1], new.shape[1], cache.shape[2]
    rows = as_4d(ops.cast(ops.arange(c), "float32"), 2)                 # [1, 1, C, 1]
    onehot = 1.0 - ops.minimum(ops.abs(rows - as_4d(positions, 3)), 1.0)  # [1, 1, C, T]
    if t == 1:                                                           # decode: a broadcast
        written = onehot
        placed = onehot * ops.reshape(new, (1, 1, 1, d))
    else:
        written = ops.sum(onehot, axis=3, keepdims=True)                 # [1, 1, C, 1]
        placed = ops.reshape(ops.matmul(ops.reshape(onehot, (c, t)),
                                        ops.reshape(new, (t, d))), (1, 1, c, d))
    updated = ops.reshape(cache, (1, 1, c, d)) * (1.0 - written) + placed
    return ops.reshape(updated, (1, c, d))


def _initializer(stddev):
    """A new initializer per weight: one unseeded instance shared by several weights gives
    them all the same values (seen here: gate == up, key == value, which the converter then
    stores once)."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


@keras.saving.register_keras_serializable(package="pipeline")
class RMSNorm(keras.layers.Layer):
    """x * rsqrt(mean(x^2) + eps) * scale, computed on x / max|x| so that no square leaves
    float16's range (ABS, MAX, DIV, MUL, SQUARE, MEAN, ADD, RSQRT: every delegate has them).

    Why: LiteRT's GPU backend computes in float16 by default (largest value 65504), and a
    pretrained LLM's residual stream reaches large values (SmolLM2: about 25,000 from layer 11
    on, measured here), whose squares are ~6e8. With y = x / m, m = max|x| per row,
    x * rsqrt(mean(x^2) + eps) = y * rsqrt(mean(y^2) + (sqrt(eps) / m)^2) exactly, for any
    m > 0; every y^2 is <= 1 and their mean >= 1 / dim, so float16 holds it at any scale. A
    fixed pre-scale does not: it pushes the small layers' squares below float16's normal range.
    """

    MIN_MAX = 1e-4  # m's floor: keeps an all-zero row finite (exact for any m > 0)

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],),
                                     initializer="ones")

    def call(self, x):
        inverse = 1.0 / ops.maximum(ops.max(ops.abs(x), axis=-1, keepdims=True),
                                    ops.cast(self.MIN_MAX, x.dtype))
        y = x * inverse
        # SQUARE, not y * y: ML Drift (the GPU backend) aborts on a node that takes one
        # tensor as two inputs ("Node .. is already a consumer of the value ..")
        variance = ops.mean(ops.square(y), axis=-1, keepdims=True)
        floor = ops.square(inverse * ops.cast(np.sqrt(self.epsilon), x.dtype))  # (sqrt(eps)/m)^2
        # y * (rsqrt * scale), not (y * rsqrt) * scale: the converter folds a constant MUL
        # that feeds a matmul into its weights, which for the final norm would store the tied
        # embedding a second time (+113 MB in SmolLM2's file)
        return y * (ops.rsqrt(variance + floor) * self.scale)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="pipeline")
class RotaryEmbedding(keras_hub.layers.RotaryEmbedding):
    """keras-hub's rotary embedding (any rope type but yarn) with the angles computed against the
    inverse frequencies already repeated, [f, f] (the same values keras-hub gets by stacking
    `(freq, freq)`): that PACK takes one tensor twice, which aborts the GPU backend."""

    def _compute_cos_sin_embedding(self, inputs, start_index=0, positions=None):
        if self.rope_type == "yarn" or positions is None:
            return super()._compute_cos_sin_embedding(inputs, start_index, positions)
        inverse_freq = self._get_inverse_freq(ops.shape(inputs)[-1])
        inverse_freq = ops.concatenate([inverse_freq, inverse_freq])    # a constant
        angles = ops.reshape(ops.cast(positions, "float32"), (1, -1, 1))  # call() made it 2-D
        angles = angles * ops.reshape(inverse_freq, (1, 1, -1))         # [1, T, d]
        return (ops.cast(ops.cos(angles), self.compute_dtype),
                ops.cast(ops.sin(angles), self.compute_dtype))


@keras.saving.register_keras_serializable(package="pipeline")
class CachedAttention(keras.layers.Layer):
    """Grouped-query self-attention with rotary positions, with or without a KV cache."""

    def __init__(self, num_heads, num_kv_heads, head_dim, rope_max_wavelength=10000.0,
                 initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.rope_max_wavelength, self.initializer_range = rope_max_wavelength, initializer_range

        def dense(units, name):
            return keras.layers.Dense(units, use_bias=False,
                                      kernel_initializer=_initializer(initializer_range),
                                      name=name, dtype=self.dtype_policy)
        self.query = dense(num_heads * head_dim, "query")
        self.key = dense(num_kv_heads * head_dim, "key")
        self.value = dense(num_kv_heads * head_dim, "value")
        self.output_dense = None  # built in build(): needs the hidden size
        self.rotary = RotaryEmbedding(max_wavelength=rope_max_wavelength,
                                      dtype=self.dtype_policy, name="rotary")

    def build(self, input_shape):
        self.query.build(input_shape)
        self.key.build(input_shape)
        self.value.build(input_shape)
        self.output_dense = keras.layers.Dense(input_shape[-1], use_bias=False,
                                               kernel_initializer=_initializer(
                                                   self.initializer_range),
                                               name="attention_output",
                                               dtype=self.dtype_policy)
        self.output_dense.build((*input_shape[:-1], self.num_heads * self.head_dim))

    def _split(self, x, heads):
        """[B, T, heads*d] -> [B*heads, T, d]."""
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        if heads == 1:  # no transpose of a size-1 axis: LiteRT's GPU backend gets that wrong
            return ops.reshape(x, (b, t, self.head_dim))  # (measured: [1,T,1,d] -> [1,1,T,d])
        x = ops.transpose(ops.reshape(x, (b, t, heads, self.head_dim)), (0, 2, 1, 3))
        return ops.reshape(x, (b * heads, t, self.head_dim))

    def _merge(self, x, heads, batch):
        """[B*heads, T, d] -> [B, T, heads*d]."""
        t = ops.shape(x)[1]
        if heads == 1:  # as in _split
            return ops.reshape(x, (batch, t, self.head_dim))
        x = ops.transpose(ops.reshape(x, (batch, heads, t, self.head_dim)), (0, 2, 1, 3))
        return ops.reshape(x, (batch, t, heads * self.head_dim))

    def call(self, x, positions, cache=None, start=None, cache_update="mask"):
        """x [B, T, H]; positions float [T]. Without a cache: causal self-attention over the
        T tokens. With cache = (key, value) [1, C, D] (batch 1): the T new keys/values are
        written at `positions` first, then the queries attend over all C rows.
        Returns (output [B, T, H], new cache or None)."""
        batch = ops.shape(x)[0]
        groups = self.num_heads // self.num_kv_heads
        q = self.rotary(self._split(self.query(x), self.num_heads), positions=positions)
        k = self.rotary(self._split(self.key(x), self.num_kv_heads), positions=positions)
        v = self._split(self.value(x), self.num_kv_heads)
        key_positions = positions
        new_cache = None
        if cache is not None:
            key_cache = write_cache(cache[0], self._merge(k, self.num_kv_heads, 1), positions,
                                    start, cache_update)
            value_cache = write_cache(cache[1], self._merge(v, self.num_kv_heads, 1),
                                      positions, start, cache_update)
            new_cache = (key_cache, value_cache)
            k = self._split(key_cache, self.num_kv_heads)
            v = self._split(value_cache, self.num_kv_heads)
            key_positions = ops.cast(ops.arange(ops.shape(key_cache)[1]), "float32")
        t, s = ops.shape(q)[1], ops.shape(k)[1]
        q = q * ops.cast(1.0 / np.sqrt(self.head_dim), q.dtype)
        q = ops.reshape(q, (batch * self.num_kv_heads, groups * t, self.head_dim))
        scores = ops.matmul(q, ops.transpose(k, (0, 2, 1)))             # [B*kv, g*T, S]
        scores = ops.reshape(scores, (batch * self.num_kv_heads, groups, t, s))
        scores = ops.reshape(scores + attention_bias(positions, key_positions),
                             (batch * self.num_kv_heads, groups * t, s))
        # the softmax after the reshape back, not before: the converter folds a RESHAPE that
        # feeds BATCH_MATMUL into a broadcasting one ([1, g, T, S] x [1, S, d] for one
        # key/value head), which LiteRT's GPU backend computes wrongly (measured: any
        # BATCH_MATMUL whose left batch dims [1, g] broadcast against the right's [1])
        probs = ops.softmax(scores, axis=-1)
        out = ops.reshape(ops.matmul(probs, v), (batch * self.num_heads, t, self.head_dim))
        return self.output_dense(self._merge(out, self.num_heads, batch)), new_cache

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads,
                "num_kv_heads": self.num_kv_heads, "head_dim": self.head_dim,
                "rope_max_wavelength": self.rope_max_wavelength,
                "initializer_range": self.initializer_range}


@keras.saving.register_keras_serializable(package="pipeline")
class DecoderBlock(keras.layers.Layer):
    """Pre-norm block: x + attn(norm(x)), then + down(silu(gate(.)) * up(.))."""

    def __init__(self, num_heads, num_kv_heads, head_dim, intermediate_dim,
                 rope_max_wavelength=10000.0, layer_norm_epsilon=1e-5, initializer_range=0.02,
                 **kwargs):
        super().__init__(**kwargs)
        self._args = dict(num_heads=num_heads, num_kv_heads=num_kv_heads, head_dim=head_dim,
                          intermediate_dim=intermediate_dim,
                          rope_max_wavelength=rope_max_wavelength,
                          layer_norm_epsilon=layer_norm_epsilon,
                          initializer_range=initializer_range)
        self.attention_norm = RMSNorm(layer_norm_epsilon, name="attention_norm",
                                      dtype=self.dtype_policy)
        self.attention = CachedAttention(num_heads, num_kv_heads, head_dim, rope_max_wavelength,
                                         initializer_range, name="attention",
                                         dtype=self.dtype_policy)
        self.mlp_norm = RMSNorm(layer_norm_epsilon, name="mlp_norm", dtype=self.dtype_policy)
        self.gate = keras.layers.Dense(intermediate_dim, use_bias=False, name="gate",
                                       kernel_initializer=_initializer(initializer_range),
                                       dtype=self.dtype_policy)
        self.up = keras.layers.Dense(intermediate_dim, use_bias=False, name="up",
                                     kernel_initializer=_initializer(initializer_range),
                                     dtype=self.dtype_policy)
        self.down = None

    def build(self, input_shape):
        hidden = input_shape[-1]
        inner = (*input_shape[:-1], self._args["intermediate_dim"])
        for layer in (self.attention_norm, self.attention, self.mlp_norm, self.gate, self.up):
            layer.build(input_shape)
        self.down = keras.layers.Dense(hidden, use_bias=False, name="down",
                                       kernel_initializer=_initializer(
                                           self._args["initializer_range"]),
                                       dtype=self.dtype_policy)
        self.down.build(inner)

    def call(self, x, positions, cache=None, start=None, cache_update="mask"):
        h, cache = self.attention(self.attention_norm(x), positions, cache=cache, start=start,
                                  cache_update=cache_update)
        x = x + h
        y = self.mlp_norm(x)
        gate = self.gate(y)
        return x + self.down(gate * ops.sigmoid(gate) * self.up(y)), cache

    def get_config(self):
        return {**super().get_config(), **self._args}


@keras.saving.register_keras_serializable(package="pipeline")
class CausalLM(keras.Model):
    """Token ids [B, T] -> next-token logits [B, T, V]; `prefill`/`decode` use a KV cache."""

    def __init__(self, vocabulary_size, num_layers, hidden_dim, num_heads, num_kv_heads,
                 intermediate_dim, max_length, rope_max_wavelength=10000.0,
                 layer_norm_epsilon=1e-5, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.config = CausalLMConfig(vocabulary_size, num_layers, hidden_dim, num_heads,
                                     num_kv_heads, intermediate_dim, max_length,
                                     rope_max_wavelength, layer_norm_epsilon, initializer_range)
        cfg = self.config
        self.token_embedding = keras_hub.layers.ReversibleEmbedding(
            vocabulary_size, hidden_dim, tie_weights=True, name="token_embedding",
            embeddings_initializer=_initializer(initializer_range))
        self.blocks = [DecoderBlock(num_heads, num_kv_heads, cfg.head_dim, intermediate_dim,
                                    rope_max_wavelength, layer_norm_epsilon, initializer_range,
                                    name=f"block_{i}") for i in range(num_layers)]
        self.final_norm = RMSNorm(layer_norm_epsilon, name="final_norm")

    def build(self, input_shape=None):
        hidden = (None, None, self.config.hidden_dim)
        self.token_embedding.build((None,))
        for block in self.blocks:
            block.build(hidden)
        self.final_norm.build(hidden)
        super().build((None, None))

    def embed(self, token_ids, table_offset=None):
        """[B, T] int ids -> [B, T, H], gathering on 1-D ids. table_offset: a run-time zero
        added to the table first (the fp16-weights file: LiteRT's GPU backend refuses GATHER
        on a DEQUANTIZEd float16 constant, see export/graph_shaping.py)."""
        b, t = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        flat = ops.reshape(token_ids, (-1,))
        if table_offset is None:
            x = self.token_embedding(flat)
        else:
            # [1, V, H] + [1, 1, 1], gathered on axis 1: the shapes the GPU backend computes
            # right (a [V, H] + [1, 1] broadcast came out wrong there)
            table = ops.reshape(self.token_embedding.embeddings, (1, -1, self.config.hidden_dim))
            x = ops.take(table + ops.reshape(table_offset, (1, 1, 1)), flat, axis=1)
        return ops.reshape(x, (b, t, self.config.hidden_dim))

    def call(self, token_ids):
        t = ops.shape(token_ids)[1]
        positions = ops.cast(ops.arange(t), "float32")
        x = self.embed(token_ids)
        for block in self.blocks:
            x, _ = block(x, positions)
        return self.token_embedding(self.final_norm(x), reverse=True)

    def empty_caches(self):
        """Zero caches, batch 1: [(key [1, C, D], value [1, C, D])] per layer."""
        shape = (1, self.config.max_length, self.config.cache_dim)
        return [(ops.zeros(shape), ops.zeros(shape)) for _ in self.blocks]

    def _cached(self, token_ids, start, caches, cache_update, table_offset):
        t = ops.shape(token_ids)[1]
        positions = positions_from(start, token_ids.shape[1])
        x = self.embed(token_ids, table_offset)
        new_caches = []
        for block, cache in zip(self.blocks, caches):
            x, cache = block(x, positions, cache=cache, start=start, cache_update=cache_update)
            new_caches.append(cache)
        # [T, H] by a reshape: x[0] is a STRIDED_SLICE with shrink_axis_mask, which the GPU
        # backend refuses
        return ops.reshape(x, (t, self.config.hidden_dim)), new_caches

    def prefill(self, tokens, length, start, caches, cache_update="mask", table_offset=None):
        """tokens int32 [1, P] (the first `length` [1] real, the rest padding) written at
        positions start [1] + 0..P-1 -> (logits of the last real token [1, V], caches)."""
        x, caches = self._cached(tokens, start, caches, cache_update, table_offset)
        last = ops.take(x, ops.cast(length, "int32") - 1, axis=0)        # [1, H], 1-D index
        return self.token_embedding(self.final_norm(last), reverse=True), caches

    def decode(self, token, position, caches, cache_update="mask", table_offset=None):
        """token int32 [1, 1] at position [1] -> (logits [1, V], caches)."""
        x, caches = self._cached(token, position, caches, cache_update, table_offset)
        return self.token_embedding(self.final_norm(x), reverse=True), caches

    def get_config(self):
        return {**super().get_config(), **dataclasses.asdict(self.config)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_causal_lm(config: CausalLMConfig, seed: int = 0) -> CausalLM:
    """A built CausalLM with seeded initial weights."""
    keras.utils.set_random_seed(seed)
    model = CausalLM(**dataclasses.asdict(config))
    model.build()
    return model


def count_params(model: CausalLM) -> int:
    """Distinct parameters (the tied embedding once)."""
    return int(sum(np.prod(w.shape) for w in model.weights))


def greedy_reference(model: CausalLM, prompt_ids, max_new_tokens: int, stop_ids=()) -> list:
    """Greedy tokens from the full-sequence forward pass (no cache): the reference the cached
    paths and the exported files are compared with."""
    ids = [int(i) for i in prompt_ids]
    out = []
    for _ in range(max_new_tokens):
        if len(ids) >= model.config.max_length:
            break
        logits = ops.convert_to_numpy(model(np.array([ids], np.int32)))[0, -1]
        token = int(np.argmax(logits))
        out.append(token)
        ids.append(token)
        if token in stop_ids:
            break
    return out
