"""What keeps a classroom's students from using the hub's root against the computer or each
other (:mod:`swarmlab.classroom.hub`):

- who listens on the hub's ports (``/proc/net/tcp``, ``tcp6``: a socket's inode, then the
  processes holding it in ``/proc/PID/fd``), so that a student's listener is never taken for
  the hub, nor handed the other students' passwords;
- a student's lessons copied by the student's own process, never by root in their home;
- a student's processes found by their user and groups (``/proc/PID/status``) and ended;
- the group ``swarmlab-students``, refused by sshd.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import signal
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .._errors import SwarmlabError
from .._wait import until

#: the group of every student of a classroom; sshd refuses it
STUDENTS_GROUP = "swarmlab-students"
#: where sshd reads extra settings (Debian's ``Include``); the file swarmlab writes there
SSHD_DIR = Path("/etc/ssh/sshd_config.d")
SSHD_FILE = "swarmlab-students.conf"
#: called with ``~/lessons`` once the student's copy ended (a test's seam; None otherwise)
after_copy: Callable[[Path], None] | None = None



class HubError(SwarmlabError):
    """The classroom hub could not be set up, started or stopped."""


_COPY = ("import shutil, sys\n"
         "shutil.copytree(sys.argv[1], sys.argv[2], "
         "ignore=shutil.ignore_patterns('.ipynb_checkpoints', '__pycache__'))\n")


def listeners(ports: Iterable[int]) -> list[tuple[int, int, int]]:
    """(port, uid of the socket, inode) of every TCP socket listening on one of ``ports``, on
    any address."""
    wanted = set(ports)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = list(f)[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            port = int(cols[1].rsplit(":", 1)[1], 16)
            if cols[3] == "0A" and port in wanted:
                found.append((port, int(cols[7]), int(cols[9])))
    return found


def _holders(inodes: set[int]) -> dict[int, list[int]]:
    """inode -> the pids holding that socket open."""
    held: dict[int, list[int]] = {i: [] for i in inodes}
    names = {f"socket:[{i}]": i for i in inodes}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    inode = names.get(os.readlink(f"/proc/{entry}/fd/{fd}"))
                    if inode is not None and int(entry) not in held[inode]:
                        held[inode].append(int(entry))
    return held


def _stat(pid: int) -> tuple[int, int]:
    """(parent pid, session id) of ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[3])


def _uid(pid: int) -> int:
    return os.stat(f"/proc/{pid}").st_uid


def _of_hub(pid: int, hub_pid: int) -> bool:
    """Whether ``pid`` runs as root in the hub's session, or descends from the hub (its proxy,
    which JupyterHub starts in a session of its own)."""
    try:
        if _uid(pid) != 0:
            return False
        parent, session = _stat(pid)
        for _ in range(64):
            if pid == hub_pid or session == hub_pid:
                return True
            if parent <= 1:
                return False
            pid = parent
            parent, session = _stat(pid)
    except OSError:
        return False
    return False


def strangers(ports: Iterable[int], hub_pid: int | None) -> list[tuple[int, int, int | None]]:
    """(port, uid, pid or None) of each listener on ``ports`` that is not the hub's (not held,
    by every process holding it, as root in the hub ``hub_pid``'s session or its children)."""
    found = listeners(ports)
    held = _holders({inode for _, _, inode in found})
    out: list[tuple[int, int, int | None]] = []
    for port, uid, inode in found:
        pids = held.get(inode, [])
        others = [p for p in pids if hub_pid is None or not _of_hub(p, hub_pid)]
        if not pids:
            out.append((port, uid, None))
        for p in others:
            with contextlib.suppress(OSError):
                uid = _uid(p)
            out.append((port, uid, p))
    return out


def held_by_hub(port: int, hub_pid: int) -> bool:
    """Whether ``port`` has a listener and every listener on it is the hub's."""
    return bool(listeners([port])) and not strangers([port], hub_pid)


def name_of(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def copy_lessons(source: Path, pw: pwd.struct_passwd, python: str) -> str | None:
    """Copy ``source`` to ``~/lessons`` as the student (their uid and group, no other group,
    a clean environment), unless ``~/lessons`` is there in any form; root touches nothing in
    their home. What went wrong, or None."""
    dest = Path(pw.pw_dir) / "lessons"
    if os.path.lexists(dest):
        return None
    try:
        done = subprocess.run([python, "-I", "-c", _COPY, str(source), str(dest)], user=pw.pw_uid,
                              group=pw.pw_gid, extra_groups=[], cwd="/", capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL,
                              env={"PATH": "/usr/bin:/bin", "HOME": pw.pw_dir, "LANG": "C.UTF-8"})
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"could not copy the lessons into {dest}: {e}"
    if after_copy is not None:
        after_copy(dest)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"could not copy the lessons into {dest}: {last[-200:]}"
    return None


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def processes(uid: int, gid: int | None = None, spare_group: int | None = None, own_ns: bool = False) -> list[int]:
    """Live processes whose real, effective or saved uid is ``uid`` (with ``gid`` given: only
    those that hold group ``gid``, as their group or a supplementary one), leaving out the
    process group ``spare_group`` (and with ``own_ns``, those in another user namespace: a
    rootless engine's machines)."""
    found = []
    ns = os.readlink("/proc/self/ns/user")
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            st = _status(int(entry))
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if fields[0] in "ZX" or uid not in {int(u) for u in st.get("Uid", "").split()[:3]}:
            continue
        if spare_group is not None and int(fields[2]) == spare_group:
            continue
        with contextlib.suppress(OSError):
            if own_ns and os.readlink(f"/proc/{entry}/ns/user") != ns:
                continue
        groups = {int(g) for g in st.get("Groups", "").split()} | {int(g) for g in st.get("Gid", "").split()[:3]}
        if gid is None or gid in groups:
            found.append(int(entry))
    return found


def end(find: Callable[[], list[int]], wait: float = 15.0) -> list[int]:
    """Kill what ``find`` returns until it returns nothing (a process that forks anew is
    caught on the next round); the pids killed."""
    killed: list[int] = []

    def none_left() -> bool:
        pids = find()
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
                killed.append(p)
        return not pids

    until(none_left, wait, 0.1)
    return killed


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


def _reload_sshd() -> None:
    """SIGHUP to the sshd named in /run/sshd.pid, when that is sshd."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(Path("/run/sshd.pid").read_text().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f.read().split(b"\0")[0].endswith(b"sshd") and _uid(pid) == 0:
                os.kill(pid, signal.SIGHUP)


def keep_out_of_ssh(names: Iterable[str]) -> str:
    """Put the students in ``swarmlab-students`` (made when missing) and, when sshd reads
    ``/etc/ssh/sshd_config.d``, tell it to refuse that group. Says what it did."""
    try:
        grp.getgrnam(STUDENTS_GROUP)
    except KeyError:
        done = _run("groupadd", "--system", STUDENTS_GROUP)
        if done.returncode != 0:
            return f"could not make the group {STUDENTS_GROUP}: {done.stderr.strip()[-200:]}"
    for name in names:
        if name not in grp.getgrnam(STUDENTS_GROUP).gr_mem:
            _run("usermod", "--append", "--groups", STUDENTS_GROUP, name)
    if not SSHD_DIR.is_dir():
        return f"the students are in the group {STUDENTS_GROUP} (no {SSHD_DIR}: no sshd setting written)"
    path = SSHD_DIR / SSHD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(f"# written by 'swarmlab class up'; 'swarmlab class down --remove-students' removes it\n"
                f"DenyGroups {STUDENTS_GROUP}\n")
    os.chown(path, 0, 0)
    _reload_sshd()
    return f"sshd refuses the students' logins (DenyGroups {STUDENTS_GROUP} in {path})"


def let_into_ssh() -> None:
    """Undo :func:`keep_out_of_ssh`: the sshd setting and the group (with whoever is in it)."""
    path = SSHD_DIR / SSHD_FILE
    if os.path.lexists(path):
        path.unlink()
        _reload_sshd()
    with contextlib.suppress(KeyError):
        grp.getgrnam(STUDENTS_GROUP)
        _run("groupdel", STUDENTS_GROUP)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def remove_student(hub: Path, name: str, made_uid: int | None, done: dict[str, Any]) -> None:
    """End the student's processes, then remove their labs, engine and account (with home)."""
    from . import rootless as rl

    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        uid = -1
    if uid == -1 or (made_uid is not None and uid != made_uid):
        raise HubError("no account of that name is the one 'class up' made (removed by hand?): its labs, "
                       f"processes and engine are left for 'swarmlab gc' and the teacher (uid {made_uid})")
    if uid < 1000 or uid == 65534:
        raise HubError(f"it is a system account now (uid {uid}): left alone")
    try:
        engine: int | None = int((hub / "engines" / f"engine-{name}.pid").read_text().strip())
    except (OSError, ValueError):
        engine = None
    end(lambda: processes(uid, spare_group=engine, own_ns=True))  # before their labs and engine go
    done["labs"] += remove_labs(str(uid))
    if rl.stop(name, hub / "engines"):  # their own engine: its labs go with it
        done["engines"] = [*done.get("engines", []), name]
    rl.revoke(uid)
    end(lambda: processes(uid))
    gone = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True, timeout=60)
    if not exists(name):
        done["removed"].append(name)
    if gone.returncode != 0:
        raise HubError(f"userdel --remove {name} failed (exit {gone.returncode}): "
                       f"{' '.join(gone.stderr.split())[-300:]}")


def remove_labs(uid: str) -> list[str]:
    """Every lab of user ``uid``, on this computer's engine and on their rootless one,
    destroyed as ``swarmlab gc`` does; their names."""
    from ..lab import Lab
    from .gc import idle_labs
    from .rootless import clients

    removed = []
    for _, client in clients([uid]):
        try:
            for x in idle_labs(client, 0, [uid]):
                Lab(x.lab, provider=x.provider, progress=False, owner_of=x.owner, host=client).destroy()
                removed.append(f"{x.lab} (user {uid})")
        finally:
            client.close()
    return removed
