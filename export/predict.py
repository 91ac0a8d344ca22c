"""Run an exported `.tflite` classifier on texts with nothing but a TFLite runtime and numpy.

    python -m export.predict runs/intents/export/int8_full.tflite "wake me up at 7" "call mom"
    python -m export.predict model.tflite "some text" --top_k=1 --json
    python -m export.predict runs/movielens/export/fp32.tflite --liked 1,260,1196

Everything the file needs travels inside it: the vocabulary and the labels are the associated
files packed in its TFLite metadata (a zip archive appended to the flatbuffer, which is the
metadata convention, so `zipfile` reads them), the sequence length is the shape of its
`token_ids` input. Texts are tokenized by the pure-Python `export/wordpiece.py` (keras-hub's
exact ids) with the pipeline's rules (uncased BERT: lowercase, strip accents, split CJK): the
metadata's `BertTokenizerOptions` names only the vocabulary file, so there is no case or
accent option to read from the file. No TensorFlow, Keras or `pipeline` import: this runs in a venv holding only
`ai-edge-litert` and `numpy` (or `tflite-runtime` 2.14 with numpy<2, the fallback runtime).

From Python:

    from export.predict import Classifier
    classifier = Classifier("runs/intents/export/fp32.tflite")
    classifier.classify(["set a timer for ten minutes"], top_k=3)
    # [[("set_timer", 0.97), ("set_alarm", 0.01), ("reminder", 0.004)]]

Layout, so that other kinds of exported model fit beside the classifier: `PackedModel` opens a
file (runtime, interpreter, packed files, inputs by name); `Classifier` adds the tokenizer and
the labels; the command picks the mode (`MODES`) and prints. Bad input (missing file, not a
TFLite file, nothing packed, no text) is one `error:` line on stderr and exit code 2.

Recommenders (`--liked`, MovieLens movie ids oldest first): the model takes `item_ids` int32
[1, H], the last H liked movies as catalogue indices, newest last, left-padded with 0; it
returns a score per catalogue index. The catalogue is `items.csv` (index,movieId,title,genres;
0 = padding, 1 = out of catalogue) packed in the file or beside it (export.convert writes it
next to the model). Padding, the out-of-catalogue row and every liked movie are left out, and
the ten best are printed with their titles (exact score ties to the lower index, i.e. the
lower movieId, as protocol P ranks). A movie id that is not in the catalogue, or no id at
all, is one `error:` line and exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import zipfile
from collections.abc import Sequence

import numpy as np

from export import wordpiece

VOCABULARY_FILE = "vocab.txt"
LABELS_FILE = "labels.txt"
ITEMS_FILE = "items.csv"
TEXT_INPUTS = ("token_ids", "padding_mask", "segment_ids")
RECOMMENDER_INPUT = "item_ids"
PAD_INDEX, OOV_INDEX = 0, 1
# The pipeline's tokenizer (README "Tokenizer rules"): BERT uncased WordPiece. The TFLite
# metadata's BertTokenizerOptions carries only the vocabulary, so these are fixed here.
DEFAULT_TOKENIZER_OPTIONS = {"lowercase": True, "strip_accents": True, "split_on_cjk": True}
EXPORT_HINT = "export it with python -m export.convert"


class PredictError(ValueError):
    """Bad input to the command (a file, a text, a flag): printed as one line, exit code 2."""


# ---------------------------------------------------------------------------------------------
# Runtime and packed files
# ---------------------------------------------------------------------------------------------
def load_interpreter_class():
    """(Interpreter class, runtime name and version): ai_edge_litert, else tflite_runtime."""
    try:
        from ai_edge_litert import interpreter as module
        name = "ai-edge-litert"
    except ImportError:
        try:
            from tflite_runtime import interpreter as module
            name = "tflite-runtime"
        except ImportError:
            raise PredictError("no TFLite runtime found: pip install ai-edge-litert "
                               "(or tflite-runtime==2.14.* with numpy<2)") from None
    version = _distribution_version(name)
    return module.Interpreter, f"{name} {version}".strip()


def _distribution_version(name: str) -> str:
    try:
        from importlib import metadata
        return metadata.version(name)
    except Exception:  # noqa: BLE001  (a runtime installed without dist-info)
        return ""


def read_packed_files(path: str) -> dict[str, bytes]:
    """The associated files packed in a `.tflite` (name -> bytes); {} when none are packed."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {os.path.basename(name): archive.read(name) for name in archive.namelist()
                    if not name.endswith("/")}
    except zipfile.BadZipFile:
        with open(path, "rb") as f:
            data = f.read()
        if b"PK\x03\x04" in data and VOCABULARY_FILE.encode() in data:
            raise PredictError(f"{path}: its packed files are truncated or corrupt (the zip "
                               f"archive after the model is incomplete); {EXPORT_HINT}") from None
        return {}
    except (zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        raise PredictError(f"{path}: cannot read its packed files ({e}); {EXPORT_HINT}") from None


def _text_lines(data: bytes, name: str, path: str) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PredictError(f"{path}: packed {name} is not UTF-8 ({e})") from None
    return text.splitlines()


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------
class PackedModel:
    """A `.tflite` file opened for inference: interpreter, packed files, inputs by name.

        model = PackedModel("fp32.tflite", num_threads=2)
        model.input_shape("token_ids")     # (1, 32)
        model.run({"token_ids": ids, ...})  # the first output, dequantized, as float32
    """

    def __init__(self, path: str, num_threads: int | None = None):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise PredictError(f"{self.path}: no such file")
        with open(self.path, "rb") as f:
            head = f.read(8)
        if len(head) < 8 or head[4:8] != b"TFL3":
            raise PredictError(f"{self.path}: not a TFLite model (no TFL3 identifier)")
        interpreter_class, self.runtime = load_interpreter_class()
        try:
            self.interpreter = interpreter_class(model_path=self.path, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            reason = " ".join(str(e).split())[:200]
            raise PredictError(f"{self.path}: truncated or corrupt TFLite model ({reason})") from None
        self.inputs = {_signature_key(d["name"]): d for d in self.interpreter.get_input_details()}
        self.outputs = self.interpreter.get_output_details()
        self.packed = read_packed_files(self.path)

    def input_shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self.inputs[name]["shape"])

    def require_inputs(self, names: Sequence[str], what: str) -> None:
        missing = [n for n in names if n not in self.inputs]
        if missing:
            raise PredictError(f"{self.path}: not a {what} (inputs are {sorted(self.inputs)}, "
                               f"expected {list(names)})")

    def packed_file(self, name: str, what: str) -> bytes:
        if name not in self.packed:
            raise PredictError(f"no {what} packed in {self.path} ({name} is not among its "
                               f"associated files); {EXPORT_HINT}")
        return self.packed[name]

    def run(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """One invoke; returns the first output as float32 (dequantized if it is integer)."""
        for name, value in arrays.items():
            detail = self.inputs[name]
            self.interpreter.set_tensor(detail["index"], np.asarray(value, dtype=detail["dtype"]))
        self.interpreter.invoke()
        out = self.outputs[0]
        value = self.interpreter.get_tensor(out["index"])
        scale, zero_point = out.get("quantization", (0.0, 0))
        if np.issubdtype(value.dtype, np.integer) and scale:
            return (value.astype(np.float32) - zero_point) * np.float32(scale)
        return value.astype(np.float32)


def _signature_key(tensor_name: str) -> str:
    """`token_ids` for `token_ids` or TFLite's default `serving_default_token_ids:0`."""
    name = tensor_name.split(":")[0]
    for key in (*TEXT_INPUTS, RECOMMENDER_INPUT):
        if name == key or name.endswith("_" + key):
            return key
    return name


class Classifier:
    """A text classifier exported by `export.convert`: texts in, (label, probability) out.

        Classifier("fp32.tflite").classify(["call mom"], top_k=2)
        # [[("call_contact", 0.98), ("send_message", 0.01)]]
    """

    def __init__(self, path: str, num_threads: int | None = None):
        self.model = PackedModel(path, num_threads=num_threads)
        self.model.require_inputs(TEXT_INPUTS, "text classifier exported by export.convert")
        path = self.model.path
        vocabulary = _text_lines(self.model.packed_file(VOCABULARY_FILE, "vocabulary"),
                                 VOCABULARY_FILE, path)
        self.labels = [label.strip() for label in
                       _text_lines(self.model.packed_file(LABELS_FILE, "labels"), LABELS_FILE, path)
                       if label.strip()]
        self.sequence_length = self.model.input_shape("token_ids")[-1]
        try:
            self.tokenizer = wordpiece.WordPieceTokenizer(
                [line.rstrip() for line in vocabulary], **DEFAULT_TOKENIZER_OPTIONS)
            self.tokenizer.encode("", self.sequence_length)  # [CLS] [SEP] [PAD] must exist
        except ValueError as e:
            raise PredictError(f"{path}: packed {VOCABULARY_FILE} is not a WordPiece "
                               f"vocabulary ({e})") from None
        classes = int(self.model.outputs[0]["shape"][-1])
        if classes != len(self.labels):
            raise PredictError(f"{path}: the model has {classes} outputs but packed "
                               f"{LABELS_FILE} has {len(self.labels)} labels")

    def encode(self, text: str) -> dict[str, np.ndarray]:
        """The three int32 [1, L] inputs of `text` (README "Tokenizer rules")."""
        ids, mask, segments = self.tokenizer.encode(text, self.sequence_length)
        return {"token_ids": np.array([ids], np.int32), "padding_mask": np.array([mask], np.int32),
                "segment_ids": np.array([segments], np.int32)}

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), C] probabilities, in label order (one invoke per text)."""
        rows = [self.model.run(self.encode(text))[0] for text in texts]
        return np.stack(rows) if rows else np.zeros((0, len(self.labels)), np.float32)

    def classify(self, texts: Sequence[str], top_k: int = 3) -> list[list[tuple[str, float]]]:
        """Per text, the `top_k` (label, probability) pairs, best first (ties: label order)."""
        out = []
        for row in self.probabilities(texts):
            order = np.argsort(-row, kind="stable")[:max(1, top_k)]
            out.append([(self.labels[i], float(row[i])) for i in order])
        return out


class Recommender:
    """A next-item recommender exported by `export.convert`: liked movie ids in, top ten out.

        Recommender("fp32.tflite").recommend([1, 260, 1196], top_k=10)
        # [{"movie_id": 1210, "title": "Star Wars: Episode VI ...", "genres": ..., "score": ...}]
    """

    def __init__(self, path: str, num_threads: int | None = None):
        self.model = PackedModel(path, num_threads=num_threads)
        self.model.require_inputs((RECOMMENDER_INPUT,), "recommender exported by export.convert")
        self.history_length = self.model.input_shape(RECOMMENDER_INPUT)[-1]
        self.items, self.items_source = self._read_items()
        width = int(self.model.outputs[0]["shape"][-1])
        if width != len(self.items):
            raise PredictError(f"{self.items_source}: {len(self.items)} rows but the model "
                               f"scores {width} items; it belongs to another export")
        self.index_of = {row["movie_id"]: i for i, row in enumerate(self.items)
                         if row["movie_id"] is not None}

    def _read_items(self):
        if ITEMS_FILE in self.model.packed:
            data, source = self.model.packed[ITEMS_FILE], f"{self.model.path}!{ITEMS_FILE}"
        else:
            source = os.path.join(os.path.dirname(os.path.abspath(self.model.path)), ITEMS_FILE)
            if not os.path.isfile(source):
                raise PredictError(f"{self.model.path}: no {ITEMS_FILE} packed in it or beside "
                                   f"it (the catalogue: index,movieId,title,genres); {EXPORT_HINT}")
            with open(source, "rb") as f:
                data = f.read()
        try:
            rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
            items = [{"movie_id": int(r["movieId"]) if r["movieId"] else None,
                      "title": r.get("title", ""), "genres": r.get("genres", "")} for r in rows]
            if [int(r["index"]) for r in rows] != list(range(len(rows))):
                raise ValueError("the index column is not 0, 1, 2, ...")
        except (UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
            raise PredictError(f"{source}: not an items file index,movieId,title,genres "
                               f"({e})") from None
        return items, source

    def encode(self, liked: Sequence[int]) -> np.ndarray:
        """int32 [1, H]: the last H liked movies as catalogue indices, newest last, 0-padded
        on the left; PredictError naming any id outside the catalogue."""
        if not liked:
            raise PredictError("--liked: no movie ids given (e.g. --liked 1,260,1196)")
        unknown = [m for m in liked if m not in self.index_of]
        if unknown:
            shown = ", ".join(str(m) for m in unknown[:10])
            raise PredictError(f"--liked: movie id(s) {shown} not in the catalogue of "
                               f"{self.items_source} ({len(self.index_of)} movies)")
        indices = [self.index_of[m] for m in liked][-self.history_length:]
        row = [PAD_INDEX] * (self.history_length - len(indices)) + indices
        return np.array([row], np.int32)

    def recommend(self, liked: Sequence[int], top_k: int = 10) -> list[dict]:
        """The `top_k` best unseen movies, best first (ties to the lower index / movieId)."""
        scores = self.model.run({RECOMMENDER_INPUT: self.encode(liked)})[0].astype(np.float64)
        scores[[PAD_INDEX, OOV_INDEX]] = -np.inf
        scores[[self.index_of[m] for m in liked]] = -np.inf
        order = np.argsort(-scores, kind="stable")[:max(1, top_k)]
        return [{"movie_id": self.items[i]["movie_id"], "title": self.items[i]["title"],
                 "genres": self.items[i]["genres"], "score": float(scores[i])}
                for i in order if np.isfinite(scores[i])]


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------
def classify_command(args: argparse.Namespace) -> dict:
    """The classifier mode: {"model", "runtime", "results": [{"text", "predictions"}]}."""
    if not args.texts:
        raise PredictError(f"{args.model}: no text given; usage: python -m export.predict "
                           "<model.tflite> \"some text\" [\"more text\" ...]")
    classifier = Classifier(args.model, num_threads=args.num_threads)
    results = [{"text": text, "predictions": [{"label": label, "score": score}
                                              for label, score in ranked]}
               for text, ranked in zip(args.texts, classifier.classify(args.texts, args.top_k))]
    return {"model": args.model, "runtime": classifier.model.runtime, "results": results}


def print_classifications(outcome: dict) -> None:
    for result in outcome["results"]:
        print(json.dumps(result["text"], ensure_ascii=False))
        width = max(len(p["label"]) for p in result["predictions"])
        for p in result["predictions"]:
            print(f"  {p['label']:<{width}}  {p['score']:.4f}")


def recommend_command(args: argparse.Namespace) -> dict:
    """The recommender mode: {"model", "runtime", "liked", "recommendations": [...]}."""
    if args.texts:
        raise PredictError("--liked takes movie ids, not texts; give one or the other")
    try:
        liked = [int(part) for part in args.liked.split(",") if part.strip()]
    except ValueError:
        raise PredictError(f"--liked={args.liked}: not a comma-separated list of movie ids "
                           "(e.g. --liked 1,260,1196)") from None
    recommender = Recommender(args.model, num_threads=args.num_threads)
    top_k = args.top_k if args.top_k_given else 10
    return {"model": args.model, "runtime": recommender.model.runtime, "liked": liked,
            "recommendations": recommender.recommend(liked, top_k)}


def print_recommendations(outcome: dict) -> None:
    for rank, r in enumerate(outcome["recommendations"], 1):
        print(f"{rank:>2}. {r['title']}  [{r['genres']}]  (movieId {r['movie_id']}, "
              f"score {r['score']:.3f})")


# Each mode: (runs it -> JSON-able outcome, prints the outcome), chosen by the flags.
MODES = {"classify": (classify_command, print_classifications),
         "recommend": (recommend_command, print_recommendations)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export.predict",
        description="Classify texts with an exported .tflite (vocabulary and labels packed "
                    "in the file); needs only a TFLite runtime and numpy.")
    parser.add_argument("model", help="a .tflite file written by python -m export.convert")
    parser.add_argument("texts", nargs="*", help="texts to classify")
    parser.add_argument("--liked", default=None,
                        help="recommenders: liked MovieLens movie ids, oldest first, e.g. "
                             "1,260,1196 (prints the ten best unseen movies)")
    parser.add_argument("--top_k", type=int, default=None,
                        help="labels shown per text (default 3), or recommendations (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--num_threads", type=int, default=None,
                        help="interpreter threads (default: the runtime's)")
    return parser


def _fail(message: str) -> None:
    print("error: " + " ".join(message.split()), file=sys.stderr)
    sys.exit(2)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    parser.error = _fail  # argparse's own usage errors: one line, exit 2
    args = parser.parse_args(argv)
    args.top_k_given = args.top_k is not None
    if args.top_k is None:
        args.top_k = 3
    try:
        if args.top_k < 1:
            raise PredictError(f"--top_k={args.top_k}: must be at least 1")
        if args.num_threads is not None and args.num_threads < 1:
            raise PredictError(f"--num_threads={args.num_threads}: must be at least 1")
        run, show = MODES["recommend" if args.liked is not None else "classify"]
        outcome = run(args)
    except PredictError as e:
        _fail(str(e))
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False, indent=2))
    else:
        show(outcome)


if __name__ == "__main__":
    main()
