"""The shared fit loop (`pipeline.training.Stage`): resume after a kill at any instant.

A toy stage (40 examples, batch 8: 5 steps per epoch, 3 epochs, a checkpoint every 3 steps and
at epoch ends) is trained once without a break; every interrupted run must end with exactly
its weights and history. Kills are simulated by an exception before a step, or by a real
SIGKILL in a child process at a chosen instant of a save.
"""

import functools
import os
import random
import signal
import subprocess
import sys

import keras
import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from pipeline import training
from pipeline.stages import repeating_dataset
from tests.conftest import REPO

N = 40
SECTION = ml_collections.ConfigDict(
    {"epochs": 3, "max_steps": 0, "learning_rate": 0.01, "batch_size": 8})
TRAIN = ml_collections.ConfigDict(
    {"batch_size": 8, "warmup_fraction": 0.2, "weight_decay": 0.01, "checkpoint_every_steps": 3})


class Killed(Exception):
    pass


class KillBefore(keras.callbacks.Callback):
    """Raises `Killed` before global step `step` (1-based) runs: steps before it are done."""

    def __init__(self, step):
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_begin(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            raise Killed()


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 6)).astype("float32")
    y = ((x[:, 0] > 0).astype("int32") + (x[:, 1] > 0)).astype("int32")
    return functools.partial(repeating_dataset, {"features": x}, y, 8, 0)


def train(workdir, init_seed=1, callbacks=()):
    """Runs the toy stage in `workdir`; a different `init_seed` is a different fresh model,
    which a resume must overwrite completely."""
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(init_seed)
    inputs = keras.Input((6,), name="features")
    hidden = keras.layers.Dropout(0.3)(keras.layers.Dense(16, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    tf.random.set_seed(0)  # the shuffle's seed: the same in every run, as in a new process
    stage = training.Stage(str(workdir), "toy", SECTION, TRAIN)
    stage.fit(model, _data(), N, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["sparse_categorical_accuracy"], callbacks=list(callbacks))
    return model


def outcome(workdir):
    model = training.load_model(os.path.join(workdir, "toy", "model.keras"))
    history = open(os.path.join(workdir, "toy", "history.csv")).read()
    return model.get_weights(), history


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("unbroken")
    train(workdir)
    return outcome(workdir)


def assert_same(workdir, unbroken):
    weights, history = outcome(workdir)
    assert history == unbroken[1]
    assert [int(r.split(",")[0]) for r in history.splitlines()[1:]] == [0, 1, 2]
    assert all(np.array_equal(a, b) for a, b in zip(weights, unbroken[0]))


def checkpoints(workdir):
    return sorted(os.listdir(os.path.join(workdir, "toy", "checkpoint")))


@pytest.mark.parametrize("kill_before, resumed_at", [(4, 3), (7, 6), (11, 10)])
def test_resume_after_a_kill_ends_as_the_unbroken_run(tmp_path, capsys, unbroken, kill_before,
                                                      resumed_at):
    with pytest.raises(Killed):
        train(tmp_path, callbacks=[KillBefore(kill_before)])
    assert not os.path.exists(tmp_path / "toy" / "model.keras")
    train(tmp_path, init_seed=2)
    assert f"resuming from the checkpoint {tmp_path}/toy/checkpoint/step-{resumed_at:09d}" in \
        capsys.readouterr().out
    assert_same(tmp_path, unbroken)
    assert checkpoints(tmp_path) == ["step-000000012", "step-000000015"]  # the last two kept


def test_a_truncated_checkpoint_is_set_aside_and_the_one_before_used(tmp_path, capsys, unbroken):
    with pytest.raises(Killed):
        train(tmp_path, callbacks=[KillBefore(8)])
    assert checkpoints(tmp_path) == ["step-000000005", "step-000000006"]
    npz = tmp_path / "toy" / "checkpoint" / "step-000000006" / "variables.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    capsys.readouterr()
    train(tmp_path, init_seed=2)
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "step-000000006" in warnings[0], err
    assert "step-000000006.unreadable" in warnings[0]
    assert "checkpoint/step-000000005 (epoch 2, step 0 of 5)" in out
    assert (tmp_path / "toy" / "checkpoint" / "step-000000006.unreadable" / "variables.npz").exists()
    assert_same(tmp_path, unbroken)


def test_with_no_loadable_checkpoint_the_stage_starts_again(tmp_path, capsys, unbroken):
    with pytest.raises(Killed):
        train(tmp_path, callbacks=[KillBefore(8)])
    folder = tmp_path / "toy" / "checkpoint"
    npz = folder / "step-000000006" / "variables.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: caught by the checksum
    npz.write_bytes(bytes(data))
    (folder / "step-000000005" / "state.json").write_text("{not json")
    capsys.readouterr()
    train(tmp_path)  # a fresh start: the same initial model as the first run
    out, err = capsys.readouterr()
    assert len([line for line in err.splitlines() if line.startswith("warning:")]) == 2, err
    assert "toy: training 3 epoch(s) of 5 steps" in out
    assert {"step-000000005.unreadable", "step-000000006.unreadable"} <= set(checkpoints(tmp_path))
    assert_same(tmp_path, unbroken)


def _child(workdir, instant):
    """Trains the toy stage and SIGKILLs itself at `instant` of a save (run in a subprocess)."""
    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if instant == "first_save":  # half of the first checkpoint's variables written
        write = training._write_synced

        def half_then_die(path, data):
            if path.endswith("variables.npz"):
                write(path, data[: len(data) // 2])
                die()
            write(path, data)
        training._write_synced = half_then_die
    elif instant == "switch":  # step 6's checkpoint complete, not yet renamed into place
        rename = os.rename

        def die_before_switch(src, dst):
            if dst.endswith("step-000000006"):
                die()
            rename(src, dst)
        training.os.rename = die_before_switch
    elif instant == "model_save":  # after the last epoch, model.tmp.keras written, not renamed
        fsync = training._fsync_file

        def die_after_model_write(path):
            fsync(path)
            if path.endswith("model.tmp.keras"):
                die()
        training._fsync_file = die_after_model_write
    train(workdir)


@pytest.mark.parametrize("instant, leftover, resumed", [
    ("first_save", ".step-000000003.tmp", None),
    ("switch", ".step-000000006.tmp", "step-000000005"),
    ("model_save", "../model.tmp.keras", "step-000000015"),
])
@pytest.mark.slow  # over 10 s: keeps the not-slow tier under 3 minutes
def test_sigkill_during_a_save_then_rerun(tmp_path, capsys, unbroken, instant, leftover, resumed):
    child = subprocess.run(
        [sys.executable, "-c", f"from tests.test_training import _child; "
                               f"_child({str(tmp_path)!r}, {instant!r})"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert (tmp_path / "toy" / "checkpoint" / leftover).exists()
    assert not (tmp_path / "toy" / "model.keras").exists()
    train(tmp_path, init_seed=1 if resumed is None else 2)
    out = capsys.readouterr().out
    if resumed is None:
        assert "toy: training 3 epoch(s)" in out
    else:
        assert f"checkpoint/{resumed} (" in out
    if instant == "model_save":
        assert "(training finished)" in out
    assert not [n for n in checkpoints(tmp_path) if n.endswith(".tmp")]
    assert not (tmp_path / "toy" / "model.tmp.keras").exists()
    assert_same(tmp_path, unbroken)


def test_an_early_stopped_stage_is_not_trained_further_on_resume(tmp_path, capsys):
    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    train(tmp_path, callbacks=[StopAfterFirstEpoch()])
    first = outcome(tmp_path)
    os.remove(tmp_path / "toy" / "model.keras")  # as if killed while writing it
    train(tmp_path, init_seed=2)
    assert "(training finished)" in capsys.readouterr().out
    weights, history = outcome(tmp_path)
    assert history == first[1] and len(history.splitlines()) == 2
    assert all(np.array_equal(a, b) for a, b in zip(weights, first[0]))


def test_a_finished_stage_leaves_the_random_state_of_an_unbroken_run(tmp_path):
    """Later stages draw initial weights and dropout seeds from the global RNG and train the
    model a stage returns: loading a finished stage must leave both as training it did."""
    model = train(tmp_path)
    seeds = [np.asarray(v) for v in training._seed_states(model)]
    next_draws = [random.random(), float(np.random.random())]
    keras.utils.set_random_seed(5)  # a rerun reaches the finished stage in another state
    loaded = training.Stage(str(tmp_path), "toy", SECTION, TRAIN).load()
    assert [random.random(), float(np.random.random())] == next_draws
    assert all(np.array_equal(np.asarray(v), s) for v, s in zip(training._seed_states(loaded), seeds))
    assert len(seeds) == 1


def test_save_model_keeps_the_old_file_when_a_write_fails(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = str(tmp_path / "model.keras")
    training.save_model(model, path)
    before = (tmp_path / "model.keras").read_bytes()

    def full_disk(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 trunc")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    with pytest.raises(OSError):
        training.save_model(model, path)
    assert (tmp_path / "model.keras").read_bytes() == before
    assert os.listdir(tmp_path) == ["model.keras"]
