"""export.check, the CI gate: PASS/FAIL lines, exit 0/1/2, on a real small export."""

import json
import shutil

import pytest

from tests.conftest import assert_one_line_error, run


def gate(export_dir, *args):
    return run("export.check", str(export_dir), *args)


def test_static_checks_pass_and_int8_full_is_nnapi_clean_at_api_30(small_export):
    export_dir, _ = small_export
    r = gate(export_dir, "--require=nnapi=30,parity,metadata,size")
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    lines = r.stdout.splitlines()
    for name in ("fp32", "fp16", "int8_dynamic", "int8_full"):
        assert any(l.startswith("PASS parity") and f"{name}.tflite" in l for l in lines), lines
        assert any(l.startswith("PASS metadata") and f"{name}.tflite" in l for l in lines)
    nnapi = next(l for l in lines if l.startswith("PASS nnapi"))
    assert "int8_full.tflite" in nnapi and "0 of" in nnapi and "lowest clean API level 30" in nnapi
    assert any(l.startswith("PASS size") and "int8_full.tflite" in l for l in lines)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["files"]["int8_full.tflite"]["checks"]["nnapi"]["lowest_clean_api_level"] == 30
    assert manifest["files"]["int8_full.tflite"]["graph_target"] == "nnapi"


def test_nnapi_below_the_reachable_level_fails_with_exit_1(small_export):
    r = gate(small_export[0], "--require=nnapi=29", "--files=int8_full.tflite")
    assert r.returncode == 1, r.stdout + r.stderr[-2000:]
    fail = next(l for l in r.stdout.splitlines() if l.startswith("FAIL nnapi"))
    assert "int8_full.tflite" in fail and "fall back at API 29" in fail
    assert r.stdout.splitlines()[-1].startswith("FAILED 1 required check")


def test_gpu_gate_on_fp32(small_export):
    from export.checks import gpu
    r = gate(small_export[0], "--require=gpu", "--files=fp32.tflite,fp16.tflite")
    ok, why = gpu.gpu_available()
    if not ok:
        assert r.returncode == 1 and "not run" in r.stdout and why in r.stdout, r.stdout
        pytest.skip(why)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    lines = [l for l in r.stdout.splitlines() if l.startswith("PASS gpu")]
    assert len(lines) == 4 and all("fully accelerated" in l for l in lines), r.stdout
    manifest = json.loads((small_export[0] / "manifest.json").read_text())
    checks = manifest["files"]["fp32.tflite"]["checks"]
    assert checks["gpu_f32"]["ok"] and checks["gpu_f32"]["max_abs_diff"] <= 1e-4
    assert checks["gpu"]["ok"] and checks["gpu"]["agreement"] >= 0.995
    assert abs(checks["gpu"]["accuracy_change_points"]) <= 0.5


@pytest.fixture
def export_copy(small_export, tmp_path):
    path = tmp_path / "export"
    shutil.copytree(small_export[0], path)
    return path


def test_size_over_budget_fails(export_copy):
    manifest = json.loads((export_copy / "manifest.json").read_text())
    manifest["size_budget_bytes"]["int8_full"] = 1000
    (export_copy / "manifest.json").write_text(json.dumps(manifest))
    r = gate(export_copy, "--require=size")
    assert r.returncode == 1
    assert any(l.startswith("FAIL size") and "int8_full.tflite" in l and "budget 0.001 MB" in l
               for l in r.stdout.splitlines()), r.stdout


def test_bad_inputs_exit_2_with_one_line(export_copy, tmp_path):
    assert_one_line_error(gate(tmp_path / "nowhere"), "no such export folder")
    assert_one_line_error(gate(export_copy, "--require=speed"), "unknown check 'speed'")
    assert_one_line_error(gate(export_copy, "--require=nnapi"), "nnapi=30")
    assert_one_line_error(gate(export_copy, "--files=nope.tflite"), "no entry for nope.tflite")
    data = (export_copy / "fp16.tflite").read_bytes()
    (export_copy / "fp16.tflite").write_bytes(data[:len(data) // 3])
    assert_one_line_error(gate(export_copy, "--require=parity"), "fp16.tflite")
    (export_copy / "fp16.tflite").write_bytes(b"not a model at all")
    assert_one_line_error(gate(export_copy, "--require=parity"), "fp16.tflite")
    (export_copy / "fp16.tflite").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert_one_line_error(gate(export_copy, "--require=parity"), "sha256 differs")
    (export_copy / "fp16.tflite").unlink()  # a listed file missing: the export is incomplete
    r = gate(export_copy, "--require=parity")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr[-2000:]
    assert any(l.startswith("FAIL complete") and "fp16.tflite" in l and "missing" in l
               for l in r.stdout.splitlines()), r.stdout
    (export_copy / "manifest.json").unlink()
    assert_one_line_error(gate(export_copy), "manifest.json: not found")
