"""The workdir contract: `config.json` written once then only matched, and the one way to read
a workdir back (its config, its required files, its `.keras` models) with one-line errors."""

import contextlib
import json
import os
import zipfile

import ml_collections

from export import contract
from pipeline.errors import UserError


def _nearest_existing(path: str) -> tuple:
    """(the nearest folder above `path` that exists, the missing folders below it, deepest
    first)."""
    missing, current = [], os.path.abspath(path)
    while not os.path.exists(current):
        missing.append(current)
        current = os.path.dirname(current)
    return current, missing


def _read_only(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_workdir(workdir: str, config=None) -> None:
    """Refuses, before any data is read or anything trained, a --workdir that cannot be written
    or (given `config`) holds a run of another config. Nothing is left behind: a missing
    workdir is created to prove it can be, then removed (the task creates it for good)."""
    if not workdir:
        raise UserError("--workdir is required (the output folder)")
    flag = f"--workdir={workdir}"
    existing, missing = _nearest_existing(workdir)
    if not os.path.isdir(existing):
        if not missing:
            raise UserError(f"{flag}: not a folder (a file of that name exists)")
        raise UserError(f"{flag}: cannot create it ({existing} is a file, not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "a read-only file system" if _read_only(existing) else "no permission to write"
        raise UserError(f"{flag}: not writable ({existing}: {reason}); use another --workdir")
    try:
        for folder in reversed(missing):
            os.mkdir(folder)
    except OSError as e:
        raise UserError(f"{flag}: cannot create it ({e.strerror})") from None
    finally:
        for folder in missing:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
    if config is not None:
        _check_same_config(os.path.join(workdir, "config.json"), config)


def _check_same_config(config_path: str, config) -> bool:
    """True when config.json exists and holds `config`; False when there is none; UserError when
    it holds another config or cannot be read."""
    if not os.path.exists(config_path):
        return False
    try:
        with open(config_path, encoding="utf-8") as f:
            previous = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"{config_path}: unreadable ({e}); use a new --workdir") from None
    if not _same_up_to_new_defaults(previous, json.loads(config.to_json_best_effort()), config):
        raise UserError(f"{config_path}: this workdir was trained with a different config; "
                        "use a new --workdir (or delete this one) to start over")
    return True


def _same_up_to_new_defaults(previous: dict, current: dict, config) -> bool:
    """Equal, or equal once the fields that `previous` lacks are removed from `current` and each
    of them holds its default: a workdir from before a field was added still resumes."""
    if previous == current:
        return True
    from pipeline import config_defaults

    old, new = config_defaults.leaves(previous), config_defaults.leaves(current)
    added = set(new) - set(old)
    if not added or set(old) - set(new) or any(old[k] != new[k] for k in old):
        return False
    try:
        defaults = config_defaults.leaves(
            config_defaults.task_config_module(config.task).default_config())
    except UserError:
        return False
    return all(k in defaults and defaults[k] == new[k] for k in added)


def write_config(workdir: str, config) -> None:
    """Writes config.json; refuses a workdir trained with a different config."""
    check_workdir(workdir)
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise UserError(f"--workdir={workdir}: cannot create it ({e.strerror})") from None
    config_path = os.path.join(workdir, "config.json")
    if not _check_same_config(config_path, config):
        contract.write_json_atomic(json.loads(config.to_json_best_effort()), config_path)


def _train_hint(workdir: str) -> str:
    return f"train first with python -m pipeline.train --workdir={workdir}"


def check_keras_archive(path: str) -> None:
    """A `.keras` file is a zip; Keras reports a truncated one as 'File not found'."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise UserError(f"{path}: truncated or corrupt, not a complete .keras zip archive ({e}); "
                        "retrain or restore it") from None
    if bad is not None:
        raise UserError(f"{path}: corrupt .keras archive (bad CRC in {bad}); retrain or restore it")
    if "config.json" not in names:
        raise UserError(f"{path}: not a Keras model archive (no config.json inside)")


def read_config(workdir: str) -> ml_collections.ConfigDict:
    """`<workdir>/config.json` as written by pipeline.train; UserError naming the file."""
    if not workdir:
        raise UserError("--workdir is required (a folder written by python -m pipeline.train)")
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise UserError(f"{workdir}: not a folder; --workdir is a folder written by "
                        "python -m pipeline.train")
    if not os.path.isdir(workdir):
        raise UserError(f"{workdir}: no such workdir; train first with python -m pipeline.train")
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found; {_train_hint(workdir)}")
    try:
        with open(path, encoding="utf-8") as f:
            config = ml_collections.ConfigDict(json.load(f))
        _ = (config.data, config.seed)  # fields every task has
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a pipeline.train config ({e})") from None
    return config


def require_files(workdir: str, names) -> None:
    for name in names:
        if not os.path.isfile(os.path.join(workdir, name)):
            raise UserError(f"{os.path.join(workdir, name)}: not found; {_train_hint(workdir)}")


def load_model(path: str):
    """The Keras model of a `.keras` file, with one line naming the file when it is bad."""
    check_keras_archive(path)
    from pipeline import training
    try:
        return training.load_model(path)
    except Exception as e:  # zip, h5 or deserialisation errors of a bad file
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise UserError(f"{path}: cannot load the model ({type(e).__name__}: {reason}); "
                        "is it complete? Retrain or restore it") from None
