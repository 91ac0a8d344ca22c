"""The distillation recipe, one step at a time, scored on a held-out part of train.

  python benchmarks/recipe_ablation.py --config=configs/assistant_intents.py \\
      --runs=runs/ablation [--data_dir=...] [--validation_fraction=0.2] [--only=...]

Each step adds one part of the recipe (issue "Accuracy...": teacher soft targets, augmented
transfer set, teacher-initialised embeddings) to the one before; every run uses
`--config.data.validation_fraction`, so the choices never see the test split. The steps after
the first teacher run reuse its teacher (copied: same data, same config, same checkpoint).
Writes benchmarks/recipe_ablation_<config>.{md,json}. Resumable: rerun to continue.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# Every step starts from the config with the recipe's parts off, whatever the config ships.
BASE = ["--config.stages.teacher=False", "--config.stages.distill=False",
        "--config.teacher.kind=transformer", "--config.distill.augment_copies=0",
        "--config.model.init_embeddings_from_teacher=False"]
KD = ["--config.stages.teacher=True", "--config.stages.distill=True"]
STEPS = [  # (name, overrides), each adding to the one before it
    ("labels only (pretrain + fine-tune)", []),
    ("+ teacher soft targets on the train texts", KD),
    ("+ 8 augmented copies a text", KD + ["--config.distill.augment_copies=8"]),
    ("+ token embeddings from the teacher", KD + ["--config.distill.augment_copies=8",
                                                  "--config.model.init_embeddings_from_teacher=True"]),
    ("TF-IDF + logistic regression as the teacher instead",
     KD + ["--config.distill.augment_copies=8", "--config.model.init_embeddings_from_teacher=True",
           "--config.teacher.kind=tfidf_logreg"]),
]


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/assistant_intents.py")
    p.add_argument("--runs", default=os.path.join(REPO, "runs", "ablation"))
    p.add_argument("--data_dir", default="")
    p.add_argument("--validation_fraction", type=float, default=0.2)
    p.add_argument("--extra", action="append", default=[], help="overrides for every step")
    args = p.parse_args()
    name = os.path.splitext(os.path.basename(args.config))[0]
    base = os.path.join(HERE, f"recipe_ablation_{name}")
    previous = {}  # a finished step's training time, kept when a rerun only re-evaluates it
    if os.path.exists(base + ".json"):
        with open(base + ".json") as f:
            previous = {r["step"]: r for r in json.load(f)["rows"]}
    rows, teacher_dir = [], None
    for number, (step, overrides) in enumerate(STEPS):
        workdir = os.path.join(args.runs, name, f"step{number}")
        uses_teacher = ("--config.stages.teacher=True" in overrides
                        and "--config.teacher.kind=tfidf_logreg" not in overrides)
        if uses_teacher and teacher_dir and not os.path.exists(os.path.join(workdir, "teacher")):
            os.makedirs(workdir, exist_ok=True)
            shutil.copytree(teacher_dir, os.path.join(workdir, "teacher"),
                            ignore=shutil.ignore_patterns("logits"))
        cmd = [sys.executable, "-m", "pipeline.train", f"--config={args.config}",
               f"--workdir={workdir}",
               f"--config.data.validation_fraction={args.validation_fraction}",
               *([f"--config.data.dir={args.data_dir}"] if args.data_dir else []),
               *BASE, *overrides, *args.extra]
        finished = os.path.exists(os.path.join(workdir, "model.keras"))
        print(" ".join(cmd), flush=True)
        if subprocess.run(cmd, cwd=REPO).returncode != 0:
            sys.exit(f"{step}: training failed")
        if uses_teacher and teacher_dir is None:
            teacher_dir = os.path.join(workdir, "teacher")
        with open(os.path.join(workdir, "metrics.json")) as f:
            m = json.load(f)
        rows.append({"step": step, "overrides": overrides, "accuracy": round(m["accuracy"], 4),
                     "macro_f1": round(m["macro_f1"], 4),
                     "seconds": (previous[step]["seconds"] if finished and step in previous
                                 else m["seconds"]),
                     "validation_examples": m["num_examples"]})
        print(rows[-1], flush=True)
    with open(base + ".json", "w") as f:
        json.dump({"config": args.config, "validation_fraction": args.validation_fraction,
                   "extra": args.extra, "rows": rows}, f, indent=2)
    lines = ["| step | validation accuracy | macro-F1 | gain (points) | train seconds |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for i, r in enumerate(rows):
        gain = "" if i == 0 else f"{100 * (r['accuracy'] - rows[i - 1]['accuracy']):+.2f}"
        lines.append(f"| {r['step']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {gain} | "
                     f"{r['seconds']:.0f} |")
    with open(base + ".md", "w") as f:
        f.write(f"# Recipe ablation: {args.config}\n\nWritten by `python "
                f"benchmarks/recipe_ablation.py --config={args.config}`; every row is scored "
                f"on a seeded {args.validation_fraction:.0%} of train held out "
                f"(`data.validation_fraction`), {rows[0]['validation_examples']} texts; the test "
                "split is not used. Each step adds to the one above (the last replaces the "
                "teacher of the one above). Train seconds are the first run's, on 2 CPU cores "
                "shared with other jobs.\n\n" + "\n".join(lines)
                + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
