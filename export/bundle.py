"""`python -m export.bundle`: fill an app's assets from an export folder, every file checked.

    python -m export.bundle --workdir=runs/intents --to android_demo/app/src/main/assets \\
        [--variants=fp32,int8_dynamic] [--name=classifier]

Copies the chosen variants (default: all), the task's files (vocabulary and labels, or the
items file), golden.json and the trimmed manifest into `<to>/<name>/`, swapped in only when
complete. The work and its rules: `export.app.bundle.bundle`. A missing or changed file, a
golden.json of another model, a `--to` that is not a folder or a `--name` that is not one
folder name is one `error:` line, exit code 2, and nothing is written.
"""

from absl import flags

from export.app import bundle
from pipeline import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defined when run as a command only (importing this module defines nothing)."""
    flags.DEFINE_string("workdir", None, "A workdir exported with python -m export.convert.")
    flags.DEFINE_string("to", None, "The app's assets folder, e.g. "
                        "android_demo/app/src/main/assets.")
    flags.DEFINE_list("variants", [], "Variants to ship (e.g. fp32,int8_dynamic); default: all.")
    flags.DEFINE_string("name", None, "Subfolder under --to (default: the task's, classifier "
                        "or recommender).")


def main(argv):
    del argv
    outcome = bundle.bundle(FLAGS.workdir, FLAGS.to, FLAGS.variants, FLAGS.name)
    print(f"bundled {len(outcome['files'])} files ({outcome['bytes'] / 1e6:.2f} MB) into "
          f"{outcome['dir']}: {', '.join(outcome['files'])}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
