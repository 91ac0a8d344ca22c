"""Timing one `.tflite` file on the CPU, each measurement in a fresh child process.

    result, stderr = run_child({"job": "model", "path": ..., "threads": 1, "warmup": 20,
                                "invokes": 200, "inputs": {name: {"dtype", "data"}}}, threads=1)
    result, _ = run_child({"job": "peak", "threads": 2}, threads=2)   # flops.measure_peak_gflops

The child (`python -m export.measure.latency`, a JSON request on stdin, the JSON result as the
last line of stdout) imports only numpy and the TFLite runtime before the peak RSS is reset, so
its memory figure is the model's: VmHWM after the load and all invokes minus VmRSS before the
load. The file is loaded with `tflite.runner.Runner` (LiteRT applies its default CPU delegate,
XNNPACK, when the interpreter is built; the delegate's log line is kept on stderr, for the
caller to check) and timed on the raw interpreter: the first invoke on its own (XNNPACK packs
some weights lazily), then `warmup` invokes, then `invokes` timed one by one
(`perf_counter_ns` around `invoke()`, inputs set once).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from export.contract import UserError
from export.tflite.runner import Runner, load_interpreter_class

CHILD_TIMEOUT_S = 900
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def _stats(ms: np.ndarray) -> dict:
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)),
            "mean": float(ms.mean()), "min": float(ms.min()), "max": float(ms.max())}


def measure_model(path: str, threads: int, warmup: int, invokes: int, inputs: dict) -> dict:
    """Load + latency + peak memory of one file at one thread count, in this process."""
    load_interpreter_class()  # the runtime's import is neither load time nor the model's memory
    arrays = {name: np.array(value["data"], dtype=value["dtype"]) for name, value in inputs.items()}
    peak_reset = _reset_peak_rss()
    rss_before = _proc_status_kb("VmRSS")
    started = time.perf_counter()
    runner = Runner(path, num_threads=threads, input_keys=tuple(arrays))
    load_s = time.perf_counter() - started
    runner.set_inputs(arrays)
    interpreter = runner.interpreter
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
    output = runner.output()
    partitions, outside = delegation(interpreter)
    peak = _proc_status_kb("VmHWM")
    cpu = _stats(cpu_times / 1e6)
    return {
        "load_ms": load_s * 1e3,
        "first_invoke_ms": first_s * 1e3,
        "latency_ms": _stats(times / 1e6),
        # CPU time of all this process's threads per invoke: wall time minus preemption, plus
        # the other threads' work (and spinning) when threads > 1.
        "process_cpu_ms": {"median": cpu["median"], "p90": cpu["p90"]},
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
    except Exception:  # a private API: any failure means it is not there
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


def machine_info() -> dict:
    """The CPU, cores, system and runtime versions the figures were measured with."""
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
    return {"cpu_model": cpu, "logical_cpus": os.cpu_count(), "usable_cpus": usable,
            "machine": platform.machine(), "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "numpy": np.__version__,
            "runtime": load_interpreter_class()[1]}


def child_main() -> None:
    """Entry of a child process: a JSON request on stdin, a JSON result on stdout's last line
    ({"error": one line} for a file the runner refuses)."""
    request = json.loads(sys.stdin.read())
    try:
        if request["job"] == "peak":
            from export.measure.flops import measure_peak_gflops
            result = measure_peak_gflops(request["threads"])
        else:
            result = measure_model(request["path"], request["threads"], request["warmup"],
                                   request["invokes"], request["inputs"])
    except UserError as e:
        result = {"error": " ".join(str(e).split())}
    print(json.dumps(result))


def run_child(request: dict, threads: int) -> tuple:
    """(result dict, child stderr) of `request` run by a fresh `python -m export.measure.latency`
    whose BLAS uses `threads` threads. UserError for a file the runner refused; RuntimeError
    with the child's last error line when it failed otherwise."""
    env = dict(os.environ)
    env["PYTHONPATH"] = _REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"  # keep LiteRT's "Created ... XNNPACK delegate" line
    proc = subprocess.run([sys.executable, "-m", "export.measure.latency"],
                          input=json.dumps(request), capture_output=True, text=True, env=env,
                          timeout=CHILD_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"child exited with {proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if "error" in result:
        raise UserError(result["error"])
    return result, proc.stderr


if __name__ == "__main__":
    child_main()
