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
sys.path.insert(0, REPO)  # run as a script: export/ imports without an install

from export import contract  # noqa: E402  (needs the path above)

GOAL_HR = 0.13  # the goal: HR@10, mean of 3 seeds, every setting chosen on validation
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
                 "with every setting chosen on validation only.")
    return "\n".join(lines) + validation_table(result)


def validation_table(result):
    """The figures the settings and seeds were chosen on: best-epoch validation HR@10 per seed
    and the baselines on the same validation cases (`recs.valid_positions`)."""
    valid = result.get("validation")
    if not valid:
        return ""
    best = result["model"]["validation_best"]
    lines = ["", "", f"Validation ({valid['cases']} cases: each user's validation item and the "
             f"{valid['positions'] - 1} before it, training windows ending before them; the test "
             "item is never used for a choice):", "",
             "| model | validation HR@10 | NDCG@10 | best epoch |", "| --- | --- | --- | --- |"]
    for seed, b in best.items():
        lines.append(f"| seed {seed} | {b['hr']:.4f} | {b.get('ndcg', 0):.4f} | {b['epoch']} |")
    for name, b in valid["baselines"].items():
        lines.append(f"| {name.replace('_', ' ')} | {b['hr']:.4f} | {b['ndcg']:.4f} | |")
    return "\n".join(lines)
    return "\n".join(lines)


NOTES = """
## How it was measured

`python benchmarks/recommendation.py --data_root=../shared/datasets --runs=runs/bench_rec` on
the development machine (2 CPU cores shared with other jobs, no GPU): `configs/movielens.py` as
shipped (H = 20), seeds 0, 1, 2, each stopped early on validation HR@10; the baselines are
scored by the same run on the same split (`pipeline/ranking.py`). Seed 0's stage folder is the
one trained in the H = 20 validation run below (same config; copied into the benchmark workdir,
where the run resumed it and trained seeds 1 and 2). Peers: `../shared/benchmarks/README.md`,
same protocol P.

Protocol check: the most-popular baseline reproduces the peer table to every printed digit
(0.0410 / 0.0188 / 0.0181 / 0.013), and co-occurrence in both directions reproduces its HR@10
and NDCG@10 (0.0934 / 0.0515; MRR 0.0499 vs 0.0497, coverage 0.095 vs 0.090). The forward-only
co-occurrence row is *not* reproduced: counting "b follows a within 5 positions" over the
training parts and summing over the last 10 history items gives 0.0852 here, not 0.1016; window
4 gives 0.1000, window 6 0.0934, so that figure is sensitive to details the peer table does not
give.

## Validation: five held-out positions per user (`recs.valid_positions = 5`)

Protocol P's validation is one item per user (610 cases, one standard error of HR@10 about
0.012): it could not tell H = 20 from H = 50 (below). The validation now holds out each user's
validation item *and the 4 training-part items before it*, each predicted from the items before
it (3,050 cases); training windows, the PPMI warm start and the validation baselines use only
the items before the earliest held-out one (4 fewer training items per user, 2.4 % of the
targets). The test item, its history and the catalogue are protocol P's, unchanged, and the
baselines are scored on the same cases by the same code (`baseline_results(...,
validation_positions=5)`). Differences between two runs are judged paired, on the same cases,
with a bootstrap over users (1,000 resamples).

## What was tried (seed 0, chosen on validation HR@10 only)

This round, on the 5-position validation; all with 2 blocks, 2 heads, dim 128, ReLU, PPMI warm
start, seen items left out of the softmax (full cross-entropy over all 9,683 items otherwise, as
in Klenitskiy & Vasilev's SASRec), batch 64, AdamW (lr 1e-3, weight decay 0.01), 12 epochs,
patience 4. Test figures were not looked at for any run but the chosen one.

| run | validation HR@10 (best epoch) | test HR@10 |
| --- | --- | --- |
| co-occurrence, last 5 / last 10 items, window 5 (the same validation cases) | 0.1325 / 0.1144 | — |
| H = 50, windows every 50 items (the previous shipped model) | 0.1544 (11) | not looked at |
| **H = 20, windows every 20 items** | **0.1626 (8)** | see the table above |
| H = 20, dropout 0.5 | 0.1492 (6), stopped by hand after epoch 6 (dropout 0.3: 0.1603 at epoch 6) | not run |

H = 20 minus H = 50 on the same 3,050 cases: +0.0082 HR@10, paired bootstrap standard error
0.0044 (about 1.9 s.e.); both figures are best-epoch, so equally optimistic. That is the
choice; dropout 0.5 learns more slowly and was behind at every epoch it ran.

Earlier rounds, on protocol P's one-item validation (610 cases), H = 50, batch 64, AdamW
(weight decay 0.01), windows every 50 items; the first five with GELU, then ReLU (NNAPI has no
GELU). Their test figures were seen when they were run: they are history, not choices.

| run | validation HR@10 (best epoch) | test HR@10 |
| --- | --- | --- |
| dim 64, random item embeddings, lr 3e-3, dropout 0.2, 12 of 15 epochs | 0.0607 (9) | not run |
| dim 64, item embeddings from PPMI co-occurrence (`ppmi_embeddings`), lr 1e-3, 15 epochs | 0.1344 (11) | 0.1131 |
| same, items seen earlier in the window left out of the softmax, 12 epochs | 0.1311 (8) | 0.1164 |
| dim 64, PPMI, lr 2e-3, dropout 0.3, label smoothing 0.1, 12 epochs | 0.1361 (8) | 0.1115 |
| dim 128, PPMI, seen items left out, dropout 0.3, lr 1e-3, 12 epochs | 0.1443 (6) | 0.1148 |
| the same with ReLU, H = 50, seed 0 / 1 / 2 (shipped until this round) | 0.1426 (7) / 0.1557 (8) / 0.1475 (7) | 0.1098 / 0.1262 / 0.1115 |
| dim 64, PPMI, seen items left out, windows every 25 items (2x data), stopped at epoch 5 | 0.1311 (4) | not run |
| H = 20 (windows every 20 items), seed 0 / 1 / 2, tried after the H = 50 test result | 0.1426 (5) / 0.1623 (5) / 0.1426 (6) | 0.1328 / 0.1393 / 0.1295 |

That H = 20 test figure (0.1339 mean) was seen before this round, so it could not choose H; one
item per user did not separate H = 20 from H = 50 (mean best-epoch 0.1492 vs 0.1486). The
5-position validation does, and chose H = 20 without reference to it. The headline figure is
a fresh 3-seed run of the chosen config on the changed training windows (4 items per user fewer),
not those earlier numbers.

The warm start is what matters: from random item embeddings the model crawls (0.06 after 9
epochs, as the SASRec-style peer's 0.0885 after 30 suggests), while PPMI-initialised embeddings
score 0.10 on validation after one epoch.

Export: the int8 item table takes the range calibrated on the GATHER's output, so an item
never gathered during calibration could be clipped; on the H = 20 model 2 entries were (3 steps),
the tied scoring layer then kept a float copy of the table and `int8_full` grew to 6.56 MB (size
budget 2 MB). Calibration now also gathers every item once (`export_spec.representative`): the
file is 1.60 MB again (seed 0 of the H = 20 run: top-10 overlap 0.941 against the Keras
model, 0.928 before). Not fixed: the GPU check at default (fp16) precision, on seed 1's export,
gives top-10 agreement with the CPU of 99.20 % (fp32 file) and 99.15 % (fp16 file), under the
99.5 % the gate requires (scores up to 15.8; with enforce_f32 max |Δ| 5e-6 passes).

Not tried for lack of time (each run took 12-20 minutes on the shared cores this round): a
stronger weight decay on the item table, a longer schedule with a larger batch or a higher
learning rate, H = 10, overlapping windows at H = 20, ensembling seeds (one model is what ships).
"""


def export_table(workdir):
    """Sizes and parity of `<workdir>/export/` (python -m export.convert), if it exists."""
    path = os.path.join(workdir, "export", "manifest.json")
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    lines = ["", "## The exported model (`python -m export.convert`, seed chosen on validation)", "",
             "| file | bytes | top-10 lists identical to Keras | top-10 overlap | HR@10 (Keras) "
             "| drop, points |", "| --- | ---: | ---: | ---: | --- | ---: |"]
    for name, entry in manifest.get("files", {}).items():
        p = entry.get("checks", {}).get("parity", {})
        lines.append(f"| {name} | {entry.get('bytes', 0):,} | {p.get('top10_identical', 0):.2%} | "
                     f"{p.get('top10_overlap', 0):.3f} | "
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
        contract.write_bytes_atomic(content.encode("utf-8"), os.path.join(HERE, name))


if __name__ == "__main__":
    main()
