"""Export a trained workdir's model to TFLite: fp32, fp16, int8 dynamic-range, full int8.

  python -m export.convert --workdir=runs/intents \\
      [--variants=fp32,fp16,int8_dynamic,int8_full] [--representative_examples=200]
  python -m export.convert --workdir=runs/movielens      # a next_item recommender, same flags
  python -m export.convert --workdir=runs/actions        # the action LM: fp32, fp16, int8_dynamic

Writes `<workdir>/export/` whole (export/conversion/export_folder.py): a `.tflite` per variant
(export/conversion/variants.py), the task's associated files, check_inputs.npz, golden.json
and manifest.json (export/contract.py), and prints one line per file: size and parity with the
Keras model on the evaluation split. What differs between tasks (signature, files, parity) is
the task's export spec (pipeline/tasks/<task>/export_spec.py). Exit 2 names the problem when
the workdir or a flag is bad, or when a variant fails (the others are still written).
From Python: `export.conversion.export_folder.export_workdir(workdir, variants, ...)`.
"""

from __future__ import annotations

from absl import flags

from export.contract import VARIANTS, UserError  # noqa: F401 (VARIANTS: the flag's help)
from pipeline import cli


def _quiet_tensorflow() -> None:
    """Keeps the SavedModel/converter chatter off the console (errors still show)."""
    import logging
    import warnings

    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "A workdir written by pipeline.train.")
    flags.DEFINE_list("variants", None,
                      f"Which files to write, any of {', '.join(VARIANTS)} (default: every "
                      "variant of the workdir's task; the action task has no int8_full).")
    flags.DEFINE_integer(
        "representative_examples", 200,
        "Train examples (a seeded sample) that calibrate the int8_full activation ranges "
        "(1 to 100000).")
    flags.DEFINE_string("data_dir", None, "Override the config's data.dir.")


def main(argv):
    del argv
    _quiet_tensorflow()
    import pipeline  # noqa: F401  (sets the Keras backend before keras is imported)
    from export.conversion.export_folder import export_workdir

    FLAGS = flags.FLAGS
    outcome = export_workdir(FLAGS.workdir, FLAGS.variants, FLAGS.representative_examples,
                             FLAGS.data_dir)
    if outcome["removed"]:
        print(f"removed stale files: {', '.join(outcome['removed'])}")
    if outcome["failed"]:
        which = "; ".join(f"{v}: {why}" for v, why in outcome["failed"].items())
        raise UserError(f"{outcome['export_dir']}: {len(outcome['failed'])} variant(s) failed "
                        f"and were not written ({which[:500]}); the other files and "
                        "manifest.json are complete")
    print(f"wrote {outcome['export_dir']}/manifest.json")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
