"""The next-item stage's validation callback: best epoch counted from 1, early stopping."""

import json

import ml_collections
import numpy as np
import pytest


def _callback(tmp_path, patience):
    from pipeline.models import sequential_recommender as rec
    from pipeline.tasks.next_item.stage import ValidationRanking

    model_config = ml_collections.ConfigDict(dict(
        num_layers=1, hidden_dim=8, num_heads=1, intermediate_dim=16, dropout=0.0,
        activation="relu"))
    trainer = rec.build_trainer(model_config, vocabulary_size=12, history_length=4)
    rng = np.random.RandomState(0)
    histories = [rng.randint(2, 12, size=5) for _ in range(20)]
    targets = rng.randint(2, 12, size=20)
    callback = ValidationRanking(histories, targets, 4, str(tmp_path), patience, k=3)
    trainer.stop_training = False  # model.fit sets it before the first epoch
    callback.set_model(trainer)
    callback.on_train_begin()
    return callback


def test_stops_after_patience_epochs_without_a_better_hr_and_counts_from_one(tmp_path):
    callback = _callback(tmp_path, patience=2)
    stopped_at = None
    for epoch in range(6):  # the weights never change: epoch 1 is the best, then no gain
        callback.on_epoch_end(epoch, logs={})
        if callback.model.stop_training:
            stopped_at = epoch + 1
            break
    assert stopped_at == 3  # epochs 2 and 3 brought nothing
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["epoch"] == 1 and 0 <= best["hr"] <= 1


def test_a_restart_keeps_the_best_epoch(tmp_path):
    callback = _callback(tmp_path, patience=5)
    callback.on_epoch_end(0, logs={})
    again = _callback(tmp_path, patience=5)  # the stage resumed: best.json is read back
    assert again.best["epoch"] == 1


@pytest.mark.parametrize("value", [0, -1, 51])
def test_valid_positions_is_range_checked(value):
    import importlib.util
    import os

    from pipeline import config_defaults
    from pipeline.errors import UserError

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "movielens.py")
    spec = importlib.util.spec_from_file_location("movielens_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    config_defaults.validate(c)  # the shipped config passes
    c.recs.valid_positions = value
    with pytest.raises(UserError, match="recs.valid_positions"):
        config_defaults.validate(c)
