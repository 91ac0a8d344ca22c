"""Static NNAPI-delegate readiness check of .tflite files: which ops would fall back to the CPU.

NNAPI only runs on Android, so this module reproduces the delegate's per-node gate
(``NNAPIDelegateKernel::Validate`` in TFLite's ``nnapi_delegate.cc``) from the rule table in
``export.checks.nnapi_rules`` and the op-specific constraints in
``export.checks.nnapi_constraints``. The model is read with ``export.tflite.reader``, so it
needs neither a device nor an interpreter.

Public API (``model`` is a path, the file's bytes, or a ``reader.ModelInfo`` already read)::

    check_nnapi(model, api_level) -> NnapiReport
    lowest_clean_api_level(model) -> int | None
    summary(model, api_levels=(API_TARGET,)) -> dict   # JSON-ready, for the manifest
    format_report(report) -> str

The API-level and feature-level mapping is documented in ``export.checks.nnapi_rules``. Only
the primary subgraph (subgraph 0) is checked, in operator order, which is TFLite's execution
order. Control-flow bodies are never delegated anyway.

Partitions: each contiguous run of supported ops counts as one delegated partition. This
approximates TFLite's dependency-based partitioning. The real delegate by default keeps only
the 3 largest partitions (``max_number_delegated_partitions``), so a model with more than 3
partitions will run more ops on the CPU than ``fallbacks`` lists.

Input errors raise the reader's ``ValueError``, one line naming the file: a missing file, a
file that is not a TFLite flatbuffer (no ``TFL3`` identifier), or a truncated or corrupt file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from export.checks.nnapi_constraints import constraint_reasons
from export.checks.nnapi_rules import (
    API_LEVELS,
    API_NNAPI_1_3,
    MIN_API,
    NNAPI_OPERAND_TYPES,
    rule_for,
    types_at,
)
from export.tflite.reader import BUILTIN_OP_NAMES, ModelInfo, OpInfo, TensorInfo, read_model

__all__ = [
    "API_TARGET",
    "OpVerdict",
    "NnapiReport",
    "check_nnapi",
    "lowest_clean_api_level",
    "summary",
    "format_report",
]

API_TARGET = API_NNAPI_1_3  # Android 11, the level this project aims at

Model = str | os.PathLike | bytes | ModelInfo

#: Ops whose constant int64 inputs the delegate converts to int32.
_INT64_CONST_OK = {"ARG_MAX": (1,), "ARG_MIN": (1,), "FILL": (0, 1)}


@dataclass
class OpVerdict:
    index: int  # position in the execution order
    op: str  # BuiltinOperator name (custom ops: "CUSTOM(name)")
    version: int
    inputs: list[TensorInfo | None]  # None = optional input left out (-1)
    outputs: list[TensorInfo]
    supported: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "ok"

    @property
    def input_dtypes(self) -> list[str | None]:
        return [t.dtype if t else None for t in self.inputs]

    @property
    def input_shapes(self) -> list[tuple[int, ...] | None]:
        return [t.shape if t else None for t in self.inputs]

    @property
    def output_dtypes(self) -> list[str]:
        return [t.dtype for t in self.outputs]

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        return [t.shape for t in self.outputs]


@dataclass
class NnapiReport:
    api_level: int
    ops: list[OpVerdict]
    fallbacks: list[OpVerdict]
    partitions: int
    ok: bool
    path: str = ""

    @property
    def delegated_ops(self) -> int:
        return len(self.ops) - len(self.fallbacks)


def _fmt_shape(shape: Sequence[int] | None) -> str:
    return "[" + ",".join(str(int(d)) for d in (shape or ())) + "]"


def _describe(t: TensorInfo) -> str:
    sig = " sig=" + _fmt_shape(t.shape_signature) if t.is_dynamic else ""
    const = " const" if t.is_const else ""
    return f"{t.dtype}{_fmt_shape(t.shape)}{sig}{const}"


def _name(op: OpInfo) -> str:
    """The op as reports spell it: the reader's "CUSTOM:code" reads "CUSTOM(code)"."""
    return f"CUSTOM({op.op[len('CUSTOM:'):]})" if op.is_custom else op.op


def _version(op: OpInfo) -> int:
    return max(1, int(op.version))  # a version 0 in the file means the first


def _at(tensors: Sequence[TensorInfo | None], i: int) -> TensorInfo | None:
    return tensors[i] if 0 <= i < len(tensors) else None


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------
def _general_checks(op: OpInfo) -> list[str]:
    """Checker-wide policies: operand types, dynamic shapes, rank > 4."""
    r: list[str] = []
    int64_ok = _INT64_CONST_OK.get(op.op, ())
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


def _dtype_reason(what: str, t: TensorInfo | None, allowed: tuple[str, ...],
                  api: int) -> str | None:
    if t is None:
        return f"{what} missing"
    if t.dtype in allowed:
        return None
    if not allowed:
        return f"{what} dtype {t.dtype} not supported at API {api}"
    return f"{what} dtype {t.dtype} not in {list(allowed)} at API {api}"


def _evaluate(op: OpInfo, api: int, model: ModelInfo) -> list[str]:
    """Return the reasons this op is refused at ``api`` (empty: supported)."""
    if api < MIN_API:
        return [f"API {api} < {MIN_API}: NNAPI unavailable, nothing is delegated"]
    if op.is_custom:
        return [f"custom op {_name(op)} is never delegated"]
    if op.op not in BUILTIN_OP_NAMES:  # a builtin code newer than the schema
        return [f"unknown builtin op {op.op}"]
    rule = rule_for(op.op)
    if rule is None:
        return [f"unknown op: {op.op} is not in the NNAPI rule table "
                "(Validate default branch)"]
    if rule.min_api is None:
        extra = ""
        if rule.nnapi_min_api is not None:
            extra = (f" (NNAPI has it from API {rule.nnapi_min_api}, but the "
                     "TFLite delegate does not map it)")
        return [f"unsupported op: {op.op} has no case in "
                f"NNAPIDelegateKernel::Validate{extra}"]

    # DEQUANTIZE of float16: accepted before any other check.
    if op.op == "DEQUANTIZE":
        a = op.inputs[0] if op.inputs else None
        if a is not None and a.dtype == "float16":
            if a.is_const:
                return _general_checks(op)  # fp16 weight, folded by FP16 helper
            if api >= 30:
                return _general_checks(op)
            return ["non-constant float16 DEQUANTIZE needs API 30"]

    reasons: list[str] = []
    version = _version(op)
    if rule.max_version is not None and version > rule.max_version:
        reasons.append(f"op version {version} > max {rule.max_version}")
    if api < rule.min_api:
        reasons.append(f"API {api} < {rule.min_api} required for {op.op}")
    if api >= rule.min_api:
        allowed = types_at(rule.input_types, api)
        if allowed is not None:
            msg = _dtype_reason(f"input {rule.type_input}", _at(op.inputs, rule.type_input),
                                allowed, api)
            if msg:
                reasons.append(msg)
        allowed = types_at(rule.output_types, api)
        if allowed is not None:
            msg = _dtype_reason("output 0", _at(op.outputs, 0), allowed, api)
            if msg:
                reasons.append(msg)
        for orule in rule.operands:
            t = _at(op.inputs, orule.index)
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
        reasons.extend(constraint_reasons(op, rule, api, model))
    reasons.extend(_general_checks(op))
    return list(dict.fromkeys(reasons))  # unique, in order


def _report(model: ModelInfo, api: int) -> NnapiReport:
    verdicts: list[OpVerdict] = []
    for i, op in enumerate(model.ops):
        reasons = _evaluate(op, api, model)
        verdicts.append(OpVerdict(i, _name(op), _version(op), list(op.inputs),
                                  list(op.outputs), not reasons, reasons))
    fallbacks = [v for v in verdicts if not v.supported]
    partitions = 0
    prev = False
    for v in verdicts:
        if v.supported and not prev:
            partitions += 1
        prev = v.supported
    return NnapiReport(api, verdicts, fallbacks, partitions, not fallbacks, model.path)


def _check_api(api_level) -> int:
    if isinstance(api_level, bool) or not isinstance(api_level, (int, np.integer)):
        raise TypeError(f"api_level must be an int, got {api_level!r}")
    return int(api_level)


def _read(model: Model) -> ModelInfo:
    return model if isinstance(model, ModelInfo) else read_model(model)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
def check_nnapi(model: Model, api_level: int) -> NnapiReport:
    """Check every op of `model` against the NNAPI delegate at ``api_level``.

    Levels above 35 are evaluated like 35. Levels below 27 report every op
    as a fallback, because the delegate does nothing there.
    """
    api = _check_api(api_level)
    return _report(_read(model), api)


def lowest_clean_api_level(model: Model) -> int | None:
    """Lowest API level in 27..35 at which no op falls back, or None."""
    info = _read(model)
    return next((api for api in API_LEVELS if _report(info, api).ok), None)


def summary(model: Model, api_levels: Sequence[int] = (API_TARGET,)) -> dict:
    """JSON-ready NNAPI facts of a file for the manifest: the lowest clean API level (None if
    none in 27..35) and, at each of `api_levels`, the ops that would fall back and why."""
    info = _read(model)
    lowest = next((api for api in API_LEVELS if _report(info, api).ok), None)
    at = {}
    for api in api_levels:
        report = _report(info, _check_api(api))
        at[str(api)] = {
            "ok": report.ok, "ops": len(report.ops), "partitions": report.partitions,
            "fallbacks": [f"#{v.index} {v.op} v{v.version}: {v.reason}"
                          for v in report.fallbacks]}
    return {"lowest_clean_api_level": lowest, "at_api": at,
            "rules": "export/checks/nnapi_rules.py (TFLite nnapi_delegate.cc Validate)"}


def format_report(report: NnapiReport) -> str:
    """Human-readable multi-line summary of a report."""
    lines = [
        f"NNAPI readiness of {report.path or '<model>'} at API {report.api_level}: "
        f"{'OK' if report.ok else 'FALLBACK'} "
        f"({report.delegated_ops}/{len(report.ops)} ops delegated, "
        f"{report.partitions} partition(s), {len(report.fallbacks)} CPU fallback op(s))"
    ]
    for v in report.ops:
        ins = ", ".join(_describe(t) if t else "-" for t in v.inputs)
        outs = ", ".join(_describe(t) for t in v.outputs)
        mark = "NNAPI" if v.supported else "CPU  "
        lines.append(f"  #{v.index:<3} {mark} {v.op} v{v.version} ({ins}) -> ({outs})")
        if not v.supported:
            lines.append(f"        reason: {v.reason}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import sys

    if len(sys.argv) not in (2, 3):
        print("usage: python -m export.checks.nnapi MODEL.tflite [API_LEVEL]", file=sys.stderr)
        sys.exit(2)
    model_path = sys.argv[1]
    if len(sys.argv) == 3:
        print(format_report(check_nnapi(model_path, int(sys.argv[2]))))
    else:
        print(f"lowest clean API level: {lowest_clean_api_level(model_path)}")
