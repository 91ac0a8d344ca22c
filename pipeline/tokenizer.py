"""Standard BERT WordPiece tokenization, via keras-hub.

Rules (the same on the phone; see README "Tokenizer rules"): lowercase, strip accents,
split on whitespace and punctuation, every CJK character its own word, greedy longest-match
WordPiece with the `##` suffix marker, `[UNK]` for words it cannot cover; the classifier input
is `[CLS] tokens [SEP]` padded with `[PAD]` (id 0) to the fixed sequence length.
"""

import os

from export import contract
from pipeline.errors import UserError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def learn_vocabulary(texts: list, vocabulary_size: int) -> list:
    """Learns a WordPiece vocabulary from `texts`; the special tokens come first (ids 0-4)."""
    import keras_hub  # here, not at the top: reading a workdir's files needs no TensorFlow
    import tensorflow as tf

    vocab = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(list(texts)).batch(1000), vocabulary_size, lowercase=True, strip_accents=True,
        split_on_cjk=True, reserved_tokens=SPECIAL_TOKENS)
    # Drop learned tokens with surrounding whitespace (e.g. from U+3000 or U+00A0 inside a
    # word): keras-hub strips each vocab.txt line when reading it back, so they would collide.
    return [token for token in vocab if token and token == token.strip()]


def write_vocabulary(vocab: list, path: str) -> None:
    """One token (or label) a line, written atomically (temp file, fsync, rename)."""
    contract.write_bytes_atomic("".join(token + "\n" for token in vocab).encode("utf-8"), path)


def read_vocabulary(path: str) -> list:
    """The tokens (or labels) of a file written by `write_vocabulary`; UserError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        raise UserError(f"{path}: not found; train first with python -m pipeline.train") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: unreadable, not the UTF-8 text pipeline.train writes ({e}); "
                        "retrain or restore it") from None


def make_tokenizer(vocab):
    """A BERT tokenizer (keras_hub.models.BertTokenizer) over `vocab` (a list or a vocab.txt
    path), uncased, accents stripped. A vocabulary without the special tokens first is refused
    (UserError naming the file): keras-hub would fail on it deep inside."""
    import keras_hub

    is_path = isinstance(vocab, (str, os.PathLike))
    tokens = read_vocabulary(os.fspath(vocab)) if is_path else list(vocab)
    if tokens[:len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
        where = os.fspath(vocab) if is_path else "the vocabulary"
        raise UserError(f"{where}: not a WordPiece vocabulary written by pipeline.train (it must "
                        f"start with {' '.join(SPECIAL_TOKENS)}); retrain or restore it")
    return keras_hub.models.BertTokenizer(vocabulary=os.fspath(vocab) if is_path else vocab,
                                          lowercase=True, strip_accents=True)


def make_preprocessor(tokenizer, sequence_length: int):
    """Texts -> {"token_ids", "padding_mask", "segment_ids"}, each int32 [batch, sequence_length]."""
    import keras_hub

    return keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer=tokenizer, sequence_length=sequence_length)
