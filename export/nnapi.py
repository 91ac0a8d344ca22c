"""Static NNAPI-delegate readiness checker for .tflite files.

NNAPI only runs on Android, so this module reproduces the delegate's
per-node gate (``NNAPIDelegateKernel::Validate`` in TFLite's
``nnapi_delegate.cc``) from the rule table in ``export.nnapi_rules``. It
reads the flatbuffer with the generated schema bindings shipped in
ai-edge-litert (falling back to TensorFlow's copy), so it needs neither a
device nor an interpreter.

Public API::

    check_nnapi(tflite_path, api_level) -> NnapiReport
    lowest_clean_api_level(tflite_path) -> int | None

The API-level and feature-level mapping is documented in
``export.nnapi_rules``. Only the primary subgraph (subgraph 0) is checked,
in operator order, which is TFLite's execution order. Control-flow bodies
are never delegated anyway.

Partitions: each contiguous run of supported ops counts as one delegated
partition. This approximates TFLite's dependency-based partitioning. The
real delegate by default keeps only the 3 largest partitions
(``max_number_delegated_partitions``), so a model with more than 3
partitions will run more ops on the CPU than ``fallbacks`` lists.

Input errors raise ``ValueError`` with a one-line message naming the file:
a missing file, a file that is not a TFLite flatbuffer (the identifier at
bytes 4..8 is not ``TFL3``), or a truncated or corrupt file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from export.nnapi_rules import (
    API_LEVELS,
    API_NNAPI_1_3,
    MIN_API,
    NNAPI_OPERAND_TYPES,
    OpRule,
    rule_for,
    types_at,
)

try:  # light (~0.3 s) and slightly newer schema
    from ai_edge_litert import schema_py_generated as _schema
except Exception:  # pragma: no cover - fallback when ai-edge-litert is absent
    from tensorflow.lite.python import schema_py_generated as _schema

__all__ = [
    "TensorInfo",
    "OpVerdict",
    "NnapiReport",
    "check_nnapi",
    "lowest_clean_api_level",
    "format_report",
]

_FILE_IDENTIFIER = b"TFL3"
API_TARGET = API_NNAPI_1_3  # Android 11, the level this project aims at

_OP_NAMES: Dict[int, str] = {
    v: k for k, v in vars(_schema.BuiltinOperator).items()
    if not k.startswith("_") and isinstance(v, int)
}
_DTYPE_NAMES: Dict[int, str] = {
    v: k.lower() for k, v in vars(_schema.TensorType).items()
    if not k.startswith("_") and isinstance(v, int)
}
_NUMPY_DTYPES = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64,
    "int32": np.int32, "int64": np.int64, "int16": np.int16, "int8": np.int8,
    "uint8": np.uint8, "bool": np.bool_, "uint16": np.uint16,
    "uint32": np.uint32, "uint64": np.uint64,
}
_ACT_NONE = 0
_LSH_SPARSE = getattr(getattr(_schema, "LSHProjectionType", None), "SPARSE", 1)


# --------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    dtype: str
    shape: Tuple[int, ...]
    shape_signature: Optional[Tuple[int, ...]]
    is_const: bool
    scales: Tuple[float, ...] = ()
    zero_points: Tuple[int, ...] = ()
    _raw: Optional[bytes] = field(default=None, repr=False, compare=False)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_dynamic(self) -> bool:
        return self.shape_signature is not None and -1 in self.shape_signature

    @property
    def scale(self) -> float:
        return self.scales[0] if self.scales else 0.0

    @property
    def zero_point(self) -> int:
        return self.zero_points[0] if self.zero_points else 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    def values(self) -> Optional[np.ndarray]:
        """Constant contents (flattened), or None when unavailable."""
        if self._raw is None or self.dtype not in _NUMPY_DTYPES:
            return None
        try:
            return np.frombuffer(self._raw, dtype=_NUMPY_DTYPES[self.dtype])
        except ValueError:
            return None

    def describe(self) -> str:
        sig = ""
        if self.is_dynamic:
            sig = " sig=" + _fmt_shape(self.shape_signature)
        const = " const" if self.is_const else ""
        return f"{self.dtype}{_fmt_shape(self.shape)}{sig}{const}"


@dataclass
class OpVerdict:
    index: int  # position in the execution order
    op: str  # BuiltinOperator name (custom ops: "CUSTOM(name)")
    version: int
    inputs: List[Optional[TensorInfo]]  # None = optional input left out (-1)
    outputs: List[TensorInfo]
    supported: bool
    reasons: List[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "ok"

    @property
    def input_dtypes(self) -> List[Optional[str]]:
        return [t.dtype if t else None for t in self.inputs]

    @property
    def input_shapes(self) -> List[Optional[Tuple[int, ...]]]:
        return [t.shape if t else None for t in self.inputs]

    @property
    def output_dtypes(self) -> List[str]:
        return [t.dtype for t in self.outputs]

    @property
    def output_shapes(self) -> List[Tuple[int, ...]]:
        return [t.shape for t in self.outputs]


@dataclass
class NnapiReport:
    api_level: int
    ops: List[OpVerdict]
    fallbacks: List[OpVerdict]
    partitions: int
    ok: bool
    path: str = ""

    @property
    def delegated_ops(self) -> int:
        return len(self.ops) - len(self.fallbacks)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------
@dataclass
class _ParsedOp:
    op: str
    builtin: Optional[str]  # None for custom ops
    version: int
    inputs: List[Optional[TensorInfo]]
    outputs: List[TensorInfo]
    options: object


class _ModelError(Exception):
    """Structural problem found while walking a parsed model."""


def _fmt_shape(shape: Optional[Sequence[int]]) -> str:
    return "[" + ",".join(str(int(d)) for d in (shape or ())) + "]"


def _err(path: str, msg: str) -> ValueError:
    return ValueError(f"{path}: {msg}".replace("\n", " "))


def _read(path: str) -> bytes:
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{path!r}: expected a file path")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise _err(path, "no such file")
    if not os.path.isfile(path):
        raise _err(path, "not a regular file")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise _err(path, f"cannot read file ({exc.strerror or exc})") from None


def _load(path: str) -> List[_ParsedOp]:
    path = os.fspath(path)
    buf = _read(path)
    if len(buf) < 8:
        raise _err(path, f"not a TFLite flatbuffer (only {len(buf)} bytes)")
    ident = buf[4:8]
    if ident != _FILE_IDENTIFIER:
        raise _err(
            path,
            f"not a TFLite flatbuffer (file identifier {ident!r} at bytes 4..8,"
            f" expected {_FILE_IDENTIFIER!r})",
        )
    try:
        model = _schema.ModelT.InitFromPackedBuf(buf, 0)
        ops = _extract(model, len(buf))
    except _ModelError as exc:
        raise _err(path, f"invalid TFLite model ({exc})") from None
    except Exception as exc:  # struct.error, IndexError, TypeError...
        raise _err(
            path,
            f"truncated or corrupt TFLite flatbuffer ({type(exc).__name__}: {exc})",
        ) from None
    return ops


def _tensor_info(model, graph, idx: int, file_size: int) -> TensorInfo:
    if idx < 0 or idx >= len(graph.tensors or ()):
        raise _ModelError(f"tensor index {idx} out of range")
    t = graph.tensors[idx]
    dtype = _DTYPE_NAMES.get(t.type, f"type{t.type}")
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    sig = (
        tuple(int(d) for d in t.shapeSignature)
        if t.shapeSignature is not None and len(t.shapeSignature) > 0
        else None
    )
    is_const = False
    raw = None
    buffers = model.buffers or []
    if 0 < t.buffer < len(buffers):
        b = buffers[t.buffer]
        if b.data is not None and len(b.data) > 0:
            is_const = True
            if len(b.data) <= 4096:
                raw = bytes(np.asarray(b.data, dtype=np.uint8))
        elif getattr(b, "offset", 0) > 1:
            # Large-model layout: data lives after the flatbuffer.
            if b.offset + b.size > file_size:
                raise _ModelError("truncated: tensor data beyond end of file")
            is_const = True
    q = t.quantization
    scales = tuple(float(s) for s in (q.scale if q is not None and q.scale is not None else ()))
    zps = tuple(int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None else ()))
    name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name or "")
    return TensorInfo(idx, name, dtype, shape, sig, is_const, scales, zps, raw)


def _extract(model, file_size: int) -> List[_ParsedOp]:
    if not model.subgraphs:
        raise _ModelError("no subgraphs in model")
    graph = model.subgraphs[0]
    codes = model.operatorCodes or []
    out: List[_ParsedOp] = []
    for op in graph.operators or []:
        if op.opcodeIndex >= len(codes):
            raise _ModelError(f"opcode index {op.opcodeIndex} out of range")
        oc = codes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        builtin = _OP_NAMES.get(code)
        name = builtin or f"BUILTIN_{code}"
        if builtin == "CUSTOM":
            custom = oc.customCode
            if isinstance(custom, bytes):
                custom = custom.decode("utf-8", "replace")
            name = f"CUSTOM({custom})"
        ins = [
            None if i < 0 else _tensor_info(model, graph, int(i), file_size)
            for i in (op.inputs if op.inputs is not None else [])
        ]
        outs = [
            _tensor_info(model, graph, int(i), file_size)
            for i in (op.outputs if op.outputs is not None else [])
            if i >= 0
        ]
        out.append(
            _ParsedOp(name, builtin, max(1, int(oc.version)), ins, outs,
                      op.builtinOptions)
        )
    return out


# --------------------------------------------------------------------------
# Op-specific constraints (names referenced by nnapi_rules.OpRule.constraints)
# --------------------------------------------------------------------------
@dataclass
class _Ctx:
    op: _ParsedOp
    rule: OpRule
    api: int

    def inp(self, i: int) -> Optional[TensorInfo]:
        ins = self.op.inputs
        return ins[i] if 0 <= i < len(ins) else None

    def out(self, i: int = 0) -> Optional[TensorInfo]:
        outs = self.op.outputs
        return outs[i] if 0 <= i < len(outs) else None

    def opt(self, name: str, default=None):
        return getattr(self.op.options, name, default) if self.op.options is not None else default

    @property
    def n_inputs(self) -> int:
        return len(self.op.inputs)

    def is_hybrid(self, weight_index: int = 1) -> bool:
        a, w = self.inp(0), self.inp(weight_index)
        return bool(a and w and a.dtype == "float32" and w.dtype in ("uint8", "int8"))


def _activation_none(ctx: _Ctx) -> bool:
    return int(ctx.opt("fusedActivationFunction", _ACT_NONE) or 0) == _ACT_NONE


def _c_int32_no_act(ctx: _Ctx) -> List[str]:
    a = ctx.inp(0)
    if a and a.dtype == "int32" and not _activation_none(ctx):
        return ["int32 inputs do not support a fused activation"]
    return []


def _c_inputs01_rank(ctx: _Ctx) -> List[str]:
    bad = [i for i in (0, 1) if ctx.inp(i) and ctx.inp(i).rank > 4]
    return [f"input {i} rank > 4" for i in bad]


def _c_scalar_operands_const(ctx: _Ctx) -> List[str]:
    return [
        f"scalar input {i} must be constant"
        for i in (0, 1)
        if ctx.inp(i) and ctx.inp(i).rank == 0 and not ctx.inp(i).is_const
    ]


def _restricted_scales(ctx: _Ctx) -> List[str]:
    a, w, o = ctx.inp(0), ctx.inp(1), ctx.out()
    if ctx.api < 29 and a and w and o and a.dtype == "uint8":
        if not a.scale * w.scale < o.scale:
            return ["before API 29 uint8 needs input_scale*filter_scale < output_scale"]
    return []


def _c_fully_connected(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    o = ctx.out()
    if o and o.dtype == "int16":
        r.append("int16 output not supported")
    if ctx.api < 29 and ctx.is_hybrid():
        r.append("hybrid (float input, quantized weights) needs API 29")
    r += _restricted_scales(ctx)
    if ctx.opt("keepNumDims", False) and ctx.api < 30:
        r.append("keep_num_dims=True needs API 30")
    return r


def _dilated(ctx: _Ctx) -> bool:
    return (int(ctx.opt("dilationWFactor", 1) or 1) != 1
            or int(ctx.opt("dilationHFactor", 1) or 1) != 1)


def _c_conv2d(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    if ctx.api < 29:
        if ctx.is_hybrid():
            r.append("hybrid conv needs API 29")
        w = ctx.inp(1)
        if w and w.per_channel:
            r.append("per-channel quantized filter needs API 29")
        if _dilated(ctx):
            r.append("dilated conv needs API 29")
    r += _restricted_scales(ctx)
    if ctx.n_inputs != 3 or ctx.inp(2) is None:
        r.append("Conv2D without bias not supported")
    return r


def _c_depthwise(ctx: _Ctx) -> List[str]:
    r = list(_restricted_scales(ctx))
    if ctx.api < 29 and _dilated(ctx):
        r.append("dilated depthwise conv needs API 29")
    return r


def _c_avg_pool(ctx: _Ctx) -> List[str]:
    a = ctx.inp(0)
    if a and a.dtype in ("uint8", "int8"):
        area = int(ctx.opt("filterWidth", 1) or 1) * int(ctx.opt("filterHeight", 1) or 1)
        if area > 256:
            return [f"quantized filter window {area} > 256"]
    return []


def _c_l2pool(ctx: _Ctx) -> List[str]:
    if ctx.api < 29 and not _activation_none(ctx):
        return ["fused activation needs API 29"]
    return []


def _c_softmax(ctx: _Ctx) -> List[str]:
    a = ctx.inp(0)
    if not a:
        return []
    if a.rank > 4:
        return ["input rank > 4"]
    if ctx.api < 29 and a.rank not in (2, 4):
        return [f"rank-{a.rank} input needs API 29 (only 2-D/4-D before)"]
    return []


def _c_reshape(ctx: _Ctx) -> List[str]:
    if ctx.n_inputs == 1:
        new_shape = list(ctx.opt("newShape", None) or [])
        if new_shape == [0]:
            new_shape = []
        if not new_shape:
            return ["reshape to a scalar (new shape rank 0) not supported"]
    return []


def _c_squeeze(ctx: _Ctx) -> List[str]:
    if ctx.api == 28 and not list(ctx.opt("squeezeDims", None) or []):
        return ["API 28 needs explicit squeeze_dims"]
    return []


def _c_l2norm(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    a = ctx.inp(0)
    if ctx.api < 29 and a and a.rank != 4:
        r.append("before API 29 only rank-4 input")
    if not _activation_none(ctx):
        r.append("fused activation not supported")
    return r


def _c_concat(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    if not _activation_none(ctx):
        r.append("fused activation not supported")
    a = ctx.inp(0)
    if a and a.rank > 4:
        r.append("input rank > 4")
    if a and a.dtype == "uint8" and ctx.api < 29:
        for t in ctx.op.inputs[1:]:
            if t and (t.scale != a.scale or t.zero_point != a.zero_point):
                r.append("before API 29 uint8 inputs need equal scale/zero point")
                break
    return r


def _c_dequantize(ctx: _Ctx) -> List[str]:
    a = ctx.inp(0)
    if a and a.dtype == "int8" and ctx.api == 29 and a.zero_point != 0:
        return ["API 29 dequantizes int8 only with zero_point 0"]
    return []


def _c_pad(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    a = ctx.inp(0)
    if a and 0 in a.shape:
        r.append("empty input tensor")
    if ctx.n_inputs < 2:
        r.append("needs at least 2 inputs")
    elif ctx.n_inputs == 3 and ctx.inp(2) is not None:
        if ctx.api < 29:
            r.append("explicit pad value needs API 29")
    elif ctx.api < 29 and a and a.dtype != "float32":
        r.append("before API 29 only float32")
    return r


def _c_batch_to_space(ctx: _Ctx) -> List[str]:
    crops = ctx.inp(2)
    vals = crops.values() if crops else None
    if vals is None or vals.size != 4 or np.any(vals != 0):
        return ["crops must be a constant [[0,0],[0,0]]"]
    return []


def _resize_flags(ctx: _Ctx, max_api: int) -> List[str]:
    r: List[str] = []
    if ctx.api <= max_api:
        if ctx.opt("alignCorners", False):
            r.append(f"align_corners needs API > {max_api}")
        if ctx.opt("halfPixelCenters", False):
            r.append(f"half_pixel_centers needs API > {max_api}")
    return r


def _c_resize_bilinear(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    a, o = ctx.inp(0), ctx.out()
    if a and a.rank != 4:
        r.append("input must be rank 4")
    if ctx.api < 29 and o and o.rank == 4 and o.shape[1] != o.shape[2]:
        r.append("before API 29 output height must equal width")
    return r + _resize_flags(ctx, 29)


def _c_resize_nearest(ctx: _Ctx) -> List[str]:
    return _resize_flags(ctx, 29)


def _c_non_scalar_output(ctx: _Ctx) -> List[str]:
    o = ctx.out()
    return ["scalar output not supported"] if o and o.rank == 0 else []


def _c_non_scalar_input(ctx: _Ctx) -> List[str]:
    a = ctx.inp(0)
    return ["scalar input not supported"] if a and a.rank == 0 else []


def _c_arg_min_max(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    axis = ctx.inp(1)
    if axis is not None:
        if axis.dtype == "int64":
            vals = axis.values()
            if not axis.is_const or vals is None or np.any(np.abs(vals) > 2**31 - 1):
                r.append("int64 axis must be a constant fitting int32")
        elif axis.dtype != "int32":
            r.append(f"axis dtype {axis.dtype} (needs int32)")
    out_type = ctx.opt("outputType", None)
    if out_type is not None and _DTYPE_NAMES.get(int(out_type)) != "int32":
        r.append(f"output_type {_DTYPE_NAMES.get(int(out_type))} (needs int32)")
    return r


def _c_select_same_shape(ctx: _Ctx) -> List[str]:
    c, v = ctx.inp(0), ctx.inp(1)
    if c and v and c.shape != v.shape:
        return ["condition and value shapes differ (no broadcast)"]
    return []


def _c_gather_positions(ctx: _Ctx) -> List[str]:
    p = ctx.inp(1)
    return ["0-D positions not supported"] if p and p.rank == 0 else []


def _c_split_v(ctx: _Ctx) -> List[str]:
    s = ctx.inp(1)
    if s and s.rank != 1:
        return ["size_splits must be 1-D"]
    vals = s.values() if s else None
    if vals is not None and np.any(vals == 0):
        return ["zero-sized split not supported"]
    return []


def _c_quantize(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    a, o = ctx.inp(0), ctx.out()
    if a and a.dtype in ("uint8", "int8") and not a.scale > 0:
        r.append("input scale must be > 0")
    if o and not o.scale > 0:
        r.append("output scale must be > 0")
    return r


def _c_fill(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    dims = ctx.inp(0)
    if dims and dims.is_const:
        if dims.shape and dims.shape[0] == 0:
            r.append("FILL to a scalar not supported")
        vals = dims.values()
        if dims.dtype == "int64" and (vals is None or np.any(np.abs(vals) > 2**31 - 1)):
            r.append("int64 dims must fit int32")
    value = ctx.inp(1)
    if value and value.dtype == "int64" and value.is_const:
        vals = value.values()
        if vals is None or np.any(np.abs(vals) > 2**31 - 1):
            r.append("int64 value must fit int32")
    return r


def _c_pack_axis(ctx: _Ctx) -> List[str]:
    a = ctx.inp(0)
    axis = int(ctx.opt("axis", 0) or 0)
    if a and (axis == -1 or axis == a.rank):
        return ["packing along the last (new) axis not supported"]
    return []


def _c_no_hybrid(ctx: _Ctx) -> List[str]:
    w = 2 if ctx.op.builtin and "LSTM" in ctx.op.builtin else 1
    return ["hybrid variant not supported"] if ctx.is_hybrid(w) else []


def _c_lstm_input_count(ctx: _Ctx) -> List[str]:
    if ctx.n_inputs not in (20, 24):
        return [f"{ctx.n_inputs} inputs (needs 20 or 24)"]
    return []


def _c_five_inputs(ctx: _Ctx) -> List[str]:
    return [] if ctx.n_inputs == 5 else [f"{ctx.n_inputs} inputs (needs 5)"]


def _c_lstm(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    basic = ctx.n_inputs == 5
    if ctx.api < 29 and ctx.is_hybrid(2):
        r.append("hybrid LSTM needs API 29")
    w = ctx.inp(2 if basic else 4)
    wt = w.dtype if w else None
    if basic:
        if wt != "uint8":
            r.append("basic LSTM kernel needs uint8 weights")
        return r
    if ctx.n_inputs == 24 and ctx.api < 29:
        r.append("layer-norm LSTM (24 inputs) needs API 29")
    allowed = ("float32", "uint8", "int8") if ctx.api >= 30 else ("float32", "uint8")
    if wt not in allowed:
        r.append(f"weights {wt} not in {list(allowed)}")
    return r


def _c_lsh(ctx: _Ctx) -> List[str]:
    r: List[str] = []
    if int(ctx.opt("type", 0) or 0) == _LSH_SPARSE:
        if ctx.api < 29:
            r.append("sparse LSH projection needs API 29")
        if ctx.n_inputs != 2:
            r.append("sparse LSH projection with weights not supported")
    return r


_CONSTRAINTS: Dict[str, Callable[[_Ctx], List[str]]] = {
    "int32_no_fused_activation": _c_int32_no_act,
    "inputs_0_1_rank_le_4": _c_inputs01_rank,
    "scalar_operands_const": _c_scalar_operands_const,
    "fully_connected": _c_fully_connected,
    "conv2d": _c_conv2d,
    "depthwise_conv2d": _c_depthwise,
    "avg_pool_quant_window": _c_avg_pool,
    "l2pool_activation": _c_l2pool,
    "softmax_rank": _c_softmax,
    "reshape": _c_reshape,
    "squeeze": _c_squeeze,
    "l2norm": _c_l2norm,
    "concatenation": _c_concat,
    "dequantize": _c_dequantize,
    "pad": _c_pad,
    "batch_to_space_crops": _c_batch_to_space,
    "resize_bilinear": _c_resize_bilinear,
    "resize_nearest": _c_resize_nearest,
    "non_scalar_output": _c_non_scalar_output,
    "non_scalar_input": _c_non_scalar_input,
    "arg_min_max": _c_arg_min_max,
    "select_same_shape": _c_select_same_shape,
    "gather_positions_rank": _c_gather_positions,
    "split_v": _c_split_v,
    "quantize_scales": _c_quantize,
    "fill": _c_fill,
    "pack_axis": _c_pack_axis,
    "no_hybrid": _c_no_hybrid,
    "lstm_input_count": _c_lstm_input_count,
    "five_inputs": _c_five_inputs,
    "lstm": _c_lstm,
    "lsh_projection": _c_lsh,
}

#: Ops whose constant int64 inputs the delegate converts to int32.
_INT64_CONST_OK = {"ARG_MAX": (1,), "ARG_MIN": (1,), "FILL": (0, 1)}


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------
def _general_checks(op: _ParsedOp) -> List[str]:
    """Checker-wide policies: operand types, dynamic shapes, rank > 4."""
    r: List[str] = []
    int64_ok = _INT64_CONST_OK.get(op.builtin or "", ())
    tensors = [("input", i, t) for i, t in enumerate(op.inputs) if t is not None]
    tensors += [("output", i, t) for i, t in enumerate(op.outputs)]
    for kind, i, t in tensors:
        if t.dtype not in NNAPI_OPERAND_TYPES:
            if not (kind == "input" and t.dtype == "int64" and i in int64_ok and t.is_const):
                r.append(f"{kind} {i} dtype {t.dtype} has no NNAPI operand type")
        if t.is_dynamic:
            r.append(
                f"dynamic shape: {kind} {i} shape_signature {_fmt_shape(t.shape_signature)}"
            )
        if t.rank > 4:
            r.append(f"{kind} {i} rank {t.rank} > 4")
    return r


def _dtype_reason(what: str, t: Optional[TensorInfo], allowed: Tuple[str, ...],
                  api: int) -> Optional[str]:
    if t is None:
        return f"{what} missing"
    if t.dtype in allowed:
        return None
    if not allowed:
        return f"{what} dtype {t.dtype} not supported at API {api}"
    return f"{what} dtype {t.dtype} not in {list(allowed)} at API {api}"


def _evaluate(op: _ParsedOp, api: int) -> List[str]:
    """Return the reasons this op is refused at ``api`` (empty: supported)."""
    if api < MIN_API:
        return [f"API {api} < {MIN_API}: NNAPI unavailable, nothing is delegated"]
    if op.builtin is None:
        return [f"unknown builtin op {op.op}"]
    if op.builtin == "CUSTOM":
        return [f"custom op {op.op} is never delegated"]
    rule = rule_for(op.builtin)
    if rule is None:
        return [f"unknown op: {op.builtin} is not in the NNAPI rule table "
                "(Validate default branch)"]
    if rule.min_api is None:
        extra = ""
        if rule.nnapi_min_api is not None:
            extra = (f" (NNAPI has it from API {rule.nnapi_min_api}, but the "
                     "TFLite delegate does not map it)")
        return [f"unsupported op: {op.builtin} has no case in "
                f"NNAPIDelegateKernel::Validate{extra}"]

    # DEQUANTIZE of float16: accepted before any other check.
    if op.builtin == "DEQUANTIZE":
        a = op.inputs[0] if op.inputs else None
        if a is not None and a.dtype == "float16":
            if a.is_const:
                return _general_checks(op)  # fp16 weight, folded by FP16 helper
            if api >= 30:
                return _general_checks(op)
            return ["non-constant float16 DEQUANTIZE needs API 30"]

    reasons: List[str] = []
    if rule.max_version is not None and op.version > rule.max_version:
        reasons.append(f"op version {op.version} > max {rule.max_version}")
    if api < rule.min_api:
        reasons.append(f"API {api} < {rule.min_api} required for {op.builtin}")
    ctx = _Ctx(op, rule, api)
    if api >= rule.min_api:
        allowed = types_at(rule.input_types, api)
        if allowed is not None:
            msg = _dtype_reason(f"input {rule.type_input}", ctx.inp(rule.type_input),
                                allowed, api)
            if msg:
                reasons.append(msg)
        allowed = types_at(rule.output_types, api)
        if allowed is not None:
            msg = _dtype_reason("output 0", ctx.out(), allowed, api)
            if msg:
                reasons.append(msg)
        for orule in rule.operands:
            t = ctx.inp(orule.index)
            if t is None:
                if orule.required:
                    reasons.append(f"input {orule.index} missing")
                continue
            if orule.dtypes is not None and t.dtype not in orule.dtypes:
                reasons.append(
                    f"input {orule.index} dtype {t.dtype} not in {list(orule.dtypes)}"
                )
            if orule.const and not t.is_const:
                reasons.append(f"input {orule.index} must be constant")
        for name in rule.constraints:
            reasons.extend(_CONSTRAINTS[name](ctx))
    reasons.extend(_general_checks(op))
    return list(dict.fromkeys(reasons))  # unique, in order


def _report(ops: List[_ParsedOp], api: int, path: str) -> NnapiReport:
    verdicts: List[OpVerdict] = []
    for i, op in enumerate(ops):
        reasons = _evaluate(op, api)
        verdicts.append(OpVerdict(i, op.op, op.version, list(op.inputs),
                                  list(op.outputs), not reasons, reasons))
    fallbacks = [v for v in verdicts if not v.supported]
    partitions = 0
    prev = False
    for v in verdicts:
        if v.supported and not prev:
            partitions += 1
        prev = v.supported
    return NnapiReport(api, verdicts, fallbacks, partitions, not fallbacks, path)


def _check_api(api_level) -> int:
    if isinstance(api_level, bool) or not isinstance(api_level, (int, np.integer)):
        raise TypeError(f"api_level must be an int, got {api_level!r}")
    return int(api_level)


def check_nnapi(tflite_path: str, api_level: int) -> NnapiReport:
    """Check every op of ``tflite_path`` against the NNAPI delegate at ``api_level``.

    Levels above 35 are evaluated like 35. Levels below 27 report every op
    as a fallback, because the delegate does nothing there.
    """
    api = _check_api(api_level)
    ops = _load(tflite_path)
    return _report(ops, api, os.fspath(tflite_path))


def lowest_clean_api_level(tflite_path: str) -> Optional[int]:
    """Lowest API level in 27..35 at which no op falls back, or None."""
    ops = _load(tflite_path)
    for api in API_LEVELS:
        if _report(ops, api, os.fspath(tflite_path)).ok:
            return api
    return None


def summary(tflite_path: str, api_levels: Sequence[int] = (API_TARGET,)) -> dict:
    """JSON-ready NNAPI facts of a file for the manifest: the lowest clean API level (None if
    none in 27..35) and, at each of `api_levels`, the ops that would fall back and why."""
    ops = _load(tflite_path)
    path = os.fspath(tflite_path)
    lowest = next((api for api in API_LEVELS if _report(ops, api, path).ok), None)
    at = {}
    for api in api_levels:
        report = _report(ops, _check_api(api), path)
        at[str(api)] = {
            "ok": report.ok, "ops": len(report.ops), "partitions": report.partitions,
            "fallbacks": [f"#{v.index} {v.op} v{v.version}: {v.reason}"
                          for v in report.fallbacks]}
    return {"lowest_clean_api_level": lowest, "at_api": at,
            "rules": "export/nnapi_rules.py (TFLite nnapi_delegate.cc Validate)"}


def format_report(report: NnapiReport) -> str:
    """Human-readable multi-line summary of a report."""
    lines = [
        f"NNAPI readiness of {report.path or '<model>'} at API {report.api_level}: "
        f"{'OK' if report.ok else 'FALLBACK'} "
        f"({report.delegated_ops}/{len(report.ops)} ops delegated, "
        f"{report.partitions} partition(s), {len(report.fallbacks)} CPU fallback op(s))"
    ]
    for v in report.ops:
        ins = ", ".join(t.describe() if t else "-" for t in v.inputs)
        outs = ", ".join(t.describe() for t in v.outputs)
        mark = "NNAPI" if v.supported else "CPU  "
        lines.append(f"  #{v.index:<3} {mark} {v.op} v{v.version} ({ins}) -> ({outs})")
        if not v.supported:
            lines.append(f"        reason: {v.reason}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import sys

    if len(sys.argv) not in (2, 3):
        print("usage: python -m export.nnapi MODEL.tflite [API_LEVEL]", file=sys.stderr)
        sys.exit(2)
    model_path = sys.argv[1]
    if len(sys.argv) == 3:
        print(format_report(check_nnapi(model_path, int(sys.argv[2]))))
    else:
        print(f"lowest clean API level: {lowest_clean_api_level(model_path)}")
