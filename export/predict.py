"""`python -m export.predict`: run an exported `.tflite` on texts or liked movies, no TensorFlow.

    python -m export.predict runs/intents/export/int8_full.tflite "wake me up at 7" "call mom"
    python -m export.predict model.tflite --top_k=1 --json "some text"
    python -m export.predict runs/movielens/export/fp32.tflite --liked 1,260,1196
    python -m export.predict runs/actions/export/int8_dynamic.tflite --act "wake me up at 6:30"
    python -m export.predict runs/actions/export/fp32.tflite --act --stream "call mom"

Texts print their top labels and probabilities (`--top_k`, default 3); `--liked` (MovieLens
movie ids, oldest first) prints the liked titles on stderr, then the ten best unseen movies
(`--top_k`) on stdout; `--act` (an action model: two signatures and a KV cache, its
vocabulary.json and merges.txt beside it) prints the action each command asks for, greedy and
constrained to the action grammar (`--unconstrained`: the raw model), with `--stream` printing
it as it is decoded (`export.runtime.assistant`). Flags go before or after the texts (`--` ends them, for a text that
starts with "-"). The work is `export.runtime` (`classify_texts`, `recommend_liked`); this
module reads the flags and prints. Bad input (missing file, not a TFLite file, nothing packed,
no text, an unknown movie id, an argument that is not UTF-8) is one `error:` line on stderr and
exit code 2. Needs only a TFLite runtime and numpy (argparse, not absl: nothing else is
installed where this runs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from export.contract import UserError
from export.runtime import classifier, recommender


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export.predict",
        description="Classify texts, or recommend movies, with an exported .tflite (its "
                    "vocabulary and labels packed in the file); needs only a TFLite runtime "
                    "and numpy.")
    parser.add_argument("model", help="a .tflite file written by python -m export.convert")
    parser.add_argument("texts", nargs="*", default=[], help="texts to classify")
    parser.add_argument("--liked", default=None,
                        help="recommenders: liked MovieLens movie ids, oldest first, e.g. "
                             "1,260,1196 (prints the ten best unseen movies)")
    parser.add_argument("--act", action="store_true",
                        help="action models: print the action each text (a command) asks for")
    parser.add_argument("--stream", action="store_true",
                        help="with --act: print the action as each token is decoded")
    parser.add_argument("--unconstrained", action="store_true",
                        help="with --act: no grammar mask (the output may not parse)")
    parser.add_argument("--top_k", type=int, default=None,
                        help="labels shown per text (default 3), or recommendations (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--num_threads", type=int, default=None,
                        help="interpreter threads (default: the runtime's)")
    return parser


def _require_utf8(argv: Sequence[str]) -> None:
    """Python hands undecodable argv bytes over as lone surrogates, which no output can
    encode: refuse them here, naming the argument."""
    for position, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape")
            raise UserError(f"argument {position} ({shown!r}) is not valid UTF-8; texts, ids "
                            "and paths must be UTF-8") from None


def _liked_ids(value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--liked={value}: not a comma-separated list of movie ids (e.g. "
                        "--liked 1,260,1196)") from None


def predict(args: argparse.Namespace) -> dict:
    """The outcome of the chosen mode (see `export.runtime`), as printed with --json."""
    if args.top_k is not None and args.top_k < 1:
        raise UserError(f"--top_k={args.top_k}: must be at least 1")
    if args.num_threads is not None and args.num_threads < 1:
        raise UserError(f"--num_threads={args.num_threads}: must be at least 1")
    if os.path.isdir(args.model):
        raise UserError(f"{args.model}: is a folder; give a .tflite file, e.g. "
                        f"{os.path.join(args.model, 'fp32.tflite')}")
    if args.act:
        return _act(args)
    if args.stream or args.unconstrained:
        raise UserError("--stream and --unconstrained go with --act (action models)")
    if _is_action_model(args.model):
        raise UserError(f"{args.model}: an action model (prefill and decode signatures); add "
                        "--act to print the action of each command")
    if args.liked is None:
        return classifier.classify_texts(args.model, args.texts, args.top_k or 3,
                                         num_threads=args.num_threads)
    if args.texts:
        raise UserError("--liked takes movie ids, not texts; give one or the other")
    return recommender.recommend_liked(args.model, _liked_ids(args.liked), args.top_k or 10,
                                       num_threads=args.num_threads)


def _is_action_model(path: str) -> bool:
    try:
        from export.tflite import reader  # needs flatbuffers, which tflite-runtime lacks
        signatures = reader.read_model(path).signatures
    except ImportError:
        from export.tflite.runner import load_interpreter_class
        try:
            signatures = load_interpreter_class()[0](model_path=path).get_signature_list()
        except (ValueError, RuntimeError, OSError):
            return False
    except (ValueError, OSError):
        return False  # the chosen mode's own loader says what is wrong with the file
    return {"prefill", "decode"} <= set(signatures)


def _act(args: argparse.Namespace) -> dict:
    from export.runtime.assistant import Assistant

    if args.liked is not None or args.top_k is not None:
        raise UserError("--act takes commands; --liked and --top_k do not apply")
    if args.stream and args.json:
        raise UserError("--stream prints as it decodes; --json prints once at the end: choose one")
    if not args.texts:
        raise UserError("--act: give at least one command, e.g. \"wake me up at 6:30\"")
    assistant = Assistant(args.model, num_threads=args.num_threads)
    results = []
    for text in args.texts:
        on_text = None
        if args.stream:
            print(json.dumps(text, ensure_ascii=False), flush=True)
            print("  ", end="", flush=True)

            def on_text(piece):
                print(piece, end="", flush=True)
        result = assistant.act(text, constrained=not args.unconstrained, on_text=on_text)
        if args.stream:
            print(flush=True)
        results.append(result)
    return {"actions": results, "streamed": bool(args.stream)}


def print_table(outcome: dict) -> None:
    if not outcome.get("streamed"):
        for result in outcome.get("actions", []):
            print(json.dumps(result["command"], ensure_ascii=False))
            print(f"  {result['action']}")
    for result in outcome.get("results", []):
        print(json.dumps(result["text"], ensure_ascii=False))
        width = max(len(p["label"]) for p in result["predictions"])
        for p in result["predictions"]:
            print(f"  {p['label']:<{width}}  {p['score']:.4f}")
    if "liked_movies" in outcome:
        # On stderr: stdout stays the recommendations, one per line.
        liked, length = outcome["liked_movies"], outcome["history_length"]
        seen = f" (the model sees the last {length})" if len(liked) > length else ""
        print(f"liked{seen}: " + "; ".join(f"{m['title']} ({m['movie_id']})" for m in liked),
              file=sys.stderr)
    for rank, r in enumerate(outcome.get("recommendations", []), 1):
        print(f"{rank:>2}. {r['title']}  [{r['genres']}]  (movieId {r['movie_id']}, "
              f"score {r['score']:.3f})")


def _fail(message: str) -> None:
    print("error: " + " ".join(message.split()), file=sys.stderr)
    sys.exit(2)


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    parser.error = _fail  # argparse's own usage errors: one line, exit 2
    try:
        _require_utf8(argv)
        args = parser.parse_intermixed_args(argv)  # flags before, between or after the texts
        outcome = predict(args)
    except UserError as e:
        _fail(str(e))
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False, indent=2))
    else:
        print_table(outcome)


if __name__ == "__main__":
    main()
