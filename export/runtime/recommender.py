"""A next-item recommender exported by `export.convert`, run with a TFLite runtime and numpy.

    Recommender("runs/movielens/export/fp32.tflite").recommend([1, 260, 1196], top_k=10)
    # [{"movie_id": 1210, "title": "Star Wars: Episode VI ...", "genres": ..., "score": ...}]

The model takes `item_ids` int32 [1, H] and returns a score per catalogue index. The catalogue
is `items.csv` (index,movieId,title,genres; row 0 pads, row 1 is out of catalogue), packed in
the file or beside it (export.convert writes it next to the model). Liked MovieLens ids,
oldest first, become the input and the ranking of `export.runtime.postprocess`; an id outside
the catalogue is a UserError naming it (the app, and golden.json, map it to the
out-of-catalogue row instead).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import numpy as np

from export.contract import EXPORT_HINT, ITEMS_FILE, UserError
from export.runtime import postprocess
from export.runtime.model import PackedModel

ITEM_INPUT = "item_ids"  # the signature of every exported recommender: int32 [1, H]


def parse_items(data: bytes, source: str) -> list[dict]:
    """The rows of an items file `index,movieId,title,genres`, in index order, as
    {"movie_id" (None for the padding and out-of-catalogue rows), "title", "genres"}."""
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
        items = [{"movie_id": int(r["movieId"]) if r["movieId"] else None,
                  "title": r.get("title") or "", "genres": r.get("genres") or ""} for r in rows]
        if [int(r["index"]) for r in rows] != list(range(len(rows))):
            raise ValueError("the index column is not 0, 1, 2, ... in order")
    except (UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"{source}: not an items file index,movieId,title,genres ({e})") from None
    return items


def catalogue_index(items: Sequence[dict]) -> dict[int, int]:
    """movieId -> catalogue index of the rows that are movies."""
    return {row["movie_id"]: i for i, row in enumerate(items) if row["movie_id"] is not None}


class Recommender:
    """Liked movie ids in, the best unseen movies out; `items` is the catalogue,
    `history_length` the H of the model's input, `runtime` the TFLite runtime."""

    def __init__(self, path: str, num_threads: int | None = None):
        self.model = PackedModel(path, "recommender exported by export.convert", (ITEM_INPUT,),
                                 num_threads=num_threads)
        self.runtime = self.model.runner.runtime
        self.history_length = self.model.runner.input_shape(ITEM_INPUT)[-1]
        self.items, self.items_source = self._read_items()
        if self.model.output_width != len(self.items):
            raise UserError(f"{self.items_source}: {len(self.items)} rows but the model scores "
                            f"{self.model.output_width} items; it belongs to another export")
        self.index_of = catalogue_index(self.items)

    def _read_items(self) -> tuple[list[dict], str]:
        if ITEMS_FILE in self.model.packed:
            return (parse_items(self.model.packed[ITEMS_FILE], f"{self.model.path}!{ITEMS_FILE}"),
                    f"{self.model.path}!{ITEMS_FILE}")
        source = os.path.join(os.path.dirname(os.path.abspath(self.model.path)), ITEMS_FILE)
        if not os.path.isfile(source):
            raise UserError(f"{self.model.path}: no {ITEMS_FILE} packed in it or beside it (the "
                            f"catalogue: index,movieId,title,genres); {EXPORT_HINT}")
        with open(source, "rb") as f:
            return parse_items(f.read(), source), source

    def indices(self, liked: Sequence[int]) -> list[int]:
        """The catalogue indices of `liked`; UserError naming any id outside the catalogue."""
        if not liked:
            raise UserError("--liked: no movie ids given (e.g. --liked 1,260,1196)")
        unknown = [m for m in liked if m not in self.index_of]
        if unknown:
            shown = ", ".join(str(m) for m in unknown[:10])
            raise UserError(f"--liked: movie id(s) {shown} not in the catalogue of "
                            f"{self.items_source} ({len(self.index_of)} movies)")
        return [self.index_of[m] for m in liked]

    def encode(self, liked: Sequence[int]) -> np.ndarray:
        """int32 [1, H]: the last H liked movies as catalogue indices, newest last, left-padded
        with the padding index."""
        return np.array([postprocess.history_input(self.indices(liked), self.history_length)],
                        np.int32)

    def liked_movies(self, liked: Sequence[int]) -> list[dict]:
        """{"movie_id", "title"} of each liked id, so a user sees what the ids mean here (ids
        of another MovieLens release may name other movies)."""
        return [{"movie_id": m, "title": self.items[i]["title"]}
                for m, i in zip(liked, self.indices(liked))]

    def recommend(self, liked: Sequence[int], top_k: int = postprocess.TOP_K) -> list[dict]:
        """The `top_k` best unseen movies, best first (ties to the lower index / movieId)."""
        history = self.indices(liked)
        row = postprocess.history_input(history, self.history_length)
        scores = self.model.runner.run({ITEM_INPUT: np.array([row], np.int32)})[0]
        return [{"movie_id": self.items[i]["movie_id"], "title": self.items[i]["title"],
                 "genres": self.items[i]["genres"], "score": float(scores[i])}
                for i in postprocess.recommend(scores, history, max(1, top_k))]


def recommend_liked(path: str, liked: Sequence[int], top_k: int = postprocess.TOP_K,
                    num_threads: int | None = None) -> dict:
    """What `python -m export.predict <file> --liked ...` reports: {"model", "runtime",
    "liked", "liked_movies", "history_length", "recommendations"}."""
    recommender = Recommender(path, num_threads=num_threads)
    return {"model": path, "runtime": recommender.runtime, "liked": list(liked),
            "liked_movies": recommender.liked_movies(liked),
            "history_length": recommender.history_length,
            "recommendations": recommender.recommend(liked, top_k)}
