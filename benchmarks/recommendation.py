"""Recommendation benchmark: protocol P on MovieLens latest-small, the model beside the peers.

  python benchmarks/recommendation.py --data_root=../shared/datasets --runs=runs/bench \\
      [--extra=--config.recs.num_seeds=3] [--table_only]

Runs `python -m pipeline.train --config=configs/movielens.py` in <runs>/movielens (resumable:
rerun to continue), then writes benchmarks/recommendation.{md,json}: the model's mean ± std over
its seeds and the baselines scored in the same run, beside the peer table of
../shared/benchmarks/README.md (measured there on a 2-core machine like this one).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GOAL_HR = 0.12  # the goal: HR@10, mean of 3 seeds
PEERS = [  # ../shared/benchmarks/README.md, protocol P: (name, HR@10, NDCG@10, MRR, cov@10, fit)
    ("most popular", 0.0410, 0.0188, 0.0181, 0.013, "0 s"),
    ("item co-occurrence, last 10, window 5, forward", 0.1016, 0.0522, 0.0477, 0.094, "8 s"),
    ("item co-occurrence, same, both directions", 0.0934, 0.0515, 0.0497, 0.090, "8 s"),
    ("TF Lite on-device recommendation example, best of 6 runs", 0.0377, 0.0155, 0.0144, 0.010, "358 s"),
    ("SASRec-style Keras 3 + keras-hub, 2 blocks, dim 64", 0.0885, 0.0460, 0.0443, 0.200, "680 s"),
]
METRICS = ("hr", "ndcg", "mrr", "coverage")


def table(result, seconds):
    mean = result["model"]["mean_over_seeds"]
    seeds = result["model"]["per_seed"]
    lines = ["| model | HR@10 | NDCG@10 | MRR | cov@10 | fit |", "| --- | --- | --- | --- | --- | --- |"]
    lines.append(f"| **this project**: sequential recommender, mean ± std of {len(seeds)} seeds | "
                 + " | ".join(f"**{mean[m]['mean']:.4f}** ± {mean[m]['std']:.4f}" for m in METRICS)
                 + f" | {seconds / max(1, len(seeds)):.0f} s per seed |")
    for seed, m in seeds.items():
        lines.append(f"| — seed {seed} | " + " | ".join(f"{m[k]:.4f}" for k in METRICS) + " | |")
    for name, b in result["baselines"].items():
        lines.append(f"| this run: {name.replace('_', ' ')} | "
                     + " | ".join(f"{b[m]:.4f}" for m in METRICS) + " | |")
    for name, *values, fit in PEERS:
        lines.append(f"| peer: {name} | " + " | ".join(f"{v:.4f}" for v in values) + f" | {fit} |")
    verdict = "reached" if mean["hr"]["mean"] >= GOAL_HR else "not reached"
    lines.append("")
    lines.append(f"Goal HR@10 ≥ {GOAL_HR} (mean of seeds): {verdict} "
                 f"({mean['hr']['mean']:.4f}, seeds {mean['hr']['min']:.4f}–{mean['hr']['max']:.4f}), "
                 "with every setting chosen on validation only; see 'H = 20, seen after the "
                 "test result' below for a figure that is not claimed.")
    return "\n".join(lines)


NOTES = """
## How it was measured

`python benchmarks/recommendation.py` on the development machine (2 CPU cores shared with
other jobs, no GPU): `configs/movielens.py` as shipped (H = 50), seeds 0, 1, 2, each stopped early on
validation HR@10; the baselines are scored by the same run on the same split
(`pipeline/ranking.py`). Peers: `../shared/benchmarks/README.md`, same protocol P.

Protocol check: the most-popular baseline reproduces the peer table to every printed digit
(0.0410 / 0.0188 / 0.0181 / 0.013), and co-occurrence in both directions reproduces its HR@10
and NDCG@10 (0.0934 / 0.0515; MRR 0.0499 vs 0.0497, coverage 0.095 vs 0.090). The forward-only
co-occurrence row is *not* reproduced: counting "b follows a within 5 positions" over the
training parts and summing over the last 10 history items gives 0.0852 here, not 0.1016; window
4 gives 0.1000, window 6 0.0934, so that figure is sensitive to details the peer table does not
give. The same counts summed over the last 5 items instead of 10 give 0.1246 on test (0.1344 on
validation): a strong, simple reference point for this data.

## What was tried (seed 0, chosen on validation HR@10 only)

All with 2 blocks, 2 heads, H = 50, batch 64, AdamW (weight decay 0.01), windows every 50
items; the first five with GELU, the shipped model with ReLU (NNAPI has no GELU).

| run | validation HR@10 (best epoch) | test HR@10 |
| --- | --- | --- |
| dim 64, random item embeddings, lr 3e-3, dropout 0.2, 12 of 15 epochs | 0.0607 (9) | not run |
| dim 64, item embeddings from PPMI co-occurrence (`ppmi_embeddings`), lr 1e-3, 15 epochs | 0.1344 (11) | 0.1131 |
| same, items seen earlier in the window left out of the softmax, 12 epochs | 0.1311 (8) | 0.1164 |
| dim 64, PPMI, lr 2e-3, dropout 0.3, label smoothing 0.1, 12 epochs | 0.1361 (8) | 0.1115 |
| dim 128, PPMI, seen items left out, dropout 0.3, lr 1e-3, 12 epochs | 0.1443 (6) | 0.1148 |
| the same with ReLU, H = 50, seed 0 / 1 / 2 (first 3-seed run) | **0.1426 (7) / 0.1557 (8) / 0.1475 (7)** | 0.1098 / 0.1262 / 0.1115 |
| dim 64, PPMI, seen items left out, windows every 25 items (2x data), stopped at epoch 5 | 0.1311 (4) | not run |
| the shipped model with H = 20 (windows every 20 items), seed 0 / 1 / 2 | 0.1426 (5) / 0.1623 (5) / 0.1426 (6) | 0.1328 / 0.1393 / 0.1295 |

**H = 20, seen after the test result: not claimed.** The shipped H = 50 model was chosen on
validation alone and gives the headline figure above (goal not reached). H = 20 was tried
afterwards, with that test result and the H = 20 seed-0 test result already seen; it scored
0.1339 ± 0.0050 on test (3 seeds), but validation does not separate the two (mean best-epoch
HR@10 0.1492 for H = 20 vs 0.1486 for H = 50, far inside the noise), so switching to it would
be choosing on the test set. The config keeps H = 50; a fresh validation protocol (e.g. a
second held-out item per user) would be needed to choose H honestly.

The warm start is what matters: from random item embeddings the model crawls (0.06 after 9
epochs, as the SASRec-style peer's 0.0885 after 30 suggests), while PPMI-initialised embeddings
score 0.10 on validation after one epoch. Validation and test differ by about 0.02 throughout
(validation is optimistic after choosing the best epoch; with 610 users one standard error of
HR@10 is about 0.012). The whole 3-seed run, baselines included, took 771 s on 2 shared cores
with H = 50 (156 s per seed with H = 20).

Not tried for lack of time: longer training with a larger batch, a higher-rank PPMI warm
start, ensembling seeds (one model is what ships), stronger recency cues (co-occurrence over the
last 5 items scores 0.1246 on test: above the H = 50 model's 0.1158, below H = 20's 0.1339).
"""


def export_table(workdir):
    """Sizes and parity of `<workdir>/export/` (python -m export.convert), if it exists."""
    path = os.path.join(workdir, "export", "manifest.json")
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    lines = ["", "## The exported model (`python -m export.convert`, seed chosen on validation)", "",
             "| file | bytes | top-10 lists identical to Keras | HR@10 (Keras) | drop, points |",
             "| --- | ---: | ---: | --- | ---: |"]
    for name, entry in manifest.get("files", {}).items():
        p = entry.get("checks", {}).get("parity", {})
        lines.append(f"| {name} | {entry.get('bytes', 0):,} | {p.get('top10_identical', 0):.2%} | "
                     f"{p.get('hr10', 0):.4f} ({p.get('keras_hr10', 0):.4f}) | "
                     f"{p.get('hr10_drop_points', 0):+.2f} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_root", default=os.path.join(REPO, "..", "shared", "datasets"))
    p.add_argument("--runs", default=os.path.join(REPO, "runs", "bench"))
    p.add_argument("--extra", action="append", default=[], help="extra --config.* overrides")
    p.add_argument("--table_only", action="store_true", help="only rebuild the table from the run")
    p.add_argument("--fit_seconds", type=float, default=None,
                   help="with --table_only: the measured wall time of the whole training run "
                        "(metrics.json only holds the last evaluation's seconds)")
    args = p.parse_args()
    workdir = os.path.join(args.runs, "movielens")
    started = time.time()
    if not args.table_only:
        cmd = [sys.executable, "-m", "pipeline.train", "--config=configs/movielens.py",
               f"--workdir={workdir}",
               f"--config.data.dir={os.path.join(args.data_root, 'ml-latest-small')}", *args.extra]
        print(" ".join(cmd), flush=True)
        if subprocess.run(cmd, cwd=REPO).returncode != 0:
            sys.exit(1)
    with open(os.path.join(workdir, "metrics.json"), encoding="utf-8") as f:
        result = json.load(f)
    seconds = (args.fit_seconds or result["seconds"]) if args.table_only else time.time() - started
    text = table(result, seconds) + "\n" + export_table(workdir)
    print(text)
    record = {"protocol": "P", "dataset": "ml-latest-small", "workdir": workdir,
              "goal_hr_at_10": GOAL_HR, "seconds": round(seconds, 1), "result": result,
              "peers": [dict(zip(("model", "hr", "ndcg", "mrr", "coverage", "fit"), row)) for row in PEERS]}
    for name, content in (("recommendation.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n"),
                          ("recommendation.md", "# Recommendations: protocol P on MovieLens "
                           "latest-small\n\n" + text + "\n" + NOTES)):
        tmp = os.path.join(HERE, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(content)
        os.replace(tmp, os.path.join(HERE, name))


if __name__ == "__main__":
    main()
