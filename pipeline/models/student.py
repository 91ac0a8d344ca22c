"""The student: a small BERT-style encoder shaped for phone GPU and NNAPI delegates.

Inputs are three int32 tensors of a fixed length L, as BERT and the TFLite Task Library's
`BertNLClassifier` expect: `token_ids`, `padding_mask` (1 = token, 0 = padding) and
`segment_ids`. Choices made for the delegates, at the source:
  * token embeddings gather on ids flattened to 1-D (the GPU delegate's GATHER takes only
    1-D indices), then reshape back to [batch, L, hidden];
  * position embeddings are a weight added whole (no gather), segment embeddings a
    two-row interpolation (no gather);
  * everything else is keras-hub `TransformerEncoder` blocks; no int64, rank <= 4.

    backbone = StudentBackbone(vocabulary_size=8000, sequence_length=64)
    classifier = build_classifier(backbone, num_classes=2)

Serving graphs: the models and the layers here that a delegate cares about take `target`
(None, the default, is the training graph: keras-hub's layers as they are). `TARGETS` says
what each delegate's batch-1 graph gets, `FlatTokenEmbedding.call` and
`DelegateTransformerEncoder.call` show how; `export.graph_shaping.shaped_for` rebuilds a
trained model with a target, and picks the target of each exported file.
"""

import dataclasses
import math

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

GPU = "gpu"            # LiteRT GPU backend: the fp32 and int8_dynamic files
GPU_FP16 = "gpu_fp16"  # LiteRT GPU backend, float16 weights (the fp16 file)
NNAPI = "nnapi"        # Android NNAPI delegate: the full-integer int8_full file
# Additive attention mask (mask - 1) * penalty. int8: e^-30 ~ 1e-13 gives masked keys no
# weight while the scores keep ~0.15 per int8 step (full-integer quantization gives masked
# and real scores one scale, so -1e9 would wipe out their range). Float: safe in fp16.
FLOAT_MASK_PENALTY = 1e4
INT8_MASK_PENALTY = 30.0


@dataclasses.dataclass(frozen=True)
class Target:
    """What one delegate's batch-1 serving graph gets (see the layers' `call`)."""
    name: str
    mask_penalty: float           # the additive attention mask's size
    flat_token_ids: bool          # gather on 1-D ids (the GPU backend's GATHER)
    runtime_table: bool = False   # the gather table goes through a run-time ADD first


TARGETS = {
    GPU: Target(GPU, FLOAT_MASK_PENALTY, flat_token_ids=True),
    GPU_FP16: Target(GPU_FP16, FLOAT_MASK_PENALTY, flat_token_ids=True, runtime_table=True),
    # NNAPI rejects an int32 RESHAPE but takes GATHER on [1, L] ids as they come.
    NNAPI: Target(NNAPI, INT8_MASK_PENALTY, flat_token_ids=False),
}


def target_spec(target):
    """The `Target` named `target` (None for the training graph); ValueError if unknown."""
    if target is None:
        return None
    if target not in TARGETS:
        raise ValueError(f"unknown serving target {target!r}; choose from {sorted(TARGETS)}")
    return TARGETS[target]


@keras.saving.register_keras_serializable(package="pipeline")
class FlatTokenEmbedding(keras_hub.layers.ReversibleEmbedding):
    """ReversibleEmbedding whose lookup gathers on 1-D indices (GPU-delegate friendly).

    `target`: None, GPU: gather on the flattened ids; NNAPI: gather on the ids as they come
    (the delegate rejects the int32 RESHAPE); GPU_FP16: flattened ids, and the table gets a
    run-time zero first (the GPU backend refuses GATHER on a DEQUANTIZEd fp16 constant,
    "GATHER: Input / output dtype mismatch"; one ADD over V x H values per invoke)."""

    def __init__(self, *args, target=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.target = target
        self._target_spec = target_spec(target)

    def call(self, inputs, reverse=False):
        if reverse:
            return super().call(inputs, reverse=True)
        spec = self._target_spec
        if spec is not None and not spec.flat_token_ids:
            return tf.gather(self.embeddings, ops.cast(inputs, "int32"))
        length = inputs.shape[-1]
        if length is None:  # a length-bucketed training batch (the serving graphs are static)
            length = ops.shape(inputs)[-1]
        flat = ops.reshape(ops.cast(inputs, "int32"), (-1,))
        # tf.gather, not ops.take: take's negative-index handling adds LESS/ADD/SELECT ops.
        # Gathering rows of the [1, V, H] table on axis 1 gives a [1, B*L, H] result: with a
        # 2-D [B*L, H] result the converter folds the reshape away, and the LiteRT GPU backend
        # computes a later ADD of that 2-D tensor and an [L, H] constant (the positions)
        # wrongly (see tests/test_gpu.py).
        table = ops.expand_dims(self.embeddings, 0)
        if spec is not None and spec.runtime_table:
            first = ops.cast(ops.minimum(ops.cast(inputs, "int32")[:1, :1], 0), table.dtype)
            table = table + ops.reshape(first, (1, 1, 1))
        vectors = tf.gather(table, flat, axis=1)
        return ops.reshape(vectors, (-1, length, self.output_dim))

    def compute_output_shape(self, input_shape, reverse=False):
        return super().compute_output_shape(input_shape, reverse=reverse)

    def get_config(self):
        return {**super().get_config(), "target": self.target}


@keras.saving.register_keras_serializable(package="pipeline")
class PositionAndSegmentEmbedding(keras.layers.Layer):
    """Adds learned position embeddings (whole [L, H] weight) and a 2-way segment embedding."""

    def __init__(self, sequence_length, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.positions = self.add_weight(
            name="positions", shape=(self.sequence_length, self.hidden_dim), initializer=init)
        self.segments = self.add_weight(name="segments", shape=(2, self.hidden_dim), initializer=init)

    def call(self, token_vectors, segment_ids):
        seg = ops.expand_dims(ops.cast(segment_ids, token_vectors.dtype), -1)
        segment_vectors = self.segments[0] + seg * (self.segments[1] - self.segments[0])
        # Positions join the [B, L, H] segment vectors before the token vectors: the converter
        # turns `tokens + positions` into an ADD of the [L, H] gather output and an [L, H]
        # constant, which the LiteRT GPU backend computes wrongly (max error ~5 seen on
        # lavapipe, against 0 for this order).
        positions = self.positions
        if token_vectors.shape[1] != self.sequence_length:  # a shorter bucket (training only)
            positions = positions[:ops.shape(token_vectors)[1]]
        return token_vectors + (segment_vectors + positions)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "hidden_dim": self.hidden_dim}


def float_attention_mask(padding_mask=None, attention_mask=None):
    """The attention mask as float32 [B, 1 or T, S] (1 = attend), or None: keras-hub's
    `merge_padding_and_attention_mask` for explicit masks (these models set no Keras mask),
    without its bool casts and int32 RESHAPE, which the NNAPI delegate rejects."""
    mask = None
    if padding_mask is not None:
        mask = ops.expand_dims(ops.cast(padding_mask, "float32"), axis=1)
    if attention_mask is not None:
        attention_mask = ops.cast(attention_mask, "float32")
        mask = attention_mask if mask is None else ops.minimum(mask, attention_mask)
    return mask


def batch_one_attention(attention, x, mask, penalty):
    """Self-attention of a keras `MultiHeadAttention` (its weights) on x [1, L, H], written as
    the delegates take it: per head, `q_h @ k_h^T` and `p_h @ v_h` as 2-D matmuls (converted
    to FULLY_CONNECTED with run-time weights; the rank-4 einsums become BATCH_MATMUL, which
    NNAPI lacks), and the float `mask` [1, 1 or L, L] as a bias `(mask - 1) * penalty` added
    before SOFTMAX (Keras' `where(mask, scores, -1e9)` is a SELECT_V2 and a bool CAST)."""
    query = attention.query_dense(x)                               # [1, T, N, dk]
    key = attention.key_dense(x)                                   # [1, S, N, dk]
    value = attention.value_dense(x)                               # [1, S, N, dv]
    _, t, heads, key_dim = query.shape
    s, value_dim = key.shape[1], value.shape[-1]
    query = ops.multiply(query, ops.cast(1.0 / math.sqrt(float(key_dim)), query.dtype))
    bias = None
    if mask is not None:
        static = tf.get_static_value(mask)                          # a causal mask is constant
        if static is not None:
            bias = ((static - 1.0) * penalty).reshape(tuple(mask.shape[-2:]))
        else:
            bias = ops.reshape((mask - 1.0) * penalty, tuple(mask.shape[-2:]))
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
        scores = tf.matmul(q, k, transpose_b=True)                 # [T, S]
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
    return attention.output_dense(output)


@keras.saving.register_keras_serializable(package="pipeline")
class DelegateTransformerEncoder(keras_hub.layers.TransformerEncoder):
    """keras-hub's TransformerEncoder (same weights) writing one delegate's batch-1 graph.

    At inference on a static batch of 1 (what the exporter traces): keras-hub's math with a
    float mask (`float_attention_mask`) and `batch_one_attention` with the target's mask
    penalty. Any other batch (Keras' symbolic build, batched predict) or training runs
    keras-hub's `call`.
    """

    def __init__(self, *args, target, **kwargs):
        super().__init__(*args, **kwargs)
        self.target = target
        self._target_spec = target_spec(target)
        if self._target_spec is None:
            raise ValueError("DelegateTransformerEncoder needs a serving target; train with "
                             "keras_hub.layers.TransformerEncoder (see transformer_encoder)")

    def call(self, inputs, padding_mask=None, attention_mask=None, training=None,
             return_attention_scores=False):
        if training or return_attention_scores or inputs.shape[0] != 1 \
                or None in tuple(inputs.shape):
            return super().call(inputs, padding_mask=padding_mask, attention_mask=attention_mask,
                                training=training,
                                return_attention_scores=return_attention_scores)
        # keras-hub's TransformerEncoder.call, with the attention written out (its sublayers).
        mask = float_attention_mask(padding_mask, attention_mask)
        x = residual = inputs
        if self.normalize_first:
            x = self._self_attention_layer_norm(x)
        attention = self._self_attention_layer
        # Its name scope opened twice, as a Keras layer call does (build, then call): the
        # tensor names, hence the file's bytes, are those of the attention layer's own call.
        with keras.name_scope(attention.name):
            pass
        with keras.name_scope(attention.name):
            x = batch_one_attention(attention, x, mask, self._target_spec.mask_penalty)
        x = self._self_attention_dropout(x, training=training)
        x = x + residual
        if not self.normalize_first:
            x = self._self_attention_layer_norm(x)
        residual = x
        if self.normalize_first:
            x = self._feedforward_layer_norm(x)
        x = self._feedforward_intermediate_dense(x)
        x = self._feedforward_output_dense(x)
        x = self._feedforward_dropout(x, training=training)
        x = x + residual
        if not self.normalize_first:
            x = self._feedforward_layer_norm(x)
        return x

    def get_config(self):
        return {**super().get_config(), "target": self.target}


def transformer_encoder(target=None, **kwargs):
    """An encoder block: keras-hub's `TransformerEncoder` for training (target None; also the
    class that saved model files name its weights by), `DelegateTransformerEncoder` for a
    serving target. Both have the same weights."""
    if target is None:
        return keras_hub.layers.TransformerEncoder(**kwargs)
    return DelegateTransformerEncoder(target=target, **kwargs)


@keras.saving.register_keras_serializable(package="pipeline")
class StudentBackbone(keras_hub.models.Backbone):
    """Encoder: ids, mask, segments [B, L] int32 -> {"sequence_output", "pooled_output"}.

    `target` (None: the training graph) is passed to the token embedding and the encoder
    blocks: the serving graph of one delegate (`TARGETS`), same weights."""

    def __init__(self, vocabulary_size, sequence_length, num_layers=2, hidden_dim=128,
                 num_heads=2, intermediate_dim=512, activation="relu", dropout=0.1, target=None,
                 **kwargs):
        # The training graph takes any length up to sequence_length (length-bucketed batches,
        # pipeline/stages); a serving graph (a target) takes exactly sequence_length.
        length = sequence_length if target else None
        token_ids = keras.Input(shape=(length,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(length,), dtype="int32", name="padding_mask")
        segment_ids = keras.Input(shape=(length,), dtype="int32", name="segment_ids")
        token_embedding = FlatTokenEmbedding(
            vocabulary_size, hidden_dim, tie_weights=True,
            embeddings_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            target=target, name="token_embedding")
        x = token_embedding(token_ids)
        x = PositionAndSegmentEmbedding(sequence_length, hidden_dim, name="position_embedding")(
            x, segment_ids)
        x = keras.layers.LayerNormalization(epsilon=1e-12, name="embeddings_layer_norm")(x)
        x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
        for i in range(num_layers):
            x = transformer_encoder(
                intermediate_dim=intermediate_dim, num_heads=num_heads, dropout=dropout,
                activation=activation, layer_norm_epsilon=1e-12,
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                target=target, name=f"transformer_layer_{i}")(x, padding_mask=padding_mask)
        # The [CLS] vector, sliced as [B, 1, H] then reshaped: a slice that drops the axis
        # (shrink_axis_mask) is refused by the LiteRT GPU backend.
        cls = ops.reshape(x[:, :1, :], (-1, hidden_dim))
        pooled = keras.layers.Dense(hidden_dim, activation="tanh", name="pooled_dense")(cls)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask, "segment_ids": segment_ids},
            outputs={"sequence_output": x, "pooled_output": pooled}, **kwargs)
        self.token_embedding = token_embedding
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.activation = activation
        self.dropout = dropout
        self.target = target

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "num_layers": self.num_layers,
                "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim, "activation": self.activation,
                "dropout": self.dropout, "target": self.target}


def build_backbone(model_config, vocabulary_size: int, sequence_length: int) -> StudentBackbone:
    return StudentBackbone(
        vocabulary_size=vocabulary_size, sequence_length=sequence_length,
        num_layers=model_config.num_layers, hidden_dim=model_config.hidden_dim,
        num_heads=model_config.num_heads, intermediate_dim=model_config.intermediate_dim,
        activation=model_config.activation, dropout=model_config.dropout)


def build_classifier(backbone: StudentBackbone, num_classes: int, dropout: float = 0.1) -> keras.Model:
    """Backbone + dropout + dense logits; inputs are the backbone's three int32 tensors."""
    pooled = backbone(backbone.input)["pooled_output"]
    x = keras.layers.Dropout(dropout, name="classifier_dropout")(pooled)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(backbone.input, logits, name="student_classifier")


def build_masked_lm(backbone: StudentBackbone, mask_selection_length: int) -> keras.Model:
    """Backbone + keras-hub MaskedLMHead tied to the token embedding; extra input mask_positions."""
    mask_positions = keras.Input(shape=(mask_selection_length,), dtype="int32", name="mask_positions")
    sequence = backbone(backbone.input)["sequence_output"]
    logits = keras_hub.layers.MaskedLMHead(
        token_embedding=backbone.token_embedding, intermediate_activation="gelu",
        name="mlm_head")(sequence, mask_positions=mask_positions)
    return keras.Model({**backbone.input, "mask_positions": mask_positions}, logits, name="student_mlm")
