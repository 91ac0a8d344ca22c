"""`python -m export.convert`: the four TFLite variants, the manifest, failures that leave the
export folder consistent. One tiny trained workdir (about 25 s) is shared by every test."""

import json
import os
import shutil

import numpy as np
import pytest

from tests.conftest import assert_one_line_error, run

VARIANTS = ("fp32", "fp16", "int8_dynamic", "int8_full")
INPUTS = ("token_ids", "padding_mask", "segment_ids")


@pytest.fixture(scope="session")
def workdir(small_workdir):
    return small_workdir


@pytest.fixture(scope="session")
def exported(small_export):
    export_dir, stdout = small_export
    with open(export_dir / "manifest.json", encoding="utf-8") as f:
        manifest = json.load(f)
    return export_dir, manifest, stdout


def copy_workdir(src, dst, with_export=False):
    dst.mkdir()
    for name in ("config.json", "vocab.txt", "labels.txt", "model.keras"):
        shutil.copy(src / name, dst / name)
    if with_export:
        shutil.copytree(src / "export", dst / "export")
    return dst


def test_four_variants_static_int32_inputs_and_probabilities(workdir, exported):
    from ai_edge_litert.interpreter import Interpreter

    from export.tflite import reader as tflite_reader

    export_dir, manifest, stdout = exported
    length, num_classes = manifest["sequence_length"], manifest["num_classes"]
    assert length == 32 and num_classes == 11
    for variant in VARIANTS:
        path = export_dir / f"{variant}.tflite"
        assert path.is_file()
        assert f"{variant}.tflite" in stdout  # one line per variant
        info = tflite_reader.read_model(str(path))
        assert [(t.name, t.dtype, t.shape) for t in info.inputs] == [
            (n, "int32", (1, length)) for n in INPUTS]
        assert [(t.name, t.dtype, t.shape) for t in info.outputs] == [
            ("probabilities", "float32", (1, num_classes))]
        gpu_graph = variant != "int8_full"  # int8_full is traced for NNAPI
        assert tflite_reader.static_problems(info, gather_1d=gpu_graph) == []
        assert not any(op.is_custom for op in info.ops)  # no Flex, no custom ops
        assert not any(t.dtype == "int64" for t in info.tensors)
        assert not any(t.dtype == "bool" for t in info.tensors)
        # Attention is 2-D FULLY_CONNECTED matmuls with an additive mask, in every graph.
        assert not {"BATCH_MATMUL", "SELECT_V2", "SELECT"} & {op.op for op in info.ops}
        gathers = [op for op in info.ops if op.op == "GATHER"]
        indices_rank = 1 if gpu_graph else 2  # GPU: 1-D indices; NNAPI: no int32 RESHAPE
        assert gathers and all(len(op.inputs[1].shape) == indices_rank for op in gathers)

        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
        runner = interpreter.get_signature_runner("serving_default")
        ids = np.zeros((1, length), np.int32)
        ids[0, :4] = [2, 7, 9, 3]
        mask = (ids > 0).astype(np.int32)
        probs = runner(token_ids=ids, padding_mask=mask, segment_ids=np.zeros_like(ids))[
            "probabilities"]
        assert probs.shape == (1, num_classes) and probs.dtype == np.float32
        assert np.all(probs >= 0)
        assert abs(float(probs.sum()) - 1) < (0.03 if variant == "int8_full" else 1e-4)


def test_manifest_describes_each_file(workdir, exported):
    export_dir, manifest, _ = exported
    from export.contract import sha256_file

    assert set(manifest["files"]) == {f"{v}.tflite" for v in VARIANTS}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(str(export_dir / name))
        assert entry["bytes"] == os.path.getsize(export_dir / name)
        assert [i["name"] for i in entry["inputs"]] == list(INPUTS)
        assert entry["outputs"][0]["name"] == "probabilities"
        assert entry["ops"]["SOFTMAX"] >= 1 and "FULLY_CONNECTED" in entry["ops"]
        # convert records these; export.check and export.benchmark (other tests sharing this
        # export) may have added gpu, gpu_f32 and benchmark.
        assert {"parity", "metadata", "nnapi"} <= set(entry["checks"]) <= {
            "parity", "metadata", "nnapi", "gpu", "gpu_f32", "benchmark"}
        nnapi = entry["checks"]["nnapi"]
        if entry["variant"] == "int8_full":
            assert entry["graph_target"] == "nnapi" and nnapi["lowest_clean_api_level"] == 30
            assert nnapi["at_api"]["30"] == {"ok": True, "ops": sum(entry["ops"].values()),
                                             "partitions": 1, "fallbacks": []}
        else:
            assert entry["graph_target"] == ("gpu_fp16" if entry["variant"] == "fp16" else "gpu")
        parity = entry["checks"]["parity"]
        assert parity["examples"] == 495  # :tiny keeps 500 of the 550 test commands: 45 a class
    sizes = {v: manifest["files"][f"{v}.tflite"]["bytes"] for v in VARIANTS}
    assert sizes["fp16"] < 0.6 * sizes["fp32"] and sizes["int8_dynamic"] < 0.4 * sizes["fp32"]
    assert manifest["labels"] == (workdir / "labels.txt").read_text(encoding="utf-8").split()
    assert manifest["tokenizer"]["kind"] == "bert_wordpiece"
    assert manifest["tokenizer"]["lowercase"] and manifest["tokenizer"]["strip_accents"]
    assert manifest["tokenizer"]["vocabulary_file"] == "vocab.txt"
    for name in ("vocab.txt", "labels.txt"):
        assert (export_dir / name).read_bytes() == (workdir / name).read_bytes()
    assert not [n for n in os.listdir(export_dir) if ".tmp" in n]


def test_parity_fp32_matches_keras_and_int8_full_is_integer(exported):
    export_dir, manifest, _ = exported
    from export.tflite import reader as tflite_reader

    files = manifest["files"]
    assert files["fp32.tflite"]["checks"]["parity"]["top1_agreement"] >= 0.999
    assert files["fp32.tflite"]["checks"]["parity"]["max_abs_probability_diff"] < 1e-4
    for variant in ("fp16", "int8_dynamic", "int8_full"):
        parity = files[f"{variant}.tflite"]["checks"]["parity"]
        assert "accuracy_drop_points" in parity and 0 <= parity["top1_agreement"] <= 1
    # A trained student keeps most of its decisions in full int8 (uniform attention, the
    # failure of a -1e9 attention mask in int8, gives ~0.6 here; graph_shaping uses -30).
    assert files["int8_full.tflite"]["checks"]["parity"]["top1_agreement"] >= 0.9

    info = tflite_reader.read_model(str(export_dir / "int8_full.tflite"))
    activations = [t for t in info.tensors if not t.is_const]
    assert sum(t.dtype == "int8" for t in activations) > 0.6 * len(activations)
    # Every layer is int8 except the output layer (the last FULLY_CONNECTED and SOFTMAX),
    # which computes in float32 (export/conversion/float_head.py; tests/test_float_outputs.py).
    from export.conversion import float_head
    head = float_head.head_ops(info)
    assert [op.op for op in reversed(head)] == ["FULLY_CONNECTED", "SOFTMAX"]
    for op in info.ops:
        if op.op in ("FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX") and op not in head:
            assert op.inputs[0].dtype == "int8" and op.outputs[0].dtype == "int8", op
    assert all(op.inputs[0].dtype == op.outputs[0].dtype == "float32" for op in head), head
    assert files["int8_full.tflite"]["float_output_layer"] == ["FULLY_CONNECTED", "SOFTMAX"]
    assert {t.dtype for t in info.inputs} == {"int32"}
    assert files["int8_full.tflite"]["outputs"][0]["dtype"] == "float32"
    dynamic = tflite_reader.read_model(str(export_dir / "int8_dynamic.tflite"))
    assert any(t.dtype == "int8" and t.is_const for t in dynamic.tensors)


def test_missing_or_truncated_model_is_a_one_line_error(workdir, tmp_path):
    missing = copy_workdir(workdir, tmp_path / "missing")
    os.remove(missing / "model.keras")
    r = run("export.convert", f"--workdir={missing}")
    assert_one_line_error(r, str(missing / "model.keras"), "not found")
    assert not (missing / "export").exists()

    truncated = copy_workdir(workdir, tmp_path / "truncated")
    data = (truncated / "model.keras").read_bytes()
    (truncated / "model.keras").write_bytes(data[: len(data) // 2])
    r = run("export.convert", f"--workdir={truncated}", "--variants=fp32")
    assert_one_line_error(r, str(truncated / "model.keras"))
    assert not (truncated / "export").exists()


def test_unknown_variant_is_a_one_line_error(workdir, tmp_path):
    r = run("export.convert", f"--workdir={workdir}", "--variants=fp32,int4")
    assert_one_line_error(r, "int4")


def test_failed_variant_leaves_no_file_and_no_stale_entry(workdir, exported, tmp_path,
                                                         monkeypatch):
    from export.contract import read_manifest, sha256_file
    from export.conversion import export_folder, variants

    work = copy_workdir(workdir, tmp_path / "w", with_export=True)  # an older, complete export
    export_dir = str(work / "export")
    old = read_manifest(export_dir)
    assert "int8_dynamic.tflite" in old["files"]
    real = variants.convert_to_bytes

    def flaky(saved_model_dir, variant, representative_inputs=None):
        if variant == "int8_dynamic":
            raise RuntimeError("simulated converter crash")
        return real(saved_model_dir, variant, representative_inputs)

    monkeypatch.setattr(variants, "convert_to_bytes", flaky)
    lines = []
    outcome = export_folder.export_workdir(str(work), ["fp32", "int8_dynamic"], log=lines.append)
    assert set(outcome["failed"]) == {"int8_dynamic"}
    assert "simulated converter crash" in outcome["failed"]["int8_dynamic"]
    assert any("int8_dynamic.tflite" in l and "FAILED" in l for l in lines)

    manifest = read_manifest(export_dir)
    assert not os.path.exists(os.path.join(export_dir, "int8_dynamic.tflite"))
    assert "int8_dynamic.tflite" not in manifest["files"]  # the older entry is gone too
    # Untouched variants from the same model are kept; every entry matches its file.
    assert set(manifest["files"]) == {"fp32.tflite", "fp16.tflite", "int8_full.tflite"}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(os.path.join(export_dir, name))
        assert "parity" in entry["checks"]
    assert not [n for n in os.listdir(export_dir) if ".tmp" in n]
    assert sorted(n for n in os.listdir(export_dir) if n.endswith(".tflite")) == [
        "fp16.tflite", "fp32.tflite", "int8_full.tflite"]


def test_update_checks_is_atomic_and_guarded(tmp_path):
    from export import contract as m

    export_dir = str(tmp_path)
    (tmp_path / "a.tflite").write_bytes(b"x")
    with m.edit(export_dir) as manifest:
        manifest["files"]["a.tflite"] = {"sha256": m.sha256_file(str(tmp_path / "a.tflite")),
                                         "checks": {}}
    m.update_checks(export_dir, "a.tflite", "gpu", {"ok": True})
    m.update_checks(export_dir, "a.tflite", "nnapi", {"ok": False, "fallbacks": 2},
                    expected_sha256=m.sha256_file(str(tmp_path / "a.tflite")))
    assert m.read_manifest(export_dir)["files"]["a.tflite"]["checks"] == {
        "gpu": {"ok": True}, "nnapi": {"ok": False, "fallbacks": 2}}
    with pytest.raises(ValueError, match="no entry for b.tflite"):
        m.update_checks(export_dir, "b.tflite", "gpu", {"ok": True})
    with pytest.raises(ValueError, match="changed"):
        m.update_checks(export_dir, "a.tflite", "gpu", {"ok": True}, expected_sha256="0" * 64)
    with pytest.raises(TypeError):
        m.update_checks(export_dir, "a.tflite", "gpu", {"bad": object()})
    assert m.read_manifest(export_dir)["files"]["a.tflite"]["checks"]["gpu"] == {"ok": True}
    assert sorted(os.listdir(tmp_path)) == [".manifest.lock", "a.tflite", "manifest.json"]


def test_static_checks_catch_dynamic_shapes_int64_and_2d_gather():
    import tensorflow as tf

    from export.tflite import reader as tflite_reader

    table = tf.constant(np.arange(40, dtype=np.float32).reshape(10, 4))

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.int32)])
    def f(ids):
        return tf.gather(table, tf.cast(ids, tf.int64)) * 2.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()])
    problems = " | ".join(tflite_reader.static_problems(tflite_reader.read_model(converter.convert())))
    assert "dynamic dimension" in problems
    assert "int64" in problems
    assert "GATHER" in problems and "2-D indices" in problems
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        tflite_reader.read_model(b"definitely not a model")
