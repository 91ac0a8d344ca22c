"""The text classifier's part of the app support: its golden.json section and bundle files.

This is the task's `app` module: `Task.golden` and `Task.bundle_files` call `golden` and
`bundle_files` here; `export.app.golden` writes the file. The "classifier" section:

    {"model_file": "fp32.tflite", "model_sha256": ..., "vocabulary_file": "vocab.txt",
     "vocabulary_sha256": ..., "sequence_length": L, "labels": [...], "tokenizer": {...},
     "cases": [{"kind": "eval" | "hard", "text": ...,
                "token_ids": [L ints], "padding_mask": [L ints],   # export/runtime/wordpiece.py
                "probabilities": [C floats],      # the fp32 .tflite on the interpreter runner
                "top1_index": i, "top1": label}]   # argmax, ties to the lower index

Texts: up to `eval_examples` texts of the evaluation split (a seeded sample) and generated hard
cases (Chinese, accents, emoji, punctuation runs, whitespace and control characters, empty,
NUL, over-long words and texts, text that looks like special tokens).
"""

from __future__ import annotations

import json
import os
import random
import unicodedata

import numpy as np

from export import contract
from export.app import golden as app_golden
from export.contract import LABELS_FILE, VOCAB_FILE, UserError
from export.runtime import classifier, wordpiece

SECTION = "classifier"
TOKENIZER_DEFAULTS = (("lowercase", True), ("strip_accents", True), ("split_on_cjk", True),
                      ("max_word_bytes", 100), ("suffix_indicator", "##"))

# ---------------------------------------------------------------------------------------------
# Hard cases
# ---------------------------------------------------------------------------------------------
FIXED_HARD_CASES = [
    "", " ", "   \t\n  ", "\r\n", "\u3000", "\u00a0", "\u200b", "\x00", "hello\x00world",
    "\x00leading nul", "Crème brûlée", "CRÈME BRÛLÉE!!!??", "naïve café, résumé; façade.",
    "Ça va? Où est la gare?", "Tiếng Việt có dấu", "Ångström Øresund Æsir Łódź",
    "我们今天天气很好。", "明天早上七点叫我起床", "给妈妈打电话，告诉她我晚点到！",
    "导航到最近的加油站", "播放周杰伦的歌", "北京天气怎么样？", "提醒我下午三点开会",
    "ｈｅｌｌｏ　ｗｏｒｌｄ！！", "ＳＥＴ ＡＮ ＡＬＡＲＭ", "１２３４５ 六七八",
    "hello\u3000world", "hello\u00a0world", "hello\u200bworld", "hello\u200dworld",
    "straße STRASSE ẞ", "İstanbul ıi", "ΟΔΟΣ σοφός ΣΟΦΟΣ",
    "😀😂👍🏽 🇨🇳 👨‍👩‍👧 ❤️", "set an alarm ⏰ for 7am 😴", "call mom 📞📞📞",
    "!!!??...——", "?!?!?!?!", "....", "$$$ +++ <<< === >>> ^^^ ``` ||| ~~~",
    "«quoted» „German“ 『Japanese』 【brackets】", "wait... what?!", "- - - - -",
    "a" * 99, "a" * 100, "a" * 101, "д" * 50, "д" * 51, "мир" * 16, "мир" * 17,
    "é" * 60, "ab" * 200, "x " * 300, "wake me up " * 40, "我" * 200,
    "[CLS] [SEP] [PAD] [UNK] [MASK]", "##ing ## #", "㈱ ① ² ½ ™ ℃ ﬁ",
    "\x01\x02\x1b[31mred\x1b[0m\x7f", "line1\nline2\tcol\rend\f\v",
    "e\u0301 e\u034f\u0301 \u0345\u0301", "\u3164 a\u3164b \uffa0",
    "한국어 안녕하세요", "ภาษาไทย العربية हिन्दी", "Привет, как дела?",
    "𠀀𠀁 𪜀 𫝀 𫠠 丽", "U+1F600 is 😀; U+10FFFF is \U0010ffff", "\ue000 private use",
]

_WORD_POOL = ["set", "alarm", "timer", "weather", "play", "music", "call", "send", "message",
              "navigate", "news", "translate", "remind", "me", "tomorrow", "minutes", "Paris",
              "Zürich", "São", "Paulo", "Öl", "naïve", "闹钟", "天气", "音乐", "打电话", "导航",
              "新闻", "翻译", "提醒", "分钟", "😀", "👍🏽", "🎵", "!!", "?", "...", "，", "。",
              "（括号）", "«»", "\u00a0", "\u200b", "\t", "ÀÉÎÕÜ", "ǅ", "ﬀ", "Ⅻ", "12:30",
              "3.5km", "e-mail", "don't", "O'Brien", "#hashtag", "@user", "50%"]


def hard_cases(count: int = 150, seed: int = 0, eval_texts=()) -> list:
    """FIXED_HARD_CASES, then seeded mixtures of pool words and perturbed evaluation texts."""
    rng = random.Random(seed)
    cases = list(FIXED_HARD_CASES)
    eval_texts = [t for t in eval_texts if t]
    while len(cases) < count:
        r = rng.random()
        if r < 0.4 or not eval_texts:
            words = [rng.choice(_WORD_POOL) for _ in range(rng.randint(1, 12))]
            cases.append("".join(w + rng.choice([" ", " ", " ", "", "\u3000"]) for w in words))
        else:
            text = rng.choice(eval_texts)
            how = rng.randrange(5)
            if how == 0:
                text = text.upper()
            elif how == 1:
                text = unicodedata.normalize("NFD", text) + " " + rng.choice(_WORD_POOL)
            elif how == 2:
                text = (text + " ") * rng.randint(3, 8)  # over-long
            elif how == 3:
                i = rng.randint(0, len(text))
                text = text[:i] + rng.choice(["😀", "！", "\u200b", "...", "é"]) + text[i:]
            else:
                text = "".join(c + rng.choice(["", "", "", " "]) for c in text)
            cases.append(text)
    return cases


# ---------------------------------------------------------------------------------------------
# The section
# ---------------------------------------------------------------------------------------------
def load_eval_texts(export_dir: str) -> list:
    """The evaluation texts of the workdir the export folder belongs to (its config.json)."""
    workdir = os.path.dirname(os.path.abspath(export_dir))
    config_path = os.path.join(workdir, "config.json")
    if not os.path.isfile(config_path):
        raise UserError(f"{config_path}: not found; golden.json takes its real texts from the "
                        "workdir the export folder belongs to (pass eval_texts from Python)")
    import ml_collections

    from pipeline.data import load_text_dataset
    try:
        with open(config_path, encoding="utf-8") as f:
            config = ml_collections.ConfigDict(json.load(f))
    except (OSError, ValueError) as e:
        raise UserError(f"{config_path}: unreadable ({e})") from None
    return list(load_text_dataset(config.data, config.seed).test.texts)


def _tokenizer(vocab_path: str, spec: dict) -> wordpiece.WordPieceTokenizer:
    if not os.path.isfile(vocab_path):
        raise UserError(f"{vocab_path}: not found (the manifest names it as the vocabulary)")
    try:
        return wordpiece.WordPieceTokenizer.from_file(
            vocab_path, lowercase=spec.get("lowercase", True),
            strip_accents=spec.get("strip_accents", True),
            split_on_cjk=spec.get("split_on_cjk", True),
            max_chars_per_word=spec.get("max_word_bytes", 100))
    except ValueError as e:
        raise UserError(f"{vocab_path}: {e}") from None


def classifier_section(export_dir: str, manifest: contract.Manifest, eval_texts,
                       eval_examples: int = 200, hard_examples: int = 150, seed: int = 0) -> dict:
    """Token ids, padding masks, fp32 probabilities and top-1 of eval texts and hard cases."""
    spec = manifest.get("tokenizer", {})
    vocab_name = spec.get("vocabulary_file", VOCAB_FILE)
    vocab_path = os.path.join(export_dir, vocab_name)
    tokenizer = _tokenizer(vocab_path, spec)
    length = manifest.sequence_length
    labels = list(manifest.get("labels", []))
    model_name, runner = app_golden.fp32_model(export_dir, manifest)

    eval_texts = list(eval_texts)
    rng = np.random.RandomState(seed)
    chosen = sorted(rng.choice(len(eval_texts), size=min(eval_examples, len(eval_texts)),
                               replace=False).tolist()) if eval_texts else []
    texts = [("eval", eval_texts[i]) for i in chosen]
    texts += [("hard", t) for t in hard_cases(hard_examples, seed, [eval_texts[i] for i in chosen])]

    cases = []
    for kind, text in texts:
        inputs = classifier.encode(tokenizer, text, length)
        probabilities = runner.run(inputs)[0]
        top1 = int(np.argmax(probabilities))  # first maximum: ties to the lower index
        cases.append({"kind": kind, "text": text, "token_ids": inputs["token_ids"][0].tolist(),
                      "padding_mask": inputs["padding_mask"][0].tolist(),
                      "probabilities": [float(p) for p in probabilities],
                      "top1_index": top1, "top1": labels[top1]})
    return {
        "model_file": model_name,
        "model_sha256": manifest.files[model_name].sha256,
        "vocabulary_file": vocab_name,
        "vocabulary_sha256": contract.sha256_file(vocab_path),
        "sequence_length": length,
        "labels": labels,
        "tokenizer": {k: spec.get(k, d) for k, d in TOKENIZER_DEFAULTS},
        "cases": cases,
    }


def golden(export_dir: str, manifest: contract.Manifest, seed: int, eval_texts=None) -> dict:
    """`Task.golden`: {"classifier": classifier_section}, on the workdir's evaluation texts
    unless `eval_texts` are given."""
    if eval_texts is None:
        eval_texts = load_eval_texts(export_dir)
    return {SECTION: classifier_section(export_dir, manifest, eval_texts, seed=seed)}


def bundle_files(manifest: contract.Manifest) -> list:
    """`Task.bundle_files`: the vocabulary (with its sha256) and the labels."""
    spec = manifest.get("tokenizer", {})
    return [(spec.get("vocabulary_file", VOCAB_FILE), spec.get("vocabulary_sha256")),
            (manifest.get("labels_file", LABELS_FILE), None)]
