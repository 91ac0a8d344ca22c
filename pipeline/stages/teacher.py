"""Fine-tune the pretrained teacher on length buckets; its logits over any text set, cached.

The logits cache (`teacher/logits/<key>/shard-NNNNN.npy`) is keyed by a hash of the teacher's
model.keras and of the texts, so a retrained teacher or a changed transfer set never reads a
stale one; shards are written whole (temp file + rename), so a `kill -9` loses at most the
shard in progress and the next run continues from there.
"""

import functools
import hashlib
import io
import os
import time

import keras
import numpy as np

from export import contract
from pipeline import training
from pipeline.errors import UserError
from pipeline.models import teacher as teacher_model
from pipeline.stages import bucketed_dataset, encode, predict_bucketed, subset

SHARD = 4096  # texts per cache shard: ~15 s of teacher inference here, so little is redone


def run(workdir, config, num_classes, train_texts, y_train, test_texts, y_test):
    """The fine-tuned teacher (loaded if its stage is done) and its preprocessor.

    Trains on `teacher.max_train_examples` train texts (0 = all) in length buckets."""
    stage = training.Stage(workdir, "teacher", config.teacher, config.train)
    classifier = teacher_model.build_teacher(config.model.preset, num_classes,
                                             config.tokenizer.sequence_length)
    preprocessor = classifier.preprocessor
    if stage.done():
        return stage.load(), preprocessor
    model = keras.Model(classifier.inputs, classifier.outputs)
    idx = subset(len(train_texts), config.teacher.max_train_examples, config.seed)
    x = encode(preprocessor, [train_texts[i] for i in idx])
    y = np.asarray(y_train)[idx]
    evaluate = training.EvalAccuracy(encode(preprocessor, test_texts), y_test,
                                     predict=predict_bucketed)
    stage.fit(model, functools.partial(bucketed_dataset, x, y, stage.batch_size, config.seed),
              len(idx), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["sparse_categorical_accuracy"], callbacks=[evaluate])
    return model, preprocessor


def cache_key(model_path: str, texts) -> str:
    """sha256 over the teacher's model.keras bytes and the texts (each length-prefixed)."""
    h = hashlib.sha256()
    with open(model_path, "rb") as f:
        h.update(hashlib.sha256(f.read()).digest())
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def logits(workdir, model, preprocessor, texts, batch_size=64) -> np.ndarray:
    """The teacher's float32 logits [len(texts), C], from the cache or computed shard by shard
    (length-bucketed Keras inference) and cached."""
    folder = os.path.join(workdir, "teacher", "logits",
                          cache_key(os.path.join(workdir, "teacher", "model.keras"), texts)[:24])
    os.makedirs(folder, exist_ok=True)
    parts, started, done = [], time.time(), 0
    for number, start in enumerate(range(0, len(texts), SHARD)):
        path = os.path.join(folder, f"shard-{number:05d}.npy")
        chunk = texts[start:start + SHARD]
        if os.path.exists(path):
            part = np.load(path)
            if part.shape[0] == len(chunk):
                parts.append(part)
                continue
        part = predict_bucketed(model, encode(preprocessor, chunk), batch_size).astype("float32")
        buffer = io.BytesIO()
        np.save(buffer, part)
        contract.write_bytes_atomic(buffer.getvalue(), path)
        parts.append(part)
        done += len(chunk)
        rate = done / max(time.time() - started, 1e-9)
        print(f"teacher: logits for {start + len(chunk)} of {len(texts)} texts "
              f"({rate:.0f} texts/s), cached in {folder}", flush=True)
    return np.concatenate(parts) if parts else np.zeros((0, 0), "float32")


def tfidf_logits(config, train_texts, y_train, test_texts, y_test, texts) -> np.ndarray:
    """The log-probabilities of a TF-IDF + logistic regression teacher (pipeline/baselines.py)
    fitted on the train texts, for `texts`: a teacher in seconds, where the transformer reads the
    data badly (the shipped intents: Chinese commands). Not cached: refitting is faster."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise UserError("--config.teacher.kind=tfidf_logreg needs scikit-learn; run pip install "
                        "-e \".[teacher]\"") from None
    from pipeline.baselines import fit_tfidf_logreg

    predict_proba, details = fit_tfidf_logreg(train_texts, y_train, config.seed)
    accuracy = float(np.mean(np.argmax(predict_proba(test_texts), 1) == np.asarray(y_test)))
    print(f"teacher: TF-IDF + logistic regression (C={details['C']}), accuracy {accuracy:.4f} "
          f"on the evaluation split; soft targets for {len(texts)} transfer texts")
    return np.log(np.clip(predict_proba(texts), 1e-6, 1.0)).astype("float32")
