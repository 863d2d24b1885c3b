"""Root's ``swarmlab gc`` against what a hostile learner can do to it, each done for real: a
lab named like one of root's own, an engine that never answers (its dockerd stopped), a
second gc started while one runs, a lab used between its listing and its removal. The
learner is a real second user (its own uid and swarmlab home); root is this test process,
with a swarmlab home of its own; every result is read on the engine itself."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from labtest import labelled, python_for, remove_labelled, run_as, unique_lab_name, user_home

import swarmlab as sl
from swarmlab.classroom import activity, gc, rootless

pytestmark = pytest.mark.integration

LEARNER_UID = 12361  # a learner of these tests alone
FAKE_ENGINE = Path(__file__).with_name("fake_engine.py")

#: what the learner runs: one step on one lab
STEP = """
import sys
import swarmlab as sl
lab = sl.Lab(sys.argv[1], provider="dind", progress=False)
if sys.argv[2] == "machine":
    lab.machine.create("manager1")
elif sys.argv[2] == "touch":  # a change through the lab's engine: use
    out = lab.ssh("manager1", "docker network create touched")
    assert out.ok, out
elif sys.argv[2] == "flood":  # the machine's own docker (first on its PATH) prints without end
    out = lab.ssh("manager1", "printf '%s\\n' '#!/bin/sh' 'exec yes service-update' > /usr/local/sbin/docker"
                              " && chmod 755 /usr/local/sbin/docker")
    assert out.ok, out
elif sys.argv[2] == "destroy":
    lab.destroy()
"""

#: how long a gc against a learner with a stuck engine may take: the reads of all labs (side
#: by side) within activity.READ_DEADLINE, then the idle lab removed (a minute at most here)
GC_DEADLINE = activity.READ_DEADLINE + 60


@pytest.fixture
def root_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Root's own swarmlab home for this test (short: a socket path must fit 107 bytes);
    the gc run by the test inherits it."""
    top = Path(tempfile.mkdtemp(prefix="slr-"))
    monkeypatch.setenv("SWARMLAB_HOME", str(top / "sl"))
    try:
        yield top / "sl"
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def learner() -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    with user_home(LEARNER_UID) as home:
        python = python_for(LEARNER_UID, home)

        def run(lab: str, what: str) -> subprocess.CompletedProcess[str]:
            done = run_as(LEARNER_UID, home, python, "-c", STEP, lab, what)
            assert done.returncode == 0 or what == "destroy", done.stdout + done.stderr
            return done

        yield run


def _owned(host: docker.DockerClient, lab: str, uid: int | str) -> list[docker.models.containers.Container]:
    return host.containers.list(all=True, filters={"label": [f"io.swarmlab.lab={lab}", f"io.swarmlab.owner={uid}"]})


def _root_gc(*args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "swarmlab", "gc", *args], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"swarmlab gc {' '.join(args)} did not end within {timeout:.0f}s: it hangs ({e.stdout!r})")
    return done, time.monotonic() - start


def _dockerd_pid(host: docker.DockerClient, container: str) -> int:
    """The host pid of the dockerd inside a machine (its process list, read on the engine)."""
    top = host.api.top(container)
    pid_at, cmd_at = top["Titles"].index("PID"), top["Titles"].index("CMD")
    found = [int(p[pid_at]) for p in top["Processes"] if p[cmd_at].split()[0].endswith("dockerd")]
    assert len(found) == 1, top
    assert Path(f"/proc/{found[0]}/comm").read_text().strip() == "dockerd"
    return found[0]


def test_root_gc_of_a_learners_lab_leaves_roots_own_lab_of_that_name(
        host: docker.DockerClient, root_home: Path, learner: Callable[..., object]) -> None:
    """A learner names their lab as root's own: root's gc --user removes the learner's, and
    root's lab keeps its folder, its socket and its machine, and still answers."""
    name = unique_lab_name("gcsame")
    mine = sl.Lab(name, provider="dind", progress=False)
    try:
        mine.machine.create("manager1")
        learner(name, "machine")
        time.sleep(2)
        done, _ = _root_gc("--idle", "1s", "--user", str(LEARNER_UID))
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith(f"removed lab {name} of user {LEARNER_UID}: 1 machines"), done.stdout
        assert _owned(host, name, LEARNER_UID) == []  # the learner's lab is gone, on the engine
        # root's own: its machine, its folder and socket, and its engine through that socket
        (c,) = _owned(host, name, 0)
        assert c.status == "running" and c.name == f"{name}.manager1.u0"
        folder = root_home / "labs" / "dind" / name
        sock = folder / "manager1" / "docker.sock"
        assert stat.S_ISSOCK(os.lstat(sock).st_mode), f"{sock} is gone"
        assert docker.DockerClient(base_url=f"unix://{sock}", timeout=30).version()["ApiVersion"]
        rows = [(r["NAME"], r["STATE"], r["DOCKER"]) for r in mine.machine.ls()]  # its engine's version
        assert [r[:2] for r in rows] == [("manager1", "Running")] and rows[0][2] not in ("", "Unknown"), rows
        # and root's folder for the learner's lab is apart from it, and gone with the lab
        assert not (root_home / "labs" / f"dind-u{LEARNER_UID}" / name).exists()
    finally:
        learner(name, "destroy")
        mine.destroy()
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


def test_gc_keeps_a_lab_whose_engine_is_stopped_and_removes_the_others(
        host: docker.DockerClient, root_home: Path, learner: Callable[..., object]) -> None:
    """A learner stops the dockerd inside one manager (SIGSTOP) and makes the ``docker`` of
    another print without end: gc ends within its deadline, keeps both labs (the first listed
    as could not be read), and still removes the learner's idle lab."""
    stuck, flood, idle = unique_lab_name("gcstuck"), unique_lab_name("gcflood"), unique_lab_name("gcidle")
    pid = 0
    try:
        for lab in (stuck, flood, idle):
            learner(lab, "machine")
        learner(flood, "flood")
        pid = _dockerd_pid(host, f"{stuck}.manager1.u{LEARNER_UID}")
        os.kill(pid, signal.SIGSTOP)
        time.sleep(2)
        done, took = _root_gc("--idle", "1s", "--user", str(LEARNER_UID), timeout=GC_DEADLINE + 30)
        print(f"gc with a stopped engine took {took:.1f}s (deadline {GC_DEADLINE:.0f}s)")
        assert took < GC_DEADLINE, f"gc took {took:.0f}s"
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"kept lab {stuck} of user {LEARNER_UID}: could not be read" in done.stdout, done.stdout
        assert f"removed lab {idle} of user {LEARNER_UID}: 1 machines" in done.stdout, done.stdout
        assert flood not in done.stdout  # in use: its event log does not reach back
        assert labelled(host, idle) == {"containers": 0, "volumes": 0, "networks": 0}
        for lab in (stuck, flood):
            (c,) = _owned(host, lab, LEARNER_UID)
            assert c.status == "running", lab
        # what `class down` (hub._remove_labs) lists to remove: every lab, no engine waited for
        listed: list[list[str]] = []
        reader = threading.Thread(target=lambda: listed.append(
            [x.lab for x in gc.idle_labs(host, 0, [str(LEARNER_UID)])]), daemon=True)
        start = time.monotonic()
        reader.start()
        reader.join(60)
        assert listed, "idle_labs(..., 0, ...) did not return within 60 s"
        assert time.monotonic() - start < 15 and {stuck, flood} <= set(listed[0]), listed
    finally:
        if pid:
            os.kill(pid, signal.SIGCONT)
        for lab in (stuck, flood, idle):
            learner(lab, "destroy")
            remove_labelled(host, lab)


def test_a_second_gc_exits_at_once_while_one_runs(
        host: docker.DockerClient, root_home: Path, learner: Callable[..., object]) -> None:
    """While a gc holds the lock (this process, through gc's own lock), a second gc removes
    nothing and says at once which process runs; once the first ends, gc runs."""
    name = unique_lab_name("gclock")
    try:
        learner(name, "machine")
        time.sleep(2)
        with gc.only_one():
            done, took = _root_gc("--idle", "1s", "--user", str(LEARNER_UID), timeout=60)
            assert took < 15, f"the second gc took {took:.0f}s"
            assert done.returncode == 3, done.stdout + done.stderr
            assert f"another swarmlab gc is running (pid {os.getpid()}" in done.stderr, done.stderr
            assert len(_owned(host, name, LEARNER_UID)) == 1  # nothing removed
        done, _ = _root_gc("--idle", "1s", "--user", str(LEARNER_UID))
        assert done.returncode == 0, done.stdout + done.stderr
        assert _owned(host, name, LEARNER_UID) == []
    finally:
        learner(name, "destroy")
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


def test_gc_keeps_a_lab_used_between_listing_and_removal(
        host: docker.DockerClient, root_home: Path, learner: Callable[..., object],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The learner changes their lab after gc listed it as idle and before it removes it:
    gc reads it again, keeps it, and says why."""
    from swarmlab.cli import main

    name = unique_lab_name("gcrace")
    idle = 10
    touched: list[str] = []

    def use_it(x: gc.IdleLab) -> None:
        if x.lab == name:
            learner(name, "touch")
            touched.append(x.lab)

    try:
        learner(name, "machine")
        time.sleep(idle + 3)
        monkeypatch.setattr(gc, "before_recheck", use_it)
        code = main(["gc", "--idle", f"{idle}s", "--user", str(LEARNER_UID)])
        out = capsys.readouterr().out
        assert touched == [name], out
        assert code == 0, out
        assert f"kept lab {name} of user {LEARNER_UID}: used since it was listed: a network change" in out, out
        (c,) = _owned(host, name, LEARNER_UID)
        assert c.status == "running"
    finally:
        learner(name, "destroy")
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


@pytest.fixture
def stalling_engine() -> Iterator[None]:
    """The learner's "rootless engine": a Docker-API-shaped server run by the learner at their
    /run/user/UID/docker.sock that answers a ping, then sends the list of containers one
    space every 2 s, forever (what a learner who controls that engine can make it do)."""
    run = Path(f"/run/user/{LEARNER_UID}")
    assert not run.exists(), f"{run} is there already"
    run.mkdir(parents=True, mode=0o700)
    os.chown(run, LEARNER_UID, LEARNER_UID)
    proc = subprocess.Popen(["/usr/bin/python3", "-I", str(FAKE_ENGINE), str(rootless.socket_path(LEARNER_UID)),
                             "stall", "[]"], user=LEARNER_UID, group=LEARNER_UID, extra_groups=[],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin"})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr
        yield
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(run, ignore_errors=True)


def test_gc_goes_on_past_a_learners_engine_that_never_answers(
        host: docker.DockerClient, root_home: Path, learner: Callable[..., object], stalling_engine: None) -> None:
    """The learner's own engine sends its answer a byte at a time, forever: gc gives it up at
    its deadline, says so, and still removes the learner's idle lab on this computer's engine."""
    name = unique_lab_name("gcslow")
    try:
        learner(name, "machine")
        time.sleep(2)
        bound = gc.SCAN_DEADLINE + 60
        done, took = _root_gc("--idle", "1s", "--user", str(LEARNER_UID), timeout=bound + 30)
        print(f"gc with a stalling engine took {took:.1f}s (deadline {bound:.0f}s)")
        assert took < bound, f"gc took {took:.0f}s"
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"removed lab {name} of user {LEARNER_UID}: 1 machines" in done.stdout, done.stdout
        assert (f"could not read the rootless engine of user {LEARNER_UID}: NotAnswered: no answer within "
                f"{gc.SCAN_DEADLINE:g} s; its labs are kept") in done.stdout, done.stdout
        assert _owned(host, name, LEARNER_UID) == []
        # what `class down` (hub._remove_labs) lists there: given up too, never waited for
        said: list[BaseException] = []

        def listing() -> None:
            try:
                gc.idle_labs(rootless.client(LEARNER_UID), 0, [str(LEARNER_UID)])
            except BaseException as e:  # noqa: BLE001 - looked at below
                said.append(e)

        reader = threading.Thread(target=listing, daemon=True)
        reader.start()
        reader.join(gc.SCAN_DEADLINE + 30)
        assert said and isinstance(said[0], gc.NotAnswered), f"idle_labs on that engine: {said or 'still waiting'}"
    finally:
        learner(name, "destroy")
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}
