"""The numbers users read are float in every variant: int8_full's output layer is not quantized.

Classifier (the shared tiny intents export): probabilities are not multiples of 1/256, a second
choice the fp32 file gives is not printed as 0, the output layer (last FULLY_CONNECTED and
SOFTMAX) computes in float32 and the file still passes the NNAPI API-30 and parity gates.
Recommender (configs/movielens.py:tiny on ml-latest-small, as .ci/run trains it): int8 scores
do not tie, int8_full keeps one int8 item table, and the gate reports and requires the top-10
overlap with the Keras model (>= 0.9 for int8 files).
"""

import json
import os
import types

import numpy as np
import pytest

from tests.conftest import REPO, run, shared_dataset

VARIANTS = ("fp32", "fp16", "int8_dynamic", "int8_full")
INPUTS = ("token_ids", "padding_mask", "segment_ids")


def _outputs(export_dir, variant, keys):
    from export.tflite.runner import Runner
    with np.load(export_dir / "check_inputs.npz") as data:
        inputs = {k: data[k] for k in keys}
    return Runner(str(export_dir / f"{variant}.tflite"), input_keys=keys).run_all(inputs)


def _on_grid(values, steps=256):
    """Share of values that are multiples of 1/steps (what an int8 softmax writes)."""
    return float(np.mean(np.abs(values * steps - np.round(values * steps)) < 1e-4))


# -- classifier --------------------------------------------------------------------------------
def test_int8_full_probabilities_are_not_in_steps_of_1_256(small_export):
    export_dir, _ = small_export
    fp32 = _outputs(export_dir, "fp32", INPUTS)
    for variant in VARIANTS:
        probs = _outputs(export_dir, variant, INPUTS)
        # Float softmax: values off the 1/256 grid (tiny ones are near 0, a grid point, in
        # any case), sums 1 to float rounding.
        visible = probs[probs > 1e-3]
        assert _on_grid(visible) < 0.05, (variant, _on_grid(visible))
        assert np.abs(probs.sum(-1) - 1).max() < 1e-5, variant
        # A second choice the fp32 file gives (> 1e-3) is not printed as 0.0000.
        second_fp32 = np.sort(fp32, -1)[:, -2]
        second = np.sort(probs, -1)[:, -2]
        shown = second_fp32 > 1e-3
        assert shown.any()
        assert np.all(second[shown] > 0), (variant, second[shown].min())
        assert np.mean(np.round(second[shown], 4) == 0) <= 0.01, variant  # printed 0.0000
    # The top choice is the fp32 one almost always, its probability close to it.
    int8 = _outputs(export_dir, "int8_full", INPUTS)
    assert np.mean(int8.argmax(-1) == fp32.argmax(-1)) >= 0.95
    assert np.abs(int8 - fp32).max() < 0.2


def test_int8_full_output_layer_is_float_and_still_gated(small_export):
    from export.conversion import float_head
    from export.tflite import reader as tflite_reader

    export_dir, _ = small_export
    info = tflite_reader.read_model(str(export_dir / "int8_full.tflite"))
    head = float_head.head_ops(info)
    assert [op.op for op in reversed(head)] == ["FULLY_CONNECTED", "SOFTMAX"]
    assert float_head.head_problems(info) == []
    fc = head[1]
    assert fc.inputs[0].dtype == "float32" and fc.inputs[1].dtype == "float32"
    # Everything before the output layer is int8.
    for op in info.ops:
        if op.op in ("FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX") and op not in head:
            assert op.inputs[0].dtype == "int8", op
    manifest = json.loads((export_dir / "manifest.json").read_text())
    entry = manifest["files"]["int8_full.tflite"]
    assert entry["float_output_layer"] == ["FULLY_CONNECTED", "SOFTMAX"]
    assert entry["checks"]["nnapi"]["at_api"]["30"]["fallbacks"] == []
    assert entry["bytes"] <= manifest["size_budget_bytes"]["int8_full"]
    assert entry["checks"]["parity"]["max_probability_sum_error"] < 1e-5
    r = run("export.check", str(export_dir), "--require=nnapi=30,parity,size",
            "--files=int8_full.tflite")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_head_problems_name_a_quantized_output_layer():
    """The static check convert runs: an output written by DEQUANTIZE of int8 is refused."""
    from export.conversion import float_head
    from export.tflite.reader import OpInfo, TensorInfo

    def tensor(index, dtype):
        return TensorInfo(index, f"t{index}", dtype, (1, 4), None, False)

    ops = [OpInfo(0, "SOFTMAX", (tensor(0, "int8"),), (tensor(1, "int8"),)),
           OpInfo(1, "DEQUANTIZE", (tensor(1, "int8"),), (tensor(2, "float32"),))]
    info = types.SimpleNamespace(ops=ops, outputs=[tensor(2, "float32")])
    assert "DEQUANTIZE" in float_head.head_problems(info)[0]
    ops = [OpInfo(0, "FULLY_CONNECTED", (tensor(0, "float32"),), (tensor(1, "float32"),)),
           OpInfo(1, "SOFTMAX", (tensor(1, "float32"),), (tensor(2, "float32"),))]
    info = types.SimpleNamespace(ops=ops, outputs=[tensor(2, "float32")])
    assert float_head.head_problems(info) == []
    assert float_head.float_head_summary(info) == ["FULLY_CONNECTED", "SOFTMAX"]


# -- the gate's top-10 overlap ---------------------------------------------------------------
def test_top_k_overlap_ignores_order():
    from pipeline.tasks.next_item.export_spec import top_k_overlap
    a = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert top_k_overlap(a, a[:, ::-1]) == 1.0
    assert top_k_overlap(a, np.array([[1, 2, 9, 9], [0, 0, 0, 0]])) == pytest.approx(0.25)


def _gate_lines(parity: dict, variant: str) -> tuple:
    """check_parity of a next_item file with `parity` as its manifest result."""
    from export.checks.gate import Gate
    from pipeline import tasks

    gate = Gate.__new__(Gate)  # only what check_parity reads
    lines = []
    gate.out, gate.required, gate.failed_required = lines.append, {"parity": None}, []
    gate.task = tasks.get("next_item")
    gate.manifest = types.SimpleNamespace(path="manifest.json")
    gate.check_parity(f"{variant}.tflite",
                      types.SimpleNamespace(variant=variant, checks={"parity": parity}))
    return lines, gate.failed_required


def test_gate_requires_top10_overlap_for_int8_recommenders():
    from pipeline import tasks
    task = tasks.get("next_item")
    for variant in ("int8_dynamic", "int8_full"):
        assert ("top10_overlap", ">=", 0.9) in [(r.key, r.op, r.threshold)
                                                for r in task.rules_for(variant)]
    assert len(tasks.get("text_classification").rules_for("int8_full")) == 1
    good = {"users": 610, "hr10_drop_points": 0.2, "top10_overlap": 0.95, "split": "test"}
    lines, failed = _gate_lines(good, "int8_full")
    assert not failed and len(lines) == 2, lines
    assert lines[1].startswith("PASS parity") and "top-10 overlap 95.0000% (need >= 90.0%)" \
        in lines[1], lines
    lines, failed = _gate_lines({**good, "top10_overlap": 0.06}, "int8_full")
    assert failed == ["parity int8_full.tflite"] and lines[1].startswith("FAIL parity"), lines
    # An export made before the figure existed fails with the usual hint.
    lines, failed = _gate_lines({k: v for k, v in good.items() if k != "top10_overlap"},
                                "int8_dynamic")
    assert failed and "no parity result (top10_overlap)" in lines[1], lines
    # fp32/fp16 lines report the overlap without gating it.
    lines, failed = _gate_lines({**good, "top10_identical": 1.0, "top10_overlap": 1.0}, "fp32")
    assert not failed and "top-10 overlap 100.00% (reported)" in lines[0], lines


# -- recommender -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recs_export(tmp_path_factory):
    """configs/movielens.py:tiny trained and converted as .ci/run does: the export folder."""
    data = shared_dataset("ml-latest-small")
    workdir = tmp_path_factory.mktemp("recs_float") / "recs"
    r = run("pipeline.train", f"--config={os.path.join(REPO, 'configs', 'movielens.py')}:tiny",
            f"--workdir={workdir}", f"--config.data.dir={data}")
    assert r.returncode == 0, r.stderr[-3000:]
    r = run("export.convert", f"--workdir={workdir}", "--variants=fp32,int8_dynamic,int8_full")
    assert r.returncode == 0, r.stderr[-3000:]
    return workdir / "export"


@pytest.mark.slow
def test_recommender_int8_scores_do_not_tie_and_keep_the_top10(recs_export):
    from export.conversion import float_head
    from export.tflite import reader as tflite_reader

    manifest = json.loads((recs_export / "manifest.json").read_text())
    for variant in ("int8_dynamic", "int8_full"):
        parity = manifest["files"][f"{variant}.tflite"]["checks"]["parity"]
        assert parity["top10_overlap"] >= 0.9, (variant, parity)
        scores = _outputs(recs_export, variant, ("item_ids",))
        top11 = -np.sort(-scores, axis=1)[:, :11]
        ties = np.mean([len(np.unique(row)) < 11 for row in top11])
        assert ties < 0.05, (variant, ties)  # int8 scores tied for 95 % of users
    assert manifest["files"]["fp32.tflite"]["checks"]["parity"]["top10_overlap"] >= 0.99

    info = tflite_reader.read_model(str(recs_export / "int8_full.tflite"))
    head = float_head.head_ops(info)
    assert [op.op for op in head] == ["FULLY_CONNECTED"] and float_head.head_problems(info) == []
    weights = head[0].inputs[1]
    assert weights.dtype == "float32" and not weights.is_const  # DEQUANTIZE of the int8 table
    vocabulary = manifest["num_items"]
    tables = [t for t in info.tensors if t.is_const and t.shape and t.shape[0] == vocabulary]
    assert [t.dtype for t in tables] == ["int8"], tables  # one item table, shared

    r = run("export.check", str(recs_export), "--require=nnapi=30,parity,metadata")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    lines = r.stdout.splitlines()
    for variant in ("int8_dynamic", "int8_full"):
        assert any(line.startswith("PASS parity") and f"{variant}.tflite" in line
                   and "top-10 overlap" in line for line in lines), lines
    assert any(line.startswith("PASS nnapi") and "int8_full.tflite" in line
               and "0 of" in line for line in lines), lines
