"""NNAPI-delegate op rules, as data: one row per TFLite builtin operator.

The rows mirror ``NNAPIDelegateKernel::Validate`` in TFLite's
``tensorflow/lite/delegates/nnapi/nnapi_delegate.cc`` (the copy read for this
table is the current TensorFlow master version: it already has
SQUARED_DIFFERENCE, SPLIT_V and CONV_2D op version 5, and compares
comparisons, NEG and SELECT against NNAPI 1.2). ``export.checks.nnapi``
applies them to a ``.tflite`` file without an Android device.

API level mapping used everywhere in this module
-------------------------------------------------
=========  =======================  =========================================
API level  NNAPI                    constant in the delegate source
=========  =======================  =========================================
27         NNAPI 1.0 (Android 8.1)  kMinSdkVersionForNNAPI   = 27
28         NNAPI 1.1 (Android 9)    kMinSdkVersionForNNAPI11 = 28
29         NNAPI 1.2 (Android 10)   kMinSdkVersionForNNAPI12 = 29
30         NNAPI 1.3 (Android 11)   kMinSdkVersionForNNAPI13 = 30
31, 32     feature level 5 (12/12L) kNNAPIRuntimeFeatureLevel5 = 31
33         feature level 6 (13)     kNNAPIRuntimeFeatureLevel6 = 1000006
34         feature level 7 (14)     kNNAPIRuntimeFeatureLevel7 = 1000007
35         feature level 8 (15)     kNNAPIRuntimeFeatureLevel8 = 1000008
=========  =======================  =========================================

On API 31+ the delegate passes the runtime *feature level* (31 or 100000x)
to ``Validate`` instead of the SDK version. ``Validate`` has no check above
``kMinSdkVersionForNNAPI13`` (30), so **API levels 30-35 give the same
verdicts**. The FL6-FL8 constants exist in ``nnapi_delegate_kernel.h`` but
``Validate`` does not use them. In particular BATCH_MATMUL (an NNAPI
operation since feature level 6) has **no case in Validate**, so the TFLite
NNAPI delegate never takes it. ``nnapi_min_api`` records the NNAPI level for
such ops as information only. FL6 = Android 13 / API 33 (and FL7 = 34,
FL8 = 35) is the mapping the brief gave: NNAPI defines FL6+ as
mainline-updatable levels, not SDK versions, so that pairing is approximate.

Row fields
----------
``op``             BuiltinOperator name as in the TFLite schema.
``max_version``    highest op version Validate accepts. ``None`` means the
                   source checks no version (HARD_SWISH, DEPTH_TO_SPACE...).
``min_api``        lowest API level at which Validate can accept the op.
                   ``None`` means never (the op falls into Validate's
                   ``default:`` branch, "Unsupported operation type.").
``input_types``    ``((api, dtypes), ...)``: the dtype allowed for input
                   ``type_input`` from that API level on (the entry with the
                   largest api <= the target applies). ``None`` = not checked.
``output_types``   same for output 0.
``operands``       extra per-input checks: ``OperandRule(index, dtypes,
                   const, required)``.
``constraints``    names of op-specific checks implemented in
                   ``export.checks.nnapi_constraints.CONSTRAINTS`` (for
                   example fused activations, ranks and options).
``nnapi_min_api``  information only: API level where NNAPI itself has a
                   matching operation, when that differs from delegate support.
``source``         the check in ``NNAPIDelegateKernel::Validate`` this row
                   reflects.
``note``           caveats. Rows say here when they are unsure or
                   conservative.

General policies (``GENERAL_RULES``) apply to every op. Some are source
facts, for example no delegation below API 27 and tensor types without an
NNAPI operand type. Others are conservative choices of this checker: it
rejects dynamic shapes and ranks above 4.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- API levels -------------------------------------------------------------
API_NNAPI_1_0 = 27
API_NNAPI_1_1 = 28
API_NNAPI_1_2 = 29
API_NNAPI_1_3 = 30
API_FL5 = 31
API_FL6 = 33
API_FL7 = 34
API_FL8 = 35
MIN_API = API_NNAPI_1_0
MAX_API = API_FL8
API_LEVELS: tuple[int, ...] = tuple(range(MIN_API, MAX_API + 1))

#: Feature-level names used in reports.
API_NAMES = {
    27: "NNAPI 1.0",
    28: "NNAPI 1.1",
    29: "NNAPI 1.2",
    30: "NNAPI 1.3",
    31: "NNAPI feature level 5",
    32: "NNAPI feature level 5 (12L)",
    33: "NNAPI feature level 6",
    34: "NNAPI feature level 7",
    35: "NNAPI feature level 8",
}

# --- dtype sets (names = TFLite TensorType names, lower case) ----------------
F32 = ("float32",)
F32_U8 = ("float32", "uint8")
F_Q8 = ("float32", "uint8", "int8")
F_Q8_I32 = ("float32", "uint8", "int8", "int32")
I32 = ("int32",)
BOOL = ("bool",)

#: Tensor types that have an NNAPI operand type
#: (``NNAPIOpBuilder::AddTensor`` switch). Anything else (int64, string,
#: float64, complex, uint16/32/64, int4, resource, variant...) hits the
#: ``default:`` branch "Failed to add NN API tensor: type %s is not supported".
NNAPI_OPERAND_TYPES = frozenset(
    {"float32", "float16", "int32", "uint8", "int8", "bool", "int16"}
)

#: Every dtype name the table may mention (sanity checking).
KNOWN_DTYPES = frozenset(NNAPI_OPERAND_TYPES | {"int64"})

#: Default ``StatefulNnApiDelegate::Options::max_number_delegated_partitions``.
DEFAULT_MAX_DELEGATED_PARTITIONS = 3


@dataclass(frozen=True)
class OperandRule:
    """Check on one op input (index into the op's input list)."""

    index: int
    dtypes: tuple[str, ...] | None = None  # None: dtype not checked
    const: bool = False  # must be a constant (kTfLiteMmapRo) tensor
    required: bool = True  # missing/optional (-1) input is a failure


@dataclass(frozen=True)
class OpRule:
    op: str
    max_version: int | None
    min_api: int | None
    input_types: tuple[tuple[int, tuple[str, ...]], ...] | None = None
    type_input: int = 0
    output_types: tuple[tuple[int, tuple[str, ...]], ...] | None = None
    operands: tuple[OperandRule, ...] = ()
    constraints: tuple[str, ...] = ()
    nnapi_min_api: int | None = None
    source: str = ""
    note: str = ""

    @property
    def supported(self) -> bool:
        """True when the delegate accepts this op at some API level."""
        return self.min_api is not None


@dataclass(frozen=True)
class GeneralRule:
    name: str
    description: str
    source: str
    policy: bool  # True: conservative choice of this checker, not a Validate check


_V = "NNAPIDelegateKernel::Validate"

RULES: tuple[OpRule, ...] = (
    # ---------------------------------------------------------------- arithmetic
    OpRule(
        "ADD", 2, 27,
        input_types=((27, F_Q8), (30, F_Q8_I32)),
        constraints=("int32_no_fused_activation",),
        source=f"{_V} case kTfLiteBuiltinAdd: ExpectMaxOpVersion(2); "
        "ExpectIsFloatOrQuant8Operator below NNAPI13, "
        "ExpectIsFloatQuant8OrInt32Operator from NNAPI13 (int32 requires "
        "activation == kTfLiteActNone).",
        note="int8 is accepted from API 27 because the delegate converts it "
        "to uint8 (NeedInt8Conversion).",
    ),
    OpRule(
        "MUL", 2, 27,
        input_types=((27, F_Q8), (30, F_Q8_I32)),
        constraints=("int32_no_fused_activation",),
        source=f"{_V} case kTfLiteBuiltinMul: ExpectMaxOpVersion(2) (3 only "
        "when an accelerator is named); same type rules as ADD.",
        note="Conservative: version 3 counts as unsupported because the "
        "checker assumes no accelerator_name.",
    ),
    OpRule(
        "SUB", 3, 28,
        input_types=((28, F32), (29, F_Q8), (30, F_Q8_I32)),
        constraints=("int32_no_fused_activation", "inputs_0_1_rank_le_4"),
        source=f"{_V} case kTfLiteBuiltinSub: ExpectMaxOpVersion(3); float "
        "needs NNAPI11, quantized NNAPI12, int32 NNAPI13 (no activation); "
        "input ranks <= 4.",
    ),
    OpRule(
        "DIV", 1, 28,
        input_types=((28, F32),),
        source=f"{_V} case kTfLiteBuiltinDiv: ExpectOpVersion(1); "
        "ExpectMinAndroidSdkVersion(NNAPI11); input must be float32.",
    ),
    OpRule(
        "SQUARED_DIFFERENCE", 2, 28,
        input_types=((28, F32), (29, F32_U8), (30, F_Q8_I32)),
        constraints=("inputs_0_1_rank_le_4",),
        source=f"{_V} case kTfLiteBuiltinSquaredDifference: ExpectOpVersion(2); "
        "NNAPI11; float32 (<NNAPI12), float32/uint8 (NNAPI12), "
        "float32/uint8/int8/int32 (NNAPI13+); ranks <= 4.",
        note="Recent case; older TFLite releases have no SQUARED_DIFFERENCE "
        "case at all, so an old runtime falls back to CPU.",
    ),
    OpRule(
        "POW", 1, 29, input_types=((29, F32),),
        source=f"{_V} case kTfLiteBuiltinPow (shared with ABS/EXP/LOG/RSQRT): "
        "ExpectOpVersion(1); NNAPI12; ExpectIsFloatOperator.",
    ),
    OpRule(
        "MAXIMUM", 3, 29, input_types=((29, F_Q8_I32),),
        constraints=("scalar_operands_const",),
        source=f"{_V} case kTfLiteBuiltinMaximum/Minimum: ExpectMaxOpVersion(3); "
        "NNAPI12; float32/uint8/int8/int32; a rank-0 operand must be constant.",
    ),
    OpRule(
        "MINIMUM", 3, 29, input_types=((29, F_Q8_I32),),
        constraints=("scalar_operands_const",),
        source=f"{_V} case kTfLiteBuiltinMaximum/Minimum (same check as MAXIMUM).",
    ),
    # ------------------------------------------------------------ elementwise math
    OpRule(
        "ABS", 1, 29, input_types=((29, F32),),
        source=f"{_V} case kTfLiteBuiltinAbs: ExpectOpVersion(1); NNAPI12; float.",
    ),
    OpRule(
        "EXP", 1, 29, input_types=((29, F32),),
        source=f"{_V} case kTfLiteBuiltinExp: ExpectOpVersion(1); NNAPI12; float.",
    ),
    OpRule(
        "LOG", 1, 29, input_types=((29, F32),),
        source=f"{_V} case kTfLiteBuiltinLog: ExpectOpVersion(1); NNAPI12; float.",
    ),
    OpRule(
        "RSQRT", 1, 29, input_types=((29, F32),),
        source=f"{_V} case kTfLiteBuiltinRsqrt: ExpectOpVersion(1); NNAPI12; float.",
        note="A quantized RSQRT (op version 2) is rejected by the version check.",
    ),
    OpRule(
        "SQRT", 1, 29, input_types=((29, F32),),
        source=f"{_V} case kTfLiteBuiltinSqrt: ExpectOpVersion(1); NNAPI12; "
        "ExpectIsFloatOperator.",
    ),
    OpRule(
        "SIN", 1, 29, input_types=((29, F32),),
        source=f"{_V} case kTfLiteBuiltinSin: ExpectOpVersion(1); NNAPI12; float.",
    ),
    OpRule(
        "NEG", 2, 29, input_types=((29, ("float32", "int32")),),
        source=f"{_V} case kTfLiteBuiltinNeg: ExpectMaxOpVersion(2); NNAPI12; "
        "float32/int32.",
        note="Older TFLite releases checked NNAPI11 (API 28) here; the "
        "current source (and this table) requires API 29.",
    ),
    OpRule(
        "FLOOR", 1, 27,
        source=f"{_V} case kTfLiteBuiltinFloor: ExpectOpVersion(1) only.",
        note="Validate checks no dtype; NNAPI FLOOR is float-only, so a "
        "non-float FLOOR may fail at compile time (not modelled).",
    ),
    OpRule(
        "CAST", 1, 29,
        input_types=((29, ("float32", "int32", "uint8")),
                     (30, ("float32", "int32", "uint8", "int8"))),
        output_types=((29, ("float32", "int32", "uint8")),
                      (30, ("float32", "int32", "uint8", "int8"))),
        source=f"{_V} case kTfLiteBuiltinCast: ExpectOpVersion(1); NNAPI12; "
        "in/out float32/int32/uint8 (+int8 from NNAPI13).",
        note="A cast from or to int64/bool is rejected.",
    ),
    # -------------------------------------------------------------- activations
    OpRule(
        "RELU", 2, 27, input_types=((27, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinRelu: ExpectMaxOpVersion(2); "
        "ExpectIsFloatOrQuant8Operator.",
    ),
    OpRule(
        "RELU6", 2, 27, input_types=((27, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinRelu6 (same as RELU).",
    ),
    OpRule(
        "RELU_N1_TO_1", 2, 27, input_types=((27, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinReluN1To1 (same as RELU).",
    ),
    OpRule(
        "LOGISTIC", 2, 27, input_types=((27, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinLogistic (same as RELU).",
    ),
    OpRule(
        "TANH", 2, 27, input_types=((27, F32), (29, F_Q8)),
        source=f"{_V} case kTfLiteBuiltinTanh: ExpectMaxOpVersion(2); float, "
        "or quantized from NNAPI12.",
    ),
    OpRule(
        "HARD_SWISH", None, 27, input_types=((27, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinHardSwish: only "
        "ExpectIsFloatOrQuant8Operator (no version or SDK check; decomposed "
        "before NNAPI 1.3).",
        nnapi_min_api=30,
    ),
    OpRule(
        "LEAKY_RELU", 1, 29, input_types=((29, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinLeakyRelu: ExpectOpVersion(1); NNAPI12; "
        "float32/uint8/int8.",
    ),
    OpRule(
        "PRELU", 1, 29, input_types=((29, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinPrelu: ExpectOpVersion(1); NNAPI12; "
        "float32/uint8/int8.",
    ),
    OpRule(
        "ELU", 1, 30, input_types=((30, F32),),
        source=f"{_V} case kTfLiteBuiltinElu: ExpectOpVersion(1); NNAPI13; float32.",
    ),
    OpRule(
        "GELU", None, None,
        source=f"{_V}: no case for kTfLiteBuiltinGelu -> default branch "
        "'Unsupported operation type.'",
        note="NNAPI has no GELU operation at any feature level; the converter "
        "emits a single GELU builtin for tf.nn.gelu (exact and tanh forms).",
    ),
    # -------------------------------------------------------- softmax / norms
    OpRule(
        "SOFTMAX", 2, 27, input_types=((27, F_Q8),), output_types=((27, F_Q8),),
        constraints=("softmax_rank",),
        source=f"{_V} case kTfLiteBuiltinSoftmax: ExpectOpVersion(2); "
        "float/quant8 in and out; rank <= 4; only rank 2 or 4 before NNAPI12.",
    ),
    OpRule(
        "LOG_SOFTMAX", 1, 29, input_types=((29, F32),),
        source=f"{_V} case kTfLiteBuiltinLogSoftmax: ExpectOpVersion(1); NNAPI12; "
        "float32.",
    ),
    OpRule(
        "L2_NORMALIZATION", 2, 27, input_types=((27, F32), (29, F_Q8)),
        constraints=("l2norm",),
        source=f"{_V} case kTfLiteBuiltinL2Normalization: ExpectMaxOpVersion(2); "
        "before NNAPI12 float and rank 4 only; no fused activation.",
        note="Validate checks no dtype from API 29 on; this table assumes "
        "float32/uint8/int8 (conservative).",
    ),
    OpRule(
        "LOCAL_RESPONSE_NORMALIZATION", 1, 27,
        source=f"{_V} case kTfLiteBuiltinLocalResponseNormalization: "
        "ExpectOpVersion(1) only.",
    ),
    # -------------------------------------------------------------- dense / conv
    OpRule(
        "FULLY_CONNECTED", 5, 27,
        input_types=((27, F32_U8), (29, F_Q8)),
        constraints=("fully_connected",),
        source=f"{_V} case kTfLiteBuiltinFullyConnected: ExpectMaxOpVersion(5); "
        "output not int16; before NNAPI12 no hybrid, float32/uint8 only and "
        "input_scale*filter_scale < output_scale for uint8; keep_num_dims "
        "needs NNAPI13.",
        note="No dtype check from API 29 on; this table assumes "
        "float32/uint8/int8 (int8 input = full-integer model, float input "
        "with int8 weights = hybrid).",
    ),
    OpRule(
        "CONV_2D", 5, 27,
        input_types=((27, F32_U8), (29, F_Q8)),
        constraints=("conv2d",),
        source=f"{_V} case kTfLiteBuiltinConv2d: ExpectMaxOpVersion(5); before "
        "NNAPI12 no hybrid, float/uint8, no per-channel filter, restricted "
        "scales; bias required (3 inputs); dilation needs NNAPI12.",
        note="Older TFLite releases accept only up to version 3.",
    ),
    OpRule(
        "DEPTHWISE_CONV_2D", 3, 27,
        input_types=((27, F32_U8), (29, F_Q8)),
        constraints=("depthwise_conv2d",),
        source=f"{_V} case kTfLiteBuiltinDepthwiseConv2d: ExpectMaxOpVersion(3); "
        "before NNAPI12 float/uint8, restricted scales and dilation 1.",
        note="Op version 4+ (e.g. int16 or a dilated per-channel variant) "
        "is rejected.",
    ),
    OpRule(
        "TRANSPOSE_CONV", 3, 29,
        operands=(OperandRule(0, None, const=True), OperandRule(1, None, const=True)),
        source=f"{_V} case kTfLiteBuiltinTransposeConv: ExpectMaxOpVersion(3); "
        "NNAPI12; output_shape and weights must be constant.",
    ),
    OpRule(
        "AVERAGE_POOL_2D", 2, 27, input_types=((27, F_Q8),),
        constraints=("avg_pool_quant_window",),
        source=f"{_V} case kTfLiteBuiltinAveragePool2d: ExpectMaxOpVersion(2); "
        "float/quant8; quantized filter_w*filter_h <= 256 unless an "
        "accelerator is named.",
    ),
    OpRule(
        "MAX_POOL_2D", 2, 27, input_types=((27, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinMaxPool2d: ExpectMaxOpVersion(2); "
        "float/quant8.",
    ),
    OpRule(
        "L2_POOL_2D", 1, 27, input_types=((27, F32),),
        constraints=("l2pool_activation",),
        source=f"{_V} case kTfLiteBuiltinL2Pool2d: ExpectOpVersion(1); float; "
        "no fused activation before NNAPI12.",
    ),
    OpRule(
        "BATCH_MATMUL", None, None,
        nnapi_min_api=API_FL6,
        source=f"{_V}: no case for kTfLiteBuiltinBatchMatmul -> default branch "
        "'Unsupported operation type.' (no kNNAPIRuntimeFeatureLevel6 check "
        "exists in Validate).",
        note="NNAPI itself has ANEURALNETWORKS_BATCH_MATMUL since feature "
        "level 6 (API 33 in this mapping), but the TFLite NNAPI delegate does "
        "not map it, so it runs on the CPU at every level. Constant "
        "right-hand sides are usually converted to FULLY_CONNECTED, which "
        "the delegate does support.",
    ),
    # ------------------------------------------------------- shape manipulation
    OpRule(
        "RESHAPE", 1, 27, input_types=((27, F_Q8),),
        operands=(OperandRule(1, None, const=True, required=False),),
        constraints=("reshape",),
        source=f"{_V} case kTfLiteBuiltinReshape: ExpectOpVersion(1); "
        "float/quant8; shape input must be constant; new shape rank > 0.",
        note="An int32 RESHAPE is rejected by the dtype check.",
    ),
    OpRule(
        "SQUEEZE", 1, 28,
        constraints=("squeeze",),
        source=f"{_V} case kTfLiteBuiltinSqueeze: ExpectOpVersion(1); NNAPI11; "
        "on exactly NNAPI11 squeeze_dims must be non-empty.",
    ),
    OpRule(
        "EXPAND_DIMS", 1, 29,
        input_types=((29, ("float32", "float16", "int32", "uint8", "int8")),),
        operands=(OperandRule(1, I32, const=True),),
        source=f"{_V} case kTfLiteBuiltinExpandDims: ExpectOpVersion(1); NNAPI12; "
        "f32/f16/i32/u8/i8; axis must be a constant int32.",
    ),
    OpRule(
        "TRANSPOSE", 2, 28,
        operands=(OperandRule(1, None, const=True),),
        source=f"{_V} case kTfLiteBuiltinTranspose: ExpectMaxOpVersion(2); "
        "NNAPI11; permutation must be constant.",
        note="Validate checks no dtype.",
    ),
    OpRule(
        "CONCATENATION", 2, 27,
        input_types=((27, ("float16", "float32", "uint8", "int8")),),
        constraints=("concatenation",),
        source=f"{_V} case kTfLiteBuiltinConcatenation: ExpectMaxOpVersion(2); "
        "no fused activation; rank <= 4; f16/f32/u8/i8; uint8 inputs need "
        "equal scale/zero point before NNAPI12.",
        note="An int32 CONCATENATION (e.g. a shape computation) is rejected.",
    ),
    OpRule(
        "PACK", 2, 30,
        input_types=((30, ("int32", "float32", "int8")),),
        constraints=("pack_axis",),
        source=f"{_V} case kTfLiteBuiltinPack: ExpectOpVersion(2); NNAPI13; "
        "int32/float32/int8; axis must not be the last (new) dimension.",
        nnapi_min_api=API_FL6,
    ),
    OpRule(
        "UNPACK", None, None,
        source=f"{_V}: no case for kTfLiteBuiltinUnpack -> default branch.",
    ),
    OpRule(
        "SPLIT", 3, 29,
        type_input=1,
        input_types=((29, ("float32", "uint8", "int32")),
                     (30, ("float32", "uint8", "int8", "int32"))),
        operands=(OperandRule(0, I32, const=True),),
        source=f"{_V} case kTfLiteBuiltinSplit: ExpectOpVersion(3); NNAPI12; "
        "value (input 1) f32/u8/i32 (+i8 from NNAPI13); axis (input 0) "
        "constant int32.",
    ),
    OpRule(
        "SPLIT_V", 2, 30, input_types=((30, F_Q8_I32),),
        operands=(OperandRule(1, I32, const=True), OperandRule(2, I32, const=True)),
        constraints=("split_v",),
        source=f"{_V} case kTfLiteBuiltinSplitV: ExpectOpVersion(2); NNAPI13; "
        "f32/u8/i8/i32; size_splits constant int32 1-D without zeros; axis "
        "constant int32.",
        note="The inferred (-1) split size is not recomputed here.",
    ),
    OpRule(
        "SLICE", 2, 29, input_types=((29, F_Q8_I32),),
        operands=(OperandRule(1, I32), OperandRule(2, I32)),
        source=f"{_V} case kTfLiteBuiltinSlice: ExpectMaxOpVersion(2); NNAPI12; "
        "f32/i32/u8/i8; begin and size int32.",
    ),
    OpRule(
        "STRIDED_SLICE", 2, 28,
        source=f"{_V} case kTfLiteBuiltinStridedSlice: ExpectMaxOpVersion(2); "
        "NNAPI11 (no dtype or option checks).",
        note="Unsure: Validate does not check ellipsis/new_axis masks or "
        "begin/end const-ness; NNAPI needs constant begin/end/strides, so a "
        "dynamic STRIDED_SLICE may fail at model build (not modelled).",
    ),
    OpRule(
        "TILE", 1, 29, input_types=((29, ("float32", "int8", "uint8", "int32")),),
        operands=(OperandRule(1, I32),),
        source=f"{_V} case kTfLiteBuiltinTile: ExpectOpVersion(1); NNAPI12; "
        "f32/i8/u8/i32; multipliers int32.",
    ),
    OpRule(
        "PAD", 2, 28, input_types=((28, F_Q8),),
        constraints=("pad",),
        source=f"{_V} case kTfLiteBuiltinPad: ExpectMaxOpVersion(2); float/quant8; "
        "NNAPI11; no empty input; float32 only before NNAPI12; 3-input form "
        "(explicit pad value) needs NNAPI12.",
    ),
    OpRule(
        "PADV2", 2, 28, input_types=((28, F_Q8),),
        constraints=("pad",),
        source=f"{_V} case kTfLiteBuiltinPadv2 (shared with PAD).",
    ),
    OpRule(
        "SPACE_TO_BATCH_ND", 2, 28,
        source=f"{_V} case kTfLiteBuiltinSpaceToBatchNd: ExpectMaxOpVersion(2); "
        "NNAPI11.",
    ),
    OpRule(
        "BATCH_TO_SPACE_ND", 2, 28,
        constraints=("batch_to_space_crops",),
        source=f"{_V} case kTfLiteBuiltinBatchToSpaceNd: ExpectMaxOpVersion(2); "
        "NNAPI11; crops must be a constant of four zeros.",
    ),
    OpRule(
        "SPACE_TO_DEPTH", 2, 27, input_types=((27, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinSpaceToDepth: ExpectMaxOpVersion(2); "
        "f32/u8/i8.",
    ),
    OpRule(
        "DEPTH_TO_SPACE", None, 27, input_types=((27, F_Q8),),
        source=f"{_V} case kTfLiteBuiltinDepthToSpace: f32/u8/i8 only (no "
        "version or SDK check).",
    ),
    OpRule(
        "RESIZE_BILINEAR", 3, 27, input_types=((27, F32), (29, F_Q8)),
        operands=(OperandRule(1, None, const=True),),
        constraints=("resize_bilinear",),
        source=f"{_V} case kTfLiteBuiltinResizeBilinear: ExpectMaxOpVersion(3); "
        "rank 4; size constant; before NNAPI12 float only and output "
        "height == width; up to NNAPI12 no align_corners/half_pixel_centers.",
    ),
    OpRule(
        "RESIZE_NEAREST_NEIGHBOR", 3, 29, input_types=((29, F_Q8),),
        operands=(OperandRule(1, None, const=True),),
        constraints=("resize_nearest",),
        source=f"{_V} case kTfLiteBuiltinResizeNearestNeighbor: "
        "ExpectMaxOpVersion(3); NNAPI12; size constant; on NNAPI12 no "
        "align_corners/half_pixel_centers.",
    ),
    # ---------------------------------------------------------------- reductions
    OpRule(
        "MEAN", 2, 28, input_types=((28, F32), (29, F_Q8)),
        constraints=("non_scalar_output",),
        source=f"{_V} case kTfLiteBuiltinMean: ExpectMaxOpVersion(2); NNAPI11; "
        "float32 (quantized from NNAPI12); output rank > 0.",
        note="Older TFLite releases also required equal input/output "
        "quantization; the current source requantizes instead.",
    ),
    OpRule(
        "SUM", 1, 29, input_types=((29, F32),),
        constraints=("non_scalar_output",),
        source=f"{_V} case kTfLiteBuiltinSum: ExpectOpVersion(1); NNAPI12; "
        "float32; output rank > 0.",
        note="A quantized SUM (version 2) is rejected.",
    ),
    OpRule(
        "REDUCE_PROD", 1, 29, input_types=((29, F32),),
        constraints=("non_scalar_output",),
        source=f"{_V} case kTfLiteBuiltinReduceProd (shared with SUM).",
    ),
    OpRule(
        "REDUCE_MAX", 2, 29, input_types=((29, F_Q8),),
        constraints=("non_scalar_input",),
        source=f"{_V} case kTfLiteBuiltinReduceMax: ExpectMaxOpVersion(2); NNAPI12; "
        "f32/u8/i8; input rank != 0.",
    ),
    OpRule(
        "REDUCE_MIN", 2, 29, input_types=((29, F_Q8),),
        constraints=("non_scalar_input",),
        source=f"{_V} case kTfLiteBuiltinReduceMin (shared with REDUCE_MAX).",
    ),
    OpRule(
        "REDUCE_ANY", 2, 29,
        constraints=("non_scalar_output",),
        source=f"{_V} case kTfLiteBuiltinReduceAny: ExpectOpVersion(2); NNAPI12; "
        "output rank != 0.",
    ),
    OpRule(
        "ARG_MAX", 2, 29,
        input_types=((29, ("float16", "float32", "int32", "uint8", "int8")),),
        constraints=("arg_min_max",),
        source=f"{_V} case kTfLiteBuiltinArgMax: ExpectMaxOpVersion(2); NNAPI12; "
        "f16/f32/i32/u8/i8; axis int32 (or constant int64 fitting int32); "
        "output_type int32.",
    ),
    OpRule(
        "ARG_MIN", 2, 29,
        input_types=((29, ("float16", "float32", "int32", "uint8", "int8")),),
        constraints=("arg_min_max",),
        source=f"{_V} case kTfLiteBuiltinArgMin (shared with ARG_MAX).",
    ),
    OpRule(
        "TOPK_V2", 2, 29, input_types=((29, F_Q8_I32),),
        operands=(OperandRule(1, I32, const=True),),
        source=f"{_V} case kTfLiteBuiltinTopkV2: ExpectMaxOpVersion(2); NNAPI12; "
        "f32/i32/u8/i8; k constant int32.",
    ),
    # -------------------------------------------------------- comparison / logic
    *(
        OpRule(
            name, 2, 29,
            input_types=((29, ("float32", "uint8", "int8", "bool", "int32")),),
            source=f"{_V} case kTfLiteBuiltin{camel}: ExpectMaxOpVersion(2); "
            "NNAPI12; f32/u8/i8/bool/i32.",
            note="Older TFLite releases checked NNAPI11 (API 28); the current "
            "source (and this table) requires API 29.",
        )
        for name, camel in (
            ("EQUAL", "Equal"),
            ("NOT_EQUAL", "NotEqual"),
            ("LESS", "Less"),
            ("LESS_EQUAL", "LessEqual"),
            ("GREATER", "Greater"),
            ("GREATER_EQUAL", "GreaterEqual"),
        )
    ),
    *(
        OpRule(
            name, 1, 29, input_types=((29, BOOL),),
            source=f"{_V} case kTfLiteBuiltin{camel}: ExpectOpVersion(1); "
            "NNAPI12; bool input.",
        )
        for name, camel in (
            ("LOGICAL_AND", "LogicalAnd"),
            ("LOGICAL_OR", "LogicalOr"),
            ("LOGICAL_NOT", "LogicalNot"),
        )
    ),
    OpRule(
        "SELECT", 2, 29,
        type_input=1, input_types=((29, F_Q8_I32),),
        constraints=("select_same_shape",),
        source=f"{_V} case kTfLiteBuiltinSelect: ExpectMaxOpVersion(2); NNAPI12; "
        "values f32/i32/u8/i8; condition shape == value shape (no "
        "broadcast).",
        note="Older releases checked NNAPI11 here.",
    ),
    OpRule(
        "SELECT_V2", None, None,
        source=f"{_V}: no case for kTfLiteBuiltinSelectV2 -> default branch.",
        note="tf.where with broadcasting converts to SELECT_V2, which always "
        "runs on the CPU.",
    ),
    # ------------------------------------------------------------ gather / lookup
    OpRule(
        "GATHER", 2, 29,
        input_types=((29, ("float32", "float16", "int32", "uint8", "int8")),),
        operands=(OperandRule(1, I32),),
        constraints=("gather_positions_rank",),
        source=f"{_V} case kTfLiteBuiltinGather: ExpectOpVersion(2); NNAPI12; "
        "params f32/f16/i32/u8/i8; positions int32 with rank != 0.",
    ),
    OpRule(
        "EMBEDDING_LOOKUP", 1, 27,
        type_input=1, input_types=((27, F32),),
        operands=(OperandRule(0, I32),),
        source=f"{_V} case kTfLiteBuiltinEmbeddingLookup: ExpectOpVersion(1); "
        "values (input 1) float32.",
        note="Validate does not check the ids dtype; NNAPI EMBEDDING_LOOKUP "
        "requires TENSOR_INT32 lookups, so the checker also requires int32 "
        "ids (conservative).",
    ),
    OpRule(
        "HASHTABLE_LOOKUP", 1, 27, output_types=((27, F32),),
        source=f"{_V} case kTfLiteBuiltinHashtableLookup: ExpectOpVersion(1); "
        "output float32.",
    ),
    OpRule(
        "GATHER_ND", None, None,
        source=f"{_V}: no case for kTfLiteBuiltinGatherNd -> default branch.",
    ),
    # --------------------------------------------------------------- quantization
    OpRule(
        "QUANTIZE", 2, 29,
        input_types=((29, F_Q8),),
        output_types=((29, ("uint8",)), (30, ("uint8", "int8"))),
        constraints=("quantize_scales",),
        source=f"{_V} case kTfLiteBuiltinQuantize: ExpectMaxOpVersion(2); NNAPI12; "
        "input float32 or quantized (scale > 0); output uint8 before "
        "NNAPI13, uint8/int8 from NNAPI13; output scale > 0.",
        note="A float->int8 QUANTIZE at the input of an int8 model therefore "
        "needs API 30.",
    ),
    OpRule(
        "DEQUANTIZE", 2, 27,
        input_types=((27, ("uint8",)), (29, ("uint8", "int8"))),
        constraints=("dequantize",),
        source=f"{_V} case kTfLiteBuiltinDequantize: non-constant float16 input "
        "accepted from NNAPI13; otherwise version 1 or 2, uint8 (int8 from "
        "NNAPI12, zero_point 0 on NNAPI12 exactly).",
        note="Dequantize of a constant float16 weight is removed by "
        "DoPrepare's FP16GraphPartitionHelper path (counted as supported "
        "here). That path then delegates only the largest partitions.",
    ),
    OpRule(
        "DENSIFY", None, 30,
        operands=(OperandRule(0, None, const=True),),
        source=f"{_V} case kTfLiteBuiltinDensify: accepted from NNAPI13 when the "
        "input is constant.",
    ),
    # ------------------------------------------------------------------ recurrent
    OpRule(
        "LSTM", 3, 28,
        constraints=("lstm",),
        source=f"{_V} case kTfLiteBuiltinLstm: ExpectMaxOpVersion(3); NNAPI11 "
        "(NNAPI 1.0 optional-tensor bug); hybrid only from NNAPI12; 24-input "
        "(layer-norm) form needs NNAPI12; weights f32/u8 (+i8 from NNAPI13).",
        note="Partly modelled. The 5-input basic-kernel quantization "
        "parameter checks are not reproduced; a basic kernel is accepted "
        "only with uint8 weights.",
    ),
    OpRule(
        "UNIDIRECTIONAL_SEQUENCE_LSTM", 2, 29,
        constraints=("no_hybrid", "lstm_input_count"),
        source=f"{_V} case kTfLiteBuiltinUnidirectionalSequenceLstm: "
        "ExpectMaxOpVersion(2); NNAPI12; not hybrid; 20 or 24 inputs.",
    ),
    OpRule(
        "BIDIRECTIONAL_SEQUENCE_LSTM", 1, 29,
        constraints=("no_hybrid",),
        source=f"{_V} case kTfLiteBuiltinBidirectionalSequenceLstm: "
        "ExpectOpVersion(1); NNAPI12; not hybrid.",
    ),
    OpRule(
        "RNN", 1, 27,
        operands=(OperandRule(1, F32),),
        constraints=("five_inputs",),
        source=f"{_V} case kTfLiteBuiltinRnn: ExpectOpVersion(1); 5 inputs; "
        "weights float32.",
    ),
    OpRule(
        "UNIDIRECTIONAL_SEQUENCE_RNN", 1, 29,
        constraints=("no_hybrid",),
        source=f"{_V} case kTfLiteBuiltinUnidirectionalSequenceRnn: "
        "ExpectOpVersion(1); NNAPI12; not hybrid.",
    ),
    OpRule(
        "SVDF", 1, 28,
        operands=(OperandRule(1, F32),),
        constraints=("five_inputs",),
        source=f"{_V} case kTfLiteBuiltinSvdf: ExpectOpVersion(1); 5 inputs; "
        "weights float32; rank > 1 unsupported on NNAPI 1.0 (so NNAPI11).",
        note="Validate rejects SVDF on NNAPI 1.0 regardless of rank.",
    ),
    OpRule(
        "LSH_PROJECTION", 1, 27,
        constraints=("lsh_projection",),
        source=f"{_V} case kTfLiteBuiltinLshProjection: ExpectOpVersion(1); "
        "sparse type needs NNAPI12 and exactly 2 inputs.",
    ),
    OpRule(
        "FILL", 1, 30,
        operands=(OperandRule(0, ("int32", "int64"), const=True),
                  OperandRule(1, ("float32", "int32", "int64"))),
        constraints=("fill",),
        source=f"{_V} case kTfLiteBuiltinFill: ExpectOpVersion(1); NNAPI13; dims "
        "constant int32/int64 (fitting int32) and non-empty; value "
        "f32/i32/i64 (constant int64 must fit int32).",
    ),
    # -------------------------------------------- common ops with no Validate case
    *(
        OpRule(
            name, None, None,
            source=f"{_V}: no case for this builtin -> default branch "
            "'Unsupported operation type.'",
            note=note,
        )
        for name, note in (
            ("SQUARE", "tf.square; rewrite as MUL(x, x) to delegate."),
            ("FLOOR_DIV", ""),
            ("FLOOR_MOD", ""),
            ("SHAPE", "Shape computations stay on the CPU."),
            ("BROADCAST_TO", ""),
            ("RANGE", ""),
            ("CUMSUM", ""),
            ("REVERSE_V2", ""),
            ("MIRROR_PAD", ""),
            ("ADD_N", ""),
            ("ZEROS_LIKE", ""),
            ("WHERE", ""),
            ("ROUND", ""),
            ("SIGN", ""),
            ("COS", ""),
            ("SCATTER_ND", ""),
            ("DYNAMIC_UPDATE_SLICE", ""),
            ("WHILE", "Control flow is never delegated to NNAPI."),
            ("IF", "Control flow is never delegated to NNAPI."),
            ("CUSTOM", "Custom ops (including Flex/SELECT_TF_OPS) always "
                       "run on the CPU."),
        )
    ),
)

RULES_BY_OP = {rule.op: rule for rule in RULES}

GENERAL_RULES: tuple[GeneralRule, ...] = (
    GeneralRule(
        "api_below_27",
        "Below API 27 NNAPI does not exist: nothing is delegated.",
        "StatefulNnApiDelegate::DoPrepare returns early when "
        "android_sdk_version < kMinSdkVersionForNNAPI (27).",
        policy=False,
    ),
    GeneralRule(
        "unknown_op",
        "Ops missing from RULES fall back to the CPU.",
        f"{_V} default branch ('Unsupported operation type.').",
        policy=False,
    ),
    GeneralRule(
        "op_version",
        "op version > max_version -> fallback.",
        "ExpectMaxOpVersion / ExpectOpVersion in each Validate case.",
        policy=False,
    ),
    GeneralRule(
        "no_nnapi_operand_type",
        "A tensor whose dtype has no NNAPI operand type (int64, string, "
        "float64, complex, uint16/32/64, int4...) is rejected. Exceptions: "
        "the constant int64 axis of ARG_MAX/ARG_MIN and the FILL inputs, "
        "which the delegate converts to int32.",
        "NNAPIOpBuilder::AddTensor default branch ('type %s is not supported'). "
        "The delegate would then fail at build time, which is worse than "
        "a fallback.",
        policy=True,
    ),
    GeneralRule(
        "dynamic_shape",
        "A tensor whose shape_signature contains -1 (dynamic batch or "
        "length) is reported as not ready.",
        "Checker policy: with the default allow_dynamic_dimensions=false the "
        "delegate compiles the NNAPI model for concrete shapes, and every "
        "input resize re-delegates and recompiles. HasUnspecifiedDimension() "
        "in nnapi_delegate.cc is the same test.",
        policy=True,
    ),
    GeneralRule(
        "rank_gt_4",
        "An input/output tensor of rank > 4 is rejected.",
        "NNAPI operations support tensors up to rank 4. Validate checks "
        "this only for SOFTMAX, CONCATENATION, SUB, SQUARED_DIFFERENCE and "
        "RESIZE_BILINEAR; elsewhere NNAPI would reject it at compile time.",
        policy=True,
    ),
    GeneralRule(
        "partitions",
        "Contiguous runs of supported ops (execution order) form one "
        "delegated partition each.",
        "Approximation of PreviewDelegatePartitioning. By default the "
        "delegate keeps only the largest "
        f"{DEFAULT_MAX_DELEGATED_PARTITIONS} partitions "
        "(Options::max_number_delegated_partitions); the rest run on CPU.",
        policy=True,
    ),
    GeneralRule(
        "runtime_only",
        "Not checked statically: device availability (on API 29+ with only "
        "the nnapi-reference CPU device nothing is delegated), driver "
        "support of each operation, and accelerator_name options.",
        "StatefulNnApiDelegate::DoPrepare / GetNodesSupportedByAccelerator.",
        policy=True,
    ),
)


def rule_for(op_name: str) -> OpRule | None:
    """Return the rule row for a TFLite builtin op name, or None."""
    return RULES_BY_OP.get(op_name)


def types_at(
    table: tuple[tuple[int, tuple[str, ...]], ...] | None, api_level: int
) -> tuple[str, ...] | None:
    """Allowed dtypes from an ``input_types``/``output_types`` entry at a level.

    Returns None when the entry is None (not checked), and ``()`` when the
    level is below the first entry.
    """
    if table is None:
        return None
    allowed: tuple[str, ...] = ()
    for api, dtypes in sorted(table):
        if api <= api_level:
            allowed = dtypes
    return allowed
