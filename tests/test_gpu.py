"""export.gpu: the real LiteRT GPU backend (ML Drift over WebGPU/Vulkan) on exported models.

Needs a Vulkan adapter; on a machine without a GPU run first (from the repository root)
    eval "$(../shared/tools/lavapipe-gpu/setup.sh)"
Without it every GPU test skips with the reason, except the one checking that reason."""

import json
import os

import numpy as np
import pytest

from tests.conftest import REPO

TEST_SPLIT = os.path.join(REPO, "pipeline", "data", "assistant_intents", "test.jsonl")
NUM_TEXTS = 60


def require_gpu():
    from export.checks import gpu
    ok, why = gpu.gpu_available()
    if not ok:
        pytest.skip(why)
    return why


@pytest.fixture(scope="module")
def exported(small_export):
    require_gpu()
    return small_export[0]


@pytest.fixture(scope="module")
def texts_inputs(exported):
    """The first NUM_TEXTS commands of the shipped test split, encoded as the app would."""
    from export.runtime import wordpiece
    with open(exported / "manifest.json", encoding="utf-8") as f:
        length = json.load(f)["sequence_length"]
    tok = wordpiece.WordPieceTokenizer.from_file(str(exported / "vocab.txt"))
    with open(TEST_SPLIT, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()][:NUM_TEXTS]
    inputs = []
    for text in texts:
        ids, mask, seg = tok.encode(text, length)
        inputs.append({"token_ids": np.array([ids], np.int32),
                       "padding_mask": np.array([mask], np.int32),
                       "segment_ids": np.array([seg], np.int32)})
    return inputs


def test_gpu_available_gives_a_plain_reason():
    from export.checks import gpu
    ok, why = gpu.gpu_available()
    assert isinstance(ok, bool) and isinstance(why, str) and why
    assert "\n" not in why and "Traceback" not in why
    if ok:
        assert why.startswith("adapter ")
    else:
        assert "lavapipe-gpu/setup.sh" in why or "GPU backend" in why or "importable" in why
    assert gpu.gpu_available() == (ok, why)  # cached


def test_fp32_student_is_fully_accelerated_with_cpu_parity(exported, texts_inputs):
    """The issue's GPU criteria on the shipped test commands: every op on the GPU backend,
    max |Δprob| vs the CPU <= 1e-4 with enforce_f32; at default (fp16) precision the labels
    users see: top-1 agreement >= 99.5 % (max |Δprob| is only reported there)."""
    from export.checks import gpu
    for enforce_f32, tolerance in ((True, 1e-4), (False, 0.05)):
        report = gpu.check_gpu(exported / "fp32.tflite", texts_inputs, enforce_f32=enforce_f32)
        if not enforce_f32:
            assert report.agreement >= gpu.MIN_AGREEMENT_DEFAULT, report
        assert report.fully_accelerated, report.error
        assert report.num_inputs == NUM_TEXTS >= 50
        assert report.ok and report.max_abs_diff <= tolerance, report


def test_fp16_variant_is_fully_accelerated_with_cpu_parity(exported, texts_inputs):
    """The float16-weights file on the GPU backend, same criteria as fp32."""
    from export.checks import gpu
    for enforce_f32, tolerance in ((True, 1e-4), (False, 0.05)):
        report = gpu.check_gpu(exported / "fp16.tflite", texts_inputs, enforce_f32=enforce_f32)
        if not enforce_f32:
            assert report.agreement >= gpu.MIN_AGREEMENT_DEFAULT, report
        assert report.fully_accelerated, report.error
        assert report.ok and report.max_abs_diff <= tolerance, report


def test_gather_on_a_dequantized_fp16_table_is_refused_unless_the_table_is_computed(tmp_path):
    """Why the fp16 graph adds a run-time zero to the embedding table (export/graph_shaping.py):
    with float16 weights the GPU backend refuses GATHER on the DEQUANTIZEd table."""
    require_gpu()
    import tensorflow as tf

    from export.checks import gpu
    rng = np.random.default_rng(0)
    table = tf.constant(rng.normal(size=(1, 50, 8)).astype(np.float32))

    def model(computed):
        @tf.function(input_signature=[tf.TensorSpec((1, 16), tf.int32, name="token_ids")])
        def f(token_ids):
            params = table
            if computed:
                zero = tf.cast(tf.minimum(token_ids[:, :1], 0), tf.float32)
                params = table + tf.reshape(zero, [1, 1, 1])
            return {"out": tf.gather(params, tf.reshape(token_ids, [-1]), axis=1)}
        converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        path = tmp_path / f"fp16_{computed}.tflite"
        path.write_bytes(converter.convert())
        return path

    inputs = [{"token_ids": rng.integers(0, 50, size=(1, 16)).astype(np.int32)}]
    refused = gpu.check_gpu(model(False), inputs, enforce_f32=True)
    accepted = gpu.check_gpu(model(True), inputs, enforce_f32=True)
    assert not refused.fully_accelerated and "dtype mismatch" in refused.error, refused
    assert accepted.ok and accepted.max_abs_diff <= 1e-4, accepted


def test_add_of_gather_output_and_constant_is_computed_wrongly_by_the_gpu(tmp_path):
    """Why the student adds positions to the segment vectors before the token vectors
    (pipeline/models/student.py): [L, H] gather output + [L, H] constant is wrong on the GPU
    backend, while adding a [1, L, H] run-time tensor first is exact."""
    require_gpu()
    import tensorflow as tf

    from export.checks import gpu
    rng = np.random.default_rng(0)
    table = tf.constant(rng.normal(size=(50, 8)).astype(np.float32))
    positions = tf.constant(rng.normal(size=(16, 8)).astype(np.float32))

    def model(student_order):
        @tf.function(input_signature=[tf.TensorSpec((1, 16), tf.int32, name="token_ids")])
        def f(token_ids):
            tokens = tf.reshape(tf.gather(table, tf.reshape(token_ids, [-1])), [1, 16, 8])
            if student_order:
                segments = tf.reshape(tf.cast(token_ids, tf.float32) * 0.0, [1, 16, 1])
                return {"out": tokens + (segments + positions)}
            return {"out": tokens + positions}
        path = tmp_path / f"add_{student_order}.tflite"
        path.write_bytes(_convert(f))
        return path

    inputs = [{"token_ids": rng.integers(0, 50, size=(1, 16)).astype(np.int32)}
              for _ in range(3)]
    wrong = gpu.check_gpu(model(False), inputs, enforce_f32=True)
    right = gpu.check_gpu(model(True), inputs, enforce_f32=True)
    assert right.ok and right.max_abs_diff <= 1e-5, right
    assert wrong.fully_accelerated and wrong.max_abs_diff > 0.1, wrong


def _convert(fn):
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def _tiny_classifier(tmp_path, gather_2d: bool):
    """A tiny classifier with the export's signature: Embedding + mean + dense + softmax.
    gather_2d: a Keras-style Embedding fed [1, L] ids (2-D GATHER, refused by the GPU);
    else the ids are flattened first (1-D GATHER, what the GPU takes)."""
    import tensorflow as tf
    rng = np.random.default_rng(0)
    table = tf.constant(rng.normal(size=(50, 8)).astype(np.float32))
    kernel = tf.constant(rng.normal(size=(8, 5)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 16), tf.int32, name="token_ids")])
    def f(token_ids):
        if gather_2d:
            x = tf.gather(table, token_ids)                          # [1, 16, 8]
        else:
            x = tf.reshape(tf.gather(table, tf.reshape(token_ids, [-1])), [1, 16, 8])
        return {"probabilities": tf.nn.softmax(tf.matmul(tf.reduce_mean(x, axis=1), kernel))}

    path = tmp_path / ("gather2d.tflite" if gather_2d else "gather1d.tflite")
    path.write_bytes(_convert(f))
    inputs = [{"token_ids": rng.integers(0, 50, size=(1, 16)).astype(np.int32)}
              for _ in range(5)]
    return path, inputs


def test_gpu_friendly_model_is_fully_accelerated_with_f32_parity(tmp_path):
    require_gpu()
    from export.checks import gpu
    path, inputs = _tiny_classifier(tmp_path, gather_2d=False)
    report = gpu.check_gpu(path, inputs, enforce_f32=True)
    assert report.fully_accelerated and report.ok, report
    assert report.num_inputs == 5 and report.max_abs_diff <= 1e-4


def test_gpu_unfriendly_model_is_reported_not_raised(tmp_path):
    require_gpu()
    from export.checks import gpu
    path, inputs = _tiny_classifier(tmp_path, gather_2d=True)
    report = gpu.check_gpu(path, inputs, enforce_f32=True)
    assert not report.fully_accelerated and not report.ok
    assert report.num_inputs == 0
    assert "GATHER" in report.error and "1D indices" in report.error, report.error
    assert "Traceback" not in report.error and "\n" not in report.error
    missing = gpu.check_gpu(tmp_path / "nope.tflite", inputs, enforce_f32=False)
    assert not missing.ok and "no such file" in missing.error
