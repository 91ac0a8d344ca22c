"""TFLite model metadata, so Android libraries load a classifier without code.

The TFLite Task Library (`BertNLClassifier`) and MediaPipe Tasks (`TextClassifier`) read the
model's name, its tokenizer, its vocabulary and its label names from the `.tflite` file itself:

    data = populate(tflite_bytes, vocab_path="runs/intents/vocab.txt",
                    labels_path="runs/intents/labels.txt", name="Intents", version="1")
    report = verify("runs/intents/export/fp32.tflite")   # {"ok": True, "problems": [], ...}

What is written (the TFLite metadata convention of tflite-support's `MetadataPopulator`):

  * a `ModelMetadata` flatbuffer (file identifier `M001`, schema `metadata_schema.fbs` of
    tflite-support) stored as the model's last buffer and named by a `Model.metadata` entry
    "TFLITE_METADATA"; its `min_parser_version` is computed by the rules of tflite-support's
    `metadata_version.cc` (1.1.0 here: BERT tokenizer input process unit);
  * the associated files appended to the model as an uncompressed zip archive (`labels.txt`,
    then `vocab.txt`), which the flatbuffer does not see: interpreters run the file unchanged.

The metadata has the shape tflite-support's `bert_nl_classifier.MetadataWriter` gives:
input tensor metadata named "ids", "mask", "segment_ids" (the names the Task Library and
MediaPipe look for; the TFLite tensors keep our names token_ids, padding_mask, segment_ids,
and the metadata follows the tensors' order), an input process unit `BertTokenizerOptions`
with `vocab.txt` (VOCABULARY), and the output "probability" with `labels.txt`
(TENSOR_AXIS_LABELS) and stats min 0, max 1.

Like `MetadataPopulator`, the model flatbuffer is repacked with the object API (the metadata
buffer needs a new `buffers` entry); unlike it, every weight buffer is placed on a 16-byte
boundary, the `force_align: 16` that TFLite's schema.fbs asks for and that the generated
Python code ignores. The metadata buffer itself is byte-identical to what tflite-support's
`bert_nl_classifier.MetadataWriter` writes for the same fields (tests/test_metadata.py). The
zip entries carry a fixed timestamp (1980-01-01), so the same model and files give the same
bytes.

The flatbuffer is written and read here with the `flatbuffers` package and the schema's slot
numbers: the generated Python schema ships only in packages that cannot share TensorFlow 2.21's
environment (tflite-support needs numpy<2 and protobuf<4, mediapipe protobuf<5).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

# TFLite's model schema: ai-edge-litert's generated bindings, as export/tflite_io.py reads them.
from export.tflite_io import _schema

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MODEL_IDENTIFIER = b"TFL3"
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "labels.txt"
INPUT_METADATA_NAMES = ("ids", "mask", "segment_ids")  # what BertNLClassifier/MediaPipe find
OUTPUT_METADATA_NAME = "probability"
BUFFER_ALIGNMENT = 16
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

# metadata_schema.fbs enums
ASSOCIATED_FILE_TYPES = {0: "UNKNOWN", 1: "DESCRIPTIONS", 2: "TENSOR_AXIS_LABELS",
                         3: "TENSOR_VALUE_LABELS", 4: "TENSOR_AXIS_SCORE_CALIBRATION",
                         5: "VOCABULARY", 6: "SCANN_INDEX_FILE"}
CONTENT_PROPERTIES = {0: "NONE", 1: "FeatureProperties", 2: "ImageProperties",
                      3: "BoundingBoxProperties", 4: "AudioProperties"}
PROCESS_UNIT_OPTIONS = {0: "NONE", 1: "NormalizationOptions", 2: "ScoreCalibrationOptions",
                        3: "ScoreThresholdingOptions", 4: "BertTokenizerOptions",
                        5: "SentencePieceTokenizerOptions", 6: "RegexTokenizerOptions"}
_TENSOR_AXIS_LABELS, _VOCABULARY, _FEATURE_PROPERTIES, _BERT_TOKENIZER = 2, 5, 1, 4

# Field counts and slots of the tables used, in metadata_schema.fbs declaration order (a union
# takes two slots: its type, then its value).
_ASSOCIATED_FILE = 5      # name, description, type:byte, locale, version
_CONTENT = 3              # content_properties_type:ubyte, content_properties, range
_BERT_OPTIONS = 1         # vocab_file:[AssociatedFile]
_PROCESS_UNIT = 2         # options_type:ubyte, options
_STATS = 2                # max:[float], min:[float]
_TENSOR_METADATA = 7      # name, description, dimension_names, content, process_units, stats,
                          # associated_files
_SUBGRAPH_METADATA = 10   # name, description, input_tensor_metadata, output_tensor_metadata,
                          # associated_files, input_process_units, output_process_units, ...
_MODEL_METADATA = 8       # name, description, version, subgraph_metadata, author, license,
                          # associated_files, min_parser_version

_INPUT_DESCRIPTIONS = (
    "Tokenized ids of the input text.",
    "Mask with 1 for real tokens and 0 for padding tokens.",
    "0 for the first sequence, 1 for the second sequence if exists.",
)
_OUTPUT_DESCRIPTION = "Probabilities of the labels respectively."
_VOCAB_DESCRIPTION = "Vocabulary file to convert natural language words to embedding vectors."
_LABELS_DESCRIPTION = "Labels for categories that the model can recognize."


# ---------------------------------------------------------------------------------------------
# Writing the metadata flatbuffer
# ---------------------------------------------------------------------------------------------
class _Table:
    """A table to write: `fields` are (slot, kind, value) in declaration order; kind is one of
    string, table, tables, floats, int8, uint8. None values are left out."""

    def __init__(self, num_fields: int, *fields):
        self.num_fields = num_fields
        self.fields = fields


def _pack(builder: flatbuffers.Builder, table: _Table) -> int:
    """Children first, then the fields, each in declaration order: the order of the generated
    `*T.Pack`, so the bytes equal what tflite-support's object API writes."""
    refs = {}
    for slot, kind, value in table.fields:
        if value is None:
            continue
        if kind == "string":
            refs[slot] = builder.CreateString(value)
        elif kind == "table":
            refs[slot] = _pack(builder, value)
        elif kind == "tables":
            items = [_pack(builder, v) for v in value]
            builder.StartVector(4, len(items), 4)
            for item in reversed(items):
                builder.PrependUOffsetTRelative(item)
            refs[slot] = builder.EndVector()
        elif kind == "floats":
            builder.StartVector(4, len(value), 4)
            for x in reversed(value):
                builder.PrependFloat32(x)
            refs[slot] = builder.EndVector()
    builder.StartObject(table.num_fields)
    for slot, kind, value in table.fields:
        if kind == "int8":
            builder.PrependInt8Slot(slot, value, 0)
        elif kind == "uint8":
            builder.PrependUint8Slot(slot, value, 0)
        elif value is not None:
            builder.PrependUOffsetTRelativeSlot(slot, refs[slot], 0)
    return builder.EndObject()


def _file(name: str, description: str, file_type: int) -> _Table:
    return _Table(_ASSOCIATED_FILE, (0, "string", name), (1, "string", description),
                  (2, "int8", file_type), (3, "string", None), (4, "string", None))


def _tensor(name: str, description: str, stats=(None, None), files=None) -> _Table:
    content = _Table(_CONTENT, (0, "uint8", _FEATURE_PROPERTIES),
                     (1, "table", _Table(0)), (2, "table", None))
    return _Table(_TENSOR_METADATA, (0, "string", name), (1, "string", description),
                  (2, "tables", None), (3, "table", content), (4, "tables", None),
                  (5, "table", _Table(_STATS, (0, "floats", stats[0]), (1, "floats", stats[1]))),
                  (6, "tables", files))


def _optional(text) -> str | None:
    text = "" if text is None else str(text)
    return text or None


def metadata_buffer(input_names_in_order, *, name: str, description: str = "",
                    version: str = "", author: str = "", license: str = "",
                    min_parser_version: str | None = None) -> bytes:
    """The `ModelMetadata` flatbuffer (identifier M001) of a BERT classifier.

    `input_names_in_order` are the metadata names of the model's inputs in tensor order (a
    permutation of INPUT_METADATA_NAMES); `min_parser_version` None computes it."""
    if sorted(input_names_in_order) != sorted(INPUT_METADATA_NAMES):
        raise ValueError(f"input metadata names {list(input_names_in_order)} are not a "
                         f"permutation of {list(INPUT_METADATA_NAMES)}")
    described = dict(zip(INPUT_METADATA_NAMES, _INPUT_DESCRIPTIONS))
    inputs = [_tensor(n, described[n]) for n in input_names_in_order]
    output = _tensor(OUTPUT_METADATA_NAME, _OUTPUT_DESCRIPTION, stats=([1.0], [0.0]),
                     files=[_file(LABELS_FILE, _LABELS_DESCRIPTION, _TENSOR_AXIS_LABELS)])
    tokenizer = _Table(_PROCESS_UNIT, (0, "uint8", _BERT_TOKENIZER), (1, "table", _Table(
        _BERT_OPTIONS, (0, "tables", [_file(VOCAB_FILE, _VOCAB_DESCRIPTION, _VOCABULARY)]))))
    subgraph = _Table(_SUBGRAPH_METADATA, (0, "string", None), (1, "string", None),
                      (2, "tables", inputs), (3, "tables", [output]), (4, "tables", None),
                      (5, "tables", [tokenizer]))
    if min_parser_version is None:
        probe = metadata_buffer(input_names_in_order, name=name, min_parser_version="1.0.0")
        min_parser_version = min_parser_version_of(read_metadata(probe))
    root = _Table(_MODEL_METADATA, (0, "string", _optional(name)),
                  (1, "string", _optional(description)), (2, "string", _optional(version)),
                  (3, "tables", [subgraph]), (4, "string", _optional(author)),
                  (5, "string", _optional(license)), (6, "tables", None),
                  (7, "string", min_parser_version))
    builder = flatbuffers.Builder(0)
    builder.Finish(_pack(builder, root), METADATA_IDENTIFIER)
    return bytes(builder.Output())


# ---------------------------------------------------------------------------------------------
# Reading it back
# ---------------------------------------------------------------------------------------------
def _offset(t: Table, slot: int) -> int:
    return t.Offset(4 + 2 * slot)


def _string(t: Table, slot: int) -> str | None:
    o = _offset(t, slot)
    return t.String(o + t.Pos).decode("utf-8") if o else None


def _scalar(t: Table, slot: int, flags) -> int:
    o = _offset(t, slot)
    return t.Get(flags, o + t.Pos) if o else 0


def _subtable(t: Table, slot: int) -> Table | None:
    o = _offset(t, slot)
    return Table(t.Bytes, t.Indirect(o + t.Pos)) if o else None


def _tables(t: Table, slot: int) -> list | None:
    o = _offset(t, slot)
    if not o:
        return None
    start = t.Vector(o)
    return [Table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(t.VectorLen(o))]


def _floats(t: Table, slot: int) -> list | None:
    o = _offset(t, slot)
    if not o:
        return None
    start = t.Vector(o)
    return [t.Get(N.Float32Flags, start + 4 * i) for i in range(t.VectorLen(o))]


def _read_files(t: Table, slot: int) -> list | None:
    files = _tables(t, slot)
    return None if files is None else [
        {"name": _string(f, 0), "description": _string(f, 1),
         "type": ASSOCIATED_FILE_TYPES.get(_scalar(f, 2, N.Int8Flags), "?")} for f in files]


def _read_units(t: Table, slot: int) -> list | None:
    units = _tables(t, slot)
    if units is None:
        return None
    out = []
    for unit in units:
        kind = PROCESS_UNIT_OPTIONS.get(_scalar(unit, 0, N.Uint8Flags), "?")
        entry = {"type": kind}
        options = _subtable(unit, 1)
        if kind == "BertTokenizerOptions" and options is not None:
            entry["vocab_file"] = _read_files(options, 0)
        out.append(entry)
    return out


def _read_tensor(t: Table) -> dict:
    content = _subtable(t, 3)
    stats = _subtable(t, 5)
    return {
        "name": _string(t, 0), "description": _string(t, 1),
        "content_properties": (CONTENT_PROPERTIES.get(_scalar(content, 0, N.Uint8Flags), "?")
                               if content is not None else None),
        "process_units": _read_units(t, 4),
        "stats": ({"max": _floats(stats, 0), "min": _floats(stats, 1)}
                  if stats is not None else None),
        "associated_files": _read_files(t, 6),
    }


def read_metadata(buf: bytes) -> dict:
    """The fields of a ModelMetadata flatbuffer that this module writes, as a dict."""
    if len(buf) < 8 or bytes(buf[4:8]) != METADATA_IDENTIFIER:
        raise ValueError("not a ModelMetadata flatbuffer (no M001 identifier)")
    root = Table(bytearray(buf), flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, buf, 0))
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
# The model file
# ---------------------------------------------------------------------------------------------
class _AlignedBufferT(_schema.BufferT):
    """A Buffer whose data vector starts on a BUFFER_ALIGNMENT boundary of the file, as
    schema.fbs asks (`data:[ubyte] (force_align: 16)`); the generated Pack aligns to 1 byte."""

    def Pack(self, builder):
        data = None
        if self.data is not None:
            payload = bytes(memoryview(self.data))
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            builder.head = builder.head - len(payload)
            builder.Bytes[builder.head:builder.head + len(payload)] = payload
            data = builder.EndVector()
        _schema.BufferStart(builder)
        if data is not None:
            _schema.BufferAddData(builder, data)
        _schema.BufferAddOffset(builder, self.offset)
        _schema.BufferAddSize(builder, self.size)
        return _schema.BufferEnd(builder)


def _input_metadata_order(model, tflite_input_names) -> list:
    subgraph = model.subgraphs[0]
    names = [model.subgraphs[0].tensors[i].name.decode("utf-8") for i in subgraph.inputs]
    if sorted(names) != sorted(tflite_input_names):
        raise ValueError(f"model inputs are {names}, expected {list(tflite_input_names)}")
    to_metadata = dict(zip(tflite_input_names, INPUT_METADATA_NAMES))
    return [to_metadata[n] for n in names]


def populate(tflite_bytes: bytes, *, vocab_path: str, labels_path: str, name: str,
             description: str = "", version: str = "", author: str = "", license: str = "",
             tflite_input_names=("token_ids", "padding_mask", "segment_ids")) -> bytes:
    """`tflite_bytes` with BERT classifier metadata and `vocab.txt`, `labels.txt` packed in.

    `tflite_input_names` are the TFLite input tensors that play ids, mask and segment_ids.
    Existing TFLite metadata and packed files are replaced. ValueError names what is wrong."""
    if len(tflite_bytes) < 8 or bytes(tflite_bytes[4:8]) != MODEL_IDENTIFIER:
        raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
    files = {}
    for file_name, path in ((LABELS_FILE, labels_path), (VOCAB_FILE, vocab_path)):
        with open(path, "rb") as f:
            files[file_name] = f.read()
        if not files[file_name].strip():
            raise ValueError(f"{path}: empty; nothing to pack as {file_name}")
    model = _schema.ModelT.InitFromObj(_schema.Model.GetRootAs(tflite_bytes, 0))
    if len(model.subgraphs or []) != 1:
        raise ValueError(f"TFLite metadata describes one subgraph; the model has "
                         f"{len(model.subgraphs or [])}")
    outputs = model.subgraphs[0].outputs
    num_labels = len([ln for ln in files[LABELS_FILE].decode("utf-8").splitlines() if ln])
    out_shape = list(model.subgraphs[0].tensors[outputs[0]].shape) if len(outputs) == 1 else []
    if len(outputs) != 1 or out_shape[-1:] != [num_labels]:
        raise ValueError(f"the model's outputs {out_shape} do not hold one score per label of "
                         f"{labels_path} ({num_labels})")
    if any(b.offset or b.size for b in model.buffers or []):
        raise ValueError("buffers stored outside the flatbuffer (models over 2 GB) are not "
                         "supported")

    meta = metadata_buffer(_input_metadata_order(model, tflite_input_names), name=name,
                           description=description, version=version, author=author,
                           license=license)
    buffer = _schema.BufferT()
    buffer.data = meta
    model.metadata = model.metadata or []
    old = [m for m in model.metadata if m.name.decode("utf-8") == METADATA_NAME]
    if old:  # replace the old metadata buffer in place, as MetadataPopulator does
        model.buffers[old[0].buffer] = buffer
    else:
        model.buffers.append(buffer)
        entry = _schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    for b in model.buffers:  # same fields, a Pack that aligns the data
        b.__class__ = _AlignedBufferT
    builder = flatbuffers.Builder(len(tflite_bytes) + len(meta) + 1024)
    builder.Finish(model.Pack(builder), MODEL_IDENTIFIER)

    out = io.BytesIO()
    out.write(bytes(builder.Output()))
    with zipfile.ZipFile(out, "a") as archive:
        for file_name, data in files.items():
            info = zipfile.ZipInfo(file_name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED  # the metadata extractor reads them in place
            info.external_attr = 0o600 << 16        # what ZipFile.writestr(name, ...) sets
            archive.writestr(info, data)
    return out.getvalue()


def metadata_fields(config) -> dict:
    """populate()'s name/description/version/author/license from a config's `export.*`
    (name defaults to "<data.name> text classifier")."""
    export = config.get("export") or {}
    data_name = (config.get("data") or {}).get("name") or "BERT"
    return {"name": str(export.get("name") or f"{data_name} text classifier"),
            "description": str(export.get("description") or ""),
            "version": str(export.get("version") or ""),
            "author": str(export.get("author") or ""),
            "license": str(export.get("license") or "")}


# ---------------------------------------------------------------------------------------------
# Checking a file
# ---------------------------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected_files(folder: str, manifest: dict | None) -> dict:
    """{file name: (sha256, where it came from)} of vocab and labels next to the model."""
    import json

    if manifest is None:
        path = os.path.join(folder, "manifest.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                manifest = json.load(f)
    expected = {}
    tokenizer = (manifest or {}).get("tokenizer", {})
    if tokenizer.get("vocabulary_sha256"):
        expected[VOCAB_FILE] = (tokenizer["vocabulary_sha256"], "manifest tokenizer")
    elif os.path.isfile(os.path.join(folder, VOCAB_FILE)):
        with open(os.path.join(folder, VOCAB_FILE), "rb") as f:
            expected[VOCAB_FILE] = (_sha256(f.read()), VOCAB_FILE)
    labels_name = (manifest or {}).get("labels_file", LABELS_FILE)
    if os.path.isfile(os.path.join(folder, labels_name)):
        with open(os.path.join(folder, labels_name), "rb") as f:
            expected[LABELS_FILE] = (_sha256(f.read()), labels_name)
    return expected


def verify(path: str, manifest: dict | None = None) -> dict:
    """What a metadata reader finds in the file at `path`, and the problems that would stop
    BertNLClassifier or MediaPipe's TextClassifier (or that the packed files differ from the
    export's vocab.txt/labels.txt, found from `manifest` or the manifest.json beside it).

    Returns {"ok", "problems": [one line each], "name", "description", "version", "author",
    "license", "min_parser_version", "input_names", "output_name", "tokenizer",
    "associated_files": {name: {"type", "bytes", "sha256", "expected_sha256"}}}."""
    problems = []
    report = {"ok": False, "problems": problems}
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        problems.append(f"{path}: cannot read ({e.strerror or e})")
        return report
    if len(data) < 8 or data[4:8] != MODEL_IDENTIFIER:
        problems.append(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")
        return report
    try:
        model = _schema.Model.GetRootAs(data, 0)
        entries = [model.Metadata(i) for i in range(model.MetadataLength())]
        found = [m for m in entries if m.Name() == METADATA_NAME.encode()]
        if not found:
            problems.append(f"{path}: no {METADATA_NAME} entry (the file has no TFLite "
                            "model metadata)")
            return report
        buf = model.Buffers(found[0].Buffer()).DataAsNumpy().tobytes()
        meta = read_metadata(buf)
        subgraph = model.Subgraphs(0)
        tflite_inputs = [subgraph.Tensors(subgraph.Inputs(i)).Name().decode("utf-8")
                         for i in range(subgraph.InputsLength())]
        out_tensor = subgraph.Tensors(subgraph.Outputs(0))
        num_classes = int(out_tensor.ShapeAsNumpy()[-1]) if out_tensor.ShapeLength() else 0
    except (ValueError, IndexError, TypeError, AttributeError, UnicodeDecodeError) as e:
        problems.append(f"{path}: unreadable metadata ({type(e).__name__}: {e})")
        return report

    sub = meta["subgraphs"][0] if len(meta["subgraphs"]) == 1 else None
    if sub is None:
        problems.append(f"{len(meta['subgraphs'])} subgraph metadata entries, expected 1")
        sub = {"inputs": [], "outputs": [], "input_process_units": None}
    input_names = [t["name"] for t in sub["inputs"]]
    output_names = [t["name"] for t in sub["outputs"]]
    units = sub["input_process_units"] or []
    vocab_files = units[0].get("vocab_file") or [] if units else []
    label_files = [f for t in sub["outputs"] for f in t["associated_files"] or []]
    report.update({
        "name": meta["name"], "description": meta["description"], "version": meta["version"],
        "author": meta["author"], "license": meta["license"],
        "min_parser_version": meta["min_parser_version"],
        "input_names": dict(zip(tflite_inputs, input_names)),
        "output_name": output_names[0] if output_names else None,
        "tokenizer": {"type": units[0]["type"] if units else None,
                      "vocab_file": [f["name"] for f in vocab_files]},
    })
    if sorted(input_names) != sorted(INPUT_METADATA_NAMES):
        problems.append(f"input tensor metadata names are {input_names}, expected "
                        f"{list(INPUT_METADATA_NAMES)} (what BertNLClassifier and MediaPipe find)")
    if len(input_names) != len(tflite_inputs):
        problems.append(f"{len(input_names)} input tensor metadata for {len(tflite_inputs)} "
                        "inputs")
    if output_names != [OUTPUT_METADATA_NAME]:
        problems.append(f"output tensor metadata names are {output_names}, expected "
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

    packed = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                content = archive.read(info)
                packed[info.filename] = {"bytes": len(content), "sha256": _sha256(content),
                                         "stored": info.compress_type == zipfile.ZIP_STORED,
                                         "content": content}
    except zipfile.BadZipFile as e:
        problems.append(f"{path}: no associated files packed ({e})")
    expected = _expected_files(os.path.dirname(os.path.abspath(path)), manifest)
    recorded = {f["name"]: f["type"] for f in vocab_files + label_files}
    files_report = {}
    for file_name, file_type in recorded.items():
        entry = packed.get(file_name)
        if entry is None:
            problems.append(f"{file_name} is recorded in the metadata but not packed")
            continue
        if not entry["stored"]:
            problems.append(f"{file_name} is compressed; the metadata extractor needs it stored")
        want = expected.get(file_name)
        files_report[file_name] = {"type": file_type, "bytes": entry["bytes"],
                                   "sha256": entry["sha256"],
                                   "expected_sha256": want[0] if want else None}
        if want is None:
            problems.append(f"{file_name}: nothing to compare it with (no manifest or "
                            f"{file_name} beside {os.path.basename(path)})")
        elif want[0] != entry["sha256"]:
            problems.append(f"packed {file_name} differs from the export's ({want[1]}): sha256 "
                            f"{entry['sha256'][:12]} vs {want[0][:12]}")
    if LABELS_FILE in packed:
        labels = [ln for ln in packed[LABELS_FILE]["content"].decode("utf-8").splitlines() if ln]
        if len(labels) != num_classes:
            problems.append(f"{LABELS_FILE} has {len(labels)} labels for {num_classes} scores")
    extra = sorted(set(packed) - set(recorded))
    if extra:
        problems.append(f"packed files not recorded in the metadata: {extra}")
    report["associated_files"] = files_report
    report["ok"] = not problems
    return report
