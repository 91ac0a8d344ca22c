"""`<workdir>/export/manifest.json`: what each exported file is, and what was checked on it.

Layout (format_version 1):

    {
      "format_version": 1,
      "name": ..., "description": ..., "version": ..., "author": ..., "license": ...,
      "sequence_length": 32,
      "labels": ["call_contact", ...], "labels_file": "labels.txt",
      "tokenizer": {"kind": "bert_wordpiece", "lowercase": true, "strip_accents": true,
                    "vocabulary_file": "vocab.txt", ...},
      "inputs": [...], "output": {...},           # what every file's signature means
      "source": {"model": ".../model.keras", "model_sha256": ...},
      "files": {
        "fp32.tflite": {
          "variant": "fp32", "quantization": "...", "sha256": ..., "bytes": 1515132,
          "inputs": [{"name", "shape", "dtype", "quantization"?}], "outputs": [...],
          "ops": {"ADD": 15, ...},
          "source_model_sha256": ...,
          "checks": {"parity": {...}, <later checks>: {...}}
        }, ...
      }
    }

Every write goes to a temporary file in the same folder and is `os.replace`d, under an
exclusive lock on `.manifest.lock`, so concurrent check scripts never lose each other's
results and a reader never sees half a file. Check code records results with

    update_checks(export_dir, "int8_full.tflite", "nnapi", {"ok": True, ...})

A file's entry (with its checks) is replaced whenever the file is re-exported.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from typing import Iterator, Optional

from export import tflite_io

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
_LOCK_NAME = ".manifest.lock"


def manifest_path(export_dir: str) -> str:
    return os.path.join(export_dir, MANIFEST_NAME)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def empty_manifest() -> dict:
    return {"format_version": FORMAT_VERSION, "files": {}}


def read_manifest(export_dir: str) -> dict:
    """The manifest, or an empty one when there is none. Raises ValueError if unreadable."""
    path = manifest_path(export_dir)
    if not os.path.exists(path):
        return empty_manifest()
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable manifest ({e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", {}), dict):
        raise ValueError(f"{path}: not a manifest (no 'files' object)")
    manifest.setdefault("files", {})
    return manifest


def write_json_atomic(obj, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a manifest is for everyone to read
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_manifest(export_dir: str, manifest: dict) -> None:
    """Writes the whole manifest atomically (temp file + rename). Prefer `edit`."""
    write_json_atomic(manifest, manifest_path(export_dir))


@contextlib.contextmanager
def _lock(export_dir: str) -> Iterator[None]:
    os.makedirs(export_dir, exist_ok=True)
    with open(os.path.join(export_dir, _LOCK_NAME), "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def edit(export_dir: str, *, reset_if_unreadable: bool = False) -> Iterator[dict]:
    """Read-modify-write under the lock; the manifest is written when the block ends normally.

        with manifest.edit(export_dir) as m:
            m["files"].pop("fp16.tflite", None)
    """
    with _lock(export_dir):
        try:
            manifest = read_manifest(export_dir)
        except ValueError:
            if not reset_if_unreadable:
                raise
            manifest = empty_manifest()
        yield manifest
        write_manifest(export_dir, manifest)


def describe_file(path: str, **fields) -> dict:
    """A file entry: `fields` first, then sha256, bytes, inputs, outputs, ops, checks={}."""
    info = tflite_io.read_model(path)
    return {
        **fields,
        "sha256": sha256_file(path),
        "bytes": os.path.getsize(path),
        "inputs": [t.to_json() for t in info.inputs],
        "outputs": [t.to_json() for t in info.outputs],
        "ops": info.op_counts(),
        "checks": {},
    }


def set_file(export_dir: str, file_name: str, entry: dict) -> None:
    """Adds or replaces the entry of `file_name` (a name inside export_dir)."""
    with edit(export_dir) as m:
        m["files"][file_name] = entry


def remove_file(export_dir: str, file_name: str) -> bool:
    """Drops the entry of `file_name`; True if there was one."""
    with edit(export_dir) as m:
        return m["files"].pop(file_name, None) is not None


def update_checks(export_dir: str, file_name: str, check_name: str, result: dict,
                  expected_sha256: Optional[str] = None) -> None:
    """Records `result` as `files[file_name].checks[check_name]`, atomically.

    `expected_sha256` (the digest of the file the check actually ran on) guards against
    recording a result for a file that was re-exported meanwhile. Raises ValueError when the
    file has no entry or the digest differs.
    """
    if not isinstance(result, dict):
        raise TypeError(f"check result must be a dict, got {type(result).__name__}")
    json.dumps(result)  # fail before touching the manifest if it is not serialisable
    with edit(export_dir) as m:
        entry = m["files"].get(file_name)
        if entry is None:
            raise ValueError(f"{manifest_path(export_dir)}: no entry for {file_name}")
        if expected_sha256 is not None and entry.get("sha256") != expected_sha256:
            raise ValueError(f"{manifest_path(export_dir)}: {file_name} changed since the check "
                             f"ran (sha256 {entry.get('sha256')}, checked {expected_sha256})")
        entry.setdefault("checks", {})[check_name] = result
