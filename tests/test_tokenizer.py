"""WordPiece vocabulary learning and the BERT-format preprocessor."""

import numpy as np

from pipeline import tokenizer

TEXTS = ["Set an alarm for 7 am", "Play some jazz, please!", "Crème brûlée at the café",
         "明天早上七点叫我起床", "帮我播放周杰伦的歌"] * 20


def test_vocabulary_starts_with_special_tokens_and_is_deterministic(tmp_path):
    vocab = tokenizer.learn_vocabulary(TEXTS, 300)
    assert vocab[:5] == tokenizer.SPECIAL_TOKENS
    assert vocab == tokenizer.learn_vocabulary(TEXTS, 300)
    assert "creme" in vocab and "cafe" in vocab  # lowercased, accents stripped
    assert "明" in vocab and "明天" not in vocab  # every CJK character its own token
    path = str(tmp_path / "vocab.txt")
    tokenizer.write_vocabulary(vocab, path)
    assert tokenizer.read_vocabulary(path) == vocab


def test_preprocessor_packs_cls_sep_and_pads_to_fixed_length():
    vocab = tokenizer.learn_vocabulary(TEXTS, 300)
    tok = tokenizer.make_tokenizer(vocab)
    pre = tokenizer.make_preprocessor(tok, 12)
    out = pre(["CAFÉ jazz", "明天七点 " * 10])
    ids = np.asarray(out["token_ids"])
    assert ids.shape == (2, 12) and ids.dtype == np.int32
    cls, sep, pad = (vocab.index(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    assert list(ids[0][:4]) == [cls, vocab.index("cafe"), vocab.index("jazz"), sep]
    assert all(i == pad for i in ids[0][4:])
    assert ids[1][0] == cls and ids[1][-1] == sep  # truncated, [SEP] kept
    assert np.asarray(out["padding_mask"])[0].tolist() == [1] * 4 + [0] * 8
