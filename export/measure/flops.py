"""FLOPs per inference, counted from a `.tflite` file's ops and tensor shapes, and the float32
matmul peak of this machine that turns them into a latency floor.

    count_flops(tflite_reader.read_model("fp32.tflite"))
    # {"total": 4.1e6, "matmul": ..., "by_op": {"FULLY_CONNECTED": ...}, "uncounted_ops": {}}
    measure_peak_gflops(threads)   # run in a child with OPENBLAS_NUM_THREADS=threads
"""

from __future__ import annotations

import time

import numpy as np

PEAK_MATMUL_SIZES = (256, 512, 1024)
PEAK_REPEATS = 30

FLOP_CONVENTION = (
    "multiply-add = 2 FLOPs: FULLY_CONNECTED 2*M*K*N (+ M*N for the bias), BATCH_MATMUL "
    "2*(output elements)*K, CONV_2D 2*(output elements)*kh*kw*Cin (+ bias), DEPTHWISE_CONV_2D "
    "2*(output elements)*kh*kw (+ bias); elementwise arithmetic and activations 1 per output "
    "element (transcendentals count 1); reductions 1 per input element; SOFTMAX 5 per element "
    "(max, subtract, exp, sum, divide); data movement, casts and (de)quantization 0. The same "
    "count for every variant: int8 ops are counted as the float ops they replace.")
ELEMENTWISE_OPS = frozenset({
    "ADD", "SUB", "MUL", "DIV", "FLOOR_DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "POW",
    "RSQRT", "SQRT", "SQUARE", "EXP", "LOG", "TANH", "LOGISTIC", "RELU", "RELU6", "RELU_N1_TO_1",
    "RELU_0_TO_1", "LEAKY_RELU", "PRELU", "ELU", "GELU", "HARD_SWISH", "NEG", "ABS", "SIN",
    "COS", "FLOOR", "CEIL", "ROUND", "SIGN", "ADD_N", "LESS", "LESS_EQUAL", "GREATER",
    "GREATER_EQUAL", "EQUAL", "NOT_EQUAL"})
REDUCTION_OPS = frozenset({"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"})
SOFTMAX_FLOPS_PER_ELEMENT = 5
ZERO_FLOP_OPS = frozenset({
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "GATHER", "GATHER_ND", "CONCATENATION",
    "SLICE", "STRIDED_SLICE", "PACK", "UNPACK", "SPLIT", "SPLIT_V", "PAD", "PADV2", "TILE",
    "BROADCAST_TO", "CAST", "QUANTIZE", "DEQUANTIZE", "SELECT", "SELECT_V2", "SHAPE", "FILL",
    "ZEROS_LIKE", "ONES_LIKE", "EMBEDDING_LOOKUP", "ARG_MAX", "ARG_MIN", "ONE_HOT", "LOGICAL_AND",
    "LOGICAL_OR", "LOGICAL_NOT", "RANGE", "REVERSE_V2", "MIRROR_PAD", "SPACE_TO_DEPTH",
    "DEPTH_TO_SPACE", "BROADCAST_ARGS"})
MATMUL_OPS = ("FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "CONV_3D", "DEPTHWISE_CONV_2D",
              "TRANSPOSE_CONV")


def _elements(tensor) -> int:
    return int(np.prod(tensor.shape, dtype=np.int64)) if tensor is not None else 0


def _has_bias(op, position: int) -> bool:
    return len(op.inputs) > position and op.inputs[position] is not None \
        and _elements(op.inputs[position]) > 0


def op_flops(op) -> int | None:
    """FLOPs of one `tflite.reader.OpInfo` (see FLOP_CONVENTION); None for an op it cannot count."""
    name = op.op
    out = op.outputs[0] if op.outputs else None
    out_elements = _elements(out)
    if name == "FULLY_CONNECTED":
        k = int(op.inputs[1].shape[-1])
        return 2 * out_elements * k + (out_elements if _has_bias(op, 2) else 0)
    if name == "BATCH_MATMUL":
        # a is [..., M, K] or, with adj_x, [..., K, M]; the output is [..., M, N]. K is the one
        # of a's last two dimensions that is not M (both are M when they are equal).
        a1, a2 = (int(d) for d in op.inputs[0].shape[-2:])
        m = int(out.shape[-2])
        k = a2 if a1 == m else a1
        return 2 * out_elements * k
    if name in ("CONV_2D", "CONV_3D"):
        kernel = op.inputs[1].shape  # [Cout, kh, kw, Cin] ([kd, kh, kw, Cin, Cout] for 3-D)
        per_output = int(np.prod(kernel[1:] if name == "CONV_2D" else kernel[:-1]))
        return 2 * out_elements * per_output + (out_elements if _has_bias(op, 2) else 0)
    if name == "DEPTHWISE_CONV_2D":
        kh, kw = (int(d) for d in op.inputs[1].shape[1:3])
        return 2 * out_elements * kh * kw + (out_elements if _has_bias(op, 2) else 0)
    if name == "TRANSPOSE_CONV":
        weights, x = op.inputs[1], op.inputs[2]  # weights [Cout, kh, kw, Cin]
        cout, kh, kw = (int(d) for d in weights.shape[:3])
        return 2 * _elements(x) * kh * kw * cout + (out_elements if _has_bias(op, 3) else 0)
    if name in ELEMENTWISE_OPS:
        return out_elements
    if name in REDUCTION_OPS:
        return _elements(op.inputs[0])
    if name in ("SOFTMAX", "LOG_SOFTMAX"):
        return SOFTMAX_FLOPS_PER_ELEMENT * out_elements
    if name in ZERO_FLOP_OPS:
        return 0
    return None


def count_flops(info) -> dict:
    """FLOPs per inference of a parsed model (`tflite.reader.read_model`), by op type."""
    by_op: dict[str, int] = {}
    uncounted: dict[str, int] = {}
    for op in info.ops:
        flops = op_flops(op)
        if flops is None:
            uncounted[op.op] = uncounted.get(op.op, 0) + 1
            continue
        by_op[op.op] = by_op.get(op.op, 0) + flops
    return {"total": int(sum(by_op.values())),
            "matmul": int(sum(v for k, v in by_op.items() if k in MATMUL_OPS)),
            "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
            "uncounted_ops": dict(sorted(uncounted.items()))}


def measure_peak_gflops(threads: int) -> dict:
    """Best dense float32 matmul rate of numpy's BLAS in this process (threads set by env).

    Square matmuls of each size in PEAK_MATMUL_SIZES, PEAK_REPEATS timed runs each; the peak
    is the fastest run of all. Short runs and the best of many keep the figure close to the
    uncontended rate on a machine shared with other work (a 100 ms matmul is nearly always
    preempted somewhere on a loaded machine; a 1 ms one often is not)."""
    rng = np.random.default_rng(0)
    by_size = {}
    for n in PEAK_MATMUL_SIZES:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        for _ in range(3):
            a @ b
        seconds = []
        for _ in range(PEAK_REPEATS):
            t0 = time.perf_counter()
            a @ b
            seconds.append(time.perf_counter() - t0)
        by_size[str(n)] = {"best_gflops": 2.0 * n ** 3 / min(seconds) / 1e9,
                           "median_gflops": 2.0 * n ** 3 / float(np.median(seconds)) / 1e9}
    best = max(by_size, key=lambda k: by_size[k]["best_gflops"])
    return {"gflops": by_size[best]["best_gflops"], "at_size": int(best), "by_size": by_size,
            "repeats": PEAK_REPEATS}


def floor_gflops(peaks: dict, threads: int) -> float:
    """The rate the floor at `threads` threads divides by: the best peak measured at <= that
    many threads (n threads can always do what fewer do; a lower n-thread figure only means
    other work held the extra cores during its measurement)."""
    return max(p["gflops"] for n, p in peaks.items() if int(n) <= threads)
