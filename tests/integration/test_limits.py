"""A classroom's limits, set by the teacher in one file (swarmlab/providers/dind/limits.py):
each machine's memory and CPUs as the engine applies them, and a learner refused more machines
than the limit, before anything is made."""

from __future__ import annotations

import json
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


#: what the learner runs: machines made in labs, one step at a time; what each step did
LEARNER = """
import json, sys
import swarmlab as sl
said = []
for lab, machines in json.loads(sys.argv[1]):
    try:
        if machines == ["destroy"]:
            sl.Lab(lab, provider="dind", progress=False).destroy()
            said.append("destroyed")
        else:
            sl.Lab(lab, provider="dind", progress=False).machine.create(*machines)
            said.append("made")
    except sl.LimitExceeded as e:
        said.append(str(e))
print(json.dumps(said))
"""
LEARNER_UID = 12346  # a learner of their own: the machines of the user running the tests never count


def test_a_learner_with_too_many_machines_is_refused_and_nothing_is_made(host: docker.DockerClient) -> None:
    first, second = unique_lab_name("limone"), unique_lab_name("limtwo")
    with user_home(LEARNER_UID) as home:
        path = home / "limits.json"
        python = python_for(LEARNER_UID, home)

        def learner(*steps: tuple[str, list[str]]) -> list[str]:
            done = run_as(LEARNER_UID, home, python, "-c", LEARNER, json.dumps(steps), SWARMLAB_LIMITS=str(path))
            assert done.returncode == 0, done.stdout + done.stderr
            return list(json.loads(done.stdout.strip().splitlines()[-1]))

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


def _machines(host: docker.DockerClient, lab: str) -> list[str]:
    """The learner's machines of ``lab``, as the engine lists them (their labels)."""
    found = host.containers.list(all=True, filters={"label": [f"io.swarmlab.lab={lab}", "io.swarmlab.role=machine",
                                                              f"io.swarmlab.owner={LEARNER_UID}"]})
    return sorted(c.labels["io.swarmlab.machine"] for c in found)
