"""Durable files: the one atomic writer (temporary file beside the target, fsync, rename,
fsync of the folder), cleanup of dead writers' temp files, and folders swapped in whole."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import hashlib
import json
import os
import shutil
from collections.abc import Iterator

from export.contract import UserError

_TEMP_GLOB = ".*.tmp-*"

# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------
def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def temp_path(path: str) -> str:
    """The temporary name beside `path` that a writer uses (cleaned by `remove_stale_temp`)."""
    return os.path.join(os.path.dirname(os.path.abspath(path)),
                        f".{os.path.basename(path)}.tmp-{os.getpid()}")


def fsync_path(path: str) -> None:
    """fsync of a file or folder by name (a folder's fsync makes renames in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot open a folder for fsync
        fsync_path(folder)


def replace_atomic(tmp: str, path: str) -> None:
    """Renames a finished temporary file over `path` and makes the rename durable."""
    os.replace(tmp, path)
    fsync_folder(os.path.dirname(os.path.abspath(path)))


def _writer_pid(name: str) -> int | None:
    """The pid that ends a temporary name, `.<name>.tmp-<pid>[<ext>]` or `.<name>.old-<pid>`
    (None when there is none)."""
    digits = name.rsplit("-", 1)[-1].split(".", 1)[0]
    return int(digits) if "-" in name and digits.isdigit() else None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (another user's counts); our own pid counts as dead: we
    have not written anything under that name yet when this is asked."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return True


def remove_stale_temp(folder: str, pattern: str = _TEMP_GLOB) -> list:
    """Deletes the temporary files that killed writers left in `folder` (those of live
    processes are theirs to finish); returns their names."""
    removed = []
    for tmp in glob.glob(os.path.join(glob.escape(folder), pattern)):
        pid = _writer_pid(os.path.basename(tmp))
        if pid is not None and not pid_alive(pid) and os.path.isfile(tmp):
            remove(tmp)
            removed.append(os.path.basename(tmp))
    return removed


def check_output_file(path: str, flag: str, example: str) -> None:
    """UserError unless `path` (given as `flag`) names a file in an existing folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{flag}={path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise UserError(f"{flag}={path}: is a folder; give a file name, e.g. "
                        f"{os.path.join(path, example)}")


def cannot_write(path: str, error: OSError) -> UserError:
    """The one-line error of a write that the file system refused (full disk, read-only
    folder, a folder where a file should go)."""
    return UserError(f"{path}: cannot write it ({error.strerror or error}); nothing was "
                     "changed")


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path beside `path` for a writer that takes a file name (np.savez,
    model.save); on success fsyncs and renames it over `path`, on failure removes it (and
    re-raises: the command says why, see `cannot_write`). Temp files of dead writers of
    `path` go first."""
    if os.path.isdir(path):
        raise UserError(f"{path}: is a folder, cannot write a file there")
    tmp = temp_path(path)
    folder = os.path.dirname(tmp)
    remove_stale_temp(folder, f".{glob.escape(os.path.basename(path))}.tmp-*")
    name = os.path.basename(path)
    if "." in name.lstrip("."):  # writers such as np.savez and Keras insist on the suffix
        tmp += name[name.index(".", 1 if name.startswith(".") else 0):]  # ".weights.h5" whole
    try:
        yield tmp
        fsync_path(tmp)
        replace_atomic(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def write_bytes_atomic(data: bytes, path: str, mode: int = 0o644) -> None:
    """`path` holds `data` or what it held before, never a part: temp file, fsync, rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode & ~_umask())


def write_json_atomic(obj, path: str, compact: bool = False) -> None:
    """JSON written with `write_bytes_atomic`: indented, or compact (app assets)."""
    if compact:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(obj, indent=2, ensure_ascii=False)
    write_bytes_atomic((text + "\n").encode("utf-8"), path)


def copy_atomic(src: str, dst: str) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def require_writable(folder: str, what: str = "") -> None:
    """UserError (naming `what`, default the folder) unless a file can be created in
    `folder`, checked by creating one: root ignores permission bits, not a read-only mount."""
    probe = os.path.join(folder, f".write-probe.tmp-{os.getpid()}")
    try:
        with open(probe, "wb") as f:
            f.write(b"x")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise UserError(f"{what or folder}: cannot write in {folder} ({e.strerror or e})") \
            from None
    finally:
        with contextlib.suppress(OSError):  # never created on a read-only mount
            os.remove(probe)


# ---------------------------------------------------------------------------------------------
# Folders, swapped in whole
# ---------------------------------------------------------------------------------------------
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
_NO_EXCHANGE = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)


def _exchange(a: str, b: str) -> None:
    """Swaps the paths `a` and `b` in one step (Linux renameat2 RENAME_EXCHANGE); OSError
    where the libc, kernel or file system has no such call."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE):
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), a)


def swap_in(new: str, current: str, aside: str) -> str | None:
    """Puts the finished folder `new` at `current`; returns where the previous `current` now
    is (the caller removes it), or None when there was none. One atomic exchange where the
    file system can; else `current` is renamed to `aside` and `new` into place, so a kill in
    between leaves `current` absent, never half of it."""
    parent = os.path.dirname(os.path.abspath(current))
    if not os.path.lexists(current):
        os.replace(new, current)
        old = None
    else:
        try:
            _exchange(new, current)
            old = new
        except OSError as e:
            if e.errno not in _NO_EXCHANGE:
                raise
            os.replace(current, aside)
            os.replace(new, current)
            old = aside
    fsync_folder(parent)
    return old


def remove_dead_folders(parent: str, pattern: str) -> None:
    """Removes the folders `pattern` (e.g. `.export.tmp-*`, ending in a pid) under `parent`
    that processes no longer alive left behind (a staging folder, a set-aside old copy)."""
    for folder in glob.glob(os.path.join(glob.escape(parent), pattern)):
        pid = _writer_pid(os.path.basename(folder))
        if pid is not None and not pid_alive(pid) and os.path.isdir(folder):
            shutil.rmtree(folder, ignore_errors=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
