"""Masked-LM pretraining of the student backbone (keras-hub MaskedLMMaskGenerator + head)."""

import functools
import math

import keras
import keras_hub
import numpy as np

from pipeline import training
from pipeline.models import student
from pipeline.stages import bucketed_dataset


def mask_selection_length(sequence_length, mask_rate):
    return max(1, int(round(sequence_length * mask_rate)))


def masked_lm_examples(x, tokenizer, mask_rate, num_maskings):
    """Unlabeled encoded texts -> ({inputs..., mask_positions}, mask_ids, mask_weights) arrays.

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
    return inputs, m["mask_ids"], m["mask_weights"]


def run(workdir, config, backbone, tokenizer, x_unlabeled):
    """Pretrains `backbone` in place; returns it (loaded from the stage's model if done)."""
    stage = training.Stage(workdir, "pretrain", config.pretrain, config.train)
    p = config.pretrain
    length = x_unlabeled["token_ids"].shape[1]
    model = student.build_masked_lm(backbone, mask_selection_length(length, p.mask_rate))
    if stage.done():  # the stage's model.keras is the pretrained backbone
        backbone.set_weights(stage.load().get_weights())
        stage.restore_random(backbone)
        return backbone
    n = len(x_unlabeled["token_ids"])
    steps, epochs = stage.steps(n)
    num_maskings = min(10, max(1, math.ceil(steps * epochs * stage.batch_size / n)))
    inputs, mask_ids, mask_weights = masked_lm_examples(x_unlabeled, tokenizer, p.mask_rate,
                                                        num_maskings)
    stage.fit(model, functools.partial(bucketed_dataset, inputs, mask_ids, stage.batch_size,
                                       config.seed, mask_weights), n,
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")],
              save=backbone)
    return backbone
