"""A hostile student against ``swarmlab class up`` and ``class down``, for real: accounts made
with useradd, the student's processes run as that student's uid (no other group), real
listening sockets on 127.0.0.1. Each test performs the attack and shows it changes nothing."""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from labtest import three_free_ports

from swarmlab.classroom import hub, hub_guard

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PYTHON = hub.students_python()[0]
#: a fake hub: answers every request with {"version": "x"} and writes each one down
LISTENER = r'''
import http.server, json, sys
log = open(sys.argv[2], "a")
class H(http.server.BaseHTTPRequestHandler):
    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode(errors="replace") if n else ""
        log.write(json.dumps({"line": self.requestline, "headers": dict(self.headers), "body": body}) + "\n")
        log.flush()
        data = b'{"version": "x"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("ready", flush=True)
s.serve_forever()
'''


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swarmlab", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def as_user(pw: pwd.struct_passwd, *args: str, groups: list[int] | None = None, **kw: object) -> subprocess.Popen:
    """A process of the user ``pw`` (their uid and group; ``groups`` as its only other groups)."""
    return subprocess.Popen(list(args), user=pw.pw_uid, group=pw.pw_gid, extra_groups=groups or [], cwd="/",
                            env={"PATH": "/usr/bin:/bin", "HOME": pw.pw_dir}, **kw)  # type: ignore[call-overload]


def run_as(pw: pwd.struct_passwd, *args: str) -> None:
    proc = as_user(pw, *args)
    assert proc.wait(60) == 0, args


@pytest.fixture
def account() -> Iterator[Callable[[], pwd.struct_passwd]]:
    """Makes new accounts (useradd); removes them, and what they run, after the test."""
    made: list[str] = []

    def make() -> pwd.struct_passwd:
        name = f"slx{uuid.uuid4().hex[:6]}"
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, capture_output=True)
        made.append(name)
        return pwd.getpwnam(name)

    yield make
    for name in made:
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
        time.sleep(0.2)
        subprocess.run(["userdel", "--remove", name], capture_output=True)


def _root_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A root-owned folder with a root-owned file in it, the kind /etc is."""
    target = tmp_path / "rootfolder"
    target.mkdir()
    (target / "secret.conf").write_text("root's\n")
    return target, target / "secret.conf"


def _unchanged(target: Path, file: Path) -> None:
    for path in (target, file):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (0, 0), (path, st.st_uid, st.st_gid)
    assert sorted(p.name for p in target.iterdir()) == ["secret.conf"]
    assert file.read_text() == "root's\n"


def test_lessons_planted_as_a_symlink_to_a_root_folder_are_left_alone(account: Callable[[], pwd.struct_passwd],
                                                                      tmp_path: Path) -> None:
    pw = account()
    target, file = _root_folder(tmp_path)
    run_as(pw, "ln", "-s", str(target), f"{pw.pw_dir}/lessons")
    made, problem = hub._make_student(pw.pw_name, None, PYTHON)  # class up again, for an existing student
    assert (made, problem) == (False, None)
    _unchanged(target, file)
    assert os.readlink(f"{pw.pw_dir}/lessons") == str(target)


def test_lessons_swapped_for_a_symlink_while_they_are_copied_give_root_s_files_to_nobody(
        account: Callable[[], pwd.struct_passwd], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pw = account()
    target, file = _root_folder(tmp_path)
    swapped = []

    def swap(lessons: Path) -> None:  # the student, between the copy and the end of the step
        assert lessons.is_dir() and not lessons.is_symlink()
        run_as(pw, "sh", "-c", f"mv {lessons} {lessons}.old && ln -s {target} {lessons}")
        swapped.append(os.readlink(lessons))

    monkeypatch.setattr(hub_guard, "after_copy", swap)
    hub._make_student(pw.pw_name, None, PYTHON)
    assert swapped == [str(target)]
    _unchanged(target, file)


def test_lessons_are_copied_for_the_student_owned_by_them(account: Callable[[], pwd.struct_passwd]) -> None:
    pw = account()
    assert hub._make_student(pw.pw_name, None, PYTHON) == (False, None)
    lessons = Path(pw.pw_dir) / "lessons"
    assert (lessons / "02-swarm.ipynb").read_bytes() == (hub.LESSONS / "02-swarm.ipynb").read_bytes()
    for path in [lessons, *lessons.rglob("*")]:
        assert (path.lstat().st_uid, path.lstat().st_gid) == (pw.pw_uid, pw.pw_gid), path
        assert path.name not in ("__pycache__", ".ipynb_checkpoints")


def _listen(pw: pwd.struct_passwd, port: int) -> tuple[subprocess.Popen, Path]:
    """The student's fake hub on ``port``, and the file it writes each request to."""
    log = Path(pw.pw_dir) / f"heard-{port}"
    proc = as_user(pw, PYTHON, "-I", "-c", LISTENER, str(port), str(log), stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc, log


def _heard(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("offset", [0, 2], ids=["hub port", "proxy API port"])
def test_a_student_listening_on_the_hub_s_ports_first_is_refused_and_nothing_is_made(
        account: Callable[[], pwd.struct_passwd], tmp_path: Path, offset: int) -> None:
    pw = account()
    port = three_free_ports()
    proc, log = _listen(pw, port + offset)
    try:
        # the fake answers as the hub's API does: what 'up' took for the hub before
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port + offset}/hub/api/", timeout=5) as r:
            assert json.loads(r.read())["version"] == "x"
        heard_before = len(_heard(log))
        home = tmp_path / "home"
        home.mkdir(mode=0o700)
        students = [f"slt{uuid.uuid4().hex[:5]}"]
        done = cli("class", "up", "--students", ",".join(students), "--port", str(port), "--students-are-root",
                   env={"SWARMLAB_HOME": str(home)})
        assert done.returncode == 1, done.stdout + done.stderr
        line = done.stderr.strip()
        assert len(line.splitlines()) == 1, line
        assert f"port {port + offset} " in line and f"{pw.pw_name} (uid {pw.pw_uid})" in line, line
        assert f"process {proc.pid}" in line, line
        assert len(_heard(log)) == heard_before  # not even asked
        assert list(home.iterdir()) == []
        for s in students:
            with pytest.raises(KeyError):
                pwd.getpwnam(s)
    finally:
        proc.kill()
        proc.wait()


def test_a_student_taking_the_proxy_api_port_while_the_hub_starts_stops_it(
        account: Callable[[], pwd.struct_passwd], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pw = account()
    port = three_free_ports()
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("SWARMLAB_HOME", str(home))
    started: list[tuple[subprocess.Popen, Path]] = []
    # after the check of the ports, before the hub binds them
    monkeypatch.setattr(hub, "before_start", lambda: started.append(_listen(pw, port + 2)))
    student = f"slt{uuid.uuid4().hex[:5]}"
    try:
        with pytest.raises(hub.HubError) as e:
            hub.up([student], port=port, students_are_root=True)
        said = str(e.value)
        assert f"port {port + 2} " in said and f"{pw.pw_name} (uid {pw.pw_uid})" in said, said
        assert started and started[0][0].poll() is None
        folder = home / "hub"
        assert hub.status().running is False and not (folder / "hub.pid").exists()
        for p in (port, port + 1):  # nothing of the hub's is left listening
            assert hub_guard.listeners([p]) == [], p
        passwords = (folder / "passwords").read_text()
        heard = json.dumps(_heard(started[0][1]))
        assert passwords.split()[1] not in heard
        # the proxy's token, if the hub sent it to the fake proxy, is forgotten: a new one next time
        assert not (folder / "proxy-token").exists()
    finally:
        for proc, _ in started:
            proc.kill()
            proc.wait()
        hub.down(remove_students=True)
    with pytest.raises(KeyError):
        pwd.getpwnam(student)


def test_up_rootless_ends_a_student_s_processes_that_still_hold_the_docker_group(
        account: Callable[[], pwd.struct_passwd]) -> None:
    pw = account()
    docker_gid = os.stat(hub.SOCKET).st_gid
    group = grp.getgrgid(docker_gid).gr_name
    holder = as_user(pw, "sleep", "300", groups=[docker_gid])  # started before a 'gpasswd -d'
    other = as_user(pw, "sleep", "300")
    try:
        notes = hub._end_group_holders([pw.pw_name], group)
        assert holder.wait(10) == -9
        assert other.poll() is None  # the student's other processes go on
        assert notes == [f"ended 1 processes of {pw.pw_name} that still held the group {group} "
                         f"(root on this computer)"], notes
    finally:
        for p in (holder, other):
            p.kill()
            p.wait()


def test_down_goes_on_past_students_it_cannot_remove_and_says_which(account: Callable[[], pwd.struct_passwd],
                                                                     tmp_path: Path) -> None:
    gone, stuck, fine = account(), account(), account()
    home = tmp_path / "home"
    (home / "hub").mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    (home / "hub" / "students-made").write_text("".join(f"{p.pw_name} {p.pw_uid}\n" for p in (gone, stuck, fine)))
    subprocess.run(["userdel", "--remove", gone.pw_name], check=True, capture_output=True)  # by hand, meanwhile
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", stuck.pw_dir], check=True)  # can't go
    running = as_user(fine, "sleep", "300")
    try:
        done = cli("class", "down", "--remove-students", "-o", "json", env={"SWARMLAB_HOME": str(home)})
        assert done.returncode == 1, done.stdout + done.stderr
        said = json.loads(done.stdout)
        assert [f.split(":")[0] for f in said["failed"]] == [gone.pw_name, stuck.pw_name], said
        assert fine.pw_name in said["removed"], said
        assert running.wait(10) == -9
        with pytest.raises(KeyError):
            pwd.getpwnam(fine.pw_name)
        assert [line.split(":")[0] for line in done.stderr.splitlines()] == [
            f"could not remove the student {gone.pw_name}", f"could not remove the student {stuck.pw_name}"]
    finally:
        running.kill()
        running.wait()
        subprocess.run(["umount", stuck.pw_dir], capture_output=True)


def test_students_are_kept_out_of_ssh_and_let_back_when_the_class_is_over(
        account: Callable[[], pwd.struct_passwd], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pw = account()
    sshd = tmp_path / "sshd_config.d"
    sshd.mkdir()
    monkeypatch.setattr(hub_guard, "SSHD_DIR", sshd)
    said = hub_guard.keep_out_of_ssh([pw.pw_name])
    try:
        written = sshd / hub_guard.SSHD_FILE
        assert "DenyGroups swarmlab-students" in written.read_text().splitlines(), said
        st = written.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o644)
        assert pw.pw_name in grp.getgrnam(hub_guard.STUDENTS_GROUP).gr_mem
    finally:
        hub_guard.let_into_ssh()
    assert not written.exists()
    with pytest.raises(KeyError):
        grp.getgrnam(hub_guard.STUDENTS_GROUP)
