"""Next-item stage: trains the sequential recommender on every prefix of the training parts.

    scorer = stage.run(workdir, config, split, seed=0)   # -> [B, H] ids -> [B, V] scores

The item embeddings start from PPMI co-occurrence vectors of the training parts
(`recs.init_embeddings="ppmi"`, see `pipeline.ranking.ppmi_embeddings`) or at random.
One stage folder per seed (`<workdir>/next_item_seed<seed>/`), trained by the shared fit loop
(`pipeline.training.Stage`: AdamW, warm-up + cosine, resumable checkpoints, history.csv). Full
softmax over the vocabulary (items seen earlier in the window optionally left out), optional
label smoothing; padding targets carry no weight.
After each epoch the validation cases are ranked (protocol P's validation item, plus the
`recs.valid_positions` - 1 items before it, which training windows then leave out); the
best epoch's weights are kept (`best.weights.h5`, `best.json`) and training stops after
`recs.patience` epochs without a better validation HR@10. The stage's `model.keras` is the
trainer (all positions) with the best weights; `run` returns the scorer made from it.
"""

import functools
import json
import os

import keras
import numpy as np
import tensorflow as tf

from export import contract
from pipeline import ranking, training
from pipeline.errors import UserError
from pipeline.models import sequential_recommender as rec
from pipeline.stages import repeating_dataset

STAGE_PREFIX = "next_item_seed"  # <workdir>/next_item_seed<seed>/: one stage per seed


def _seen_before(targets, vocabulary_size, dtype):
    """[B, H, V] 1.0 where item v is a target at a position before t (scatter, no one-hot)."""
    length = targets.shape[1]
    earlier, later = np.triu_indices(length, k=1)  # pairs (s, t) with s < t
    batch = tf.shape(targets)[0]
    b = tf.repeat(tf.range(batch), len(earlier))
    t = tf.tile(tf.constant(later, tf.int32), [batch])
    items = tf.reshape(tf.gather(targets, tf.constant(earlier, tf.int32), axis=1), [-1])
    indices = tf.stack([b, t, items], axis=1)
    shape = tf.stack([batch, length, vocabulary_size])
    counts = tf.scatter_nd(indices, tf.ones_like(items, dtype), shape)
    return tf.minimum(counts, 1.0)


def next_item_loss(label_smoothing: float, exclude_seen: bool):
    """Per-position cross-entropy on logits [B, H, V] (full softmax over the vocabulary).

    `label_smoothing` spreads that much probability mass over the candidates. With
    `exclude_seen`, the items already seen earlier in the window are not candidates at a
    position (as in evaluation, where a user's history is never recommended): position t's seen
    items are the window's targets before t (the inputs after the first).
    """

    def loss(targets, logits):
        targets = tf.cast(targets, "int32")
        candidates = None
        if exclude_seen:
            seen = _seen_before(targets, tf.shape(logits)[-1], logits.dtype)
            logits = logits - 1e9 * seen
            candidates = 1.0 - seen
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        nll = -tf.gather(log_probs, targets, axis=-1, batch_dims=2)
        if not label_smoothing:
            return nll
        if candidates is None:
            smooth = -tf.reduce_mean(log_probs, -1)
        else:
            smooth = -tf.reduce_sum(log_probs * candidates, -1) / tf.reduce_sum(candidates, -1)
        return (1.0 - label_smoothing) * nll + label_smoothing * smooth

    return loss


class ValidationRanking(keras.callbacks.Callback):
    """Ranks the validation users after each epoch; keeps the best weights; stops early.

    Adds `val_hr@k` and `val_ndcg@k` to the epoch logs. The best epoch survives a restart
    (`best.json`, `best.weights.h5` in the stage folder); `restore_best` puts its weights back
    at the end of the stage (not at the end of each `fit` call: a resumed stage makes two).
    """

    def __init__(self, histories, targets, history_length, stage_dir, patience, k=10):
        super().__init__()
        self.histories, self.targets = histories, np.asarray(targets)
        self.inputs = rec.left_pad(histories, history_length)
        self.weights_path = os.path.join(stage_dir, "best.weights.h5")
        self.best_path = os.path.join(stage_dir, "best.json")
        self.patience, self.k = patience, k
        self.best = {"epoch": 0, "hr": -1.0}  # epochs count from 1, as the progress bar does

    def on_train_begin(self, logs=None):
        if os.path.exists(self.best_path) and os.path.exists(self.weights_path):
            with open(self.best_path, encoding="utf-8") as f:
                self.best = json.load(f)

    def on_epoch_end(self, epoch, logs=None):
        scores = rec.scorer_like(self.model).predict(self.inputs, batch_size=256, verbose=0)
        result = ranking.ranking_metrics(scores, self.histories, self.targets, self.k)
        logs[f"val_hr@{self.k}"], logs[f"val_ndcg@{self.k}"] = result["hr"], result["ndcg"]
        epoch += 1  # Keras counts from 0; the log, best.json and metrics.json from 1
        if result["hr"] > self.best["hr"]:
            self.best = {"epoch": epoch, "hr": result["hr"], "ndcg": result["ndcg"]}
            with contract.atomic_path(self.weights_path) as tmp:
                self.model.save_weights(tmp)
            contract.write_json_atomic(self.best, self.best_path)
        elif epoch - self.best["epoch"] >= self.patience:
            self.model.stop_training = True
        print(f" - val_hr@{self.k}: {result['hr']:.4f} - val_ndcg@{self.k}: {result['ndcg']:.4f}"
              f" (best {self.best['hr']:.4f} at epoch {self.best['epoch']})")
        if self.model.stop_training:
            print(f"stopping early: no better validation HR@{self.k} for {self.patience} epochs")

    def restore_best(self, model):
        if os.path.exists(self.weights_path):
            model.load_weights(self.weights_path)


def run(workdir, config, split, seed):
    """Trains (or loads) one seed's recommender; returns its scorer ([B, H] -> [B, V])."""
    stage = training.Stage(workdir, f"{STAGE_PREFIX}{seed}", config.train, config.train)
    if stage.done():
        return rec.scorer_like(stage.load())
    keras.utils.set_random_seed(seed)
    r = config.recs
    trainer = rec.build_trainer(config.model, split.vocabulary_size, r.history_length)
    # Fitted on the training parts less the extra validation positions (none by default).
    fit = split.fit_sequences(r.valid_positions)
    if r.init_embeddings == "ppmi":  # warm start from the training parts' co-occurrences
        trainer.item_embedding.embeddings.assign(ranking.ppmi_embeddings(
            fit, split.vocabulary_size, config.model.hidden_dim, r.cooc_window, seed,
            r.init_scale))
    elif r.init_embeddings != "random":
        raise UserError(f"--config.recs.init_embeddings='{r.init_embeddings}' is not one of "
                        "ppmi, random")
    inputs, targets = rec.training_windows(fit, r.history_length, r.window_stride)
    valid_histories, valid_targets = split.validation_cases(r.valid_positions)
    print(f"next_item seed {seed}: {len(inputs)} training windows, {int((targets > 0).sum())} "
          f"targets, {len(valid_targets)} validation cases, vocabulary {split.vocabulary_size}")
    validation = ValidationRanking(valid_histories, valid_targets, r.history_length,
                                   stage.dir, r.patience, r.top_k)
    weights = (targets > 0).astype("float32")  # padding targets carry no weight
    stage.fit(trainer, functools.partial(repeating_dataset, inputs, targets, stage.batch_size,
                                         seed, weights), len(inputs),
              loss=next_item_loss(r.label_smoothing, r.exclude_seen_in_loss),
              callbacks=[validation], finish=validation.restore_best)
    return rec.scorer_like(trainer)
