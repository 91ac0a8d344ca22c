"""The CI gate: proves what an export folder's manifest claims, one PASS/FAIL line per check.

    python -m export.check runs/intents/export --require gpu,nnapi=30,parity,metadata,size

Checks (each file of the manifest, or those named by `--files`):
  gpu       float files (fp32, fp16): compiled for LiteRT's GPU backend alone, every op on the
            GPU (`is_fully_accelerated()`), then run on the saved evaluation inputs
            (check_inputs.npz, at least 50) beside the CPU: max |Δ| ≤ 1e-4 with
            GpuOptions(enforce_f32=True) and ≤ 2e-3 at default (fp16) precision (recommenders,
            whose outputs are raw scores: per unit of the largest |score|). Needs a GPU or
            `eval "$(../shared/tools/lavapipe-gpu/setup.sh)"`; without any adapter it FAILs
            saying so. Results are recorded in the manifest (checks.gpu, checks.gpu_f32).
  nnapi=API the file meant for NNAPI (int8_full, traced for NNAPI) has no op that the NNAPI
            delegate would leave on the CPU at Android API level API (static rules of
            export/checks/nnapi.py); other files are reported, not gated.
  parity    convert's figures on the whole evaluation split, for the file as it is now
            (sha256 unchanged): fp32 top-1 agreement ≥ 99.9 %, fp16 ≥ 99.5 %, int8 accuracy
            drop ≤ 1.0 point; recommenders: top-10 lists identical ≥ 99 % (fp32), fp16 and
            int8 HR@10 drop ≤ 1.0 point and int8 top-10 overlap with the Keras model
            (mean |A∩B|/10) ≥ 0.9.
  metadata  classifiers: TFLite metadata with the tokenizer and label files packed in
            (export/metadata/); recommenders (no metadata schema fits them): the items file
            beside the model matches the manifest's items_sha256.
  size      each int8 file within the config's budget (manifest size_budget_bytes).
Every file is always checked to match its manifest sha256 and to be builtin-ops only.

Every export is also checked to be complete: each file the manifest lists (and the vocabulary,
labels or items file, and check_inputs.npz) is there, each variant it says was requested has
its file and no unlisted `.tflite` lies beside them (else FAIL complete).

Exit status: 0 when every required check passes, 1 when one fails (or the export is
incomplete), 2 on bad input (no manifest, a truncated, changed or non-TFLite file, a manifest
that does not describe its files, an unknown check or flag): one line, no traceback.
Library: export/checks/gate.py (`Gate(export_dir, parse_require(text)).run()`).
"""


from __future__ import annotations

import sys

from export import contract
from export.checks.gate import Gate, parse_require
from export.contract import UserError
from pipeline.errors import exit_with


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m export.check", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("export_dir", help="a folder written by python -m export.convert")
    parser.add_argument("--require", default="gpu,nnapi=30,parity,metadata,size",
                        help="comma-separated checks that must pass: gpu, nnapi=<api>, parity, "
                             "metadata, size (default: all, NNAPI at API 30)")
    parser.add_argument("--files", default="", help="comma-separated file names (default: all "
                        "files of the manifest)")
    # argparse's own usage errors: one `error:` line and exit 2, as every command's.
    parser.error = lambda message: exit_with(UserError(message))
    args = parser.parse_args(argv)
    try:
        required = parse_require(args.require)
        files = [f.strip() for f in args.files.split(",") if f.strip()]
        return Gate(args.export_dir, required, files).run()
    except UserError as e:
        exit_with(e)
    except OSError as e:  # recording the GPU results in a read-only or full export folder
        exit_with(contract.cannot_write(e.filename or args.export_dir, e))


if __name__ == "__main__":
    sys.exit(main())
