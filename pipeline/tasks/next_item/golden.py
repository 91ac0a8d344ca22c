"""The recommender's part of the app support: its golden.json section and bundle files.

This is the task's `app` module: `Task.golden` and `Task.bundle_files` call `golden` and
`bundle_files` here; `export.app.golden` writes the file. The "recommendations" section holds
seeded liked-movie histories (`export.app.golden.sample_histories`) with their model input,
the fp32 scores' top-10 and, for the first cases, every score, under the app's rules
(`export.runtime.postprocess`): liked movieIds -> catalogue indices through the items file (an
id outside the catalogue -> the out-of-catalogue index 1); input = the last H, newest last,
left-padded with 0; output = the ten best without padding, out-of-catalogue and every liked
index, shown as movieIds.
"""

from __future__ import annotations

import os

import numpy as np

from export import contract
from export.app import golden as app_golden
from export.contract import ITEMS_FILE, OOV_ID, PAD_ID, UserError
from export.runtime import postprocess
from export.runtime.recommender import catalogue_index, parse_items

SECTION = "recommendations"


def _read_items(path: str) -> list:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UserError(f"{path}: cannot read the items file ({e.strerror}); "
                        f"{contract.EXPORT_HINT} again") from None
    return parse_items(data, path)


def recommendation_section(export_dir: str, manifest: contract.Manifest, count: int = 300,
                           seed: int = 0, full_scores: int = 10) -> dict:
    """`count` histories with their input, top-10 indices, movieIds and scores; the first
    `full_scores` cases also carry every score (float32 little-endian, base64) so a port's
    post-processing can be checked without a runtime."""
    items_name = manifest.get("items_file", ITEMS_FILE)
    items = _read_items(os.path.join(export_dir, items_name))
    index_of = catalogue_index(items)
    model_name, runner = app_golden.fp32_model(export_dir, manifest)
    if len(runner.inputs) != 1:
        raise UserError(f"{runner.path}: expected one [1, H] input, got "
                        f"{[(key, list(d['shape'])) for key, d in runner.inputs.items()]}")
    (key,) = runner.inputs
    history_length = runner.input_shape(key)[-1]
    cases = []
    histories = app_golden.sample_histories(sorted(index_of), count, history_length, seed)
    for n, liked in enumerate(histories):
        indices = [index_of.get(m, OOV_ID) for m in liked]
        model_input = postprocess.history_input(indices, history_length)
        scores = runner.run({key: np.array([model_input], np.int32)})[0]
        top = postprocess.recommend(scores, indices)
        case = {"liked_movie_ids": liked, "input_ids": model_input, "top10_indices": top,
                "top10_movie_ids": [items[i]["movie_id"] for i in top],
                "top10_scores": [float(scores[i]) for i in top]}
        if n < full_scores:
            case["scores_f32le_base64"] = app_golden.scores_base64(scores)
        cases.append(case)
    return {"model_file": model_name, "model_sha256": manifest.files[model_name].sha256,
            "items_file": items_name, "history_length": history_length, "pad_id": PAD_ID,
            "oov_id": OOV_ID, "k": postprocess.TOP_K, "cases": cases}


def golden(export_dir: str, manifest: contract.Manifest, seed: int, eval_texts=None) -> dict:
    """`Task.golden`: {"recommendations": recommendation_section} (texts do not apply)."""
    del eval_texts
    return {SECTION: recommendation_section(export_dir, manifest, seed=seed)}


def bundle_files(manifest: contract.Manifest) -> list:
    """`Task.bundle_files`: the items file, with its sha256 from the manifest."""
    return [(manifest.get("items_file", ITEMS_FILE), manifest.get("items_sha256"))]
