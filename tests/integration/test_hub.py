"""The classroom for real: ``swarmlab class up`` starts a real JupyterHub (configurable-http-
proxy, PAM logins, the local process spawner) on 127.0.0.1 with two new student accounts;
each student's server is started through the hub's REST API and runs lesson 02, as committed,
with papermill in a kernel of that server (the kernel's websocket, through the hub's proxy).
Their labs, both called ``tutorial``, are read through the engine: each student's machines
carry their own user id, and each kernel reaches its own swarm only. The board lists both;
``swarmlab class down --remove-students`` stops the hub and removes the accounts and their
labs, leaving nothing.

What this cannot prove: a browser's session (tests/browser drives JupyterLab itself), and a
room of students on other computers (the hub listens on 127.0.0.1 only, by design)."""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from hubclient import Hub, log_in
from labtest import exec_in, live_processes, three_free_ports

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _listening(port: int) -> set[str]:
    """The local addresses something listens on at ``port`` (/proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, hexport = local.split(":")
                if state == "0A" and int(hexport, 16) == port:
                    found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]) if len(addr) == 8 else addr)
    return found


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swarmlab", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module", params=["docker group", "rootless"])
def classroom(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              host: docker.DockerClient) -> Iterator[dict[str, Any]]:
    """A classroom of two new students: in the Docker socket's group, their labs on this
    computer's engine; or (rootless) each with a rootless engine of their own."""
    rootless = request.param == "rootless"
    home = tmp_path_factory.mktemp("hubhome")
    home.chmod(0o700)
    env = {"SWARMLAB_HOME": str(home)}
    tag = uuid.uuid4().hex[:5]
    students = [f"slt{tag}a", f"slt{tag}b"]
    for s in students:
        with pytest.raises(KeyError):
            pwd.getpwnam(s)
    port = three_free_ports()
    up = cli("class", "up", "--students", ",".join(students), "--port", str(port), "-o", "json",
             *(["--rootless"] if rootless else ["--students-are-root"]), env=env)
    uids = []
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        uids = [str(pwd.getpwnam(s).pw_uid) for s in students]
        made = json.loads(up.stdout)
        assert made["students_are_root"] is not rootless, made
        yield {"env": env, "students": students, "port": port, "up": made, "folder": Path(made["folder"]),
               "rootless": rootless}
    finally:
        down = cli("class", "down", "--remove-students", "-o", "json", env=env)
        assert down.returncode == 0, down.stdout + down.stderr
        done = json.loads(down.stdout)
        assert done["stopped"] and sorted(done["removed"]) == students and done["failed"] == [], done
        for s in students:
            with pytest.raises(KeyError):
                pwd.getpwnam(s)
        assert all(not _listening(p) for p in (port, port + 1, port + 2))
        for uid in uids:  # their labs went with them, and their own engines
            f = {"label": f"io.swarmlab.owner={uid}"}
            assert host.containers.list(all=True, filters=f) == [] and host.networks.list(filters=f) == []
            assert host.volumes.list(filters=f) == []
            assert live_processes(int(uid)) == []
            assert not os.path.exists(f"/run/user/{uid}")


def test_two_students_run_lesson_02_in_their_own_servers(classroom: dict[str, Any],
                                                         host: docker.DockerClient) -> None:
    students, port, folder = classroom["students"], classroom["port"], classroom["folder"]
    url = f"http://127.0.0.1:{port}"
    assert classroom["up"]["running"] and sorted(classroom["up"]["made"]) == students
    # only on this computer: the hub's proxy, the hub's API and the proxy's API on 127.0.0.1
    for p in (port, port + 1, port + 2):
        assert _listening(p) == {"127.0.0.1"}, (p, _listening(p))
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct((folder / "passwords").stat().st_mode & 0o777) == "0o600"

    # a student logs in with the password the teacher hands out (PAM); a wrong one is refused
    passwords = dict(line.split(" ", 1) for line in (folder / "passwords").read_text().splitlines())
    status, where = log_in(url, students[0], passwords[students[0]])
    assert status == 302 and (where.startswith("/hub/spawn") or where == f"/user/{students[0]}/"), (status, where)
    assert log_in(url, students[0], passwords[students[1]])[0] == 403
    assert log_in(url, "root", passwords[students[0]])[0] == 403

    teacher = Hub(url, (folder / "teacher-token").read_text().strip())
    uids = {s: str(pwd.getpwnam(s).pw_uid) for s in students}
    code = ("import os, papermill\n"
            "os.chdir(os.path.expanduser('~/lessons'))\n"
            "papermill.execute_notebook('02-swarm.ipynb', '02-swarm.done.ipynb', progress_bar=False,\n"
            "                           execution_timeout=240)\n"
            "import swarmlab as sl\n"
            "lab = sl.Lab.attach('tutorial')\n"
            "print('RESULT', os.getuid(), lab.client('manager1').info()['Swarm']['Cluster']['ID'],\n"
            "      os.access('/var/run/docker.sock', os.W_OK), os.environ.get('DOCKER_HOST', '-'))\n")
    from concurrent.futures import ThreadPoolExecutor

    def lesson(student: str) -> tuple[str, str]:
        server = teacher.start(student)
        assert server["url"] == f"/user/{student}/"
        return teacher.run(student, code)

    with ThreadPoolExecutor(2) as pool:
        ran = dict(zip(students, pool.map(lesson, students)))
    clusters = {}
    for s, (status, out) in ran.items():
        assert status == "ok", out[-3000:]
        result = [line.split() for line in out.splitlines() if line.startswith("RESULT ")]
        assert result and result[0][1] == uids[s], out[-2000:]  # the kernel ran as the student
        clusters[s] = result[0][2]
        if classroom["rootless"]:  # their own engine; this computer's is not theirs to use
            assert result[0][3:] == ["False", f"unix:///run/user/{uids[s]}/docker.sock"], result
        else:
            assert result[0][3] == "True", result

    # through the engine: each student's lab 'tutorial' is three machines of their own, in a
    # swarm of their own, and the swarm their kernel reached is that one
    engines = {s: docker.DockerClient(base_url=f"unix:///run/user/{uids[s]}/docker.sock") if classroom["rootless"]
               else host for s in students}
    for s in students:
        machines = engines[s].containers.list(filters={"label": ["io.swarmlab.lab=tutorial",
                                                                 f"io.swarmlab.owner={uids[s]}"]})
        if classroom["rootless"]:  # none of it on this computer's engine
            assert host.containers.list(all=True, filters={"label": f"io.swarmlab.owner={uids[s]}"}) == []
        assert sorted(c.labels["io.swarmlab.machine"] for c in machines) == ["manager1", "worker1", "worker2"]
        mgr = next(c for c in machines if c.labels["io.swarmlab.machine"] == "manager1")
        said = exec_in(mgr, ["docker", "info", "--format", "{{.Swarm.Cluster.ID}} {{.Swarm.Nodes}}"]).text
        assert said.split() == [clusters[s], "3"]
    assert clusters[students[0]] != clusters[students[1]]

    # the board, as the teacher reads it
    board = cli("class", "status", "--user", uids[students[0]], "--user", uids[students[1]], "--no-checks",
                "-o", "json", env=classroom["env"])
    assert board.returncode == 0, board.stderr
    rows = {(x["user"], x["lab"]): x for x in json.loads(board.stdout)["labs"]}
    for s in students:
        assert rows[(s, "tutorial")]["machines"] == "3/3" and rows[(s, "tutorial")]["nodes"] == "3/3", rows

    # the teacher's expiry: the first student's lab, unused for a second now, is removed by
    # gc; the second student's, not asked for, stays (class down removes it)
    time.sleep(2)
    gc = cli("gc", "--idle", "1s", "--user", uids[students[0]], env=classroom["env"])
    assert gc.returncode == 0 and f"removed lab tutorial of user {uids[students[0]]}: 3 machines" in gc.stdout, \
        gc.stdout + gc.stderr
    for s, left in ((students[0], 0), (students[1], 3)):
        f = {"label": ["io.swarmlab.lab=tutorial", f"io.swarmlab.owner={uids[s]}"]}
        assert len(engines[s].containers.list(all=True, filters=f)) == left


@pytest.mark.parametrize("args, says", [
    (["--students", "root"], "student 'root' is a system account (uid 0)"),
    (["--students", "Bad Name"], "student name 'Bad Name': use lower-case letters"),
    (["--students", "sltdup,sltdup"], "give each student once"),
    ([], "name the students: swarmlab class up --students alice,bob --rootless"),
    (["--students", "sltport", "--port", "80"], "port=80: give a port from 1024 to 65533"),
    (["--students", "sltroot"], "students in the Docker socket's group are root on this computer: give --rootless "
                                "(each student an engine of their own) or --students-are-root"),
    (["--students", "sltroot", "--rootless", "--students-are-root"], "give --rootless or --students-are-root, not"),
])
def test_bad_students_or_port_are_refused_in_one_line_and_nothing_is_made(tmp_path: Path, args: list[str],
                                                                         says: str) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    done = cli("class", "up", *args, env={"SWARMLAB_HOME": str(home)})
    assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(home.iterdir()) == []
    for name in ("sltdup", "sltport", "sltroot"):
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
