"""`python -m pipeline.train --config=configs/movielens.py`: the next_item task end to end."""

import json
import os

import numpy as np
import pytest

from tests.conftest import REPO, run, shared_dataset

CONFIG = os.path.join(REPO, "configs", "movielens.py")
TINY = ("--config.model.num_layers=1", "--config.model.hidden_dim=32",
        "--config.model.intermediate_dim=64", "--config.train.max_steps=30",
        "--config.train.batch_size=128", "--config.recs.window_stride=50",
        "--config.recs.num_seeds=2", "--config.recs.history_length=20",
        "--config.train.learning_rate=0.005")


pytestmark = pytest.mark.slow  # trains and exports a recommender on the real data


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny recommender trained on ml-latest-small (2 seeds, 30 steps each): (workdir, args)."""
    data = shared_dataset("ml-latest-small")
    workdir = tmp_path_factory.mktemp("recs") / "movielens"
    args = ("pipeline.train", f"--config={CONFIG}", f"--workdir={workdir}",
            f"--config.data.dir={data}", *TINY)
    r = run(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    return workdir, args


def test_train_resume_and_evaluate_on_ml_latest_small(trained):
    workdir, args = trained
    data = shared_dataset("ml-latest-small")
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
    assert round(popular["hr"], 4) == 0.0410  # test: protocol P, whatever validation holds out
    # Validation: 5 cases per user (configs/movielens.py), baselines scored on the same cases.
    valid = metrics["validation"]
    assert valid["positions"] == 5 and valid["cases"] == 5 * 610
    assert valid["baselines"]["most_popular"]["users"] == 5 * 610
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


def test_export_convert_writes_the_recommender_files(trained):
    """The same `python -m export.convert` on a next_item workdir: [1, H] ids -> [1, V] scores."""
    from export.tflite import reader as tflite_reader

    workdir, _ = trained
    r = run("export.convert", f"--workdir={workdir}", "--variants=fp32,int8_dynamic,int8_full",
            "--representative_examples=50")
    assert r.returncode == 0, r.stderr[-3000:]
    export_dir = workdir / "export"
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["task"] == "next_item" and manifest["history_length"] == 20
    assert manifest["items_file"] == "items.csv" and manifest["num_items"] == 9683
    assert (export_dir / "items.csv").read_bytes() == (workdir / "items.csv").read_bytes()
    assert manifest["inputs"][0]["name"] == "item_ids" and manifest["output"]["shape"] == [1, 9683]
    for variant in ("fp32", "int8_dynamic", "int8_full"):
        info = tflite_reader.read_model(str(export_dir / f"{variant}.tflite"))
        assert [(t.name, t.dtype, t.shape) for t in info.inputs] == [("item_ids", "int32", (1, 20))]
        assert [(t.name, t.dtype, t.shape) for t in info.outputs] == [("scores", "float32", (1, 9683))]
        assert tflite_reader.static_problems(info, gather_1d=variant != "int8_full") == []
        parity = manifest["files"][f"{variant}.tflite"]["checks"]["parity"]
        assert parity["users"] == 610 and "hr10_drop_points" in parity
    assert manifest["files"]["fp32.tflite"]["checks"]["parity"]["top10_identical"] >= 0.99


def test_predict_liked_prints_ten_unseen_movies_with_titles(trained):
    """`python -m export.predict <recommender.tflite> --liked ...`: the Keras model's own ten
    best unseen movies (ties to the lower index), with titles; bad ids are one line, exit 2."""
    from export.runtime import Recommender
    from pipeline import training
    from tests.conftest import assert_one_line_error

    workdir, _ = trained
    export_dir = workdir / "export"
    if not (export_dir / "fp32.tflite").exists():
        pytest.skip("needs the export of test_export_convert_writes_the_recommender_files")
    liked = [1, 260, 1196]
    r = run("export.predict", str(export_dir / "fp32.tflite"), "--liked", "1,260,1196", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout)["recommendations"]
    assert len(got) == 10 and not {g["movie_id"] for g in got} & set(liked)
    assert all(g["title"] for g in got)

    recommender = Recommender(str(export_dir / "fp32.tflite"))
    ids = recommender.encode(liked)
    assert ids.shape == (1, 20) and list(ids[0, :17]) == [0] * 17  # left-padded, newest last
    scores = training.load_model(str(workdir / "model.keras")).predict(ids, verbose=0)[0]
    scores[[0, 1, *ids[0, -3:]]] = -np.inf
    want = [recommender.items[i]["movie_id"] for i in np.argsort(-scores, kind="stable")[:10]]
    assert [g["movie_id"] for g in got] == want

    text = run("export.predict", str(export_dir / "fp32.tflite"), "--liked", "1,260,1196")
    assert text.returncode == 0 and len(text.stdout.strip().splitlines()) == 10
    assert got[0]["title"] in text.stdout
    assert_one_line_error(run("export.predict", str(export_dir / "int8_full.tflite"),
                              "--liked", "1,99999999"), "99999999", "not in the catalogue")
    assert_one_line_error(run("export.predict", str(export_dir / "fp32.tflite"), "--liked", ""),
                          "no movie ids")
    assert_one_line_error(run("export.predict", str(export_dir / "fp32.tflite"), "--liked",
                              "1,two"), "comma-separated")


def test_gate_on_the_recommender_export(trained):
    """export.check on a next_item export: int8_full NNAPI-clean at API 30, parity rules of
    recommenders, items.csv as the metadata check."""
    workdir, _ = trained
    export_dir = workdir / "export"
    if not (export_dir / "int8_full.tflite").exists():
        pytest.skip("needs the export of test_export_convert_writes_the_recommender_files")
    r = run("export.check", str(export_dir), "--require=nnapi=30,parity,metadata")
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert any(l.startswith("PASS nnapi") and "int8_full.tflite" in l for l in lines), lines
    assert any(l.startswith("PASS parity") and "top-10 lists identical" in l for l in lines)
    assert any(l.startswith("PASS metadata") and "items.csv" in l for l in lines)
