"""Runtime proof that a float .tflite runs fully on LiteRT's real GPU backend, and GPU-vs-CPU
numeric parity.

    ok, why = gpu_available()           # (True, "adapter llvmpipe ...") or (False, reason)
    report = check_gpu("export/fp32.tflite", inputs, enforce_f32=True)

The GPU backend is ML Drift over WebGPU/Dawn/Vulkan (`ai_edge_litert.compiled_model.
CompiledModel` with `HardwareAccelerator.GPU` only, no CPU fallback). On a machine with no GPU
it runs on Mesa's software Vulkan driver after
    eval "$(../shared/tools/lavapipe-gpu/setup.sh)"
(see that folder's README). Software Vulkan is slow: use it to check delegation and numbers,
never to report speed.

How a model is fed (the real CompiledModel API of ai-edge-litert 2.3):
    m = CompiledModel.from_file(path, options=Options(HardwareAccelerator.GPU,
                                                      gpu_options=GpuOptions(enforce_f32=...)))
    m.is_fully_accelerated()
    ins = {n: m.create_input_buffer_by_name(key, n) for n in signature inputs}
    outs = {n: m.create_output_buffer_by_name(key, n) for n in signature outputs}
    ins[n].write(np.int32 array)                   # flattened, dtype must match the tensor
    m.run_by_name(key, ins, outs)
    outs[n].read(num_elements, np.float32)          # shape from get_output_tensor_details(key)
With `HardwareAccelerator.GPU` alone, `from_file` raises RuntimeError("... Some ops are not
accelerated ...") when any op would fall back; the op-level reasons ("STRIDED_SLICE: Slice does
not support shrink_axis_mask parameter", "GATHER: Only support 1D indices", ...) are only
printed by the native code on stderr. So every GPU run happens in a child process (this file
run as a script) whose stderr is captured: the reasons end up in `GpuReport.error`, and a
backend that crashes or hangs (shader compilation errors have been seen on int8 models) costs
a report with an error, never the caller's process. The CPU reference is the same file under
`CompiledModel` with `HardwareAccelerator.CPU`, in the same child, on the same inputs.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import zlib

import numpy as np

SETUP_HINT = 'run eval "$(../shared/tools/lavapipe-gpu/setup.sh)"'
TOLERANCE_ENFORCE_F32 = 1e-4   # GpuOptions(enforce_f32=True): ~1e-7 seen on softmax outputs
TOLERANCE_DEFAULT = 2e-3       # default GPU precision (fp16 arithmetic): reported, not gated
MIN_AGREEMENT_DEFAULT = 0.995  # default precision: top-k agreement with the CPU
MAX_ACCURACY_CHANGE_POINTS = 0.5
CHECK_NAME = {True: "gpu_f32", False: "gpu"}  # manifest checks key, see record()

# A 948-byte float model (y = 2x + 1 on float32 [1, 4]: MUL, ADD) that every GPU backend takes:
# gpu_available() compiles it on the GPU to find out whether there is an adapter at all.
_PROBE_MODEL = (
    "eNptUztPwmAUvUAFEhokiMrg4OCMiq/FqAQxIfGRIDFOokk7kEAxWIhO+iMcHBwcjHFwcHBwdHY0jro5OKj/QOu5"
    "X2+rNt5w0q/nO/ddhoiourQ8kaFhGqIsZShFOrg4aTgTOBc260JEBlCNEOGnLAxMAhrw5DhOTM59QHFtdaNUWS+v"
    "rdZWStXCYqFaQFxdxY7jPvpL26xbtXbHsutNs9Y123v1lqU0T8AjcAecA6fAsdTDvlvIyc9tICU1xSnp52BuRLFR"
    "xXk52XS/X031PGMeXg9OP79HpC9Naszn8uO5MaJ7ycUxx3NTTPl28+k4t8CHaCTHQjCvyx/Nv0D7CvTibWW5XBku"
    "tiz0bZtGjjBiNXtCH16FHCMpPO/jTOZxKTGbO3XL28fmP/6JX/6wRErOnGv3y3FCEof9I8Kzf0b1++MvM+7X5Xwl"
    "vt7MvBq8eCHheoA3qdl2B6Pu5zAvlqUkHuuyfAee91c2THwU9kEwbjfg5+1lFjzX0uw0/ugvAvqI9N8A3+PqRw+k"
    "1oeANizaE9HuGIavJRpQMybZkmsxsMr8GCF58n+Ez/uBfsKy17h61xSnq7mTYnjeaTdm+huW8nxv"
)


@dataclasses.dataclass
class GpuReport:
    file: str
    enforce_f32: bool
    fully_accelerated: bool
    max_abs_diff: float          # over all inputs and outputs, GPU vs CPU (nan when not run)
    num_inputs: int              # inputs actually compared
    tolerance: float             # absolute, or per unit of max_abs_reference when relative
    ok: bool                     # fully accelerated, every input ran, max_abs_diff <= tolerance
    relative: bool = False       # tolerance scaled by max(1, max |CPU output|) (score outputs)
    max_abs_reference: float = float("nan")  # max |CPU output| over all inputs
    error: str | None = None  # why not ok (the GPU backend's own words where it gave any)
    # Default precision is gated on what users see (max |Δ| is reported): top-k agreement
    # with the CPU (top-1 label, or mean top-10 overlap) and the accuracy change in points.
    top_k: int = 1
    agreement: float = float("nan")
    accuracy_change_points: float = float("nan")

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for key in ("max_abs_diff", "max_abs_reference", "agreement", "accuracy_change_points"):
            if not np.isfinite(d[key]):
                d[key] = None  # JSON has no NaN
        return d


# ---------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------
def _one_line(text: str, limit: int = 800) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _backend_reasons(stderr: str) -> list:
    """The GPU backend's explanations from its stderr log, in order, without duplicates."""
    reasons = []
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if "not supported by GPU delegate" in s:
            for follow in lines[i + 1:]:
                f = follow.strip()
                if not f:
                    continue
                if re.match(r"^[A-Z0-9_]+:", f):        # "STRIDED_SLICE: Slice does not ..."
                    reasons.append(f)
                    continue
                if "operations will run on the GPU" in f:
                    reasons.append(f)
                break
        elif ("static-sized tensors" in s or "No adapters found" in s
              or "Validation error" in s or "Failed to initialize WebGPU" in s):
            s = re.sub(r"^[EWI]\d{4} [\d:.]+\s+\d+ \S+\] ", "", s)
            reasons.append(re.sub(r"^ERROR: \[[^\]]+\] ", "", s))
        elif re.match(r"^ERROR: \[delegate", s) or (s.startswith("ERROR:") and "GPU" in s):
            reasons.append(s[len("ERROR:"):].strip())
    return list(dict.fromkeys(reasons))  # unique, in order


def _run_worker(job: dict, arrays: dict, timeout: float) -> tuple:
    """Runs this file as a child on `job`; (result dict or None, stderr text, outputs npz dict)."""
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        with open(os.path.join(tmp, "job.json"), "w", encoding="utf-8") as f:
            json.dump(job, f)
        np.savez(os.path.join(tmp, "inputs.npz"), **arrays)
        env = dict(os.environ)
        env.setdefault("XDG_RUNTIME_DIR", "/tmp")
        try:
            proc = subprocess.run([sys.executable, "-m", "export.checks.gpu", "--worker", tmp],
                                  capture_output=True, text=True, errors="replace",
                                  timeout=timeout, env=env)
            stderr = proc.stderr
            code = proc.returncode
        except subprocess.TimeoutExpired as e:
            stderr = e.stderr.decode("utf-8", "replace") if isinstance(e.stderr, bytes) \
                else (e.stderr or "")
            code = f"timed out after {timeout:.0f} s"
        result = None
        result_path = os.path.join(tmp, "result.json")
        if os.path.exists(result_path):
            with open(result_path, encoding="utf-8") as f:
                result = json.load(f)
        outputs = {}
        out_path = os.path.join(tmp, "outputs.npz")
        if os.path.exists(out_path):
            with np.load(out_path) as data:
                outputs = {k: data[k] for k in data.files}
    if result is None or not result.get("done"):
        result = dict(result or {})
        result.setdefault("error", f"GPU child process ended without a result (exit {code})")
        if isinstance(code, str):
            result["error"] = f"GPU child process {code}"
        elif code != 0:
            result["error"] = f"GPU child process crashed (exit {code}) at stage " \
                              f"{result.get('stage', 'start')}"
    return result, stderr, outputs


@functools.cache
def _gpu_available(timeout: float) -> tuple:
    try:
        import ai_edge_litert.compiled_model  # noqa: F401  (only whether it imports)
    except Exception as e:
        return False, f"ai_edge_litert CompiledModel not importable ({type(e).__name__}: {e})"
    with tempfile.TemporaryDirectory(prefix="gpu-probe-") as tmp:
        path = os.path.join(tmp, "probe.tflite")
        with open(path, "wb") as f:
            f.write(zlib.decompress(base64.b64decode(_PROBE_MODEL)))
        result, stderr, _ = _run_worker({"path": path, "enforce_f32": True, "probe": True},
                                        {"0:x": np.ones((1, 4), np.float32)}, timeout)
    adapter = re.search(r"Selected adapter: (.+)", stderr)
    if result.get("fully_accelerated") and not result.get("error"):
        return True, f"adapter {adapter.group(1).strip() if adapter else '(unnamed)'}"
    detail = "; ".join(_backend_reasons(stderr)) or result.get("error") or "unknown"
    if adapter is None:
        return False, f"no Vulkan/WebGPU adapter ({_one_line(detail, 300)}): {SETUP_HINT}"
    return False, (f"the GPU backend refused a trivial model on adapter {adapter.group(1).strip()}"
                   f" ({_one_line(detail, 300)})")


def gpu_available(timeout: float = 180) -> tuple[bool, str]:
    """(True, "adapter <name>") when LiteRT's GPU backend compiles and fully accelerates a tiny
    float model here, else (False, one-line reason). Cached per process."""
    return _gpu_available(float(timeout))


def _top(outputs: list, k: int) -> np.ndarray:
    flat = np.stack([o.reshape(-1).astype(np.float64) for o in outputs])
    return np.argsort(-flat, axis=1, kind="stable")[:, :k]


def _agreement(gpu: list, cpu: list, labels, k: int) -> tuple:
    """(mean top-k overlap of GPU and CPU, accuracy change in points or nan without labels)."""
    top_gpu, top_cpu = _top(gpu, k), _top(cpu, k)
    overlap = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top_gpu, top_cpu)]))
    if labels is None or len(labels) != len(gpu):
        return overlap, float("nan")
    labels = np.asarray(labels).reshape(-1, 1)
    hit_gpu, hit_cpu = np.any(top_gpu == labels, 1), np.any(top_cpu == labels, 1)
    return overlap, round(100.0 * float(np.mean(hit_gpu) - np.mean(hit_cpu)), 4)


def check_gpu(tflite_path, inputs: list, enforce_f32: bool, timeout: float = 600,
              relative: bool = False, labels=None, top_k: int = 1) -> GpuReport:
    """Compiles `tflite_path` for the GPU backend alone and, when every op is on it, runs every
    input (a dict of input name -> array, e.g. int32 [1, L]) there and on the CPU.

    With enforce_f32 the outputs must match within TOLERANCE_ENFORCE_F32 (relative: per unit
    of the largest |output|). At default precision (fp16 arithmetic) the gate is what users
    see: top-`top_k` agreement with the CPU >= MIN_AGREEMENT_DEFAULT and, with `labels`, an
    accuracy (top-k hit) change within MAX_ACCURACY_CHANGE_POINTS; max |Δ| is reported.

    Never raises for a model the backend refuses or a backend crash: the report then has
    fully_accelerated=False (or ok=False) and `error` saying why."""
    path = os.path.abspath(os.fspath(tflite_path))
    tolerance = TOLERANCE_ENFORCE_F32 if enforce_f32 else TOLERANCE_DEFAULT
    report = GpuReport(file=path, enforce_f32=bool(enforce_f32), fully_accelerated=False,
                       max_abs_diff=float("nan"), num_inputs=0, tolerance=tolerance, ok=False,
                       relative=bool(relative), top_k=int(top_k))
    if not os.path.isfile(path):
        report.error = f"{path}: no such file"
        return report
    arrays = {}
    for k, example in enumerate(inputs):
        for name, value in example.items():
            arrays[f"{k}:{name}"] = np.ascontiguousarray(value)
    result, stderr, outputs = _run_worker(
        {"path": path, "enforce_f32": bool(enforce_f32), "count": len(inputs)}, arrays, timeout)
    report.fully_accelerated = bool(result.get("fully_accelerated", False))
    reasons = _backend_reasons(stderr)
    error = result.get("error")
    if error or not report.fully_accelerated:
        parts = [_one_line(error or "not fully accelerated", 300)] + reasons
        report.error = _one_line("; ".join(parts))
    if outputs:
        gpu = [outputs[k] for k in sorted(outputs) if k.startswith("gpu:")]
        cpu = [outputs[k] for k in sorted(outputs) if k.startswith("cpu:")]
        if gpu and len(gpu) == len(cpu):
            report.max_abs_diff = float(max(np.max(np.abs(g.astype(np.float64) - c))
                                            for g, c in zip(gpu, cpu)))
            report.max_abs_reference = float(max(np.max(np.abs(c)) for c in cpu))
            report.agreement, report.accuracy_change_points = _agreement(gpu, cpu, labels,
                                                                         report.top_k)
        report.num_inputs = int(result.get("ran", 0))
    scale = max(1.0, report.max_abs_reference) if relative and np.isfinite(
        report.max_abs_reference) else 1.0
    if report.fully_accelerated and report.error is None:
        if report.num_inputs != len(inputs):
            report.error = f"only {report.num_inputs} of {len(inputs)} inputs ran"
        elif not np.isfinite(report.max_abs_diff) and inputs:
            report.error = "GPU outputs are not finite"
        elif inputs and not enforce_f32:
            change = report.accuracy_change_points
            if report.agreement < MIN_AGREEMENT_DEFAULT:
                report.error = (f"top-{report.top_k} agreement with the CPU "
                                f"{report.agreement:.2%} < {MIN_AGREEMENT_DEFAULT:.1%}")
            elif np.isfinite(change) and abs(change) > MAX_ACCURACY_CHANGE_POINTS:
                report.error = (f"accuracy changes by {change:+.2f} points > "
                                f"{MAX_ACCURACY_CHANGE_POINTS} on the GPU")
        elif inputs and report.max_abs_diff > tolerance * scale:
            report.error = (f"GPU differs from CPU by {report.max_abs_diff:.3g} > tolerance "
                            f"{tolerance * scale:.3g}"
                            + (f" ({tolerance:g} x max |output| {scale:.3g})" if relative else ""))
    report.ok = bool(report.fully_accelerated and report.error is None and inputs)
    if report.ok is False and report.error is None:
        report.error = "no inputs to compare"
    return report


def record(export_dir: str, report: GpuReport) -> None:
    """Stores `report` in `<export_dir>/manifest.json` under the file's checks: "gpu" (default
    precision) or "gpu_f32" (enforce_f32), guarded by the file's current sha256."""
    from export import contract

    result = report.as_dict()
    result["file"] = os.path.basename(report.file)
    contract.update_checks(export_dir, os.path.basename(report.file),
                               CHECK_NAME[report.enforce_f32], result,
                               expected_sha256=contract.sha256_file(report.file))


# ---------------------------------------------------------------------------------------------
# Child side: `python -m export.checks.gpu --worker <dir>` (dir holds job.json and inputs.npz)
# ---------------------------------------------------------------------------------------------
def _worker(tmp: str) -> int:
    with open(os.path.join(tmp, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    result = {"stage": "import", "done": False}

    from export import contract

    def save():  # the parent reads the last complete state if this child dies
        contract.write_json_atomic(result, os.path.join(tmp, "result.json"))

    save()
    from export.tflite.runner import CompiledRunner

    result["stage"] = "compile"
    save()
    try:
        gpu = CompiledRunner(job["path"], "gpu", enforce_f32=job["enforce_f32"])
        result["fully_accelerated"] = gpu.fully_accelerated
    except Exception as e:  # the backend refuses with RuntimeError: report it, do not crash
        result.update(fully_accelerated=False, done=True, error=f"{type(e).__name__}: {e}")
        save()
        return 0
    if not result["fully_accelerated"]:
        result.update(done=True, error="compiled, but is_fully_accelerated() is False")
        save()
        return 0

    with np.load(os.path.join(tmp, "inputs.npz")) as data:
        arrays = {k: data[k] for k in data.files}
    examples = {}
    for key, value in arrays.items():
        k, name = key.split(":", 1)
        examples.setdefault(int(k), {})[name] = value

    outputs = {}
    ran = 0
    try:
        result["stage"] = "cpu compile"
        run_gpu, run_cpu = gpu.run, CompiledRunner(job["path"], "cpu").run
        for k in sorted(examples):
            result["stage"] = f"gpu run of input {k}"
            got = run_gpu(examples[k])
            result["stage"] = f"cpu run of input {k}"
            want = run_cpu(examples[k])
            for name in got:
                outputs[f"gpu:{k:06d}:{name}"] = got[name]
                outputs[f"cpu:{k:06d}:{name}"] = want[name]
            ran += 1
        result.update(ran=ran, stage="done")
    except Exception as e:
        result["error"] = f"{result['stage']}: {type(e).__name__}: {e}"
        result["ran"] = ran
    np.savez(os.path.join(tmp, "outputs.npz"), **outputs)
    result["done"] = True
    save()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(_worker(sys.argv[2]))
    sys.exit("usage: this module is a library (export.checks.gpu); the child process is "
             "`python -m export.checks.gpu --worker <dir>`")
