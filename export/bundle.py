"""Fill an app's assets from an export folder, checking every file against its manifest.

    python -m export.bundle --workdir=runs/intents --to android_demo/app/src/main/assets \\
        [--variants=fp32,int8_dynamic] [--name=classifier]

Copies into `<to>/<name>/` (name: `classifier` or `recommender` from the manifest's task, or
`--name`): the chosen `.tflite` variants (default: every one the manifest lists), the
vocabulary and labels (classifier) or the items file (recommender), `golden.json` (write it
with `python -m export.golden <workdir>/export`) and `manifest.json`, trimmed to the chosen
files. Each file's sha256 is checked against the manifest before and after copying; a missing
or changed file is one `error:` line naming it and exit code 2, and the destination is left as
it was: everything is staged in a temporary folder next to `<to>/<name>/` and swapped in at the
end, so an app never sees half a bundle (files of an older bundle that are not in the new one
go away with it).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

from absl import flags

from export import manifest as manifest_lib
from pipeline import cli
from pipeline.errors import UserError

GOLDEN_NAME = "golden.json"
EXPORT_SUBDIR = "export"


def bundle_name(manifest: dict) -> str:
    """`recommender` for a recommender export, else `classifier`."""
    from export.golden import is_recommender
    return "recommender" if is_recommender(manifest) else "classifier"


def _variant_files(manifest: dict, variants, manifest_path: str) -> list:
    files = manifest.get("files", {})
    if not files:
        raise UserError(f"{manifest_path}: lists no model file; export first with "
                        "python -m export.convert")
    if not variants:
        return sorted(files)
    by_variant = {entry.get("variant", name.rsplit(".", 1)[0]): name for name, entry in files.items()}
    chosen = []
    for v in variants:
        name = v if v in files else by_variant.get(v)
        if name is None:
            raise UserError(f"--variants={','.join(variants)}: {v!r} is not in {manifest_path} "
                            f"(it lists {', '.join(sorted(by_variant))})")
        if name not in chosen:
            chosen.append(name)
    return chosen


def _check(path: str, expected: str | None, manifest_path: str) -> None:
    if not os.path.isfile(path):
        raise UserError(f"{path}: missing (listed in {manifest_path}); re-export with "
                        "python -m export.convert")
    if expected is not None:
        actual = manifest_lib.sha256_file(path)
        if actual != expected:
            raise UserError(f"{path}: sha256 {actual[:16]}... differs from {manifest_path} "
                            f"({expected[:16]}...); the file changed after the export, re-export")


def plan(export_dir: str, variants=None) -> tuple:
    """(manifest trimmed to the chosen files, [(file name, expected sha256 or None)])."""
    manifest_path = manifest_lib.manifest_path(export_dir)
    if not os.path.isfile(manifest_path):
        raise UserError(f"{manifest_path}: not found; export first with python -m export.convert")
    try:
        manifest = manifest_lib.read_manifest(export_dir)
    except ValueError as e:
        raise UserError(str(e)) from None
    chosen = _variant_files(manifest, variants, manifest_path)
    files = [(name, manifest["files"][name].get("sha256")) for name in chosen]
    if bundle_name(manifest) == "recommender":
        files.append((manifest.get("items_file", "items.csv"), manifest.get("items_sha256")))
    else:
        tokenizer = manifest.get("tokenizer", {})
        files.append((tokenizer.get("vocabulary_file", "vocab.txt"),
                      tokenizer.get("vocabulary_sha256")))
        files.append((manifest.get("labels_file", "labels.txt"), None))
    files.append((GOLDEN_NAME, None))
    trimmed = dict(manifest)
    trimmed["files"] = {name: manifest["files"][name] for name in chosen}
    return trimmed, files


def bundle(workdir: str, to: str, variants=None, name: str | None = None) -> dict:
    """Copies the export of `workdir` into `<to>/<name>/`; returns {"dir", "files", "bytes"}."""
    if not workdir:
        raise UserError("--workdir is required (a workdir exported with python -m export.convert)")
    if not to:
        raise UserError("--to is required, e.g. --to android_demo/app/src/main/assets")
    export_dir = os.path.join(workdir, EXPORT_SUBDIR)
    if not os.path.isdir(export_dir):
        raise UserError(f"{export_dir}: no such folder; export first with "
                        f"python -m export.convert --workdir={workdir}")
    manifest, files = plan(export_dir, variants)
    manifest_path = manifest_lib.manifest_path(export_dir)
    for file_name, sha in files:
        path = os.path.join(export_dir, file_name)
        if file_name == GOLDEN_NAME and not os.path.isfile(path):
            raise UserError(f"{path}: not found; write it with python -m export.golden "
                            f"{export_dir}")
        _check(path, sha, manifest_path)
    with open(os.path.join(export_dir, GOLDEN_NAME), encoding="utf-8") as f:
        try:
            golden = json.load(f)
        except ValueError as e:
            raise UserError(f"{os.path.join(export_dir, GOLDEN_NAME)}: not JSON ({e}); "
                            f"rewrite it with python -m export.golden {export_dir}") from None
    section = golden.get("classifier") or golden.get("recommendations") or {}
    model_file = section.get("model_file")
    if model_file and manifest_lib.read_manifest(export_dir)["files"].get(model_file, {}).get(
            "sha256") != section.get("model_sha256"):
        raise UserError(f"{os.path.join(export_dir, GOLDEN_NAME)}: written for another "
                        f"{model_file} than the one in {manifest_path}; rewrite it with "
                        f"python -m export.golden {export_dir}")

    name = name or bundle_name(manifest)
    os.makedirs(to, exist_ok=True)
    target = os.path.join(to, name)
    staging = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=to)
    try:
        total = 0
        for file_name, sha in files:
            copy = os.path.join(staging, file_name)
            shutil.copyfile(os.path.join(export_dir, file_name), copy)
            _check(copy, sha, manifest_path)  # what landed is what was checked
            total += os.path.getsize(copy)
        manifest_lib.write_json_atomic(manifest, os.path.join(staging, manifest_lib.MANIFEST_NAME))
        os.chmod(staging, 0o755)
        old = None
        if os.path.exists(target):
            old = tempfile.mkdtemp(prefix=f".{name}.old-", dir=to)
            os.rmdir(old)
            os.rename(target, old)
        os.rename(staging, target)
        staging = None
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    names = [f for f, _ in files] + [manifest_lib.MANIFEST_NAME]
    return {"dir": target, "files": names, "bytes": total}


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "A workdir exported with python -m export.convert.")
    flags.DEFINE_string("to", None, "The app's assets folder, e.g. android_demo/app/src/main/assets.")
    flags.DEFINE_list("variants", [], "Variants to ship (e.g. fp32,int8_dynamic); default: all.")
    flags.DEFINE_string("name", None, "Subfolder under --to (default: classifier or recommender).")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    outcome = bundle(FLAGS.workdir, FLAGS.to, FLAGS.variants, FLAGS.name)
    print(f"bundled {len(outcome['files'])} files ({outcome['bytes'] / 1e6:.2f} MB) into "
          f"{outcome['dir']}: {', '.join(outcome['files'])}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
