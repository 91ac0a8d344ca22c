"""Full-ranking metrics for next-item recommendation, and the two baselines scored beside models.

    scores = most_popular_scores(split.train, split.vocabulary_size, len(histories))
    result = ranking_metrics(scores, histories, split.test_targets, k=10)
    result["hr"], result["ndcg"], result["mrr"], result["coverage"]

Protocol P (../shared/benchmarks/README.md): every catalogue item is ranked; padding, OOV and every
item in the user's whole earlier history are excluded; exact score ties go to the lower index
(vocabulary ids ascend with the movie id). A target outside the catalogue (OOV) is a miss.
"""

import time

import numpy as np

from pipeline.data.movielens import OOV, PAD
from pipeline.errors import UserError


def _masked(scores, histories):
    scores = np.array(scores, dtype=np.float64, copy=True)
    scores[:, [PAD, OOV]] = -np.inf
    for row, history in enumerate(histories):
        scores[row, history] = -np.inf
    return scores


def ranking_metrics(scores, histories, targets, k: int = 10) -> dict:
    """HR@k, NDCG@k, MRR (full ranking) and coverage@k over all users, plus the top-k lists.

    scores: [users, vocabulary] (higher is better); histories: per user, the ids to exclude;
    targets: per user, the vocabulary id to find (OOV = a miss).
    """
    scores = _masked(scores, histories)
    targets = np.asarray(targets)
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    above = (scores > target_scores[:, None]).sum(1)
    tied_before = (scores == target_scores[:, None]) & (np.arange(scores.shape[1]) < targets[:, None])
    ranks = (above + tied_before.sum(1) + 1).astype(np.float64)
    ranks[(targets == OOV) | ~np.isfinite(target_scores)] = np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # stable: ties to the lower id
    hits = ranks <= k
    catalogue = scores.shape[1] - 2
    # Only real candidates count: with fewer than k unseen items the top-k ends in excluded ones.
    recommended = top[np.isfinite(np.take_along_axis(scores, top, 1))]
    return {"hr": float(hits.mean()),
            "ndcg": float(np.where(hits, 1.0 / np.log2(np.minimum(ranks, 1e9) + 1), 0.0).mean()),
            "mrr": float((1.0 / ranks).mean()),
            "coverage": float(len(np.unique(recommended)) / catalogue),
            "users": int(len(targets)), "k": k, "top": top}


def summary(result: dict) -> dict:
    """The metrics without the top-k lists (for metrics.json)."""
    return {key: value for key, value in result.items() if key != "top"}


def most_popular_scores(train_sequences, vocabulary_size: int, num_users: int) -> np.ndarray:
    """Every user gets the training-part popularity of each item."""
    counts = np.bincount(np.concatenate(train_sequences), minlength=vocabulary_size)
    return np.broadcast_to(counts.astype(np.float64), (num_users, vocabulary_size))


class CooccurrenceModel:
    """Item co-occurrence counts: C[a, b] = how often b follows a within `window` positions.

    Scores for a history = sum of C[h, :] over its last `last_items` items (forward only; with
    `both_directions=True` pairs are counted both ways).

        model = CooccurrenceModel(split.train, split.vocabulary_size, window=5)
        scores = model.scores(split.test_histories(), last_items=10)
    """

    def __init__(self, train_sequences, vocabulary_size, window=5, both_directions=False):
        firsts, seconds = [], []
        for seq in train_sequences:
            for offset in range(1, window + 1):
                firsts.append(seq[:-offset])
                seconds.append(seq[offset:])
        a, b = np.concatenate(firsts).astype(np.int64), np.concatenate(seconds).astype(np.int64)
        if both_directions:
            a, b = np.r_[a, b], np.r_[b, a]
        codes, counts = np.unique(a * vocabulary_size + b, return_counts=True)
        self.rows, self.cols, self.counts = codes // vocabulary_size, codes % vocabulary_size, counts
        self.row_starts = np.searchsorted(self.rows, np.arange(vocabulary_size + 1))
        self.vocabulary_size = vocabulary_size

    def scores(self, histories, last_items=10) -> np.ndarray:
        out = np.zeros((len(histories), self.vocabulary_size))
        for user, history in enumerate(histories):
            for item in history[-last_items:]:
                lo, hi = self.row_starts[item], self.row_starts[item + 1]
                out[user, self.cols[lo:hi]] += self.counts[lo:hi]
        return out


def ppmi_embeddings(train_sequences, vocabulary_size: int, dim: int, window: int = 5,
                    seed: int = 0, scale: float = 0.05) -> np.ndarray:
    """Item vectors [V, dim] whose dot products approximate the items' positive PMI.

    PMI of co-occurring within `window` positions (both directions) in the training parts,
    factorised by a seeded randomized SVD (Halko et al., 3 power iterations) as U * sqrt(S),
    then scaled to an overall standard deviation of `scale`. Items without co-occurrences
    (padding, OOV) get small seeded random vectors. A warm start for the recommender's item
    embeddings, learned from the training parts only.

        vectors = ppmi_embeddings(split.train, split.vocabulary_size, dim=64)
    """
    cooc = CooccurrenceModel(train_sequences, vocabulary_size, window, both_directions=True)
    rows, cols, counts = cooc.rows, cooc.cols, cooc.counts.astype(np.float64)
    total = counts.sum()
    row_sums = np.bincount(rows, weights=counts, minlength=vocabulary_size)
    col_sums = np.bincount(cols, weights=counts, minlength=vocabulary_size)
    pmi = np.log(counts * total / (row_sums[rows] * col_sums[cols]))
    keep = pmi > 0
    rows, cols, pmi = rows[keep], cols[keep], pmi[keep]
    import tensorflow as tf  # sparse products, multi-threaded

    sparse = tf.sparse.reorder(tf.sparse.SparseTensor(
        np.stack([rows, cols], 1), pmi.astype(np.float32), (vocabulary_size, vocabulary_size)))
    matrix = lambda x: tf.sparse.sparse_dense_matmul(sparse, x.astype(np.float32)).numpy()  # noqa: E731  (a one-line local helper)
    matrix_t = lambda x: tf.sparse.sparse_dense_matmul(  # noqa: E731  (a one-line local helper)
        sparse, x.astype(np.float32), adjoint_a=True).numpy()
    rng = np.random.default_rng(seed)
    y = matrix(rng.standard_normal((vocabulary_size, dim + 16)))
    for _ in range(3):
        q, _ = np.linalg.qr(y)
        y = matrix(matrix_t(q))
    q, _ = np.linalg.qr(y)
    u, s, _ = np.linalg.svd(matrix_t(q).T, full_matrices=False)
    found = (q @ u)[:, :dim] * np.sqrt(s[:dim])
    # A catalogue smaller than `dim` has fewer factors than columns: the rest stay zero.
    vectors = np.zeros((vocabulary_size, dim))
    vectors[:, :found.shape[1]] = found
    empty = np.abs(vectors).sum(1) == 0
    if (~empty).any():
        vectors *= scale / vectors[~empty].std()
    vectors[empty] = rng.normal(0.0, scale, (int(empty.sum()), dim))
    return vectors.astype(np.float32)


def baseline_results(split, history_length: int = 50, k: int = 10, last_items=10, window=5):
    """Most popular and co-occurrence (forward, both directions) on the test users.

    Returns {name: ranking_metrics(...)}; the names say the co-occurrence settings.
    """
    histories = split.test_histories()
    inputs = [h[-history_length:] for h in histories]
    out = {"most_popular": ranking_metrics(
        most_popular_scores(split.train, split.vocabulary_size, len(histories)),
        histories, split.test_targets, k)}
    for both in (False, True):
        cooc = CooccurrenceModel(split.train, split.vocabulary_size, window, both_directions=both)
        name = f"cooccurrence_last{last_items}_window{window}_{'both' if both else 'forward'}"
        out[name] = ranking_metrics(cooc.scores(inputs, last_items), histories,
                                    split.test_targets, k)
    return out


METRICS = ("hr", "ndcg", "mrr", "coverage")


def _mean_and_spread(results: list) -> dict:
    out = {}
    for key in METRICS:
        values = np.asarray([r[key] for r in results])
        out[key] = {"mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "min": float(values.min()), "max": float(values.max())}
    return out


def _examples(top, split, histories, count=3):
    """A few test users' last liked titles and top recommendations, for reading metrics.json."""
    title = lambda i: split.item_info.get(int(split.item_ids[i]), (str(int(split.item_ids[i])),))[0]  # noqa: E731  (a one-line local helper)
    return [{"user": int(split.users[u]), "last_liked": [title(i) for i in histories[u][-5:]],
             "target": title(split.test_targets[u]) if split.test_targets[u] > 1 else "(outside catalogue)",
             "top": [title(i) for i in top[u]]} for u in range(min(count, len(histories)))]


def evaluate_and_report(scorers: dict, split, config, workdir: str, started: float) -> dict:
    """Scores the test users with every seed's model and the baselines; writes metrics.json.

    `scorers` maps seed -> scorer model. The scorer of the seed with the best validation HR@k
    (never the test) becomes `<workdir>/model.keras`, the model that is exported.
    """
    import json
    import os

    from pipeline import metrics, training
    from pipeline.models.sequential_recommender import left_pad

    r, k = config.recs, config.recs.top_k
    histories = split.test_histories()
    inputs = left_pad(histories, r.history_length)
    per_seed, validation, top = {}, {}, {}
    for seed, scorer in scorers.items():
        scores = scorer.predict(inputs, batch_size=256, verbose=0)
        result = ranking_metrics(scores, histories, split.test_targets, k)
        per_seed[seed], top[seed] = summary(result), result["top"]
        best_path = os.path.join(workdir, f"next_item_seed{seed}", "best.json")
        if os.path.exists(best_path):
            try:
                with open(best_path, encoding="utf-8") as f:
                    validation[seed] = dict(json.load(f))
            except (OSError, ValueError, TypeError) as e:
                raise UserError(f"{best_path}: unreadable ({e}); delete the stage folder "
                                f"next_item_seed{seed}/ and run the same command again") from None
    model_seed = max(scorers, key=lambda s: (validation.get(s, {}).get("hr", -1.0), -s))
    training.save_model(scorers[model_seed], os.path.join(workdir, "model.keras"))
    baselines = baseline_results(split, r.history_length, k, r.cooc_last_items, r.cooc_window)
    result = {
        "task": "next_item", "protocol": "P", "k": k, "users": len(histories),
        "catalogue": split.catalogue_size, "history_length": r.history_length,
        "model": {"mean_over_seeds": _mean_and_spread(list(per_seed.values())),
                  "per_seed": {str(s): m for s, m in per_seed.items()},
                  "validation_best": {str(s): v for s, v in validation.items()}},
        "baselines": {name: summary(b) for name, b in baselines.items()},
        "model_seed": model_seed,
        "examples": _examples(top[model_seed], split, histories),
        "seconds": round(time.time() - started, 1)}
    metrics.write_json(result, os.path.join(workdir, "metrics.json"))
    return result


def format_table(result: dict) -> str:
    """The metrics as a Markdown table: the model (mean ± std over seeds), then the baselines."""
    k = result["k"]
    lines = [f"| model | HR@{k} | NDCG@{k} | MRR | cov@{k} |", "| --- | --- | --- | --- | --- |"]
    mean = result["model"]["mean_over_seeds"]
    seeds = len(result["model"]["per_seed"])
    lines.append(f"| sequential recommender ({seeds} seeds, mean ± std) | " + " | ".join(
        f"{mean[m]['mean']:.4f} ± {mean[m]['std']:.4f}" for m in METRICS) + " |")
    for name, b in result["baselines"].items():
        lines.append(f"| {name} | " + " | ".join(f"{b[m]:.4f}" for m in METRICS) + " |")
    return "\n".join(lines)
