"""Fine-tune the pretrained teacher, then cache its logits on the train split."""

import functools
import io
import os

import keras
import numpy as np

from export import contract
from pipeline import training
from pipeline.models import teacher as teacher_model
from pipeline.stages import encode, repeating_dataset


def _subset(n, limit, seed):
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def run(workdir, config, num_classes, train_texts, y_train, test_texts, y_test):
    """Returns (indices, logits): the teacher's logits on the train texts used for distillation
    (`distill.max_train_examples`, 0 = all), cached in teacher/train_logits.npz."""
    stage = training.Stage(workdir, "teacher", config.teacher, config.train)
    logits_path = os.path.join(stage.dir, "train_logits.npz")
    if os.path.exists(logits_path):
        cached = np.load(logits_path)
        stage.restore_random()  # as if the teacher had been built and trained here
        return cached["indices"], cached["logits"]
    c = config.teacher
    classifier = teacher_model.build_teacher(config.model.preset, num_classes,
                                             config.tokenizer.sequence_length)
    preprocessor = classifier.preprocessor
    backbone_model = keras.Model(classifier.inputs, classifier.outputs)
    if stage.done():
        backbone_model = stage.load()
    else:
        idx = _subset(len(train_texts), c.max_train_examples, config.seed)
        x = encode(preprocessor, [train_texts[i] for i in idx])
        y = np.asarray(y_train)[idx]
        x_test = encode(preprocessor, test_texts)
        stage.fit(backbone_model, functools.partial(repeating_dataset, x, y, stage.batch_size,
                                                    config.seed), len(idx),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["sparse_categorical_accuracy"],
                  callbacks=[training.EvalAccuracy(x_test, y_test)])
    indices = _subset(len(train_texts), config.distill.max_train_examples, config.seed + 1)
    print(f"teacher: computing logits on {len(indices)} train texts (cached)")
    logits = backbone_model.predict(encode(preprocessor, [train_texts[i] for i in indices]),
                                    batch_size=64, verbose=1).astype("float32")
    buffer = io.BytesIO()
    np.savez(buffer, indices=indices, logits=logits)
    contract.write_bytes_atomic(buffer.getvalue(), logits_path)
    return indices, logits
