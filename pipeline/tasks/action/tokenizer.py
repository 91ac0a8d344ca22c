"""Byte-level BPE tokenizer of the action task: exact on any text, trained here, TF-free.

Detokenising the tokens of a text gives the text back byte for byte (accents, Chinese, digits,
emoji: no lowercasing, no normalisation, no unknown token). Pure Python; training builds its
numpy arrays with `encode_example`.

The algorithm (what a port, e.g. to Java, must do; golden vectors check it):

1. Pre-tokenisation, on code points. A CJK character is a code point in U+3040..U+30FF
   (hiragana, katakana), U+3400..U+4DBF, U+4E00..U+9FFF, U+F900..U+FAFF or U+20000..U+3FFFF
   (ideographs), whatever its category; a letter is any other code point whose Unicode general
   category starts with "L" (Python `unicodedata.category(c)[0] == "L"`, Java
   `Character.isLetter`). Scanning left to right, a pre-token is
   a. a maximal run of U+0020 SPACE ("  " is one pre-token, never part of a word);
   b. a maximal run of letters ("Lucía"; "I'll" -> "I", "'", "ll"); or
   c. any other single code point: each CJK character, digit, apostrophe, other whitespace,
      punctuation mark, emoji, combining mark.
   Why: a value has the same tokens in the command and in the action, so the model can copy
   it: "Call Priya" -> "Call", " ", "Priya" as in "contact=Priya", and "给妈妈发微信" -> "给",
   "妈", "妈", "发", "微", "信" as in "contact=妈妈" (a character's 3 UTF-8 bytes still merge
   into one token; merges never cross characters). No token ever holds two digits: times and
   durations are written digit by digit. (Categories come from the runtime's Unicode tables:
   Python 3.11 has Unicode 14; a code point assigned later is "other" here, a letter in a
   newer table. Golden vectors stay within long-assigned code points.)
2. Byte mapping: each pre-token is encoded as UTF-8 and each byte becomes one symbol, written
   with GPT-2's printable alphabet (`BYTE_TO_UNICODE`: bytes ! .. ~, ¡ .. ¬, ® .. ÿ map to
   themselves, the other 68 bytes in increasing order to U+0100, U+0101, ...; space is "Ġ").
3. Merges, in `merges.txt` order (rank = line number): repeatedly find the adjacent pair of
   symbols with the lowest rank in the pre-token (the leftmost one if it occurs twice), replace
   it by its concatenation, until no adjacent pair has a rank. Pre-tokens are independent.
4. Ids: `vocabulary.json` maps each symbol string to its id: the special tokens first
   (0 pad, 1 bos, 2 eos, 3 sep), then the 256 bytes in byte order (ids 4..259), then one token
   per merge in merge order. Decoding concatenates the tokens' bytes (specials skipped) and
   reads UTF-8.

Training (`train`): count pre-tokens over the texts; repeatedly merge the most frequent
adjacent pair (ties: the pair whose (left bytes, right bytes) sorts first), until the
vocabulary has `vocab_size` tokens or no pair occurs `min_frequency` times. The result does
not depend on the order of the texts.

The two files keep keras-hub's `BytePairTokenizer` format, but that layer splits with GPT-2's
regex (a space joins the next word, Chinese runs stay whole), so it does not give these ids:
there is no keras-hub path; ports follow the rules above.
"""

import heapq
import json
import os
import random
import unicodedata

from export import contract
from pipeline.errors import UserError

PAD, BOS, EOS, SEP = "<|pad|>", "<|bos|>", "<|eos|>", "<|sep|>"
SPECIAL_TOKENS = (PAD, BOS, EOS, SEP)  # ids 0, 1, 2, 3
VOCAB_FILENAME, MERGES_FILENAME = "vocabulary.json", "merges.txt"  # keras-hub's names


def _bytes_to_unicode() -> dict:
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    mapping, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return dict(sorted(mapping.items()))


BYTE_TO_UNICODE = _bytes_to_unicode()
UNICODE_TO_BYTE = {c: b for b, c in BYTE_TO_UNICODE.items()}


# CJK characters: each is its own pre-token (rule 1), whatever Unicode says about it.
_CJK = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
        (0x20000, 0x3FFFF))


def _is_cjk(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in _CJK)


def _is_letter(c: str) -> bool:
    return unicodedata.category(c)[0] == "L" and not _is_cjk(c)


def pretokenize(text: str) -> list:
    """Rule 1 of the module docstring: the pieces BPE merges within, in order; they join to
    `text`."""
    pieces, i, n = [], 0, len(text)
    while i < n:
        start, c = i, text[i]
        if c == " ":
            while i < n and text[i] == " ":
                i += 1
        elif _is_letter(c):
            while i < n and _is_letter(text[i]):
                i += 1
        else:
            i += 1
        pieces.append(text[start:i])
    return pieces


def _symbols(piece: str) -> list:
    return [BYTE_TO_UNICODE[b] for b in piece.encode("utf-8")]


class BPETokenizer:
    """A trained vocabulary and its merges: `encode` / `decode`, special token ids, the bytes of
    every token (for the grammar), files for the phone."""

    def __init__(self, vocabulary: dict, merges: list):
        """`vocabulary`: symbol string -> id, specials at 0-3 and all 256 bytes present;
        `merges`: (left, right) symbol pairs in rank order. ValueError if inconsistent."""
        self.vocabulary = dict(vocabulary)
        self.merges = [tuple(m) for m in merges]
        self.id_to_token = {i: t for t, i in self.vocabulary.items()}
        problem = None
        if len(self.id_to_token) != len(self.vocabulary) or sorted(self.id_to_token) != list(
                range(len(self.vocabulary))):
            problem = "ids are not 0..size-1, each once"
        elif [self.vocabulary.get(t) for t in SPECIAL_TOKENS] != [0, 1, 2, 3]:
            problem = f"the special tokens {' '.join(SPECIAL_TOKENS)} must have ids 0-3"
        elif any(c not in self.vocabulary for c in BYTE_TO_UNICODE.values()):
            problem = "a byte symbol is missing"
        else:
            for a, b in self.merges:
                if a not in self.vocabulary or b not in self.vocabulary or (
                        a + b) not in self.vocabulary:
                    problem = f"merge '{a} {b}' names a token not in the vocabulary"
                    break
        if problem:
            raise ValueError(problem)
        self.ranks = {m: r for r, m in enumerate(self.merges)}
        self.pad_id, self.bos_id, self.eos_id, self.sep_id = range(4)
        self._cache = {}

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def _bpe(self, piece: str) -> list:
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        symbols, ranks = _symbols(piece), self.ranks
        while len(symbols) > 1:
            best, at = None, -1
            for k in range(len(symbols) - 1):
                r = ranks.get((symbols[k], symbols[k + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, k
            if best is None:
                break
            symbols[at:at + 2] = [symbols[at] + symbols[at + 1]]
        ids = [self.vocabulary[s] for s in symbols]
        if len(self._cache) < 100_000:
            self._cache[piece] = ids
        return ids

    def encode(self, text: str) -> list:
        """The token ids of `text` (no special tokens: a text that spells one is plain text)."""
        ids = []
        for piece in pretokenize(text):
            ids.extend(self._bpe(piece))
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes token `token_id` stands for; b"" for the special tokens."""
        if token_id < len(SPECIAL_TOKENS):
            return b""
        return bytes(UNICODE_TO_BYTE[c] for c in self.id_to_token[token_id])

    def vocab_bytes(self) -> list:
        """`token_bytes` of every id, in id order (what the grammar masks over)."""
        return [self.token_bytes(i) for i in range(self.vocabulary_size)]

    def decode_bytes(self, ids) -> bytes:
        """The bytes of `ids`, special tokens skipped (may end inside a UTF-8 character)."""
        return b"".join(self.token_bytes(int(i)) for i in ids)

    def decode(self, ids) -> str:
        """The text of `ids`, special tokens skipped; an incomplete or invalid UTF-8 sequence
        (only a model can produce one) becomes U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def encode_example(self, command: str, action: str | None = None) -> list:
        """`bos command sep` (the prompt), followed by `action eos` when an action is given."""
        ids = [self.bos_id, *self.encode(command), self.sep_id]
        if action is not None:
            ids += [*self.encode(action), self.eos_id]
        return ids

    def save(self, folder: str) -> None:
        """Writes `vocabulary.json` and `merges.txt` into `folder` (each temp file, fsync,
        rename), in keras-hub's format; the phone reads the same two files."""
        os.makedirs(folder, exist_ok=True)
        vocab = json.dumps(self.vocabulary, ensure_ascii=False, indent=0)
        contract.write_bytes_atomic((vocab + "\n").encode("utf-8"),
                                    os.path.join(folder, VOCAB_FILENAME))
        merges = "".join(f"{a} {b}\n" for a, b in self.merges)
        contract.write_bytes_atomic(merges.encode("utf-8"), os.path.join(folder, MERGES_FILENAME))

    @classmethod
    def load(cls, folder: str) -> "BPETokenizer":
        """The tokenizer `save` wrote into `folder`; UserError naming the file if missing or
        not such a file."""
        vocab_path = os.path.join(folder, VOCAB_FILENAME)
        merges_path = os.path.join(folder, MERGES_FILENAME)
        try:
            with open(vocab_path, encoding="utf-8") as f:
                vocabulary = json.load(f)
            with open(merges_path, encoding="utf-8") as f:
                merges = [tuple(line.rstrip("\n").split(" ")) for line in f if line.strip()]
        except FileNotFoundError as e:
            raise UserError(f"{e.filename}: not found; train the tokenizer first") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"{vocab_path}: unreadable ({e}); retrain or restore it") from None
        try:
            if not isinstance(vocabulary, dict) or any(len(m) != 2 for m in merges):
                raise ValueError("not a vocabulary object and a list of 'left right' merges")
            return cls(vocabulary, merges)
        except (ValueError, TypeError) as e:
            raise UserError(f"{vocab_path}: not a tokenizer this module wrote ({e}); retrain "
                            "or restore it") from None


def train(texts, vocab_size: int = 3000, min_frequency: int = 2, max_texts: int | None = None,
          seed: int = 0) -> BPETokenizer:
    """Learns merges on `texts` until `vocab_size` tokens (specials and bytes included) or no
    pair is seen `min_frequency` times. Deterministic: the result depends only on the multiset
    of texts; `seed` chooses the `max_texts` texts used when there are more."""
    texts = list(texts)
    base = len(SPECIAL_TOKENS) + 256
    if vocab_size < base:
        raise ValueError(f"vocab_size must be at least {base} (specials and the 256 bytes)")
    if max_texts is not None and len(texts) > max_texts:
        texts = random.Random(seed).sample(sorted(texts), max_texts)
    counts = {}
    for text in texts:
        for piece in pretokenize(text):
            counts[piece] = counts.get(piece, 0) + 1
    words = [_symbols(p) for p in sorted(counts)]  # sorted: ids of words do not depend on order
    freq = [counts[p] for p in sorted(counts)]
    pair_count, where = {}, {}
    for w, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pair_count[pair] = pair_count.get(pair, 0) + freq[w]
            where.setdefault(pair, set()).add(w)

    raw = {}  # symbol -> its bytes, for the tie order

    def key(pair):  # heap order: most frequent first, then by the pair's bytes
        for symbol in pair:
            if symbol not in raw:
                raw[symbol] = bytes(UNICODE_TO_BYTE[c] for c in symbol)
        return (-pair_count[pair], raw[pair[0]], raw[pair[1]], pair)

    heap = [key(p) for p in pair_count]
    heapq.heapify(heap)
    vocabulary = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    for b in range(256):
        vocabulary[BYTE_TO_UNICODE[b]] = len(vocabulary)
    merges = []
    while len(vocabulary) < vocab_size and heap:
        neg, _, _, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg:
            continue  # stale heap entry
        if -neg < min_frequency:
            break
        merged, touched = pair[0] + pair[1], set()
        merges.append(pair)
        vocabulary[merged] = len(vocabulary)
        for w in sorted(where.pop(pair, ())):
            symbols, f = words[w], freq[w]
            for p in zip(symbols, symbols[1:]):
                pair_count[p] -= f
                touched.add(p)
            out, k = [], 0
            while k < len(symbols):
                if k + 1 < len(symbols) and (symbols[k], symbols[k + 1]) == pair:
                    out.append(merged)
                    k += 2
                else:
                    out.append(symbols[k])
                    k += 1
            words[w] = out
            for p in zip(out, out[1:]):
                pair_count[p] = pair_count.get(p, 0) + f
                where.setdefault(p, set()).add(w)
                touched.add(p)
        pair_count.pop(pair, None)
        for p in touched:
            if p != pair and pair_count.get(p, 0) > 0:
                heapq.heappush(heap, key(p))
    return BPETokenizer(vocabulary, merges)


def load(folder: str):
    """The tokenizer saved in `folder`: a pretrained model's ChatML tokenizer when the folder
    holds `chat_tokenizer.CONFIG_FILENAME`, else the BPE this module trains."""
    from pipeline.tasks.action import chat_tokenizer

    config_path = os.path.join(folder, chat_tokenizer.CONFIG_FILENAME)
    if not os.path.exists(config_path):
        return BPETokenizer.load(folder)
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{config_path}: unreadable ({e})") from None
    if not isinstance(config, dict) or config.get("format") != chat_tokenizer.FORMAT:
        raise UserError(f"{config_path}: not a tokenizer config this project wrote")
    return chat_tokenizer.ChatBPETokenizer.load(folder, config)
