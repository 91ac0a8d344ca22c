"""The post-processing rules an app applies to a model's output, defined once.

The Python runtime (`Classifier`, `Recommender`), the golden vectors for app ports
(`export.app.golden`) and the Java core (`android_demo/core`: `Ranking.topIndices`,
`Recommendations`) follow these rules, and golden.json holds cases of each, so a port proves
it applies them exactly:

* ranking: the k highest scores, best first; exact ties go to the lower index (numpy's stable
  argsort of the negated scores), NaN ranks after every number, excluded indices never come
  back (so fewer than k may);
* a recommender's input: the last H catalogue indices of a history, newest last, left-padded
  with `PAD_ID` (what training fed the model, `pipeline/models/sequential_recommender.py`);
* recommendations: ranking without `PAD_ID`, `OOV_ID` and every index of the history (the
  whole history, not only its last H).

Needs only numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from export.contract import OOV_ID, PAD_ID

TOP_K = 10  # recommendations shown and recorded in golden.json


def top_indices(scores, k: int, exclude: Iterable[int] = ()) -> list[int]:
    """The indices of the `k` highest `scores`, best first, without `exclude` (ties to the
    lower index, NaN last; indices outside the scores in `exclude` are ignored)."""
    scores = np.asarray(scores, dtype=np.float64)
    excluded = np.zeros(len(scores), bool)
    excluded[[i for i in exclude if 0 <= i < len(scores)]] = True
    # -NaN is NaN, which numpy sorts after every number.
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if not excluded[i]][:max(k, 0)]


def history_input(history: Sequence[int], history_length: int) -> list[int]:
    """A recommender's input row: the last `history_length` indices of `history` (oldest
    first), newest last, left-padded with `PAD_ID`."""
    tail = list(history)[-history_length:] if history_length > 0 else []
    return [PAD_ID] * (history_length - len(tail)) + [int(i) for i in tail]


def recommend(scores, history: Iterable[int], k: int = TOP_K) -> list[int]:
    """The `k` best catalogue indices for a user with this `history` (catalogue indices):
    `top_indices` without padding, the out-of-catalogue row and anything already seen."""
    return top_indices(scores, k, exclude=(PAD_ID, OOV_ID, *history))
