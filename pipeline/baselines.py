"""Baselines a user would pick instead of a transformer student, trained on the same splits.

  result = tfidf_logreg(train_texts, train_labels, test_texts, seed=0)
  result = avg_word_embedding(train_texts, train_labels, test_texts, num_classes, seed=0)
  result["predictions"]  # int class index per test text

Both return {"predictions", "params", "train_seconds", "details"} and are deterministic for a
fixed seed. Neither looks at the test labels: every choice is made on the training split.

* `tfidf_logreg`: scikit-learn TF-IDF over word 1-2-grams and character 1-5-grams (`char_wb`:
  Chinese titles have no spaces, so characters carry the signal there), sublinear tf, then a
  logistic regression whose C is picked from `C_GRID` on a seeded, stratified 10 % of train and
  refit on all of train.
* `avg_word_embedding`: MediaPipe Model Maker's AverageWordEmbeddingClassifier (model_maker
  text_classifier: model_options.py, preprocessor.py, text_classifier.py) rebuilt in Keras 3:
  lowercase, split on the regex `[^\\w']+`, the 10,000 most frequent words plus <PAD>,
  <START>, <UNKNOWN>; ids `[<START>, words...]` padded/cut to 256; Embedding(16) ->
  GlobalAveragePooling1D (over all 256 positions, pads included, as there) -> Dense(16, relu)
  -> Dropout(0.2) -> Dense(softmax); RMSprop at Keras' defaults (Model Maker compiles with
  optimizer "rmsprop"; duplicate embedding rows summed as tf.keras does, see `_summed_rmsprop`),
  sparse cross-entropy, 10 epochs of batch 32, the training data shuffled once (its CSV loader
  does) and then read in order with the last partial batch dropped.
  Differences: the vocabulary comes from train only (Model Maker adds its validation texts),
  and the regex leaves Chinese unsegmented (a whole title is one word), as Model Maker does.
"""

import collections
import re
import time

import numpy as np

C_GRID = (1.0, 4.0, 16.0)
HOLDOUT_FRACTION = 0.1

# Model Maker's AverageWordEmbeddingModelOptions and spec defaults.
AWE_VOCAB_SIZE = 10_000
AWE_SEQ_LEN = 256
AWE_DIM = 16
AWE_DROPOUT = 0.2
AWE_EPOCHS = 10
AWE_BATCH = 32
_AWE_SPECIALS = ("<PAD>", "<START>", "<UNKNOWN>")  # ids 0, 1, 2
_AWE_SPLIT = re.compile(r"[^\w\']+")


def _tfidf_features():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    # token_pattern keeps one-letter words ("a", "i"); min_df=2 drops n-grams seen once, which
    # a linear model can only memorise.
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b",
                           sublinear_tf=True, min_df=2, dtype=np.float32)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), sublinear_tf=True,
                           min_df=2, dtype=np.float32)
    return FeatureUnion([("word", word), ("char", char)])


def _logreg(c, seed):
    from sklearn.linear_model import LogisticRegression

    # lbfgs: multinomial for more than two classes, deterministic, fastest here on SST-2.
    return LogisticRegression(C=c, solver="lbfgs", max_iter=1000, random_state=seed)


def fit_tfidf_logreg(train_texts, train_labels, seed: int = 0) -> tuple:
    """(predict_proba, details): TF-IDF (word 1-2 + char_wb 1-5 n-grams) + logistic regression
    fitted on all train texts, C chosen on a seeded held-out part of train.

    The vectorizer is fitted once on all train texts (no labels, no test text), so the held-out
    part only decides C. `predict_proba(texts)` gives [n, C] class probabilities.
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    from pipeline.data import stratified_split

    y = np.asarray(train_labels)
    features = _tfidf_features()
    x = features.fit_transform(train_texts).tocsr()
    keep, held = stratified_split(list(train_labels), HOLDOUT_FRACTION, seed)
    held_accuracy = {}
    # One BLAS thread: the sparse products are single-threaded anyway, and OpenBLAS threads
    # spinning beside other work made the fits 3x slower on 2 cores.
    with threadpool_limits(limits=1, user_api="blas"):
        for c in C_GRID:
            model = _logreg(c, seed).fit(x[keep], y[keep])
            held_accuracy[c] = float(np.mean(model.predict(x[held]) == y[held]))
        best_c = max(C_GRID, key=lambda c: (held_accuracy[c], -c))  # ties: the stronger penalty
        model = _logreg(best_c, seed).fit(x, y)

    def predict_proba(texts):
        return model.predict_proba(features.transform(texts))

    return predict_proba, {
        "C": best_c, "features": int(x.shape[1]),
        "params": int(model.coef_.size + model.intercept_.size),
        "holdout_accuracy": {str(c): round(a, 4) for c, a in held_accuracy.items()},
        "holdout_fraction": HOLDOUT_FRACTION}


def tfidf_logreg(train_texts, train_labels, test_texts, seed: int = 0) -> dict:
    """`fit_tfidf_logreg` scored on `test_texts`: predictions, the learned parameter count
    (coefficients + intercepts), seconds spent, and the grid's held-out accuracies."""
    started = time.time()
    predict_proba, details = fit_tfidf_logreg(train_texts, train_labels, seed)
    train_seconds = time.time() - started
    predictions = np.argmax(predict_proba(test_texts), axis=1)
    params = details.pop("params")
    return {"predictions": np.asarray(predictions, dtype=np.int64), "params": params,
            "train_seconds": round(train_seconds, 1), "details": details}


def awe_tokenize(text: str) -> list:
    """Model Maker's regex tokenizer: lowercase, split on runs of non-word characters except
    the apostrophe, drop empty pieces."""
    return [t for t in _AWE_SPLIT.split(text.lower().strip()) if t]


def awe_vocabulary(texts, size: int = AWE_VOCAB_SIZE) -> dict:
    """{token: id}: the three specials, then the `size` most frequent words (Counter order
    breaks ties by first occurrence, so the same texts give the same vocabulary)."""
    counts = collections.Counter(t for text in texts for t in awe_tokenize(text))
    words = [w for w, _ in counts.most_common(size)]
    return {w: i for i, w in enumerate((*_AWE_SPECIALS, *words))}


def awe_encode(texts, vocab: dict, seq_len: int = AWE_SEQ_LEN) -> np.ndarray:
    """int32 [len(texts), seq_len]: <START> then word ids (<UNKNOWN> if absent), cut or padded."""
    out = np.zeros((len(texts), seq_len), dtype=np.int32)  # <PAD> is 0
    unknown = vocab["<UNKNOWN>"]
    for i, text in enumerate(texts):
        ids = [vocab["<START>"]] + [vocab.get(t, unknown) for t in awe_tokenize(text)]
        ids = ids[:seq_len]
        out[i, :len(ids)] = ids
    return out


def build_awe_model(vocab_size: int, num_classes: int, seq_len: int = AWE_SEQ_LEN):
    """Model Maker's average-word-embedding network (no masking: pads are averaged in)."""
    import keras
    from keras import layers

    inputs = keras.Input((seq_len,), dtype="int32", name="input_ids")
    x = layers.Embedding(vocab_size, AWE_DIM)(inputs)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(AWE_DIM, activation="relu")(x)
    x = layers.Dropout(AWE_DROPOUT)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="average_word_embedding")


def _summed_rmsprop():
    """Keras' RMSprop at its defaults, applied to summed embedding gradients.

    Keras 3 applies an embedding's IndexedSlices gradient slice by slice, so a row repeated n
    times in a batch takes a sqrt(n)-times larger step; <PAD> fills ~8,000 of a batch's 8,192
    positions here, its row runs away and every ReLU unit dies (dev accuracy = majority class
    on SST-2, 4 of 4 seeds). tf.keras, which Model Maker runs on, sums duplicates first
    (`_deduplicate_sparse_grad`); densifying the gradient does the same."""
    import keras
    import tensorflow as tf

    class SummedRMSprop(keras.optimizers.RMSprop):
        def apply_gradients(self, grads_and_vars):
            return super().apply_gradients(
                [(tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g, v)
                 for g, v in grads_and_vars])

    return SummedRMSprop()


def avg_word_embedding(train_texts, train_labels, test_texts, num_classes: int,
                       seed: int = 0, epochs: int = AWE_EPOCHS, seq_len: int = AWE_SEQ_LEN) -> dict:
    """Model Maker's average-word-embedding classifier at its defaults, trained on all of train.

    `epochs` and `seq_len` are Model Maker options too (its hparams and model options); the
    benchmark keeps the defaults. With them, learning starts only after some 10,000 steps on
    SST-2 (the pads dilute the words 1:25), so on a small set such as the 1,056 assistant
    intents, 330 steps leave it at the majority class.

    Seeds Python, NumPy and TensorFlow (`keras.utils.set_random_seed`) and turns on TensorFlow's
    op determinism (process-wide, as `pipeline.train` does) so a seed gives the same model.
    Returns predictions, `count_params()`, seconds spent, and the vocabulary size.
    """
    import keras  # the package __init__ has set KERAS_BACKEND
    import tensorflow as tf

    started = time.time()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    vocab = awe_vocabulary(train_texts)
    x = awe_encode(train_texts, vocab, seq_len)
    y = np.asarray(train_labels, dtype=np.int32)
    order = np.random.default_rng(seed).permutation(len(y))  # the loader's one shuffle
    usable = len(y) - len(y) % AWE_BATCH if len(y) >= AWE_BATCH else len(y)  # drop_remainder
    x, y = x[order][:usable], y[order][:usable]
    model = build_awe_model(len(vocab), num_classes, seq_len)
    model.compile(optimizer=_summed_rmsprop(), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=AWE_BATCH, epochs=epochs, shuffle=False, verbose=0)
    train_seconds = time.time() - started
    probs = model.predict(awe_encode(test_texts, vocab, seq_len), batch_size=256, verbose=0)
    return {"predictions": np.argmax(probs, -1).astype(np.int64),
            "params": int(model.count_params()),
            "train_seconds": round(train_seconds, 1),
            "details": {"vocabulary": len(vocab), "epochs": epochs, "batch_size": AWE_BATCH,
                        "seq_len": seq_len, "optimizer": "rmsprop"}}
