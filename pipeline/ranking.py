"""Full-ranking metrics for next-item recommendation, and the two baselines scored beside models.

    scores = most_popular_scores(split.train, split.vocabulary_size, len(histories))
    result = ranking_metrics(scores, histories, split.test_targets, k=10)
    result["hr"], result["ndcg"], result["mrr"], result["coverage"]

Protocol P (../shared/benchmarks/README.md): every catalogue item is ranked; padding, OOV and every
item in the user's whole earlier history are excluded; exact score ties go to the lower index
(vocabulary ids ascend with the movie id). A target outside the catalogue (OOV) is a miss.
"""


import numpy as np

from pipeline.data.movielens import OOV, PAD


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


def baseline_results(split, history_length: int = 50, k: int = 10, last_items=10, window=5,
                     validation_positions=None):
    """Most popular and co-occurrence (forward, both directions), scored by `ranking_metrics`.

    Default: on the test users (protocol P), fitted on the training parts. With
    `validation_positions=n`: on `split.validation_cases(n)`, fitted on `split.fit_sequences(n)`
    (what the model trains on), so models and baselines share one validation.
    Returns {name: ranking_metrics(...)}; the names say the co-occurrence settings.
    """
    if validation_positions is None:
        fit, histories, targets = split.train, split.test_histories(), split.test_targets
    else:
        fit = split.fit_sequences(validation_positions)
        histories, targets = split.validation_cases(validation_positions)
    inputs = [h[-history_length:] for h in histories]
    out = {"most_popular": ranking_metrics(
        most_popular_scores(fit, split.vocabulary_size, len(histories)), histories, targets, k)}
    for both in (False, True):
        cooc = CooccurrenceModel(fit, split.vocabulary_size, window, both_directions=both)
        name = f"cooccurrence_last{last_items}_window{window}_{'both' if both else 'forward'}"
        out[name] = ranking_metrics(cooc.scores(inputs, last_items), histories, targets, k)
    return out
