"""The contract between training, export, the gate and the app, defined once.

A workdir (written by `python -m pipeline.train`) holds `config.json`, `model.keras` and the
task's files; its export folder `<workdir>/export/` holds the `.tflite` files and
`manifest.json`, which says what each file is and what was checked on it:

    {
      "format_version": 1, "task": "...", "variants": ["fp32", ...],   # what convert was asked for
      "name": ..., "description": ..., "version": ..., "author": ..., "license": ...,
      "signature": "serving_default", "sequence_length": 32,
      "inputs": [{"name", "dtype", "shape"}, ...], "output": {"name", "dtype", "shape", "meaning"},
      ...the task's own header fields (labels and tokenizer, or the items file)...,
      "size_budget_bytes": {"int8_full": 2000000, ...},
      "check_inputs": {"file": "check_inputs.npz", "examples": 200, "sha256": ...},
      "source": {"model": ".../model.keras", "model_sha256": ...},
      "files": {
        "fp32.tflite": {"variant": "fp32", "sha256": ..., "bytes": ..., "inputs": [...],
                        "outputs": [...], "ops": {"ADD": 15, ...}, "checks": {"parity": {...}}}
      }
    }

Here, and nowhere else: the shared names and ids, the one `UserError` ("tell the user in one
line, exit 2"), the one atomic writer (temporary file in the same folder, fsync, rename, fsync
of the folder; temp files of dead writers removed, a refused write a UserError), the folder
swap (`swap_in`: one atomic exchange where the file system has it), the typed reading of a
manifest (`Manifest`, `FileEntry`), the locked read-modify-write of it (`edit`),
`open_export`, which every command uses to open and validate an export folder, and
`check_signature`, the manifest against the model file it describes. Needs only the standard
library: the TensorFlow-free runtime uses it.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (data, config, flags, files), not a bug: every command
    prints `str(error)` as one `error:` line on stderr and exits with code 2."""

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
EXPORT_SUBDIR = "export"
SIGNATURE_KEY = "serving_default"
GOLDEN_NAME = "golden.json"
CHECK_INPUTS = "check_inputs.npz"
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "labels.txt"
ITEMS_FILE = "items.csv"
VARIANTS = ("fp32", "fp16", "int8_dynamic", "int8_full")
PAD_ID, OOV_ID = 0, 1  # item vocabularies: row 0 pads histories, row 1 is out of catalogue
EXPORT_HINT = "export it with python -m export.convert"
_LOCK_NAME = ".manifest.lock"
_TEMP_GLOB = ".*.tmp-*"

# The contract's functions live in two modules by job; every caller uses them from here.
from export.contract.files import (  # noqa: E402  (they need UserError, defined above)
    atomic_path,
    cannot_write,
    check_output_file,
    copy_atomic,
    fsync_folder,
    fsync_path,
    pid_alive,
    remove,
    remove_dead_folders,
    remove_stale_temp,
    replace_atomic,
    require_writable,
    sha256_file,
    swap_in,
    temp_path,
    write_bytes_atomic,
    write_json_atomic,
)
from export.contract.manifest import (  # noqa: E402
    ExportFolder,
    FileEntry,
    Manifest,
    check_signature,
    edit,
    empty_manifest,
    manifest_path,
    missing_problem,
    open_export,
    read_manifest,
    remove_file_entry,
    update_checks,
)

__all__ = ["UserError", "sha256_file", "temp_path", "fsync_path", "fsync_folder", "replace_atomic", "pid_alive", "remove_stale_temp", "check_output_file", "cannot_write", "atomic_path", "write_bytes_atomic", "write_json_atomic", "copy_atomic", "remove", "require_writable", "swap_in", "remove_dead_folders", "FileEntry", "Manifest", "manifest_path", "empty_manifest", "read_manifest", "edit", "remove_file_entry", "update_checks", "ExportFolder", "missing_problem", "open_export", "check_signature"]
