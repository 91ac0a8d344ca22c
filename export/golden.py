"""Golden vectors for app ports: `golden.json` in an export folder, what a phone must reproduce.

    python -m export.golden runs/intents/export          # writes runs/intents/export/golden.json
    python -m export.golden --rules_to=/tmp/rules.json   # model-free recommendation rules only

    from export import golden
    golden.write_golden("runs/intents/export", eval_texts=dataset.test.texts)

A Java (Kotlin, Swift, ...) port of the preprocessing and post-processing proves itself by
giving exactly these values; android_demo/core's JUnit tests read the file and assert exact
equality for every case. Layout (format_version 1):

    {
      "format_version": 1, "generated_by": "export/golden.py", "unicode_version": "14.0.0",
      "classifier": {                                   # when the export is a text classifier
        "model_file": "fp32.tflite", "model_sha256": ..., "vocabulary_file": "vocab.txt",
        "vocabulary_sha256": ..., "sequence_length": L, "labels": [...], "tokenizer": {...},
        "cases": [{"kind": "eval" | "hard", "text": ...,
                   "token_ids": [L ints], "padding_mask": [L ints],   # export/wordpiece.py
                   "probabilities": [C floats],      # the fp32 .tflite on ai_edge_litert
                   "top1_index": i, "top1": label}]   # argmax, ties to the lower index
      },
      "recommendations": {...}                          # only for a recommender export
    }

Texts: up to `eval_examples` texts of the evaluation split (a seeded sample) and generated hard
cases (Chinese, accents, emoji, punctuation runs, whitespace and control characters, empty,
NUL, over-long words and texts, text that looks like special tokens). The recommendations
section and its rules are described in `recommendation_section`.
"""

from __future__ import annotations

import base64
import json
import os
import random
import unicodedata

import numpy as np

from export import manifest as manifest_lib
from export import wordpiece
from pipeline.errors import UserError

GOLDEN_NAME = "golden.json"
FORMAT_VERSION = 1
TEXT_INPUTS = ("token_ids", "padding_mask", "segment_ids")
PAD, OOV = 0, 1  # recommender vocabulary ids (pipeline/data/movielens.py)
TOP_K = 10

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
# Running the fp32 model
# ---------------------------------------------------------------------------------------------
def _interpreter(path: str):
    from ai_edge_litert.interpreter import Interpreter
    try:
        interpreter = Interpreter(model_path=path)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise UserError(f"{path}: cannot load the model ({' '.join(str(e).split())[:200]})") from None
    return interpreter


def _input_index(interpreter, name: str) -> int:
    for d in interpreter.get_input_details():
        if d["name"] == name or d["name"].split(":")[0].endswith("_" + name):
            return d["index"]
    raise UserError(f"the model has no input {name!r}")


def _run(interpreter, feeds: dict) -> np.ndarray:
    for index, value in feeds.items():
        interpreter.set_tensor(index, value)
    interpreter.invoke()
    out = interpreter.get_output_details()[0]
    return np.array(interpreter.get_tensor(out["index"])[0], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------
def _pick_model_file(export_dir: str, manifest: dict) -> str:
    files = manifest.get("files", {})
    for name in ("fp32.tflite", *sorted(files)):
        if name in files and files[name].get("variant", "fp32") == "fp32":
            path = os.path.join(export_dir, name)
            if not os.path.isfile(path):
                raise UserError(f"{path}: listed in manifest.json but missing; re-export")
            if manifest_lib.sha256_file(path) != files[name].get("sha256"):
                raise UserError(f"{path}: sha256 differs from manifest.json; re-export")
            return name
    raise UserError(f"{manifest_lib.manifest_path(export_dir)}: no fp32 .tflite listed; "
                    "export with --variants=fp32 (golden vectors come from the float model)")


def classifier_section(export_dir: str, manifest: dict, eval_texts, eval_examples: int = 200,
                       hard_examples: int = 150, seed: int = 0) -> dict:
    """Token ids, padding masks, fp32 probabilities and top-1 of eval texts and hard cases."""
    tok_spec = manifest.get("tokenizer", {})
    vocab_name = tok_spec.get("vocabulary_file", "vocab.txt")
    vocab_path = os.path.join(export_dir, vocab_name)
    if not os.path.isfile(vocab_path):
        raise UserError(f"{vocab_path}: not found (the manifest names it as the vocabulary)")
    try:
        tokenizer = wordpiece.WordPieceTokenizer.from_file(
            vocab_path, lowercase=tok_spec.get("lowercase", True),
            strip_accents=tok_spec.get("strip_accents", True),
            split_on_cjk=tok_spec.get("split_on_cjk", True),
            max_chars_per_word=tok_spec.get("max_word_bytes", 100))
    except ValueError as e:
        raise UserError(f"{vocab_path}: {e}") from None
    length = int(manifest["sequence_length"])
    labels = list(manifest["labels"])
    model_name = _pick_model_file(export_dir, manifest)
    model_path = os.path.join(export_dir, model_name)
    interpreter = _interpreter(model_path)
    index = {name: _input_index(interpreter, name) for name in TEXT_INPUTS}

    eval_texts = list(eval_texts)
    rng = np.random.RandomState(seed)
    chosen = sorted(rng.choice(len(eval_texts), size=min(eval_examples, len(eval_texts)),
                               replace=False).tolist()) if eval_texts else []
    texts = [("eval", eval_texts[i]) for i in chosen]
    texts += [("hard", t) for t in hard_cases(hard_examples, seed, [eval_texts[i] for i in chosen])]

    cases = []
    for kind, text in texts:
        ids, mask, segments = tokenizer.encode(text, length)
        probabilities = _run(interpreter, {
            index["token_ids"]: np.array([ids], np.int32),
            index["padding_mask"]: np.array([mask], np.int32),
            index["segment_ids"]: np.array([segments], np.int32)})
        top1 = int(np.argmax(probabilities))  # first maximum: ties to the lower index
        cases.append({"kind": kind, "text": text, "token_ids": ids, "padding_mask": mask,
                      "probabilities": [float(p) for p in probabilities],
                      "top1_index": top1, "top1": labels[top1]})
    return {
        "model_file": model_name,
        "model_sha256": manifest["files"][model_name]["sha256"],
        "vocabulary_file": vocab_name,
        "vocabulary_sha256": manifest_lib.sha256_file(vocab_path),
        "sequence_length": length,
        "labels": labels,
        "tokenizer": {k: tok_spec.get(k, d) for k, d in (
            ("lowercase", True), ("strip_accents", True), ("split_on_cjk", True),
            ("max_word_bytes", 100), ("suffix_indicator", "##"))},
        "cases": cases,
    }


# -- recommendations --------------------------------------------------------------------------
def recommendation_input(history_indices, history_length: int) -> list:
    """The model input of a history (vocabulary ids, oldest first): its last `history_length`
    ids, newest last, left-padded with PAD (0), as pipeline/models/sequential_recommender.py's
    `left_pad` feeds the model in training and evaluation."""
    tail = list(history_indices)[-history_length:] if history_length else []
    return [PAD] * (history_length - len(tail)) + [int(i) for i in tail]


def recommend(scores, exclude_indices, k: int = TOP_K) -> list:
    """Top-k vocabulary ids by score, excluding PAD, OOV and `exclude_indices` (the whole
    history). Exact ties go to the lower index (= lower movieId; numpy's stable argsort); NaN
    scores rank last. Excluded ids are never returned, so fewer than k may come back."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    excluded = np.zeros(len(scores), bool)
    excluded[[PAD, OOV]] = True
    excluded[[i for i in exclude_indices if 0 <= i < len(scores)]] = True
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if not excluded[i]][:k]


def read_items(path: str) -> list:
    """Rows of an items file `index,movieId,title,genres` (pipeline/data/movielens.py)."""
    import csv
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        items = [(int(r["index"]), int(r["movieId"]) if r["movieId"] else -1, r["title"],
                  r["genres"]) for r in rows]
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise UserError(f"{path}: not an items file index,movieId,title,genres ({e})") from None
    if [i for i, *_ in items] != list(range(len(items))):
        raise UserError(f"{path}: the index column must be 0, 1, 2, ... in order")
    return items


def sample_histories(movie_ids, count: int, history_length: int, seed: int) -> list:
    """Seeded liked-movie lists (movieIds, oldest first): empty, 1 item, shorter than, exactly
    and longer than `history_length`, with repeats and with ids outside the catalogue."""
    rng = random.Random(seed)
    movie_ids = list(movie_ids)
    unknown = max(movie_ids) + 1  # not in the catalogue: maps to OOV
    lengths = [0, 1, 2, history_length - 1, history_length, history_length + 1,
               3 * history_length]
    histories = []
    for n in range(count):
        size = lengths[n] if n < len(lengths) else rng.randint(1, 2 * history_length)
        liked = [rng.choice(movie_ids) for _ in range(max(size, 0))]
        if n % 7 == 3 and liked:
            liked[rng.randrange(len(liked))] = unknown
        if n % 11 == 5 and len(liked) > 2:
            liked.append(liked[0])  # liked again later
        histories.append(liked)
    return histories


def recommendation_section(export_dir: str, manifest: dict, count: int = 300, seed: int = 0,
                           full_scores: int = 10) -> dict:
    """Liked-movie histories with their model input, the fp32 scores' top-10 and, for the first
    `full_scores` cases, every score (float32 little-endian, base64) so post-processing can be
    checked without a runtime.

    Rules (the app's): liked movieIds -> vocabulary ids through the items file (an id outside
    the catalogue -> OOV 1); input = recommendation_input (last H, newest last, left-padded with
    0); output = recommend(scores, every liked id, k=10), shown as movieIds.
    """
    items_name = manifest.get("items_file", "items.csv")
    items = read_items(os.path.join(export_dir, items_name))
    index_of = {movie: i for i, movie, *_ in items if movie >= 0}
    model_name = _pick_model_file(export_dir, manifest)
    interpreter = _interpreter(os.path.join(export_dir, model_name))
    inputs = interpreter.get_input_details()
    if len(inputs) != 1 or len(inputs[0]["shape"]) != 2:
        raise UserError(f"{model_name}: expected one [1, H] input, got "
                        f"{[(d['name'], list(d['shape'])) for d in inputs]}")
    history_length = int(inputs[0]["shape"][1])
    cases = []
    for n, liked in enumerate(sample_histories(sorted(index_of), count, history_length, seed)):
        indices = [index_of.get(m, OOV) for m in liked]
        model_input = recommendation_input(indices, history_length)
        scores = _run(interpreter, {inputs[0]["index"]: np.array([model_input], np.int32)})
        top = recommend(scores, indices)
        case = {"liked_movie_ids": liked, "input_ids": model_input, "top10_indices": top,
                "top10_movie_ids": [items[i][1] for i in top],
                "top10_scores": [float(scores[i]) for i in top]}
        if n < full_scores:
            case["scores_f32le_base64"] = base64.b64encode(
                scores.astype("<f4").tobytes()).decode("ascii")
        cases.append(case)
    return {"model_file": model_name, "model_sha256": manifest["files"][model_name]["sha256"],
            "items_file": items_name, "history_length": history_length, "pad_id": PAD,
            "oov_id": OOV, "k": TOP_K, "cases": cases}


def rules_section(count: int = 200, seed: int = 0) -> dict:
    """Recommendation rules on synthetic scores (no model): catalogues of 3 to 300 items, score
    vectors with many exact ties, histories as in `sample_histories`; same case layout as
    `recommendation_section` with full scores for every case. For ports' unit tests."""
    rng = np.random.RandomState(seed)
    cases = []
    for n in range(count):
        size = int(rng.randint(3, 300))
        movie_ids = sorted(rng.choice(200000, size=size - 2, replace=False).tolist())
        items = [(0, -1), (1, -1)] + [(i + 2, m) for i, m in enumerate(movie_ids)]
        index_of = {m: i for i, m in items if m >= 0}
        history_length = int(rng.choice([1, 3, 8, 50]))
        liked = sample_histories(movie_ids, n + 1, history_length, seed + n)[n]
        indices = [index_of.get(m, OOV) for m in liked]
        levels = int(rng.choice([2, 5, 1000]))
        scores = (rng.randint(0, levels, size=size) / levels).astype(np.float32)
        if n % 5 == 0:
            scores[rng.randint(0, size)] = np.nan
        top = recommend(scores, indices)
        cases.append({"catalogue_movie_ids": movie_ids, "history_length": history_length,
                      "liked_movie_ids": liked,
                      "input_ids": recommendation_input(indices, history_length),
                      "top10_indices": top, "top10_movie_ids": [items[i][1] for i in top],
                      "scores_f32le_base64": base64.b64encode(
                          scores.astype("<f4").tobytes()).decode("ascii")})
    return {"pad_id": PAD, "oov_id": OOV, "k": TOP_K, "cases": cases}


# ---------------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------------
RECOMMENDER_TASKS = ("next_item",)  # configs/movielens.py; any task naming "recommend" too


def is_recommender(manifest: dict) -> bool:
    """A recommender export: its task says so, or it names an items file."""
    task = str(manifest.get("task", ""))
    return task in RECOMMENDER_TASKS or "recommend" in task or "items_file" in manifest


def _load_eval_texts(export_dir: str) -> list:
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


def build_golden(export_dir: str, eval_texts=None, seed: int = 0) -> dict:
    """The golden.json content of an export folder (see the module docstring)."""
    try:
        manifest = manifest_lib.read_manifest(export_dir)
    except ValueError as e:
        raise UserError(str(e)) from None
    if not manifest.get("files"):
        raise UserError(f"{manifest_lib.manifest_path(export_dir)}: missing or lists no model "
                        "file; export first with python -m export.convert")
    golden = {"format_version": FORMAT_VERSION, "generated_by": "export/golden.py",
              "unicode_version": unicodedata.unidata_version, "seed": seed}
    if is_recommender(manifest):
        golden["recommendations"] = recommendation_section(export_dir, manifest, seed=seed)
    else:
        if eval_texts is None:
            eval_texts = _load_eval_texts(export_dir)
        golden["classifier"] = classifier_section(export_dir, manifest, eval_texts, seed=seed)
    return golden


def write_golden(export_dir: str, eval_texts=None, seed: int = 0) -> str:
    """Writes `<export_dir>/golden.json` atomically; returns its path."""
    golden = build_golden(export_dir, eval_texts, seed)
    path = os.path.join(export_dir, GOLDEN_NAME)
    write_compact_json_atomic(golden, path)
    return path


def write_compact_json_atomic(obj, path: str) -> None:
    """JSON without indentation (a few hundred cases stay small enough for app assets),
    written to a temporary file in the same folder and renamed."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_rules_golden(path: str, seed: int = 0) -> str:
    """A golden file with only the model-free "recommendation_rules" section (for unit tests
    of a port's recommendation input building and post-processing)."""
    write_compact_json_atomic({"format_version": FORMAT_VERSION, "generated_by": "export/golden.py",
                               "seed": seed, "recommendation_rules": rules_section(seed=seed)},
                              path)
    return path


def main(argv):
    from absl import flags
    if flags.FLAGS.rules_to:
        if len(argv) != 1:
            raise UserError("--rules_to writes the model-free rules file; give no export folder")
        path = write_rules_golden(flags.FLAGS.rules_to, seed=flags.FLAGS.seed)
        print(f"wrote {path}: recommendation rules on synthetic scores")
        return
    if len(argv) != 2:
        raise UserError("usage: python -m export.golden <export dir> (a folder written by "
                        "python -m export.convert)")
    export_dir = argv[1]
    if not os.path.isdir(export_dir):
        raise UserError(f"{export_dir}: no such export folder")
    path = write_golden(export_dir, seed=flags.FLAGS.seed)
    with open(path, encoding="utf-8") as f:
        golden = json.load(f)
    for section in ("classifier", "recommendations"):
        if section in golden:
            print(f"wrote {path}: {len(golden[section]['cases'])} {section} cases")


if __name__ == "__main__":
    from absl import flags as _flags
    from pipeline import cli
    _flags.DEFINE_integer("seed", 0, "Seeds the choice of evaluation texts and hard cases.")
    _flags.DEFINE_string("rules_to", None, "Instead: write the model-free recommendation rules "
                         "golden file (synthetic scores with ties) to this path.")
    cli.run(main)
