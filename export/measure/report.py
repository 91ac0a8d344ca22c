"""The benchmark of a whole export folder: every listed `.tflite` at every thread count, the
JSON report, its one-table summary and the manifest's `checks.benchmark`.

    folder, models = open_folder("runs/intents/export")   # contract.open_export + the graphs
    report = run_benchmark(folder, models, invokes=200, warmup=20, threads=[1, 2])
    print(format_table(report)); record_in_manifest(folder.path, report, json_path)

Inputs: the manifest's input shapes filled by tokenizing `BENCHMARK_TEXT` with the folder's
vocabulary (export/runtime/wordpiece.py); latency does not depend on the text, since every
graph is static and attends over all L positions. The floor of a run is the file's FLOPs
divided by the float32 matmul peak at <= that many threads (flops.floor_gflops): a float32
figure for every variant, so for int8 files it is indicative only.
"""

from __future__ import annotations

import datetime
import os

import numpy as np

from export import contract
from export.contract import UserError
from export.measure import flops as flops_lib
from export.measure import latency

FORMAT_VERSION = 1
BENCHMARK_TEXT = "remind me to call mom tomorrow at seven and play some jazz"
TEXT_INPUTS = ("token_ids", "padding_mask", "segment_ids")


def check_settings(invokes: int, warmup: int, threads) -> list:
    """The thread counts to run, once each; UserError naming the flag that is wrong."""
    if invokes < 1:
        raise UserError(f"--invokes={invokes}: must be at least 1 (default 200)")
    if warmup < 0:
        raise UserError(f"--warmup={warmup}: must be 0 or more")
    if not threads or any(t < 1 for t in threads):
        raise UserError(f"--threads={','.join(map(str, threads))}: thread counts must be >= 1")
    return list(dict.fromkeys(threads))


def open_folder(export_dir: str) -> tuple:
    """(contract.ExportFolder, {file name: tflite.reader.ModelInfo}) of every `.tflite` the
    manifest lists, in export order. UserError (one line naming the file) for a missing
    folder or manifest, or a file that is missing, truncated, changed since the export or
    not a model."""
    from export.tflite import reader as tflite_reader

    folder = contract.open_export(export_dir)
    names = [name for name in folder.manifest.files if name.endswith(".tflite")]
    if not names:
        raise UserError(f"{folder.manifest.path}: lists no .tflite file")
    models = {}
    for name in names:
        try:
            models[name] = tflite_reader.read_model(folder.file(name))
        except ValueError as e:
            raise UserError(str(e)) from None
        # The inputs are built from the manifest's shapes: they must be the file's.
        contract.check_signature(folder.manifest, name, models[name])
    return folder, models


def _tokenizer(export_dir: str, tokenizer_info: dict):
    """(tokenizer, vocabulary path) from the manifest's tokenizer fields; None when the
    folder has no vocabulary (recommenders)."""
    from export.runtime import wordpiece

    vocab_path = os.path.join(export_dir, tokenizer_info.get("vocabulary_file",
                                                             contract.VOCAB_FILE))
    if not os.path.isfile(vocab_path):
        return None, vocab_path
    options = {k: tokenizer_info[k] for k in ("lowercase", "strip_accents", "split_on_cjk")
               if k in tokenizer_info}
    return wordpiece.WordPieceTokenizer.from_file(vocab_path, **options), vocab_path


def benchmark_inputs(export_dir: str, manifest, input_specs: list) -> tuple:
    """({input name: {"dtype", "data"}}, description) for one file's inputs
    ([{"name", "dtype", "shape"}]): tokenized text, or seeded random values without a
    vocabulary."""
    tokenizer, vocab_path = _tokenizer(export_dir, manifest.get("tokenizer") or {})
    inputs, description, encoded = {}, {}, None
    rng = np.random.default_rng(0)
    for spec in input_specs:
        shape, dtype, name = list(spec["shape"]), spec["dtype"], spec["name"]
        if name in TEXT_INPUTS and tokenizer is not None:
            if encoded is None:
                encoded = dict(zip(TEXT_INPUTS, tokenizer.encode(BENCHMARK_TEXT, shape[-1])))
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


def _measure_file(folder, name: str, info, peaks: dict, settings: dict, report: dict,
                  log) -> dict:
    entry = folder.manifest.files[name]
    path = folder.file(name)
    specs = entry.fields.get("inputs") or [t.to_json() for t in info.inputs]
    inputs, description = benchmark_inputs(folder.path, folder.manifest, specs)
    report.setdefault("inputs", description)
    flops = flops_lib.count_flops(info)
    # open_export checked the file against this digest; record_in_manifest guards with it.
    result = {"variant": entry.variant, "bytes": entry.bytes, "sha256": entry.sha256,
              "flops": flops, "runs": {}}
    for n in settings["threads"]:
        request = {"job": "model", "path": os.path.abspath(path), "threads": n,
                   "warmup": settings["warmup"], "invokes": settings["invokes"],
                   "inputs": inputs}
        try:
            run, stderr = latency.run_child(request, n)
        except RuntimeError as e:
            raise UserError(f"{path}: truncated or corrupt, the interpreter refused it "
                            f"({e})") from None
        run["xnnpack_delegate"] = "XNNPACK delegate" in stderr
        peak = flops_lib.floor_gflops(peaks, n)
        run["floor_gflops"] = peak
        run["floor_ms"] = flops["total"] / (peak * 1e9) * 1e3
        run["floor_fraction_of_median"] = run["floor_ms"] / run["latency_ms"]["median"]
        result["runs"][str(n)] = run
        log(f"{name:<20} {n} thread(s): median {run['latency_ms']['median']:.3f} ms, "
            f"p90 {run['latency_ms']['p90']:.3f} ms, load {run['load_ms']:.1f} ms")
    return result


def run_benchmark(folder: contract.ExportFolder, models: dict, invokes: int = 200,
                  warmup: int = 20, threads=(1, 2), log=print) -> dict:
    """Measures every file of `models` (from `open_folder`); returns the JSON report: format
    version, time, settings, machine, load average before and after, the FLOP convention,
    the float32 peaks by thread count, and per file its bytes, sha256, FLOPs and runs."""
    threads = check_settings(invokes, warmup, threads)
    settings = {"invokes": invokes, "warmup": warmup, "threads": threads}
    report = {"format_version": FORMAT_VERSION,
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds"),
              "export_dir": os.path.abspath(folder.path),
              "settings": settings,
              "machine": latency.machine_info(),
              "load_average_before": list(os.getloadavg()),
              "flop_convention": flops_lib.FLOP_CONVENTION,
              "peak_float32_gflops": {},
              "files": {}}
    for n in threads:
        peak, _ = latency.run_child({"job": "peak", "threads": n}, n)
        report["peak_float32_gflops"][str(n)] = peak
        log(f"float32 matmul peak at {n} thread(s): {peak['gflops']:.1f} GFLOP/s")
    for name, info in models.items():
        report["files"][name] = _measure_file(folder, name, info, report["peak_float32_gflops"],
                                              settings, report, log)
    report["load_average_after"] = list(os.getloadavg())
    return report


def record_in_manifest(export_dir: str, report: dict, json_path: str, log=print) -> None:
    """Each file's summary as `checks.benchmark` (skipped for a file re-exported meanwhile)."""
    for name, result in report["files"].items():
        runs = result["runs"]
        summary = {
            "created": report["created"], "report": os.path.abspath(json_path),
            "cpu": report["machine"]["cpu_model"], "runtime": report["machine"]["runtime"],
            "invokes": report["settings"]["invokes"], "flops": result["flops"]["total"],
            "latency_ms": {n: {"median": round(r["latency_ms"]["median"], 4),
                               "p90": round(r["latency_ms"]["p90"], 4)} for n, r in runs.items()},
            "load_ms": {n: round(r["load_ms"], 2) for n, r in runs.items()},
            "peak_rss_delta_mb": {n: r["peak_rss_delta_mb"] for n, r in runs.items()},
            "floor_ms": {n: r["floor_ms"] for n, r in runs.items()},
        }
        try:
            contract.update_checks(export_dir, name, "benchmark", summary,
                                   expected_sha256=result["sha256"])
        except ValueError as e:
            log(f"warning: not recorded in the manifest: {e}")


def format_table(report: dict) -> str:
    """One row per file: size, load, peak memory, FLOPs, and per thread count median, p90 and
    floor."""
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
