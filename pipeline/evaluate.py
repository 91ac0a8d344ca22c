"""Recompute metrics.json from a workdir's saved model(s).

  python -m pipeline.evaluate --workdir=runs/intents      # + confusion_matrix.png
  python -m pipeline.evaluate --workdir=runs/movielens    # every seed's model + the baselines

From Python: `pipeline.evaluate.evaluate(workdir, data_dir=None)`.
"""

import os
import time

from absl import flags

import pipeline  # noqa: F401  (sets the Keras backend before keras is imported)
from pipeline import cli, config_defaults, data, tasks
from pipeline.errors import UserError
from pipeline.workdir import check_keras_archive, read_config, require_files

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by pipeline.train.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Override the config's data.dir.")


def _check_ranges(config, config_path: str) -> None:
    """Every value of config.json within its field's range. Only ranges: a workdir written before
    a field was added or removed is still evaluated."""
    module = config_defaults.task_config_module(config.get("task") or tasks.DEFAULT)
    rules = {**config_defaults.RULES, **module.RULES}
    for path, value in config_defaults.leaves(config).items():
        if path in rules and not rules[path].ok(value):
            raise UserError(f"{config_path}: {path}={value!r} must be {rules[path].text} "
                            "(was the file edited?); retrain or restore it")


def check(workdir: str, data_dir: str | None = None):
    """What can be refused before TensorFlow loads: the workdir's config (its ranges too: it may
    have been edited), its files, the model archive, the data. Returns (task, config)."""
    config = read_config(workdir)
    config_path = os.path.join(workdir, "config.json")
    task = tasks.get(config.get("task"), where=config_path + ": task")
    _check_ranges(config, config_path)
    require_files(workdir, ("model.keras", *task.workdir_files))
    check_keras_archive(os.path.join(workdir, "model.keras"))
    if data_dir:
        config.data.dir = data_dir
    data.preload(config)  # read once: the task gets the same result
    return task, config


def evaluate(workdir: str, data_dir: str | None = None) -> None:
    """Re-evaluates the workdir's model(s) with its own config and writes metrics.json."""
    started = time.time()
    task, config = check(workdir, data_dir)
    task.evaluate(config, workdir, started)


def main(argv):
    del argv
    evaluate(_WORKDIR.value, _DATA_DIR.value)


if __name__ == "__main__":
    cli.run(main, takes_arguments=False)
