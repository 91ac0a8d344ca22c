"""Golden vectors for app ports: `golden.json` in an export folder, what a phone must reproduce.

    from export.app import golden
    golden.write_golden("runs/intents/export", eval_texts=dataset.test.texts)
    golden.write_rules_golden("/tmp/rules.json")   # model-free recommendation rules only

A Java (Kotlin, Swift, ...) port of the preprocessing and post-processing proves itself by
giving exactly these values; android_demo/core's JUnit tests read the file and assert exact
equality for every case. Layout (format_version 1):

    {"format_version": 1, "generated_by": "export/app/golden.py", "unicode_version": "14.0.0",
     "seed": 0, <section>: {"model_file": "fp32.tflite", "model_sha256": ..., "cases": [...]}}

The sections come from the export's task (`Task.golden`: "classifier" for a text classifier,
"recommendations" for a recommender; their layouts are documented where they are built, in the
task packages). Their expected outputs come from the fp32 file (`fp32_model`) on the project's
one interpreter runner, and follow `export.runtime.postprocess`. The rules file holds one
section, "recommendation_rules": those post-processing rules on synthetic scores, for a port's
unit tests (`rules_section`).
"""

from __future__ import annotations

import base64
import json
import os
import random
import unicodedata

import numpy as np

from export import contract
from export.contract import OOV_ID, PAD_ID, UserError
from export.runtime import postprocess
from export.tflite.runner import Runner
from pipeline import tasks

FORMAT_VERSION = 1
GENERATED_BY = "export/app/golden.py"


def fp32_model(export_dir: str, manifest: contract.Manifest) -> tuple[str, Runner]:
    """(file name, runner) of the export's fp32 file, which golden values come from."""
    for name in ("fp32.tflite", *sorted(manifest.files)):
        if name in manifest.files and manifest.files[name].variant == "fp32":
            path = os.path.join(export_dir, name)
            # Golden inputs are sized from the manifest: it must describe this file.
            contract.check_signature(manifest, name, _read_model(path))
            return name, Runner(path)
    raise UserError(f"{manifest.path}: no fp32 .tflite listed; export with --variants=fp32 "
                    "(golden vectors come from the float model)")


def _read_model(path: str):
    """The file's flatbuffer (inputs, outputs) for `contract.check_signature`; UserError."""
    from export.tflite import reader as tflite_reader
    try:
        return tflite_reader.read_model(path)
    except ValueError as e:
        raise UserError(" ".join(str(e).split())) from None


def scores_base64(scores) -> str:
    """A score vector as float32 little-endian bytes in base64 (exact, and compact)."""
    return base64.b64encode(np.asarray(scores).astype("<f4").tobytes()).decode("ascii")


def build_golden(export_dir: str, eval_texts=None, seed: int = 0) -> dict:
    """The golden.json content of an export folder: the header and its task's sections."""
    folder = contract.open_export(export_dir)
    manifest = folder.manifest
    task = tasks.get(manifest.task, where=f"{manifest.path}: task")
    golden = {"format_version": FORMAT_VERSION, "generated_by": GENERATED_BY,
              "unicode_version": unicodedata.unidata_version, "seed": seed}
    golden.update(task.golden(export_dir, manifest, seed, eval_texts=eval_texts))
    return golden


def write_golden(export_dir: str, eval_texts=None, seed: int = 0) -> str:
    """Writes `<export_dir>/golden.json` atomically (compact: it ships in app assets);
    returns its path."""
    golden = build_golden(export_dir, eval_texts, seed)
    path = os.path.join(export_dir, contract.GOLDEN_NAME)
    try:
        contract.write_json_atomic(golden, path, compact=True)
    except OSError as e:  # a read-only export folder, a full disk: golden.json is unchanged
        raise contract.cannot_write(path, e) from None
    return path


def describe(path: str) -> str:
    """A written golden file's sections in words, e.g. "350 classifier cases"."""
    with open(path, encoding="utf-8") as f:
        golden = json.load(f)
    return ", ".join(f"{len(section['cases'])} {name} cases" for name, section in golden.items()
                     if isinstance(section, dict) and "cases" in section)


# ---------------------------------------------------------------------------------------------
# The model-free recommendation rules
# ---------------------------------------------------------------------------------------------
def sample_histories(movie_ids, count: int, history_length: int, seed: int) -> list:
    """Seeded liked-movie lists (movieIds, oldest first): empty, 1 item, shorter than, exactly
    and longer than `history_length`, with repeats and with ids outside the catalogue."""
    rng = random.Random(seed)
    movie_ids = list(movie_ids)
    unknown = max(movie_ids) + 1  # not in the catalogue: maps to OOV
    lengths = [0, 1, 2, history_length - 1, history_length, history_length + 1,
               3 * history_length]
    histories = []
    for n in range(count):
        size = lengths[n] if n < len(lengths) else rng.randint(1, 2 * history_length)
        liked = [rng.choice(movie_ids) for _ in range(max(size, 0))]
        if n % 7 == 3 and liked:
            liked[rng.randrange(len(liked))] = unknown
        if n % 11 == 5 and len(liked) > 2:
            liked.append(liked[0])  # liked again later
        histories.append(liked)
    return histories


def rules_section(count: int = 200, seed: int = 0) -> dict:
    """`export.runtime.postprocess`'s recommendation rules on synthetic scores (no model):
    catalogues of 3 to 300 items, score vectors with many exact ties and some NaN, histories as
    in `sample_histories`; each case has its catalogue, liked movieIds, input, top-10 and every
    score. Unknown movieIds map to the out-of-catalogue index."""
    rng = np.random.RandomState(seed)
    cases = []
    for n in range(count):
        size = int(rng.randint(3, 300))
        movie_ids = sorted(rng.choice(200000, size=size - 2, replace=False).tolist())
        items = [(PAD_ID, -1), (OOV_ID, -1)] + [(i + 2, m) for i, m in enumerate(movie_ids)]
        index_of = {m: i for i, m in items if m >= 0}
        history_length = int(rng.choice([1, 3, 8, 50]))
        liked = sample_histories(movie_ids, n + 1, history_length, seed + n)[n]
        indices = [index_of.get(m, OOV_ID) for m in liked]
        levels = int(rng.choice([2, 5, 1000]))
        scores = (rng.randint(0, levels, size=size) / levels).astype(np.float32)
        if n % 5 == 0:
            scores[rng.randint(0, size)] = np.nan
        top = postprocess.recommend(scores, indices)
        cases.append({"catalogue_movie_ids": movie_ids, "history_length": history_length,
                      "liked_movie_ids": liked,
                      "input_ids": postprocess.history_input(indices, history_length),
                      "top10_indices": top, "top10_movie_ids": [items[i][1] for i in top],
                      "scores_f32le_base64": scores_base64(scores)})
    return {"pad_id": PAD_ID, "oov_id": OOV_ID, "k": postprocess.TOP_K, "cases": cases}


def write_rules_golden(path: str, seed: int = 0) -> str:
    """Writes a golden file holding only the "recommendation_rules" section; returns `path`."""
    contract.check_output_file(path, "--rules_to", "rules.json")
    try:
        contract.write_json_atomic({"format_version": FORMAT_VERSION,
                                    "generated_by": GENERATED_BY, "seed": seed,
                                    "recommendation_rules": rules_section(seed=seed)},
                                   path, compact=True)
    except OSError as e:
        raise contract.cannot_write(f"--rules_to={path}", e) from None
    return path
