"""Supervised fine-tuning of the student classifier on the labels."""

import os

import keras

from pipeline import training
from pipeline.models import student
from pipeline.stages import repeating_dataset


def run(workdir, config, backbone, num_classes, x_train, y_train, eval_callback):
    stage_dir = os.path.join(workdir, "finetune")
    if training.is_done(stage_dir):
        return training.load_model(os.path.join(stage_dir, "model.keras"))
    model = student.build_classifier(backbone, num_classes, config.model.dropout)
    t = config.train
    steps, epochs = training.steps_for(len(y_train), t.batch_size, t.epochs, t.max_steps)
    training.fit(
        model, repeating_dataset(x_train, y_train, t.batch_size, config.seed),
        stage_dir=stage_dir, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["sparse_categorical_accuracy"], steps_per_epoch=steps, epochs=epochs,
        learning_rate=t.learning_rate, train_config=t, eval_callback=eval_callback)
    return model
