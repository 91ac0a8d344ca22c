"""A pretrained model's own byte-level BPE (GPT-2 style, e.g. SmolLM2's) with a ChatML prompt:
the action task's tokenizer for a pretrained causal LM. TF-free; same interface as
`tokenizer.BPETokenizer` (encode, decode, encode_example, token_bytes, vocab_bytes, the
special ids, save/load), so training, evaluation, the grammar and the runtime take either.

The algorithm (what a port must do):
1. Pre-tokenisation (`pre="smollm"`, llama.cpp's name; HF: Digits(individual) then
   ByteLevel): the text is first cut so that every `\\p{N}` character stands alone, then each
   other part is split with GPT-2's pattern
   `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`.
2. Bytes to GPT-2's printable symbols and merges by rank, as in `tokenizer.py` rules 2-3.
3. Ids from the model's own vocabulary; tokens that are not byte symbols (`<|im_start|>`...)
   are special: `encode` never produces them (a text that spells one is plain text).

The prompt (`encode_example`), ChatML as SmolLM2-Instruct was trained on:
`<|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n{command}<|im_end|>\\n
<|im_start|>assistant\\n`, then `action <|im_end|>` (eos is `<|im_end|>`).

Files: `vocabulary.json` and `merges.txt` (keras-hub's format, as `tokenizer.py` writes) and
`tokenizer_config.json` ({"format": "chatml", "pre", "system", "special_tokens"}), which is how
`tokenizer.load` tells the two kinds apart.
"""

import json
import os

import regex

from export import contract
from pipeline.errors import UserError
from pipeline.tasks.action.tokenizer import (
    BYTE_TO_UNICODE,
    MERGES_FILENAME,
    UNICODE_TO_BYTE,
    VOCAB_FILENAME,
)

CONFIG_FILENAME = "tokenizer_config.json"
FORMAT = "chatml"
IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
DEFAULT_SYSTEM = "Write the phone action for the user's command."
_DIGIT = regex.compile(r"\p{N}")
_GPT2 = regex.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"
                      r"|\s+(?!\S)|\s+")
PRETOKENIZERS = ("smollm",)


def pretokenize(text: str) -> list:
    """Rule 1: the pieces BPE merges within, in order; they join to `text`."""
    pieces, at = [], 0
    for m in _DIGIT.finditer(text):
        pieces.extend(_GPT2.findall(text[at:m.start()]))
        pieces.append(m.group())
        at = m.end()
    pieces.extend(_GPT2.findall(text[at:]))
    return pieces


class ChatBPETokenizer:
    """A pretrained vocabulary and merges, and the ChatML prompt around a command."""

    def __init__(self, vocabulary: dict, merges: list, special_tokens, system: str = DEFAULT_SYSTEM,
                 pre: str = "smollm"):
        """`special_tokens`: the control tokens (GGUF token type 3), never produced by
        `encode` and decoded to nothing. ValueError if the vocabulary lacks a ChatML token or a
        special token, a merge names a missing token, or `pre` is unknown."""
        self.vocabulary = dict(vocabulary)
        self.merges = [tuple(m) for m in merges]
        self.system, self.pre = system, pre
        self.id_to_token = {i: t for t, i in self.vocabulary.items()}
        if pre not in PRETOKENIZERS:
            raise ValueError(f"pre-tokeniser {pre!r} unknown (known: {', '.join(PRETOKENIZERS)})")
        if sorted(self.id_to_token) != list(range(len(self.vocabulary))):
            raise ValueError("ids are not 0..size-1, each once")
        self.special_tokens = sorted(set(special_tokens) | {IM_START, IM_END},
                                     key=lambda t: self.vocabulary.get(t, -1))
        missing = [t for t in self.special_tokens if t not in self.vocabulary]
        if missing:
            raise ValueError(f"the vocabulary has no {missing[0]!r}")
        # SmolLM2's lacks 21 byte symbols: bytes no UTF-8 text holds (C0, C1, F5..FF) and six
        # control characters; a text with one of those cannot be encoded (`encode` says so).
        for a, b in self.merges:
            if a not in self.vocabulary or b not in self.vocabulary or a + b not in self.vocabulary:
                raise ValueError(f"merge '{a} {b}' names a token not in the vocabulary")
        self.ranks = {m: r for r, m in enumerate(self.merges)}
        self.special = frozenset(self.vocabulary[t] for t in self.special_tokens)
        self.bos_id, self.eos_id = self.vocabulary[IM_START], self.vocabulary[IM_END]
        self.pad_id = self.vocabulary.get(END_OF_TEXT, 0)  # never in an example
        self.sep_id = self.bos_id  # the assistant turn opens with <|im_start|>
        self._cache = {}
        self._head = [self.bos_id, *self.encode(f"system\n{system}"), self.eos_id,
                      *self.encode("\n"), self.bos_id, *self.encode("user\n")]
        self._tail = [self.eos_id, *self.encode("\n"), self.bos_id, *self.encode("assistant\n")]

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def _bpe(self, piece: str) -> list:
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        symbols = [BYTE_TO_UNICODE[b] for b in piece.encode("utf-8")]
        ranks = self.ranks
        while len(symbols) > 1:
            best, at = None, -1
            for k in range(len(symbols) - 1):
                r = ranks.get((symbols[k], symbols[k + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, k
            if best is None:
                break
            symbols[at:at + 2] = [symbols[at] + symbols[at + 1]]
        try:
            ids = [self.vocabulary[s] for s in symbols]
        except KeyError as e:
            raise UserError(f"the text holds a byte the model's vocabulary has no token for "
                            f"(0x{UNICODE_TO_BYTE[e.args[0][0]]:02x}, in {piece!r})") from None
        if len(self._cache) < 100_000:
            self._cache[piece] = ids
        return ids

    def encode(self, text: str) -> list:
        """The token ids of `text` (plain text: no special tokens)."""
        ids = []
        for piece in pretokenize(text):
            ids.extend(self._bpe(piece))
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes token `token_id` stands for; b"" for the special tokens."""
        if token_id in self.special:
            return b""
        return bytes(UNICODE_TO_BYTE[c] for c in self.id_to_token[token_id])

    def vocab_bytes(self) -> list:
        return [self.token_bytes(i) for i in range(self.vocabulary_size)]

    def decode_bytes(self, ids) -> bytes:
        return b"".join(self.token_bytes(int(i)) for i in ids)

    def decode(self, ids) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def encode_example(self, command: str, action: str | None = None) -> list:
        """The ChatML prompt of `command`, then `action <|im_end|>` when an action is given."""
        ids = [*self._head, *self.encode(command), *self._tail]
        if action is not None:
            ids += [*self.encode(action), self.eos_id]
        return ids

    def save(self, folder: str) -> None:
        """vocabulary.json, merges.txt, tokenizer_config.json (each temp file, fsync, rename)."""
        os.makedirs(folder, exist_ok=True)
        vocab = json.dumps(self.vocabulary, ensure_ascii=False, indent=0)
        contract.write_bytes_atomic((vocab + "\n").encode("utf-8"),
                                    os.path.join(folder, VOCAB_FILENAME))
        merges = "".join(f"{a} {b}\n" for a, b in self.merges)
        contract.write_bytes_atomic(merges.encode("utf-8"), os.path.join(folder, MERGES_FILENAME))
        config = {"format": FORMAT, "pre": self.pre, "system": self.system,
                  "special_tokens": self.special_tokens}
        contract.write_bytes_atomic(json.dumps(config, ensure_ascii=False, indent=1).encode(),
                                    os.path.join(folder, CONFIG_FILENAME))

    @classmethod
    def load(cls, folder: str, config: dict) -> "ChatBPETokenizer":
        """The tokenizer in `folder`, whose tokenizer_config.json is `config`."""
        vocab_path = os.path.join(folder, VOCAB_FILENAME)
        try:
            with open(vocab_path, encoding="utf-8") as f:
                vocabulary = json.load(f)
            with open(os.path.join(folder, MERGES_FILENAME), encoding="utf-8") as f:
                merges = [tuple(line.rstrip("\n").split(" ")) for line in f if line.strip()]
            return cls(vocabulary, merges, config["special_tokens"], config["system"],
                       config["pre"])
        except FileNotFoundError as e:
            raise UserError(f"{e.filename}: not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError,
                KeyError) as e:
            raise UserError(f"{vocab_path}: not a tokenizer this module wrote ({e})") from None


def from_gguf_tokenizer(info: dict, system: str = DEFAULT_SYSTEM) -> ChatBPETokenizer:
    """The tokenizer that `llama_weights.read_gguf` read from a GGUF file; UserError if it is
    not a GPT-2-style BPE with a known pre-tokeniser."""
    if info.get("model") != "gpt2":
        raise UserError(f"the GGUF tokenizer is {info.get('model')!r}; only 'gpt2' (byte-level "
                        "BPE) is supported")
    pre = info.get("pre")
    if pre not in PRETOKENIZERS:
        raise UserError(f"the GGUF tokenizer's pre-tokeniser is {pre!r}; supported: "
                        f"{', '.join(PRETOKENIZERS)}")
    vocabulary = {t: i for i, t in enumerate(info["tokens"])}
    merges = [tuple(m.split(" ")) for m in info["merges"]]
    control = [t for t, kind in zip(info["tokens"], info["token_types"]) if kind == 3]
    try:
        return ChatBPETokenizer(vocabulary, merges, control, system, pre)
    except ValueError as e:
        raise UserError(f"the GGUF tokenizer: {e}") from None
