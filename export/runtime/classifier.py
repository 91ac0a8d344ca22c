"""A text classifier exported by `export.convert`, run with a TFLite runtime and numpy only.

    Classifier("runs/intents/export/fp32.tflite").classify(["call mom"], top_k=2)
    # [[("call_contact", 0.98), ("send_message", 0.01)]]

Everything the file needs travels inside it: the vocabulary and labels are packed in it, the
sequence length is the shape of its `token_ids` input. Texts are tokenized by
`export/runtime/wordpiece.py` (keras-hub's exact ids) with the pipeline's rules (uncased BERT:
lowercase, strip accents, split CJK): the metadata's `BertTokenizerOptions` names only the
vocabulary file, so there is no case or accent option to read from the file.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from export.contract import LABELS_FILE, VOCAB_FILE, UserError
from export.runtime import postprocess, wordpiece
from export.runtime.model import PackedModel, text_lines

# The signature of every exported classifier (README "Export"): int32 [1, L] each.
TEXT_INPUTS = ("token_ids", "padding_mask", "segment_ids")
# The pipeline's tokenizer (README "Tokenizer rules"): BERT uncased WordPiece. The TFLite
# metadata's BertTokenizerOptions carries only the vocabulary, so these are fixed here.
DEFAULT_TOKENIZER_OPTIONS = {"lowercase": True, "strip_accents": True, "split_on_cjk": True}


def encode(tokenizer: wordpiece.WordPieceTokenizer, text: str, length: int) -> dict:
    """The three int32 [1, L] inputs of `text`, by signature key."""
    ids, mask, segments = tokenizer.encode(text, length)
    return {"token_ids": np.array([ids], np.int32), "padding_mask": np.array([mask], np.int32),
            "segment_ids": np.array([segments], np.int32)}


class Classifier:
    """Texts in, (label, probability) out; `labels`, `sequence_length` and `runtime` (the
    TFLite runtime's name and version) describe the file."""

    def __init__(self, path: str, num_threads: int | None = None):
        self.model = PackedModel(path, "text classifier exported by export.convert",
                                 TEXT_INPUTS, num_threads=num_threads)
        self.runtime = self.model.runner.runtime
        path = self.model.path
        vocabulary = text_lines(self.model.packed_file(VOCAB_FILE, "vocabulary"), VOCAB_FILE,
                                path)
        self.labels = [label.strip() for label in
                       text_lines(self.model.packed_file(LABELS_FILE, "labels"), LABELS_FILE, path)
                       if label.strip()]
        self.sequence_length = self.model.runner.input_shape("token_ids")[-1]
        try:
            self.tokenizer = wordpiece.WordPieceTokenizer(
                [line.rstrip() for line in vocabulary], **DEFAULT_TOKENIZER_OPTIONS)
            self.tokenizer.encode("", self.sequence_length)  # [CLS] [SEP] [PAD] must exist
        except ValueError as e:
            raise UserError(f"{path}: packed {VOCAB_FILE} is not a WordPiece vocabulary "
                            f"({e})") from None
        if self.model.output_width != len(self.labels):
            raise UserError(f"{path}: the model has {self.model.output_width} outputs but "
                            f"packed {LABELS_FILE} has {len(self.labels)} labels")

    def encode(self, text: str) -> dict[str, np.ndarray]:
        """The three int32 [1, L] inputs of `text` (README "Tokenizer rules")."""
        return encode(self.tokenizer, text, self.sequence_length)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), C] probabilities, in label order (one invoke per text)."""
        rows = [self.model.runner.run(self.encode(text))[0] for text in texts]
        return np.stack(rows) if rows else np.zeros((0, len(self.labels)), np.float32)

    def classify(self, texts: Sequence[str], top_k: int = 3) -> list[list[tuple[str, float]]]:
        """Per text, the `top_k` (label, probability) pairs, best first (ties: label order)."""
        k = max(1, top_k)
        return [[(self.labels[i], float(row[i])) for i in postprocess.top_indices(row, k)]
                for row in self.probabilities(texts)]


def classify_texts(path: str, texts: Sequence[str], top_k: int = 3,
                   num_threads: int | None = None) -> dict:
    """What `python -m export.predict <file> texts...` reports: {"model", "runtime",
    "results": [{"text", "predictions": [{"label", "score"}, ...]}]}."""
    if not texts:
        raise UserError(f"{path}: no text given; usage: python -m export.predict "
                        "<model.tflite> \"some text\" [\"more text\" ...]")
    classifier = Classifier(path, num_threads=num_threads)
    results = [{"text": text, "predictions": [{"label": label, "score": score}
                                              for label, score in ranked]}
               for text, ranked in zip(texts, classifier.classify(texts, top_k))]
    return {"model": path, "runtime": classifier.runtime, "results": results}
