"""The harness of the bad-input and fault matrix (tests/test_reliability_*.py).

Every case runs one command the way a user would and asserts the project's promise:

* a user mistake: exit 2 and exactly one `error:` line (naming the file or flag when given);
* a failing check: exit 1;
* never a traceback, and nothing that existed changed or half-written (`Snapshot`).

    snap = Snapshot(workdir)
    result = run_command("export.convert", f"--workdir={workdir}", "--variants=int4")
    expect_user_error(result, "int4")
    snap.assert_unchanged()
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_command(*args, timeout: float = 600, env=None, cwd=REPO, preexec_fn=None,
                stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """`python -m <args>` from the repository root, output captured, no stdin."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=full_env, preexec_fn=preexec_fn,
                          stdin=stdin, errors="replace")


def _error_lines(result) -> list:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def expect_user_error(result, *needles) -> str:
    """Exit 2, exactly one `error:` line containing each needle, no traceback; the line."""
    tail = result.stderr[-3000:]
    assert "Traceback" not in result.stderr, tail
    assert result.returncode == 2, f"exit {result.returncode}: {tail}"
    lines = _error_lines(result)
    assert len(lines) == 1, tail
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def expect_check_failure(result, *needles) -> None:
    """Exit 1 (a failing check), no traceback, each needle in the output."""
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out[-3000:]
    assert result.returncode == 1, f"exit {result.returncode}: {out[-3000:]}"
    for needle in needles:
        assert needle in out, out[-3000:]


def expect_success(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stderr[-3000:]


def tree_digest(folder) -> dict:
    """{relative path: sha256} of every file under `folder` (empty when it does not exist)."""
    digests = {}
    folder = os.fspath(folder)
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return digests


class Snapshot:
    """What a folder held before a command: `assert_unchanged()` after it (lock files and
    files named in `ignore` aside)."""

    def __init__(self, folder, ignore=(".manifest.lock",)):
        self.folder, self.ignore = folder, set(ignore)
        self.before = self._digest()

    def _digest(self) -> dict:
        return {k: v for k, v in tree_digest(self.folder).items()
                if os.path.basename(k) not in self.ignore}

    def assert_unchanged(self) -> None:
        after = self._digest()
        changed = sorted(k for k in set(self.before) | set(after)
                         if self.before.get(k) != after.get(k))
        assert not changed, f"changed under {self.folder}: {changed[:10]}"
