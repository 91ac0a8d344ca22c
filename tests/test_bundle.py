"""`python -m export.bundle`: an app's assets filled from an export, every file checked against
its manifest, refused as one line (exit 2) when a file is missing or changed, never half-copied.
Works on a copy of the shared `small_export` (with its golden.json), never on the fixture."""

import json
import os
import shutil

import pytest

from export import contract
from export.app import golden as golden_lib
from tests.conftest import assert_one_line_error, run


@pytest.fixture(scope="module")
def source(small_export, tmp_path_factory):
    """A workdir copy holding config.json and export/ with golden.json."""
    export_dir, _ = small_export
    workdir = tmp_path_factory.mktemp("bundle") / "intents"
    workdir.mkdir()
    shutil.copy(export_dir.parent / "config.json", workdir / "config.json")
    shutil.copytree(export_dir, workdir / "export")
    golden_lib.write_golden(str(workdir / "export"))
    return workdir


def _copy(source, tmp_path):
    dst = tmp_path / "work"
    shutil.copytree(source, dst)
    return dst


def _hashes(folder):
    return {p.name: contract.sha256_file(str(p)) for p in sorted(folder.iterdir())}


def test_bundle_copies_every_file_checked(source, tmp_path):
    to = tmp_path / "assets"
    r = run("export.bundle", f"--workdir={source}", f"--to={to}")
    assert r.returncode == 0, r.stderr[-2000:]
    target = to / "classifier"
    manifest = json.loads((source / "export" / "manifest.json").read_text(encoding="utf-8"))
    variants = sorted(manifest["files"])
    assert len(variants) == 4
    assert sorted(os.listdir(target)) == sorted(
        variants + ["vocab.txt", "labels.txt", "golden.json", "manifest.json"])
    assert os.listdir(to) == ["classifier"]  # no staging folder left behind
    for name in variants:
        assert contract.sha256_file(str(target / name)) == manifest["files"][name]["sha256"]
    assert contract.sha256_file(str(target / "vocab.txt")) == \
        manifest["tokenizer"]["vocabulary_sha256"]
    assert (target / "golden.json").read_bytes() == (source / "export" / "golden.json").read_bytes()
    bundled = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert bundled == manifest
    assert "bundled 8 files" in r.stdout


def test_variants_choose_files_and_drop_stale_ones(source, tmp_path):
    to = tmp_path / "assets"
    assert run("export.bundle", f"--workdir={source}", f"--to={to}").returncode == 0
    r = run("export.bundle", f"--workdir={source}", f"--to={to}",
            "--variants=fp32,int8_full.tflite")
    assert r.returncode == 0, r.stderr[-2000:]
    target = to / "classifier"
    assert sorted(os.listdir(target)) == sorted(
        ["fp32.tflite", "int8_full.tflite", "vocab.txt", "labels.txt", "golden.json",
         "manifest.json"])
    bundled = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(bundled["files"]) == ["fp32.tflite", "int8_full.tflite"]
    assert os.listdir(to) == ["classifier"]


def test_changed_model_is_refused_and_assets_kept(source, tmp_path):
    work = _copy(source, tmp_path)
    to = tmp_path / "assets"
    assert run("export.bundle", f"--workdir={work}", f"--to={to}").returncode == 0
    before = _hashes(to / "classifier")
    path = work / "export" / "int8_dynamic.tflite"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    r = run("export.bundle", f"--workdir={work}", f"--to={to}")
    assert_one_line_error(r, "int8_dynamic.tflite", "sha256", "differs from", "manifest.json")
    assert _hashes(to / "classifier") == before
    assert os.listdir(to) == ["classifier"]


@pytest.mark.parametrize("missing,needles", [
    ("vocab.txt", ("vocab.txt", "missing")),
    ("fp16.tflite", ("fp16.tflite", "missing", "export.convert")),
    ("golden.json", ("golden.json", "python -m export.golden")),
])
def test_missing_file_is_refused(source, tmp_path, missing, needles):
    work = _copy(source, tmp_path)
    os.remove(work / "export" / missing)
    to = tmp_path / "assets"
    r = run("export.bundle", f"--workdir={work}", f"--to={to}")
    assert_one_line_error(r, *needles)
    assert not (to / "classifier").exists()


def test_bad_arguments_are_one_line(source, tmp_path):
    assert_one_line_error(run("export.bundle", f"--workdir={source}", f"--to={tmp_path}",
                              "--variants=fp32,int9"), "int9", "manifest.json")
    assert_one_line_error(run("export.bundle", f"--workdir={tmp_path / 'nope'}",
                              f"--to={tmp_path}"), "nope", "export.convert")
    assert_one_line_error(run("export.bundle", f"--to={tmp_path}"), "--workdir is required")


def test_destination_outside_to_or_not_a_folder_is_refused(source, tmp_path):
    """`--name` is one folder under `--to` and `--to` a folder: else one line, nothing written."""
    to = tmp_path / "assets"
    for name in ("../escape", "a/b", "..", ".hidden", "/tmp/abs"):
        r = run("export.bundle", f"--workdir={source}", f"--to={to}", f"--name={name}")
        assert_one_line_error(r, f"--name={name}", "one folder name")
    assert sorted(os.listdir(tmp_path)) == []
    a_file = tmp_path / "assets.txt"
    a_file.write_text("not a folder\n")
    assert_one_line_error(run("export.bundle", f"--workdir={source}", f"--to={a_file}"),
                          f"--to={a_file}", "not a folder")
    assert_one_line_error(run("export.bundle", f"--workdir={source}", f"--to={a_file}/sub"),
                          f"--to={a_file}/sub", "cannot write")
    assert sorted(os.listdir(tmp_path)) == ["assets.txt"]
    assert a_file.read_text() == "not a folder\n"


def test_golden_of_another_model_is_refused(source, tmp_path):
    work = _copy(source, tmp_path)
    path = work / "export" / "golden.json"
    golden = json.loads(path.read_text(encoding="utf-8"))
    golden["classifier"]["model_sha256"] = "0" * 64
    path.write_text(json.dumps(golden), encoding="utf-8")
    r = run("export.bundle", f"--workdir={work}", f"--to={tmp_path / 'assets'}")
    assert_one_line_error(r, "golden.json", "another", "export.golden")
