"""Export a trained workdir's model to TFLite: fp32, fp16, int8 dynamic-range, full int8.

  python -m export.convert --workdir=runs/intents \\
      [--variants=fp32,fp16,int8_dynamic,int8_full] [--representative_examples=200]
  python -m export.convert --workdir=runs/movielens      # a next_item recommender, same flags

One path for every task: only the workdir's files, the graph's inputs and output, the
evaluation split and the parity measure differ, and those live in the task's `ExportTask`
(`TASKS[config.task]`, at the end of this module). What follows describes the text classifier;
the recommender (`next_item`) differs in:
  item_ids      int32 [1, H] input: the last H liked items as vocabulary ids, newest last,
                left-padded with 0 (pipeline/models/sequential_recommender.py `left_pad`)
  scores        float32 [1, V] output: every vocabulary id's score as the next item; the app
                drops ids 0 (padding) and 1 (OOV) and the history, then takes the top 10
  items.csv     index,movieId,title,genres per vocabulary id, copied beside the files and named
                in the manifest (`items_file`, `items_sha256`); no TFLite metadata is packed
  parity        on the test users of protocol P: `top10_identical` (share of users whose top-10
                list equals the Keras model's), `hr10`, `hr10_drop_points` against Keras
  int8_full     calibrated on seeded prefixes of the users' training parts

Writes `<workdir>/export/`: `<variant>.tflite` for each variant, `vocab.txt`, `labels.txt` and
`manifest.json` (see export/manifest.py), and prints one line per file: size, top-1 agreement
with the Keras model and accuracy on the evaluation split.

Every file has one signature, `serving_default`, and the same tensors (tensor names are the
signature keys, inputs in this order):
  token_ids, padding_mask, segment_ids   int32 [1, L] (static; see README "Tokenizer rules")
  probabilities                          float32 [1, C], softmax inside the graph
Conversion path: a Keras `ExportArchive` SavedModel whose endpoint applies the softmax, with a
fixed `(1, L)` int32 input signature, converted by `tf.lite.TFLiteConverter.from_saved_model`
with builtin ops only (weights are frozen to constants: FULLY_CONNECTED, no VAR_HANDLE).

Variants:
  fp32          float32 weights and activations
  fp16          float16 weights (DEQUANTIZE to float32 at load), float32 activations
  int8_dynamic  int8 weights, float32 activations quantized on the fly (dynamic range)
  int8_full     int8 weights and activations, calibrated on `--representative_examples` texts
                of the train split; the int32 inputs stay int32 and the output stays float32
                (the int8 softmax is dequantized in the graph, so scores are multiples of
                1/256): apps read the same float probabilities from every variant. The three
                RSQRT ops of each layer norm stay float32 (QUANTIZE/DEQUANTIZE around them):
                NNAPI has no int8 RSQRT. Calibration sees segment_ids of 0 only, as the
                tokenizer always produces (single-text classification).

Graphs per delegate (export/graph_shaping.py): the float variants are traced for the LiteRT GPU
backend, int8_full for the NNAPI delegate; both write batch-1 attention as 2-D FULLY_CONNECTED
matmuls with an additive mask (no BATCH_MATMUL, SELECT_V2 or bool tensors); the GPU graph
gathers token embeddings on 1-D ids, the NNAPI graph on the [1, L] ids (no int32 RESHAPE).
Each file's NNAPI static report (export/nnapi.py) is recorded in the manifest (`checks.nnapi`,
with the lowest Android API level at which no op falls back).

Each file is checked before it is kept: builtin ops only (no Flex or custom ops), one subgraph,
no int64 tensor, rank <= 4, no dynamic dimension, GATHER on 1-D indices in GPU graphs, the inputs/output
above (and int8 activations for int8_full); then the interpreter runs the whole evaluation
split on it (the parity check, reported in manifest `checks.parity`, not a gate). A file is
written to a temporary name and renamed; a variant that fails leaves no file and no manifest
entry (an older one is removed), and the run ends with exit code 2 naming it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import os
import shutil
import tempfile
import time
from typing import Callable

import pipeline  # noqa: F401  (sets the Keras backend before keras is imported)
import ml_collections
import numpy as np
from absl import flags

from export import graph_shaping, nnapi
from export import manifest as manifest_lib
from export import metadata as metadata_lib
from export import tflite_io
from pipeline import cli, tokenizer
from pipeline.errors import UserError

VARIANTS = ("fp32", "fp16", "int8_dynamic", "int8_full")
INPUT_NAMES = ("token_ids", "padding_mask", "segment_ids")
OUTPUT_NAME = "probabilities"
SIGNATURE_KEY = "serving_default"
EXPORT_SUBDIR = "export"
QUANTIZATION = {
    "fp32": "none: float32 weights and activations",
    "fp16": "float16 weights, float32 activations",
    "int8_dynamic": "int8 weights, dynamic-range int8 activations, float32 output",
    "int8_full": "int8 weights and activations (calibrated on the train split); int32 inputs, "
                 "float32 output",
}


FLOAT_OPS_IN_INT8 = ("RSQRT",)


class ConversionError(Exception):
    """A variant could not be converted or its file failed the static checks."""


# ---------------------------------------------------------------------------------------------
# The workdir
# ---------------------------------------------------------------------------------------------
def load_workdir(workdir: str, data_dir: str | None = None) -> dict:
    """Config, model and evaluation data of a workdir, by its task; UserError naming the file.

    Shared: the folder, config.json, model.keras (a complete, loadable archive). The task's
    part (`TASKS[config.task]`) reads its own files and checks the model's inputs/outputs."""
    if not workdir:
        raise UserError("--workdir is required (a folder written by python -m pipeline.train)")
    if not os.path.isdir(workdir):
        raise UserError(f"{workdir}: no such workdir; train first with python -m pipeline.train")
    config_path = os.path.join(workdir, "config.json")
    if not os.path.isfile(config_path):
        raise UserError(f"{config_path}: not found; train first with "
                        f"python -m pipeline.train --workdir={workdir}")
    try:
        with open(config_path, encoding="utf-8") as f:
            config = ml_collections.ConfigDict(json.load(f))
        task = TASKS[config.get("task", "text_classification")]
        _ = (config.data, config.seed)  # fields the export needs
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as e:
        raise UserError(f"{config_path}: not a pipeline.train config ({e})") from None
    if data_dir:
        config.data.dir = data_dir
    for name in task.workdir_files + ("model.keras",):
        if not os.path.isfile(os.path.join(workdir, name)):
            raise UserError(f"{os.path.join(workdir, name)}: not found; train first with "
                            f"python -m pipeline.train --workdir={workdir}")
    model_path = os.path.join(workdir, "model.keras")
    _check_keras_archive(model_path)
    from pipeline import training
    from pipeline.models import sequential_recommender  # noqa: F401  (registers its layers)
    try:
        model = training.load_model(model_path)
    except Exception as e:  # noqa: BLE001  (zip, h5 or deserialisation errors of a bad file)
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise UserError(f"{model_path}: cannot load the model ({type(e).__name__}: {reason}); "
                        "is it complete? Retrain or restore it") from None
    work = {"workdir": workdir, "config": config, "task": task, "model_path": model_path,
            "model": model}
    work.update(task.load(workdir, config, model, model_path))
    return work


def _load_text_classifier(workdir, config, model, model_path) -> dict:
    """The classifier's vocabulary, labels, sequence length and evaluation split."""
    config_path = os.path.join(workdir, "config.json")
    try:
        length = int(config.tokenizer.sequence_length)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"{config_path}: not a pipeline.train config ({e})") from None
    labels_path = os.path.join(workdir, "labels.txt")
    labels = tokenizer.read_vocabulary(labels_path)
    if not labels:
        raise UserError(f"{labels_path}: empty label list")
    vocab_path = os.path.join(workdir, "vocab.txt")
    vocab = tokenizer.read_vocabulary(vocab_path)
    if vocab[:len(tokenizer.SPECIAL_TOKENS)] != tokenizer.SPECIAL_TOKENS:
        raise UserError(f"{vocab_path}: not a pipeline vocabulary (must start with "
                        f"{' '.join(tokenizer.SPECIAL_TOKENS)})")

    _check_model(model, model_path, length, len(labels), len(vocab))

    from pipeline.data import load_text_dataset
    dataset = load_text_dataset(config.data, config.seed)
    if list(dataset.label_names) != labels:
        raise UserError(f"{labels_path}: labels differ from the dataset's {dataset.label_names}")
    preprocessor = tokenizer.make_preprocessor(tokenizer.make_tokenizer(vocab_path), length)
    return {"labels": labels, "vocab": vocab, "vocab_path": vocab_path,
            "labels_path": labels_path, "sequence_length": length, "output_size": len(labels),
            "dataset": dataset,
            "preprocessor": preprocessor}


def _check_keras_archive(path: str) -> None:
    """A `.keras` file is a zip; Keras reports a truncated one as 'File not found'."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise UserError(f"{path}: truncated or corrupt, not a complete .keras zip archive ({e}); "
                        "retrain or restore it") from None
    if bad is not None:
        raise UserError(f"{path}: corrupt .keras archive (bad CRC in {bad}); retrain or restore it")
    if "config.json" not in names:
        raise UserError(f"{path}: not a Keras model archive (no config.json inside)")


def _check_model(model, path, length, num_classes, vocabulary_size):
    inputs = {t.name: t for t in model.inputs}
    if sorted(inputs) != sorted(INPUT_NAMES):
        raise UserError(f"{path}: inputs are {sorted(inputs)}, expected {list(INPUT_NAMES)}")
    for name, t in inputs.items():
        if tuple(t.shape[1:]) != (length,) or str(t.dtype) != "int32":
            raise UserError(f"{path}: input {name} is {t.dtype} {tuple(t.shape)}, expected "
                            f"int32 (batch, {length}) (config tokenizer.sequence_length)")
    for layer in model._flatten_layers(include_self=False, recursive=True):
        size = getattr(layer, "vocabulary_size", None)
        if isinstance(size, int) and size != vocabulary_size:
            raise UserError(f"{path}: the model's vocabulary has {size} tokens but vocab.txt next "
                            f"to it has {vocabulary_size}; they come from different runs")
    out = model.outputs
    if len(out) != 1 or tuple(out[0].shape[1:]) != (num_classes,):
        raise UserError(f"{path}: output shape {[tuple(o.shape) for o in out]}, expected "
                        f"(batch, {num_classes}) logits for the {num_classes} labels")


# ---------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------
def write_saved_model(model, sequence_length: int, directory: str,
                      target: str = graph_shaping.GPU, task: "ExportTask | None" = None) -> None:
    """A SavedModel whose `serving_default` takes the task's int32 [1, L] inputs and returns
    {task.output_name: ...} (classifier: softmax probabilities; recommender: scores), traced
    for `target` (export/graph_shaping.py)."""
    import keras
    import tensorflow as tf

    task = task or TASKS["text_classification"]
    with graph_shaping.traced_for(target):
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(SIGNATURE_KEY, task.serve(model), input_signature=[
            tf.TensorSpec((1, sequence_length), tf.int32, name=name) for name in task.input_names])
        archive.write_out(directory, verbose=False)


def convert_to_bytes(saved_model_dir: str, variant: str, representative_inputs=None) -> bytes:
    """Runs the TFLite converter for one variant (builtin ops only)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, [SIGNATURE_KEY])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8_dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # Per-tensor dense weights: per-channel ones make FULLY_CONNECTED op version 12, which
        # the TFLite Task Library's last runtime (tflite-support 0.4.4) cannot load; accuracy
        # was the same both ways on the intents student.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    elif variant == "int8_full":
        names = list(representative_inputs or {})
        if not names or not len(representative_inputs[names[0]]):
            raise ConversionError("int8_full needs representative examples")

        def representative_dataset():
            for i in range(len(representative_inputs[names[0]])):
                yield {name: representative_inputs[name][i:i + 1] for name in names}

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.inference_output_type = tf.float32  # documented choice, see module docstring
        # RSQRT stays float: NNAPI rejects an int8 RSQRT (export/nnapi_rules.py).
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative_dataset,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(
                denylisted_ops=list(FLOAT_OPS_IN_INT8)))
        return debugger.get_nondebug_quantized_model()
    elif variant != "fp32":
        raise ConversionError(f"unknown variant {variant!r}")
    return converter.convert()


def check_file(info: tflite_io.ModelInfo, variant: str, sequence_length: int,
               num_classes: int, input_names=INPUT_NAMES, output_name=OUTPUT_NAME) -> list:
    """Static problems of a converted file ([] = fine); `num_classes` is the output width."""
    target = graph_shaping.TARGETS[graph_shaping.TARGET_OF_VARIANT.get(variant, graph_shaping.GPU)]
    problems = tflite_io.static_problems(info, gather_1d=target.flat_token_ids)
    sig = info.signatures.get(SIGNATURE_KEY)
    if sig is None or sorted(sig["inputs"]) != sorted(input_names) \
            or list(sig["outputs"]) != [output_name]:
        problems.append(f"signature {SIGNATURE_KEY} is {sig}, expected inputs "
                        f"{list(input_names)} and output {output_name}")
    got = [(t.name, t.dtype, t.shape) for t in info.inputs]
    want = [(name, "int32", (1, sequence_length)) for name in input_names]
    if got != want:
        problems.append(f"inputs are {got}, expected {want}")
    got = [(t.name, t.dtype, t.shape) for t in info.outputs]
    want = [(output_name, "float32", (1, num_classes))]
    if got != want:
        problems.append(f"outputs are {got}, expected {want}")
    if variant == "int8_full":
        heavy = [op for op in info.ops if op.op in ("FULLY_CONNECTED", "BATCH_MATMUL")]
        floats = [op for op in heavy if op.inputs[0] is not None and op.inputs[0].dtype != "int8"]
        if not heavy or floats:
            problems.append(f"{len(floats)} of {len(heavy)} FULLY_CONNECTED/BATCH_MATMUL ops "
                            "have non-int8 activations")
    return problems


def convert_variant(saved_model_dir, variant, sequence_length, num_classes,
                    representative_inputs=None, input_names=INPUT_NAMES,
                    output_name=OUTPUT_NAME) -> bytes:
    """Converted, renamed and statically checked bytes of one variant; ConversionError if not."""
    try:
        raw = convert_to_bytes(saved_model_dir, variant, representative_inputs)
    except ConversionError:
        raise
    except Exception as e:  # noqa: BLE001  (converter errors are long multi-line texts)
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
        raise ConversionError(f"converter failed ({type(e).__name__}: {detail[:300]})") from e
    data = tflite_io.rename_io(raw, input_order=input_names, signature_key=SIGNATURE_KEY)
    problems = check_file(tflite_io.read_model(data), variant, sequence_length, num_classes,
                          input_names, output_name)
    if problems:
        raise ConversionError("; ".join(problems))
    return data


# ---------------------------------------------------------------------------------------------
# Parity
# ---------------------------------------------------------------------------------------------
def run_tflite(path: str, inputs: dict) -> np.ndarray:
    """Outputs [n, C] from the interpreter, one example per invoke; `inputs` by tensor name."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    index = {d["name"]: d["index"] for d in interpreter.get_input_details()}
    out_index = interpreter.get_output_details()[0]["index"]
    n = len(next(iter(inputs.values())))
    rows = []
    for i in range(n):
        for name in inputs:
            interpreter.set_tensor(index[name], inputs[name][i:i + 1].astype(np.int32))
        interpreter.invoke()
        rows.append(np.array(interpreter.get_tensor(out_index)[0], dtype=np.float32))
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def parity(path: str, inputs: dict, labels, keras_probabilities: np.ndarray) -> dict:
    probs = run_tflite(path, inputs)
    labels = np.asarray(labels)
    keras_top1 = np.argmax(keras_probabilities, -1)
    top1 = np.argmax(probs, -1)
    keras_accuracy = float(np.mean(keras_top1 == labels))
    accuracy = float(np.mean(top1 == labels))
    diff = np.abs(probs - keras_probabilities)
    return {
        "split": "test",
        "examples": int(len(labels)),
        "top1_agreement": float(np.mean(top1 == keras_top1)),
        "accuracy": accuracy,
        "keras_accuracy": keras_accuracy,
        "accuracy_drop_points": round(100.0 * (keras_accuracy - accuracy), 4),
        "max_abs_probability_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_probability_diff": float(diff.mean()) if diff.size else 0.0,
        "max_probability_sum_error": float(np.abs(probs.sum(-1) - 1).max()) if probs.size else 0.0,
    }


# ---------------------------------------------------------------------------------------------
# The export folder
# ---------------------------------------------------------------------------------------------
def _copy_atomic(src: str, dst: str) -> None:
    tmp = f"{dst}.tmp-{os.getpid()}"
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def _write_atomic(data: bytes, path: str) -> str:
    """Writes to a temporary name next to `path` and returns it (caller renames or removes)."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _prune(export_dir: str, model_sha256: str, sequence_length: int, redo: set) -> list:
    """Drops entries (and their files) that this run redoes, whose file is missing or changed,
    or that come from another model; deletes orphan variant files and stale temporary files."""
    removed = []
    for tmp in glob.glob(os.path.join(export_dir, ".*.tmp-*")):
        _remove(tmp)
    with manifest_lib.edit(export_dir, reset_if_unreadable=True) as m:
        for name, entry in list(m["files"].items()):
            path = os.path.join(export_dir, name)
            keep = (name not in redo and os.path.isfile(path)
                    and entry.get("source_model_sha256") == model_sha256
                    and m.get("sequence_length") == sequence_length
                    and entry.get("sha256") == manifest_lib.sha256_file(path))
            if not keep:
                del m["files"][name]
                if name not in redo and os.path.exists(path):
                    _remove(path)
                    removed.append(name)
        for variant in VARIANTS:
            name = f"{variant}.tflite"
            if name not in m["files"] and name not in redo and os.path.exists(
                    os.path.join(export_dir, name)):
                _remove(os.path.join(export_dir, name))
                removed.append(name)
    return removed


def _header(work: dict, model_sha256: str) -> dict:
    config = work["config"]
    export_config = config.get("export", ml_collections.ConfigDict())
    vocab = work["vocab"]
    return {
        "format_version": manifest_lib.FORMAT_VERSION,
        "name": export_config.get("name", ""),
        "description": export_config.get("description", ""),
        "version": export_config.get("version", ""),
        "author": export_config.get("author", ""),
        "license": export_config.get("license", ""),
        "task": config.get("task", "text_classification"),
        "sequence_length": work["sequence_length"],
        "num_classes": len(work["labels"]),
        "labels": work["labels"],
        "labels_file": "labels.txt",
        "tokenizer": {
            "kind": "bert_wordpiece",
            "lowercase": True,
            "strip_accents": True,
            "split_on_cjk": True,
            "suffix_indicator": "##",
            "max_word_bytes": 100,
            "vocabulary_file": "vocab.txt",
            "vocabulary_size": len(vocab),
            "vocabulary_sha256": manifest_lib.sha256_file(work["vocab_path"]),
            "special_tokens": {t: vocab.index(t) for t in tokenizer.SPECIAL_TOKENS},
            "format": "[CLS] pieces [SEP], truncated keeping [SEP], padded with [PAD] to "
                      "sequence_length; padding_mask 1 for real tokens; segment_ids all 0",
            "spec": "README.md 'Tokenizer rules'; export/wordpiece.py",
        },
        "size_budget_bytes": {v: int(float(export_config.get("int8_budget_mb", 2.0)) * 1_000_000)
                              for v in ("int8_dynamic", "int8_full")},
        "signature": SIGNATURE_KEY,
        "inputs": [{"name": n, "dtype": "int32", "shape": [1, work["sequence_length"]]}
                   for n in INPUT_NAMES],
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [1, len(work["labels"])],
                   "meaning": "softmax probabilities over labels, in labels.txt order"},
        "source": {"model": os.path.abspath(work["model_path"]), "model_sha256": model_sha256},
    }


CHECK_INPUTS = "check_inputs.npz"


def write_check_inputs(export_dir: str, inputs: dict, expected: np.ndarray, labels,
                       count: int) -> None:
    """Saves the first `count` evaluation examples (the model's inputs, the Keras outputs as
    `expected`, and `labels`) as `check_inputs.npz`, so that export.check can run the files
    on real inputs without TensorFlow or the dataset; recorded in the manifest header."""
    count = min(int(count), len(expected))
    arrays = {name: np.asarray(value[:count]) for name, value in inputs.items()}
    arrays["expected"] = np.asarray(expected[:count], np.float32)
    arrays["labels"] = np.asarray(labels[:count])
    path = os.path.join(export_dir, CHECK_INPUTS)
    tmp = path + f".tmp-{os.getpid()}.npz"
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        _remove(tmp)
    with manifest_lib.edit(export_dir) as m:
        m["check_inputs"] = {"file": CHECK_INPUTS, "examples": count, "split": "test",
                             "sha256": manifest_lib.sha256_file(path)}


def _sample_train(work: dict, count: int) -> dict:
    texts = work["dataset"].train.texts
    count = min(count, len(texts))
    rng = np.random.RandomState(int(work["config"].seed))
    chosen = sorted(rng.choice(len(texts), size=count, replace=False).tolist())
    from pipeline.stages import encode
    return encode(work["preprocessor"], [texts[i] for i in chosen])


def export_workdir(workdir: str, variants=VARIANTS, representative_examples: int = 200,
                   data_dir: str | None = None, log=print) -> dict:
    """Writes `<workdir>/export/`; returns {"results": {file: parity}, "failed": {variant: why},
    "removed": [stale files]}. Raises UserError for a bad workdir before touching export/."""
    variants = list(dict.fromkeys(v.strip() for v in variants if v.strip()))
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise UserError(f"--variants={','.join(variants)}: unknown variant(s) "
                        f"{', '.join(unknown) or '(none given)'}; choose from {', '.join(VARIANTS)}")
    if "int8_full" in variants and representative_examples < 1:
        raise UserError(f"--representative_examples={representative_examples}: int8_full needs "
                        "at least 1 (e.g. 200)")

    work = load_workdir(workdir, data_dir)
    task = work["task"]
    length, width = work["sequence_length"], work["output_size"]
    evaluation = task.evaluation(work)
    representative = (task.representative(work, representative_examples)
                      if "int8_full" in variants else None)
    model_sha256 = manifest_lib.sha256_file(work["model_path"])

    export_dir = os.path.join(workdir, EXPORT_SUBDIR)
    os.makedirs(export_dir, exist_ok=True)
    redo = {f"{v}.tflite" for v in variants}
    removed = _prune(export_dir, model_sha256, length, redo)
    for name, source in task.associated_files(work).items():
        _copy_atomic(source, os.path.join(export_dir, name))
    with manifest_lib.edit(export_dir, reset_if_unreadable=True) as m:
        files = m.get("files", {})
        m.clear()
        m.update(task.header(work, model_sha256))
        m["files"] = files

    write_check_inputs(export_dir, evaluation["inputs"], evaluation["expected"],
                       evaluation["labels"],
                       int(work["config"].get("export", {}).get("check_examples", 200)))

    results, failed = {}, {}
    temp_root = tempfile.mkdtemp(prefix="export_savedmodel_")
    saved_models = {}

    def saved_model_for(variant):
        target = graph_shaping.TARGET_OF_VARIANT[variant]
        if target not in saved_models:
            directory = os.path.join(temp_root, f"graph_{target}")
            write_saved_model(work["model"], length, directory, target, task)
            saved_models[target] = directory
        return saved_models[target], graph_shaping.TARGETS[target]

    try:
        for variant in variants:
            name = f"{variant}.tflite"
            path = os.path.join(export_dir, name)
            tmp = None
            started = time.time()
            try:
                graph, target = saved_model_for(variant)
                data = convert_variant(graph, variant, length, width, representative,
                                       task.input_names, task.output_name)
                data = task.pack(data, work)
                tmp = _write_atomic(data, path)
                metadata_check = task.verify(tmp)
                if metadata_check is not None and not metadata_check["ok"]:
                    raise ConversionError("metadata: " + "; ".join(metadata_check["problems"]))
                result = task.parity(tmp, evaluation)
                # Entry gone before the file changes: a crash never leaves a wrong digest.
                manifest_lib.remove_file(export_dir, name)
                os.replace(tmp, path)
                tmp = None
                fields = {"variant": variant, "quantization": QUANTIZATION[variant],
                          "source_model_sha256": model_sha256}
                if variant == "int8_full":
                    fields["representative_examples"] = len(next(iter(representative.values())))
                    fields["float_ops"] = list(FLOAT_OPS_IN_INT8)
                fields["graph_target"] = target.name
                fields["attention_mask_penalty"] = target.mask_penalty
                fields["seconds"] = round(time.time() - started, 2)
                manifest_lib.set_file(export_dir, name, manifest_lib.describe_file(path, **fields))
                checks = {"parity": result, "nnapi": nnapi.summary(path)}
                if metadata_check is not None:
                    checks["metadata"] = metadata_check
                digest = manifest_lib.sha256_file(path)
                for check_name, check in checks.items():
                    manifest_lib.update_checks(export_dir, name, check_name, check,
                                               expected_sha256=digest)
            except Exception as e:  # noqa: BLE001  (one variant failing must not stop the rest)
                reason = " ".join(str(e).split()) or type(e).__name__
                failed[variant] = reason
                manifest_lib.remove_file(export_dir, name)
                _remove(path)
                log(f"{name:<20} FAILED: {reason}")
                continue
            finally:
                if tmp:
                    _remove(tmp)
            results[name] = result
            log(f"{name:<20} {os.path.getsize(path) / 1e6:8.3f} MB  {task.summary(result)}")
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)
    if "fp32.tflite" in results:
        # Golden vectors for ports of the tokenizer/post-processing (android_demo/core).
        from export import golden as golden_lib
        dataset = work.get("dataset")
        golden_lib.write_golden(export_dir, eval_texts=getattr(
            getattr(dataset, "test", None), "texts", None))
        log(f"wrote {export_dir}/golden.json")
    return {"export_dir": export_dir, "results": results, "failed": failed, "removed": removed}


# ---------------------------------------------------------------------------------------------
# The per-task parts
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ExportTask:
    """What differs between tasks (`config.task`); everything else in this module is shared.

    load(workdir, config, model, model_path) -> dict merged into the work dict; it must give
        `sequence_length` (the inputs' L) and `output_size` (the output's width)
    serve(model) -> the SavedModel endpoint: fn(*inputs in input_names order) -> {output_name: ...}
    evaluation(work) -> {"inputs": {name: [n, L]}, "expected": Keras outputs [n, C],
        "labels": [n], ...}: the split the parity is measured on
    representative(work, count) -> {name: [count, L]}: calibration inputs for int8_full
    header(work, model_sha256) -> the manifest's header fields
    associated_files(work) -> {file name in export/: source path}
    pack(tflite_bytes, work) -> bytes with TFLite metadata packed in (or unchanged);
    verify(path) -> the metadata check (manifest `checks.metadata`) or None
    parity(path, evaluation) -> manifest `checks.parity`; summary(parity) -> one log line
    """
    input_names: tuple
    output_name: str
    workdir_files: tuple
    load: Callable
    serve: Callable
    evaluation: Callable
    representative: Callable
    header: Callable
    associated_files: Callable
    pack: Callable
    verify: Callable
    parity: Callable
    summary: Callable


def _text_serve(model):
    import keras

    def serve(token_ids, padding_mask, segment_ids):
        logits = model({"token_ids": token_ids, "padding_mask": padding_mask,
                        "segment_ids": segment_ids}, training=False)
        return {OUTPUT_NAME: keras.ops.softmax(logits, axis=-1)}

    return serve


def _text_evaluation(work: dict) -> dict:
    from pipeline.stages import encode
    test = work["dataset"].test
    inputs = encode(work["preprocessor"], test.texts)
    logits = work["model"].predict(inputs, batch_size=256, verbose=0)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    return {"inputs": inputs, "expected": probabilities, "labels": test.labels}


def _text_pack(data: bytes, work: dict) -> bytes:
    return metadata_lib.populate(data, vocab_path=work["vocab_path"],
                                 labels_path=work["labels_path"],
                                 **metadata_lib.metadata_fields(work["config"]))


def _text_summary(result: dict) -> str:
    return (f"agreement {result['top1_agreement']:7.2%}  accuracy {result['accuracy']:.4f} "
            f"(keras {result['keras_accuracy']:.4f}, drop {result['accuracy_drop_points']:+.2f} pts)")


RECOMMENDER_INPUT = "item_ids"
RECOMMENDER_OUTPUT = "scores"
ITEMS_FILE = "items.csv"


def _load_recommender(workdir, config, model, model_path) -> dict:
    """The recommender's items file, history length and protocol-P split (for parity)."""
    from pipeline.data import movielens

    config_path = os.path.join(workdir, "config.json")
    try:
        length = int(config.recs.history_length)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"{config_path}: not a next_item config ({e})") from None
    items_path = os.path.join(workdir, ITEMS_FILE)
    try:
        item_ids = movielens.read_items_file(items_path)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"{items_path}: not an items file index,movieId,title,genres ({e})") from None
    inputs = model.inputs
    if len(inputs) != 1 or tuple(inputs[0].shape[1:]) != (length,) or str(inputs[0].dtype) != "int32":
        raise UserError(f"{model_path}: inputs are {[(t.dtype, tuple(t.shape)) for t in inputs]}, "
                        f"expected one int32 (batch, {length}) (config recs.history_length)")
    outputs = model.outputs
    if len(outputs) != 1 or tuple(outputs[0].shape[1:]) != (len(item_ids),):
        raise UserError(f"{model_path}: output shape {[tuple(o.shape) for o in outputs]}, expected "
                        f"(batch, {len(item_ids)}): one score per row of {items_path}")
    split = movielens.protocol_split(movielens.load_interactions(config.data), config.recs)
    if list(split.item_ids) != list(item_ids):
        raise UserError(f"{items_path}: the data's catalogue differs from the one the model was "
                        "trained on; check --data_dir")
    return {"sequence_length": length, "output_size": len(item_ids), "items_path": items_path,
            "split": split}


def _recommender_serve(model):
    def serve(item_ids):
        return {RECOMMENDER_OUTPUT: model(item_ids, training=False)}

    return serve


def _recommender_evaluation(work: dict) -> dict:
    from pipeline import ranking
    from pipeline.models.sequential_recommender import left_pad

    split = work["split"]
    histories = split.test_histories()
    inputs = {RECOMMENDER_INPUT: left_pad(histories, work["sequence_length"])}
    scores = work["model"].predict(inputs[RECOMMENDER_INPUT], batch_size=256, verbose=0)
    keras_result = ranking.ranking_metrics(scores, histories, split.test_targets)
    return {"inputs": inputs, "expected": scores.astype(np.float32),
            "labels": np.asarray(split.test_targets), "histories": histories,
            "keras": keras_result}


def _recommender_representative(work: dict, count: int) -> dict:
    """Seeded histories for calibration: random users' training parts cut at random points."""
    from pipeline.models.sequential_recommender import left_pad

    train = work["split"].train
    rng = np.random.RandomState(int(work["config"].seed))
    users = rng.choice(len(train), size=count, replace=count > len(train))
    histories = [train[u][:rng.randint(1, len(train[u]) + 1)] for u in users]
    return {RECOMMENDER_INPUT: left_pad(histories, work["sequence_length"])}


def _recommender_header(work: dict, model_sha256: str) -> dict:
    config = work["config"]
    export_config = config.get("export", ml_collections.ConfigDict())
    length, size = work["sequence_length"], work["output_size"]
    return {
        "format_version": manifest_lib.FORMAT_VERSION,
        "name": export_config.get("name", ""),
        "description": export_config.get("description", ""),
        "version": export_config.get("version", ""),
        "author": export_config.get("author", ""),
        "license": export_config.get("license", ""),
        "task": "next_item",
        "sequence_length": length,
        "history_length": length,
        "num_items": size,
        "items_file": ITEMS_FILE,
        "items_sha256": manifest_lib.sha256_file(work["items_path"]),
        "items_format": "CSV with a header: index,movieId,title,genres; index = the model's "
                        "vocabulary id (input ids and output positions); row 0 is padding and "
                        "row 1 out-of-vocabulary (movieId empty)",
        "pad_id": 0,
        "oov_id": 1,
        "size_budget_bytes": {v: int(float(export_config.get("int8_budget_mb", 2.0)) * 1_000_000)
                              for v in ("int8_dynamic", "int8_full")},
        "signature": SIGNATURE_KEY,
        "inputs": [{"name": RECOMMENDER_INPUT, "dtype": "int32", "shape": [1, length],
                    "meaning": "the user's last history_length liked items as vocabulary ids "
                               "(movieId -> index through the items file; unknown -> 1), oldest "
                               "first and newest last, left-padded with 0"}],
        "output": {"name": RECOMMENDER_OUTPUT, "dtype": "float32", "shape": [1, size],
                   "meaning": "score of every vocabulary id as the next item (higher is better); "
                              "the app drops ids 0 and 1 and every item of the history, then "
                              "takes the top 10 (ties to the lower index)"},
        "source": {"model": os.path.abspath(work["model_path"]), "model_sha256": model_sha256},
    }


def _recommender_parity(path: str, evaluation: dict) -> dict:
    """Top-10 lists (history excluded) and HR@10 of the file against the Keras model's."""
    from pipeline import ranking

    scores = run_tflite(path, evaluation["inputs"])
    result = ranking.ranking_metrics(scores, evaluation["histories"], evaluation["labels"])
    keras_result = evaluation["keras"]
    diff = np.abs(scores - evaluation["expected"])
    return {
        "split": "test",
        "users": int(len(scores)),
        "top10_identical": float(np.mean(np.all(result["top"] == keras_result["top"], axis=1))),
        "hr10": result["hr"],
        "keras_hr10": keras_result["hr"],
        "hr10_drop_points": round(100.0 * (keras_result["hr"] - result["hr"]), 4),
        "ndcg10": result["ndcg"],
        "keras_ndcg10": keras_result["ndcg"],
        "max_abs_score_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_score_diff": float(diff.mean()) if diff.size else 0.0,
    }


def _recommender_summary(result: dict) -> str:
    return (f"top-10 identical {result['top10_identical']:7.2%}  HR@10 {result['hr10']:.4f} "
            f"(keras {result['keras_hr10']:.4f}, drop {result['hr10_drop_points']:+.2f} pts)")


TASKS = {
    "text_classification": ExportTask(
        input_names=INPUT_NAMES, output_name=OUTPUT_NAME,
        workdir_files=("vocab.txt", "labels.txt"), load=_load_text_classifier,
        serve=_text_serve, evaluation=_text_evaluation, representative=_sample_train,
        header=_header,
        associated_files=lambda work: {"vocab.txt": work["vocab_path"],
                                       "labels.txt": work["labels_path"]},
        pack=_text_pack, verify=metadata_lib.verify,
        parity=lambda path, ev: parity(path, ev["inputs"], ev["labels"], ev["expected"]),
        summary=_text_summary),
    "next_item": ExportTask(
        input_names=(RECOMMENDER_INPUT,), output_name=RECOMMENDER_OUTPUT,
        workdir_files=(ITEMS_FILE,), load=_load_recommender, serve=_recommender_serve,
        evaluation=_recommender_evaluation, representative=_recommender_representative,
        header=_recommender_header,
        associated_files=lambda work: {ITEMS_FILE: work["items_path"]},
        pack=lambda data, work: data,  # no TFLite metadata: the manifest names items.csv
        verify=lambda path: None, parity=_recommender_parity, summary=_recommender_summary),
}


def _quiet_tensorflow() -> None:
    """Keeps the SavedModel/converter chatter off the console (errors still show)."""
    import logging
    import warnings

    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")


def define_flags() -> None:
    """The command's flags; defined only when run as a command, so importing this module
    (tests, other tools) never collides with another entry point's --workdir."""
    flags.DEFINE_string("workdir", None, "A workdir written by pipeline.train.")
    flags.DEFINE_list("variants", ",".join(VARIANTS),
                      f"Which files to write, any of {', '.join(VARIANTS)}.")
    flags.DEFINE_integer(
        "representative_examples", 200,
        "Train texts (a seeded sample) that calibrate the int8_full activation ranges.")
    flags.DEFINE_string("data_dir", None, "Override the config's data.dir.")


def main(argv):
    del argv
    _quiet_tensorflow()
    FLAGS = flags.FLAGS
    outcome = export_workdir(FLAGS.workdir, FLAGS.variants, FLAGS.representative_examples,
                             FLAGS.data_dir)
    if outcome["removed"]:
        print(f"removed stale files: {', '.join(outcome['removed'])}")
    if outcome["failed"]:
        which = "; ".join(f"{v}: {why}" for v, why in outcome["failed"].items())
        raise UserError(f"{outcome['export_dir']}: {len(outcome['failed'])} variant(s) failed "
                        f"and were not written ({which[:500]}); the other files and "
                        "manifest.json are complete")
    print(f"wrote {outcome['export_dir']}/manifest.json")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
