"""Tests for the static NNAPI-delegate readiness checker (export.checks.nnapi).

Tiny real models are converted with TFLiteConverter.from_concrete_functions
and checked against the rule table for API levels 27..35.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from export.checks import nnapi_rules  # noqa: E402
from export.checks.nnapi import (  # noqa: E402
    NnapiReport,
    check_nnapi,
    format_report,
    lowest_clean_api_level,
)
from export.checks.nnapi_constraints import CONSTRAINTS  # noqa: E402
from export.checks.nnapi_rules import API_LEVELS, GENERAL_RULES, RULES, RULES_BY_OP  # noqa: E402
from export.tflite.reader import BUILTIN_OP_NAMES, read_model  # noqa: E402

N = 8
UNITS = 4


# --------------------------------------------------------------------------
# Model builders
# --------------------------------------------------------------------------
def _convert(fn, specs, **converter_attrs) -> bytes:
    module = tf.Module()
    module.f = tf.function(fn)
    concrete = module.f.get_concrete_function(*specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    for key, value in converter_attrs.items():
        setattr(converter, key, value)
    return converter.convert()


_rng = np.random.default_rng(0)
_W = tf.constant(_rng.standard_normal((N, UNITS)).astype("float32"))
_B = tf.constant(_rng.standard_normal((UNITS,)).astype("float32"))
_W2 = tf.constant(_rng.standard_normal((UNITS, UNITS)).astype("float32"))
_TABLE = tf.constant(_rng.standard_normal((10, UNITS)).astype("float32"))


def _dense_relu_softmax(x):
    return tf.nn.softmax(tf.nn.relu(tf.matmul(x, _W) + _B))


def _dense_gelu_dense_softmax(x):
    return tf.nn.softmax(tf.matmul(tf.nn.gelu(tf.matmul(x, _W) + _B), _W2))


def _gather(ids):
    return tf.gather(_TABLE, ids)


def _batch_matmul(a, b):
    return tf.matmul(a, b)


def _int32_add(a, b):
    return a + b


def _representative_dataset():
    for _ in range(8):
        yield [_rng.standard_normal((1, N)).astype("float32")]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("nnapi_models")
    f32 = tf.float32
    blobs = {
        "dense": _convert(_dense_relu_softmax, [tf.TensorSpec([1, N], f32)]),
        "gather": _convert(_gather, [tf.TensorSpec([4], tf.int32)]),
        "batch_matmul": _convert(
            _batch_matmul,
            [tf.TensorSpec([1, 4, N], f32), tf.TensorSpec([1, N, 4], f32)],
        ),
        "gelu": _convert(_dense_gelu_dense_softmax, [tf.TensorSpec([1, N], f32)]),
        "int8": _convert(
            _dense_relu_softmax,
            [tf.TensorSpec([1, N], f32)],
            optimizations=[tf.lite.Optimize.DEFAULT],
            representative_dataset=_representative_dataset,
            target_spec=tf.lite.TargetSpec(
                supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            ),
            inference_input_type=tf.int8,
            inference_output_type=tf.int8,
        ),
        "dynamic": _convert(_dense_relu_softmax, [tf.TensorSpec([None, N], f32)]),
        "int32_add": _convert(
            _int32_add,
            [tf.TensorSpec([1, N], tf.int32), tf.TensorSpec([1, N], tf.int32)],
        ),
    }
    paths = {}
    for name, blob in blobs.items():
        path = root / f"{name}.tflite"
        path.write_bytes(blob)
        paths[name] = str(path)
    return paths


def _op_names(report: NnapiReport):
    return [v.op for v in report.ops]


# --------------------------------------------------------------------------
# Rule table
# --------------------------------------------------------------------------
def test_api_levels_are_27_to_35():
    assert API_LEVELS == tuple(range(27, 36))
    assert set(nnapi_rules.API_NAMES) == set(API_LEVELS)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.op)
def test_every_row_is_sane(rule):
    assert rule.op in BUILTIN_OP_NAMES
    assert rule.source.strip(), f"{rule.op} has no source note"
    assert "Validate" in rule.source
    assert rule.max_version is None or (isinstance(rule.max_version, int) and rule.max_version >= 1)
    assert rule.min_api is None or rule.min_api in API_LEVELS
    assert rule.nnapi_min_api is None or rule.nnapi_min_api in API_LEVELS
    for table in (rule.input_types, rule.output_types):
        if table is None:
            continue
        apis = [api for api, _ in table]
        assert apis == sorted(apis) and len(set(apis)) == len(apis)
        assert all(api in API_LEVELS for api in apis)
        assert rule.min_api is not None and apis[0] <= rule.min_api
        for _, dtypes in table:
            assert dtypes and set(dtypes) <= nnapi_rules.KNOWN_DTYPES
    for operand in rule.operands:
        assert operand.index >= 0
        assert operand.dtypes is None or set(operand.dtypes) <= nnapi_rules.KNOWN_DTYPES
    assert rule.type_input >= 0
    for name in rule.constraints:
        assert name in CONSTRAINTS, f"{rule.op}: unknown constraint {name}"
    if rule.min_api is None:  # never delegated: nothing else to check
        assert rule.max_version is None and rule.input_types is None
        assert not rule.operands and not rule.constraints


def test_table_has_unique_ops_and_covers_requested_ops():
    assert len(RULES_BY_OP) == len(RULES)
    requested = """FULLY_CONNECTED ADD MUL SUB DIV RESHAPE SOFTMAX TANH LOGISTIC RELU
        MEAN SUM TRANSPOSE STRIDED_SLICE SLICE CONCATENATION PACK SQUARED_DIFFERENCE
        RSQRT SQRT QUANTIZE DEQUANTIZE CAST POW EXP LOG EQUAL NOT_EQUAL LESS GREATER
        SELECT SELECT_V2 MAXIMUM MINIMUM ARG_MAX BATCH_MATMUL GATHER EMBEDDING_LOOKUP
        CONV_2D DEPTHWISE_CONV_2D AVERAGE_POOL_2D MAX_POOL_2D L2_NORMALIZATION
        LOG_SOFTMAX HARD_SWISH PRELU PAD SPLIT SQUEEZE EXPAND_DIMS TILE REDUCE_MAX
        GELU""".split()
    missing = [op for op in requested if op not in RULES_BY_OP]
    assert not missing


def test_key_rows_match_delegate_source():
    assert RULES_BY_OP["GATHER"].min_api == 29
    assert RULES_BY_OP["GELU"].min_api is None
    assert RULES_BY_OP["SELECT_V2"].min_api is None
    # BATCH_MATMUL exists in NNAPI from feature level 6, but the TFLite
    # delegate's Validate has no case for it.
    assert RULES_BY_OP["BATCH_MATMUL"].min_api is None
    assert RULES_BY_OP["BATCH_MATMUL"].nnapi_min_api == 33
    emb = RULES_BY_OP["EMBEDDING_LOOKUP"]
    assert nnapi_rules.types_at(emb.input_types, 27) == ("float32",)
    assert emb.type_input == 1 and emb.operands[0].dtypes == ("int32",)


def test_general_rules_have_sources():
    assert {"dynamic_shape", "rank_gt_4", "no_nnapi_operand_type", "api_below_27"} <= {
        g.name for g in GENERAL_RULES
    }
    assert all(g.source.strip() and g.description.strip() for g in GENERAL_RULES)


# --------------------------------------------------------------------------
# (a) float Dense + ReLU + softmax
# --------------------------------------------------------------------------
def test_float_dense_relu_softmax_is_clean_from_api_27(models):
    path = models["dense"]
    report = check_nnapi(path, 27)
    assert _op_names(report) == ["FULLY_CONNECTED", "SOFTMAX"]  # ReLU is fused
    assert report.ok and report.fallbacks == [] and report.partitions == 1
    fc = report.ops[0]
    assert fc.input_dtypes == ["float32", "float32", "float32"]
    assert fc.input_shapes[0] == (1, N) and fc.output_shapes == [(1, UNITS)]
    assert lowest_clean_api_level(path) in (27, 28)
    assert lowest_clean_api_level(path) == 27
    assert "OK" in format_report(report)


# --------------------------------------------------------------------------
# (b) gather on int32 ids
# --------------------------------------------------------------------------
def test_gather_needs_api_29(models):
    path = models["gather"]
    at28 = check_nnapi(path, 28)
    assert _op_names(at28) == ["GATHER"]
    gather = at28.ops[0]
    assert gather.input_dtypes == ["float32", "int32"]
    assert not at28.ok and at28.fallbacks == [gather] and at28.partitions == 0
    assert "29" in gather.reason
    at29 = check_nnapi(path, 29)
    assert at29.ok and at29.partitions == 1
    assert lowest_clean_api_level(path) == 29


# --------------------------------------------------------------------------
# (c) batch matmul of two activations
# --------------------------------------------------------------------------
def test_batch_matmul_is_never_delegated(models):
    # The brief expected "falls back below the BATCH_MATMUL level, clean at or
    # after it". TFLite's nnapi_delegate.cc has no kTfLiteBuiltinBatchMatmul
    # case in Validate, so it falls back at every level. NNAPI's own
    # BATCH_MATMUL (feature level 6) is recorded as information only.
    path = models["batch_matmul"]
    for api in API_LEVELS:
        report = check_nnapi(path, api)
        assert _op_names(report) == ["BATCH_MATMUL"]
        op = report.ops[0]
        assert op.input_shapes == [(1, 4, N), (1, N, 4)]
        assert not op.supported and not report.ok
        assert "no case in NNAPIDelegateKernel::Validate" in op.reason
        assert "33" in op.reason  # NNAPI op level, for information
    assert lowest_clean_api_level(path) is None


# --------------------------------------------------------------------------
# (d) GELU
# --------------------------------------------------------------------------
def test_gelu_is_unsupported_at_every_level(models):
    path = models["gelu"]
    names = _op_names(check_nnapi(path, 30))
    assert "GELU" in names, f"converter decomposed GELU: {names}"
    assert names == ["FULLY_CONNECTED", "GELU", "FULLY_CONNECTED", "SOFTMAX"]
    for api in API_LEVELS:
        report = check_nnapi(path, api)
        assert [v.op for v in report.fallbacks] == ["GELU"]
        assert "unsupported op" in report.fallbacks[0].reason
        # FC | GELU (CPU) | FC, SOFTMAX -> two delegated partitions
        assert report.partitions == 2
    assert lowest_clean_api_level(path) is None


# --------------------------------------------------------------------------
# (e) full-integer int8
# --------------------------------------------------------------------------
def test_int8_full_integer_model(models):
    path = models["int8"]
    at29 = check_nnapi(path, 29)
    assert _op_names(at29) == ["FULLY_CONNECTED", "SOFTMAX"]
    fc, softmax = at29.ops
    assert fc.input_dtypes[0] == "int8" and fc.input_dtypes[1] == "int8"
    assert softmax.input_dtypes == ["int8"] and softmax.output_dtypes == ["int8"]
    assert at29.ok, format_report(at29)
    # Before NNAPI 1.2 FULLY_CONNECTED accepts only float32/uint8 input;
    # SOFTMAX accepts int8 (converted to uint8) from API 27.
    at28 = check_nnapi(path, 28)
    assert [v.op for v in at28.fallbacks] == ["FULLY_CONNECTED"]
    assert "int8" in at28.fallbacks[0].reason
    assert at28.ops[1].supported and at28.partitions == 1
    assert lowest_clean_api_level(path) == 29


def test_int32_add_needs_nnapi_1_3(models):
    path = models["int32_add"]
    at29 = check_nnapi(path, 29)
    assert _op_names(at29) == ["ADD"]
    assert not at29.ok and "int32" in at29.fallbacks[0].reason
    assert lowest_clean_api_level(path) == 30


# --------------------------------------------------------------------------
# (f) dynamic batch
# --------------------------------------------------------------------------
def test_dynamic_batch_falls_back(models):
    path = models["dynamic"]
    for api in API_LEVELS:
        report = check_nnapi(path, api)
        assert not report.ok
        assert len(report.fallbacks) == len(report.ops) > 0
        assert report.partitions == 0
        assert all("dynamic shape" in v.reason for v in report.fallbacks)
    assert report.ops[0].inputs[0].shape_signature == (-1, N)
    assert lowest_clean_api_level(path) is None


# --------------------------------------------------------------------------
# API-level behaviour
# --------------------------------------------------------------------------
def test_below_api_27_nothing_is_delegated(models):
    report = check_nnapi(models["dense"], 26)
    assert not report.ok and report.partitions == 0
    assert len(report.fallbacks) == len(report.ops)
    assert "NNAPI unavailable" in report.fallbacks[0].reason


def test_levels_30_to_35_agree(models):
    # Validate has no check above kMinSdkVersionForNNAPI13 (30).
    for path in models.values():
        verdicts = {
            api: [(v.op, v.supported, v.reason) for v in check_nnapi(path, api).ops]
            for api in range(30, 36)
        }
        assert all(v == verdicts[30] for v in verdicts.values())


def test_path_bytes_and_model_info_give_the_same_report(models):
    path = models["int8"]
    info = read_model(path)
    fc = info.ops[0]
    assert fc.op == "FULLY_CONNECTED" and fc.options["fused_activation_function"] == 1  # RELU
    weights = info.constant(fc.inputs[1])
    assert weights.dtype == np.int8 and weights.shape == fc.inputs[1].shape
    expected = format_report(check_nnapi(path, 28))
    assert format_report(check_nnapi(info, 28)) == expected
    with open(path, "rb") as f:
        from_bytes = check_nnapi(f.read(), 28)
    assert format_report(from_bytes) == expected.replace(path, "<bytes>", 1)
    assert lowest_clean_api_level(info) == lowest_clean_api_level(path) == 29


def test_api_level_must_be_int(models):
    with pytest.raises(TypeError):
        check_nnapi(models["dense"], "29")


# --------------------------------------------------------------------------
# (g) bad input files
# --------------------------------------------------------------------------
def _assert_value_error_names(path, fn=check_nnapi, *args):
    with pytest.raises(ValueError) as info:
        fn(str(path), *args)
    message = str(info.value)
    assert os.path.basename(str(path)) in message
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    missing = tmp_path / "missing_model.tflite"
    _assert_value_error_names(missing, check_nnapi, 30)
    _assert_value_error_names(missing, lowest_clean_api_level)


def test_not_a_tflite_file(tmp_path):
    text = tmp_path / "notes.tflite"
    text.write_text("this is not a flatbuffer, just some text\n" * 4)
    msg = _assert_value_error_names(text, check_nnapi, 30)
    assert "TFL3" in msg
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    _assert_value_error_names(empty, check_nnapi, 30)
    _assert_value_error_names(tmp_path, check_nnapi, 30)  # a directory


def test_truncated_files(models, tmp_path):
    blob = open(models["gelu"], "rb").read()
    for cut in (6, 12, 40, len(blob) // 3, len(blob) // 2, len(blob) - 16):
        path = tmp_path / f"truncated_{cut}.tflite"
        path.write_bytes(blob[:cut])
        _assert_value_error_names(path, check_nnapi, 30)
        _assert_value_error_names(path, lowest_clean_api_level)
