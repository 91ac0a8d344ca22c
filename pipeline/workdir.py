"""The workdir contract: `config.json` written once then only matched, and the one way to read
a workdir back (its config, its required files, its `.keras` models) with one-line errors."""

import json
import os
import zipfile

import ml_collections

from export import contract
from pipeline.errors import UserError


def write_config(workdir: str, config) -> None:
    """Writes config.json; refuses a workdir trained with a different config."""
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise UserError(f"--workdir={workdir}: cannot create it ({e.strerror})") from None
    if not os.path.isdir(workdir) or not os.access(workdir, os.W_OK):
        raise UserError(f"--workdir={workdir}: not a writable folder")
    config_path = os.path.join(workdir, "config.json")
    resolved = json.loads(config.to_json_best_effort())
    if os.path.exists(config_path):
        try:
            with open(config_path, encoding="utf-8") as f:
                previous = json.load(f)
        except (OSError, ValueError) as e:
            raise UserError(f"{config_path}: unreadable ({e}); use a new --workdir") from None
        if previous != resolved:
            raise UserError(f"{config_path}: this workdir was trained with a different config; "
                            "use a new --workdir (or delete this one) to start over")
        return
    contract.write_json_atomic(resolved, config_path)


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
