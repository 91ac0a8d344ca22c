"""Train a model from a config file: data -> vocabulary -> stages -> metrics.

  python -m pipeline.train --config=configs/assistant_intents.py --workdir=runs/intents \\
      [--config.train.epochs=3 ...]
  python -m pipeline.train --config=configs/movielens.py --workdir=runs/movielens

`config.task` names the task (pipeline/tasks/: the registry), which does the training; each
stage is resumable. Run the same command again after an interruption and it resumes from the
last checkpoint. From Python: `pipeline.train.train(config, workdir)`.
"""

import time

from absl import flags
from ml_collections import config_flags

import pipeline  # noqa: F401  (sets the Keras backend before keras is imported)
from pipeline import cli, tasks
from pipeline.config_defaults import describe_fields
from pipeline.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None,
    "Task config file (configs/*.py); override any field with --config.<field>=<value>.\n"
    "Fields, with the defaults that task files start from (comments say what they do):\n"
    + describe_fields(), lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder; rerun with the same one to resume.")


def check(config, workdir: str):
    """Everything that can be refused before TensorFlow loads (about 10 s saved per mistake):
    the config's ranges, the workdir, the data. Returns the task."""
    from pipeline import data
    from pipeline.workdir import check_workdir

    if not workdir:
        raise UserError("--workdir is required (the output folder)")
    task = tasks.get(config.task)
    task.validate_config(config)
    check_workdir(workdir, config)
    data.preload(config)  # read once: the task gets the same result
    return task


def train(config, workdir: str) -> None:
    """Trains `config`'s task into `workdir` (resuming what an earlier run left there)."""
    task = check(config, workdir)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()  # same config + data -> same metrics
    task.train(config, workdir, time.time())


def main(argv):
    del argv
    train(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main, takes_arguments=False)
