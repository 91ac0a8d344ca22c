"""Training stages, each a function `run(...)` that trains one model in `<workdir>/<stage>/`
through `pipeline.training.Stage` (done marker, steps, resumable fit, model.keras).

teacher   fine-tune a pretrained keras-hub classifier, cache its logits on the train split
pretrain  masked-LM pretraining of the student backbone on unlabeled text
finetune  supervised fine-tuning of the student classifier on the labels
distill   student trained on the teacher's soft targets (temperature) plus the hard labels
"""

import numpy as np
import tensorflow as tf


def encode(preprocessor, texts, batch_size=2048) -> dict:
    """Texts -> dict of int32 numpy arrays [n, L]: token_ids, padding_mask, segment_ids."""
    parts = []
    for start in range(0, len(texts), batch_size):
        out = preprocessor(tf.constant(list(texts[start:start + batch_size])))
        parts.append({k: np.asarray(v).astype("int32") for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def repeating_dataset(inputs, targets, batch_size, seed, sample_weights=None):
    """Shuffled (seeded), repeated, batched tf.data pipeline over in-memory arrays."""
    parts = (inputs, targets) if sample_weights is None else (inputs, targets, sample_weights)
    ds = tf.data.Dataset.from_tensor_slices(parts)
    ds = ds.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True).repeat()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
