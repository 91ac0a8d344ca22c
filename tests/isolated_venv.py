"""Isolated virtual environments for tests that must run a consumer without TensorFlow.

Some consumers of our `.tflite` files cannot share an environment with TensorFlow 2.21
(`tflite-support` 0.4.4 needs numpy<2 and protobuf<4; `mediapipe` 0.10.21 needs protobuf<5),
and `export.predict` must be shown to work with nothing but a TFLite runtime and numpy. Each
test asks for a venv by its requirements; it is created once and cached:

    python = isolated_venv.python_with("litert-only", ["ai-edge-litert==2.3.*", "numpy"])
    subprocess.run([python, "-c", "..."], cwd=REPO, env=isolated_venv.env())

The cache lives in `$PIPELINE_TEST_VENVS` (default `~/.cache/pipeline-test-venvs`), one folder
per name and hash of the requirements, so changing a pin makes a new venv. Creation takes a
file lock (parallel test processes wait for one another) and is atomic: the venv is built in
a temporary folder and renamed only after every package installed. When PyPI cannot be
reached the test is skipped with the reason; any other install failure fails the test.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("PIPELINE_TEST_VENVS",
                       os.path.join(os.path.expanduser("~"), ".cache", "pipeline-test-venvs"))
_OFFLINE_SIGNS = ("Could not find a version that satisfies", "Failed to establish a new connection",
                  "Temporary failure in name resolution", "No matching distribution found",
                  "Network is unreachable")


@contextlib.contextmanager
def _locked(path: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def python_with(name: str, requirements: list, timeout: float = 1800) -> str:
    """Path of the python of a cached venv holding exactly `requirements` (pip specifiers)."""
    key = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:12]
    folder = os.path.join(CACHE, f"{name}-{key}")
    python = os.path.join(folder, "bin", "python")
    with _locked(os.path.join(CACHE, f".{name}-{key}.lock")):
        if os.path.exists(os.path.join(folder, ".complete")):
            return python
        building = f"{folder}.building"
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", building], check=True, timeout=300)
        pip = [os.path.join(building, "bin", "python"), "-m", "pip", "install",
               "--disable-pip-version-check", "--quiet"]
        result = subprocess.run([*pip, *requirements], capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            tail = result.stderr.strip().splitlines()[-3:]
            if any(sign in result.stderr for sign in _OFFLINE_SIGNS):
                pytest.skip(f"cannot install {requirements} from PyPI here: {' '.join(tail)}")
            pytest.fail(f"pip install {requirements} failed: {' '.join(tail)}")
        with open(os.path.join(building, ".complete"), "w") as f:
            f.write("\n".join(requirements) + "\n")
        os.replace(building, folder)
    # A venv's scripts hard-code its path; the interpreter itself moves fine, and we only
    # ever call `bin/python -m ...`.
    return python


def env(**extra) -> dict:
    """Environment for a venv child: the repository importable, no inherited PYTHONPATH."""
    out = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out["PYTHONPATH"] = REPO
    out.update(extra)
    return out
