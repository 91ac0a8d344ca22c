"""Masked-LM pretraining of the student backbone (keras-hub MaskedLMMaskGenerator + head)."""

import math
import os

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from pipeline import training
from pipeline.models import student


def mask_selection_length(sequence_length, mask_rate):
    return max(1, int(round(sequence_length * mask_rate)))


def masked_lm_dataset(x, tokenizer, mask_rate, batch_size, seed, num_maskings):
    """Unlabeled encoded texts -> ({inputs..., mask_positions}, mask_ids, mask_weights).

    The masks are drawn eagerly, `num_maskings` different ones per text (as BERT's duplication
    factor), because keras-hub's masker inside a tf.data map is not reproducible across runs.
    """
    length = x["token_ids"].shape[1]
    masker = keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=tokenizer.vocabulary_size(), mask_selection_rate=mask_rate,
        mask_token_id=tokenizer.token_to_id("[MASK]"),
        mask_selection_length=mask_selection_length(length, mask_rate),
        unselectable_token_ids=[tokenizer.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]")])
    parts = []
    for _ in range(num_maskings):
        for start in range(0, len(x["token_ids"]), 4096):
            out = masker(x["token_ids"][start:start + 4096])
            parts.append({k: np.asarray(v) for k, v in out.items()} | {
                "padding_mask": x["padding_mask"][start:start + 4096],
                "segment_ids": x["segment_ids"][start:start + 4096]})
    m = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    inputs = {"token_ids": m["token_ids"].astype("int32"), "padding_mask": m["padding_mask"],
              "segment_ids": m["segment_ids"], "mask_positions": m["mask_positions"].astype("int32")}
    ds = tf.data.Dataset.from_tensor_slices((inputs, m["mask_ids"], m["mask_weights"]))
    ds = ds.shuffle(len(m["mask_ids"]), seed=seed, reshuffle_each_iteration=True).repeat()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def run(workdir, config, backbone, tokenizer, x_unlabeled):
    """Pretrains `backbone` in place; returns it (loaded from the stage's model if done)."""
    stage_dir = os.path.join(workdir, "pretrain")
    path = os.path.join(stage_dir, "model.keras")
    p, t = config.pretrain, config.train
    length = x_unlabeled["token_ids"].shape[1]
    model = student.build_masked_lm(backbone, mask_selection_length(length, p.mask_rate))
    if training.is_done(stage_dir):  # the stage's model.keras is the pretrained backbone
        backbone.set_weights(training.load_model(path).get_weights())
        return backbone
    n = len(x_unlabeled["token_ids"])
    steps, epochs = training.steps_for(n, t.batch_size, p.epochs, p.max_steps)
    num_maskings = min(10, max(1, math.ceil(steps * epochs * t.batch_size / n)))
    dataset = masked_lm_dataset(x_unlabeled, tokenizer, p.mask_rate, t.batch_size, config.seed,
                                num_maskings)
    training.fit(
        model, dataset,
        stage_dir=stage_dir, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")],
        steps_per_epoch=steps, epochs=epochs, learning_rate=p.learning_rate, train_config=t,
        save=backbone)
    return backbone
