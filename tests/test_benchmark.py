"""`python -m export.benchmark`: the JSON report on the small export, FLOP counts checked on
hand-built models, and one-line errors that leave no report behind."""

import json
import shutil

import pytest

from tests.conftest import assert_one_line_error, run


@pytest.fixture(scope="module")
def export_copy(small_export, tmp_path_factory):
    """A private copy of the small export (the benchmark writes into its manifest)."""
    export_dir, _ = small_export
    copy = tmp_path_factory.mktemp("bench") / "export"
    shutil.copytree(export_dir, copy)
    return copy


@pytest.fixture(scope="module")
def report(export_copy):
    r = run("export.benchmark", str(export_copy), "--invokes=20", "--warmup=2")
    assert r.returncode == 0, r.stderr[-3000:]
    with open(export_copy / "benchmark.json", encoding="utf-8") as f:
        return json.load(f), r.stdout


def test_report_structure_and_consistent_numbers(export_copy, report):
    from export.measure.flops import count_flops
    from export.tflite import reader as tflite_reader

    data, stdout = report
    with open(export_copy / "manifest.json", encoding="utf-8") as f:
        manifest = json.load(f)
    names = [n for n in manifest["files"] if n.endswith(".tflite")]
    assert sorted(data["files"]) == sorted(names) == sorted(
        f"{v}.tflite" for v in ("fp32", "fp16", "int8_dynamic", "int8_full"))
    assert data["settings"] == {"invokes": 20, "warmup": 2, "threads": [1, 2]}
    machine = data["machine"]
    assert machine["cpu_model"] and machine["logical_cpus"] >= 1
    assert machine["runtime"].startswith("ai-edge-litert 2.3")
    assert len(data["load_average_before"]) == 3 and len(data["load_average_after"]) == 3
    assert data["inputs"]["kind"] == "tokenized text"
    assert 3 <= data["inputs"]["real_tokens"] <= data["inputs"]["sequence_length"] == 32
    for n in ("1", "2"):
        assert data["peak_float32_gflops"][n]["gflops"] > 0.1
    for name in names:
        result, entry = data["files"][name], manifest["files"][name]
        assert result["bytes"] == (export_copy / name).stat().st_size == entry["bytes"]
        assert result["sha256"] == entry["sha256"]
        assert result["flops"] == count_flops(tflite_reader.read_model(str(export_copy / name)))
        assert result["flops"]["uncounted_ops"] == {}
        assert 0 < result["flops"]["matmul"] < result["flops"]["total"]
        # Every variant runs the same architecture: the same multiply-adds.
        assert result["flops"]["matmul"] == data["files"]["fp32.tflite"]["flops"]["matmul"]
        for n in ("1", "2"):
            r = result["runs"][n]
            lat = r["latency_ms"]
            assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"]
            assert lat["min"] <= lat["mean"] <= lat["max"]
            assert r["invokes"] == 20 and r["warmup"] == 2
            assert r["load_ms"] > 0 and r["first_invoke_ms"] > 0
            assert r["process_cpu_ms"]["median"] > 0
            assert r["peak_reset"] and r["peak_rss_delta_mb"] > 0
            assert r["peak_rss_mb"] >= r["rss_before_load_mb"] + r["peak_rss_delta_mb"] - 1e-9
            assert r["xnnpack_delegate"] is True
            # The floor divides by the best rate measured at <= n threads.
            peak = max(data["peak_float32_gflops"][k]["gflops"] for k in ("1", "2") if k <= n)
            assert r["floor_gflops"] == peak
            assert r["floor_ms"] == pytest.approx(result["flops"]["total"] / peak / 1e6)
        assert name in stdout
        recorded = entry["checks"]["benchmark"]
        assert recorded["flops"] == result["flops"]["total"]
        assert recorded["latency_ms"]["2"]["median"] == pytest.approx(
            result["runs"]["2"]["latency_ms"]["median"], abs=1e-4)
        assert "parity" in entry["checks"]  # the other checks are kept


def test_flops_of_hand_built_models(tmp_path):
    """Independent counts: Dense = 2*in*out*batch (+ out*batch bias adds), batched matmul
    2*B*M*K*N, 3x3 conv 2*(output elements)*kh*kw*Cin. (A zero bias is folded away by the
    converter, hence the ones.)"""
    import keras
    import tensorflow as tf

    from export.measure.flops import count_flops
    from export.tflite import reader as tflite_reader

    def flops(converter):
        return count_flops(tflite_reader.read_model(converter.convert()))

    batch, n_in, n_out = 3, 5, 7
    for use_bias in (False, True):
        model = keras.Sequential([keras.Input((n_in,), batch_size=batch),
                                  keras.layers.Dense(n_out, use_bias=use_bias,
                                                     bias_initializer="ones")])
        counted = flops(tf.lite.TFLiteConverter.from_keras_model(model))
        assert counted["by_op"] == {"FULLY_CONNECTED": counted["total"]}
        assert counted["total"] == 2 * n_in * n_out * batch + (n_out * batch if use_bias else 0)

    @tf.function(input_signature=[tf.TensorSpec((2, 3, 4), tf.float32),
                                  tf.TensorSpec((2, 5, 4), tf.float32)])
    def attention_like(a, b):
        return tf.matmul(a, b, transpose_b=True)

    counted = flops(tf.lite.TFLiteConverter.from_concrete_functions(
        [attention_like.get_concrete_function()], attention_like))
    assert counted["by_op"] == {"BATCH_MATMUL": 2 * 2 * 3 * 4 * 5}

    conv = keras.Sequential([keras.Input((8, 8, 3), batch_size=1),
                             keras.layers.Conv2D(4, 3, bias_initializer="ones")])
    counted = flops(tf.lite.TFLiteConverter.from_keras_model(conv))
    assert counted["by_op"] == {"CONV_2D": 2 * (6 * 6 * 4) * (3 * 3 * 3) + 6 * 6 * 4}


def _describe_as_is(export_dir, name):
    """The manifest entry of `name` rewritten to the file's present size and sha256."""
    from export import contract

    path = export_dir / name
    with contract.edit(str(export_dir)) as manifest:
        manifest["files"][name].update(bytes=path.stat().st_size,
                                       sha256=contract.sha256_file(str(path)))


def test_bad_input_one_line_exit_2(export_copy, tmp_path):
    missing = str(tmp_path / "nowhere")
    assert_one_line_error(run("export.benchmark", missing), missing, "no such export folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run("export.benchmark", str(empty)), "manifest.json", "not found")

    broken = tmp_path / "broken"
    shutil.copytree(export_copy, broken)
    (broken / "benchmark.json").unlink(missing_ok=True)
    data = (broken / "fp16.tflite").read_bytes()
    # Changed after the export, same size: refused (it used to be benchmarked with a warning).
    (broken / "fp16.tflite").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert_one_line_error(run("export.benchmark", str(broken), "--invokes=5"),
                          str(broken / "fp16.tflite"), "sha256 differs")
    (broken / "fp16.tflite").write_bytes(data[:len(data) // 3])
    assert_one_line_error(run("export.benchmark", str(broken), "--invokes=5"),
                          str(broken / "fp16.tflite"), "truncated or changed")
    # The same files with a manifest that describes them: the reader refuses them.
    _describe_as_is(broken, "fp16.tflite")
    assert_one_line_error(run("export.benchmark", str(broken), "--invokes=5"),
                          str(broken / "fp16.tflite"), "truncated or corrupt")
    (broken / "fp16.tflite").write_text("hello")
    _describe_as_is(broken, "fp16.tflite")
    assert_one_line_error(run("export.benchmark", str(broken), "--invokes=5"),
                          str(broken / "fp16.tflite"), "not a TFLite", "no TFL3 identifier")
    (broken / "fp16.tflite").unlink()
    assert_one_line_error(run("export.benchmark", str(broken), "--invokes=5"),
                          str(broken / "fp16.tflite"), "missing")
    assert not (broken / "benchmark.json").exists()

    good = str(export_copy)
    assert_one_line_error(run("export.benchmark", good, "--invokes=0"), "--invokes=0")
    assert_one_line_error(run("export.benchmark", good, "--threads=1,x"), "--threads=1,x")
    assert_one_line_error(run("export.benchmark", good, "--threads=0"), "--threads=0")
    out = str(tmp_path / "no_such_folder" / "b.json")
    assert_one_line_error(run("export.benchmark", good, f"--json_out={out}"), out,
                          "does not exist")
    assert_one_line_error(run("export.benchmark"), "usage")


def test_ops_left_outside_the_delegate(export_copy, report):
    """`delegation` infers which ops XNNPACK left to builtin kernels: all of them without the
    default delegate; with it, on ai-edge-litert 2.3, exactly the FULLY_CONNECTED ops whose
    weights are activations (attention), which its XNNPACK delegate does not take."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from export.measure import latency
    from export.tflite import reader as tflite_reader

    path = str(export_copy / "fp32.tflite")
    info = tflite_reader.read_model(path)
    plain = Interpreter(model_path=path,
                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    plain.allocate_tensors()
    partitions, outside = latency.delegation(plain)
    assert partitions == 0 and sum(outside.values()) == len(info.ops)

    default = Interpreter(model_path=path)
    default.allocate_tensors()
    partitions, outside = latency.delegation(default)
    dynamic_fc = [op for op in info.ops if op.op == "FULLY_CONNECTED" and not op.inputs[1].is_const]
    assert partitions >= 1 and dynamic_fc
    assert outside["FULLY_CONNECTED float32"] == len(dynamic_fc)
    data, _ = report
    run = data["files"]["fp32.tflite"]["runs"]["1"]
    assert (run["delegate_partitions"], run["ops_outside_delegate"]) == (partitions, outside)
