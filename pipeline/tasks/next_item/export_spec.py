"""The recommender's export: signature, items file, protocol-P parity, manifest header.

  item_ids      int32 [1, H] input: the last H liked items as vocabulary ids, newest last,
                left-padded with 0 (pipeline/models/sequential_recommender.py `left_pad`)
  scores        float32 [1, V] output: every vocabulary id's score as the next item; the app
                drops ids 0 (padding) and 1 (OOV) and the history, then takes the top 10
  items.csv     index,movieId,title,genres per vocabulary id, copied beside the files and named
                in the manifest (`items_file`, `items_sha256`); no TFLite metadata schema fits
  parity        on the test users of protocol P: `top10_identical` (share of users whose top-10
                list equals the Keras model's, in order), `top10_overlap` (mean |A ∩ B| / 10
                of the file's top 10 A and the Keras model's B, order ignored), `hr10`,
                `hr10_drop_points` against Keras
  int8_full     calibrated on seeded prefixes of the users' training parts
"""

from __future__ import annotations

import os

import numpy as np

from export import contract
from export.contract import ITEMS_FILE, OOV_ID, PAD_ID, UserError

INPUT_NAME = "item_ids"
OUTPUT_NAME = "scores"


def load_export(workdir, config, model, model_path) -> dict:
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


def serve(model):
    def endpoint(item_ids):
        return {OUTPUT_NAME: model(item_ids, training=False)}

    return endpoint


def evaluation(work: dict) -> dict:
    from pipeline import ranking
    from pipeline.models.sequential_recommender import left_pad

    split = work["split"]
    histories = split.test_histories()
    inputs = {INPUT_NAME: left_pad(histories, work["sequence_length"])}
    scores = work["model"].predict(inputs[INPUT_NAME], batch_size=256, verbose=0)
    keras_result = ranking.ranking_metrics(scores, histories, split.test_targets)
    return {"inputs": inputs, "expected": scores.astype(np.float32),
            "labels": np.asarray(split.test_targets), "histories": histories,
            "keras": keras_result}


def representative(work: dict, count: int) -> dict:
    """Seeded histories for calibration: `count` random users' training parts cut at random
    points, then rows that gather every vocabulary item once.

    The int8 item table takes the GATHER output's calibrated range: an item never gathered in
    calibration can lie outside it and be clipped (seen: 3 steps on 2 entries of the H = 20
    model), and then the tied scoring layer cannot read the int8 table
    (`export.conversion.float_head`) and keeps a float copy, over the size budget.
    """
    from pipeline.models.sequential_recommender import left_pad

    split, length = work["split"], work["sequence_length"]
    train = split.train
    rng = np.random.RandomState(int(work["config"].seed))
    users = rng.choice(len(train), size=count, replace=count > len(train))
    histories = [train[u][:rng.randint(1, len(train[u]) + 1)] for u in users]
    every = np.arange(split.vocabulary_size, dtype=np.int32)
    every = np.pad(every, (0, -len(every) % length)).reshape(-1, length)
    return {INPUT_NAME: np.concatenate([left_pad(histories, length), every])}


def header(work: dict) -> dict:
    length, size = work["sequence_length"], work["output_size"]
    return {
        "history_length": length,
        "num_items": size,
        "items_file": ITEMS_FILE,
        "items_sha256": contract.sha256_file(work["items_path"]),
        "items_format": "CSV with a header: index,movieId,title,genres; index = the model's "
                        "vocabulary id (input ids and output positions); row 0 is padding and "
                        "row 1 out-of-vocabulary (movieId empty)",
        "pad_id": PAD_ID,
        "oov_id": OOV_ID,
        "inputs": [{"name": INPUT_NAME, "dtype": "int32", "shape": [1, length],
                    "meaning": "the user's last history_length liked items as vocabulary ids "
                               "(movieId -> index through the items file; unknown -> 1), oldest "
                               "first and newest last, left-padded with 0"}],
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [1, size],
                   "meaning": "score of every vocabulary id as the next item (higher is better); "
                              "the app drops ids 0 and 1 and every item of the history, then "
                              "takes the top 10 (ties to the lower index)"},
    }


def associated_files(work: dict) -> dict:
    return {ITEMS_FILE: work["items_path"]}


def pack(data: bytes, work: dict) -> bytes:
    return data  # no TFLite metadata: the manifest names items.csv


def verify_metadata(export_dir: str, name: str, manifest) -> dict:
    """Recommenders carry no TFLite metadata: the items file beside them must match."""
    items = manifest.get("items_file", ITEMS_FILE)
    path = os.path.join(export_dir, items)
    if not os.path.isfile(path):
        problems = [f"{items} missing beside the model"]
    elif contract.sha256_file(path) != manifest.get("items_sha256"):
        problems = [f"{items} differs from manifest items_sha256"]
    else:
        problems = []
    return {"ok": not problems, "problems": problems, "associated_files": [items],
            "summary": f"{items} matches the manifest (recommenders carry no TFLite metadata)"}


def parity(path: str, evaluation: dict) -> dict:
    """Top-10 lists (history excluded) and HR@10 of the file against the Keras model's."""
    from export.tflite.runner import Runner
    from pipeline import ranking

    scores = Runner(path, input_keys=(INPUT_NAME,)).run_all(evaluation["inputs"])
    result = ranking.ranking_metrics(scores, evaluation["histories"], evaluation["labels"])
    keras_result = evaluation["keras"]
    diff = np.abs(scores - evaluation["expected"])
    return {
        "split": "test",
        "users": int(len(scores)),
        "top10_identical": float(np.mean(np.all(result["top"] == keras_result["top"], axis=1))),
        "top10_overlap": top_k_overlap(result["top"], keras_result["top"]),
        "hr10": result["hr"],
        "keras_hr10": keras_result["hr"],
        "hr10_drop_points": round(100.0 * (keras_result["hr"] - result["hr"]), 4),
        "ndcg10": result["ndcg"],
        "keras_ndcg10": keras_result["ndcg"],
        "max_abs_score_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_score_diff": float(diff.mean()) if diff.size else 0.0,
    }


def top_k_overlap(top, reference) -> float:
    """Mean over users of |A ∩ B| / k for two [users, k] arrays of top-k ids (order ignored)."""
    top, reference = np.asarray(top), np.asarray(reference)
    if not top.size:
        return 0.0
    shared = [len(np.intersect1d(a, b)) for a, b in zip(top, reference)]
    return float(np.mean(shared) / top.shape[1])


def summary(result: dict) -> str:
    return (f"top-10 identical {result['top10_identical']:7.2%}  overlap "
            f"{result.get('top10_overlap', float('nan')):7.2%}  HR@10 {result['hr10']:.4f} "
            f"(keras {result['keras_hr10']:.4f}, drop {result['hr10_drop_points']:+.2f} pts)")
