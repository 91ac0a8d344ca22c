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
"""

import keras
import keras_hub
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="pipeline")
class FlatTokenEmbedding(keras_hub.layers.ReversibleEmbedding):
    """ReversibleEmbedding whose lookup gathers on 1-D indices (GPU-delegate friendly).

    `flat_token_ids` (a class attribute) is switched off by `export.graph_shaping` while a
    graph for the NNAPI delegate is traced: that delegate rejects the int32 RESHAPE but takes
    GATHER on [batch, L] ids as they come."""

    flat_token_ids = True
    runtime_table = False  # export.graph_shaping's GPU_FP16 graph (float16-weights file)

    def call(self, inputs, reverse=False):
        if reverse:
            return super().call(inputs, reverse=True)
        if not FlatTokenEmbedding.flat_token_ids:
            return tf.gather(self.embeddings, ops.cast(inputs, "int32"))
        length = inputs.shape[-1]
        flat = ops.reshape(ops.cast(inputs, "int32"), (-1,))
        # tf.gather, not ops.take: take's negative-index handling adds LESS/ADD/SELECT ops.
        # Gathering rows of the [1, V, H] table on axis 1 gives a [1, B*L, H] result: with a
        # 2-D [B*L, H] result the converter folds the reshape away, and the LiteRT GPU backend
        # computes a later ADD of that 2-D tensor and an [L, H] constant (the positions)
        # wrongly (see tests/test_gpu.py).
        table = ops.expand_dims(self.embeddings, 0)
        if FlatTokenEmbedding.runtime_table:
            # + a run-time zero: the GPU backend refuses GATHER on a DEQUANTIZEd fp16 constant.
            first = ops.cast(ops.minimum(ops.cast(inputs, "int32")[:1, :1], 0), table.dtype)
            table = table + ops.reshape(first, (1, 1, 1))
        vectors = tf.gather(table, flat, axis=1)
        return ops.reshape(vectors, (-1, length, self.output_dim))

    def compute_output_shape(self, input_shape, reverse=False):
        return super().compute_output_shape(input_shape, reverse=reverse)


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
        return token_vectors + (segment_vectors + self.positions)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "hidden_dim": self.hidden_dim}


@keras.saving.register_keras_serializable(package="pipeline")
class StudentBackbone(keras_hub.models.Backbone):
    """Encoder: ids, mask, segments [B, L] int32 -> {"sequence_output", "pooled_output"}."""

    def __init__(self, vocabulary_size, sequence_length, num_layers=2, hidden_dim=128,
                 num_heads=2, intermediate_dim=512, activation="relu", dropout=0.1, **kwargs):
        token_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(sequence_length,), dtype="int32", name="padding_mask")
        segment_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="segment_ids")
        token_embedding = FlatTokenEmbedding(
            vocabulary_size, hidden_dim, tie_weights=True,
            embeddings_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="token_embedding")
        x = token_embedding(token_ids)
        x = PositionAndSegmentEmbedding(sequence_length, hidden_dim, name="position_embedding")(
            x, segment_ids)
        x = keras.layers.LayerNormalization(epsilon=1e-12, name="embeddings_layer_norm")(x)
        x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
        for i in range(num_layers):
            x = keras_hub.layers.TransformerEncoder(
                intermediate_dim=intermediate_dim, num_heads=num_heads, dropout=dropout,
                activation=activation, layer_norm_epsilon=1e-12,
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                name=f"transformer_layer_{i}")(x, padding_mask=padding_mask)
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

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "num_layers": self.num_layers,
                "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim, "activation": self.activation,
                "dropout": self.dropout}


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
