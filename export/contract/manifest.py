"""The manifest, typed and validated, its locked read-modify-write, and `open_export`: the
one way every command opens an export folder and checks it against its files."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import glob
import json
import os
from collections.abc import Iterator

from export.contract import (
    CHECK_INPUTS,
    EXPORT_HINT,
    EXPORT_SUBDIR,
    FORMAT_VERSION,
    MANIFEST_NAME,
    VARIANTS,
    UserError,
)
from export.contract.files import sha256_file, write_json_atomic

_LOCK_NAME = ".manifest.lock"

# ---------------------------------------------------------------------------------------------
# The manifest, typed
# ---------------------------------------------------------------------------------------------
def _typed(path: str, where: str, value, kind, what: str):
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UserError(f"{path}: {where} must be {what}, got {json.dumps(value)[:60]}; "
                        f"{EXPORT_HINT} again")
    return value


def _plain_name(path: str, where: str, name: str) -> str:
    """A file of the export folder itself: no folder part, not `.`/`..`."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise UserError(f"{path}: {where} names {name!r}, not a file of the export folder; "
                        f"{EXPORT_HINT} again")
    return name


def _count(path: str, where: str, value) -> int:
    """A byte count or size: an integer >= 0."""
    _typed(path, where, value, int, "a byte count")
    if value < 0:
        raise UserError(f"{path}: {where} must be a byte count >= 0, got {value}; "
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
        _plain_name(path, where, name)
        _typed(path, where, entry, dict, "an object")
        sha = _typed(path, f"{where}.sha256", entry.get("sha256"), str, "a hex digest")
        size = _count(path, f"{where}.bytes", entry.get("bytes"))
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
            _count(path, f"size_budget_bytes.{variant}", budget)
        task = _typed(path, "task", data.get("task", ""), str, "a task name")
        variants = _typed(path, "variants", data.get("variants", []), list, "a list of variants")
        for variant in variants:
            if variant not in VARIANTS:
                raise UserError(f"{path}: variants: unknown variant {json.dumps(variant)[:40]} "
                                f"(known: {', '.join(VARIANTS)}); {EXPORT_HINT} again")
        length = data.get("sequence_length", 0)
        _typed(path, "sequence_length", length, int, "an integer")
        for key in ("tokenizer", "output"):  # read by task hooks as objects
            if key in data:
                _typed(path, key, data[key], dict, "an object")
        names = {key: data.get(key) for key in ("labels_file", "items_file") if key in data}
        if "vocabulary_file" in data.get("tokenizer", {}):
            names["tokenizer.vocabulary_file"] = data["tokenizer"]["vocabulary_file"]
        for where, name in names.items():  # files beside the models that the gate opens
            _plain_name(path, where, _typed(path, where, name, str, "a file name"))
        if "check_inputs" in data:
            inputs = _typed(path, "check_inputs", data["check_inputs"], dict, "an object")
            _plain_name(path, "check_inputs.file", _typed(
                path, "check_inputs.file", inputs.get("file", CHECK_INPUTS), str, "a file name"))
            if inputs.get("sha256") is not None:
                _typed(path, "check_inputs.sha256", inputs["sha256"], str, "a hex digest")
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
    (a requested variant without its file, a `.tflite` the manifest does not list, with
    `allow_missing` a listed file that is missing), `missing` the listed files that are."""
    path: str
    manifest: Manifest
    problems: list
    missing: list = dataclasses.field(default_factory=list)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)


def missing_problem(path: str) -> str:
    """The line of a file the export should hold but does not (the gate fails on it)."""
    return f"{path}: listed in {MANIFEST_NAME} but missing; {EXPORT_HINT} again"


def _file_problem(folder: str, entry: FileEntry, verify_hashes: bool) -> str | None:
    path = os.path.join(folder, entry.name)
    if not os.path.isfile(path):
        return missing_problem(path)
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


def _folder_problem(export_dir: str) -> str | None:
    """Why `export_dir` is not an export folder with a manifest (None when it is one)."""
    writes = f"python -m export.convert writes <workdir>/{EXPORT_SUBDIR}"
    if not export_dir:
        return f"an export folder is required ({writes})"
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        return f"{export_dir}: is a file, not an export folder ({writes})"
    if not os.path.isdir(export_dir):
        return f"{export_dir}: no such export folder ({writes})"
    path = manifest_path(export_dir)
    if not os.path.isfile(path):
        inner = os.path.join(export_dir, EXPORT_SUBDIR)
        if os.path.isfile(manifest_path(inner)):
            return f"{path}: not found; {export_dir} is a workdir, its export is {inner}"
        return f"{path}: not found; {EXPORT_HINT}"
    return None


def open_export(export_dir: str, *, files=None, verify_hashes: bool = True,
                allow_missing: bool = False) -> ExportFolder:
    """Opens and validates an export folder; UserError (one line, naming the file) when the
    folder or manifest is missing or malformed, or a listed file is missing, truncated or
    changed. `files` (names) restricts the file checks to those; incompleteness of the whole
    export is reported in `ExportFolder.problems`, for the gate to fail on; with
    `allow_missing` (the gate) so is a listed file that is missing."""
    problem = _folder_problem(export_dir)
    if problem:
        raise UserError(problem)
    path = manifest_path(export_dir)
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
    problems, missing = [], []
    for name in names:
        problem = _file_problem(export_dir, manifest.files[name], verify_hashes)
        if problem and allow_missing and not os.path.isfile(os.path.join(export_dir, name)):
            problems.append(problem)
            missing.append(name)
        elif problem:
            raise UserError(problem)
    listed = {entry.variant for entry in manifest.files.values()}
    for variant in manifest.variants:
        if variant not in listed:
            problems.append(f"{path}: variant {variant} was requested but has no file (the "
                            f"export is incomplete); {EXPORT_HINT} again")
    for stray in sorted(glob.glob(os.path.join(glob.escape(export_dir), "*.tflite"))):
        if os.path.basename(stray) not in manifest.files:
            problems.append(f"{stray}: not listed in {MANIFEST_NAME} (left from another "
                            f"export?); {EXPORT_HINT} again")
    return ExportFolder(export_dir, manifest, problems, missing)


# ---------------------------------------------------------------------------------------------
# The manifest against the files it describes
# ---------------------------------------------------------------------------------------------
# Header fields that count the output's width (labels of a classifier, items of a recommender).
_WIDTH_FIELDS = ("num_classes", "num_items")


def _tensor(spec) -> tuple | None:
    """(name, dtype, shape) of a manifest tensor spec; None when it is not one."""
    if not isinstance(spec, dict):
        return None
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int for d in shape):
        return None
    return spec.get("name"), spec.get("dtype"), shape


def _spec_problem(path: str, where: str, claimed, actual: list, file_name: str) -> str | None:
    """`claimed` (the manifest's list of specs) against `actual` (the file's), by name."""
    if not isinstance(claimed, list):
        return f"{path}: {where} must be a list of tensors, got {json.dumps(claimed)[:60]}"
    specs = [_tensor(spec) for spec in claimed]
    if None in specs:
        bad = claimed[specs.index(None)]
        return (f"{path}: {where} holds {json.dumps(bad)[:60]}, not a tensor "
                "({name, dtype, shape})")
    have = {t["name"]: (t["dtype"], list(t["shape"])) for t in actual}
    said = {name: (dtype, shape) for name, dtype, shape in specs}
    if sorted(said, key=str) != sorted(have):
        return (f"{path}: {where} names {sorted(said, key=str)} but {file_name} has "
                f"{sorted(have)}")
    for name, (dtype, shape) in said.items():
        if (dtype, shape) != have[name]:
            return (f"{path}: {where} says {name} is {dtype} {shape} but {file_name} has "
                    f"{have[name][0]} {have[name][1]}")
    return None


def check_signature(manifest: Manifest, name: str, info) -> None:
    """UserError when the manifest's description of the signature (the header's `inputs`,
    `output`, `sequence_length`, label or item count, and the entry's own `inputs` and
    `outputs`) disagrees with what the file `name` holds; `info` is the file as
    `export.tflite.reader.read_model` reads it. An app sizes its buffers from the manifest,
    so a manifest of another model must not pass."""
    path, header, entry = manifest.path, manifest.header, manifest.files[name].fields
    inputs = [t.to_json() for t in info.inputs]
    outputs = [t.to_json() for t in info.outputs]
    hint = f"the manifest does not describe this file; {EXPORT_HINT} again"
    checks = [("inputs", header.get("inputs"), inputs)]
    if "output" in header:
        checks.append(("output", [header["output"]], outputs))
    for key in ("inputs", "outputs"):
        if key in entry:
            checks.append((f"files[{name!r}].{key}", entry[key],
                           inputs if key == "inputs" else outputs))
    for where, claimed, actual in checks:
        if claimed is None:
            continue
        problem = _spec_problem(path, where, claimed, actual, name)
        if problem:
            raise UserError(f"{problem}; {hint}")
    lengths = sorted({t["shape"][-1] for t in inputs if t["shape"]})
    if manifest.sequence_length and lengths != [manifest.sequence_length]:
        raise UserError(f"{path}: sequence_length is {manifest.sequence_length} but the inputs "
                        f"of {name} are {lengths[0] if len(lengths) == 1 else lengths} long; "
                        f"{hint}")
    width = outputs[0]["shape"][-1] if len(outputs) == 1 and outputs[0]["shape"] else None
    counts = {key: header[key] for key in _WIDTH_FIELDS if key in header}
    if isinstance(header.get("labels"), list):
        counts["labels"] = len(header["labels"])
    for key, count in counts.items():
        if count != width:
            shown = f"{count} labels" if key == "labels" else f"{key} {json.dumps(count)[:20]}"
            raise UserError(f"{path}: {shown} but {name} has {width} outputs; {hint}")
