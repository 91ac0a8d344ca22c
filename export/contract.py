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
of the folder), the typed reading of a manifest (`Manifest`, `FileEntry`), the locked
read-modify-write of it (`edit`), and `open_export`, which every command uses to open and
validate an export folder. Needs only the standard library: the TensorFlow-free runtime uses it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import glob
import hashlib
import json
import os
import shutil
from collections.abc import Iterator


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


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------
def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def temp_path(path: str) -> str:
    """The temporary name beside `path` that a writer uses (cleaned by `remove_stale_temp`)."""
    return os.path.join(os.path.dirname(os.path.abspath(path)),
                        f".{os.path.basename(path)}.tmp-{os.getpid()}")


def fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot open a folder for fsync
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_atomic(tmp: str, path: str) -> None:
    """Renames a finished temporary file over `path` and makes the rename durable."""
    os.replace(tmp, path)
    fsync_folder(os.path.dirname(os.path.abspath(path)))


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path beside `path` for a writer that takes a file name (np.savez,
    model.save); on success fsyncs and renames it over `path`, on failure removes it."""
    tmp = temp_path(path)
    root, ext = os.path.splitext(path)
    if ext:  # writers such as np.savez and Keras insist on the extension
        tmp += ext
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        replace_atomic(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def write_bytes_atomic(data: bytes, path: str, mode: int = 0o644) -> None:
    """`path` holds `data` or what it held before, never a part: temp file, fsync, rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode & ~_umask())


def write_json_atomic(obj, path: str, compact: bool = False) -> None:
    """JSON written with `write_bytes_atomic`: indented, or compact (app assets)."""
    if compact:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(obj, indent=2, ensure_ascii=False)
    write_bytes_atomic((text + "\n").encode("utf-8"), path)


def copy_atomic(src: str, dst: str) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def remove_stale_temp(folder: str) -> list:
    """Deletes temporary files that a killed writer left in `folder`; returns their names."""
    removed = []
    for tmp in glob.glob(os.path.join(folder, _TEMP_GLOB)):
        remove(tmp)
        removed.append(os.path.basename(tmp))
    return removed


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# ---------------------------------------------------------------------------------------------
# The manifest, typed
# ---------------------------------------------------------------------------------------------
def _typed(path: str, where: str, value, kind, what: str):
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UserError(f"{path}: {where} must be {what}, got {json.dumps(value)[:60]}; "
                        f"{EXPORT_HINT} again")
    return value


@dataclasses.dataclass
class FileEntry:
    """One exported file as the manifest describes it."""
    name: str
    variant: str
    sha256: str
    bytes: int
    checks: dict
    fields: dict  # the whole entry as written (inputs, outputs, ops, graph target, ...)

    @classmethod
    def parse(cls, path: str, name: str, entry) -> FileEntry:
        where = f"files[{name!r}]"
        _typed(path, where, entry, dict, "an object")
        sha = _typed(path, f"{where}.sha256", entry.get("sha256"), str, "a hex digest")
        size = _typed(path, f"{where}.bytes", entry.get("bytes"), int, "a byte count")
        checks = _typed(path, f"{where}.checks", entry.get("checks", {}), dict, "an object")
        for check, result in checks.items():
            _typed(path, f"{where}.checks.{check}", result, dict, "an object")
        variant = _typed(path, f"{where}.variant", entry.get("variant", name.rsplit(".", 1)[0]),
                         str, "a variant name")
        return cls(name, variant, sha, size, checks, entry)


@dataclasses.dataclass
class Manifest:
    """`manifest.json`, read and type-checked: the shared header fields as attributes, the
    task's own header fields in `header`, every file's entry in `files`."""
    path: str
    task: str
    variants: list
    sequence_length: int
    size_budget_bytes: dict
    files: dict
    header: dict  # every top-level field, as written

    def get(self, key: str, default=None):
        return self.header.get(key, default)

    @classmethod
    def parse(cls, path: str, data) -> Manifest:
        _typed(path, "the manifest", data, dict, "a JSON object")
        files = _typed(path, "files", data.get("files", {}), dict, "an object")
        budgets = _typed(path, "size_budget_bytes", data.get("size_budget_bytes", {}), dict,
                         "an object")
        for variant, budget in budgets.items():
            _typed(path, f"size_budget_bytes.{variant}", budget, int, "a byte count")
        task = _typed(path, "task", data.get("task", ""), str, "a task name")
        variants = _typed(path, "variants", data.get("variants", []), list, "a list of variants")
        length = data.get("sequence_length", 0)
        _typed(path, "sequence_length", length, int, "an integer")
        return cls(path, task, list(variants), length, budgets,
                   {name: FileEntry.parse(path, name, entry) for name, entry in files.items()},
                   data)


def manifest_path(export_dir: str) -> str:
    return os.path.join(export_dir, MANIFEST_NAME)


def empty_manifest() -> dict:
    return {"format_version": FORMAT_VERSION, "files": {}}


def read_manifest(export_dir: str) -> dict:
    """The manifest as a dict, or an empty one when there is none; UserError if unreadable."""
    path = manifest_path(export_dir)
    if not os.path.exists(path):
        return empty_manifest()
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable manifest ({e}); {EXPORT_HINT} again") from None
    _typed(path, "the manifest", manifest, dict, "a JSON object")
    _typed(path, "files", manifest.setdefault("files", {}), dict, "an object")
    return manifest


@contextlib.contextmanager
def _lock(export_dir: str) -> Iterator[None]:
    try:
        os.makedirs(export_dir, exist_ok=True)
        lock = open(os.path.join(export_dir, _LOCK_NAME), "a")
    except OSError as e:
        raise UserError(f"{export_dir}: cannot write the export folder ({e.strerror})") from None
    with lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def edit(export_dir: str, *, reset_if_unreadable: bool = False) -> Iterator[dict]:
    """Read-modify-write under the folder's lock; written atomically when the block ends:

        with contract.edit(export_dir) as m:
            m["files"].pop("fp16.tflite", None)
    """
    with _lock(export_dir):
        try:
            manifest = read_manifest(export_dir)
        except UserError:
            if not reset_if_unreadable:
                raise
            manifest = empty_manifest()
        yield manifest
        write_json_atomic(manifest, manifest_path(export_dir))


def remove_file_entry(export_dir: str, file_name: str) -> bool:
    """Drops the entry of `file_name`; True if there was one."""
    with edit(export_dir) as m:
        return m["files"].pop(file_name, None) is not None


def update_checks(export_dir: str, file_name: str, check_name: str, result: dict,
                  expected_sha256: str | None = None) -> None:
    """Records `result` as `files[file_name].checks[check_name]`, atomically.

    `expected_sha256` (the digest of the file the check ran on) guards against recording a
    result for a file that was re-exported meanwhile: ValueError when it differs."""
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


# ---------------------------------------------------------------------------------------------
# Opening an export folder
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class ExportFolder:
    """An export folder whose manifest parsed; `problems` lists what makes it incomplete
    (a requested variant without its file, a `.tflite` the manifest does not list)."""
    path: str
    manifest: Manifest
    problems: list

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)


def _file_problem(folder: str, entry: FileEntry, verify_hashes: bool) -> str | None:
    path = os.path.join(folder, entry.name)
    if not os.path.isfile(path):
        return f"{path}: listed in {MANIFEST_NAME} but missing; {EXPORT_HINT} again"
    size = os.path.getsize(path)
    if size != entry.bytes:
        return (f"{path}: {size} bytes, {MANIFEST_NAME} says {entry.bytes} (truncated or "
                f"changed after the export); {EXPORT_HINT} again")
    if entry.name.endswith(".tflite"):
        with open(path, "rb") as f:
            head = f.read(8)
        if head[4:8] != b"TFL3":
            return f"{path}: not a TFLite model (no TFL3 identifier)"
    if verify_hashes and sha256_file(path) != entry.sha256:
        return (f"{path}: sha256 differs from {MANIFEST_NAME} (the file changed after the "
                f"export); {EXPORT_HINT} again")
    return None


def open_export(export_dir: str, *, files=None, verify_hashes: bool = True) -> ExportFolder:
    """Opens and validates an export folder; UserError (one line, naming the file) when the
    folder or manifest is missing or malformed, or a listed file is missing, truncated or
    changed. `files` (names) restricts the file checks to those; incompleteness of the whole
    export is reported in `ExportFolder.problems`, for the gate to fail on."""
    if not export_dir:
        raise UserError("an export folder is required (python -m export.convert writes "
                        f"<workdir>/{EXPORT_SUBDIR})")
    if not os.path.isdir(export_dir):
        raise UserError(f"{export_dir}: no such export folder (python -m export.convert writes "
                        f"<workdir>/{EXPORT_SUBDIR})")
    path = manifest_path(export_dir)
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found; {EXPORT_HINT}")
    manifest = Manifest.parse(path, read_manifest(export_dir))
    if not manifest.files:
        raise UserError(f"{path}: lists no exported files; {EXPORT_HINT}")
    names = list(manifest.files)
    if files:
        unknown = [f for f in files if f not in manifest.files]
        if unknown:
            raise UserError(f"{path}: no entry for {', '.join(unknown)} (it lists "
                            f"{', '.join(names)})")
        names = list(files)
    for name in names:
        problem = _file_problem(export_dir, manifest.files[name], verify_hashes)
        if problem:
            raise UserError(problem)
    problems = []
    listed = {entry.variant for entry in manifest.files.values()}
    for variant in manifest.variants:
        if variant not in listed:
            problems.append(f"{path}: variant {variant} was requested but has no file (the "
                            f"export is incomplete); {EXPORT_HINT} again")
    for stray in sorted(glob.glob(os.path.join(export_dir, "*.tflite"))):
        if os.path.basename(stray) not in manifest.files:
            problems.append(f"{stray}: not listed in {MANIFEST_NAME} (left from another "
                            f"export?); {EXPORT_HINT} again")
    return ExportFolder(export_dir, manifest, problems)
