"""The JSON job/results protocol shared by the consumer scripts in this folder.

A consumer script runs in its own venv, once for all models and texts:

    python <consumer>.py job.json results.json

job.json: {"models": {"fp32": "path/fp32.tflite", ...}, "texts": ["set an alarm", ...]}
results.json: {"fp32": {"labels": [top-1 label per text], "scores": [{label: score} per text],
               "load_seconds": s, "classify_seconds": s}, ...}, or {"error": why} for a
model the library refuses to load.

    def load(path):            # -> a function text -> [(label, score), ...]
        ...
    job_io.main(load)
"""

import json
import sys
import time


def _classify_all(load, path: str, texts: list) -> dict:
    started = time.perf_counter()
    classify = load(path)
    loaded = time.perf_counter()
    labels, scores = [], []
    for text in texts:
        row = dict(classify(text))
        labels.append(max(row, key=row.get))
        scores.append(row)
    return {"labels": labels, "scores": scores, "load_seconds": loaded - started,
            "classify_seconds": time.perf_counter() - loaded}


def main(load) -> None:
    job_path, results_path = sys.argv[1:3]
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    results = {}
    for name, path in job["models"].items():
        try:
            results[name] = _classify_all(load, path, job["texts"])
        except (ValueError, RuntimeError) as e:  # the library refused the model: report why
            results[name] = {"error": f"{type(e).__name__}: {' '.join(str(e).split())}"}
    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(results, f)
