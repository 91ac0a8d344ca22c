"""Shared start-up for the absl entry points: flag errors and user errors as one line, exit 2."""

import os
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


def _load_failure(error: BaseException, path: str) -> str:
    """Why loading the config file `path` failed, in one line: the original exception (which
    ml_collections wraps in a traceback's text) and the file's line it was raised at."""
    if str(error).startswith("Error whilst parsing config file") and error.__context__:
        error = error.__context__
    if isinstance(error, UserError):  # the config file's own message, e.g. a bad argument
        return str(error)
    if isinstance(error, AttributeError) and "attribute 'get_config'" in str(error):
        return "could not load the config file (it defines no get_config())"
    where = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
    tb = error.__traceback__
    while tb is not None:  # the innermost frame inside the config file
        if os.path.abspath(tb.tb_frame.f_code.co_filename) == os.path.abspath(path):
            where = tb.tb_lineno
        tb = tb.tb_next
    reason = f"{type(error).__name__}: {error}" + (f", line {where}" if where and
                                                   not isinstance(error, SyntaxError) else "")
    return f"could not load the config file ({reason})"


def _guard_config_file(flag) -> None:
    """Makes every failure of the --config file itself one UserError naming the file: missing,
    a syntax or import error, no get_config(), get_config() raising or returning no ConfigDict.
    (ml_collections lets some escape as tracebacks and defers others to the first access.)"""
    load = flag.parser.parse
    if getattr(load, "guarded", False):
        return

    def parse(argument):
        path = str(argument).split(":", 1)[0]
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such config file")
        try:
            config = load(argument)
        except Exception as e:
            raise UserError(f"{path}: {_load_failure(e, path)}") from None
        if not isinstance(config, ml_collections.ConfigDict):
            try:  # ml_collections' placeholder for a deferred IOError raises it on access
                config.keys()
            except OSError as e:
                raise UserError(f"{path}: {_load_failure(e.__cause__ or e, path)}") from None
            except Exception:
                pass
            raise UserError(f"{path}: get_config() returned {type(config).__name__}, "
                            "not a ConfigDict")
        return config

    parse.guarded = True
    flag.parser.parse = parse


def _parse_flags(argv):
    if "config" in flags.FLAGS and hasattr(flags.FLAGS["config"].parser, "parse"):
        _guard_config_file(flags.FLAGS["config"])
    try:
        args = flags.FLAGS(argv)
    except UserError as e:  # the config file itself
        exit_with(e)
    except flags.Error as e:  # wrong type, unknown flag
        exit_with(UserError(f"{e}"))
    except (AttributeError, KeyError) as e:  # --config.<unknown key>=...
        reason = str(e).replace("\\n", " ").replace("\n", " ").replace("\\'", "").strip("'\" ")
        key = reason.split("'")[0].split()[0] if reason else ""
        exit_with(UserError(f"{_override_naming(argv, key)}: unknown config key ({reason})"))
    if "config" in flags.FLAGS and flags.FLAGS["config"].value is None:
        exit_with(UserError("--config is required, e.g. --config=configs/assistant_intents.py"))
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
