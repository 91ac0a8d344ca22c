"""Reading TFLite model metadata back, and checking that the Android libraries would load it.

    meta = read_metadata(buffer)                   # the ModelMetadata fields writer.py writes
    packed = read_packed_files("fp32.tflite")      # {"labels.txt": PackedFile(data, stored)}
    report = verify("fp32.tflite", expected_from_manifest(manifest, export_dir))
    # {"ok": True, "problems": [], "name": ..., "associated_files": {...}, ...}

What a file must hold is what tflite-support's `bert_nl_classifier.MetadataWriter` writes (the
names below; writer.py writes it): a `Model.metadata` entry "TFLITE_METADATA" naming a buffer
that holds a `ModelMetadata` flatbuffer (identifier M001), and the associated files as an
uncompressed zip archive appended to the model.

`verify` compares the packed files with the digests its caller passes (from the manifest it
opened); it reads nothing else. This module imports only the standard library: the predictor
that reads the packed vocabulary runs on tflite-runtime, which brings no `flatbuffers`, so the
flatbuffer readers are imported where the metadata is parsed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import struct
import zipfile

from export.contract import (
    EXPORT_HINT,
    ITEMS_FILE,
    LABELS_FILE,
    VOCAB_FILE,
    UserError,
    sha256_file,
)

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MODEL_IDENTIFIER = b"TFL3"
INPUT_METADATA_NAMES = ("ids", "mask", "segment_ids")  # what BertNLClassifier/MediaPipe find
OUTPUT_METADATA_NAME = "probability"
ZIP_LOCAL_HEADER = b"PK\x03\x04"

# metadata_schema.fbs enums
ASSOCIATED_FILE_TYPES = {0: "UNKNOWN", 1: "DESCRIPTIONS", 2: "TENSOR_AXIS_LABELS",
                         3: "TENSOR_VALUE_LABELS", 4: "TENSOR_AXIS_SCORE_CALIBRATION",
                         5: "VOCABULARY", 6: "SCANN_INDEX_FILE"}
CONTENT_PROPERTIES = {0: "NONE", 1: "FeatureProperties", 2: "ImageProperties",
                      3: "BoundingBoxProperties", 4: "AudioProperties"}
PROCESS_UNIT_OPTIONS = {0: "NONE", 1: "NormalizationOptions", 2: "ScoreCalibrationOptions",
                        3: "ScoreThresholdingOptions", 4: "BertTokenizerOptions",
                        5: "SentencePieceTokenizerOptions", 6: "RegexTokenizerOptions"}


# ---------------------------------------------------------------------------------------------
# The ModelMetadata flatbuffer (tables read by the slot numbers of metadata_schema.fbs)
# ---------------------------------------------------------------------------------------------
def _offset(t, slot: int) -> int:
    return t.Offset(4 + 2 * slot)


def _string(t, slot: int) -> str | None:
    o = _offset(t, slot)
    return t.String(o + t.Pos).decode("utf-8") if o else None


def _scalar(t, slot: int, fmt: str) -> int:
    o = _offset(t, slot)
    return struct.unpack_from(fmt, t.Bytes, o + t.Pos)[0] if o else 0


def _subtable(t, slot: int):
    o = _offset(t, slot)
    return type(t)(t.Bytes, t.Indirect(o + t.Pos)) if o else None


def _tables(t, slot: int) -> list | None:
    o = _offset(t, slot)
    if not o:
        return None
    start = t.Vector(o)
    return [type(t)(t.Bytes, t.Indirect(start + 4 * i)) for i in range(t.VectorLen(o))]


def _floats(t, slot: int) -> list | None:
    o = _offset(t, slot)
    if not o:
        return None
    start = t.Vector(o)
    return [struct.unpack_from("<f", t.Bytes, start + 4 * i)[0] for i in range(t.VectorLen(o))]


def _read_files(t, slot: int) -> list | None:
    files = _tables(t, slot)
    return None if files is None else [
        {"name": _string(f, 0), "description": _string(f, 1),
         "type": ASSOCIATED_FILE_TYPES.get(_scalar(f, 2, "<b"), "?")} for f in files]


def _read_units(t, slot: int) -> list | None:
    units = _tables(t, slot)
    if units is None:
        return None
    out = []
    for unit in units:
        kind = PROCESS_UNIT_OPTIONS.get(_scalar(unit, 0, "<B"), "?")
        entry = {"type": kind}
        options = _subtable(unit, 1)
        if kind == "BertTokenizerOptions" and options is not None:
            entry["vocab_file"] = _read_files(options, 0)
        out.append(entry)
    return out


def _read_tensor(t) -> dict:
    content = _subtable(t, 3)
    stats = _subtable(t, 5)
    return {
        "name": _string(t, 0), "description": _string(t, 1),
        "content_properties": (CONTENT_PROPERTIES.get(_scalar(content, 0, "<B"), "?")
                               if content is not None else None),
        "process_units": _read_units(t, 4),
        "stats": ({"max": _floats(stats, 0), "min": _floats(stats, 1)}
                  if stats is not None else None),
        "associated_files": _read_files(t, 6),
    }


def read_metadata(buf: bytes) -> dict:
    """The fields of a ModelMetadata flatbuffer that writer.py writes, as a dict."""
    from flatbuffers.table import Table  # here, not at the top: see the module docstring

    if len(buf) < 8 or bytes(buf[4:8]) != METADATA_IDENTIFIER:
        raise ValueError("not a ModelMetadata flatbuffer (no M001 identifier)")
    root = Table(bytearray(buf), struct.unpack_from("<I", buf, 0)[0])
    subgraphs = []
    for s in _tables(root, 3) or []:
        subgraphs.append({
            "inputs": [_read_tensor(t) for t in _tables(s, 2) or []],
            "outputs": [_read_tensor(t) for t in _tables(s, 3) or []],
            "associated_files": _read_files(s, 4),
            "input_process_units": _read_units(s, 5),
            "output_process_units": _read_units(s, 6),
            "has_tensor_groups": bool(_offset(s, 7) or _offset(s, 8)),
        })
    return {"name": _string(root, 0), "description": _string(root, 1),
            "version": _string(root, 2), "subgraphs": subgraphs, "author": _string(root, 4),
            "license": _string(root, 5), "associated_files": _read_files(root, 6),
            "min_parser_version": _string(root, 7)}


def min_parser_version_of(meta: dict) -> str:
    """tflite-support's `GetMinimumMetadataParserVersion` (metadata_version.cc) for the members
    this module reads: VOCABULARY files 1.0.1; input/output process units and the BERT and
    SentencePiece tokenizers 1.1.0; tensor groups 1.2.0; the regex tokenizer 1.2.1; audio
    content 1.3.0."""
    unit_versions = {"BertTokenizerOptions": (1, 1, 0),
                     "SentencePieceTokenizerOptions": (1, 1, 0),
                     "RegexTokenizerOptions": (1, 2, 1)}
    found = [(1, 0, 0)]

    def files(entries):
        found.extend((1, 0, 1) for f in entries or [] if f["type"] == "VOCABULARY")

    def units(entries):
        for unit in entries or []:
            found.append(unit_versions.get(unit["type"], (1, 0, 0)))
            files(unit.get("vocab_file"))

    for s in meta["subgraphs"]:
        for tensor in s["inputs"] + s["outputs"]:
            files(tensor["associated_files"])
            units(tensor["process_units"])
            if tensor["content_properties"] == "AudioProperties":
                found.append((1, 3, 0))
        files(s["associated_files"])
        for key in ("input_process_units", "output_process_units"):
            if s[key] is not None:
                found.append((1, 1, 0))
                units(s[key])
        if s["has_tensor_groups"]:
            found.append((1, 2, 0))
    files(meta["associated_files"])
    return ".".join(str(v) for v in max(found))


# ---------------------------------------------------------------------------------------------
# The packed files
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PackedFile:
    """One associated file of the zip archive appended to a model."""
    data: bytes
    stored: bool  # ZIP_STORED: the Task Library's extractor reads files in place, uncompressed

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def read_packed_files(model: str | bytes) -> dict[str, PackedFile]:
    """The associated files packed in a `.tflite` (path or bytes): {file name: PackedFile} in
    archive order; {} when none are packed. UserError when the archive is cut or unreadable."""
    where = "<bytes>" if isinstance(model, (bytes, bytearray)) else os.fspath(model)
    source = io.BytesIO(model) if isinstance(model, (bytes, bytearray)) else where
    try:
        with zipfile.ZipFile(source) as archive:
            return {info.filename: PackedFile(archive.read(info),
                                              info.compress_type == zipfile.ZIP_STORED)
                    for info in archive.infolist() if not info.is_dir()}
    except zipfile.BadZipFile:
        if _has_cut_archive(model):
            raise UserError(f"{where}: its packed files are truncated or corrupt (the zip "
                            f"archive after the model is incomplete); {EXPORT_HINT}") from None
        return {}
    except (zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        raise UserError(f"{where}: cannot read its packed files ({e}); {EXPORT_HINT}") from None


def _has_cut_archive(model) -> bool:
    """A zip entry header and the name of a file we pack: an archive whose directory is gone
    (weights alone may hold the 4 header bytes by chance, so the name is asked for too)."""
    if isinstance(model, (bytes, bytearray)):
        data = bytes(model)
    else:
        with open(model, "rb") as f:
            data = f.read()
    return ZIP_LOCAL_HEADER in data and any(name.encode() in data
                                            for name in (VOCAB_FILE, LABELS_FILE, ITEMS_FILE))


# ---------------------------------------------------------------------------------------------
# Checking a file
# ---------------------------------------------------------------------------------------------
def expected_from_manifest(manifest, export_dir: str) -> dict:
    """What a text classifier's packed files must be, for `verify`: {file name: sha256, or None
    when there is nothing to compare with}. vocab.txt by the manifest's
    `tokenizer.vocabulary_sha256`; labels.txt by the export's own copy (the manifest's
    `labels_file` in `export_dir`), since the manifest records no digest of it. `manifest` is
    a `contract.Manifest` or the dict of one."""
    tokenizer = manifest.get("tokenizer") or {}
    labels = os.path.join(export_dir, manifest.get("labels_file") or LABELS_FILE)
    return {VOCAB_FILE: tokenizer.get("vocabulary_sha256"),
            LABELS_FILE: sha256_file(labels) if os.path.isfile(labels) else None}


def _read_model(path: str) -> tuple:
    """(metadata dict, TFLite input names in order, width of the output); ValueError as one
    line naming the file when the model or its metadata cannot be read."""
    from export.tflite import reader as tflite_reader  # flatbuffers: see the module docstring

    info = tflite_reader.read_model(path)
    buffers = tflite_reader.read_metadata_buffers(path)
    if METADATA_NAME not in buffers:
        raise ValueError(f"{path}: no {METADATA_NAME} entry (the file has no TFLite model "
                         "metadata)")
    try:
        meta = read_metadata(buffers[METADATA_NAME])
    except (ValueError, IndexError, TypeError, AttributeError, struct.error) as e:
        raise ValueError(f"{path}: unreadable metadata ({type(e).__name__}: {e})") from None
    output = info.outputs[0] if info.outputs else None
    width = int(output.shape[-1]) if output is not None and output.shape else 0
    return meta, [t.name for t in info.inputs], width


def _parts(meta: dict, problems: list) -> dict:
    """The members the libraries look up, from the one subgraph's metadata."""
    if len(meta["subgraphs"]) == 1:
        sub = meta["subgraphs"][0]
    else:
        problems.append(f"{len(meta['subgraphs'])} subgraph metadata entries, expected 1")
        sub = {"inputs": [], "outputs": [], "input_process_units": None}
    units = sub["input_process_units"] or []
    return {"inputs": [t["name"] for t in sub["inputs"]],
            "outputs": [t["name"] for t in sub["outputs"]],
            "units": units,
            "vocab_files": units[0].get("vocab_file") or [] if units else [],
            "label_files": [f for t in sub["outputs"] for f in t["associated_files"] or []]}


def _summary(meta: dict, parts: dict, tflite_inputs: list) -> dict:
    units = parts["units"]
    return {"name": meta["name"], "description": meta["description"],
            "version": meta["version"], "author": meta["author"], "license": meta["license"],
            "min_parser_version": meta["min_parser_version"],
            "input_names": dict(zip(tflite_inputs, parts["inputs"])),
            "output_name": parts["outputs"][0] if parts["outputs"] else None,
            "tokenizer": {"type": units[0]["type"] if units else None,
                          "vocab_file": [f["name"] for f in parts["vocab_files"]]}}


def _layout_problems(meta: dict, parts: dict, num_inputs: int) -> list:
    """What would stop BertNLClassifier or MediaPipe's TextClassifier finding its members."""
    problems = []
    inputs, outputs, units = parts["inputs"], parts["outputs"], parts["units"]
    vocab_files, label_files = parts["vocab_files"], parts["label_files"]
    if sorted(inputs) != sorted(INPUT_METADATA_NAMES):
        problems.append(f"input tensor metadata names are {inputs}, expected "
                        f"{list(INPUT_METADATA_NAMES)} (what BertNLClassifier and MediaPipe find)")
    if len(inputs) != num_inputs:
        problems.append(f"{len(inputs)} input tensor metadata for {num_inputs} inputs")
    if outputs != [OUTPUT_METADATA_NAME]:
        problems.append(f"output tensor metadata names are {outputs}, expected "
                        f"['{OUTPUT_METADATA_NAME}']")
    if not units or units[0]["type"] != "BertTokenizerOptions":
        problems.append(f"input process units are {units}, expected one BertTokenizerOptions")
    if [(f["name"], f["type"]) for f in vocab_files] != [(VOCAB_FILE, "VOCABULARY")]:
        problems.append(f"tokenizer vocabulary files are {vocab_files}, expected "
                        f"{VOCAB_FILE} of type VOCABULARY")
    if [(f["name"], f["type"]) for f in label_files] != [(LABELS_FILE, "TENSOR_AXIS_LABELS")]:
        problems.append(f"output files are {label_files}, expected {LABELS_FILE} of type "
                        "TENSOR_AXIS_LABELS")
    wanted_version = min_parser_version_of(meta)
    if meta["min_parser_version"] != wanted_version:
        problems.append(f"min_parser_version is {meta['min_parser_version']}, the metadata "
                        f"needs {wanted_version}")
    return problems


def _packed_problems(path: str, parts: dict, packed: dict, expected: dict | None,
                     num_scores: int, problems: list) -> dict:
    """Appends what is wrong with the packed files; returns their report entries."""
    recorded = {f["name"]: f["type"] for f in parts["vocab_files"] + parts["label_files"]}
    files_report = {}
    for file_name, file_type in recorded.items():
        entry = packed.get(file_name)
        if entry is None:
            problems.append(f"{file_name} is recorded in the metadata but not packed")
            continue
        if not entry.stored:
            problems.append(f"{file_name} is compressed; the metadata extractor needs it stored")
        want = expected.get(file_name) if expected is not None else None
        files_report[file_name] = {"type": file_type, "bytes": len(entry.data),
                                   "sha256": entry.sha256, "expected_sha256": want}
        if expected is None:
            continue  # the caller asked for the file alone
        if want is None:
            problems.append(f"{file_name}: nothing to compare it with (the export records no "
                            f"sha256 of {file_name} for {os.path.basename(path)})")
        elif want != entry.sha256:
            problems.append(f"packed {file_name} differs from the export's: sha256 "
                            f"{entry.sha256[:12]} vs {want[:12]}")
    if LABELS_FILE in packed:
        try:
            labels = [ln for ln in packed[LABELS_FILE].data.decode("utf-8").splitlines() if ln]
        except UnicodeDecodeError as e:
            problems.append(f"packed {LABELS_FILE} is not UTF-8 ({e})")
        else:
            if len(labels) != num_scores:
                problems.append(f"{LABELS_FILE} has {len(labels)} labels for {num_scores} "
                                "scores")
    extra = sorted(set(packed) - set(recorded))
    if extra:
        problems.append(f"packed files not recorded in the metadata: {extra}")
    return files_report


def verify(path: str, expected_files: dict | None = None) -> dict:
    """What a metadata reader finds in the `.tflite` at `path`, and the problems (one line
    each) that would stop BertNLClassifier or MediaPipe's TextClassifier, or that show the
    packed files are not the export's.

    `expected_files` is {packed file name: the sha256 it must have, or None when the caller
    has nothing to compare it with (a problem)}, e.g. `expected_from_manifest(manifest,
    export_dir)`; None compares nothing (the file on its own).

    Returns {"ok", "problems", "name", "description", "version", "author", "license",
    "min_parser_version", "input_names": {tflite name: metadata name}, "output_name",
    "tokenizer", "associated_files": {name: {"type", "bytes", "sha256", "expected_sha256"}}}."""
    problems = []
    report = {"ok": False, "problems": problems}
    try:
        meta, tflite_inputs, num_scores = _read_model(path)
    except ValueError as e:
        problems.append(" ".join(str(e).split()))
        return report
    parts = _parts(meta, problems)
    report.update(_summary(meta, parts, tflite_inputs))
    problems += _layout_problems(meta, parts, len(tflite_inputs))
    try:
        packed = read_packed_files(path)
    except UserError as e:
        problems.append(str(e))
        packed = {}
    else:
        if not packed:
            problems.append(f"{path}: no associated files packed (no zip archive after the "
                            "model)")
    report["associated_files"] = _packed_problems(path, parts, packed, expected_files,
                                                  num_scores, problems)
    report["ok"] = not problems
    return report
