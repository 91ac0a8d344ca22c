"""Shared start-up for the absl entry points: flag errors and user errors as one line, exit 2."""

import sys

import ml_collections
from absl import app, flags

from pipeline.errors import UserError, exit_with


def _override_naming(argv, key):
    """The --config.a.b=... argument whose dotted path contains `key`."""
    for arg in argv[1:]:
        path = arg.split("=")[0]
        if path.startswith("--config.") and key in path[len("--config."):].split("."):
            return path
    return "--config"


def _check_config_loaded(argv):
    if "config" not in flags.FLAGS:
        return
    value = flags.FLAGS["config"].value
    if value is None:
        exit_with(UserError("--config is required, e.g. --config=configs/assistant_intents.py"))
    if not isinstance(value, ml_collections.ConfigDict):  # ml_collections defers load errors
        path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "--config")
        try:
            value.keys()
        except Exception as e:  # noqa: BLE001  (whatever the config file raised)
            reason = str(e).split("\n")[-1].strip()
        exit_with(UserError(f"{path}: could not load the config file ({reason})"))


def _parse_flags(argv):
    try:
        args = flags.FLAGS(argv)
    except flags.Error as e:  # wrong type, unknown flag
        exit_with(UserError(f"{e}"))
    except (AttributeError, KeyError) as e:  # --config.<unknown key>=...
        reason = str(e).replace("\\n", " ").replace("\n", " ").replace("\\'", "").strip("'\" ")
        key = reason.split("'")[0].split()[0] if reason else ""
        exit_with(UserError(f"{_override_naming(argv, key)}: unknown config key ({reason})"))
    _check_config_loaded(argv)
    return args


def run(main) -> None:
    """`app.run(main)` that turns flag mistakes and `UserError`s into one line and exit 2."""

    def guarded(argv):
        try:
            return main(argv)
        except UserError as e:
            exit_with(e)

    app.run(guarded, flags_parser=_parse_flags)
    sys.exit(0)
