"""Writing TFLite model metadata into a model, so Android libraries load a classifier without code.

The TFLite Task Library (`BertNLClassifier`) and MediaPipe Tasks (`TextClassifier`) read the
model's name, its tokenizer, its vocabulary and its label names from the `.tflite` file itself:

    data = populate(tflite_bytes, vocab_path="runs/intents/vocab.txt",
                    labels_path="runs/intents/labels.txt", name="Intents", version="1",
                    **metadata_fields(config))

(reader.py reads it back and `verify`s it.) What is written (the TFLite metadata convention of
tflite-support's `MetadataPopulator`):

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
buffer needs a new `buffers` entry); this and export/conversion/float_head.py (which reuses
`_AlignedBufferT`) are the places that unpack and repack a model (`_schema.ModelT`;
export/tflite/reader.py only reads and patches in place). Unlike it, every
weight buffer is placed on a 16-byte boundary, the `force_align: 16` that TFLite's schema.fbs
asks for and that the generated Python code ignores. The metadata buffer itself is
byte-identical to what tflite-support's `bert_nl_classifier.MetadataWriter` writes for the
same fields (tests/test_metadata.py). The zip entries carry a fixed timestamp (1980-01-01), so
the same model and files give the same bytes.

The metadata flatbuffer is written with the `flatbuffers` package and the schema's slot
numbers: the generated Python schema ships only in packages that cannot share TensorFlow 2.21's
environment (tflite-support needs numpy<2 and protobuf<4, mediapipe protobuf<5).
"""

from __future__ import annotations

import io
import zipfile

import flatbuffers

from export.contract import LABELS_FILE, VOCAB_FILE
from export.metadata.reader import (
    INPUT_METADATA_NAMES,
    METADATA_IDENTIFIER,
    METADATA_NAME,
    MODEL_IDENTIFIER,
    OUTPUT_METADATA_NAME,
    min_parser_version_of,
    read_metadata,
)

# TFLite's model schema: ai-edge-litert's generated bindings, the ones export/tflite/reader.py
# reads with.
from export.tflite.reader import _schema

BUFFER_ALIGNMENT = 16
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

# metadata_schema.fbs enum values written here
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
