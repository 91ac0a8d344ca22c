"""`python -m pipeline.train --config=configs/movielens.py`: the next_item task end to end."""

import json
import os

import numpy as np

from tests.conftest import REPO, run, shared_dataset

CONFIG = os.path.join(REPO, "configs", "movielens.py")
TINY = ("--config.model.num_layers=1", "--config.model.hidden_dim=32",
        "--config.model.intermediate_dim=64", "--config.train.max_steps=30",
        "--config.train.batch_size=128", "--config.recs.window_stride=50",
        "--config.recs.num_seeds=2", "--config.recs.history_length=20",
        "--config.train.learning_rate=0.005")


def test_train_resume_and_evaluate_on_ml_latest_small(tmp_path):
    data = shared_dataset("ml-latest-small")
    workdir = tmp_path / "recs"
    args = ("pipeline.train", f"--config={CONFIG}", f"--workdir={workdir}",
            f"--config.data.dir={data}", *TINY)
    r = run(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("config.json", "split.json", "items.csv", "model.keras", "metrics.json",
                 "training_curves.png", "next_item_seed0/model.keras", "next_item_seed0/best.json",
                 "next_item_seed1/history.csv"):
        assert (workdir / name).exists(), name
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["users"] == 610 and metrics["catalogue"] == 9681
    assert set(metrics["model"]["per_seed"]) == {"0", "1"}
    mean = metrics["model"]["mean_over_seeds"]
    assert 0.0 <= mean["hr"]["min"] <= mean["hr"]["mean"] <= mean["hr"]["max"] <= 0.961
    popular = metrics["baselines"]["most_popular"]
    assert round(popular["hr"], 4) == 0.0410
    # 30 steps learn the popular items at least: not worse than a third of most popular.
    assert mean["hr"]["mean"] > popular["hr"] / 3, mean
    assert len(metrics["examples"][0]["top"]) == 10
    items = (workdir / "items.csv").read_text(encoding="utf-8").splitlines()
    assert len(items) == 1 + 9681 + 2 and items[3].startswith("2,1,Toy Story (1995)")

    # Finished: running the same command again trains nothing and gives the same metrics.
    r = run(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "training" not in r.stdout.replace("training interactions", "")
    again = json.loads((workdir / "metrics.json").read_text())
    assert again["model"]["per_seed"] == metrics["model"]["per_seed"]

    os.remove(workdir / "metrics.json")
    r = run("pipeline.evaluate", f"--workdir={workdir}", f"--data_dir={data}")
    assert r.returncode == 0, r.stderr[-3000:]
    evaluated = json.loads((workdir / "metrics.json").read_text())
    for seed, values in metrics["model"]["per_seed"].items():
        assert np.allclose([evaluated["model"]["per_seed"][seed][k] for k in ("hr", "ndcg", "mrr")],
                           [values[k] for k in ("hr", "ndcg", "mrr")], atol=1e-6)
