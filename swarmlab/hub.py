"""A classroom on one server: a real JupyterHub on 127.0.0.1, one account per student, each
student's JupyterLab opening the lessons, each student's kernel making that student's labs.

``swarmlab class up --students alice,bob`` (as root) makes what is missing and starts the hub;
``swarmlab class down`` stops it (and with ``--remove-students`` removes the accounts it made);
``swarmlab class status`` is the teacher's board (:mod:`swarmlab.classroom`).

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
  trust model says; the hub confines nothing further.
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
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _home
from ._errors import InvalidArgument, SwarmlabError

#: names of accounts the hub makes: short, lower case, starting with a letter
_STUDENT_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
#: what ``up`` waits for the hub to answer
START_WAIT = 60.0
DEFAULT_PORT = 8000
SOCKET = "/var/run/docker.sock"
LESSONS = Path(__file__).resolve().parents[1] / "notebooks"
#: environment a student's server keeps from the hub's (swarmlab's own settings, nothing else)
_PASSED = ("SWARMLAB_OFFLINE", "SWARMLAB_ONLINE_PROBE", "SWARMLAB_NODE_IMAGE", "SWARMLAB_REGISTRY_MIRROR",
           "SWARMLAB_PROGRESS", "DOCKER_HOST")


class HubError(SwarmlabError):
    """The classroom hub could not be set up, started or stopped."""


@dataclass
class HubStatus:
    """What ``swarmlab class up`` made or found."""

    running: bool
    url: str
    folder: str
    students: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)  # accounts this call made
    pid: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"running": self.running, "url": self.url, "folder": self.folder, "students": self.students,
                "made": self.made, "pid": self.pid}

    def text(self) -> str:
        if not self.running:
            return f"the classroom hub is not running ({self.folder})"
        lines = [f"the classroom hub runs at {self.url} (pid {self.pid}), on 127.0.0.1 only",
                 f"students: {', '.join(self.students) or 'none'}"
                 + (f" (accounts made now: {', '.join(self.made)})" if self.made else ""),
                 f"their passwords: {self.folder}/passwords (root only); each logs in at {self.url}/hub/login",
                 "the board: swarmlab class status"]
        return "\n".join(lines)


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
    paths = [str(Path(__file__).resolve().parents[1]), sysconfig.get_paths()["purelib"],
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
        *(["# rootless: each student's kernels use the student's own engine (swarmlab/rootless.py)",
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


def _make_student(name: str, group: str | None) -> bool:
    """The account ``name`` (in ``group`` when given), with its lessons; True when this call
    made it."""
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
    home = Path(pw.pw_dir)
    lessons = home / "lessons"
    if not lessons.exists():
        shutil.copytree(LESSONS, lessons, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        for path in [lessons, *lessons.rglob("*")]:
            os.lchown(path, pw.pw_uid, pw.pw_gid)
    return made


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


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/hub/api/", timeout=2) as r:
            return bool(json.loads(r.read(10000)).get("version"))
    except (OSError, ValueError):
        return False


def up(students: list[str], port: int = DEFAULT_PORT, rootless: bool = False) -> HubStatus:
    """Make the accounts that are missing, write the hub's configuration, start the hub (or
    leave the running one, when it already has these students and this port).

    ``rootless``: each student's labs in a rootless engine of their own (:mod:`swarmlab.rootless`),
    started now with the offline images copied in; students are then not in the Docker
    socket's group, and one who is is refused (the group would make them root here)."""
    _require_root()
    names = [check_student(s) for s in students]
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
    try:
        group = grp.getgrgid(os.stat(SOCKET).st_gid).gr_name
    except (OSError, KeyError):
        raise HubError(f"no Docker socket at {SOCKET} with a group: start Docker first (scripts/setup)") from None
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
    if rootless:
        from . import rootless as rl

        lacks = rl.missing()
        if lacks:
            raise HubError(f"rootless engines need {', '.join(lacks)}: apt-get install {' '.join(lacks)}")
    python, pythonpath = students_python()
    hub = folder()
    url = f"http://127.0.0.1:{port}"
    config = _config(hub, port, names, python, pythonpath, rootless)
    running = _pid(hub)
    config_path = hub / "jupyterhub_config.py"
    if running and config_path.exists() and config_path.read_text() == config and _answers(url):
        return HubStatus(True, url, str(hub), names, [], running)
    if running:
        down()
    made = [n for n in names if _make_student(n, None if rootless else group)]
    if made:
        _write_private(hub / "students-made", "\n".join(sorted(set(_ours(hub)) | set(made))) + "\n")
        passwords = {}
        if (hub / "passwords").exists():
            passwords = dict(line.split(" ", 1) for line in (hub / "passwords").read_text().splitlines() if " " in line)
        passwords.update({n: _set_password(n) for n in made})
        _write_private(hub / "passwords", "".join(f"{n} {p}\n" for n, p in sorted(passwords.items())))
    if rootless:
        from . import rootless as rl
        from .exercises import OFFLINE

        node = os.environ.get("SWARMLAB_NODE_IMAGE") or "swarmlab/node:bookworm"
        images = [node, *OFFLINE.to_load, *OFFLINE.network_images, "swarmlab/registry:2.8"]
        for name in names:
            rl.start(name, hub / "engines", list(dict.fromkeys(images)))
    _write_private(config_path, config)
    log = open(hub / "hub.log", "ab")  # noqa: SIM115 - the hub's, kept open by it
    proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config_path)], cwd=hub,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    _write_private(hub / "hub.pid", str(proc.pid))
    deadline = time.monotonic() + START_WAIT
    while not _answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = (hub / "hub.log").read_text(errors="replace")[-1500:]
            down()
            raise HubError(f"the hub did not start ({'it exited' if proc.poll() is not None else 'no answer'}); "
                           f"its log ({hub}/hub.log) ends:\n{tail}")
        time.sleep(0.5)
    return HubStatus(True, url, str(hub), names, made, proc.pid)


def down(remove_students: bool = False) -> dict[str, Any]:
    """Stop the hub (it stops the students' servers); with ``remove_students`` also remove the
    accounts ``up`` made, with their homes. Says what it did."""
    _require_root()
    hub = folder(create=False)
    done: dict[str, Any] = {"stopped": False, "removed": []}
    if not hub.exists():
        return done
    pid = _pid(hub)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _pid(hub) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid(hub) is not None:
            os.killpg(pid, signal.SIGKILL)
        done["stopped"] = True
    (hub / "hub.pid").unlink(missing_ok=True)
    if remove_students:
        done["labs"] = []
        for name in _ours(hub):
            # a student's own processes (a kernel the hub no longer knows) end with the account
            try:
                uid = pwd.getpwnam(name).pw_uid
            except KeyError:
                continue
            done["labs"] += _remove_labs(str(uid))
            from . import rootless as rl

            if rl.stop(name, hub / "engines"):  # their own engine: its labs go with it and their home
                done["engines"] = [*done.get("engines", []), name]
            rl.revoke(uid)
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, timeout=30)
            gone = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True, timeout=60)
            if gone.returncode == 0:
                done["removed"].append(name)
        (hub / "students-made").unlink(missing_ok=True)
        (hub / "passwords").unlink(missing_ok=True)
    return done


def _remove_labs(uid: str) -> list[str]:
    """Every dind lab of user ``uid``, on this computer's engine and on their rootless one,
    destroyed as ``swarmlab gc`` does; their names."""
    from .lab import Lab
    from .providers.dind.gc import idle_labs
    from .rootless import clients

    removed = []
    for _, client in clients([uid]):
        try:
            for x in idle_labs(client, 0, [uid]):
                Lab(x.lab, provider="dind", progress=False, owner_of=x.owner, host=client).destroy()
                removed.append(f"{x.lab} (user {uid})")
        finally:
            client.close()
    return removed


def status() -> HubStatus:
    hub = folder(create=False)
    pid = _pid(hub) if hub.exists() else None
    url = ""
    if pid is not None:
        m = re.search(r"bind_url = 'http://127\.0\.0\.1:(\d+)'", (hub / "jupyterhub_config.py").read_text())
        url = f"http://127.0.0.1:{m.group(1)}" if m else ""
    return HubStatus(pid is not None, url, str(hub), _ours(hub) if hub.exists() else [], [], pid)
