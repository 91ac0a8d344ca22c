"""Fill an app's assets from an export folder, checking every file against its manifest.

    from export.app import bundle
    bundle.bundle("runs/intents", "android_demo/app/src/main/assets", variants=["fp32"])

Copies into `<to>/<name>/` (name: the task's `bundle_name`, e.g. `classifier` or
`recommender`, or the one given): the chosen `.tflite` variants (default: every one the
manifest lists), the task's files (`Task.bundle_files`: vocabulary and labels, or the items
file), `golden.json` (written by `python -m export.golden <workdir>/export`) and
`manifest.json`, trimmed to the chosen files. Each file's sha256 is checked against the
manifest before and after copying; a missing or changed file, a golden.json written for
another model, a `to` that is not a folder or a `name` that is not one folder name is a
UserError naming it, and the destination is left as it was: everything is staged in a
temporary folder next to `<to>/<name>/` and swapped in at the end, so an app never sees half a
bundle (files of an older bundle that are not in the new one go away with it).
"""

from __future__ import annotations

import json
import os
import shutil

from export import contract
from export.contract import EXPORT_SUBDIR, GOLDEN_NAME, MANIFEST_NAME, UserError
from pipeline import tasks


def _check_name(name: str) -> None:
    """`name` must be one folder right under `to`: no separator, not `..`, and no leading dot
    (the staging folders are `.<name>.tmp-*`, and Android's asset packaging skips dot files)."""
    if not name or name.startswith(".") or "\x00" in name or any(s in name for s in "/\\"):
        raise UserError(f"--name={name}: must be one folder name under --to (no path, no "
                        "leading dot), e.g. --name=classifier")


def _check_to(to: str) -> None:
    if os.path.exists(to) and not os.path.isdir(to):
        raise UserError(f"--to={to}: not a folder (give the app's assets folder, e.g. "
                        "--to android_demo/app/src/main/assets)")


def _model_files(variants) -> list | None:
    """The file names of `variants` (`fp32` or `fp32.tflite`); None: every listed file."""
    if not variants:
        return None
    names = [v if v.endswith(".tflite") else f"{v}.tflite" for v in variants]
    return list(dict.fromkeys(names))


def _check(path: str, expected: str | None, manifest_path: str) -> None:
    if not os.path.isfile(path):
        raise UserError(f"{path}: missing (listed in {manifest_path}); re-export with "
                        "python -m export.convert")
    if expected is not None:
        actual = contract.sha256_file(path)
        if actual != expected:
            raise UserError(f"{path}: sha256 {actual[:16]}... differs from {manifest_path} "
                            f"({expected[:16]}...); the file changed after the export, re-export")


def _check_golden(export_dir: str, manifest: contract.Manifest) -> None:
    """golden.json must exist, parse and, in each section naming a model, name this export's."""
    path = os.path.join(export_dir, GOLDEN_NAME)
    rewrite = f"write it with python -m export.golden {export_dir}"
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found; {rewrite}")
    try:
        with open(path, encoding="utf-8") as f:
            golden = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not JSON ({e}); {rewrite}") from None
    if not isinstance(golden, dict) or "format_version" not in golden:
        raise UserError(f"{path}: not a golden file (a JSON object with format_version); "
                        f"{rewrite}")
    for section in golden.values():
        model_file = section.get("model_file") if isinstance(section, dict) else None
        if model_file is None:
            continue
        entry = manifest.files.get(model_file)
        if entry is None or entry.sha256 != section.get("model_sha256"):
            raise UserError(f"{path}: written for another {model_file} than the one in "
                            f"{manifest.path}; {rewrite}")


def _read_model(path: str):
    """The file's flatbuffer (inputs, outputs) for `contract.check_signature`; UserError."""
    from export.tflite import reader as tflite_reader
    try:
        return tflite_reader.read_model(path)
    except ValueError as e:
        raise UserError(" ".join(str(e).split())) from None


def plan(export_dir: str, variants=None) -> tuple:
    """(task, manifest dict trimmed to the chosen files, [(file name, expected sha256 or
    None)]): the export opened and its chosen models verified (`contract.open_export`)."""
    folder = contract.open_export(export_dir, files=_model_files(variants))
    if folder.problems:  # an export is complete or absent: never ship part of one
        raise UserError(f"{folder.problems[0]}; nothing was bundled")
    manifest = folder.manifest
    chosen = _model_files(variants) or sorted(manifest.files)
    task = tasks.get(manifest.task, where=f"{manifest.path}: task")
    for name in chosen:  # the app sizes its buffers from the manifest it ships
        contract.check_signature(manifest, name, _read_model(os.path.join(export_dir, name)))
    files = [(name, manifest.files[name].sha256) for name in chosen]
    files += list(task.bundle_files(manifest)) + [(GOLDEN_NAME, None)]
    for name, sha in files[len(chosen):]:  # open_export verified the models
        if name != GOLDEN_NAME:
            _check(os.path.join(export_dir, name), sha, manifest.path)
    _check_golden(export_dir, manifest)
    trimmed = {**manifest.header, "files": {name: manifest.files[name].fields for name in chosen}}
    return task, trimmed, files


def bundle(workdir: str, to: str, variants=None, name: str | None = None) -> dict:
    """Copies the export of `workdir` into `<to>/<name>/`; returns {"dir", "files", "bytes"}."""
    if not workdir:
        raise UserError("--workdir is required (a workdir exported with python -m export.convert)")
    if not to:
        raise UserError("--to is required, e.g. --to android_demo/app/src/main/assets")
    if name is not None:
        _check_name(name)
    _check_to(to)
    export_dir = os.path.join(workdir, EXPORT_SUBDIR)
    task, manifest, files = plan(export_dir, variants)
    name = name or task.bundle_name
    _check_name(name)
    manifest_path = contract.manifest_path(export_dir)
    target = os.path.join(to, name)
    staging = os.path.join(to, f".{name}.tmp-{os.getpid()}")
    try:
        os.makedirs(to, exist_ok=True)
        for pattern in (f".{name}.tmp-*", f".{name}.old-*"):  # left by killed runs
            contract.remove_dead_folders(to, pattern)
        os.mkdir(staging)
    except OSError as e:
        raise UserError(f"--to={to}: cannot write there ({e.strerror})") from None
    try:
        total = 0
        for file_name, sha in files:
            copy = os.path.join(staging, file_name)
            shutil.copyfile(os.path.join(export_dir, file_name), copy)
            _check(copy, sha, manifest_path)  # what landed is what was checked
            total += os.path.getsize(copy)
        contract.write_json_atomic(manifest, os.path.join(staging, MANIFEST_NAME))
        os.chmod(staging, 0o755)
        old = contract.swap_in(staging, target, os.path.join(to, f".{name}.old-{os.getpid()}"))
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:  # a full disk, say: the older bundle stays as it was
        raise UserError(f"--to={to}: cannot write the bundle ({e.strerror}); {target} is "
                        "unchanged") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"dir": target, "files": [f for f, _ in files] + [MANIFEST_NAME], "bytes": total}
