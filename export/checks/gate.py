"""The CI gate: proves what an export folder's manifest claims, one PASS/FAIL line per check.

Library of `python -m export.check` (export/check.py says what each check requires). The task
(from the manifest, through the registry) supplies the parity rules, the GPU comparison and
the metadata check; the folder is opened with `contract.open_export`, which refuses a
truncated, changed or non-TFLite file, or a manifest that does not describe its files (input
shapes, label count), with one line (exit 2). An incomplete export (a listed file missing, a
requested variant without its file, a `.tflite` the manifest does not list, the vocabulary,
labels or check_inputs.npz gone) fails the gate (FAIL complete, exit 1).

    from export.checks.gate import Gate, parse_require
    status = Gate("runs/intents/export", parse_require("parity,nnapi=30")).run()
"""

from __future__ import annotations

import os

import numpy as np

from export import contract
from export.contract import UserError
from export.tflite import reader as tflite_reader
from pipeline import tasks

CHECKS = ("gpu", "nnapi", "parity", "metadata", "size")
GPU_MIN_INPUTS = 50


def parse_require(text: str) -> dict:
    """"gpu,nnapi=30,parity" -> {"gpu": None, "nnapi": 30, "parity": None}."""
    required = {}
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        if name not in CHECKS:
            raise UserError(f"--require: unknown check {name!r}; choose from {', '.join(CHECKS)}")
        if name == "nnapi":
            if not value.isdigit() or int(value) < 1:
                raise UserError(f"--require: nnapi needs an Android API level, e.g. nnapi=30 "
                                f"(got {item!r})")
            required[name] = int(value)
        elif value:
            raise UserError(f"--require: {name} takes no value (got {item!r})")
        else:
            required[name] = None
    return required


class Gate:
    """Runs the checks on one export folder and collects PASS/FAIL lines."""

    def __init__(self, export_dir: str, required: dict, files=None, out=print):
        self.folder = contract.open_export(export_dir, files=files, allow_missing=True)
        self.manifest = self.folder.manifest
        self.task = tasks.get(self.manifest.task, where=f"{self.manifest.path}: task")
        self.export_dir = export_dir
        self.required = required
        self.out = out
        self.failed_required = []
        self.problems = list(self.folder.problems)  # what makes the export incomplete
        # A missing file fails `complete`; there is nothing else to check on it.
        self.files = [n for n in (files or self.manifest.files) if n not in self.folder.missing]

    # -- output --------------------------------------------------------------------------
    def report(self, check: str, name: str, ok: bool, figure: str, gated: bool = True) -> None:
        gated = gated and check in self.required
        word = ("PASS" if ok else "FAIL") if gated else ("ok  " if ok else "note")
        self.out(f"{word} {check:<8} {name:<20} {figure}")
        if gated and not ok:
            self.failed_required.append(f"{check} {name}")

    # -- checks --------------------------------------------------------------------------
    def file_integrity(self, name: str) -> tflite_reader.ModelInfo:
        """Parses (open_export already matched size and digest), builtin ops only, and the
        signature the manifest describes (shapes, label count) is the file's."""
        path = os.path.join(self.export_dir, name)
        try:
            info = tflite_reader.read_model(path)
        except ValueError as e:
            raise UserError(" ".join(str(e).split())) from None
        custom = sorted({op.op for op in info.ops if op.is_custom})
        if custom:
            raise UserError(f"{path}: custom/Flex ops {', '.join(custom)}")
        contract.check_signature(self.manifest, name, info)
        return info

    def folder_integrity(self) -> None:
        """The files beside the models: the task's (vocabulary and labels, or the items file)
        and check_inputs.npz. Missing: the export is incomplete; changed: bad input."""
        expected = list(self.task.bundle_files(self.manifest))
        declared = "check_inputs" in self.manifest.header
        if declared:
            info = self.manifest.get("check_inputs")
            expected.append((info.get("file", contract.CHECK_INPUTS), info.get("sha256")))
        for name, sha in expected:
            path = os.path.join(self.export_dir, name)
            if not os.path.isfile(path):
                self.problems.append(contract.missing_problem(path))
            elif sha is not None and contract.sha256_file(path) != sha:
                raise UserError(f"{path}: sha256 differs from {contract.MANIFEST_NAME} (the "
                                f"file changed after the export); {contract.EXPORT_HINT} again")
        if (declared and os.path.isfile(self.check_inputs_path())
                and self.check_inputs_path().endswith(".npz")):
            self.check_inputs()  # readable, with the signature's inputs (a task's own file
            # format, e.g. the action task's check_commands.json, is read by its own checks)

    def check_complete(self) -> None:
        """Every requested variant and every listed file is there, every .tflite is listed."""
        for problem in self.problems:
            self.out(f"FAIL complete  {problem}")
            self.failed_required.append("complete")
        if not self.problems:
            self.out(f"ok   complete {'-':<20} every requested variant has its file")

    def check_size(self, name: str, entry: dict) -> None:
        size = os.path.getsize(os.path.join(self.export_dir, name))
        budget = self.manifest.size_budget_bytes.get(entry.variant)
        if budget is None:
            self.report("size", name, True, f"{size / 1e6:.3f} MB (no budget for this variant)",
                        gated=False)
            return
        self.report("size", name, size <= budget,
                    f"{size / 1e6:.3f} MB, budget {budget / 1e6:.3f} MB")

    def check_parity(self, name: str, entry: dict) -> None:
        """One line per ParityRule of the file's variant, with the task's reported figures."""
        rules = self.task.rules_for(entry.variant)
        result = entry.checks.get("parity")
        if not rules:
            self.report("parity", name, True, "no parity rule for this variant", gated=False)
            return
        for rule in rules:
            key, op, threshold, wording = rule.key, rule.op, rule.threshold, rule.wording
            if not result or key not in result:
                self.report("parity", name, False, f"no parity result ({key}) in manifest.json; "
                            "re-run export.convert")
                continue
            value = self._parity_number(name, result, key)
            shown = f"{value:.4%}" if op == ">=" else f"{value:+.2f}"
            limit = f"{threshold:.1%}" if op == ">=" else f"{threshold:.1f}"
            count = result.get("examples", result.get("users", "?"))
            figure = (f"{wording} {shown} (need {op} {limit}) on {count} "
                      f"{result.get('split', 'test')} cases")
            reported = [f"{label} {self._parity_number(name, result, k):.2%}"
                        for k, label in self.task.parity_figures
                        if k in result and k not in {r.key for r in rules}]
            if reported and rule is rules[-1]:
                figure += f"; {', '.join(reported)} (reported)"
            self.report("parity", name, rule.passes(value), figure)

    def _parity_number(self, name: str, result: dict, key: str) -> float:
        value = result[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise UserError(f"{self.manifest.path}: files[{name!r}].checks.parity.{key} must be "
                            f"a number, got {value!r}; re-run export.convert")
        return float(value)

    def check_metadata(self, name: str) -> None:
        result = self.task.verify_metadata(self.export_dir, name, self.manifest)
        if result["ok"]:
            figure = result.get("summary") or "metadata with " + ", ".join(
                result.get("associated_files", []) or ["no files"])
        else:
            figure = "; ".join(result.get("problems", []))
        self.report("metadata", name, bool(result["ok"]), figure)

    def check_nnapi(self, name: str, entry: dict) -> None:
        from export.checks import nnapi
        api = self.required.get("nnapi") or nnapi.API_TARGET
        reports = self.task.nnapi_reports(os.path.join(self.export_dir, name), (api,))
        gated = entry.fields.get("graph_target") == "nnapi"
        for signature, summary in reports.items():
            report, lowest = summary["at_api"][str(api)], summary["lowest_clean_api_level"]
            if report["ok"]:
                figure = f"0 of {report['ops']} ops fall back at API {api}"
            else:
                figure = (f"{len(report['fallbacks'])} of {report['ops']} ops fall back at API "
                          f"{api}, {report['partitions']} partition(s); first "
                          f"{report['fallbacks'][0]}")
            figure += f"; lowest clean API level {lowest if lowest else 'none (27-35)'}"
            if signature:
                figure = f"{signature}: {figure}"
            if not gated:
                figure += " (GPU graph: not gated)"
            self.report("nnapi", name, report["ok"], figure, gated=gated)

    def gpu_files(self, names: list) -> tuple:
        """(the float files among `names`, the GPU adapter's description), or ([], "") after
        reporting why none can run: no float file, or no GPU backend here."""
        from export.checks import gpu
        floats = [n for n in names if self.manifest.files[n].variant in ("fp32", "fp16")]
        if not floats:
            self.report("gpu", "-", False, "no float file (fp32, fp16) to run on the GPU")
            return [], ""
        available, why = gpu.gpu_available()
        if not available:
            for name in floats:
                self.report("gpu", name, False, f"not run: {why}")
            return [], ""
        return floats, why

    def check_gpu(self, names: list) -> None:
        from export.checks import gpu
        if self.task.check_gpu(self, names):  # a task with its own GPU check (the action LM)
            return
        floats, why = self.gpu_files(names)
        if not floats:
            return
        if not os.path.isfile(self.check_inputs_path()):
            for name in floats:  # check_complete fails the export for it too
                self.report("gpu", name, False, f"not run: {self.check_inputs_path()} is "
                            "missing; re-run export.convert")
            return
        inputs, labels = self.check_inputs()
        if len(inputs) < GPU_MIN_INPUTS:
            for name in floats:
                self.report("gpu", name, False, f"only {len(inputs)} saved inputs, need "
                            f"{GPU_MIN_INPUTS}; re-run export.convert")
            return
        for name in floats:
            path = os.path.join(self.export_dir, name)
            for enforce_f32 in (True, False):
                # Raw scores (task.gpu_relative), not probabilities: the tolerance is then per
                # unit of the largest |score| (fp16 keeps ~1e-3 relative precision).
                result = gpu.check_gpu(path, inputs, enforce_f32=enforce_f32,
                                       relative=self.task.gpu_relative, labels=labels,
                                       top_k=self.task.gpu_top_k)
                gpu.record(self.export_dir, result)
                mode = "enforce_f32" if enforce_f32 else "default precision"
                if result.ok and not enforce_f32:
                    change = result.accuracy_change_points
                    figure = (f"fully accelerated; {mode}: top-{result.top_k} agreement "
                              f"{result.agreement:.2%} "
                              f"(need >= {gpu.MIN_AGREEMENT_DEFAULT:.1%}), accuracy change "
                              f"{change:+.2f} pts over {result.num_inputs} inputs; max |Δ| "
                              f"{result.max_abs_diff:.2g} (reported)")
                elif result.ok:
                    limit = (f"{result.tolerance:g} x max |score| "
                             f"{max(1.0, result.max_abs_reference):.3g}" if result.relative
                             else f"{result.tolerance:g}")
                    figure = (f"fully accelerated ({why}); {mode}: max |Δ| "
                              f"{result.max_abs_diff:.2g} ≤ {limit} over "
                              f"{result.num_inputs} inputs")
                else:
                    figure = f"{mode}: {result.error}"
                self.report("gpu", name, result.ok, figure)

    def check_inputs_path(self) -> str:
        """Where the manifest says the saved evaluation inputs are."""
        info = self.manifest.get("check_inputs") or {}
        return os.path.join(self.export_dir, info.get("file", contract.CHECK_INPUTS))

    def check_inputs(self) -> list:
        info = self.manifest.get("check_inputs") or {}
        path = self.check_inputs_path()
        if not os.path.isfile(path):
            raise UserError(f"{path}: not found (export.convert saves the evaluation inputs "
                           "there); re-run export.convert")
        if info.get("sha256") and contract.sha256_file(path) != info["sha256"]:
            raise UserError(f"{path}: sha256 differs from manifest.json; re-run export.convert")
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as e:  # numpy raises OSError, ValueError, BadZipFile, EOFError...
            reason = " ".join(str(e).split())[:200] or type(e).__name__
            raise UserError(f"{path}: not a readable npz file ({reason}); re-run "
                            "export.convert") from None
        names = [t["name"] for t in self.manifest.get("inputs", [])]
        missing = [n for n in names if n not in arrays]
        if not names or missing:
            raise UserError(f"{path}: lacks inputs {missing or '(manifest lists none)'}")
        count = len(arrays[names[0]])
        return ([{n: arrays[n][i:i + 1].astype(np.int32) for n in names} for i in range(count)],
                arrays.get("labels"))

    def run(self) -> int:
        for name in self.files:
            self.file_integrity(name)
        self.folder_integrity()
        self.check_complete()
        for name in self.files:
            entry = self.manifest.files[name]
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


