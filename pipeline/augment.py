"""Transfer-set augmentation for distillation (Tang et al. 2019, "Distilling Task-Specific
Knowledge from BERT into Simple Neural Networks", section 3.3): new unlabeled texts made from
the training texts, which the teacher then labels with soft targets.

Per word, in one pass (rates from the paper): with probability `mask_rate` the word becomes
an unknown word (`UNKNOWN_WORD`, [UNK] for both the teacher's and the student's tokenizer:
the phone's inputs never hold a [MASK] token, and [UNK] is what a mask reads as through
either tokenizer); else with probability `swap_rate` it is swapped for one of its nearest
neighbours in the teacher's token-embedding space (`embedding_neighbours`; the paper's
POS-guided swap needs a tagger). Then, with probability `ngram_rate`, only a random n-gram
(n in [1, 5]) of the result is kept. Copies identical to their source are drawn again, a few
times. Deterministic for a seed: the same texts and seed give the same transfer set.
"""

import re

import numpy as np

UNKNOWN_WORD = "\ue000"  # a private-use character: in no learned or BERT vocabulary
# A word is a run of non-space characters, except that each CJK character is a word of its
# own (as BERT's tokenizer splits them): Chinese has no spaces, and a whole title as one
# "word" would be masked or kept whole, never varied.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_WORD = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")
_IS_CJK = re.compile(f"[{_CJK}]")


def _join(words) -> str:
    """Words back into text: a space between two words unless either is a CJK character."""
    out = ""
    for w in words:
        if out and not (_IS_CJK.match(w) or _IS_CJK.match(out[-1])):
            out += " "
        out += w
    return out


def embedding_neighbours(texts, preset: str, k: int = 8, max_words: int = 20000) -> dict:
    """{word: [its k nearest words by cosine of the teacher's token embeddings]}, over the
    `max_words` most frequent lowercase words of `texts` that are one piece of the teacher's
    vocabulary (alphabetic only, so numbers and punctuation are never swapped)."""
    import collections

    import keras_hub

    from pipeline.models.teacher import resolve_preset

    path = resolve_preset(preset)
    vocab = keras_hub.models.Tokenizer.from_preset(path).get_vocabulary()
    index = {token: i for i, token in enumerate(vocab)}
    counts = collections.Counter(w for t in texts for w in _WORD.findall(t.lower()))
    words = [w for w, _ in counts.most_common() if w.isalpha() and w in index][:max_words]
    if len(words) <= k:
        return {}
    table = np.asarray(keras_hub.models.Backbone.from_preset(path).token_embedding.embeddings)
    vectors = table[[index[w] for w in words]]
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    out = {}
    for start in range(0, len(words), 2048):
        sims = vectors[start:start + 2048] @ vectors.T
        for row, i in enumerate(range(start, min(start + 2048, len(words)))):
            sims[row, i] = -np.inf
        best = np.argsort(-sims, axis=1)[:, :k]
        out.update({words[start + r]: [words[j] for j in best[r]] for r in range(len(best))})
    return out


def augment_text(text, rng, neighbours, mask_rate=0.1, swap_rate=0.1, ngram_rate=0.25):
    words = _WORD.findall(text)
    out = []
    for w in words:
        u = rng.random()
        if u < mask_rate:
            out.append(UNKNOWN_WORD)
        elif u < mask_rate + swap_rate and w.lower() in neighbours:
            options = neighbours[w.lower()]
            out.append(options[rng.integers(len(options))])
        else:
            out.append(w)
    if len(out) > 1 and rng.random() < ngram_rate:
        n = int(rng.integers(1, min(5, len(out)) + 1))
        start = int(rng.integers(0, len(out) - n + 1))
        out = out[start:start + n]
    return _join(out)


def augment(texts, copies: int, seed: int, neighbours=None, **rates) -> tuple:
    """(new texts, index of each one's source text): `copies` augmented versions of each text,
    in source order, drawn with `np.random.default_rng(seed)`."""
    rng = np.random.default_rng(seed)
    neighbours = neighbours or {}
    new, source = [], []
    for i, text in enumerate(texts):
        for _ in range(copies):
            for _attempt in range(4):  # a copy equal to its source teaches nothing new
                candidate = augment_text(text, rng, neighbours, **rates)
                if candidate and candidate != text:
                    break
            new.append(candidate)
            source.append(i)
    return new, np.asarray(source, dtype="int64")
