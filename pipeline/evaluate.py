"""Recompute metrics.json (and confusion_matrix.png) from a workdir's saved model.

  python -m pipeline.evaluate --workdir=runs/intents
"""

import json
import os
import time

import pipeline  # noqa: F401  (sets the Keras backend before keras is imported)
import ml_collections
from absl import flags

from pipeline import cli, metrics, tokenizer, training
from pipeline.data import load_text_dataset
from pipeline.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by pipeline.train.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Override the config's data.dir.")


def main(argv):
    del argv
    started = time.time()
    from pipeline.stages import encode

    workdir = _WORKDIR.value
    if not workdir:
        raise UserError("--workdir is required")
    for name in ("config.json", "vocab.txt", "labels.txt", "model.keras"):
        if not os.path.exists(os.path.join(workdir, name)):
            raise UserError(f"{os.path.join(workdir, name)}: not found; train first with "
                            "python -m pipeline.train --workdir=" + workdir)
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
        config = ml_collections.ConfigDict(json.load(f))
    if _DATA_DIR.value:
        config.data.dir = _DATA_DIR.value
    dataset = load_text_dataset(config.data, config.seed)
    labels = tokenizer.read_vocabulary(os.path.join(workdir, "labels.txt"))
    if labels != dataset.label_names:
        raise UserError(f"{workdir}/labels.txt: labels differ from the dataset's {dataset.label_names}")
    preprocessor = tokenizer.make_preprocessor(
        tokenizer.make_tokenizer(os.path.join(workdir, "vocab.txt")), config.tokenizer.sequence_length)
    model = training.load_model(os.path.join(workdir, "model.keras"))
    result = metrics.evaluate_and_report(model, encode(preprocessor, dataset.test.texts),
                                 dataset.test.labels, labels, workdir, started)
    print(f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
          f"on {result['num_examples']} examples; wrote {workdir}/metrics.json")


if __name__ == "__main__":
    cli.run(main)
