"""Shared start-up for the absl entry points: flag errors and user errors as one line, exit 2.

Also one line, never a traceback: a full disk or a read-only file system met while writing
(exit 2, after any partial file is removed by its writer: the same command then resumes), and
Ctrl-C (exit 130).
"""

import errno
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
        if not path:
            raise UserError("--config is required, e.g. --config=configs/assistant_intents.py")
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


def _parse_flags(argv, takes_arguments=True):
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
    if not takes_arguments and len(args) > 1:  # e.g. `--config.train.epochs 3`: silently lost
        exit_with(UserError(f"unexpected argument {args[1]!r}: this command takes only flags, "
                            "--name=value (see --helpfull)"))
    return args


# Writes that fail because of the machine, not the program: one line, and the rerun resumes.
_DISK_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                errno.EFBIG: "file too large for the file system or the file-size limit",
                errno.EROFS: "read-only file system"}


def _disk_error(error: BaseException):
    """The OSError of a full disk (or similar) behind `error`, which libraries may wrap."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _DISK_ERRORS:
            return error
        error = error.__cause__ or error.__context__
    return None


def _disk_message(error: OSError) -> str:
    """Names the file when the error does, else the --workdir being written (a failed write()
    carries no file name)."""
    workdir = flags.FLAGS["workdir"].value if "workdir" in flags.FLAGS else None
    where = (f"{error.filename}: " if error.filename else
             f"--workdir={workdir}: " if workdir else "")
    return (f"{where}{error.strerror or _DISK_ERRORS[error.errno]} while writing; free space "
            "(or fix the folder) and run the same command again: it resumes from what was "
            "finished")


def _end_progress_line() -> None:
    """A progress bar leaves the terminal mid-line: the error line starts on its own."""
    sys.stdout.flush()
    if sys.stdout.isatty():
        sys.stdout.write("\n")
        sys.stdout.flush()


def run(main, takes_arguments: bool = True) -> None:
    """`app.run(main)` that turns flag mistakes and `UserError`s into one line and exit 2, a
    full disk into one line (exit 2) and Ctrl-C into one line (exit 130). `takes_arguments`:
    whether arguments other than flags are allowed (passed on to `main`)."""

    def guarded(argv):
        try:
            return main(argv)
        except UserError as e:
            exit_with(e)
        except KeyboardInterrupt:
            _end_progress_line()
            print("error: interrupted; run the same command again to resume from what was "
                  "finished (nothing half-written is left)", file=sys.stderr)
            sys.exit(130)
        except Exception as e:
            disk = _disk_error(e)
            if disk is None:
                raise
            _end_progress_line()
            exit_with(UserError(_disk_message(disk)))

    app.run(guarded, flags_parser=lambda argv: _parse_flags(argv, takes_arguments))
    sys.exit(0)
