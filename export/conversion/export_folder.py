"""`<workdir>/export/`, written whole: every requested variant, its checks, and the manifest.

    from export.conversion.export_folder import export_workdir
    outcome = export_workdir("runs/intents", variants=["fp32", "int8_full"])

The new export is built in a staging folder beside it (`<workdir>/.export.tmp-<pid>/`): files
of the previous export that this run does not redo, from the same model and still matching
their digests, are copied in; each requested variant is converted, packed with the task's
metadata, checked (metadata, parity on the task's evaluation split, NNAPI report) and written;
then the manifest, which records the requested variants, and the golden vectors. Only then are
the folders swapped (`contract.swap_in`: one atomic exchange, or old export renamed aside and
staging renamed in), and the old one removed, so an export is complete or absent however the
run ends; leftovers of a killed run are removed by the next. A variant that fails leaves no
file and no entry; the run still writes the others and reports it (the manifest still lists it
as requested, so the gate fails the incomplete export). A write the machine refuses (full
disk, read-only workdir, file size limit) stops the whole run with one line and changes
nothing.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time

import numpy as np

from export import contract, graph_shaping
from export.contract import UserError
from export.conversion import float_head
from export.conversion import variants as variants_lib
from export.tflite import reader as tflite_reader
from pipeline import tasks
from pipeline.workdir import load_model, read_config, require_files

VARIANTS = contract.VARIANTS


def load_workdir(workdir: str, data_dir: str | None = None) -> dict:
    """Config, task, model and evaluation data of a workdir; UserError naming a bad file.

    Shared: the folder, config.json, model.keras (a complete, loadable archive); the task's
    `load_export` reads its own files and checks the model's inputs and outputs."""
    config = read_config(workdir)
    task = tasks.get(config.get("task"), where=os.path.join(workdir, "config.json") + ": task")
    if data_dir:
        config.data.dir = data_dir
    require_files(workdir, (*task.workdir_files, "model.keras"))
    model_path = os.path.join(workdir, "model.keras")
    model = load_model(model_path)
    work = {"workdir": workdir, "config": config, "task": task, "model_path": model_path,
            "model": model}
    work.update(task.load_export(workdir, config, model, model_path))
    return work


def _check_arguments(variants, representative_examples: int, known=VARIANTS) -> list:
    variants = list(dict.fromkeys(v.strip() for v in variants if v.strip()))
    unknown = [v for v in variants if v not in known]
    if unknown or not variants:
        raise UserError(f"--variants={','.join(variants)}: unknown variant(s) "
                        f"{', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    if "int8_full" in variants and not 1 <= representative_examples <= 100_000:
        raise UserError(f"--representative_examples={representative_examples}: int8_full needs "
                        "1 to 100000 (e.g. 200)")
    return variants


def _clean_leftovers(workdir: str) -> None:
    """Staging and set-aside folders of killed runs (never the export itself, nor the
    staging folder of a run still going)."""
    for pattern in (".export.tmp-*", ".export.old-*"):
        contract.remove_dead_folders(workdir, pattern)


def _check_destination(workdir: str) -> None:
    """Before minutes of work: the workdir takes new files and its export is a folder."""
    if not workdir or not os.path.isdir(workdir):
        return  # load_workdir says what is wrong with it
    export_dir = os.path.join(workdir, contract.EXPORT_SUBDIR)
    if os.path.lexists(export_dir) and not os.path.isdir(export_dir):
        raise UserError(f"{export_dir}: is a file, not an export folder; move it away (convert "
                        "writes the export there)")
    contract.require_writable(workdir, f"--workdir={workdir}")


def _environment_error(e: Exception) -> bool:
    """A failure of the machine (full disk, read-only folder, file size limit), not of the
    variant: it stops the whole run, which then changes nothing."""
    text = str(e)
    return any(os.strerror(code) in text for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG,
                                                      errno.EROFS))


def _kept_entries(export_dir: str, staging: str, model_sha256: str, length: int,
                  redo: set) -> dict:
    """Entries of the previous export that stay valid (same model, file unchanged), with their
    files copied into `staging`."""
    try:
        old = contract.read_manifest(export_dir)
    except UserError:
        return {}
    kept = {}
    for name, entry in old.get("files", {}).items():
        path = os.path.join(export_dir, name)
        if (name not in redo and os.path.isfile(path)
                and entry.get("source_model_sha256") == model_sha256
                and old.get("sequence_length") == length
                and entry.get("sha256") == contract.sha256_file(path)):
            contract.copy_atomic(path, os.path.join(staging, name))
            kept[name] = entry
    return kept


def _shared_header(work: dict, model_sha256: str, requested: list) -> dict:
    config, task = work["config"], work["task"]
    export_config = config.get("export", {})
    return {
        "format_version": contract.FORMAT_VERSION,
        "name": export_config.get("name", ""),
        "description": export_config.get("description", ""),
        "version": export_config.get("version", ""),
        "author": export_config.get("author", ""),
        "license": export_config.get("license", ""),
        "task": task.name,
        "variants": requested,
        "sequence_length": work["sequence_length"],
        **task.header(work),
        "size_budget_bytes": {v: int(float(export_config.get("int8_budget_mb", 2.0)) * 1_000_000)
                              for v in ("int8_dynamic", "int8_full")},
        "signature": contract.SIGNATURE_KEY,
        "source": {"model": os.path.abspath(work["model_path"]), "model_sha256": model_sha256},
    }


def write_check_inputs(export_dir: str, evaluation: dict, count: int) -> dict:
    """Saves the first `count` evaluation examples (inputs, the Keras outputs as `expected`,
    `labels`) as check_inputs.npz, so export.check runs the files on real inputs without
    TensorFlow or the dataset; returns the manifest's `check_inputs` entry."""
    count = min(int(count), len(evaluation["expected"]))
    arrays = {name: np.asarray(value[:count]) for name, value in evaluation["inputs"].items()}
    arrays["expected"] = np.asarray(evaluation["expected"][:count], np.float32)
    arrays["labels"] = np.asarray(evaluation["labels"][:count])
    path = os.path.join(export_dir, contract.CHECK_INPUTS)
    with contract.atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return {"file": contract.CHECK_INPUTS, "examples": count, "split": "test",
            "sha256": contract.sha256_file(path)}


def convert_one_signature(work, variant, path, graphs, representative) -> dict:
    """A one-signature task's file: the variant converted from its graph target's SavedModel,
    packed with the task's metadata, written at `path`; returns its manifest fields."""
    task = work["task"]
    target = graphs(variant)
    data = variants_lib.convert_variant(
        target["saved_model"], variant, work["sequence_length"], work["output_size"],
        task.input_names, task.output_name, representative)
    contract.write_bytes_atomic(task.pack(data, work), path)
    fields = {"variant": variant, "quantization": variants_lib.QUANTIZATION[variant]}
    if variant == "int8_full":
        fields["representative_examples"] = len(next(iter(representative.values())))
        fields["float_ops"] = list(variants_lib.FLOAT_OPS_IN_INT8)
        fields["float_output_layer"] = float_head.float_head_summary(
            tflite_reader.read_model(data))
    fields["graph_target"] = target["target"].name
    fields["attention_mask_penalty"] = target["target"].mask_penalty
    return fields


def _nnapi_check(task, path: str) -> dict:
    reports = task.nnapi_reports(path)
    return reports[""] if list(reports) == [""] else {"signatures": reports}


def _convert_one(work, variant, staging, graphs, evaluation, representative, model_sha256):
    """Writes `<variant>.tflite` into staging; returns (manifest entry, parity result)."""
    task = work["task"]
    started = time.time()
    name = f"{variant}.tflite"
    path = os.path.join(staging, name)
    fields = task.convert(work, variant, path, graphs, representative)
    fields["source_model_sha256"] = model_sha256
    fields["seconds"] = round(time.time() - started, 2)
    entry = variants_lib.describe_file(path, **fields)
    result = task.parity(path, evaluation)
    entry["checks"] = {"parity": result, "nnapi": _nnapi_check(task, path)}
    return entry, result


def _swap_in(staging: str, export_dir: str) -> None:
    """The finished staging folder becomes the export (one atomic exchange where the file
    system allows), then the previous export is removed."""
    aside = os.path.join(os.path.dirname(export_dir), f".export.old-{os.getpid()}")
    old = contract.swap_in(staging, export_dir, aside)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def export_workdir(workdir: str, variants=None, representative_examples: int = 200,
                   data_dir: str | None = None, log=print) -> dict:
    """Writes `<workdir>/export/` whole (`variants`: None = every variant of the task);
    returns {"export_dir", "results": {file: parity},
    "failed": {variant: why}, "removed": [files of the old export not carried over]}.
    Raises UserError for a bad workdir or argument before anything is written."""
    if variants is not None:  # before loading anything; the task's own list once it is known
        _check_arguments(variants, representative_examples)
    _check_destination(workdir)
    work = load_workdir(workdir, data_dir)
    task = work["task"]
    requested = _check_arguments(task.variants if variants is None else variants,
                                 representative_examples, task.variants)
    evaluation = task.evaluation(work)
    representative = (task.representative(work, representative_examples)
                      if "int8_full" in requested else None)
    model_sha256 = contract.sha256_file(work["model_path"])
    export_dir = os.path.join(workdir, contract.EXPORT_SUBDIR)
    _clean_leftovers(workdir)
    staging = os.path.join(workdir, f".export.tmp-{os.getpid()}")
    try:
        os.makedirs(staging)
    except OSError as e:
        raise contract.cannot_write(staging, e) from None
    temp_root = tempfile.mkdtemp(prefix="export_savedmodel_")
    saved_models = {}

    def graphs(variant):
        name = graph_shaping.TARGET_OF_VARIANT[variant]
        if name not in saved_models:
            directory = os.path.join(temp_root, f"graph_{name}")
            variants_lib.write_saved_model(work["model"], work["sequence_length"], directory,
                                           name, task)
            saved_models[name] = {"saved_model": directory, "target": graph_shaping.TARGETS[name]}
        return saved_models[name]

    results, failed = {}, {}
    try:
        redo = {f"{v}.tflite" for v in requested}
        files = _kept_entries(export_dir, staging, model_sha256, work["sequence_length"], redo)
        kept_variants = [entry.get("variant", name.rsplit(".", 1)[0])
                         for name, entry in files.items()]
        for name, source in task.associated_files(work).items():
            contract.copy_atomic(source, os.path.join(staging, name))
        header = _shared_header(work, model_sha256,
                                [v for v in VARIANTS if v in requested or v in kept_variants])
        header["check_inputs"] = task.write_check_inputs(
            staging, evaluation, int(work["config"].get("export", {}).get("check_examples", 200)))
        for variant in requested:
            name = f"{variant}.tflite"
            try:
                entry, result = _convert_one(work, variant, staging, graphs, evaluation,
                                             representative, model_sha256)
                metadata = task.verify_metadata(staging, name, {**header, "files": {}})
                if metadata is not None:
                    if not metadata["ok"]:
                        raise variants_lib.ConversionError(
                            "metadata: " + "; ".join(metadata["problems"]))
                    entry["checks"]["metadata"] = metadata
            except Exception as e:  # one variant failing must not stop the others
                reason = " ".join(str(e).split()) or type(e).__name__
                if isinstance(e, (UserError, OSError)):
                    raise
                if _environment_error(e):  # e.g. the converter's own write failed
                    raise UserError(f"{staging}: a write failed while converting {name} "
                                    f"({reason[:300]}); nothing was changed") from None
                failed[variant] = reason
                contract.remove(os.path.join(staging, name))
                log(f"{name:<20} FAILED: {reason}")
                continue
            files[name] = entry
            results[name] = result
            log(f"{name:<20} {entry['bytes'] / 1e6:8.3f} MB  {task.summary(result)}")
        contract.write_json_atomic({**header, "files": files},
                                   contract.manifest_path(staging))
        if "fp32.tflite" in files:
            # Golden vectors for ports of the tokenizer and post-processing (android_demo/core).
            from export.app import golden as golden_lib
            golden_lib.write_golden(staging, eval_texts=work.get("eval_texts"))
        removed = sorted(set(os.listdir(export_dir)) - set(os.listdir(staging))
                         - {".manifest.lock"}) if os.path.isdir(export_dir) else []
        _swap_in(staging, export_dir)
    except OSError as e:  # the machine refused a write: nothing was swapped in
        raise contract.cannot_write(e.filename or staging, e) from None
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    if "fp32.tflite" in files:
        log(f"wrote {export_dir}/{contract.GOLDEN_NAME}")
    return {"export_dir": export_dir, "results": results, "failed": failed, "removed": removed}
