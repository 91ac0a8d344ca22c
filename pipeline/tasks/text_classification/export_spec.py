"""The text classifier's export: signature, workdir files, evaluation, manifest header, metadata.

Every file has one signature, `serving_default`: inputs token_ids, padding_mask, segment_ids,
int32 [1, L] (static; README "Tokenizer rules"); output probabilities, float32 [1, C] (softmax
inside the graph). vocab.txt and labels.txt are copied beside the files and packed into each
as TFLite metadata (export/metadata), which the Task Library and MediaPipe read.
"""

from __future__ import annotations

import os

import numpy as np

from export import contract
from export.contract import UserError

INPUT_NAMES = ("token_ids", "padding_mask", "segment_ids")
OUTPUT_NAME = "probabilities"


def check_model(model, path, length, num_classes, vocabulary_size):
    """UserError when the model's inputs, vocabulary or output disagree with the workdir."""
    inputs = {t.name: t for t in model.inputs}
    if sorted(inputs) != sorted(INPUT_NAMES):
        raise UserError(f"{path}: inputs are {sorted(inputs)}, expected {list(INPUT_NAMES)}")
    for name, t in inputs.items():
        # None: a length-bucketed training graph, exported at `length` (pipeline/models/student)
        if tuple(t.shape[1:]) not in ((length,), (None,)) or str(t.dtype) != "int32":
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


def load_export(workdir, config, model, model_path) -> dict:
    """The classifier's vocabulary, labels, sequence length and evaluation split."""
    from pipeline import tokenizer

    config_path = os.path.join(workdir, "config.json")
    try:
        length = int(config.tokenizer.sequence_length)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"{config_path}: not a pipeline.train config ({e})") from None
    labels_path = os.path.join(workdir, contract.LABELS_FILE)
    labels = tokenizer.read_vocabulary(labels_path)
    if not labels:
        raise UserError(f"{labels_path}: empty label list")
    vocab_path = os.path.join(workdir, contract.VOCAB_FILE)
    vocab = tokenizer.read_vocabulary(vocab_path)
    if vocab[:len(tokenizer.SPECIAL_TOKENS)] != tokenizer.SPECIAL_TOKENS:
        raise UserError(f"{vocab_path}: not a pipeline vocabulary (must start with "
                        f"{' '.join(tokenizer.SPECIAL_TOKENS)})")
    check_model(model, model_path, length, len(labels), len(vocab))

    from pipeline.data import load_text_dataset
    dataset = load_text_dataset(config.data, config.seed)
    if list(dataset.label_names) != labels:
        raise UserError(f"{labels_path}: labels differ from the dataset's {dataset.label_names}")
    preprocessor = tokenizer.make_preprocessor(tokenizer.make_tokenizer(vocab_path), length)
    return {"labels": labels, "vocab": vocab, "vocab_path": vocab_path,
            "labels_path": labels_path, "sequence_length": length, "output_size": len(labels),
            "dataset": dataset, "eval_texts": list(dataset.test.texts),
            "preprocessor": preprocessor}


def serve(model):
    import keras

    def endpoint(token_ids, padding_mask, segment_ids):
        logits = model({"token_ids": token_ids, "padding_mask": padding_mask,
                        "segment_ids": segment_ids}, training=False)
        return {OUTPUT_NAME: keras.ops.softmax(logits, axis=-1)}

    return endpoint


def evaluation(work: dict) -> dict:
    from pipeline.stages import encode
    test = work["dataset"].test
    inputs = encode(work["preprocessor"], test.texts)
    logits = work["model"].predict(inputs, batch_size=256, verbose=0)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    return {"inputs": inputs, "expected": probabilities, "labels": test.labels}


def representative(work: dict, count: int) -> dict:
    """A seeded sample of train texts (calibration sees segment_ids 0 only, as the tokenizer
    always produces for single-text classification)."""
    texts = work["dataset"].train.texts
    count = min(count, len(texts))
    rng = np.random.RandomState(int(work["config"].seed))
    chosen = sorted(rng.choice(len(texts), size=count, replace=False).tolist())
    from pipeline.stages import encode
    return encode(work["preprocessor"], [texts[i] for i in chosen])


def header(work: dict) -> dict:
    from pipeline import tokenizer

    vocab, length, labels = work["vocab"], work["sequence_length"], work["labels"]
    return {
        "num_classes": len(labels),
        "labels": labels,
        "labels_file": contract.LABELS_FILE,
        "tokenizer": {
            "kind": "bert_wordpiece",
            "lowercase": True,
            "strip_accents": True,
            "split_on_cjk": True,
            "suffix_indicator": "##",
            "max_word_bytes": 100,
            "vocabulary_file": contract.VOCAB_FILE,
            "vocabulary_size": len(vocab),
            "vocabulary_sha256": contract.sha256_file(work["vocab_path"]),
            "special_tokens": {t: vocab.index(t) for t in tokenizer.SPECIAL_TOKENS},
            "format": "[CLS] pieces [SEP], truncated keeping [SEP], padded with [PAD] to "
                      "sequence_length; padding_mask 1 for real tokens; segment_ids all 0",
            "spec": "README.md 'Tokenizer rules'; export/runtime/wordpiece.py",
        },
        "inputs": [{"name": n, "dtype": "int32", "shape": [1, length]} for n in INPUT_NAMES],
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [1, len(labels)],
                   "meaning": "softmax probabilities over labels, in labels.txt order"},
    }


def associated_files(work: dict) -> dict:
    return {contract.VOCAB_FILE: work["vocab_path"], contract.LABELS_FILE: work["labels_path"]}


def pack(data: bytes, work: dict) -> bytes:
    from export.metadata import writer
    return writer.populate(data, vocab_path=work["vocab_path"], labels_path=work["labels_path"],
                           **writer.metadata_fields(work["config"]))


def verify_metadata(export_dir: str, name: str, manifest) -> dict:
    """The packed metadata of one file against the vocabulary and labels beside it."""
    from export.metadata import reader
    return reader.verify(os.path.join(export_dir, name), {
        contract.VOCAB_FILE: manifest.get("tokenizer", {}).get("vocabulary_sha256"),
        contract.LABELS_FILE: _sha_or_none(os.path.join(export_dir, contract.LABELS_FILE))})


def _sha_or_none(path: str):
    return contract.sha256_file(path) if os.path.isfile(path) else None


def parity(path: str, evaluation: dict) -> dict:
    """Top-1 agreement, accuracy and probability differences of a file against Keras."""
    from export.tflite.runner import Runner
    probs = Runner(path, input_keys=INPUT_NAMES).run_all(evaluation["inputs"])
    expected = evaluation["expected"]
    labels = np.asarray(evaluation["labels"])
    keras_top1, top1 = np.argmax(expected, -1), np.argmax(probs, -1)
    keras_accuracy = float(np.mean(keras_top1 == labels))
    accuracy = float(np.mean(top1 == labels))
    diff = np.abs(probs - expected)
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


def summary(result: dict) -> str:
    return (f"agreement {result['top1_agreement']:7.2%}  accuracy {result['accuracy']:.4f} "
            f"(keras {result['keras_accuracy']:.4f}, drop {result['accuracy_drop_points']:+.2f} pts)")
