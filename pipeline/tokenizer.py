"""Standard BERT WordPiece tokenization, via keras-hub.

Rules (the same on the phone; see README "Tokenizer rules"): lowercase, strip accents,
split on whitespace and punctuation, every CJK character its own word, greedy longest-match
WordPiece with the `##` suffix marker, `[UNK]` for words it cannot cover; the classifier input
is `[CLS] tokens [SEP]` padded with `[PAD]` (id 0) to the fixed sequence length.
"""

import os

import keras_hub
import tensorflow as tf

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def learn_vocabulary(texts: list, vocabulary_size: int) -> list:
    """Learns a WordPiece vocabulary from `texts`; the special tokens come first (ids 0-4)."""
    vocab = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(list(texts)).batch(1000), vocabulary_size, lowercase=True, strip_accents=True,
        split_on_cjk=True, reserved_tokens=SPECIAL_TOKENS)
    # Drop learned tokens with surrounding whitespace (e.g. from U+3000 or U+00A0 inside a
    # word): keras-hub strips each vocab.txt line when reading it back, so they would collide.
    return [token for token in vocab if token and token == token.strip()]


def write_vocabulary(vocab: list, path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in vocab))
    os.replace(tmp, path)


def read_vocabulary(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def make_tokenizer(vocab) -> keras_hub.models.BertTokenizer:
    """A BERT tokenizer over `vocab` (a list or a vocab.txt path), uncased, accents stripped."""
    return keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True, strip_accents=True)


def make_preprocessor(tokenizer, sequence_length: int):
    """Texts -> {"token_ids", "padding_mask", "segment_ids"}, each int32 [batch, sequence_length]."""
    return keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer=tokenizer, sequence_length=sequence_length)
