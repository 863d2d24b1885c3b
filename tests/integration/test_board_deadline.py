"""The teacher's board with a stuck machine, for real: two learners (users of their own) each
have a one-machine lab; the dockerd inside one learner's machine is stopped (SIGSTOP), so
every ``docker`` command in that machine, and docker-py's exec of one (which ignores its
client's timeout), waits forever. ``swarmlab class status`` as root must still return within
its deadline, list that lab as not read, and show the other learner's lab as the engine
says it is. The dockerd is let go (SIGCONT) after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import docker
import pytest
from labtest import WORKLOAD, exec_in, labelled, python_for, run_as, unique_lab_name, user_home

from swarmlab.classroom import status as classroom

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

CAROL, DAVE = 12358, 12359

STEP = """
import sys
import swarmlab as sl
lab = sl.Lab(sys.argv[1], provider="dind", progress=False)
if sys.argv[2] == "make":
    lab.up(managers=1, workers=0)
    lab.image.load(sys.argv[3])
    lab.service.create("helloworld", sys.argv[3], "ping", "127.0.0.1", replicas=2)
else:
    lab.destroy()
"""


@pytest.fixture(scope="module")
def labs(host: docker.DockerClient) -> Iterator[dict[int, str]]:
    with user_home(CAROL) as c_home, user_home(DAVE) as d_home:
        who = {CAROL: (c_home, python_for(CAROL, c_home), unique_lab_name("dl")),
               DAVE: (d_home, python_for(DAVE, d_home), unique_lab_name("dl"))}
        try:
            for uid, (home, py, lab) in who.items():
                done = run_as(uid, home, py, "-c", STEP, lab, "make", WORKLOAD)
                assert done.returncode == 0, done.stdout + done.stderr
            yield {uid: lab for uid, (_, _, lab) in who.items()}
        finally:
            for uid, (home, py, lab) in who.items():
                run_as(uid, home, py, "-c", STEP, lab, "destroy", WORKLOAD)
                assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}


def inner_dockerd(host: docker.DockerClient, uid: int, lab: str) -> int:
    """This computer's process id of the dockerd inside the lab's machine (from the engine)."""
    (machine,) = host.containers.list(filters={"label": [f"io.swarmlab.lab={lab}", f"io.swarmlab.owner={uid}"]})
    top = machine.top(ps_args="-eo pid,comm")
    pids = [int(p[0]) for p in top["Processes"] if p[1] == "dockerd"]
    assert len(pids) == 1, top
    return pids[0]


def test_a_machine_whose_dockerd_is_stopped_does_not_stop_the_board(labs: dict[int, str],
                                                                    host: docker.DockerClient) -> None:
    stopped = inner_dockerd(host, CAROL, labs[CAROL])
    os.kill(stopped, signal.SIGSTOP)
    try:
        t = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "swarmlab", "class", "status", "--user", str(CAROL),
                               "--user", str(DAVE), "-o", "json"], capture_output=True, text=True, timeout=300)
        took = time.monotonic() - t
    finally:
        os.kill(stopped, signal.SIGCONT)
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"the board returned in {took:.1f} s")
    # its deadline per lab, the engines' and Python's start, on a loaded computer
    assert took < classroom.LAB_DEADLINE + classroom.ENGINE_DEADLINE + 30, took
    rows = {x["uid"]: x for x in json.loads(done.stdout)["labs"]}
    assert rows[str(CAROL)]["lab"] == labs[CAROL]
    assert rows[str(CAROL)]["error"] == f"could not be read within {classroom.LAB_DEADLINE:g} s", rows
    dave = rows[str(DAVE)]
    assert (dave["lab"], dave["machines"], dave["nodes"], dave["error"]) == (labs[DAVE], "1/1", "1/1", "")
    assert dave["services"] == ["helloworld 2/2"] and "08-quorum" in dave["passed"], dave
    # what the engine says of Dave's lab: the docker CLI in its machine
    (machine,) = host.containers.list(filters={"label": [f"io.swarmlab.lab={labs[DAVE]}",
                                                          f"io.swarmlab.owner={DAVE}"]})
    said = exec_in(machine, ["docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"])
    assert said.code == 0 and said.text.split("\n")[:-1] == ["helloworld 2/2"], said
