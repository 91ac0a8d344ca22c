"""The one fit loop every stage uses: warm-up + cosine AdamW, resumable checkpoints, history.

A stage lives in `<workdir>/<stage>/`. While it trains, `checkpoint/` holds the latest weights
and optimizer state (Keras `BackupAndRestore`, two copies so a `kill -9` during a save is
survived) and `history.csv` the finished epochs. When the stage ends, `model.keras` is written
atomically; a stage whose `model.keras` exists is done and is not trained again.
"""

import math
import os

import keras
import numpy as np


def steps_for(num_examples: int, batch_size: int, epochs: int, max_steps: int) -> tuple:
    """(steps_per_epoch, epochs) honouring an optional cap on the stage's total steps."""
    steps_per_epoch = max(1, math.ceil(num_examples / batch_size))
    if max_steps and max_steps < steps_per_epoch * epochs:
        steps_per_epoch = min(steps_per_epoch, max_steps)
        epochs = math.ceil(max_steps / steps_per_epoch)
    return steps_per_epoch, epochs


def make_optimizer(learning_rate, total_steps, warmup_fraction, weight_decay):
    warmup = int(total_steps * warmup_fraction)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else learning_rate,
        decay_steps=max(1, total_steps - warmup), alpha=0.0,
        warmup_target=learning_rate if warmup else None, warmup_steps=warmup)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay,
                                       clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "layer_norm"])
    return optimizer


class EvalAccuracy(keras.callbacks.Callback):
    """Adds `eval_accuracy` on held-out examples to each epoch's logs (monitoring only)."""

    def __init__(self, inputs, labels, batch_size=256):
        super().__init__()
        self.inputs, self.labels, self.batch_size = inputs, np.asarray(labels), batch_size

    def on_epoch_end(self, epoch, logs=None):
        logits = self.model.predict(self.inputs, batch_size=self.batch_size, verbose=0)
        logs["eval_accuracy"] = float(np.mean(np.argmax(logits, -1) == self.labels))
        print(f" - eval_accuracy: {logs['eval_accuracy']:.4f}")


def is_done(stage_dir: str) -> bool:
    return os.path.exists(os.path.join(stage_dir, "model.keras"))


def save_model(model: keras.Model, path: str) -> None:
    tmp = path[: -len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


def load_model(path: str) -> keras.Model:
    import pipeline.models.sequential_recommender  # noqa: F401  (registers its classes)
    import pipeline.models.student  # noqa: F401  (registers the student's layers)
    return keras.models.load_model(path, compile=False)


def fit(model, dataset, *, stage_dir, loss, steps_per_epoch, epochs, learning_rate,
        train_config, metrics=(), weighted_metrics=(), eval_callback=None, save=None):
    """Trains `model` on a repeating `dataset`; resumes from `stage_dir/checkpoint` if present.

    At the end writes `save` (default: `model`) to `stage_dir/model.keras`.
    """
    os.makedirs(stage_dir, exist_ok=True)
    total = steps_per_epoch * epochs
    model.compile(
        optimizer=make_optimizer(learning_rate, total, train_config.warmup_fraction,
                                 train_config.weight_decay),
        loss=loss, metrics=list(metrics), weighted_metrics=list(weighted_metrics))
    checkpoint_dir = os.path.join(stage_dir, "checkpoint")
    stage = os.path.basename(os.path.normpath(stage_dir))
    if os.path.exists(os.path.join(checkpoint_dir, "training_metadata.json")):
        print(f"{stage}: resuming from the checkpoint in {checkpoint_dir}")
    else:
        print(f"{stage}: training {epochs} epoch(s) of {steps_per_epoch} steps")
    callbacks = [keras.callbacks.BackupAndRestore(
        checkpoint_dir, save_freq=max(1, min(train_config.checkpoint_every_steps, steps_per_epoch)),
        double_checkpoint=True, delete_checkpoint=False)]
    if eval_callback is not None:
        callbacks.append(eval_callback)
    callbacks.append(keras.callbacks.CSVLogger(os.path.join(stage_dir, "history.csv"), append=True))
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=1)
    save_model(save or model, os.path.join(stage_dir, "model.keras"))
