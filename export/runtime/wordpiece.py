r"""Pure-Python BERT WordPiece tokenizer and packer (standard library only).

Gives exactly the token ids of::

    tok = keras_hub.models.BertTokenizer(vocabulary=..., lowercase=True,
                                         strip_accents=True)  # split_on_cjk=True
    pre = keras_hub.models.BertTextClassifierPreprocessor(tok, sequence_length=L)

(keras-hub 0.32 / tensorflow-text 2.21, TensorFlow path, i.e. what runs
inside ``tf.data`` during training; keras-hub's eager pure-Python path gives
the same ids except after a NUL character, see the notes), so that inference
code can tokenize without TensorFlow.  ``tests/test_wordpiece_parity.py`` checks the
equality.  This docstring is the specification for other ports (e.g. Java).

Rules, applied in this order to one input string
-------------------------------------------------
"Character" below means a Unicode code point (not a UTF-16 unit: a Java port
must iterate with ``codePointAt``).  Unicode categories come from the Unicode
Character Database (Python 3.11 ships Unicode 14.0; a newer database only
differs on characters assigned after 14.0).

0. Cut the text at the first NUL character (U+0000): it and everything after
   it is ignored (tensorflow-text's ``regex_split`` works on C strings).

1. Strip accents (if ``strip_accents``): normalise the whole text to NFD
   (canonical decomposition, NOT recomposed afterwards), then delete every
   character of category Mn (non-spacing mark).  "Crème brûlée" -> "Creme
   brulee"; a Hangul syllable decomposes into conjoining jamo (category Lo,
   which stay; step 3 recomposes them when ``lowercase``).  Steps 2-4 see the
   text produced here (e.g. U+1FEF decomposes to the ASCII "`").  Spacing marks (Mc) and enclosing
   marks (Me) stay.

2. Split into words.  Scan the characters left to right:
   * whitespace -> ends the current word and is dropped.  Whitespace means
     ONLY the five ASCII characters space, \t, \n, \r, \f, plus any
     character of category Cc (control: U+0000-U+001F, U+007F-U+009F, which
     includes \v and U+0085) or Cf (format: zero width space U+200B,
     ZWNJ/ZWJ U+200C/D, LRM/RLM, U+2060, BOM U+FEFF, soft hyphen U+00AD, ...).
     Quirk: other Unicode spaces (no-break space U+00A0, U+2000-U+200A,
     U+202F, U+205F, ideographic space U+3000, line/paragraph separators
     U+2028/U+2029) are NOT separators; they stay inside the word (and
     step 3 then turns most of them into an ASCII space inside the word,
     which normally makes the whole word [UNK]).
   * punctuation -> ends the current word and is emitted as a one-character
     word of its own.  Punctuation means every printable ASCII character that
     is not a letter or digit (U+0021-U+002F, U+003A-U+0040, U+005B-U+0060,
     U+007B-U+007E, so also $ + < = > ^ ` | ~), plus every character whose
     category starts with P (Pc Pd Ps Pe Pi Pf Po), e.g. full-width "！，。"
     and "、「」".  Symbols such as emoji, currency signs other than "$",
     math signs other than "+<=>|~" (categories S*) are NOT punctuation:
     they are ordinary word characters.
   * CJK ideograph (if ``split_on_cjk``) -> treated like punctuation (its own
     word).  CJK means the code point ranges U+4E00-U+9FFF, U+3400-U+4DBF,
     U+20000-U+2A6DF, U+2A700-U+2B73F, U+2B740-U+2B81F, U+2B820-U+2CEAF,
     U+F900-U+FAFF, U+2F800-U+2FA1F.  Kana, Hangul, CJK punctuation outside
     these ranges are not CJK here.
   * anything else -> appended to the current word.
   Empty words are never produced by this step.

3. Lowercase (if ``lowercase``): map each word with Unicode NFKC_Casefold
   (what ICU / tensorflow-text ``case_fold_utf8`` does).  Precisely: replace
   every character c by ``NFKC(casefold(NFKC(c)))`` with Default_Ignorable
   code points (``_DEFAULT_IGNORABLE_RANGES``, e.g. the Hangul fillers
   U+3164, U+FFA0) removed -- i.e. by "" if c itself is default-ignorable --
   then apply NFKC to the concatenation (this reorders and composes combining
   marks; it is NOT the same as ``NFKC(casefold(NFKC(word)))``, e.g. for
   "e" U+034F U+0301 or U+0345 U+0301).  casefold is Unicode full case
   folding: "ß" -> "ss", "ẞ" -> "ss", "İ" -> "i" + U+0307, final sigma "ς" ->
   "σ", "ﬁ" -> "fi"; NFKC gives "Ａ" -> "a", "①" -> "1", "™" -> "tm",
   "㈱" -> "(株)", "１２３" -> "123", and U+00A0 / U+2000-U+200A / U+202F /
   U+205F / U+3000 -> " " (ASCII space).  This happens after splitting, so
   characters it creates (spaces, punctuation, CJK, combining marks) are not
   split or stripped any more; a word may also become empty (it then yields
   no token).  Pure-ASCII words are simply lowercased (A-Z -> a-z).

4. WordPiece, for each word: if its UTF-8 encoding is longer than
   ``max_chars_per_word`` (100) BYTES the word is the single token
   ``unk_token``.  Otherwise greedy longest-match-first: starting at
   character 0, take the longest prefix present in the vocabulary; from then
   on take the longest substring starting at the current position that is in
   the vocabulary when prefixed with ``suffix_indicator`` ("##").  If at
   some position nothing matches, the WHOLE word becomes one ``unk_token``
   (already produced pieces of that word are discarded).  An empty word gives
   no token.

5. Packing (``encode``), like ``BertTextClassifierPreprocessor`` with one
   segment: keep the first ``sequence_length - 2`` tokens, output
   ``[CLS] tokens [SEP]`` and pad on the right with the id of ``[PAD]`` up to
   ``sequence_length``.  ``padding_mask`` is 1 where the id differs from the
   ``[PAD]`` id, else 0; ``segment_ids`` are all 0.  Special-token ids are the
   line numbers (0-based) of "[CLS]", "[SEP]", "[PAD]" in vocab.txt.  Text
   such as "[CLS]" inside the input is NOT a special token (it is split into
   "[", "cls", "]").

Vocabulary file: UTF-8, one token per line (lines end at \n, \r or \r\n
only), and from each line all trailing characters for which Python's
``str.isspace()`` is true are removed (this includes U+00A0, U+3000, U+2028,
U+0085, U+001C-U+001F); the id of a token is its 0-based line number.  Tokens
must be unique (after that stripping), otherwise loading fails, as in
keras-hub.  The token "[UNK]" must exist; "[CLS]", "[SEP]", "[PAD]" are needed
by ``encode``.

Other notes
-----------
* Step 0 (NUL) is a property of the TF path (used in tf.data, i.e. in
  training); keras-hub's eager pure-Python path does not cut at NUL.
* The exact per-character results were checked against tensorflow-text 2.21
  for every code point assigned in Unicode 14.0 (Python 3.11's database).
  tensorflow-text uses newer tables (ICU with Unicode 16 for NFD and case
  folding, RE2 with Unicode 15.x for the Mn/P/Cc/Cf classes), so characters
  first assigned in Unicode 15.0 or later (new scripts, a few new Latin /
  Cyrillic letters) can tokenize differently.  Such characters are treated
  here as ordinary, unchanged word characters.
"""

from __future__ import annotations

import functools
import unicodedata

__all__ = ["WordPieceTokenizer", "nfkc_casefold"]

# Characters that tensorflow-text's / RE2's ``\s`` matches.
_ASCII_WHITESPACE = frozenset(" \t\n\r\f")

# Code point ranges that keras-hub treats as CJK (from Google's BERT code).
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt); these are
# removed by NFKC_Casefold.
_DEFAULT_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def _in_ranges(cp: int, ranges) -> bool:
    for lo, hi in ranges:
        if lo <= cp <= hi:
            return True
    return False


def _is_whitespace(ch: str) -> bool:
    return ch in _ASCII_WHITESPACE or unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if (
        0x21 <= cp <= 0x2F
        or 0x3A <= cp <= 0x40
        or 0x5B <= cp <= 0x60
        or 0x7B <= cp <= 0x7E
    ):
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(ch: str) -> bool:
    return _in_ranges(ord(ch), _CJK_RANGES)


def _is_default_ignorable(ch: str) -> bool:
    return _in_ranges(ord(ch), _DEFAULT_IGNORABLE_RANGES)


@functools.lru_cache(maxsize=65536)
def _casefold_char(ch: str) -> str:
    """NFKC_Casefold of one character ("" for a default ignorable one)."""
    if _is_default_ignorable(ch):
        return ""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", ch).casefold())
    return "".join(c for c in folded if not _is_default_ignorable(c))


def nfkc_casefold(text: str) -> str:
    """Unicode NFKC_Casefold, exactly as tensorflow-text ``case_fold_utf8`` (ICU).

    ICU maps every character on its own (case fold + compatibility
    decomposition, default ignorables -> nothing) and only then reorders
    combining marks and composes, so this is ``NFKC(concat(map(c)))`` and not
    ``NFKC(casefold(NFKC(text)))`` (they differ e.g. for "e", U+034F, U+0301
    or for U+0345 followed by another accent).
    """
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", "".join(_casefold_char(c) for c in text))


class WordPieceTokenizer:
    """BERT WordPiece tokenizer + single-segment packer (see module docstring)."""

    def __init__(
        self,
        vocab: list[str],
        lowercase: bool = True,
        strip_accents: bool = True,
        split_on_cjk: bool = True,
        unk_token: str = "[UNK]",
        suffix_indicator: str = "##",
        max_chars_per_word: int = 100,
    ):
        self.vocab = list(vocab)
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.split_on_cjk = split_on_cjk
        self.unk_token = unk_token
        self.suffix_indicator = suffix_indicator
        # Limit on the UTF-8 length in bytes of a word (tensorflow-text's
        # FastWordpieceTokenizer ``max_bytes_per_word``); the name is kept
        # for the public API.
        self.max_chars_per_word = max_chars_per_word
        self.token_to_id = {token: i for i, token in enumerate(self.vocab)}
        if len(self.token_to_id) != len(self.vocab):
            # tensorflow-text's FastWordpieceTokenizer (used by keras-hub)
            # refuses such a vocabulary too.
            raise ValueError("Tokens in the vocabulary must be unique.")
        if unk_token not in self.token_to_id:
            raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary")
        self.unk_id = self.token_to_id[unk_token]
        self._max_token_chars = max((len(t) for t in self.vocab), default=0)

    @classmethod
    def from_file(cls, path, **kw) -> WordPieceTokenizer:
        """Load vocab.txt (UTF-8, one token per line) as keras-hub does."""
        with open(path, encoding="utf-8") as f:
            vocab = [line.rstrip() for line in f]
        return cls(vocab, **kw)

    # -- steps 1-3 -------------------------------------------------------
    def _pretokenize(self, text: str) -> list[str]:
        # tensorflow-text's regex_split stops at the first NUL character.
        text = text.split("\x00", 1)[0]
        if self.strip_accents:
            text = unicodedata.normalize("NFD", text)
            text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        words = []
        current = []
        for ch in text:
            if _is_whitespace(ch):
                if current:
                    words.append("".join(current))
                    current = []
            elif _is_punctuation(ch) or (self.split_on_cjk and _is_cjk(ch)):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(ch)
            else:
                current.append(ch)
        if current:
            words.append("".join(current))
        if self.lowercase:
            words = [nfkc_casefold(w) for w in words]
        return words

    # -- step 4 ----------------------------------------------------------
    def _wordpiece(self, word: str) -> list[int]:
        if not word:
            return []
        if len(word.encode("utf-8")) > self.max_chars_per_word:
            return [self.unk_id]
        ids = []
        start = 0
        n = len(word)
        prefix = ""
        while start < n:
            end = min(n, start + self._max_token_chars)
            found = None
            while end > start:
                piece = prefix + word[start:end]
                found = self.token_to_id.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            ids.append(found)
            start = end
            prefix = self.suffix_indicator
        return ids

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without [CLS]/[SEP]/padding."""
        ids = []
        for word in self._pretokenize(text):
            ids.extend(self._wordpiece(word))
        return ids

    def _special_id(self, token: str) -> int:
        if token not in self.token_to_id:
            raise ValueError(f"{token!r} is not in the vocabulary")
        return self.token_to_id[token]

    def encode(
        self, text: str, sequence_length: int
    ) -> tuple[list[int], list[int], list[int]]:
        """token_ids, padding_mask (1/0), segment_ids (0s) exactly like BertTextClassifierPreprocessor."""
        if sequence_length < 2:
            raise ValueError("sequence_length must be at least 2")
        cls_id = self._special_id("[CLS]")
        sep_id = self._special_id("[SEP]")
        pad_id = self._special_id("[PAD]")
        ids = self.tokenize(text)[: sequence_length - 2]
        token_ids = [cls_id] + ids + [sep_id]
        token_ids += [pad_id] * (sequence_length - len(token_ids))
        padding_mask = [0 if t == pad_id else 1 for t in token_ids]
        segment_ids = [0] * sequence_length
        return token_ids, padding_mask, segment_ids
