"""The task interface: every task-specific part of every command, as hooks of one class.

Commands look the task up once (`pipeline.tasks.get(name)`, the name from the config, the
workdir's config.json or the export's manifest) and call these hooks; none of them branches on
the kind of task. Shared code does the rest: the fit loop and stage runner
(`pipeline.training`), conversion (`export.conversion`), the gate (`export.checks`), golden
vectors and the app bundle (`export.app`). A task fills in:

* training: `default_config`, `validate_config`, `train`, `evaluate`;
* export (`ExportSpec` hooks, below): the signature's inputs and output, what the workdir must
  hold, how the model is served and evaluated, calibration inputs, the manifest header, the
  associated files and metadata, parity and its gate rules;
* the app: golden cases and which files the app bundle carries.
"""

from __future__ import annotations

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class ParityRule:
    """`checks.parity[key] <op> threshold` for one variant; `wording` names it on the line."""
    key: str
    op: str  # ">=" or "<="
    threshold: float
    wording: str

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold


class Task:
    """One task (`config.task`). Subclasses set the attributes and write `train`/`evaluate`;
    the export and app hooks call the functions of the same names in the modules named by
    `export_spec` and `app` (imported on first use)."""

    name: str = ""
    export_spec: str = ""  # module with load_export, serve, evaluation, ... (hooks below)
    app: str = ""          # module with golden and bundle_files
    # The signature every exported file has: int32 [1, L] inputs, one float32 output.
    input_names: tuple = ()
    output_name: str = ""
    # Files `train` writes in the workdir besides config.json and model.keras.
    workdir_files: tuple = ()
    # The gate: variant -> ParityRule, or a tuple of them (every one must hold; see
    # `rules_for`); `parity_figures`: (key, wording) of checks.parity figures the parity line
    # of every file reports, ungated. GPU differences per unit of the largest |output| when
    # outputs are raw scores rather than probabilities.
    parity_rules: dict = {}
    parity_figures: tuple = ()
    gpu_relative: bool = False
    gpu_top_k: int = 1  # default GPU precision is gated on top-k agreement with the CPU
    # The app: the asset folder name of this task's models (android_demo reads it).
    bundle_name: str = ""
    # The variants this task exports (export.convert's default and what it accepts).
    variants: tuple = ("fp32", "fp16", "int8_dynamic", "int8_full")

    def rules_for(self, variant: str) -> tuple:
        """The ParityRules of one variant's file, () when it has none."""
        rules = self.parity_rules.get(variant)
        if rules is None:
            return ()
        return (rules,) if isinstance(rules, ParityRule) else tuple(rules)

    # -- training ----------------------------------------------------------------------------
    def default_config(self):
        """The task's config with every field and its default (configs/*.py start here)."""
        raise NotImplementedError

    def validate_config(self, config) -> None:
        """UserError naming `--config.<field>` for any value out of range (the shared rules
        and the task's own `RULES` and `cross_check` in its config module)."""
        from pipeline import config_defaults
        config_defaults.validate(config)

    def train(self, config, workdir: str, started: float) -> None:
        """Trains from data to `<workdir>/model.keras` and `metrics.json`; resumable."""
        raise NotImplementedError

    def evaluate(self, config, workdir: str, started: float) -> None:
        """Recomputes `metrics.json` from the workdir's model(s)."""
        raise NotImplementedError

    # -- export ------------------------------------------------------------------------------
    def load_export(self, workdir: str, config, model, model_path: str) -> dict:
        """The task's part of the work dict convert uses: it must give `sequence_length` (the
        inputs' L) and `output_size` (the output's width); UserError naming a bad file."""
        return self._hooks(self.export_spec).load_export(workdir, config, model, model_path)

    def serve(self, model):
        """The SavedModel endpoint: fn(*inputs in input_names order) -> {output_name: ...}."""
        return self._hooks(self.export_spec).serve(model)

    def evaluation(self, work: dict) -> dict:
        """The split parity is measured on: {"inputs": {name: [n, L]}, "expected": Keras
        outputs [n, C], "labels": [n], ...}."""
        return self._hooks(self.export_spec).evaluation(work)

    def representative(self, work: dict, count: int) -> dict:
        """Calibration inputs for int8_full: {name: [count, L]}, seeded."""
        return self._hooks(self.export_spec).representative(work, count)

    def header(self, work: dict) -> dict:
        """The task's manifest header fields (convert adds the shared ones)."""
        return self._hooks(self.export_spec).header(work)

    def associated_files(self, work: dict) -> dict:
        """{file name in the export folder: source path} copied beside the models."""
        return self._hooks(self.export_spec).associated_files(work)

    def pack(self, data: bytes, work: dict) -> bytes:
        """The .tflite bytes with TFLite metadata packed in (or unchanged)."""
        return self._hooks(self.export_spec).pack(data, work)

    def verify_metadata(self, export_dir: str, name: str, manifest) -> dict:
        """The metadata check of one exported file: {"ok": bool, "problems": [...], ...}."""
        return self._hooks(self.export_spec).verify_metadata(export_dir, name, manifest)

    def parity(self, path: str, evaluation: dict) -> dict:
        """`checks.parity` of one file against the Keras model on `evaluation`."""
        return self._hooks(self.export_spec).parity(path, evaluation)

    def summary(self, parity: dict) -> str:
        """One log line of a parity result."""
        return self._hooks(self.export_spec).summary(parity)

    # Hooks with a shared default (a one-signature file): the spec module may define its own.
    def convert(self, work: dict, variant: str, path: str, graphs, representative) -> dict:
        """Writes the variant's `.tflite` at `path`; returns its manifest fields."""
        spec = self._hooks(self.export_spec)
        if hasattr(spec, "convert"):
            return spec.convert(work, variant, path, graphs, representative)
        from export.conversion import export_folder
        return export_folder.convert_one_signature(work, variant, path, graphs, representative)

    def write_check_inputs(self, export_dir: str, evaluation: dict, count: int) -> dict:
        """Saves the inputs the gate runs the files on; returns the manifest's entry."""
        spec = self._hooks(self.export_spec)
        if hasattr(spec, "write_check_inputs"):
            return spec.write_check_inputs(export_dir, evaluation, count)
        from export.conversion import export_folder
        return export_folder.write_check_inputs(export_dir, evaluation, count)

    def nnapi_reports(self, path: str, api_levels=None) -> dict:
        """{signature or "": NNAPI summary} of a file (one entry for a one-signature file)."""
        from export.checks import nnapi
        spec = self._hooks(self.export_spec)
        levels = tuple(api_levels or (nnapi.API_TARGET,))
        if hasattr(spec, "nnapi_reports"):
            return spec.nnapi_reports(path, levels)
        return {"": nnapi.summary(path, levels)}

    def check_gpu(self, gate, names: list) -> bool:
        """Runs the task's own GPU check through `gate`; False: the gate's shared one applies."""
        spec = self._hooks(self.export_spec)
        if not hasattr(spec, "check_gpu"):
            return False
        spec.check_gpu(gate, names)
        return True

    # -- the app -----------------------------------------------------------------------------
    def golden(self, export_dir: str, manifest, seed: int, eval_texts=None) -> dict:
        """{section name: golden cases} for app ports (export.app.golden writes the file)."""
        return self._hooks(self.app).golden(export_dir, manifest, seed, eval_texts)

    def bundle_files(self, manifest) -> list:
        """[(file name, expected sha256 or None)] the app bundle carries besides the models."""
        return self._hooks(self.app).bundle_files(manifest)

    @staticmethod
    def _hooks(module: str):
        return importlib.import_module(module)
