"""`python -m export.golden`: (re)write an export folder's golden vectors for app ports.

    python -m export.golden runs/intents/export          # writes runs/intents/export/golden.json
    python -m export.golden --rules_to=/tmp/rules.json   # model-free recommendation rules only

export.convert writes golden.json itself; this rewrites it (another `--seed`, or after a file
changed). The work and the file's layout: `export.app.golden` (`write_golden`,
`write_rules_golden`). Bad input (no export folder, no manifest, no fp32 file, a changed file)
is one `error:` line, exit code 2.
"""

from absl import flags

from export.app import golden
from export.contract import UserError
from pipeline import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defined when run as a command only (importing this module defines nothing)."""
    flags.DEFINE_integer("seed", 0, "Seeds the choice of evaluation texts and hard cases.")
    flags.DEFINE_string("rules_to", None, "Instead: write the model-free recommendation rules "
                        "golden file (synthetic scores with ties) to this path.")


def main(argv):
    if FLAGS.rules_to:
        if len(argv) != 1:
            raise UserError("--rules_to writes the model-free rules file; give no export folder")
        path = golden.write_rules_golden(FLAGS.rules_to, seed=FLAGS.seed)
        print(f"wrote {path}: recommendation rules on synthetic scores")
        return
    if len(argv) != 2:
        raise UserError("usage: python -m export.golden <export dir> (a folder written by "
                        "python -m export.convert)")
    path = golden.write_golden(argv[1], seed=FLAGS.seed)
    print(f"wrote {path}: {golden.describe(path)}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
