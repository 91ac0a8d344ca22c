"""Recompute metrics.json from a workdir's saved model(s).

  python -m pipeline.evaluate --workdir=runs/intents      # + confusion_matrix.png
  python -m pipeline.evaluate --workdir=runs/movielens    # every seed's model + the baselines

From Python: `pipeline.evaluate.evaluate(workdir, data_dir=None)`.
"""

import os
import time

from absl import flags

import pipeline  # noqa: F401  (sets the Keras backend before keras is imported)
from pipeline import cli, tasks

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by pipeline.train.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Override the config's data.dir.")


def evaluate(workdir: str, data_dir: str | None = None) -> None:
    """Re-evaluates the workdir's model(s) with its own config and writes metrics.json."""
    from pipeline.workdir import read_config, require_files

    started = time.time()
    config = read_config(workdir)
    require_files(workdir, ("model.keras",))
    if data_dir:
        config.data.dir = data_dir
    task = tasks.get(config.get("task"), where=os.path.join(workdir, "config.json") + ": task")
    task.evaluate(config, workdir, started)


def main(argv):
    del argv
    evaluate(_WORKDIR.value, _DATA_DIR.value)


if __name__ == "__main__":
    cli.run(main)
