"""A SASRec-style next-item model from keras-hub layers, shaped for phone GPU delegates.

The input is the user's last H item ids (vocabulary ids, int32, padded with 0 on the left, the
newest item last); the model reads them through item + position embeddings and keras-hub
`TransformerEncoder` blocks under a causal mask, and scores every vocabulary item with the
(tied) item embedding.

    trainer = build_trainer(config.model, vocabulary_size=9683, history_length=50)
    trainer(left_pad([[5, 17, 2]], 50))  # [1, 50, 9683]: every prefix's next-item logits
    scorer = scorer_like(trainer)       # same weights, [1, 50] ids -> [1, 9683] next-item scores

Choices made for the delegates, at the source: item embeddings gather on 1-D ids
(`FlatTokenEmbedding`), position embeddings are a weight added whole, the causal mask is a
constant and there is no padding mask (padding is item 0, whose embedding is learned; with the
newest item always at position H-1 the model needs no mask to find it), the last position is
sliced as [B, 1, D] with non-negative bounds then reshaped, ReLU (NNAPI has no GELU), no int64,
rank <= 4. `target` (None: the training graph) picks one delegate's batch-1 serving graph
for the item embedding and the encoder blocks, as for the student (pipeline/models/student.py
`TARGETS`); `export.graph_shaping.shaped_for` rebuilds a trained model with one.
"""

import keras
import keras_hub
import numpy as np
from keras import ops

from pipeline.models.student import FlatTokenEmbedding, transformer_encoder


@keras.saving.register_keras_serializable(package="pipeline")
class PositionEmbeddingAndCausalMask(keras.layers.Layer):
    """Adds a learned [H, D] position weight; also returns the constant causal mask [1, H, H]."""

    def __init__(self, history_length, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.history_length = history_length
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions", shape=(self.history_length, self.hidden_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, item_vectors):
        causal = np.tril(np.ones((1, self.history_length, self.history_length), "int32"))
        if item_vectors.shape[0] == 1:
            # Batch 1 (the exported graph): add on [H, D]. The LiteRT GPU backend computes the
            # [1, H, D] + constant [1, H, D] ADD wrongly after the GATHER (measured: 0.05-0.5
            # off from the CPU); the rank-2 ADD matches it exactly.
            flat = ops.reshape(item_vectors, (self.history_length, self.hidden_dim))
            summed = ops.reshape(flat + self.positions, (1, self.history_length, self.hidden_dim))
            return summed, ops.convert_to_tensor(causal)
        return item_vectors + self.positions, ops.convert_to_tensor(causal)

    def compute_output_shape(self, input_shape):
        return input_shape, (1, self.history_length, self.history_length)

    def get_config(self):
        return {**super().get_config(), "history_length": self.history_length,
                "hidden_dim": self.hidden_dim}


@keras.saving.register_keras_serializable(package="pipeline")
class SequentialRecommender(keras_hub.models.Backbone):
    """Item ids [B, H] int32 (0 = padding, newest last) -> scores from the tied item embedding.

    `target`: None (training) or a serving target of pipeline/models/student.py `TARGETS`.

    `all_positions=False`: [B, V] scores of the item after the whole history (the scorer);
    `all_positions=True`: [B, H, V] logits, position t scoring the item after ids[:, :t+1]
    (the trainer). One flat functional graph: the item embedding is used twice in it (lookup,
    and `reverse=True` for the scores), which saves and loads as one shared layer.
    """

    def __init__(self, vocabulary_size, history_length, num_layers=2, hidden_dim=64, num_heads=2,
                 intermediate_dim=256, dropout=0.2, activation="relu", all_positions=False,
                 target=None, **kwargs):
        item_ids = keras.Input(shape=(history_length,), dtype="int32", name="item_ids")
        item_embedding = FlatTokenEmbedding(
            vocabulary_size, hidden_dim, tie_weights=True,
            embeddings_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            target=target, name="item_embedding")
        x, causal_mask = PositionEmbeddingAndCausalMask(
            history_length, hidden_dim, name="position_embedding")(item_embedding(item_ids))
        x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
        for i in range(num_layers):
            x = transformer_encoder(
                intermediate_dim=intermediate_dim, num_heads=num_heads, dropout=dropout,
                activation=activation, normalize_first=True, layer_norm_epsilon=1e-6,
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                target=target, name=f"transformer_layer_{i}")(x, attention_mask=causal_mask)
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_layer_norm")(x)
        if not all_positions:
            # The last position as [B, 1, D] then reshaped: a slice that drops the axis
            # (shrink_axis_mask) is refused by the LiteRT GPU backend.
            # Static, non-negative slice bounds: the GPU backend misreads a begin index of -1.
            x = ops.reshape(x[:, history_length - 1:history_length, :], (-1, hidden_dim))
        scores = item_embedding(x, reverse=True)
        super().__init__(inputs=item_ids, outputs=scores, **kwargs)
        self.item_embedding = item_embedding
        self.vocabulary_size = vocabulary_size
        self.history_length = history_length
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = activation
        self.all_positions = all_positions
        self.target = target

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "history_length": self.history_length, "num_layers": self.num_layers,
                "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim, "dropout": self.dropout,
                "activation": self.activation, "all_positions": self.all_positions,
                "target": self.target}


def build_trainer(model_config, vocabulary_size: int, history_length: int) -> SequentialRecommender:
    """[B, H] ids -> [B, H, V] logits: every prefix predicts its next item."""
    return SequentialRecommender(
        vocabulary_size=vocabulary_size, history_length=history_length,
        num_layers=model_config.num_layers, hidden_dim=model_config.hidden_dim,
        num_heads=model_config.num_heads, intermediate_dim=model_config.intermediate_dim,
        dropout=model_config.dropout, activation=model_config.activation, all_positions=True,
        name="next_item_trainer")


def scorer_like(trainer: SequentialRecommender) -> SequentialRecommender:
    """The [B, H] -> [B, V] scorer with the trainer's layers' current weights (a copy)."""
    config = {**trainer.get_config(), "all_positions": False, "name": "next_item_scorer"}
    scorer = SequentialRecommender.from_config(config)
    scorer.set_weights(trainer.get_weights())
    return scorer


def left_pad(histories, history_length: int) -> np.ndarray:
    """Per-user id arrays -> [users, H] int32: the last H ids, newest last, 0-padded on the left."""
    out = np.zeros((len(histories), history_length), dtype=np.int32)
    for row, history in enumerate(histories):
        tail = np.asarray(history[-history_length:], dtype=np.int32)
        if len(tail):
            out[row, -len(tail):] = tail
    return out


def training_windows(sequences, history_length: int, stride: int):
    """Inputs [n, H] and targets [n, H] (0 = no target) from every user's training part.

    Windows end at the sequence end and every `stride` items before it, so each item is a target
    at least once; position t's target is the item after input t.
    """
    inputs, targets = [], []
    for seq in sequences:
        for end in range(len(seq), 1, -stride):
            window = seq[max(0, end - history_length - 1):end]
            inputs.append(window[:-1])
            targets.append(window[1:])
    return left_pad(inputs, history_length), left_pad(targets, history_length)
