"""Training stages, each a function `run(...)` that trains one model in `<workdir>/<stage>/`
through `pipeline.training.Stage` (done marker, steps, resumable fit, model.keras).

teacher   fine-tune a pretrained keras-hub classifier, cache its logits on the train split
pretrain  masked-LM pretraining of the student backbone on unlabeled text
finetune  supervised fine-tuning of the student classifier on the labels
distill   student trained on the teacher's soft targets (temperature) plus the hard labels

Length buckets: texts are encoded at the config's fixed length, but models whose inputs take
any length (the keras-hub teacher) train and predict on batches cut to their longest member,
rounded up to a multiple of 8 (`bucketed_dataset`, `predict_bucketed`); most SST-2 sentences
are under 25 pieces, so a batch padded to 64 spends most of its compute on padding.
"""

import numpy as np
import tensorflow as tf

SEQUENCE_KEYS = ("token_ids", "padding_mask", "segment_ids")  # [n, L] inputs that are cut
ROUND_TO = 8  # bucket lengths: few distinct shapes (few retraces), little padding
POOL_BATCHES = 64  # batches sorted together: long enough to group lengths, short enough to mix


def subset(n: int, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded `limit`-of-`n` subset; all of them when limit is 0 or >= n."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


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


def bucket_length(lengths) -> int:
    """The length a batch is cut to: its longest text, rounded up to a multiple of 8."""
    return int(-(-int(np.max(lengths)) // ROUND_TO) * ROUND_TO)


def text_lengths(inputs) -> np.ndarray:
    return np.asarray(inputs["padding_mask"]).sum(axis=1)


def epoch_batches(lengths, batch_size, seed, epoch) -> list:
    """One epoch's batches (index arrays): shuffled with (seed, epoch), each pool of
    POOL_BATCHES batches sorted by length so a batch holds texts of similar length, and the
    batches' order shuffled again so lengths do not come in runs. Only full batches, as
    `repeating_dataset` never ends an epoch short (the dropped few come first next epoch)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    batches = [b for b in batches if len(b) == batch_size] or batches
    return [batches[i] for i in rng.permutation(len(batches))]


def _cut(inputs, index, length) -> dict:
    return {k: (v[index, :length] if k in SEQUENCE_KEYS else v[index]) for k, v in inputs.items()}


def bucketed_dataset(inputs, targets, batch_size, seed, sample_weights=None):
    """As `repeating_dataset` (seeded, endless, one fresh pipeline per call), but each batch is
    cut to `bucket_length` of its texts. The order depends only on (seed, epoch), so
    `.skip(step)` resumes exactly where a stopped run was."""
    lengths = text_lengths(inputs)
    targets = np.asarray(targets)

    def batches():
        epoch = 0
        while True:
            for index in epoch_batches(lengths, batch_size, seed, epoch):
                x = _cut(inputs, index, bucket_length(lengths[index]))
                parts = (x, targets[index])
                yield parts if sample_weights is None else parts + (sample_weights[index],)
            epoch += 1

    def spec(array, cut):
        return tf.TensorSpec((None, None) if cut else (None,) + array.shape[1:], array.dtype)

    signature = ({k: spec(v, k in SEQUENCE_KEYS) for k, v in inputs.items()},
                 spec(targets, False))
    if sample_weights is not None:
        signature += (spec(np.asarray(sample_weights), False),)
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)


def predict_bucketed(model, inputs, batch_size=64) -> np.ndarray:
    """`model.predict` over length buckets: texts sorted by length, each batch cut to its
    longest; outputs come back in the input order."""
    lengths = text_lengths(inputs)
    order = np.argsort(lengths, kind="stable")
    parts = []
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        parts.append(np.asarray(model.predict_on_batch(
            _cut(inputs, index, bucket_length(lengths[index])))))
    result = np.concatenate(parts)
    out = np.empty_like(result)
    out[order] = result
    return out
