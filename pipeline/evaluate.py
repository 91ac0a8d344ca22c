"""Recompute metrics.json from a workdir's saved model(s).

  python -m pipeline.evaluate --workdir=runs/intents      # + confusion_matrix.png
  python -m pipeline.evaluate --workdir=runs/movielens    # every seed's model + the baselines
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


def _require(workdir, names):
    for name in names:
        if not os.path.exists(os.path.join(workdir, name)):
            raise UserError(f"{os.path.join(workdir, name)}: not found; train first with "
                            "python -m pipeline.train --workdir=" + workdir)


def evaluate_next_item(config, workdir, started):
    from pipeline import ranking
    from pipeline.data import movielens
    from pipeline.models import sequential_recommender as rec

    seeds = [config.seed + i for i in range(config.recs.num_seeds)]
    _require(workdir, [f"next_item_seed{s}/model.keras" for s in seeds])
    split = movielens.protocol_split(movielens.load_interactions(config.data), config.recs)
    if list(movielens.read_items_file(os.path.join(workdir, "items.csv"))) != list(split.item_ids):
        raise UserError(f"{workdir}/items.csv: the data's catalogue differs from the one the "
                        "models were trained on; check --data_dir")
    scorers = {s: rec.scorer_like(training.load_model(
        os.path.join(workdir, f"next_item_seed{s}", "model.keras"))) for s in seeds}
    result = ranking.evaluate_and_report(scorers, split, config, workdir, started)
    print(ranking.format_table(result))
    print(f"wrote {workdir}/metrics.json")


def evaluate_text_classifier(config, workdir, started):
    from pipeline.stages import encode

    _require(workdir, ("vocab.txt", "labels.txt"))
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


def main(argv):
    del argv
    started = time.time()
    workdir = _WORKDIR.value
    if not workdir:
        raise UserError("--workdir is required")
    _require(workdir, ("config.json", "model.keras"))
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
        config = ml_collections.ConfigDict(json.load(f))
    if _DATA_DIR.value:
        config.data.dir = _DATA_DIR.value
    task = config.get("task", "text_classification")
    if task == "next_item":
        evaluate_next_item(config, workdir, started)
    else:
        evaluate_text_classifier(config, workdir, started)


if __name__ == "__main__":
    cli.run(main)
