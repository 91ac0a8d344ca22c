"""CPU benchmark of an export folder's `.tflite` files: size, load, latency, memory, FLOPs.

    python -m export.benchmark runs/intents/export [--invokes=200] [--warmup=20] \\
        [--threads=1,2] [--json_out=runs/intents/export/benchmark.json]

For each file listed in the folder's `manifest.json`, and each thread count:
  * load time: the interpreter built and its tensors allocated (LiteRT applies its default CPU
    delegate, XNNPACK, there; the delegate's log line is checked and recorded), then the first
    invoke on its own (XNNPACK packs some weights lazily);
  * latency: `--warmup` invokes, then `--invokes` timed one by one: median, p90 (numpy linear
    interpolation), mean, min, max;
  * peak memory: each (file, threads) runs in a fresh child process; VmHWM after the load and
    all invokes minus VmRSS before the load (export/measure/latency.py);
  * FLOPs per inference, counted from the flatbuffer's ops and tensor shapes, and the floor
    they imply: FLOPs divided by this machine's measured dense float32 matmul rate at the same
    thread count (numpy/OpenBLAS in a child with OPENBLAS_NUM_THREADS set; the convention and
    the peak are in export/measure/flops.py);
  * delegation: how many partitions XNNPACK took and which ops it left to builtin kernels.
The folder is opened with `contract.open_export`: a missing, truncated or changed file stops
the command with one `error:` line (exit 2) before anything is measured. The JSON (default
`<export dir>/benchmark.json`, written atomically) also records the machine (CPU, cores,
runtime versions, load average) and each file's summary goes into the manifest as
`checks.benchmark`. Timing on a machine shared with other work is noisy, the 2-thread figures
most: compare with the load average recorded. The library is export/measure/.
"""

from __future__ import annotations

import os

from export import contract
from export.contract import UserError
from export.measure import report as report_lib


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

    FLAGS = flags.FLAGS
    if len(argv) != 2:
        raise UserError("usage: python -m export.benchmark <export dir> [--invokes=200] "
                        f"[--threads=1,2] (got {len(argv) - 1} positional arguments)")
    export_dir = argv[1]
    try:
        threads = [int(t) for t in FLAGS.threads]
    except ValueError:
        raise UserError(f"--threads={','.join(FLAGS.threads)}: expected integers, e.g. 1,2") from None
    threads = report_lib.check_settings(FLAGS.invokes, FLAGS.warmup, threads)
    if contract.read_manifest(export_dir).get("task") == "action":
        raise UserError(f"{export_dir}: an action model (prefill and decode signatures, one "
                        "invoke per token): measure it with python benchmarks/generation.py "
                        "--workdirs=<its workdir>")
    folder, models = report_lib.open_folder(export_dir)
    json_path = FLAGS.json_out or os.path.join(export_dir, "benchmark.json")
    out_dir = os.path.dirname(os.path.abspath(json_path))
    contract.check_output_file(json_path, "--json_out", "benchmark.json")
    # Minutes of measuring must not end in a write that fails: try the folders first.
    contract.require_writable(out_dir, f"--json_out={json_path}" if FLAGS.json_out else json_path)
    if FLAGS.record_in_manifest:
        contract.require_writable(export_dir, contract.manifest_path(export_dir))
    report = report_lib.run_benchmark(folder, models, FLAGS.invokes, FLAGS.warmup, threads)
    print(report_lib.format_table(report))
    print(f"load average (1, 5, 15 min) before {report['load_average_before']}, after "
          f"{report['load_average_after']}; {report['machine']['cpu_model']}, "
          f"{report['machine']['usable_cpus']} usable CPUs, {report['machine']['runtime']}")
    try:
        contract.write_json_atomic(report, json_path)
        if FLAGS.record_in_manifest:
            report_lib.record_in_manifest(export_dir, report, json_path)
    except OSError as e:  # the disk filled while measuring: the old files are unchanged
        raise contract.cannot_write(e.filename or json_path, e) from None
    print(f"wrote {json_path}")


if __name__ == "__main__":
    from pipeline import cli
    define_flags()
    cli.run(main)
