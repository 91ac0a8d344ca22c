"""Supervised fine-tuning of the student classifier on the labels."""

import functools

import keras

from pipeline import training
from pipeline.models import student
from pipeline.stages import bucketed_dataset


def run(workdir, config, backbone, num_classes, x_train, y_train, eval_callback):
    stage = training.Stage(workdir, "finetune", config.train, config.train)
    if stage.done():
        return stage.load()
    model = student.build_classifier(backbone, num_classes, config.model.dropout)
    stage.fit(model, functools.partial(bucketed_dataset, x_train, y_train, stage.batch_size,
                                       config.seed), len(y_train),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["sparse_categorical_accuracy"], callbacks=[eval_callback])
    return model
