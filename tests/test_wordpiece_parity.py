"""Parity: export.runtime.wordpiece (pure Python) == keras-hub BERT preprocessing.

The reference is keras-hub's TensorFlow path (what runs inside ``tf.data``
during training): ``BertTokenizer`` + ``BertTextClassifierPreprocessor`` mapped
over a ``tf.data.Dataset``.  keras-hub's eager pure-Python path is compared as
well, except on text containing U+0000 (see ``test_keras_hub_eager_path``).
Everything is generated here (seeded); no network, no external files except the
optional real datasets under ../shared/datasets.
"""

import os
import random
import unicodedata
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

tf = pytest.importorskip("tensorflow", reason="parity reference needs TensorFlow")
tf_text = pytest.importorskip("tensorflow_text", reason="reference needs tensorflow-text")
keras_hub = pytest.importorskip("keras_hub", reason="parity reference needs keras-hub")

try:
    from export.runtime.wordpiece import WordPieceTokenizer, nfkc_casefold
except ImportError:  # plain `pytest` run without the repo root on sys.path
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from export.runtime.wordpiece import WordPieceTokenizer, nfkc_casefold

RESERVED = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"

# --------------------------------------------------------------------------
# Deterministic text generation
# --------------------------------------------------------------------------
EN_WORDS = (
    "the a of and to in is was for on that with as it by at from this be are "
    "film movie story good bad great terrible funny boring love hate actor "
    "actress director music scene plot character characters performance "
    "unbelievable unbelievably tokenization tokenizer running runner ran "
    "market stock stocks price prices bank banking school student students "
    "game games player players team teams win won lose lost season match "
    "internationalization antidisestablishmentarianism supercalifragilistic"
).split()
ACCENTED = (
    "Crème brûlée naïve café résumé façade Ångström São Paulo Zürich "
    "Đà Nẵng Mañana jalapeño coöperate Señor Ærø Øre Łódź Škoda İstanbul "
    "ıi straße STRASSE ẞ ΟΔΟΣ σοφός ΣΟΦΟΣ ς Привет мир Ёлка ﬁancé ﬂuffy "
    "e\u0301 a\u0308 n\u0303 \u1e9b\u0323 Å Ω K ǅ ǈ ǋ ŉ ΐ ﬀ ﬃ"
).split()
# Hangul, kana, Thai, Arabic, Hebrew, Devanagari (Mc/Mn marks), Vietnamese.
OTHER_SCRIPTS = (
    "한국어 안녕하세요 カタカナ ひらがな ｶﾀｶﾅ ภาษาไทย العربية עברית हिन्दी "
    "Tiếng Việt ຄຳ ᄀ\u1161\u11a8"
).split()
ZH = "我们今天天气很好中国人民大学北京上海新闻体育经济股票房产教育科技社会时政游戏娱乐的了是在不有这个说"
ZH_RARE = "㐀㐁䶵\uf900\uf901\ufa0e\U00020000\U0002a6d6\U0002f800\u2e80\u2f00\u3005\u3007"
EMOJI = [
    "😀", "😂", "👍", "👍🏽", "🇨🇳", "🇺🇸", "❤️", "❤", "✨", "🎉", "👨‍👩‍👧",
    "🏳️‍🌈", "☺️", "🤖", "🥲", "🫠", "©", "®", "™", "€", "£", "¥", "°", "±",
    "×", "÷", "√", "∞", "→", "★", "♪", "①", "²", "½", "㈱", "㎏", "℃", "№",
]
PUNCT = [
    "!", "?", "!!!??", "...", "…", "—", "–", "-", "--", ",", ".", ";", ":",
    "'", '"', "“", "”", "‘", "’", "«", "»", "(", ")", "[", "]", "{", "}",
    "<", ">", "$", "^", "`", "|", "~", "+", "=", "@", "#", "%", "&", "*",
    "\\", "/", "_", "¿", "¡", "·", "§", "¶", "。", "，", "、", "！", "？",
    "：", "；", "（", "）", "【", "】", "「", "」", "『", "』", "《", "》",
    "～", "・", "〜", "＃", "＄", "％", "＆", "＊", "＋", "－", "／", "＝",
    "＠", "＼", "＾", "＿", "｀", "｜", "〔", "〕", "‰", "′", "″",
    "[CLS]", "[SEP]", "[PAD]", "[UNK]", "##", "##ing",
]
DIGITS = ["0", "7", "42", "2024", "3.14", "1,000", "１２３", "٣", "४२", "10%", "$5", "½"]
FULLWIDTH = ["ｈｅｌｌｏ", "ＷＯＲＬＤ", "ＡＢＣ１２３", "ｔｏｋｅｎ"]
SPACES = [
    " ", "  ", "\t", "\n", "\r\n", "\r", "\f", "\v", "\u00a0", "\u3000",
    "\u2003", "\u2009", "\u202f", "\u2028", "\u2029", "\u200b", "\u200c",
    "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e",
]
CONTROLS = ["\x01", "\x07", "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\u061c", "\u200e", "\u202e"]
ODD = ["\u3164", "\uffa0", "\u115f", "\ufe0f", "\u034f", "\u0301", "\u0345", "\ufff9", "\U000e0041", "\ue000"]


def _word(rng):
    r = rng.random()
    if r < 0.30:
        w = rng.choice(EN_WORDS)
        c = rng.random()
        return w.upper() if c < 0.1 else (w.capitalize() if c < 0.3 else w)
    if r < 0.45:
        return rng.choice(ACCENTED)
    if r < 0.60:
        return "".join(rng.choice(ZH) for _ in range(rng.randint(1, 6)))
    if r < 0.63:
        return rng.choice(ZH_RARE)
    if r < 0.66:
        return rng.choice(OTHER_SCRIPTS)
    if r < 0.72:
        return rng.choice(EMOJI)
    if r < 0.82:
        return rng.choice(PUNCT)
    if r < 0.88:
        return rng.choice(DIGITS)
    if r < 0.90:
        return rng.choice(FULLWIDTH)
    if r < 0.92:
        # Glue pieces together without spaces.
        return rng.choice(EN_WORDS) + rng.choice(PUNCT + EMOJI + ODD + CONTROLS) + rng.choice(ACCENTED)
    if r < 0.94:
        return rng.choice(ODD) + rng.choice(EN_WORDS) + rng.choice(ODD)
    if r < 0.95:
        return rng.choice(CONTROLS)
    if r < 0.96:
        # Words around the 100-byte limit (ASCII 1 byte, Cyrillic 2, CJK-free).
        return rng.choice(["a", "ab", "д", "x", "é", "ß", "мир", "Привет", "σοφός"]) * rng.randint(8, 110)
    if r < 0.97:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(98, 103)))
    if r < 0.98:
        # Random assigned BMP character.
        while True:
            c = chr(rng.randint(0xA0, 0xFFFD))
            if unicodedata.category(c) not in ("Cn", "Cs"):
                return c
    return rng.choice(EN_WORDS) + rng.choice(EN_WORDS)


def _sentence(rng, max_words=25):
    parts = []
    for _ in range(rng.randint(1, max_words)):
        parts.append(_word(rng))
        parts.append(rng.choice(SPACES) if rng.random() < 0.15 else ("" if rng.random() < 0.1 else " "))
    s = "".join(parts)
    return s.capitalize() if rng.random() < 0.2 else s


def training_corpus():
    """Sentences the vocabulary is learned from (English, Chinese, accents, punctuation)."""
    rng = random.Random(1234)
    pools = [EN_WORDS] * 6 + [ACCENTED] * 2 + [list(ZH)] * 3 + [PUNCT, DIGITS, EMOJI, FULLWIDTH]
    corpus = []
    for _ in range(1200):
        words = [rng.choice(rng.choice(pools)) for _ in range(rng.randint(3, 15))]
        # A few ideographic / no-break spaces inside "words": keras-hub then
        # learns tokens containing a space (see test_from_file_and_vocab_file).
        corpus.append("".join(w + rng.choice([" "] * 30 + ["\u3000", "\u00a0", ""]) for w in words))
    return corpus


FIXED_CASES = [
    "",
    " ",
    "   \t\n  ",
    "\t",
    "\n\n",
    "\r\n",
    "\u3000",
    "\u00a0",
    "\u200b",
    "\x00",
    "hello\x00world",
    "abc \x00 def",
    "\x00leading nul",
    "Crème brûlée",
    "CRÈME BRÛLÉE!!!??",
    "naïve café, résumé; façade.",
    "The quick brown fox jumps over the lazy dog.",
    "我们今天天气很好。",
    "中国人民大学，北京！",
    "ｈｅｌｌｏ　ｗｏｒｌｄ！！",
    "hello\u3000world",
    "hello\u00a0world",
    "hello\u200bworld",
    "hello\u200dworld",
    "straße STRASSE ẞ",
    "İstanbul ıi",
    "ΟΔΟΣ σοφός ΣΟΦΟΣ",
    "😀😂👍🏽 🇨🇳 👨‍👩‍👧 ❤️",
    "!!!??...——",
    "a" * 99,
    "a" * 100,
    "a" * 101,
    "д" * 50,
    "д" * 51,
    "Д" * 51,
    "мир" * 16,  # 48 characters but 96 bytes: still split into word pieces
    "мир" * 17,  # 51 characters but 102 bytes: over the limit -> [UNK]
    "привет" * 9,
    "é" * 60,
    "ab" * 200,
    "x " * 300,
    "word " * 100,
    "我" * 200,
    "[CLS] [SEP] [PAD] [UNK] [MASK]",
    "##ing ## #",
    "㈱ ① ² ½ ™ ℃ ﬁ",
    "\x01\x02\x1b[31mred\x1b[0m\x7f",
    "line1\nline2\tcol\rend\f\v",
    "e\u0301 e\u034f\u0301 \u0345\u0301",
    "\u3164 a\u3164b \uffa0",
    "한국어 안녕하세요",
    "Tiếng Việt",
    "ภาษาไทย العربية हिन्दी",
]


def generated_cases(n=3000):
    rng = random.Random(20240611)
    cases = list(FIXED_CASES)
    while len(cases) < n:
        r = rng.random()
        if r < 0.05:
            cases.append(_sentence(rng, max_words=200))  # beyond sequence_length
        elif r < 0.07:
            cases.append(_word(rng))
        elif r < 0.08:
            cases.append("".join(rng.choice(SPACES) for _ in range(rng.randint(0, 5))))
        elif r < 0.09:
            s = _sentence(rng)
            i = rng.randint(0, len(s))
            cases.append(s[:i] + "\x00" + s[i:])
        else:
            cases.append(_sentence(rng))
    return cases


# --------------------------------------------------------------------------
# keras-hub reference
# --------------------------------------------------------------------------
def reference_tf(vocab, texts, sequence_length, lowercase=True, strip_accents=True):
    """keras-hub TensorFlow path (as inside tf.data during training)."""
    tok = keras_hub.models.BertTokenizer(
        vocabulary=vocab, lowercase=lowercase, strip_accents=strip_accents
    )
    pre = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer=tok, sequence_length=sequence_length
    )
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(1024).map(pre)
    out = []
    for x in ds:
        ids = x["token_ids"].numpy().tolist()
        mask = x["padding_mask"].numpy().astype("int32").tolist()
        seg = x["segment_ids"].numpy().tolist()
        out.extend(zip(ids, mask, seg))
    assert len(out) == len(texts)
    return out


def reference_eager(vocab, texts, sequence_length):
    """keras-hub eager call (its pure-Python workflow)."""
    tok = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True, strip_accents=True)
    pre = keras_hub.models.BertTextClassifierPreprocessor(tokenizer=tok, sequence_length=sequence_length)
    x = pre(texts)
    ids = [list(map(int, r)) for r in x["token_ids"]]
    mask = [[int(bool(v)) for v in r] for r in x["padding_mask"]]
    seg = [list(map(int, r)) for r in x["segment_ids"]]
    return list(zip(ids, mask, seg))


def assert_parity(mine, vocab, texts, expected, sequence_length):
    mismatches = []
    for text, exp in zip(texts, expected):
        got = mine.encode(text, sequence_length)
        if tuple(got) != tuple(exp):
            mismatches.append((text, exp[0], got[0]))
    if mismatches:
        lines = []
        for text, exp, got in mismatches[:10]:
            lines.append(
                f"text={text[:80]!r}\n  keras-hub={exp}\n  {[vocab[i] for i in exp]}"
                f"\n  mine     ={got}\n  {[vocab[i] for i in got]}"
            )
        pytest.fail(f"{len(mismatches)}/{len(texts)} mismatches (L={sequence_length}):\n" + "\n".join(lines))


@pytest.fixture(scope="module")
def vocab():
    ds = tf.data.Dataset.from_tensor_slices(training_corpus()).batch(256)
    v = keras_hub.tokenizers.compute_word_piece_vocabulary(
        ds,
        1500,
        lowercase=True,
        strip_accents=True,
        split_on_cjk=True,
        reserved_tokens=RESERVED,
    )
    assert v[: len(RESERVED)] == RESERVED
    assert any(t.startswith("##") for t in v) and any("\u4e00" <= t <= "\u9fff" for t in v)
    return v


@pytest.fixture(scope="module")
def cases():
    return generated_cases()


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------
@pytest.mark.slow  # over 10 s: keeps the not-slow tier under 3 minutes
@pytest.mark.parametrize("sequence_length", [2, 5, 64])
def test_generated_parity(vocab, cases, sequence_length):
    texts = cases if sequence_length == 64 else cases[:400]
    expected = reference_tf(vocab, texts, sequence_length)
    assert_parity(WordPieceTokenizer(vocab), vocab, texts, expected, sequence_length)


def test_unpadded_tokenize_parity(vocab, cases):
    """tokenize() == keras-hub tokenizer without any truncation."""
    tok = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True, strip_accents=True)
    ds = tf.data.Dataset.from_tensor_slices(cases).batch(1024).map(tok)
    expected = [row for batch in ds for row in batch.to_list()]
    mine = WordPieceTokenizer(vocab)
    bad = [(t, e, mine.tokenize(t)) for t, e in zip(cases, expected) if mine.tokenize(t) != e]
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"
    # Sanity: the cases exercise [UNK], over-long words and long inputs.
    unk = vocab.index("[UNK]")
    assert sum(unk in e for e in expected) > 50
    # The 100-byte limit counts UTF-8 bytes, not characters.
    assert mine.tokenize("мир" * 16) != [unk] and mine.tokenize("мир" * 17) == [unk]
    assert max(len(e) for e in expected) > 200


@pytest.mark.parametrize("lowercase,strip_accents", [(False, False), (True, False), (False, True)])
def test_other_flags_parity(vocab, cases, lowercase, strip_accents):
    texts = cases[:600]
    expected = reference_tf(vocab, texts, 64, lowercase=lowercase, strip_accents=strip_accents)
    mine = WordPieceTokenizer(vocab, lowercase=lowercase, strip_accents=strip_accents)
    assert_parity(mine, vocab, texts, expected, 64)


def test_from_file_and_vocab_file(vocab, tmp_path):
    """vocab.txt loading is identical to keras-hub's (which rstrip()s lines)."""
    # Quirk: the learned vocabulary contains tokens with (trailing) spaces,
    # produced by U+3000 / U+00A0 inside words.  Saved to a file and read
    # back, they lose the trailing space and collide (" " -> "", "## " ->
    # "##"), and keras-hub (FastWordpieceTokenizer) refuses the file.
    assert any(t != t.rstrip() for t in vocab)
    full = tmp_path / "full_vocab.txt"
    full.write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
    stripped = [t.rstrip() for t in vocab]
    if len(set(stripped)) != len(stripped):
        with pytest.raises(Exception, match="unique"):
            keras_hub.models.BertTokenizer(vocabulary=str(full), lowercase=True, strip_accents=True)
        with pytest.raises(ValueError, match="unique"):
            WordPieceTokenizer.from_file(str(full))

    # A loadable file: drop the tokens that do not survive the round trip,
    # keep one with an inner space, and use CRLF line ends.
    file_vocab = [t for t in vocab if t == t.rstrip()]
    assert any(" " in t for t in file_vocab)
    path = tmp_path / "vocab.txt"
    path.write_bytes("".join(t + "\r\n" for t in file_vocab).encode("utf-8"))
    mine = WordPieceTokenizer.from_file(str(path))
    assert mine.vocab == file_vocab
    texts = generated_cases()[:600]
    expected = reference_tf(str(path), texts, 32)
    assert_parity(mine, file_vocab, texts, expected, 32)


@pytest.mark.slow  # over 10 s: keeps the not-slow tier under 3 minutes
def test_keras_hub_eager_path(vocab, cases):
    """keras-hub's eager (pure Python) path agrees too, except after U+0000.

    Quirk: tensorflow-text's regex_split (TF path, used in tf.data) stops at
    the first NUL character; keras-hub's eager Python path does not.  We follow
    the TF path; NUL texts are excluded here.
    """
    # keras-hub's eager path is slow (~50 ms per text), so use a subset
    # (it starts with all FIXED_CASES).
    texts = [t for t in cases[:110] if "\x00" not in t]
    expected = reference_eager(vocab, texts, 64)
    assert_parity(WordPieceTokenizer(vocab), vocab, texts, expected, 64)


def test_encode_layout(vocab):
    mine = WordPieceTokenizer(vocab)
    ids, mask, seg = mine.encode("", 6)
    assert ids == [vocab.index("[CLS]"), vocab.index("[SEP]"), 0, 0, 0, 0]
    assert mask == [1, 1, 0, 0, 0, 0] and seg == [0] * 6
    ids, mask, seg = mine.encode("the film " * 50, 8)
    assert ids[0] == vocab.index("[CLS]") and ids[-1] == vocab.index("[SEP]")
    assert mask == [1] * 8 and len(ids) == len(seg) == 8
    assert mine.tokenize("a" * 101) == [vocab.index("[UNK]")]
    assert mine.tokenize("\t \n") == []
    with pytest.raises(ValueError):
        mine.encode("x", 1)


@pytest.mark.slow  # over 10 s: keeps the not-slow tier under 3 minutes
def test_pretokenize_every_code_point():
    """Split/strip/lowercase rules for every assigned code point (Python's UCD).

    Compared with keras-hub's own TF pretokenizer on "a<c>b" and alone.
    Code points unassigned in Python's Unicode database (Unicode 14.0 on
    Python 3.11) are skipped: TF uses newer Unicode tables for them.
    """
    from keras_hub.src.tokenizers.word_piece_tokenizer import pretokenize

    cps = [
        c
        for c in range(1, 0x110000)
        if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")
    ] + [0xE000, 0xF8FF, 0xF0000, 0x10FFFD]
    mine = WordPieceTokenizer(["[UNK]"])
    for tmpl in ("a{}b", "{}\u00e9"):
        texts = [tmpl.format(chr(c)) for c in cps]
        out = pretokenize(tf.constant(texts), lowercase=True, strip_accents=True, split=True, split_on_cjk=True)
        bad = []
        for c, t, o in zip(cps, texts, out.to_list()):
            o = [w.decode("utf-8") for w in o]
            if mine._pretokenize(t) != o:
                bad.append((hex(c), o, mine._pretokenize(t)))
        assert not bad, f"{tmpl!r}: {len(bad)} mismatches, first: {bad[:5]}"


def test_casefold_every_code_point():
    """nfkc_casefold == tf_text.case_fold_utf8 (ICU NFKC_Casefold)."""
    cps = [c for c in range(1, 0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")]
    for tmpl in ("{}", "e{}\u0301"):
        texts = [tmpl.format(chr(c)) for c in cps]
        out = tf_text.case_fold_utf8(tf.constant(texts)).numpy()
        bad = [
            (hex(c), o.decode("utf-8"), nfkc_casefold(t))
            for c, t, o in zip(cps, texts, out)
            if nfkc_casefold(t) != o.decode("utf-8")
        ]
        assert not bad, f"{tmpl!r}: {len(bad)} mismatches, first: {bad[:5]}"


def _read_real_sentences():
    sst = DATASETS / "sst2" / "dev.tsv"
    thuc = DATASETS / "thucnews" / "test.txt"
    if not (sst.is_file() and thuc.is_file()):
        pytest.skip(
            f"real datasets not found ({sst} and {thuc}); "
            "they exist only on the development machine"
        )
    texts = []
    with open(sst, encoding="utf-8") as f:
        next(f)  # header: label<TAB>content
        texts += [line.rstrip("\r\n").split("\t", 1)[1] for line in f if "\t" in line]
    with open(thuc, encoding="utf-8") as f:
        texts += [line.rstrip("\r\n").rsplit("\t", 1)[0] for line in f if line.strip()]
    return texts


def test_real_datasets_parity():
    texts = _read_real_sentences()
    assert len(texts) > 10000
    # A vocabulary learned from a sample of the real text itself (learning is
    # slow); all ~10.9k sentences are then compared.
    sample = texts[:300] + texts[-700:]
    real_vocab = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(sample).batch(256),
        3000,
        lowercase=True,
        strip_accents=True,
        split_on_cjk=True,
        reserved_tokens=RESERVED,
    )
    expected = reference_tf(real_vocab, texts, 64)
    assert_parity(WordPieceTokenizer(real_vocab), real_vocab, texts, expected, 64)
