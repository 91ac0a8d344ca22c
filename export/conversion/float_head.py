"""int8_full's float output layer: the scores users read are computed in float32.

A fully quantized graph ends in int8: the classifier's SOFTMAX writes probabilities in steps of
1/256 (a clear second choice prints as 0.0000, ties sort by label), the recommender's scoring
FULLY_CONNECTED writes scores in 256 steps (ties reorder the top 10). The output layer (the op
writing the model's output and, when that op is an activation such as SOFTMAX, the
FULLY_CONNECTED feeding it) is therefore left out of quantization: `head_nodes` names its
output tensors in the calibrated model for `QuantizationDebugOptions(denylisted_nodes=...)`, so
the converter puts one DEQUANTIZE before it and runs it in float32 (float weights too).

A recommender scores with its item embedding (tied weights): the float layer would store the
[V, D] table a second time in float32 (4 bytes per weight, beside the int8 copy the GATHER
reads). `dequantize_tied_weights` gives that layer the GATHER's int8 table through a run-time
DEQUANTIZE instead, so the file keeps one int8 table and the scores are float32 products of
the (dequantized) int8 weights with the float hidden state. NNAPI takes all of it from API 30:
DEQUANTIZE of int8, FULLY_CONNECTED and SOFTMAX in float32 (export/checks/nnapi_rules.py).

`head_problems` is the static check convert runs on every int8_full file.
"""

from __future__ import annotations

import flatbuffers
import numpy as np

from export.tflite import reader as tflite_reader

HEAD_ACTIVATIONS = ("SOFTMAX", "LOGISTIC")
HEAD_LAYERS = ("FULLY_CONNECTED",)


def head_ops(info: tflite_reader.ModelInfo) -> list:
    """The output layer's ops, last first: the op writing output 0 and, when it is an
    activation (SOFTMAX, LOGISTIC), the FULLY_CONNECTED that feeds it."""
    producer = {t.index: op for op in info.ops for t in op.outputs}
    op = producer.get(info.outputs[0].index)
    if op is None:
        return []
    head = [op]
    if op.op in HEAD_ACTIVATIONS and op.inputs and op.inputs[0] is not None:
        before = producer.get(op.inputs[0].index)
        if before is not None and before.op in HEAD_LAYERS:
            head.append(before)
    return head


def head_nodes(calibrated_model: bytes) -> list:
    """Output tensor names of the output layer's ops in the calibrated (float) model: the
    `denylisted_nodes` that keep it float."""
    return [op.outputs[0].name for op in head_ops(tflite_reader.read_model(calibrated_model))]


def head_problems(info: tflite_reader.ModelInfo) -> list:
    """[] when the output layer computes in float32 (an int8 one ends in DEQUANTIZE)."""
    head = head_ops(info)
    if not head:
        return ["no op writes the output"]
    if head[0].op == "DEQUANTIZE":
        return [f"the output is a DEQUANTIZE of int8 {head[0].inputs[0].shape}: the output layer "
                "is quantized (scores in 256 steps)"]
    problems = []
    for op in head:
        dtypes = {t.dtype for t in (op.inputs[0], op.outputs[0]) if t is not None}
        if dtypes != {"float32"}:
            problems.append(f"output layer {op.op} computes in {sorted(dtypes)}, not float32")
    return problems


def float_head_summary(info: tflite_reader.ModelInfo) -> list:
    """The manifest's description of the float output layer, e.g. ["FULLY_CONNECTED",
    "SOFTMAX"] (first to last)."""
    return [op.op for op in reversed(head_ops(info))]


# -- the tied table ----------------------------------------------------------------------------
def _dequantized(model, tensor):
    """(float values, scale) of a constant int8 per-tensor tensor; None for anything else."""
    q = tensor.quantization
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    if (tensor.type != _schema().TensorType.INT8 or data is None or q is None
            or q.scale is None or len(q.scale) != 1):
        return None
    values = np.frombuffer(bytes(memoryview(data)), np.int8).astype(np.float32)
    zero = float(q.zeroPoint[0]) if q.zeroPoint is not None and len(q.zeroPoint) else 0.0
    return ((values - zero) * float(q.scale[0])).reshape(list(tensor.shape)), float(q.scale[0])


def _same_table(table, values, scale: float) -> bool:
    """The int8 table quantizes `values`: rounding leaves at most half a step on average
    (a quarter for uniform rounding), and the clipped extremes at most two steps."""
    diff = np.abs(table - values)
    return float(diff.mean()) <= 0.3 * scale and float(diff.max()) <= 2.0 * scale + 1e-7


def _float_constant(model, tensor) -> np.ndarray | None:
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    if tensor.type != _schema().TensorType.FLOAT32 or data is None:
        return None
    return np.frombuffer(bytes(memoryview(data)), "<f4").reshape(list(tensor.shape))


def _opcode_index(model, name: str, version: int) -> int:
    schema = _schema()
    code = getattr(schema.BuiltinOperator, name)
    for i, opcode in enumerate(model.operatorCodes):
        if max(opcode.builtinCode, opcode.deprecatedBuiltinCode) == code \
                and opcode.version == version:
            return i
    opcode = schema.OperatorCodeT()
    opcode.builtinCode = code
    opcode.deprecatedBuiltinCode = min(code, 127)
    opcode.version = version
    model.operatorCodes.append(opcode)
    return len(model.operatorCodes) - 1


def _remove_tensor(model, subgraph, index: int) -> None:
    """Deletes tensor `index` (referenced by no op) and empties its buffer unless another
    tensor shares it."""
    tensor = subgraph.tensors.pop(index)
    if tensor.buffer and not any(t.buffer == tensor.buffer for t in subgraph.tensors):
        model.buffers[tensor.buffer].data = None

    def moved(i):
        return i - 1 if i > index else i

    for op in subgraph.operators:
        op.inputs = [moved(i) if i >= 0 else i for i in op.inputs]
        op.outputs = [moved(i) for i in op.outputs]
    subgraph.inputs = [moved(i) for i in subgraph.inputs]
    subgraph.outputs = [moved(i) for i in subgraph.outputs]
    for signature in model.signatureDefs or []:
        for entry in (signature.inputs or []) + (signature.outputs or []):
            entry.tensorIndex = moved(entry.tensorIndex)


def dequantize_tied_weights(model_bytes: bytes) -> tuple:
    """(bytes, replaced): every float32 FULLY_CONNECTED whose constant weights are an int8 table a
    GATHER reads, to within its rounding (tied embeddings: `_same_table`), takes that table
    through a DEQUANTIZE instead, and its float32 copy is dropped. `replaced` counts them;
    with none, the bytes are returned unchanged."""
    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model_bytes, 0))
    if len(model.subgraphs) != 1 or any(b.offset or b.size for b in model.buffers or []):
        return model_bytes, 0
    subgraph = model.subgraphs[0]
    names = {i: max(c.builtinCode, c.deprecatedBuiltinCode) for i, c in
             enumerate(model.operatorCodes)}
    gather, fully_connected = schema.BuiltinOperator.GATHER, schema.BuiltinOperator.FULLY_CONNECTED
    tables = {}
    for op in subgraph.operators:
        if names[op.opcodeIndex] == gather:
            table = _dequantized(model, subgraph.tensors[op.inputs[0]])
            if table is not None:
                tables[op.inputs[0]] = table
    replaced, dropped = 0, set()
    for position in range(len(subgraph.operators) - 1, -1, -1):
        op = subgraph.operators[position]
        if names[op.opcodeIndex] != fully_connected or len(op.inputs) < 2:
            continue
        activation, weights = subgraph.tensors[op.inputs[0]], subgraph.tensors[op.inputs[1]]
        values = _float_constant(model, weights)
        if activation.type != schema.TensorType.FLOAT32 or values is None:
            continue
        match = next((index for index, (table, scale) in tables.items()
                      if table.shape == values.shape and _same_table(table, values, scale)),
                     None)
        if match is None:
            continue
        dense = schema.TensorT()
        dense.shape = list(values.shape)
        dense.type = schema.TensorType.FLOAT32
        model.buffers.append(schema.BufferT())  # empty: a run-time tensor
        dense.buffer = len(model.buffers) - 1
        dense.name = bytes(subgraph.tensors[match].name or b"") + b"/dequantized"
        subgraph.tensors.append(dense)
        dequantize = schema.OperatorT()
        dequantize.opcodeIndex = _opcode_index(model, "DEQUANTIZE", 2)  # int8 input: version 2
        dequantize.inputs = [match]
        dequantize.outputs = [len(subgraph.tensors) - 1]
        dropped.add(op.inputs[1])
        op.inputs = [op.inputs[0], len(subgraph.tensors) - 1, *op.inputs[2:]]
        subgraph.operators.insert(position, dequantize)
        replaced += 1
    if not replaced:
        return model_bytes, 0
    for index in sorted(dropped, reverse=True):  # the float copies no op reads any more
        if not any(index in o.inputs for o in subgraph.operators) \
                and index not in subgraph.outputs:
            _remove_tensor(model, subgraph, index)
    from export.metadata.writer import _AlignedBufferT  # the 16-byte aligned buffer Pack
    for b in model.buffers:
        b.__class__ = _AlignedBufferT
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output()), replaced


def _schema():
    from export.tflite.reader import _schema as schema
    return schema
