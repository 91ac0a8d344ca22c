"""Classifies texts with MediaPipe Tasks' TextClassifier, reading only the model.

Runs in an isolated venv (mediapipe 0.10.21 needs protobuf<5); job and results files as in
job_io.py:

    python tests/consumers/mediapipe_classify.py job.json results.json

MediaPipe picks the BERT preprocessing, the vocabulary and the label names from the TFLite
metadata packed in the model file.
"""

import job_io
from mediapipe.tasks import python as mp_tasks
from mediapipe.tasks.python import text


def load(path: str):
    options = text.TextClassifierOptions(base_options=mp_tasks.BaseOptions(model_asset_path=path))
    classifier = text.TextClassifier.create_from_options(options)

    def classify(sentence: str):
        categories = classifier.classify(sentence).classifications[0].categories
        return [(c.category_name, float(c.score)) for c in categories]

    return classify


if __name__ == "__main__":
    job_io.main(load)
