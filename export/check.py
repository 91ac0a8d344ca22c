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
            export/nnapi.py); other files are reported, not gated.
  parity    convert's figures on the whole evaluation split, for the file as it is now
            (sha256 unchanged): fp32 top-1 agreement ≥ 99.9 %, fp16 ≥ 99.5 %, int8 accuracy
            drop ≤ 1.0 point; recommenders: top-10 lists identical ≥ 99 % (fp32), fp16 and
            int8 HR@10 drop ≤ 1.0 point.
  metadata  classifiers: TFLite metadata with the tokenizer and label files packed in
            (export/metadata.py); recommenders (no metadata schema fits them): the items file
            beside the model matches the manifest's items_sha256.
  size      each int8 file within the config's budget (manifest size_budget_bytes).
Every file is always checked to match its manifest sha256 and to be builtin-ops only.

Exit status: 0 when every required check passes, 1 when one fails, 2 on bad input (no
manifest, a missing, truncated or non-TFLite file, an unknown check): one line, no traceback.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from export import manifest as manifest_lib
from export import tflite_io

CHECKS = ("gpu", "nnapi", "parity", "metadata", "size")
GPU_MIN_INPUTS = 50
PARITY_RULES = {
    # variant: (key in checks.parity, comparison, threshold, wording)
    "fp32": ("top1_agreement", ">=", 0.999, "top-1 agreement"),
    "fp16": ("top1_agreement", ">=", 0.995, "top-1 agreement"),
    "int8_dynamic": ("accuracy_drop_points", "<=", 1.0, "accuracy drop (points)"),
    "int8_full": ("accuracy_drop_points", "<=", 1.0, "accuracy drop (points)"),
}
RECOMMENDER_PARITY_RULES = {
    "fp32": ("top10_identical", ">=", 0.99, "top-10 lists identical"),
    "fp16": ("hr10_drop_points", "<=", 1.0, "HR@10 drop (points)"),
    "int8_dynamic": ("hr10_drop_points", "<=", 1.0, "HR@10 drop (points)"),
    "int8_full": ("hr10_drop_points", "<=", 1.0, "HR@10 drop (points)"),
}


class BadInput(Exception):
    """A user mistake: reported as one line with exit code 2."""


def parse_require(text: str) -> dict:
    """"gpu,nnapi=30,parity" -> {"gpu": None, "nnapi": 30, "parity": None}."""
    required = {}
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        if name not in CHECKS:
            raise BadInput(f"--require: unknown check {name!r}; choose from {', '.join(CHECKS)}")
        if name == "nnapi":
            if not value.isdigit():
                raise BadInput(f"--require: nnapi needs an Android API level, e.g. nnapi=30 "
                               f"(got {item!r})")
            required[name] = int(value)
        elif value:
            raise BadInput(f"--require: {name} takes no value (got {item!r})")
        else:
            required[name] = None
    return required


class Gate:
    """Runs the checks on one export folder and collects PASS/FAIL lines."""

    def __init__(self, export_dir: str, required: dict, files=None, out=print):
        if not os.path.isdir(export_dir):
            raise BadInput(f"{export_dir}: no such export folder (python -m export.convert "
                           "writes <workdir>/export)")
        path = manifest_lib.manifest_path(export_dir)
        if not os.path.isfile(path):
            raise BadInput(f"{path}: not found; convert first with python -m export.convert")
        try:
            self.manifest = manifest_lib.read_manifest(export_dir)
        except ValueError as e:
            raise BadInput(str(e)) from None
        self.export_dir = export_dir
        self.required = required
        self.out = out
        self.failed_required = []
        names = list(self.manifest["files"])
        if files:
            unknown = [f for f in files if f not in names]
            if unknown:
                raise BadInput(f"{path}: no entry for {', '.join(unknown)} "
                               f"(it lists {', '.join(names) or 'no files'})")
            names = list(files)
        if not names:
            raise BadInput(f"{path}: lists no exported files; convert first")
        self.files = names
        self.recommender = self.manifest.get("task") == "next_item"

    # -- output --------------------------------------------------------------------------
    def report(self, check: str, name: str, ok: bool, figure: str, gated: bool = True) -> None:
        gated = gated and check in self.required
        word = ("PASS" if ok else "FAIL") if gated else ("ok  " if ok else "note")
        self.out(f"{word} {check:<8} {name:<20} {figure}")
        if gated and not ok:
            self.failed_required.append(f"{check} {name}")

    # -- checks --------------------------------------------------------------------------
    def file_integrity(self, name: str) -> tflite_io.ModelInfo:
        """Exists, matches its manifest digest, parses, builtin ops only: else BadInput."""
        path = os.path.join(self.export_dir, name)
        entry = self.manifest["files"][name]
        if not os.path.isfile(path):
            raise BadInput(f"{path}: listed in manifest.json but missing; re-run export.convert")
        try:
            info = tflite_io.read_model(path)
        except ValueError as e:
            raise BadInput(" ".join(str(e).split())) from None
        if manifest_lib.sha256_file(path) != entry.get("sha256"):
            raise BadInput(f"{path}: sha256 differs from manifest.json (file changed after "
                           "export.convert); re-run export.convert")
        custom = sorted({op.op for op in info.ops if op.is_custom})
        if custom:
            raise BadInput(f"{path}: custom/Flex ops {', '.join(custom)}")
        return info

    def check_size(self, name: str, entry: dict) -> None:
        budgets = self.manifest.get("size_budget_bytes", {})
        size = os.path.getsize(os.path.join(self.export_dir, name))
        budget = budgets.get(entry.get("variant"))
        if budget is None:
            self.report("size", name, True, f"{size / 1e6:.3f} MB (no budget for this variant)",
                        gated=False)
            return
        self.report("size", name, size <= budget,
                    f"{size / 1e6:.3f} MB, budget {budget / 1e6:.3f} MB")

    def check_parity(self, name: str, entry: dict) -> None:
        rules = RECOMMENDER_PARITY_RULES if self.recommender else PARITY_RULES
        rule = rules.get(entry.get("variant"))
        result = entry.get("checks", {}).get("parity")
        if rule is None:
            self.report("parity", name, True, "no parity rule for this variant", gated=False)
            return
        key, op, threshold, wording = rule
        if not result or key not in result:
            self.report("parity", name, False, f"no parity result ({key}) in manifest.json; "
                        "re-run export.convert")
            return
        value = float(result[key])
        ok = value >= threshold if op == ">=" else value <= threshold
        shown = f"{value:.4%}" if op == ">=" else f"{value:+.2f}"
        limit = f"{threshold:.1%}" if op == ">=" else f"{threshold:.1f}"
        count = result.get("examples", result.get("users", "?"))
        self.report("parity", name, ok, f"{wording} {shown} (need {op} {limit}) on "
                    f"{count} {result.get('split', 'test')} cases")

    def check_metadata(self, name: str) -> None:
        if self.recommender:
            items = self.manifest.get("items_file", "items.csv")
            path = os.path.join(self.export_dir, items)
            if not os.path.isfile(path):
                self.report("metadata", name, False, f"{items} missing beside the model")
            elif manifest_lib.sha256_file(path) != self.manifest.get("items_sha256"):
                self.report("metadata", name, False, f"{items} differs from manifest items_sha256")
            else:
                self.report("metadata", name, True, f"{items} matches the manifest (recommenders "
                            "carry no TFLite metadata)")
            return
        from export import metadata as metadata_lib
        result = metadata_lib.verify(os.path.join(self.export_dir, name))
        figure = "; ".join(result.get("problems", [])) if not result["ok"] else \
            "metadata with " + ", ".join(result.get("associated_files", []) or ["no files"])
        self.report("metadata", name, bool(result["ok"]), figure)

    def check_nnapi(self, name: str, entry: dict) -> None:
        from export import nnapi
        api = self.required.get("nnapi") or nnapi.API_TARGET
        summary = nnapi.summary(os.path.join(self.export_dir, name), (api,))
        report, lowest = summary["at_api"][str(api)], summary["lowest_clean_api_level"]
        gated = entry.get("graph_target") == "nnapi"
        if report["ok"]:
            figure = f"0 of {report['ops']} ops fall back at API {api}"
        else:
            figure = (f"{len(report['fallbacks'])} of {report['ops']} ops fall back at API {api}, "
                      f"{report['partitions']} partition(s); first {report['fallbacks'][0]}")
        figure += f"; lowest clean API level {lowest if lowest else 'none (27-35)'}"
        if not gated:
            figure += " (GPU graph: not gated)"
        self.report("nnapi", name, report["ok"], figure, gated=gated)

    def check_gpu(self, names: list) -> None:
        from export import gpu
        floats = [n for n in names
                  if self.manifest["files"][n].get("variant") in ("fp32", "fp16")]
        if not floats:
            self.report("gpu", "-", False, "no float file (fp32, fp16) to run on the GPU")
            return
        available, why = gpu.gpu_available()
        if not available:
            for name in floats:
                self.report("gpu", name, False, f"not run: {why}")
            return
        inputs = self.check_inputs()
        if len(inputs) < GPU_MIN_INPUTS:
            for name in floats:
                self.report("gpu", name, False, f"only {len(inputs)} saved inputs, need "
                            f"{GPU_MIN_INPUTS}; re-run export.convert")
            return
        for name in floats:
            path = os.path.join(self.export_dir, name)
            for enforce_f32 in (True, False):
                # Recommenders output raw scores, not probabilities: the tolerance is then
                # per unit of the largest |score| (fp16 keeps ~1e-3 relative precision).
                result = gpu.check_gpu(path, inputs, enforce_f32=enforce_f32,
                                       relative=self.recommender)
                gpu.record(self.export_dir, result)
                mode = "enforce_f32" if enforce_f32 else "default precision"
                if result.ok:
                    limit = (f"{result.tolerance:g} x max |score| "
                             f"{max(1.0, result.max_abs_reference):.3g}" if result.relative
                             else f"{result.tolerance:g}")
                    figure = (f"fully accelerated ({why}); {mode}: max |Δ| "
                              f"{result.max_abs_diff:.2g} ≤ {limit} over "
                              f"{result.num_inputs} inputs")
                else:
                    figure = f"{mode}: {result.error}"
                self.report("gpu", name, result.ok, figure)

    def check_inputs(self) -> list:
        info = self.manifest.get("check_inputs") or {}
        path = os.path.join(self.export_dir, info.get("file", "check_inputs.npz"))
        if not os.path.isfile(path):
            raise BadInput(f"{path}: not found (export.convert saves the evaluation inputs "
                           "there); re-run export.convert")
        if info.get("sha256") and manifest_lib.sha256_file(path) != info["sha256"]:
            raise BadInput(f"{path}: sha256 differs from manifest.json; re-run export.convert")
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as e:
            raise BadInput(f"{path}: not a readable npz file ({e})") from None
        names = [t["name"] for t in self.manifest.get("inputs", [])]
        missing = [n for n in names if n not in arrays]
        if not names or missing:
            raise BadInput(f"{path}: lacks inputs {missing or '(manifest lists none)'}")
        count = len(arrays[names[0]])
        return [{n: arrays[n][i:i + 1].astype(np.int32) for n in names} for i in range(count)]

    def run(self) -> int:
        for name in self.files:
            self.file_integrity(name)
        for name in self.files:
            entry = self.manifest["files"][name]
            if "size" in self.required:
                self.check_size(name, entry)
            if "parity" in self.required:
                self.check_parity(name, entry)
            if "metadata" in self.required:
                self.check_metadata(name)
            if "nnapi" in self.required:
                self.check_nnapi(name, entry)
        if "gpu" in self.required:
            self.check_gpu(self.files)
        if self.failed_required:
            self.out(f"FAILED {len(self.failed_required)} required check(s): "
                     f"{', '.join(self.failed_required)}")
            return 1
        self.out(f"all required checks passed ({', '.join(self.required) or 'none'}) on "
                 f"{len(self.files)} file(s)")
        return 0


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
    args = parser.parse_args(argv)
    try:
        required = parse_require(args.require)
        files = [f.strip() for f in args.files.split(",") if f.strip()]
        return Gate(args.export_dir, required, files).run()
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
