"""Masked-LM pretraining of the student backbone (keras-hub MaskedLMMaskGenerator + head)."""

import os

import keras
import keras_hub
import tensorflow as tf

from pipeline import training
from pipeline.models import student


def mask_selection_length(sequence_length, mask_rate):
    return max(1, int(round(sequence_length * mask_rate)))


def masked_lm_dataset(x, tokenizer, mask_rate, batch_size, seed):
    """Unlabeled encoded texts -> ({inputs..., mask_positions}, mask_ids, mask_weights)."""
    length = x["token_ids"].shape[1]
    masker = keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=tokenizer.vocabulary_size(), mask_selection_rate=mask_rate,
        mask_token_id=tokenizer.token_to_id("[MASK]"),
        mask_selection_length=mask_selection_length(length, mask_rate),
        unselectable_token_ids=[tokenizer.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]")])

    def apply(batch):
        out = masker(batch["token_ids"])
        inputs = {"token_ids": tf.cast(out["token_ids"], tf.int32),
                  "padding_mask": batch["padding_mask"], "segment_ids": batch["segment_ids"],
                  "mask_positions": tf.cast(out["mask_positions"], tf.int32)}
        return inputs, out["mask_ids"], out["mask_weights"]

    n = len(x["token_ids"])
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(n, seed=seed).repeat().batch(batch_size)
    return ds.map(apply, num_parallel_calls=1, deterministic=True).prefetch(tf.data.AUTOTUNE)


def run(workdir, config, backbone, tokenizer, x_unlabeled):
    """Pretrains `backbone` in place; returns it (loaded from the stage's model if done)."""
    stage_dir = os.path.join(workdir, "pretrain")
    path = os.path.join(stage_dir, "model.keras")
    p, t = config.pretrain, config.train
    length = x_unlabeled["token_ids"].shape[1]
    model = student.build_masked_lm(backbone, mask_selection_length(length, p.mask_rate))
    if training.is_done(stage_dir):
        model.set_weights(training.load_model(path).get_weights())
        return backbone
    steps, epochs = training.steps_for(len(x_unlabeled["token_ids"]), t.batch_size, p.epochs, p.max_steps)
    training.fit(
        model, masked_lm_dataset(x_unlabeled, tokenizer, p.mask_rate, t.batch_size, config.seed),
        stage_dir=stage_dir, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")],
        steps_per_epoch=steps, epochs=epochs, learning_rate=p.learning_rate, train_config=t)
    return backbone
