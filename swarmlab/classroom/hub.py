"""A classroom on one server: a real JupyterHub on 127.0.0.1, one account per student, each
student's JupyterLab opening the lessons, each student's kernel making that student's labs.

``swarmlab class up --students alice,bob`` (as root) makes what is missing and starts the hub;
``swarmlab class down`` stops it (and with ``--remove-students`` removes the accounts it made);
``swarmlab class status`` is the teacher's board (:mod:`swarmlab.classroom.status`).

- Accounts: a system user per student (``useradd``), in the group of the Docker socket, so that
  their kernels reach this computer's engine; labs are told apart by their owner label, so two
  students' labs called ``tutorial`` never meet. Each gets a password, written for the
  teacher to ``hub/passwords`` (mode 0600), and a copy of the lessons in ``~/lessons``.
- The hub: ``jupyterhub`` with PAM logins (the accounts' passwords), the local process spawner
  and ``configurable-http-proxy`` (npm); it listens on 127.0.0.1 only (a teacher puts a TLS
  proxy in front to open it to a room). Its files live in ``$SWARMLAB_HOME/hub`` (root's,
  0700). A service token there (``teacher-token``) lets the teacher's tools use the hub's REST
  API: start and stop servers, read who is running.
- Trust: a student in the Docker socket's group is root on this computer, as the README's
  trust model says, so ``up`` asks for ``--rootless`` or ``--students-are-root``. Whatever
  the choice, root does nothing in a student's home (their lessons are copied by a process of
  theirs), the hub's ports are checked to be the hub's before and after it starts (a student's
  listener there would get every password), every student is in ``swarmlab-students``, which
  sshd is told to refuse (:mod:`swarmlab.classroom.hub_guard`).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _home
from .._errors import InvalidArgument
from .._wait import until
from . import hub_guard
from .hub_guard import HubError

#: names of accounts the hub makes: short, lower case, starting with a letter
_STUDENT_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
#: what ``up`` waits for the hub to answer
START_WAIT = 60.0
DEFAULT_PORT = 8000
SOCKET = "/var/run/docker.sock"
LESSONS = Path(__file__).resolve().parents[2] / "notebooks"
#: environment a student's server keeps from the hub's (swarmlab's own settings, nothing else)
_PASSED = ("SWARMLAB_OFFLINE", "SWARMLAB_ONLINE_PROBE", "SWARMLAB_NODE_IMAGE", "SWARMLAB_REGISTRY_MIRROR",
           "SWARMLAB_PROGRESS", "DOCKER_HOST")
#: called after the accounts are made, just before the hub starts (a test's seam; None otherwise)
before_start: Callable[[], None] | None = None
ROOT_CHOICE = ("students in the Docker socket's group are root on this computer: give --rootless (each student "
               "an engine of their own) or --students-are-root (say you accept it)")


@dataclass
class HubStatus:
    """What ``swarmlab class up`` made or found."""

    running: bool
    url: str
    folder: str
    students: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)  # accounts this call made
    pid: int | None = None
    students_are_root: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"running": self.running, "url": self.url, "folder": self.folder, "students": self.students,
                "made": self.made, "pid": self.pid, "students_are_root": self.students_are_root,
                "notes": self.notes}

    def text(self) -> str:
        if not self.running:
            return f"the classroom hub is not running ({self.folder})"
        lines = [f"the classroom hub runs at {self.url} (pid {self.pid}), on 127.0.0.1 only",
                 f"students: {', '.join(self.students) or 'none'}"
                 + (f" (accounts made now: {', '.join(self.made)})" if self.made else ""),
                 f"their passwords: {self.folder}/passwords (root only); each logs in at {self.url}/hub/login",
                 "the board: swarmlab class status"]
        if self.students_are_root:
            lines.insert(1, "these students are root on this computer: they are in the Docker socket's group")
        return "\n".join(lines + self.notes)


def folder(create: bool = True) -> Path:
    """``$SWARMLAB_HOME/hub``: the hub's configuration, database, secrets and log (0700)."""
    top = _home.home(create=create)
    path = top / "hub"
    if create and not path.exists():
        path.mkdir(mode=0o700)
    if path.exists():
        _home.check_private_dir(path, "the classroom hub's folder")
    return path


def check_student(name: object) -> str:
    if not isinstance(name, str) or not _STUDENT_RE.fullmatch(name) or name.endswith("-"):
        raise InvalidArgument(f"student name {name!r}: use lower-case letters, digits and '-', starting "
                              f"with a letter, at most 31 characters, e.g. 'alice'")
    return name


def _require_root() -> None:
    if os.geteuid() != 0:
        raise HubError("making student accounts and a hub for them needs root: run 'sudo swarmlab class up ...'")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _secret(path: Path) -> str:
    if not path.exists():
        _write_private(path, secrets.token_hex(32))
    value = path.read_text().strip()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise HubError(f"{path} is not a secret swarmlab wrote: remove it and run 'swarmlab class up' again")
    return value


def _made_uids(hub: Path) -> dict[str, int]:
    """name -> uid of the accounts a ``class up`` made, as written then ("name uid" lines)."""
    path = hub / "students-made"
    found = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        parts = line.split()
        if len(parts) == 2 and _STUDENT_RE.fullmatch(parts[0]) and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
    return found


def _ours(hub: Path) -> list[str]:
    """The accounts a ``class up`` made (so ``down --remove-students`` removes those only)."""
    path = hub / "students-made"
    if not path.exists():
        return []
    return [n for n in path.read_text().split() if _STUDENT_RE.fullmatch(n)]


def students_python() -> tuple[str, str]:
    """(python, PYTHONPATH) a student's server runs: this Python when every user may run it,
    else the system's Python of this version with this environment's packages on its path
    (a Python under /root, as pyenv's, is root's alone)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    paths = [str(Path(__file__).resolve().parents[2]), sysconfig.get_paths()["purelib"],
             sysconfig.get_paths()["platlib"]]
    for candidate in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        if _everyone_may_run(Path(candidate)):
            return candidate, os.pathsep.join(dict.fromkeys(paths))
    raise HubError(f"no Python {version} every user may run: students' servers cannot start. Install "
                   f"python{version} (apt-get install python{version}) or swarmlab in an environment "
                   f"outside /root")


def _everyone_may_run(path: Path) -> bool:
    try:
        real = path.resolve(strict=True)
    except OSError:
        return False
    if not real.is_file() or not os.stat(real).st_mode & 0o001:
        return False
    return all(os.stat(p).st_mode & 0o001 for p in real.parents)


def _config(hub: Path, port: int, students: list[str], python: str, pythonpath: str, rootless: bool) -> str:
    env = {k: os.environ[k] for k in _PASSED if os.environ.get(k)}
    env["PYTHONPATH"] = pythonpath
    spawn_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", **env}
    if rootless:
        spawn_env.pop("DOCKER_HOST", None)
    return "\n".join([
        "import pwd",
        "# written by 'swarmlab class up': run again to change it",
        "c = get_config()  # noqa: F821",
        f"c.JupyterHub.bind_url = 'http://127.0.0.1:{port}'",
        "c.JupyterHub.hub_ip = '127.0.0.1'",
        f"c.JupyterHub.hub_port = {port + 1}",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{port + 2}'",
        f"c.ConfigurableHTTPProxy.auth_token = {_secret(hub / 'proxy-token')!r}",
        f"c.ConfigurableHTTPProxy.pid_file = {str(hub / 'proxy.pid')!r}",
        f"c.JupyterHub.db_url = {'sqlite:///' + str(hub / 'jupyterhub.sqlite')!r}",
        f"c.JupyterHub.cookie_secret_file = {str(hub / 'cookie-secret')!r}",
        "c.JupyterHub.authenticator_class = 'pam'",
        f"c.Authenticator.allowed_users = {set(students)!r}",
        "c.Authenticator.admin_users = set()",
        "c.JupyterHub.spawner_class = 'localprocess'",
        f"c.Spawner.cmd = [{python!r}, '-m', 'jupyterhub.singleuser']",
        "c.Spawner.notebook_dir = '~'",
        "c.Spawner.default_url = '/lab/tree/lessons'",
        f"c.Spawner.environment = {spawn_env!r}",
        *(["# rootless: each student's kernels use the student's own engine (swarmlab/classroom/rootless.py)",
           "c.Spawner.environment['DOCKER_HOST'] = "
           "lambda spawner: f'unix:///run/user/{pwd.getpwnam(spawner.user.name).pw_uid}/docker.sock'"]
          if rootless else []),
        "c.Spawner.start_timeout = 120",
        "c.Spawner.http_timeout = 120",
        f"c.JupyterHub.services = [{{'name': 'teacher', 'api_token': {_secret(hub / 'teacher-token')!r}}}]",
        "c.JupyterHub.load_roles = [{'name': 'teacher', 'services': ['teacher'], 'scopes': "
        "['admin:users', 'admin:servers', 'access:servers', 'list:users', 'read:users']}]",
        "",
    ])


def _make_student(name: str, group: str | None, python: str) -> tuple[bool, str | None]:
    """The account ``name`` (in ``group`` when given), with its lessons (copied by the student's
    own process: root writes nothing in their home); whether this call made it, and what went
    wrong with the lessons."""
    made = False
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        groups = ["--groups", group] if group else []
        done = subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", *groups, name],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise HubError(f"useradd {name} failed: {done.stderr.strip()[-300:]}") from None
        pw, made = pwd.getpwnam(name), True
    if group and name not in grp.getgrnam(group).gr_mem and pw.pw_gid != grp.getgrnam(group).gr_gid:
        subprocess.run(["usermod", "--append", "--groups", group, name], check=True, capture_output=True, timeout=60)
    return made, hub_guard.copy_lessons(LESSONS, pw, python)


def _set_password(name: str) -> str:
    password = secrets.token_urlsafe(9)
    done = subprocess.run(["chpasswd"], input=f"{name}:{password}\n", capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise HubError(f"chpasswd for {name} failed: {done.stderr.strip()[-300:]}")
    return password


def _pid(hub: Path) -> int | None:
    """The running hub's pid, from its pid file, checked against the process itself."""
    try:
        pid = int((hub / "hub.pid").read_text().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"jupyterhub" in b" ".join(args) and str(hub / "jupyterhub_config.py").encode() in args else None


def _answers(port: int, pid: int | None) -> bool:
    """Whether the hub ``pid`` answers on ``port``: every listener there is its own, and says
    it is a JupyterHub."""
    if pid is None or not hub_guard.held_by_hub(port, pid):
        return False
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/hub/api/", timeout=2) as r:
            return bool(json.loads(r.read(10000)).get("version"))
    except (OSError, ValueError):
        return False


def _taken(found: list[tuple[int, int, int | None]], when: str) -> str:
    port, uid, pid = found[0]
    return (f"port {port} on this computer {when} by {hub_guard.name_of(uid)}"
            + (f", process {pid}" if pid else "") + ", not by the hub: a listener there would get the students' "
            "passwords. End it, or give another --port")


def _check_input(names: list[str], port: object) -> None:
    if not names or len(set(names)) != len(names):
        raise InvalidArgument("give each student once, e.g. --students alice,bob")
    if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65533:
        raise InvalidArgument(f"port={port!r}: give a port from 1024 to 65533 (the hub uses it and the next two)")
    if shutil.which("configurable-http-proxy") is None:
        raise HubError("configurable-http-proxy is missing: install it with 'npm install -g "
                       "configurable-http-proxy' (scripts/setup --classroom does)")
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        raise HubError("the jupyterhub package is missing: pip install 'swarmlab[classroom]'") from None


def _check_accounts(names: list[str], group: str, rootless: bool) -> None:
    for name in names:  # refused before anything is made
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            continue
        if uid < 1000 or uid == 65534:
            raise InvalidArgument(f"student {name!r} is a system account (uid {uid}): give the name of a "
                                  f"student's own account, or a new name for one")
        if rootless and (name in grp.getgrnam(group).gr_mem or pwd.getpwnam(name).pw_gid == grp.getgrnam(group).gr_gid):
            raise InvalidArgument(f"student {name!r} is in the Docker socket's group ({group}), which makes them root "
                                  f"here whatever their own engine: 'gpasswd -d {name} {group}' first")


def _accounts(hub: Path, names: list[str], group: str | None, python: str, notes: list[str]) -> list[str]:
    """Make the accounts that are missing (their passwords to ``hub/passwords``); those made."""
    made = []
    for name in names:
        new, problem = _make_student(name, group, python)
        made += [name] if new else []
        notes += [problem] if problem else []
    if made:
        uids = {**_made_uids(hub), **{n: pwd.getpwnam(n).pw_uid for n in made}}
        _write_private(hub / "students-made", "".join(f"{n} {u}\n" for n, u in sorted(uids.items())))
        passwords = {}
        if (hub / "passwords").exists():
            passwords = dict(line.split(" ", 1) for line in (hub / "passwords").read_text().splitlines() if " " in line)
        passwords.update({n: _set_password(n) for n in made})
        _write_private(hub / "passwords", "".join(f"{n} {p}\n" for n, p in sorted(passwords.items())))
    notes.append(hub_guard.keep_out_of_ssh(names))
    return made


def _end_group_holders(names: list[str], group: str) -> list[str]:
    """End the students' processes that still hold ``group`` (the Docker socket's, from before
    a 'gpasswd -d'); says whose."""
    notes = []
    gid = grp.getgrnam(group).gr_gid
    for name in names:
        uid = pwd.getpwnam(name).pw_uid
        ended = hub_guard.end(lambda uid=uid: hub_guard.processes(uid, gid))  # type: ignore[misc]
        if ended:
            notes.append(f"ended {len(set(ended))} processes of {name} that still held the group {group} "
                         f"(root on this computer)")
    return notes


def _rootless_engines(hub: Path, names: list[str], group: str) -> list[str]:
    """End what the students still run with the Docker socket's group, then start each one's
    rootless engine; says whose processes ended."""
    from ..exercises import OFFLINE
    from ..providers import rootless_node_image
    from . import rootless as rl

    notes = _end_group_holders(names, group)
    node = rootless_node_image()
    images = [node, *OFFLINE.to_load, *OFFLINE.network_images, "swarmlab/registry:2.8"]
    for name in names:
        rl.start(name, hub / "engines", list(dict.fromkeys(images)))
    return notes


def up(students: list[str], port: int = DEFAULT_PORT, rootless: bool = False,
       students_are_root: bool = False) -> HubStatus:
    """Make the accounts that are missing, write the hub's configuration, start the hub (or
    leave the running one, when it already has these students and this port).

    ``rootless``: each student's labs in a rootless engine of their own (:mod:`swarmlab.classroom.rootless`),
    started now with the offline images copied in; students are then not in the Docker
    socket's group, and one who is is refused (the group would make them root here).
    ``students_are_root``: students in the Docker socket's group, root here; one of the two
    must be chosen. Refused, with nothing made, when another program listens on the hub's ports."""
    _require_root()
    names = [check_student(s) for s in students]
    _check_input(names, port)
    try:
        group = grp.getgrgid(os.stat(SOCKET).st_gid).gr_name
    except (OSError, KeyError):
        raise HubError(f"no Docker socket at {SOCKET} with a group: start Docker first (scripts/setup)") from None
    _check_accounts(names, group, rootless)
    if rootless == students_are_root:
        raise InvalidArgument(ROOT_CHOICE if not rootless else "give --rootless or --students-are-root, not both")
    if rootless:
        from . import rootless as rl

        lacks = rl.missing()
        if lacks:
            raise HubError(f"rootless engines need {', '.join(lacks)}: apt-get install {' '.join(lacks)}")
    python, pythonpath = students_python()
    ports = (port, port + 1, port + 2)
    old = folder(create=False)
    running = _pid(old) if old.exists() else None
    found = hub_guard.strangers(ports, running)
    if found:  # before anything is made
        raise HubError(_taken(found, "is listened on"))
    hub = folder()
    url = f"http://127.0.0.1:{port}"
    config = _config(hub, port, names, python, pythonpath, rootless)
    config_path = hub / "jupyterhub_config.py"
    if running and config_path.exists() and config_path.read_text() == config and _answers(port, running):
        return HubStatus(True, url, str(hub), names, [], running, students_are_root)
    if running:
        down()
    notes: list[str] = []
    made = _accounts(hub, names, None if rootless else group, python, notes)
    if rootless:
        notes += _rootless_engines(hub, names, group)
    _write_private(config_path, config)
    if before_start is not None:
        before_start()
    pid = _start(hub, config_path, ports)
    return HubStatus(True, url, str(hub), names, made, pid, students_are_root, notes)


def _start(hub: Path, config_path: Path, ports: tuple[int, int, int]) -> int:
    """Start the hub and wait for it to answer, every listener on ``ports`` its own; else stop
    it (and forget its proxy's token, which a stranger's listener may have been sent)."""
    log = open(hub / "hub.log", "ab")  # noqa: SIM115 - the hub's, kept open by it
    proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config_path)], cwd=hub,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    _write_private(hub / "hub.pid", str(proc.pid))
    answered = [False]

    def started() -> bool:  # answers, or has ended
        found = hub_guard.strangers(ports, proc.pid)
        if found:
            down()
            (hub / "proxy-token").unlink(missing_ok=True)
            raise HubError(_taken(found, "was taken while the hub started"))
        answered[0] = _answers(ports[0], proc.pid) and not hub_guard.strangers(ports, proc.pid)
        return answered[0] or proc.poll() is not None

    if until(started, START_WAIT, 0.5) and answered[0]:
        return proc.pid
    tail = (hub / "hub.log").read_text(errors="replace")[-1500:]
    down()
    raise HubError(f"the hub did not start ({'it exited' if proc.poll() is not None else 'no answer'}); "
                   f"its log ({hub}/hub.log) ends:\n{tail}")


def _stop_hub(hub: Path) -> bool:
    """Stop the hub (it stops the students' servers), then its proxy if that outlived it
    (found by its pid file, checked against the process); whether the hub ran."""
    pid = _pid(hub)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        if not until(lambda: _pid(hub) is None, 30, 0.2):
            os.killpg(pid, signal.SIGKILL)
    (hub / "hub.pid").unlink(missing_ok=True)
    try:
        proxy = int((hub / "proxy.pid").read_text().strip())
        with open(f"/proc/{proxy}/cmdline", "rb") as f:
            theirs = b"configurable-http-proxy" in f.read() and os.stat(f"/proc/{proxy}").st_uid == 0
    except (OSError, ValueError):
        theirs = False
    if theirs:
        hub_guard.end(lambda: [proxy] if os.path.exists(f"/proc/{proxy}") and hub_guard.alive(proxy) else [], wait=10)
    (hub / "proxy.pid").unlink(missing_ok=True)
    return pid is not None


def down(remove_students: bool = False) -> dict[str, Any]:
    """Stop the hub (it stops the students' servers); with ``remove_students`` also remove the
    accounts ``up`` made, with their processes (ended first), labs, engines and homes, going on
    past a student that cannot be removed (``failed`` says who and why). Says what it did."""
    _require_root()
    hub = folder(create=False)
    done: dict[str, Any] = {"stopped": False, "removed": [], "failed": []}
    if not hub.exists():
        return done
    done["stopped"] = _stop_hub(hub)
    if remove_students:
        done["labs"] = []
        uids = _made_uids(hub)
        for name in _ours(hub):
            try:
                hub_guard.remove_student(hub, name, uids.get(name), done)
            except Exception as e:  # one student's trouble does not keep the others' accounts
                done["failed"].append(f"{name}: {e}")
        left = {n: u for n, u in uids.items() if n in {f.split(":")[0] for f in done["failed"]} and hub_guard.exists(n)}
        if left:
            _write_private(hub / "students-made", "".join(f"{n} {u}\n" for n, u in sorted(left.items())))
        else:
            (hub / "students-made").unlink(missing_ok=True)
            (hub / "passwords").unlink(missing_ok=True)
            hub_guard.let_into_ssh()
    return done


def status() -> HubStatus:
    """The hub, when it runs and every listener on its port is its own."""
    hub = folder(create=False)
    pid = _pid(hub) if hub.exists() else None
    url = ""
    if pid is not None:
        m = re.search(r"bind_url = 'http://127\.0\.0\.1:(\d+)'", (hub / "jupyterhub_config.py").read_text())
        if m and hub_guard.held_by_hub(int(m.group(1)), pid):
            url = f"http://127.0.0.1:{m.group(1)}"
        else:
            pid = None
    return HubStatus(pid is not None, url, str(hub), _ours(hub) if hub.exists() else [], [], pid)
