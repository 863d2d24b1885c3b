"""swarmlab's own folders: where they are, who may own them, and what may be removed.

::

    $SWARMLAB_HOME (else ~/.swarmlab)          mode 0700, owned by this user, not a symlink
    └── labs/<provider>/<lab>/                  one folder per lab and provider (mode 0700)
        ├── tls/ca.pem, ca-key.pem, ...         a TLS lab's CA and keys (mode 0600)
        └── <machine>/docker.sock               a dind machine's engine socket
    └── labs/<provider>-u<uid>/<lab>/           root's folder for user <uid>'s lab (its lock
                                                while root removes it), never root's own lab's
    └── gc/.lock, gc/pid                        held by the running ``swarmlab gc``

Every folder is checked before anything found in it is trusted (a CA, a key, a socket): a
symlink, a folder owned by someone else or writable by group or others is refused with
:class:`~swarmlab.InsecurePath`, which says what to fix. Nothing is ever removed outside a
lab's own folder: :func:`remove_inside` resolves the path and refuses anything else.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ._errors import InsecurePath, InvalidArgument, WaitTimeout
from ._wait import until

#: A name that may become one part of a path: what swarmlab's own names allow (no '/', no
#: '..', no leading '-', no newline), matched against the whole string.
_PART_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_path_part(value: object, what: str) -> str:
    """``value`` if it is safe as one folder name; else :class:`InvalidArgument`."""
    if not isinstance(value, str) or not _PART_RE.fullmatch(value) or ".." in value:
        raise InvalidArgument(f"{what} {value!r} cannot name a folder: use letters, digits, '-', '_' and '.'")
    return value


def home_path() -> Path:
    """Where swarmlab's home folder is (``$SWARMLAB_HOME``, else ``~/.swarmlab``), absolute,
    neither made nor checked: for showing a path, never for trusting one (see :func:`home`)."""
    path = Path(os.environ.get("SWARMLAB_HOME") or Path.home() / ".swarmlab")
    return Path(os.path.abspath(path))  # absolute, symlinks NOT resolved: a symlink is refused


def home(create: bool = True) -> Path:
    """``$SWARMLAB_HOME``, else ``~/.swarmlab``: made mode 0700 when missing, checked always."""
    path = home_path()
    if create and not os.path.lexists(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it just now
            os.mkdir(path, 0o700)
    if os.path.lexists(path):
        check_private_dir(path, "swarmlab's home folder (SWARMLAB_HOME)")
    return path


def lab_dir(provider: str, lab: str, create: bool = True) -> Path:
    """The folder of lab ``lab`` on provider ``provider``: each provider keeps its own, so a
    lab of the same name on another provider never shares a CA or a socket."""
    check_path_part(provider, "provider name")
    check_path_part(lab, "lab name")
    root = home(create)
    path = root / "labs" / provider / lab
    for part in (root / "labs", root / "labs" / provider, path):
        if create:
            make_private_dir(part)
        elif os.path.lexists(part):
            check_private_dir(part, f"folder {part}")
    return path


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (one level) mode 0700 unless it exists; check it either way."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    check_private_dir(path, f"folder {path}")
    return path


def check_private_dir(path: Path, what: str) -> None:
    """Refuse a folder that is a symlink, not ours, or writable by group or others."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise InsecurePath(f"{what} {path} does not exist") from None
    fix = f"remove it (rm -r {path}) and let swarmlab make it again, or set SWARMLAB_HOME to a folder of your own"
    if stat.S_ISLNK(st.st_mode):
        raise InsecurePath(f"{what} {path} is a symlink; swarmlab trusts only its own folders: {fix}")
    if not stat.S_ISDIR(st.st_mode):
        raise InsecurePath(f"{what} {path} is not a folder: {fix}")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise InsecurePath(f"{what} {path} belongs to another user (uid {st.st_uid}): {fix}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InsecurePath(
            f"{what} {path} can be written by other users (mode {stat.S_IMODE(st.st_mode):o}): "
            f"run 'chmod 700 {path}', or {fix}")


def check_private_file(path: Path, what: str) -> None:
    """Refuse a key or certificate file that is a symlink, not ours, or readable by others
    (for keys) / writable by others (for anything)."""
    st = os.lstat(path)
    fix = f"remove it (rm {path}) and let swarmlab make it again"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise InsecurePath(f"{what} {path} is not a plain file (a symlink?): {fix}")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise InsecurePath(f"{what} {path} belongs to another user (uid {st.st_uid}): {fix}")
    if st.st_mode & 0o077:
        raise InsecurePath(
            f"{what} {path} can be read or written by other users (mode {stat.S_IMODE(st.st_mode):o}): "
            f"run 'chmod 600 {path}', or {fix}")


def write_private(path: Path, data: bytes) -> None:
    """Write a private file (mode 0600) whole or not at all, never through a symlink: the data
    goes to a new temporary file (O_EXCL | O_NOFOLLOW) that then replaces ``path``."""
    check_private_dir(path.parent, f"folder {path.parent}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # replaces a symlink itself, never its target
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_inside(root: Path, path: Path) -> bool:
    """Remove ``path`` (a folder or file) only if it lies inside ``root``, both resolved;
    return whether something was removed. Raises :class:`InsecurePath` for anything else."""
    real_root = Path(os.path.realpath(root))
    # resolve the parent, not the leaf: a symlink leaf is removed as a link, never followed
    real = Path(os.path.realpath(path.parent)) / path.name
    if real != real_root and real_root not in real.parents:
        raise InsecurePath(f"refusing to remove {path}: it is outside swarmlab's folder {root}")
    if not os.path.lexists(real):
        return False
    if os.path.islink(real) or not os.path.isdir(real):
        os.unlink(real)
    else:
        shutil.rmtree(real)
    return True


def _open_lock(path: Path) -> int:
    """The lock file, opened (made 0600 when missing, never through a symlink)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as e:  # a symlink (ELOOP), a folder, ...
        raise InsecurePath(f"cannot use the lock file {path} ({e.strerror}): remove it (rm -r {path}) "
                           f"and let swarmlab make it again") from None


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on the open file ``fd`` if it is free now (``flock``; on
    Windows ``msvcrt.locking`` of its first byte)."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _unlock(fd: int) -> None:
    """Let go of the lock on ``fd``, then close it (closing alone releases a ``flock``)."""
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(folder: Callable[[], Path], what: str, timeout: float | None) -> Iterator[None]:
    """Hold an exclusive lock on ``.lock`` in the folder ``folder()`` makes (and checks), so
    that one process at a time changes what the folder stands for (a lab's machines, a lab's
    certificates): another process, or another thread with its own lock, waits up to
    ``timeout`` seconds (None: as long as it takes), then gets :class:`~swarmlab.WaitTimeout`
    saying who holds it. The lock goes when its holder ends, however it ends. A folder
    removed while we waited (a lab destroyed) is made again and locked anew. A lock file
    that cannot be opened (a symlink, a folder) is refused with :class:`~swarmlab.InsecurePath`.
    This is swarmlab's one file lock."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        path = folder() / ".lock"
        fd = _open_lock(path)
        try:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not until(functools.partial(_try_lock, fd), left, 0.05):
                raise WaitTimeout(
                    f"another program is changing {what} right now and did not finish "
                    f"within {timeout:.0f}s (it holds {path}): wait for it to finish (a "
                    f"notebook still running a cell?), then run this again",
                    last_state=f"{path} locked")
            try:  # still the file at that path? (not removed, with its folder, meanwhile)
                same = os.lstat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        _unlock(fd)
    try:
        yield
    finally:
        _unlock(fd)  # releases the lock
