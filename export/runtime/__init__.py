"""Inference on exported `.tflite` files without TensorFlow: a TFLite runtime and numpy only.

    from export.runtime import Classifier, Recommender
    Classifier("runs/intents/export/fp32.tflite").classify(["set a timer"], top_k=3)
    # [[("set_timer", 0.97), ("set_alarm", 0.01), ("reminder", 0.004)]]
    Recommender("runs/movielens/export/fp32.tflite").recommend([1, 260, 1196])
    # [{"movie_id": ..., "title": ..., "genres": ..., "score": ...}, ...]  (ten)

Modules: `classifier` and `recommender` (the two kinds of exported file), `wordpiece` (the
tokenizer, keras-hub's exact ids), `postprocess` (top-k, the recommender's left-padded input
and its exclusions: the rules app ports reproduce), `model` (a file's runner and packed
files). Nothing here imports TensorFlow or Keras: `python -m export.predict` runs in a venv
holding only `ai-edge-litert` (or `tflite-runtime` 2.14 with numpy<2) and numpy. Bad input is
`export.contract.UserError`, one line naming the file.
"""

from export.runtime.classifier import Classifier
from export.runtime.recommender import Recommender

__all__ = ["Classifier", "Recommender"]
