"""export.graph_shaping.shaped_for: a trained model rebuilt for a delegate's batch-1 graph, by an
explicit `target`, with the same weights and outputs, and nothing of Keras changed."""

import collections

import keras
import numpy as np
import pytest

from export import graph_shaping
from pipeline import training
from pipeline.models import sequential_recommender, student
from pipeline.tasks.text_classification.config import default_config

LENGTH, VOCAB, HEADS = 16, 100, 2


def classifier():
    cfg = default_config().model
    cfg.num_layers, cfg.hidden_dim, cfg.num_heads, cfg.intermediate_dim = 1, 32, HEADS, 64
    return student.build_classifier(student.build_backbone(cfg, VOCAB, LENGTH), 3)


def recommender():
    cfg = default_config().model
    cfg.num_layers, cfg.hidden_dim, cfg.num_heads, cfg.intermediate_dim = 1, 32, HEADS, 64
    cfg.dropout, cfg.activation = 0.1, "relu"
    trainer = sequential_recommender.build_trainer(cfg, VOCAB, LENGTH)
    return sequential_recommender.scorer_like(trainer)


def text_inputs(batch, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((batch, LENGTH), "int32")
    mask[:, :5] = 1
    return {"token_ids": rng.integers(5, VOCAB, (batch, LENGTH)).astype("int32") * mask,
            "padding_mask": mask, "segment_ids": np.zeros((batch, LENGTH), "int32")}


def item_inputs(batch, seed=0):
    rng = np.random.default_rng(seed)
    return sequential_recommender.left_pad(
        [rng.integers(2, VOCAB, 3 + i) for i in range(batch)], LENGTH)


@pytest.fixture(scope="module")
def saved_classifier(tmp_path_factory):
    """A classifier saved and loaded as export reads it (model.keras of a workdir)."""
    path = str(tmp_path_factory.mktemp("gs") / "model.keras")
    training.save_model(classifier(), path)
    return training.load_model(path)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("target", list(graph_shaping.TARGETS))
def test_shaped_classifier_has_the_weights_and_outputs_of_the_loaded_one(saved_classifier,
                                                                         target):
    shaped = graph_shaping.shaped_for(saved_classifier, target)
    assert shaped is not saved_classifier
    for a, b in zip(shaped.weights, saved_classifier.weights):
        np.testing.assert_array_equal(numpy(a), numpy(b))
    # Batch 1 takes the target's graph; other batches keras-hub's (same values either way).
    for batch in (1, 4):
        x = text_inputs(batch)
        np.testing.assert_allclose(numpy(shaped(x, training=False)),
                                   numpy(saved_classifier(x, training=False)), atol=1e-5)
    # The source model keeps the training graph.
    backbones = [layer for layer in saved_classifier.layers
                 if isinstance(layer, student.StudentBackbone)]
    assert len(backbones) == 1 and backbones[0].target is None


@pytest.mark.parametrize("target", list(graph_shaping.TARGETS))
def test_shaped_recommender_scores_like_the_scorer(target):
    scorer = recommender()
    shaped = graph_shaping.shaped_for(scorer, target)
    assert isinstance(shaped, sequential_recommender.SequentialRecommender)
    assert shaped.target == target and not shaped.all_positions
    for batch in (1, 3):
        x = item_inputs(batch)
        np.testing.assert_allclose(numpy(shaped(x, training=False)),
                                   numpy(scorer(x, training=False)), atol=1e-5)


def traced_ops(model, target):
    """Op types and GATHER index ranks of `model` shaped for `target`, traced at batch 1."""
    import tensorflow as tf

    serving = model if target is None else graph_shaping.shaped_for(model, target)
    spec = tf.TensorSpec((1, LENGTH), tf.int32)
    fn = tf.function(lambda ids, mask, segments: serving(
        {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}, training=False))
    graph = fn.get_concrete_function(spec, spec, spec).graph
    ops = graph.get_operations()
    attention_matmuls = [op for op in ops if op.type == "MatMul" and "self_attention" in op.name]
    gathers = [op for op in ops if op.type == "GatherV2"]
    bools = [op for op in ops if any(t.dtype == tf.bool for t in op.outputs)]
    return {"types": collections.Counter(op.type for op in ops),
            "attention_matmuls": len(attention_matmuls), "bool_ops": len(bools),
            "gather_index_ranks": [op.inputs[1].shape.rank for op in gathers],
            "gather_tables": [op.inputs[0].op.type for op in gathers]}


def test_each_target_traces_its_own_graph(saved_classifier):
    training_graph = traced_ops(saved_classifier, None)
    assert training_graph["types"]["SelectV2"] and training_graph["bool_ops"]
    assert training_graph["attention_matmuls"] == 0  # batched einsums
    for target, spec in graph_shaping.TARGETS.items():
        got = traced_ops(saved_classifier, target)
        assert not got["types"]["SelectV2"] and not got["bool_ops"], target
        assert got["attention_matmuls"] == 2 * HEADS, target  # q k^T and p v per head
        assert got["gather_index_ranks"] == [1 if spec.flat_token_ids else 2], target
        # GPU_FP16: the table is a run-time sum (the GPU backend's GATHER refuses a
        # DEQUANTIZEd fp16 constant); other targets gather on the weight itself.
        assert (got["gather_tables"] == ["AddV2"]) == spec.runtime_table, (target, got)


def test_nothing_of_keras_or_keras_hub_is_patched(saved_classifier):
    from keras_hub.src.layers.modeling import transformer_encoder

    before = (keras.layers.MultiHeadAttention._compute_attention,
              keras.layers.MultiHeadAttention._compute_attention_mask,
              transformer_encoder.merge_padding_and_attention_mask,
              dict(vars(student.FlatTokenEmbedding)))
    for target in graph_shaping.TARGETS:
        traced_ops(saved_classifier, target)
    after = (keras.layers.MultiHeadAttention._compute_attention,
             keras.layers.MultiHeadAttention._compute_attention_mask,
             transformer_encoder.merge_padding_and_attention_mask,
             dict(vars(student.FlatTokenEmbedding)))
    assert before == after


def test_unknown_target_and_foreign_models_are_refused(saved_classifier):
    with pytest.raises(ValueError, match="unknown serving target"):
        graph_shaping.shaped_for(saved_classifier, "tpu")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no part of it takes a serving target"):
        graph_shaping.shaped_for(plain, graph_shaping.GPU)


def test_every_variant_has_a_target():
    assert set(graph_shaping.TARGET_OF_VARIANT.values()) == set(graph_shaping.TARGETS)
    assert graph_shaping.TARGETS[graph_shaping.NNAPI].mask_penalty == 30.0
    assert graph_shaping.TARGETS[graph_shaping.GPU].mask_penalty == 1e4


@pytest.mark.slow  # over 10 s: keeps the not-slow tier under 3 minutes
def test_importing_graph_shaping_loads_no_tensorflow():
    """The export CLI imports it before it needs Keras; the target table loads on first use."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("import sys; from export import graph_shaping; "
            "assert not {'tensorflow', 'keras'} & set(sys.modules), 'imported TensorFlow'; "
            "assert graph_shaping.TARGET_OF_VARIANT['int8_full'] == graph_shaping.NNAPI")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
