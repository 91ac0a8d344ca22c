"""Classifies texts with the TFLite Task Library's BertNLClassifier, reading only the model.

Runs in an isolated venv (tflite-support 0.4.4 needs numpy<2, protobuf<4); job and results
files as in job_io.py:

    python tests/consumers/task_library_classify.py job.json results.json

Everything the classifier needs (tokenizer, vocabulary, label names, which input is which)
comes from the TFLite metadata packed in the model file.
"""

import job_io
from tflite_support.task import text


def load(path: str):
    classifier = text.BertNLClassifier.create_from_file(path)

    def classify(sentence: str):
        categories = classifier.classify(sentence).classifications[0].categories
        return [(c.category_name, float(c.score)) for c in categories]

    return classify


if __name__ == "__main__":
    job_io.main(load)
