"""What the NNAPI rule table's op-specific constraint names mean (``OpRule.constraints``).

Each ``_c_*`` function mirrors one op's extra checks in ``NNAPIDelegateKernel::Validate``
(TFLite's ``nnapi_delegate.cc``): fused activations, ranks, options, constant operands. It gets
the op as ``export.tflite.reader`` read it and returns the reasons the delegate would refuse it
at the API level being checked ([] = no objection). ``export.checks.nnapi`` runs them through
``constraint_reasons`` after the table's type and operand checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from export.checks.nnapi_rules import OpRule
from export.tflite.reader import DTYPE_NAMES, ModelInfo, OpInfo, TensorInfo

_ACT_NONE = 0  # ActivationFunctionType.NONE in the TFLite schema
_LSH_SPARSE = 1  # LSHProjectionType.SPARSE in the TFLite schema


@dataclass
class _Ctx:
    op: OpInfo
    rule: OpRule
    api: int
    model: ModelInfo

    def inp(self, i: int) -> TensorInfo | None:
        ins = self.op.inputs
        return ins[i] if 0 <= i < len(ins) else None

    def out(self, i: int = 0) -> TensorInfo | None:
        outs = self.op.outputs
        return outs[i] if 0 <= i < len(outs) else None

    def opt(self, name: str, default=None):
        """Builtin option `name` (schema spelling); `default` when the op has no such option."""
        return self.op.options.get(name, default)

    def values(self, t: TensorInfo) -> np.ndarray | None:
        """A constant operand's contents; None when it is not a readable constant."""
        return self.model.constant(t)

    @property
    def n_inputs(self) -> int:
        return len(self.op.inputs)

    def is_hybrid(self, weight_index: int = 1) -> bool:
        a, w = self.inp(0), self.inp(weight_index)
        return bool(a and w and a.dtype == "float32" and w.dtype in ("uint8", "int8"))


def _activation_none(ctx: _Ctx) -> bool:
    return int(ctx.opt("fused_activation_function", _ACT_NONE) or 0) == _ACT_NONE


def _c_int32_no_act(ctx: _Ctx) -> list[str]:
    a = ctx.inp(0)
    if a and a.dtype == "int32" and not _activation_none(ctx):
        return ["int32 inputs do not support a fused activation"]
    return []


def _c_inputs01_rank(ctx: _Ctx) -> list[str]:
    bad = [i for i in (0, 1) if ctx.inp(i) and ctx.inp(i).rank > 4]
    return [f"input {i} rank > 4" for i in bad]


def _c_scalar_operands_const(ctx: _Ctx) -> list[str]:
    return [
        f"scalar input {i} must be constant"
        for i in (0, 1)
        if ctx.inp(i) and ctx.inp(i).rank == 0 and not ctx.inp(i).is_const
    ]


def _restricted_scales(ctx: _Ctx) -> list[str]:
    a, w, o = ctx.inp(0), ctx.inp(1), ctx.out()
    if ctx.api < 29 and a and w and o and a.dtype == "uint8":
        if not a.scale * w.scale < o.scale:
            return ["before API 29 uint8 needs input_scale*filter_scale < output_scale"]
    return []


def _c_fully_connected(ctx: _Ctx) -> list[str]:
    r: list[str] = []
    o = ctx.out()
    if o and o.dtype == "int16":
        r.append("int16 output not supported")
    if ctx.api < 29 and ctx.is_hybrid():
        r.append("hybrid (float input, quantized weights) needs API 29")
    r += _restricted_scales(ctx)
    if ctx.opt("keep_num_dims", False) and ctx.api < 30:
        r.append("keep_num_dims=True needs API 30")
    return r


def _dilated(ctx: _Ctx) -> bool:
    return (int(ctx.opt("dilation_w_factor", 1) or 1) != 1
            or int(ctx.opt("dilation_h_factor", 1) or 1) != 1)


def _c_conv2d(ctx: _Ctx) -> list[str]:
    r: list[str] = []
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


def _c_depthwise(ctx: _Ctx) -> list[str]:
    r = list(_restricted_scales(ctx))
    if ctx.api < 29 and _dilated(ctx):
        r.append("dilated depthwise conv needs API 29")
    return r


def _c_avg_pool(ctx: _Ctx) -> list[str]:
    a = ctx.inp(0)
    if a and a.dtype in ("uint8", "int8"):
        area = int(ctx.opt("filter_width", 1) or 1) * int(ctx.opt("filter_height", 1) or 1)
        if area > 256:
            return [f"quantized filter window {area} > 256"]
    return []


def _c_l2pool(ctx: _Ctx) -> list[str]:
    if ctx.api < 29 and not _activation_none(ctx):
        return ["fused activation needs API 29"]
    return []


def _c_softmax(ctx: _Ctx) -> list[str]:
    a = ctx.inp(0)
    if not a:
        return []
    if a.rank > 4:
        return ["input rank > 4"]
    if ctx.api < 29 and a.rank not in (2, 4):
        return [f"rank-{a.rank} input needs API 29 (only 2-D/4-D before)"]
    return []


def _c_reshape(ctx: _Ctx) -> list[str]:
    if ctx.n_inputs == 1:
        new_shape = list(ctx.opt("new_shape", None) or [])
        if new_shape == [0]:
            new_shape = []
        if not new_shape:
            return ["reshape to a scalar (new shape rank 0) not supported"]
    return []


def _c_squeeze(ctx: _Ctx) -> list[str]:
    if ctx.api == 28 and not list(ctx.opt("squeeze_dims", None) or []):
        return ["API 28 needs explicit squeeze_dims"]
    return []


def _c_l2norm(ctx: _Ctx) -> list[str]:
    r: list[str] = []
    a = ctx.inp(0)
    if ctx.api < 29 and a and a.rank != 4:
        r.append("before API 29 only rank-4 input")
    if not _activation_none(ctx):
        r.append("fused activation not supported")
    return r


def _c_concat(ctx: _Ctx) -> list[str]:
    r: list[str] = []
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


def _c_dequantize(ctx: _Ctx) -> list[str]:
    a = ctx.inp(0)
    if a and a.dtype == "int8" and ctx.api == 29 and a.zero_point != 0:
        return ["API 29 dequantizes int8 only with zero_point 0"]
    return []


def _c_pad(ctx: _Ctx) -> list[str]:
    r: list[str] = []
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


def _c_batch_to_space(ctx: _Ctx) -> list[str]:
    crops = ctx.inp(2)
    vals = ctx.values(crops) if crops else None
    if vals is None or vals.size != 4 or np.any(vals != 0):
        return ["crops must be a constant [[0,0],[0,0]]"]
    return []


def _resize_flags(ctx: _Ctx, max_api: int) -> list[str]:
    r: list[str] = []
    if ctx.api <= max_api:
        if ctx.opt("align_corners", False):
            r.append(f"align_corners needs API > {max_api}")
        if ctx.opt("half_pixel_centers", False):
            r.append(f"half_pixel_centers needs API > {max_api}")
    return r


def _c_resize_bilinear(ctx: _Ctx) -> list[str]:
    r: list[str] = []
    a, o = ctx.inp(0), ctx.out()
    if a and a.rank != 4:
        r.append("input must be rank 4")
    if ctx.api < 29 and o and o.rank == 4 and o.shape[1] != o.shape[2]:
        r.append("before API 29 output height must equal width")
    return r + _resize_flags(ctx, 29)


def _c_resize_nearest(ctx: _Ctx) -> list[str]:
    return _resize_flags(ctx, 29)


def _c_non_scalar_output(ctx: _Ctx) -> list[str]:
    o = ctx.out()
    return ["scalar output not supported"] if o and o.rank == 0 else []


def _c_non_scalar_input(ctx: _Ctx) -> list[str]:
    a = ctx.inp(0)
    return ["scalar input not supported"] if a and a.rank == 0 else []


def _c_arg_min_max(ctx: _Ctx) -> list[str]:
    r: list[str] = []
    axis = ctx.inp(1)
    if axis is not None:
        if axis.dtype == "int64":
            vals = ctx.values(axis)
            if not axis.is_const or vals is None or np.any(np.abs(vals) > 2**31 - 1):
                r.append("int64 axis must be a constant fitting int32")
        elif axis.dtype != "int32":
            r.append(f"axis dtype {axis.dtype} (needs int32)")
    out_type = ctx.opt("output_type", None)
    if out_type is not None and DTYPE_NAMES.get(int(out_type)) != "int32":
        r.append(f"output_type {DTYPE_NAMES.get(int(out_type))} (needs int32)")
    return r


def _c_select_same_shape(ctx: _Ctx) -> list[str]:
    c, v = ctx.inp(0), ctx.inp(1)
    if c and v and c.shape != v.shape:
        return ["condition and value shapes differ (no broadcast)"]
    return []


def _c_gather_positions(ctx: _Ctx) -> list[str]:
    p = ctx.inp(1)
    return ["0-D positions not supported"] if p and p.rank == 0 else []


def _c_split_v(ctx: _Ctx) -> list[str]:
    s = ctx.inp(1)
    if s and s.rank != 1:
        return ["size_splits must be 1-D"]
    vals = ctx.values(s) if s else None
    if vals is not None and np.any(vals == 0):
        return ["zero-sized split not supported"]
    return []


def _c_quantize(ctx: _Ctx) -> list[str]:
    r: list[str] = []
    a, o = ctx.inp(0), ctx.out()
    if a and a.dtype in ("uint8", "int8") and not a.scale > 0:
        r.append("input scale must be > 0")
    if o and not o.scale > 0:
        r.append("output scale must be > 0")
    return r


def _c_fill(ctx: _Ctx) -> list[str]:
    r: list[str] = []
    dims = ctx.inp(0)
    if dims and dims.is_const:
        if dims.shape and dims.shape[0] == 0:
            r.append("FILL to a scalar not supported")
        vals = ctx.values(dims)
        if dims.dtype == "int64" and (vals is None or np.any(np.abs(vals) > 2**31 - 1)):
            r.append("int64 dims must fit int32")
    value = ctx.inp(1)
    if value and value.dtype == "int64" and value.is_const:
        vals = ctx.values(value)
        if vals is None or np.any(np.abs(vals) > 2**31 - 1):
            r.append("int64 value must fit int32")
    return r


def _c_pack_axis(ctx: _Ctx) -> list[str]:
    a = ctx.inp(0)
    axis = int(ctx.opt("axis", 0) or 0)
    if a and (axis == -1 or axis == a.rank):
        return ["packing along the last (new) axis not supported"]
    return []


def _c_no_hybrid(ctx: _Ctx) -> list[str]:
    w = 2 if "LSTM" in ctx.op.op else 1
    return ["hybrid variant not supported"] if ctx.is_hybrid(w) else []


def _c_lstm_input_count(ctx: _Ctx) -> list[str]:
    if ctx.n_inputs not in (20, 24):
        return [f"{ctx.n_inputs} inputs (needs 20 or 24)"]
    return []


def _c_five_inputs(ctx: _Ctx) -> list[str]:
    return [] if ctx.n_inputs == 5 else [f"{ctx.n_inputs} inputs (needs 5)"]


def _c_lstm(ctx: _Ctx) -> list[str]:
    r: list[str] = []
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


def _c_lsh(ctx: _Ctx) -> list[str]:
    r: list[str] = []
    if int(ctx.opt("type", 0) or 0) == _LSH_SPARSE:
        if ctx.api < 29:
            r.append("sparse LSH projection needs API 29")
        if ctx.n_inputs != 2:
            r.append("sparse LSH projection with weights not supported")
    return r


CONSTRAINTS: dict[str, Callable[[_Ctx], list[str]]] = {
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


def constraint_reasons(op: OpInfo, rule: OpRule, api: int, model: ModelInfo) -> list[str]:
    """Reasons from the op-specific constraints `rule` names, in the table's order."""
    ctx = _Ctx(op, rule, api, model)
    reasons: list[str] = []
    for name in rule.constraints:
        reasons.extend(CONSTRAINTS[name](ctx))
    return reasons
