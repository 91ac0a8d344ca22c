"""Read a .tflite flatbuffer's inputs, outputs, tensors and ops, and patch names in place.

Reads the flatbuffer with the generated schema bindings shipped in ai-edge-litert (falling back
to TensorFlow's copy); needs no interpreter.

    info = read_model(path_or_bytes)
    info.inputs, info.outputs      # [TensorInfo] in the primary subgraph's input/output order
    info.op_counts()               # {"ADD": 15, "FULLY_CONNECTED": 8, ...}
    info.signatures                # {"serving_default": {"inputs": {key: tensor_index}, ...}}
    op = info.ops[0]; op.version, op.options   # 1, {"fused_activation_function": 0, ...}
    info.constant(op.inputs[1])    # a constant tensor's values as a numpy array
    problems = static_problems(info)   # [] when the graph is phone-delegate friendly

    patched = rename_io(model_bytes, input_order=[...])   # tensor names = signature keys

`rename_io` rewrites strings and the input index vector inside the flatbuffer without moving
anything else (names only get shorter), so weight buffers keep their alignment.
Malformed input raises `ValueError` naming the file.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import flatbuffers
import numpy as np

try:
    from ai_edge_litert import schema_py_generated as _schema
except Exception:  # pragma: no cover - fallback when ai-edge-litert is absent
    from tensorflow.lite.python import schema_py_generated as _schema

_FILE_IDENTIFIER = b"TFL3"
_OP_NAMES = {v: k for k, v in vars(_schema.BuiltinOperator).items()
             if not k.startswith("_") and isinstance(v, int)}
_DTYPE_NAMES = {v: k.lower() for k, v in vars(_schema.TensorType).items()
                if not k.startswith("_") and isinstance(v, int)}
_TENSOR_NAME_FIELD = 10  # vtable offset of Tensor.name in the schema (field 3)
_NUMPY_DTYPES = {
    "float32": "<f4", "float16": "<f2", "float64": "<f8", "int32": "<i4", "int64": "<i8",
    "int16": "<i2", "int8": "i1", "uint8": "u1", "bool": "?", "uint16": "<u2",
    "uint32": "<u4", "uint64": "<u8",
}  # TFLite stores tensor data little-endian

#: Every builtin operator name of the schema: `OpInfo.op` of a builtin op the schema knows.
BUILTIN_OP_NAMES = frozenset(_OP_NAMES.values())
#: TensorType code -> dtype name as `TensorInfo.dtype` spells it (for enum-valued op options).
DTYPE_NAMES: Mapping[int, str] = dict(_DTYPE_NAMES)


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None  # None when the file has none (= shape)
    is_const: bool
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension: int = 0

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_dynamic(self) -> bool:
        """Some dimension is only known at run time (-1 in the shape signature)."""
        return self.shape_signature is not None and -1 in self.shape_signature

    @property
    def scale(self) -> float:
        """The (first) quantization scale; 0.0 when the tensor is not quantized."""
        return self.scales[0] if self.scales else 0.0

    @property
    def zero_point(self) -> int:
        return self.zero_points[0] if self.zero_points else 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    def to_json(self) -> dict:
        d = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.scales:
            d["quantization"] = {"scales": list(self.scales), "zero_points": list(self.zero_points)}
            if len(self.scales) > 1:
                d["quantization"]["quantized_dimension"] = self.quantized_dimension
        return d


@dataclasses.dataclass(frozen=True)
class OpInfo:
    index: int
    op: str  # builtin name, or "CUSTOM:<code>" (Flex ops are "CUSTOM:Flex...")
    inputs: tuple[TensorInfo | None, ...]
    outputs: tuple[TensorInfo, ...]
    version: int = 1  # the operator code's version, as written in the file
    # Builtin options by schema field name ({"fused_activation_function": 0, ...}; vectors are
    # lists, enums ints); {} when the op has no options table. Left out of ==/hash: a dict.
    options: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def is_custom(self) -> bool:
        return self.op.startswith("CUSTOM:")


@dataclasses.dataclass
class ModelInfo:
    path: str
    tensors: list[TensorInfo]  # primary subgraph
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: list[OpInfo]
    signatures: dict[str, dict]
    num_subgraphs: int
    subgraph: int = 0  # the subgraph `tensors`, `inputs`, `outputs` and `ops` describe
    # The file's bytes, kept so `constant()` can read tensor data on demand.
    _buf: bytes = dataclasses.field(default=b"", repr=False, compare=False)

    def op_counts(self) -> dict[str, int]:
        return dict(sorted(collections.Counter(op.op for op in self.ops).items()))

    def constant(self, tensor: TensorInfo | int) -> np.ndarray | None:
        """A constant tensor's values, shaped like the tensor (a read-only view of the bytes).

        None when the tensor is not a constant, numpy has no such dtype (string, int4...), its
        data does not fill its shape (sparse or packed storage), or this ModelInfo was not made
        by `read_model`.
        """
        t = self.tensors[tensor] if isinstance(tensor, int) else tensor
        dtype = _NUMPY_DTYPES.get(t.dtype)
        if not t.is_const or dtype is None or not self._buf:
            return None
        m = _schema.Model.GetRootAsModel(self._buf, 0)
        b = m.Buffers(m.Subgraphs(self.subgraph).Tensors(t.index).Buffer())
        if b.DataLength():
            raw = b.DataAsNumpy()
        else:  # large-model layout: read_model checked that the data lies inside the file
            raw = np.frombuffer(self._buf, np.uint8, count=b.Size(), offset=b.Offset())
        try:
            values = raw.view(dtype)
        except ValueError:  # byte count not a multiple of the item size
            return None
        count = int(np.prod(t.shape, dtype=np.int64))
        return values.reshape(t.shape) if values.size == count else None


def _load_bytes(model: str | bytes | bytearray) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), "<bytes>"
    path = os.fspath(model)
    try:
        with open(path, "rb") as f:
            return f.read(), path
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None


def _check_identifier(buf: bytes, where: str) -> None:
    if len(buf) < 8 or buf[4:8] != _FILE_IDENTIFIER:
        raise ValueError(f"{where}: not a TFLite flatbuffer (no TFL3 identifier)")


def _op_name(model, opcode_index: int) -> str:
    code = model.OperatorCodes(opcode_index)
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == _schema.BuiltinOperator.CUSTOM:
        custom = code.CustomCode()
        return "CUSTOM:" + (custom.decode("utf-8", "replace") if custom else "?")
    return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _options(op) -> dict[str, Any]:
    table = op.BuiltinOptions()
    obj = _schema.BuiltinOptionsCreator(op.BuiltinOptionsType(), table) if table else None
    if obj is None:
        return {}
    # The object API spells fields in camelCase (dilationWFactor); the schema in snake_case.
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower():
            v.tolist() if isinstance(v, np.ndarray) else v for k, v in vars(obj).items()}


def _tensor_info(t, index: int, model) -> TensorInfo:
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    signature = (tuple(int(d) for d in t.ShapeSignatureAsNumpy())
                 if t.ShapeSignatureLength() else None)
    q = t.Quantization()
    scales, zero_points, qdim = (), (), 0
    if q is not None and q.ScaleLength():
        scales = tuple(float(s) for s in q.ScaleAsNumpy())
        zero_points = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else ()
        qdim = int(q.QuantizedDimension())
    is_const = False
    buffer_index = t.Buffer()
    if 0 < buffer_index < model.BuffersLength():
        b = model.Buffers(buffer_index)
        is_const = bool(b.DataLength()) or b.Size() > 0
    return TensorInfo(index=index, name=(t.Name() or b"").decode("utf-8", "replace"),
                      dtype=_DTYPE_NAMES.get(t.Type(), f"type_{t.Type()}"), shape=shape,
                      shape_signature=signature, is_const=is_const, scales=scales,
                      zero_points=zero_points, quantized_dimension=qdim)


def read_model(model: str | bytes | bytearray, subgraph: int = 0) -> ModelInfo:
    """Parses one subgraph (tensors, inputs, outputs, ops; the primary one by default, another
    for a file with a signature per subgraph) and the signature defs."""
    buf, where = _load_bytes(model)
    _check_identifier(buf, where)
    try:
        m = _schema.Model.GetRootAsModel(buf, 0)
        if m.SubgraphsLength() < 1:
            raise ValueError(f"{where}: the model has no subgraph")
        for i in range(m.BuffersLength()):  # large-model layout: data after the flatbuffer
            b = m.Buffers(i)
            if b.Offset() > 1 and b.Offset() + b.Size() > len(buf):
                raise ValueError(f"{where}: truncated TFLite file (buffer {i} ends at byte "
                                 f"{b.Offset() + b.Size()}, the file has {len(buf)})")
        if not 0 <= subgraph < m.SubgraphsLength():
            raise ValueError(f"{where}: no subgraph {subgraph} (the file has "
                             f"{m.SubgraphsLength()})")
        g = m.Subgraphs(subgraph)
        tensors = [_tensor_info(g.Tensors(i), i, m) for i in range(g.TensorsLength())]
        inputs = [tensors[int(i)] for i in g.InputsAsNumpy()] if g.InputsLength() else []
        outputs = [tensors[int(i)] for i in g.OutputsAsNumpy()] if g.OutputsLength() else []
        ops = []
        for i in range(g.OperatorsLength()):
            op = g.Operators(i)
            ins = tuple(tensors[int(j)] if j >= 0 else None
                        for j in (op.InputsAsNumpy() if op.InputsLength() else ()))
            outs = tuple(tensors[int(j)] for j in (op.OutputsAsNumpy() if op.OutputsLength() else ()))
            code = op.OpcodeIndex()
            if code >= m.OperatorCodesLength():
                raise ValueError(f"{where}: invalid TFLite model (op {i} has opcode index {code}, "
                                 f"the file has {m.OperatorCodesLength()})")
            ops.append(OpInfo(i, _op_name(m, code), ins, outs,
                              version=m.OperatorCodes(code).Version(), options=_options(op)))
        signatures = {}
        for i in range(m.SignatureDefsLength()):
            s = m.SignatureDefs(i)
            key = (s.SignatureKey() or b"").decode()
            signatures[key] = {
                "subgraph": int(s.SubgraphIndex()),
                "inputs": {s.Inputs(j).Name().decode(): int(s.Inputs(j).TensorIndex())
                           for j in range(s.InputsLength())},
                "outputs": {s.Outputs(j).Name().decode(): int(s.Outputs(j).TensorIndex())
                            for j in range(s.OutputsLength())},
            }
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(f"{where}: truncated or corrupt TFLite file ({type(e).__name__}: {e})") from None
    return ModelInfo(path=where, tensors=tensors, inputs=inputs, outputs=outputs, ops=ops,
                     signatures=signatures, num_subgraphs=m.SubgraphsLength(),
                     subgraph=subgraph, _buf=buf)


def read_metadata_buffers(model: str | bytes | bytearray) -> dict[str, bytes]:
    """The model's `metadata` entries: {name: the bytes of the buffer it names}, e.g.
    "TFLITE_METADATA" (export/metadata) and the converter's "min_runtime_version"."""
    buf, where = _load_bytes(model)
    _check_identifier(buf, where)
    try:
        m = _schema.Model.GetRootAsModel(buf, 0)
        out = {}
        for i in range(m.MetadataLength()):
            entry = m.Metadata(i)
            b = m.Buffers(entry.Buffer())
            if b.DataLength():
                data = b.DataAsNumpy().tobytes()
            else:  # a buffer stored after the flatbuffer (models over 2 GB)
                data = buf[b.Offset():b.Offset() + b.Size()] if b.Offset() > 1 else b""
            out[(entry.Name() or b"").decode("utf-8", "replace")] = data
    except Exception as e:  # struct/index errors from a corrupt file
        raise ValueError(f"{where}: truncated or corrupt TFLite file ({type(e).__name__}: {e})") from None
    return out


def static_problems(info: ModelInfo, *, max_rank: int = 4, gather_1d: bool = True) -> list[str]:
    """What keeps the graph from being a static, builtin-only, phone-friendly model ([] = none).

    Checks: no custom or Flex ops; one subgraph; no int64 tensor; rank <= max_rank; no -1 in
    any shape signature (static shapes); with `gather_1d`, GATHER indices 1-D (the GPU
    delegate's limit; graphs for NNAPI gather on [1, L] ids instead).
    """
    problems = []
    custom = sorted({op.op[len("CUSTOM:"):] for op in info.ops if op.is_custom})
    if custom:
        problems.append("custom/Flex ops: " + ", ".join(custom))
    if info.num_subgraphs != 1:
        problems.append(f"{info.num_subgraphs} subgraphs (control flow), expected 1")
    int64 = [t.name for t in info.tensors if t.dtype == "int64"]
    if int64:
        problems.append(f"{len(int64)} int64 tensor(s), e.g. {int64[0]!r}")
    high = [t for t in info.tensors if len(t.shape) > max_rank]
    if high:
        problems.append(f"{len(high)} tensor(s) of rank > {max_rank}, e.g. {high[0].name!r} {list(high[0].shape)}")
    dynamic = [t for t in info.tensors if t.shape_signature is not None and -1 in t.shape_signature]
    if dynamic:
        t = dynamic[0]
        problems.append(f"{len(dynamic)} tensor(s) with a dynamic dimension, e.g. {t.name!r} "
                        f"{list(t.shape_signature)}")
    for op in info.ops if gather_1d else ():
        if op.op == "GATHER" and len(op.inputs) > 1 and op.inputs[1] is not None \
                and len(op.inputs[1].shape) != 1:
            problems.append(f"GATHER #{op.index} has {len(op.inputs[1].shape)}-D indices "
                            f"{list(op.inputs[1].shape)}, expected 1-D")
    return problems


# ---------------------------------------------------------------------------------------------
# In-place patching
# ---------------------------------------------------------------------------------------------
def _string_position(buf: bytes, table) -> int | None:
    """Byte position of the length prefix of the Tensor.name string of `table`, or None."""
    o = table._tab.Offset(_TENSOR_NAME_FIELD)
    if not o:
        return None
    field = table._tab.Pos + o
    return field + flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, field)


def rename_io(model_bytes: bytes, input_order: Sequence[str] | None = None,
              signature_key: str | None = None) -> bytes:
    """Names each signature input/output tensor after its signature key, in place.

    TFLite's converter names them e.g. `serving_default_token_ids:0` and
    `StatefulPartitionedCall:0`; apps that look tensors up by name (Task Library, MediaPipe)
    are better served by `token_ids` and `probabilities`. A name is only rewritten when the new
    one is not longer (the string keeps its place; the spare bytes are zeroed). `input_order`
    (signature keys) also permutes the subgraph's input list, which is a same-length vector.
    """
    buf = bytearray(model_bytes)
    _check_identifier(buf, "<bytes>")
    m = _schema.Model.GetRootAsModel(buf, 0)
    info = read_model(bytes(buf))
    if not info.signatures:
        return bytes(buf)
    key = signature_key or next(iter(info.signatures))
    sig = info.signatures[key]
    g = m.Subgraphs(sig["subgraph"])
    names = {**{i: k for k, i in sig["inputs"].items()}, **{i: k for k, i in sig["outputs"].items()}}
    for index, new_name in names.items():
        pos = _string_position(buf, g.Tensors(index))
        if pos is None:
            continue
        old_len = struct.unpack_from("<I", buf, pos)[0]
        new = new_name.encode("utf-8")
        if len(new) > old_len:
            continue
        struct.pack_into("<I", buf, pos, len(new))
        buf[pos + 4:pos + 4 + old_len + 1] = new + b"\0" * (old_len + 1 - len(new))
    if input_order is not None:
        if sorted(input_order) != sorted(sig["inputs"]):
            raise ValueError(f"input_order {list(input_order)} does not match the signature "
                             f"inputs {sorted(sig['inputs'])}")
        o = g._tab.Offset(6)  # SubGraph.inputs
        vec = g._tab.Vector(o)
        if sorted(int(i) for i in g.InputsAsNumpy()) != sorted(sig["inputs"].values()):
            raise ValueError("the subgraph's inputs are not the signature's inputs")
        for j, k in enumerate(input_order):
            struct.pack_into("<i", buf, vec + 4 * j, sig["inputs"][k])
    return bytes(buf)
