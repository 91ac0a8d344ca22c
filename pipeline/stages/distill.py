"""Distillation: the student learns the teacher's softened logits plus the hard labels."""

import functools

import keras
import numpy as np
from keras import ops

from pipeline import training
from pipeline.stages import bucketed_dataset


@keras.saving.register_keras_serializable(package="pipeline")
class DistillationLoss(keras.losses.Loss):
    """y_true = [one-hot label (C) | teacher logits (C)];
    loss = alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(label, s)."""

    def __init__(self, num_classes, temperature=2.0, alpha=0.7, name="distillation", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.temperature, self.alpha = num_classes, temperature, alpha

    def call(self, y_true, y_pred):
        labels, teacher = y_true[:, : self.num_classes], y_true[:, self.num_classes:]
        t = self.temperature
        soft_targets = ops.softmax(teacher / t, axis=-1)
        log_student = ops.log_softmax(y_pred / t, axis=-1)
        kl = ops.sum(soft_targets * (ops.log(soft_targets + 1e-12) - log_student), axis=-1)
        hard = keras.losses.categorical_crossentropy(labels, y_pred, from_logits=True)
        return self.alpha * (t * t) * kl + (1.0 - self.alpha) * hard

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "temperature": self.temperature, "alpha": self.alpha}


def run(workdir, config, classifier, x_transfer, labels, teacher_logits, eval_callback):
    """Trains `classifier` (usually the fine-tuned student) on the encoded transfer texts,
    their hard labels and the teacher's logits for them."""
    stage = training.Stage(workdir, "distill", config.distill, config.train)
    if stage.done():
        return stage.load()
    num_classes = teacher_logits.shape[1]
    onehot = np.eye(num_classes, dtype="float32")[np.asarray(labels)]
    targets = np.concatenate([onehot, teacher_logits], axis=1)
    d = config.distill

    def hard_accuracy(y_true, y_pred):
        return keras.metrics.categorical_accuracy(y_true[:, :num_classes], y_pred)

    stage.fit(classifier, functools.partial(bucketed_dataset, x_transfer, targets,
                                            stage.batch_size, config.seed), len(targets),
              loss=DistillationLoss(num_classes, d.temperature, d.alpha),
              metrics=[hard_accuracy], callbacks=[eval_callback])
    return classifier
