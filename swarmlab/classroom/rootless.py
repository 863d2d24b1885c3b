"""A rootless Docker engine of a user's own, started by root for a classroom: the user's
labs run in it, confined to that user's user namespace, and the user needs no access to this
computer's engine (not in the Docker socket's group), so is not root here through it.

``start(user)`` runs Debian's ``dockerd-rootless.sh`` (RootlessKit, slirp4netns) as the user,
with its socket at ``/run/user/UID/docker.sock`` (``DOCKER_HOST=unix:///run/user/UID/docker.sock``
for their kernels), and copies this computer's offline images into it. Machines made in such
an engine run their own dockerd with ``--rootless`` (:func:`swarmlab.providers.dind.engine.is_rootless`).
What it needs: the user's subordinate ids (``/etc/subuid``, ``/etc/subgid``: ``useradd`` adds
them), ``rootlesskit``, ``slirp4netns`` and ``uidmap`` (Debian packages), and ``/dev/net/tun``
usable by the user (granted with an ACL, ``setfacl``, from the ``acl`` package). On cgroup v1
(this kind of machine) a rootless engine cannot apply memory and CPU limits: the classroom's
limits then say so where machines are made, and are not applied.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import _peer
from .._errors import SwarmlabError
from .._wait import until

#: where Debian's docker.io keeps the script that starts a rootless dockerd
_SCRIPT_PLACES = ("/usr/share/docker.io/contrib/dockerd-rootless.sh", "/usr/bin/dockerd-rootless.sh")
#: how long ``start`` waits for the engine to answer
START_WAIT = 60.0
#: how big an engine's log grows before it is rotated (to ``engine-NAME.log.1``)
LOG_LIMIT = 4 * 1024 * 1024
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class RootlessError(SwarmlabError):
    """A user's rootless engine could not be started, or is missing what it needs."""


def socket_path(uid: int) -> Path:
    return Path(f"/run/user/{uid}/docker.sock")


def docker_host(uid: int) -> str:
    """What the user's kernels set ``DOCKER_HOST`` to."""
    return f"unix://{socket_path(uid)}"


def _user(name: str) -> pwd.struct_passwd:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise RootlessError(f"no user {name!r}") from None
    if pw.pw_uid < 1000:
        raise RootlessError(f"user {name!r} is a system account (uid {pw.pw_uid}): a rootless engine is for learners")
    return pw


def _subordinate(name: str, uid: int, table: str) -> bool:
    try:
        with open(table) as f:
            rows = [line.strip().split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return False
    return any(len(r) == 3 and r[0] in (name, str(uid)) and r[2].isdigit() and int(r[2]) >= 65536 for r in rows)


def missing() -> list[str]:
    """What this computer lacks for rootless engines, as the packages that bring it."""
    lacks = []
    for tool, package in (("rootlesskit", "rootlesskit"), ("slirp4netns", "slirp4netns"),
                          ("newuidmap", "uidmap"), ("setfacl", "acl"), ("dockerd", "docker.io")):
        if shutil.which(tool, path=_PATH) is None:
            lacks.append(package)
    if not any(os.access(p, os.X_OK) for p in _SCRIPT_PLACES):
        lacks.append("docker.io (its dockerd-rootless.sh)")
    return sorted(set(lacks))


def _private_run_dir(pw: pwd.struct_passwd) -> Path:
    """``/run/user/UID``: made when missing, the user's own and private, never a link."""
    top = Path("/run/user")
    top.mkdir(mode=0o755, exist_ok=True)
    path = top / str(pw.pw_uid)
    if not path.exists() and not path.is_symlink():
        path.mkdir(mode=0o700)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != pw.pw_uid or st.st_mode & 0o077:
        raise RootlessError(f"{path} is not a private folder of {pw.pw_name}'s: remove it and try again")
    return path


def answers(uid: int, deadline: float = 10.0) -> bool:
    """Whether the user's rootless engine answers at its socket within ``deadline`` seconds,
    through a connection the kernel says is served by that user (``SO_PEERCRED``: not a link
    to, or a socket of, anyone else's)."""
    return _peer.ping(str(socket_path(uid)), uid, deadline)


def client(uid: int, timeout: int = 60) -> Any:
    """A docker-py client of the user's rootless engine, each of whose connections is checked
    to be served by that user (:mod:`swarmlab._peer`); :class:`swarmlab._peer.WrongPeer` when
    it is not."""
    _peer.connect(str(socket_path(uid)), uid, timeout).close()
    return _peer.client(str(socket_path(uid)), uid, timeout)


def start(name: str, log_dir: Path, images: Sequence[str] = ()) -> str:
    """Start user ``name``'s rootless engine (as that user; left running if it answers) and
    copy ``images`` from this computer's engine into it; its ``DOCKER_HOST``."""
    if os.geteuid() != 0:
        raise RootlessError("starting a user's rootless engine needs root")
    lacks = missing()
    if lacks:
        raise RootlessError(f"rootless engines need {', '.join(lacks)}: apt-get install {' '.join(lacks)}")
    pw = _user(name)
    for table in ("/etc/subuid", "/etc/subgid"):
        if not _subordinate(name, pw.pw_uid, table):
            raise RootlessError(f"{name} has no subordinate ids in {table}: 'usermod --add-subuids 100000-165535 "
                                f"--add-subgids 100000-165535 {name}' gives 65536 (pick a range no one else has)")
    run_dir = _private_run_dir(pw)
    # the user's slirp4netns needs /dev/net/tun, which may be root's alone: given to them only
    done = subprocess.run(["setfacl", "-m", f"u:{pw.pw_uid}:rw", "/dev/net/tun"], capture_output=True, text=True,
                          timeout=30)
    if done.returncode != 0:
        raise RootlessError(f"could not let {name} use /dev/net/tun: {done.stderr.strip()[-200:]}")
    if not answers(pw.pw_uid):
        script = next(p for p in _SCRIPT_PLACES if os.access(p, os.X_OK))
        log_dir.mkdir(mode=0o700, exist_ok=True)
        log = _capped_log(log_dir / f"engine-{name}.log")
        proc = subprocess.Popen(
            ["runuser", "-u", name, "--", "env", "-i", f"HOME={pw.pw_dir}", f"USER={name}", f"PATH={_PATH}",
             f"XDG_RUNTIME_DIR={run_dir}", script],
            cwd=pw.pw_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        os.close(log)
        fd = os.open(log_dir / f"engine-{name}.pid", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(str(proc.pid))
        answered = [False]

        def up() -> bool:  # answers, or has ended
            answered[0] = answers(pw.pw_uid)
            return answered[0] or proc.poll() is not None

        if not until(up, START_WAIT, 0.3) or not answered[0]:
            tail = (log_dir / f"engine-{name}.log").read_text(errors="replace")[-1200:]
            stop(name, log_dir)
            raise RootlessError(f"{name}'s rootless engine did not start; its log ends:\n{tail}")
    _copy_images(pw.pw_uid, images)
    return docker_host(pw.pw_uid)


def _capped_log(path: Path) -> int:
    """The writing end of a pipe into ``path`` that keeps it under :data:`LOG_LIMIT` bytes
    (then ``path.1``: :mod:`swarmlab._logcap`, a process of its own that ends with the engine)."""
    read, write = os.pipe()
    try:
        subprocess.Popen([sys.executable, "-I", str(Path(__file__).resolve().parents[1] / "_logcap.py"), str(path),
                          str(LOG_LIMIT)], stdin=read, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    finally:
        os.close(read)
    return write


def _copy_images(uid: int, images: Sequence[str]) -> None:
    """``docker save | docker load``, from this computer's engine into the user's, for each
    image the user's engine lacks (by ID)."""
    import docker

    from .._engine import host_client

    if not images:
        return
    host = host_client()
    theirs = client(uid, timeout=600)
    try:
        for image in images:
            try:
                mine = host.images.get(image)
            except docker.errors.ImageNotFound:
                continue
            try:
                if theirs.images.get(image).id == mine.id:
                    continue
            except docker.errors.ImageNotFound:
                pass
            theirs.images.load(b"".join(host.api.get_image(image)))
    finally:
        theirs.close()
        host.close()


def revoke(uid: int) -> None:
    """Undo what ``start`` gave a user whose engine is stopped: their use of /dev/net/tun, and
    their ``/run/user/UID`` (when it is theirs, and no link)."""
    subprocess.run(["setfacl", "-x", f"u:{uid}", "/dev/net/tun"], capture_output=True, timeout=30)
    path = Path(f"/run/user/{uid}")
    with contextlib.suppress(OSError):
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid:
            shutil.rmtree(path)


def _processes() -> dict[int, tuple[int, str]]:
    """Every live process: its process group and its user namespace (from /proc)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            userns = os.readlink(f"/proc/{entry}/ns/user")
        except OSError:
            continue
        if fields[0] != "Z":
            found[int(entry)] = (int(fields[2]), userns)
    return found


def stop(name: str, log_dir: Path) -> bool:
    """Stop the engine ``start`` started for ``name``: its process group (runuser,
    RootlessKit, dockerd) asked to end, then every process left in its user namespace (the
    machines' processes, which dockerd's shims keep in groups of their own) killed. Whether
    one ran. A group is ours when every process in it is the user's, or the runuser that
    became the user."""
    pid_file = log_dir / f"engine-{name}.pid"
    try:
        pid = int(pid_file.read_text().strip())
        uid = pwd.getpwnam(name).pw_uid
    except (OSError, ValueError, KeyError):
        return False
    own_ns = os.readlink("/proc/self/ns/user")
    members = [p for p, (group, _) in _processes().items() if group == pid]

    def theirs(p: int) -> bool:
        try:
            st = os.stat(f"/proc/{p}")
            with open(f"/proc/{p}/cmdline", "rb") as f:
                first = f.read().split(b"\0")[0]
        except OSError:
            return True  # gone meanwhile
        return st.st_uid == uid or first.endswith(b"runuser")

    ran = bool(members) and all(theirs(p) for p in members)
    if not ran:
        pid_file.unlink(missing_ok=True)
        return False
    namespaces = {ns for p, (group, ns) in _processes().items() if group == pid and ns != own_ns}

    def left() -> list[int]:
        return [p for p, (group, ns) in _processes().items() if group == pid or ns in namespaces]

    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)  # dockerd stops its containers as it ends
    until(lambda: not any(g == pid for g, _ in _processes().values()), 30, 0.2)

    def killed() -> bool:
        for p in left():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, signal.SIGKILL)
        return not left()

    if left():
        until(killed, 15, 0.2)
    pid_file.unlink(missing_ok=True)
    return True


def candidates(owners: Sequence[str] | None = None) -> list[str]:
    """The user ids (of ``owners``; None: every user's) with a socket at
    ``/run/user/UID/docker.sock`` in a folder of their own: engines to try (whether one is
    served by that user is checked as it is used)."""
    found = []
    try:
        entries = sorted(os.listdir("/run/user"), key=lambda e: (len(e), e))
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or (owners is not None and entry not in owners):
            continue
        try:
            st = os.lstat(f"/run/user/{entry}")
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == int(entry) and os.path.lexists(socket_path(int(entry))):
            found.append(entry)
    return found


def engines(owners: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(user id, DOCKER_HOST) of each user's rootless engine that answers on this computer,
    for ``owners`` (None: every user's): what root's board and gc read besides this
    computer's engine. A socket counts only in the user's own ``/run/user/UID``, served by them."""
    return [(uid, docker_host(int(uid))) for uid in candidates(owners) if answers(int(uid))]


def clients(owners: Sequence[str] | None = None) -> list[tuple[str, Any]]:
    """This computer's engine (whose: ``""``), then, for root, each rootless engine of
    ``owners`` (whose: the user id it belongs to): every engine a classroom's labs may be on.
    A rootless engine is an API its user controls: what it reports is that user's word only,
    so only labs whose owner label is that user id count there."""
    from .._engine import host_client

    out: list[tuple[str, Any]] = [("", host_client())]
    if os.geteuid() == 0:
        for uid, _ in engines(owners):
            with contextlib.suppress(Exception):  # gone, or not the user's, since it answered
                out.append((uid, client(int(uid))))
    return out
