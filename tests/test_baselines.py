"""The benchmark's baselines (pipeline/baselines.py) on the shipped assistant intents: they learn
(well above the majority class), a seed gives the same predictions, and the average-word-
embedding model keeps Model Maker's tokenizer and tf.keras's optimizer step. Fast tier."""

import importlib.util

import numpy as np
import pytest

from pipeline import baselines
from pipeline.data import load_text_dataset
from tests.conftest import INTENTS_CONFIG


@pytest.fixture(scope="module")
def intents():
    spec = importlib.util.spec_from_file_location("intents_config", INTENTS_CONFIG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dataset = load_text_dataset(module.get_config().data, 0)
    test_labels = np.asarray(dataset.test.labels)
    majority = np.bincount(test_labels).max() / len(test_labels)  # 1/11: balanced classes
    return dataset, test_labels, majority


def _accuracy(result, labels):
    return float(np.mean(result["predictions"] == labels))


@pytest.mark.slow  # over 10 s: keeps the not-slow tier under 3 minutes
def test_tfidf_logreg_beats_majority_and_is_deterministic(intents):
    dataset, labels, majority = intents
    args = (dataset.train.texts, dataset.train.labels, dataset.test.texts)
    first, second = baselines.tfidf_logreg(*args, seed=0), baselines.tfidf_logreg(*args, seed=0)
    assert _accuracy(first, labels) > majority + 0.6, (_accuracy(first, labels), majority)
    np.testing.assert_array_equal(first["predictions"], second["predictions"])
    assert first["details"] == second["details"]
    assert first["details"]["C"] in baselines.C_GRID
    assert first["params"] == first["details"]["features"] * 11 + 11  # 11 classes + intercepts


@pytest.mark.slow  # over 10 s: keeps the not-slow tier under 3 minutes
def test_avg_word_embedding_learns_and_is_deterministic(intents):
    dataset, labels, majority = intents
    # At Model Maker's defaults (length 256, 10 epochs) 1,056 commands are 330 steps, too few
    # to leave the majority class (see avg_word_embedding): a short length and more epochs
    # show it learns, in seconds.
    args = (dataset.train.texts, dataset.train.labels, dataset.test.texts, 11)
    first = baselines.avg_word_embedding(*args, seed=0, epochs=20, seq_len=16)
    second = baselines.avg_word_embedding(*args, seed=0, epochs=20, seq_len=16)
    assert _accuracy(first, labels) > majority + 0.15, (_accuracy(first, labels), majority)
    np.testing.assert_array_equal(first["predictions"], second["predictions"])
    assert first["params"] == second["params"] == (
        first["details"]["vocabulary"] * 16 + 16 * 16 + 16 + 16 * 11 + 11)


def test_avg_word_embedding_tokenizer_is_model_makers():
    assert baselines.awe_tokenize("  Don't STOP-me now!! 7pm ") == ["don't", "stop", "me", "now", "7pm"]
    assert baselines.awe_tokenize("明天早上七点叫我") == ["明天早上七点叫我"]  # no CJK split
    vocab = baselines.awe_vocabulary(["b a", "a c", "a"], size=2)
    assert vocab == {"<PAD>": 0, "<START>": 1, "<UNKNOWN>": 2, "a": 3, "b": 4}
    ids = baselines.awe_encode(["A b zzz", "a a a a a"], vocab, seq_len=4)
    np.testing.assert_array_equal(ids, [[1, 3, 4, 2], [1, 3, 3, 3]])


def test_repeated_embedding_rows_take_one_step():
    """Keras 3 applies each slice of a sparse gradient on its own; `_summed_rmsprop` makes a row
    that occurs five times take tf.keras's single step, lr * g / sqrt(0.1 g^2 + eps)."""
    import keras  # backend set by `import pipeline`
    import tensorflow as tf

    layer = keras.layers.Embedding(4, 2)
    ids = np.array([[1, 0, 0, 0], [2, 0, 0, 1]], np.int32)
    layer(ids)
    before = layer.embeddings.numpy().copy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.reduce_mean(layer(ids), 1) * tf.constant([[1.0, -2.0]]))
    (grad,) = tape.gradient(loss, [layer.embeddings])
    assert isinstance(grad, tf.IndexedSlices)
    baselines._summed_rmsprop().apply_gradients([(grad, layer.embeddings)])
    dense = tf.convert_to_tensor(grad).numpy()
    expected = before - 1e-3 * dense / np.sqrt(0.1 * dense ** 2 + 1e-7)
    np.testing.assert_allclose(layer.embeddings.numpy(), expected, rtol=1e-5, atol=1e-8)
