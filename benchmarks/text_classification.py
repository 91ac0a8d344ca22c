"""Accuracy benchmark on the real datasets: trains each task's config, writes a results table.

  python benchmarks/text_classification.py --data_root=../shared/datasets --runs=runs/bench \\
      [--only=sst2,bbc_news] [--extra=--config.train.epochs=1]

Each task runs `python -m pipeline.train` in <runs>/<task> (resumable: rerun to continue), then
this script reads every stage's metrics and writes benchmarks/text_classification.{md,json}.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TEACHER_GOAL = {"sst2": 0.90}  # the goal for the teacher, where it sets one
TASKS = {  # task -> (config file, data folder under --data_root, student goal from the issue)
    "sst2": ("configs/sst2.py", "sst2", 0.88),
    "bbc_news": ("configs/bbc_news.py", "bbc", 0.97),
    "thucnews_zh": ("configs/thucnews_zh.py", "thucnews", 0.85),
}


def stage_rows(task, workdir, goal):
    """One row per stage that produced a classifier, scored on the evaluation split."""
    import ml_collections
    import numpy as np

    from pipeline import metrics, tokenizer, training
    from pipeline.data import load_text_dataset
    from pipeline.models.teacher import build_teacher
    from pipeline.stages import encode

    with open(os.path.join(workdir, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    dataset = load_text_dataset(config.data, config.seed)
    rows = []
    for stage in ("teacher", "finetune", "distill"):
        path = os.path.join(workdir, stage, "model.keras")
        if not os.path.exists(path):
            continue
        model = training.load_model(path)
        if stage == "teacher":
            pre = build_teacher(config.model.preset, len(dataset.label_names),
                                config.tokenizer.sequence_length).preprocessor
        else:
            pre = tokenizer.make_preprocessor(
                tokenizer.make_tokenizer(os.path.join(workdir, "vocab.txt")), config.tokenizer.sequence_length)
        logits = model.predict(encode(pre, dataset.test.texts), batch_size=128, verbose=0)
        m = metrics.classification_metrics(dataset.test.labels, np.argmax(logits, -1), dataset.label_names)
        history = metrics.read_history(os.path.join(workdir, stage))
        rows.append({"task": task, "stage": stage, "params": int(model.count_params()),
                     "train_examples": len(dataset.train.texts), "eval_examples": m["num_examples"],
                     "accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
                     "epochs": len(history),
                     "goal": TEACHER_GOAL.get(task) if stage == "teacher" else goal})
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_root", default=os.path.join(REPO, "..", "shared", "datasets"))
    p.add_argument("--runs", default=os.path.join(REPO, "runs", "bench"))
    p.add_argument("--only", default=",".join(TASKS))
    p.add_argument("--extra", action="append", default=[], help="extra --config.* overrides")
    p.add_argument("--table_only", action="store_true", help="only rebuild the table from runs")
    args = p.parse_args()
    results_path = os.path.join(HERE, "text_classification.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    for task in args.only.split(","):
        config, folder, goal = TASKS[task]
        workdir = os.path.join(args.runs, task)
        if not args.table_only:
            started = time.time()
            cmd = [sys.executable, "-m", "pipeline.train", f"--config={config}", f"--workdir={workdir}",
                   f"--config.data.dir={os.path.join(args.data_root, folder)}", *args.extra]
            print(" ".join(cmd), flush=True)
            if subprocess.run(cmd, cwd=REPO).returncode != 0:
                sys.exit(f"{task}: training failed")
            results.setdefault(task, {})["wall_seconds_last_run"] = round(time.time() - started)
        metrics_json = json.load(open(os.path.join(workdir, "metrics.json")))
        results.setdefault(task, {})["final_seconds"] = metrics_json["seconds"]
        results[task]["overrides"] = args.extra
        results[task]["rows"] = stage_rows(task, workdir, goal)
    with open(results_path, "w") as f:
        json.dump(results, f, indent=2)
    lines = ["| task | stage | params | train ex. | eval ex. | accuracy | macro-F1 | epochs | goal |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for task in results:
        for r in results[task]["rows"]:
            lines.append(f"| {r['task']} | {r['stage']} | {r['params']:,} | {r['train_examples']:,} | "
                         f"{r['eval_examples']:,} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
                         f"{r['epochs']} | {r['goal'] or '-'} |")
    table = "\n".join(lines)
    with open(os.path.join(HERE, "text_classification.md"), "w") as f:
        f.write("# Text classification accuracy (real data, this machine: 2 CPU cores)\n\n"
                "Written by `python benchmarks/text_classification.py`; the evaluation split is "
                "SST-2 dev, the seeded 80/20 BBC split, and THUCNews test.\n\n" + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
