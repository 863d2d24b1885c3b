"""A classroom's limits, set by the teacher in one file (swarmlab/providers/dind/limits.py):
each machine's memory and CPUs as the engine applies them, and a learner refused more machines
than the limit, before anything is made."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from labtest import labelled, python_for, run_as, unique_lab_name, user_home

import swarmlab as sl

pytestmark = pytest.mark.integration

#: the machine's own memory limit, read inside it from its cgroup (v1: memory controller's
#: path; v2: the namespace's root)
CGROUP_MEMORY = ("p=$(awk -F: '$2==\"memory\"{print $3}' /proc/self/cgroup); "
                 "if [ -n \"$p\" ]; then cat /sys/fs/cgroup/memory$p/memory.limit_in_bytes; "
                 "else cat /sys/fs/cgroup/memory.max; fi")


@pytest.fixture
def limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "limits.json"
    monkeypatch.setenv("SWARMLAB_LIMITS", str(path))

    def write(**settings: object) -> Path:
        path.write_text(json.dumps(settings))
        return path
    return write


def _host_config(host: docker.DockerClient, lab: sl.Lab, machine: str) -> dict:
    return host.containers.get(lab.provider.container_name(machine)).attrs["HostConfig"]


def test_each_machine_gets_the_classroom_memory_and_cpus(limits, make_lab, host: docker.DockerClient) -> None:
    path = limits(memory="256m", cpus=0.5)
    lab = make_lab("lim")
    made = lab.machine.create("manager1")
    config = _host_config(host, lab, "manager1")
    assert (config["Memory"], config["MemorySwap"], config["NanoCpus"]) == (256 * 2**20, 256 * 2**20, 500_000_000)
    assert str(lab.ssh("manager1", CGROUP_MEMORY)).strip() == str(256 * 2**20)
    assert "--memory 256m --memory-swap 256m --cpus 0.5" in made.details[0]
    # less than the limit may be asked for; more is refused before anything is made
    small = make_lab("limsmall", memory="192m", cpus=0.25)
    small.machine.create("manager1")
    config = _host_config(host, small, "manager1")
    assert (config["Memory"], config["NanoCpus"]) == (192 * 2**20, 250_000_000)
    big = make_lab("limbig", memory="1g")
    with pytest.raises(sl.LimitExceeded) as e:
        big.machine.create("manager1")
    assert str(e.value) == ("memory='1g' is more than each machine may have here (256m, set in "
                            f"{path}): ask for 256m or less, or leave memory out")
    assert labelled(host, big.name) == {"containers": 0, "volumes": 0, "networks": 0}
    with pytest.raises(sl.LimitExceeded, match=r"cpus=2 is more than each machine may have here \(0.5"):
        make_lab("limbig2", cpus=2).machine.create("manager1")


#: what the learner runs: machines made in labs, one step at a time; what each step did. The
#: teacher's file (/etc/swarmlab/limits.json on a class server) is one of this test's, named
#: by SYSTEM_LIMITS: the server's own stays as it is for every other test on this engine.
#: With BARRIER set (a folder), the program, once its first count has passed, waits there for
#: the other program's first count to pass too: both have passed a count before either makes
#: anything, the moment two programs racing each other can both get through
LEARNER = """
import json, os, pathlib, sys, time
import swarmlab as sl
from swarmlab.providers.dind import limits
limits.DEFAULT_FILE = os.environ.get("SYSTEM_LIMITS", limits.DEFAULT_FILE)
if os.environ.get("BARRIER"):
    barrier, counted, passed = pathlib.Path(os.environ["BARRIER"]), limits.Limits.check_machines, []
    def check_machines(self, *args):
        counted(self, *args)
        if not passed:
            passed.append(1)
            (barrier / str(os.getpid())).touch()
            deadline = time.monotonic() + 60
            while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
    limits.Limits.check_machines = check_machines
said = []
for lab, machines in json.loads(sys.argv[1]):
    try:
        if machines == ["destroy"]:
            sl.Lab(lab, provider="dind", progress=False).destroy()
            said.append("destroyed")
        else:
            made = sl.Lab(lab, provider="dind", progress=False).machine.create(*machines)
            said.append(" | ".join(["made", *made.notes]) if os.environ.get("NOTES") else "made")
    except sl.LimitExceeded as e:
        said.append(str(e))
print(json.dumps(said))
"""
LEARNER_UID = 12346  # a learner of their own: the machines of the user running the tests never count


@pytest.fixture
def teacher_file() -> Iterator[Path]:
    """A limits file as the teacher's is: root's, in folders root's (0755), readable by all."""
    top = Path(tempfile.mkdtemp(prefix="sl-lim-"))
    top.chmod(0o755)
    try:
        yield top / "limits.json"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _learner(home: Path, python: str, *steps: tuple[str, list[str]], **env: str) -> list[str]:
    done = run_as(LEARNER_UID, home, python, "-c", LEARNER, json.dumps(steps), **env)
    assert done.returncode == 0, done.stdout + done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_learner_with_too_many_machines_is_refused_and_nothing_is_made(host: docker.DockerClient,
                                                                         teacher_file: Path) -> None:
    first, second = unique_lab_name("limone"), unique_lab_name("limtwo")
    path = teacher_file
    with user_home(LEARNER_UID) as home:
        python = python_for(LEARNER_UID, home)

        def learner(*steps: tuple[str, list[str]]) -> list[str]:
            return _learner(home, python, *steps, SWARMLAB_LIMITS=str(path))

        try:
            path.write_text(json.dumps({"machines": 3}))
            said = learner((first, ["manager1", "worker1"]), (second, ["manager1"]),
                           (second, ["worker1", "worker2"]), (second, ["manager1"]))
            assert said == [
                "made", "made",
                f"2 more machines in lab {second!r} would make 5: each learner may have 3 machines here (set in "
                f"{path}); yours now: {first} (2), {second} (1). Remove a lab you are done with "
                f"('swarmlab down LAB') or some machines (lab.machine.rm(...)), then try again",
                "made"]  # one that exists is no new machine
            # nothing was made by the refused step: the engine has the learner's three machines
            assert _machines(host, second) == ["manager1"]
            assert _machines(host, first) == ["manager1", "worker1"]

            # the teacher gives this learner more
            path.write_text(json.dumps({"machines": 3, "users": {str(LEARNER_UID): {"machines": 5}}}))
            assert learner((second, ["worker1", "worker2"])) == ["made"]
            assert _machines(host, second) == ["manager1", "worker1", "worker2"]
        finally:
            assert learner((first, ["destroy"]), (second, ["destroy"])) == ["destroyed", "destroyed"]
    for lab in (first, second):
        assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}


def test_a_learners_own_limits_file_is_not_used(host: docker.DockerClient, teacher_file: Path) -> None:
    """The attack: SWARMLAB_LIMITS pointed at a file of the learner's own, with more machines
    and memory than the teacher's file gives; and at a file of root's they can replace (in a
    folder of theirs). They get the teacher's limits, and are told their file was not used."""
    lab = unique_lab_name("limown")
    teacher_file.write_text(json.dumps({"machines": 1, "memory": "256m"}))
    with user_home(LEARNER_UID) as home:
        own = home / "mine.json"
        own.write_text(json.dumps({"machines": 10, "memory": "2g"}))
        theirs = home / "folder"  # the learner's folder, a file of root's in it
        theirs.mkdir()
        (theirs / "limits.json").write_text(json.dumps({"machines": 10}))
        (theirs / "limits.json").chmod(0o644)
        for p in (own, theirs):
            shutil.chown(p, LEARNER_UID, LEARNER_UID)
        python = python_for(LEARNER_UID, home)
        system = {"SYSTEM_LIMITS": str(teacher_file), "NOTES": "1"}
        try:
            said = _learner(home, python, (lab, ["manager1", "worker1"]), SWARMLAB_LIMITS=str(own), **system)
            assert said == [
                f"2 more machines in lab {lab!r} would make 2: each learner may have 1 machines here (set in "
                f"{teacher_file}); yours now: none. Remove a lab you are done with ('swarmlab down LAB') or "
                f"some machines (lab.machine.rm(...)), then try again (SWARMLAB_LIMITS={own} was not used: "
                f"{own} belongs to uid {LEARNER_UID}, not root; only a file root alone can change may set a "
                f"learner's limits, so these are from {teacher_file})"]
            said = _learner(home, python, (lab, ["manager1", "worker1"]),
                            SWARMLAB_LIMITS=str(theirs / "limits.json"), **system)
            assert f"its folder {theirs} belongs to uid {LEARNER_UID}, not root" in said[0]
            assert _machines(host, lab) == []
            # one machine is within the teacher's limits: made with the teacher's memory, and
            # what made it says the learner's file was not used
            said = _learner(home, python, (lab, ["manager1"]), SWARMLAB_LIMITS=str(own), **system)
            assert said[0].startswith("made | ") and f"SWARMLAB_LIMITS={own} was not used" in said[0]
            assert _machines(host, lab) == ["manager1"]
            config = host.containers.get(_machine_ids(host, lab)[0]).attrs["HostConfig"]
            assert config["Memory"] == 256 * 2**20
        finally:
            assert _learner(home, python, (lab, ["destroy"]), **system) == ["destroyed"]
    assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}


def test_two_programs_of_a_learner_cannot_pass_the_limit_together(host: docker.DockerClient,
                                                                  teacher_file: Path) -> None:
    """The attack: two programs of one learner (two kernels) each make 2 machines, in labs
    of their own, at the same moment, under a limit of 3: each alone fits, both do not. Both
    pass their first count before either makes anything (a barrier). The engine then has
    one lab's 2 machines, and the other program was refused."""
    labs = [unique_lab_name("limrace"), unique_lab_name("limrace")]
    teacher_file.write_text(json.dumps({"machines": 3}))
    with user_home(LEARNER_UID) as home:
        python = python_for(LEARNER_UID, home)
        barrier = home / "barrier"
        barrier.mkdir()
        shutil.chown(barrier, LEARNER_UID, LEARNER_UID)
        said: dict[str, list[str]] = {}

        def one(lab: str) -> None:
            said[lab] = _learner(home, python, (lab, ["manager1", "worker1"]),
                                 SWARMLAB_LIMITS=str(teacher_file), BARRIER=str(barrier))
        try:
            both = [threading.Thread(target=one, args=(lab,)) for lab in labs]
            for t in both:
                t.start()
            for t in both:
                t.join(timeout=400)
            assert len(list(barrier.iterdir())) == 2, "both programs passed their first count"
            made = sorted(said[lab][0] for lab in labs)
            assert made[1] == "made" and made[0].startswith("2 more machines in lab "), said
            assert sum(len(_machines(host, lab)) for lab in labs) == 2
        finally:
            assert _learner(home, python, *((lab, ["destroy"]) for lab in labs)) == ["destroyed", "destroyed"]
    for lab in labs:
        assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}


def _machine_ids(host: docker.DockerClient, lab: str) -> list[str]:
    found = host.containers.list(all=True, filters={"label": [f"io.swarmlab.lab={lab}", "io.swarmlab.role=machine",
                                                              f"io.swarmlab.owner={LEARNER_UID}"]})
    return [c.id for c in found]


def _machines(host: docker.DockerClient, lab: str) -> list[str]:
    """The learner's machines of ``lab``, as the engine lists them (their labels)."""
    found = host.containers.list(all=True, filters={"label": [f"io.swarmlab.lab={lab}", "io.swarmlab.role=machine",
                                                              f"io.swarmlab.owner={LEARNER_UID}"]})
    return sorted(c.labels["io.swarmlab.machine"] for c in found)
