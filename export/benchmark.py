"""CPU benchmark of an export folder's `.tflite` files: size, load, latency, memory, FLOPs.

    python -m export.benchmark runs/intents/export [--invokes=200] [--warmup=20] \\
        [--threads=1,2] [--json_out=runs/intents/export/benchmark.json]

For each file listed in the folder's `manifest.json`, and each thread count:
  * load time: `Interpreter(model_path, num_threads)` + `allocate_tensors()` (LiteRT applies
    its default CPU delegate, XNNPACK, there; the delegate's log line is checked and recorded),
    then the first invoke on its own (XNNPACK packs some weights lazily);
  * latency: `--warmup` invokes, then `--invokes` timed one by one (`perf_counter_ns` around
    `invoke()`, inputs set once): median, p90 (numpy linear interpolation), mean, min, max;
  * peak memory: each (file, threads) runs in a fresh child process that imports only numpy
    and ai_edge_litert; the peak RSS is reset (`/proc/self/clear_refs` 5) after the imports,
    and the figure is VmHWM after the load and all invokes minus VmRSS before the load;
  * FLOPs per inference, counted from the flatbuffer's ops and tensor shapes (`count_flops`;
    the convention is in `FLOP_CONVENTION`), and the floor they imply: FLOPs divided by this
    machine's measured dense float32 matmul rate at the same thread count (numpy/OpenBLAS in
    a child with OPENBLAS_NUM_THREADS set: the fastest of 30 runs each of 256, 512 and 1024
    square matmuls, see `measure_peak_gflops`; at n threads the best rate measured at <= n
    threads). It is a float32 figure for every variant: int8 kernels can beat it, so for
    int8 files the floor is indicative only;
  * delegation: how many partitions XNNPACK took and which ops it left to builtin kernels
    (`delegation`).
Inputs: the manifest's input shapes filled by tokenizing `BENCHMARK_TEXT` with the folder's
vocabulary (`export/wordpiece.py`); latency does not depend on the text, since every graph
is static and attends over all L positions. The JSON (default `<export dir>/benchmark.json`,
written atomically) also records the machine (CPU, cores, runtime versions, load average) and
each file's summary goes into the manifest as `checks.benchmark`. Timing on a machine shared
with other work is noisy, the 2-thread figures most: compare with the load average recorded.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

FORMAT_VERSION = 1
BENCHMARK_TEXT = "remind me to call mom tomorrow at seven and play some jazz"
PEAK_MATMUL_SIZES = (256, 512, 1024)
PEAK_REPEATS = 30
CHILD_TIMEOUT_S = 900

# ---------------------------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------------------------
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


def _elements(tensor) -> int:
    return int(np.prod(tensor.shape, dtype=np.int64)) if tensor is not None else 0


def _has_bias(op, position: int) -> bool:
    return len(op.inputs) > position and op.inputs[position] is not None \
        and _elements(op.inputs[position]) > 0


def op_flops(op) -> int | None:
    """FLOPs of one `tflite_io.OpInfo` (see FLOP_CONVENTION); None for an op it cannot count."""
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
    """FLOPs per inference of a parsed model (`tflite_io.read_model`), by op type.

        count_flops(tflite_io.read_model("fp32.tflite"))
        # {"total": 4.1e6, "matmul": ..., "by_op": {"FULLY_CONNECTED": ...}, "uncounted_ops": []}
    """
    by_op: dict[str, int] = {}
    uncounted: dict[str, int] = {}
    for op in info.ops:
        flops = op_flops(op)
        if flops is None:
            uncounted[op.op] = uncounted.get(op.op, 0) + 1
            continue
        by_op[op.op] = by_op.get(op.op, 0) + flops
    matmul_ops = ("FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "CONV_3D", "DEPTHWISE_CONV_2D",
                  "TRANSPOSE_CONV")
    return {"total": int(sum(by_op.values())),
            "matmul": int(sum(v for k, v in by_op.items() if k in matmul_ops)),
            "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
            "uncounted_ops": dict(sorted(uncounted.items()))}


# ---------------------------------------------------------------------------------------------
# Child processes: one measurement each, in a fresh interpreter process
# ---------------------------------------------------------------------------------------------
def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_model(path: str, threads: int, warmup: int, invokes: int, inputs: dict) -> dict:
    """Load + latency + peak memory of one file at one thread count, in this process."""
    from ai_edge_litert.interpreter import Interpreter

    arrays = {name: np.array(value["data"], dtype=value["dtype"]) for name, value in inputs.items()}
    peak_reset = _reset_peak_rss()
    rss_before = _proc_status_kb("VmRSS")
    started = time.perf_counter()
    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    load_s = time.perf_counter() - started
    details = {d["name"]: d for d in interpreter.get_input_details()}
    for name, array in arrays.items():
        interpreter.set_tensor(details[name]["index"], array)
    started = time.perf_counter()
    interpreter.invoke()
    first_s = time.perf_counter() - started
    for _ in range(warmup):
        interpreter.invoke()
    times = np.empty(invokes, dtype=np.int64)
    cpu_times = np.empty(invokes, dtype=np.int64)
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    for i in range(invokes):
        c0 = cpu_clock()
        t0 = clock()
        interpreter.invoke()
        times[i] = clock() - t0
        cpu_times[i] = cpu_clock() - c0
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    partitions, outside = delegation(interpreter)
    peak = _proc_status_kb("VmHWM")
    ms = times / 1e6
    return {
        "load_ms": load_s * 1e3,
        "first_invoke_ms": first_s * 1e3,
        "latency_ms": {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)),
                       "mean": float(ms.mean()), "min": float(ms.min()), "max": float(ms.max())},
        # CPU time of all this process's threads per invoke: wall time minus preemption, plus
        # the other threads' work (and spinning) when threads > 1.
        "process_cpu_ms": {"median": float(np.median(cpu_times / 1e6)),
                           "p90": float(np.percentile(cpu_times / 1e6, 90))},
        "invokes": invokes,
        "warmup": warmup,
        "peak_rss_mb": peak / 1024 if peak is not None else None,
        "peak_rss_delta_mb": (peak - rss_before) / 1024
        if peak is not None and rss_before is not None and peak_reset else None,
        "rss_before_load_mb": rss_before / 1024 if rss_before is not None else None,
        "peak_reset": peak_reset,
        "output_top1": int(np.argmax(output)),
        "delegate_partitions": partitions,
        "ops_outside_delegate": outside,
    }


def delegation(interpreter) -> tuple:
    """(number of DELEGATE nodes, {"OP dtype": count} of the ops left to builtin kernels).

    From the interpreter's private `_get_ops_details()`, which lists the original nodes and,
    after them, one DELEGATE node per partition the delegate took. A delegate node's inputs
    and outputs are the only tensors of its partition seen outside it, so an original node
    runs outside the delegate exactly when one of its outputs is not a delegate output but is
    read by a delegate node, a graph output, or a node that runs outside. (None, None) when
    the API is missing."""
    try:
        ops = interpreter._get_ops_details()
        graph_outputs = {d["index"] for d in interpreter.get_output_details()}
    except Exception:  # noqa: BLE001  (private API)
        return None, None
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    delegate_in = {t for op in delegates for t in op["inputs"]}
    delegate_out = {t for op in delegates for t in op["outputs"]}
    outside, changed = set(), True
    while changed:
        changed = False
        read_outside = {t for op in original if op["index"] in outside for t in op["inputs"]}
        for op in original:
            if op["index"] in outside:
                continue
            if any(t not in delegate_out and (t in delegate_in or t in graph_outputs
                                              or t in read_outside) for t in op["outputs"]):
                outside.add(op["index"])
                changed = True
    counts: dict[str, int] = {}
    for op in original:
        if op["index"] in outside:
            types = op.get("operand_types") or [None]
            key = f"{op['op_name']} {np.dtype(types[0]).name if types[0] is not None else '?'}"
            counts[key] = counts.get(key, 0) + 1
    return len(delegates), dict(sorted(counts.items()))


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


def child_main() -> None:
    """Entry of a child process: a JSON request on stdin, a JSON result on stdout's last line."""
    request = json.loads(sys.stdin.read())
    if request["job"] == "peak":
        result = measure_peak_gflops(request["threads"])
    else:
        result = measure_model(request["path"], request["threads"], request["warmup"],
                               request["invokes"], request["inputs"])
    print(json.dumps(result))


def _run_child(request: dict, threads: int) -> tuple:
    """(result dict, child stderr). Raises RuntimeError with the child's last error line."""
    env = {k: v for k, v in os.environ.items()}
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"  # keep LiteRT's "Created ... XNNPACK delegate" line
    proc = subprocess.run(
        [sys.executable, "-c", "from export.benchmark import child_main; child_main()"],
        input=json.dumps(request), capture_output=True, text=True, env=env,
        timeout=CHILD_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"child exited with {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


# ---------------------------------------------------------------------------------------------
# The export folder
# ---------------------------------------------------------------------------------------------
def machine_info() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {"cpu_model": cpu, "logical_cpus": os.cpu_count(), "usable_cpus": usable,
            "machine": platform.machine(), "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "numpy": np.__version__}
    try:
        from importlib import metadata
        info["runtime"] = f"ai-edge-litert {metadata.version('ai-edge-litert')}"
    except Exception:  # noqa: BLE001
        info["runtime"] = "ai-edge-litert (version unknown)"
    return info


def benchmark_inputs(export_dir: str, manifest: dict, entry: dict) -> tuple:
    """({input name: {"dtype", "data"}}, description) for one file's inputs."""
    from export import wordpiece

    tokenizer_info = manifest.get("tokenizer") or {}
    vocab_path = os.path.join(export_dir, tokenizer_info.get("vocabulary_file", "vocab.txt"))
    inputs, description = {}, {}
    encoded = None
    if os.path.isfile(vocab_path):
        options = {k: tokenizer_info[k] for k in ("lowercase", "strip_accents", "split_on_cjk")
                   if k in tokenizer_info}
        tokenizer = wordpiece.WordPieceTokenizer.from_file(vocab_path, **options)
    else:
        tokenizer = None
    rng = np.random.default_rng(0)
    for spec in entry["inputs"]:
        shape, dtype, name = list(spec["shape"]), spec["dtype"], spec["name"]
        if name in ("token_ids", "padding_mask", "segment_ids") and tokenizer is not None:
            if encoded is None:
                encoded = dict(zip(("token_ids", "padding_mask", "segment_ids"),
                                   tokenizer.encode(BENCHMARK_TEXT, shape[-1])))
                description = {"kind": "tokenized text", "text": BENCHMARK_TEXT,
                               "vocabulary": os.path.basename(vocab_path),
                               "real_tokens": int(sum(encoded["padding_mask"])),
                               "sequence_length": shape[-1]}
            data = np.broadcast_to(np.array(encoded[name]), shape).tolist()
        else:
            high = 2 if name == "padding_mask" else 100
            data = rng.integers(0, high, size=shape).tolist() if "int" in dtype \
                else rng.standard_normal(size=shape).tolist()
            description.setdefault("kind", "seeded random values (no vocabulary found)")
        inputs[name] = {"dtype": dtype, "data": data}
    return inputs, description


def _files(export_dir: str, UserError) -> tuple:
    from export import manifest as manifest_lib
    from export import tflite_io

    if not os.path.isdir(export_dir):
        raise UserError(f"{export_dir}: no such export folder; write one with "
                        "python -m export.convert --workdir=<dir>")
    path = manifest_lib.manifest_path(export_dir)
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found; {export_dir} is not an export folder "
                        "(python -m export.convert writes one)")
    try:
        manifest = manifest_lib.read_manifest(export_dir)
    except ValueError as e:
        raise UserError(str(e)) from None
    names = [name for name in manifest["files"] if name.endswith(".tflite")]  # export order
    if not names:
        raise UserError(f"{path}: lists no .tflite file")
    infos = {}
    for name in names:
        file_path = os.path.join(export_dir, name)
        if not os.path.isfile(file_path):
            raise UserError(f"{file_path}: listed in manifest.json but missing; rerun "
                            "python -m export.convert")
        try:
            infos[name] = tflite_io.read_model(file_path)
        except ValueError as e:
            raise UserError(str(e)) from None
        if not manifest["files"][name].get("inputs"):
            manifest["files"][name]["inputs"] = [t.to_json() for t in infos[name].inputs]
    return manifest, infos


def floor_gflops(peaks: dict, threads: int) -> float:
    """The rate the floor at `threads` threads divides by: the best peak measured at <= that
    many threads (n threads can always do what fewer do; a lower n-thread figure only means
    other work held the extra cores during its measurement)."""
    return max(p["gflops"] for n, p in peaks.items() if int(n) <= threads)


def run_benchmark(export_dir: str, invokes: int = 200, warmup: int = 20,
                  threads: list[int] = (1, 2), log=print) -> dict:
    """Measures every manifest file; returns the JSON report (see module docstring)."""
    from export import manifest as manifest_lib
    from pipeline.errors import UserError

    if invokes < 1:
        raise UserError(f"--invokes={invokes}: must be at least 1 (the issue asks for 200)")
    if warmup < 0:
        raise UserError(f"--warmup={warmup}: must be 0 or more")
    if not threads or any(t < 1 for t in threads):
        raise UserError(f"--threads={','.join(map(str, threads))}: thread counts must be >= 1")
    threads = list(dict.fromkeys(threads))
    manifest, infos = _files(export_dir, UserError)

    report = {"format_version": FORMAT_VERSION,
              "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "export_dir": os.path.abspath(export_dir),
              "settings": {"invokes": invokes, "warmup": warmup, "threads": threads},
              "machine": machine_info(),
              "load_average_before": list(os.getloadavg()),
              "flop_convention": FLOP_CONVENTION,
              "peak_float32_gflops": {},
              "files": {}}
    for n in threads:
        peak, _ = _run_child({"job": "peak", "threads": n}, n)
        report["peak_float32_gflops"][str(n)] = peak
        log(f"float32 matmul peak at {n} thread(s): {peak['gflops']:.1f} GFLOP/s")

    for name, info in infos.items():
        entry = manifest["files"][name]
        path = os.path.join(export_dir, name)
        inputs, description = benchmark_inputs(export_dir, manifest, entry)
        report.setdefault("inputs", description)
        flops = count_flops(info)
        result = {"variant": entry.get("variant", name.rsplit(".", 1)[0]),
                  "bytes": os.path.getsize(path),
                  "sha256": manifest_lib.sha256_file(path),
                  "flops": flops, "runs": {}}
        for n in threads:
            try:
                run, stderr = _run_child({"job": "model", "path": os.path.abspath(path),
                                          "threads": n, "warmup": warmup, "invokes": invokes,
                                          "inputs": inputs}, n)
            except RuntimeError as e:
                raise UserError(f"{path}: truncated or corrupt, the interpreter refused it "
                                f"({e})") from None
            run["xnnpack_delegate"] = "XNNPACK delegate" in stderr
            peak = floor_gflops(report["peak_float32_gflops"], n)
            run["floor_gflops"] = peak
            run["floor_ms"] = flops["total"] / (peak * 1e9) * 1e3
            run["floor_fraction_of_median"] = run["floor_ms"] / run["latency_ms"]["median"]
            result["runs"][str(n)] = run
            log(f"{name:<20} {n} thread(s): median {run['latency_ms']['median']:.3f} ms, "
                f"p90 {run['latency_ms']['p90']:.3f} ms, load {run['load_ms']:.1f} ms")
        report["files"][name] = result
    report["load_average_after"] = list(os.getloadavg())
    return report


def record_in_manifest(export_dir: str, report: dict, json_path: str, log=print) -> None:
    """Each file's summary as `checks.benchmark` (skipped for a file re-exported meanwhile)."""
    from export import manifest as manifest_lib

    for name, result in report["files"].items():
        summary = {
            "created": report["created"], "report": os.path.abspath(json_path),
            "cpu": report["machine"]["cpu_model"], "runtime": report["machine"]["runtime"],
            "invokes": report["settings"]["invokes"], "flops": result["flops"]["total"],
            "latency_ms": {n: {"median": round(r["latency_ms"]["median"], 4),
                               "p90": round(r["latency_ms"]["p90"], 4)}
                           for n, r in result["runs"].items()},
            "load_ms": {n: round(r["load_ms"], 2) for n, r in result["runs"].items()},
            "peak_rss_delta_mb": {n: r["peak_rss_delta_mb"] for n, r in result["runs"].items()},
            "floor_ms": {n: r["floor_ms"] for n, r in result["runs"].items()},
        }
        try:
            manifest_lib.update_checks(export_dir, name, "benchmark", summary,
                                       expected_sha256=result["sha256"])
        except ValueError as e:
            log(f"warning: not recorded in the manifest: {e}")


def format_table(report: dict) -> str:
    threads = report["settings"]["threads"]
    header = ["file", "MB", "load ms", "peak MB", "MFLOPs"]
    for n in threads:
        header += [f"{n}T median ms", f"{n}T p90 ms", f"{n}T floor ms"]
    rows = [header]
    for name, r in report["files"].items():
        first = r["runs"][str(threads[0])]
        delta = first["peak_rss_delta_mb"]
        row = [name, f"{r['bytes'] / 1e6:.3f}", f"{first['load_ms']:.1f}",
               f"{delta:.1f}" if delta is not None else "n/a", f"{r['flops']['total'] / 1e6:.2f}"]
        for n in threads:
            run = r["runs"][str(n)]
            row += [f"{run['latency_ms']['median']:.3f}", f"{run['latency_ms']['p90']:.3f}",
                    f"{run['floor_ms']:.4f}"]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def define_flags() -> None:
    """The command's flags (defined only when run as a command, like export.convert)."""
    from absl import flags
    flags.DEFINE_integer("invokes", 200, "Timed invokes per file and thread count.")
    flags.DEFINE_integer("warmup", 20, "Untimed invokes before timing (after the first one).")
    flags.DEFINE_list("threads", "1,2", "Interpreter thread counts to measure.")
    flags.DEFINE_string("json_out", None, "Where to write the JSON report "
                        "(default <export dir>/benchmark.json).")
    flags.DEFINE_bool("record_in_manifest", True,
                      "Also record each file's summary as manifest checks.benchmark.")


def main(argv):
    from absl import flags

    from export import manifest as manifest_lib
    from pipeline.errors import UserError

    FLAGS = flags.FLAGS
    if len(argv) != 2:
        raise UserError("usage: python -m export.benchmark <export dir> [--invokes=200] "
                        f"[--threads=1,2] (got {len(argv) - 1} positional arguments)")
    export_dir = argv[1]
    try:
        threads = [int(t) for t in FLAGS.threads]
    except ValueError:
        raise UserError(f"--threads={','.join(FLAGS.threads)}: expected integers, e.g. 1,2") from None
    _files(export_dir, UserError)  # the folder's problems first: the likeliest mistake
    json_path = FLAGS.json_out or os.path.join(export_dir, "benchmark.json")
    out_dir = os.path.dirname(os.path.abspath(json_path))
    if not os.path.isdir(out_dir):
        raise UserError(f"--json_out={json_path}: folder {out_dir} does not exist")
    report = run_benchmark(export_dir, FLAGS.invokes, FLAGS.warmup, threads)
    print(format_table(report))
    print(f"load average (1, 5, 15 min) before {report['load_average_before']}, after "
          f"{report['load_average_after']}; {report['machine']['cpu_model']}, "
          f"{report['machine']['usable_cpus']} usable CPUs, {report['machine']['runtime']}")
    manifest_lib.write_json_atomic(report, json_path)
    if FLAGS.record_in_manifest:
        record_in_manifest(export_dir, report, json_path)
    print(f"wrote {json_path}")


if __name__ == "__main__":
    from pipeline import cli
    define_flags()
    cli.run(main)
