"""The teacher's board (``swarmlab class status``, ``classroom.board()``) with two real
learners, each a user of their own (uids of their own, so that the labs of the user running
the tests never show up here, side by side in the parallel tier): root sees both learners'
labs, their nodes and services, and which lesson's check passes on which; what it shows is
compared with what the docker CLI inside each lab's machine says; a learner sees only their
own labs and is refused another's; and the board in a real kernel follows a change a learner
makes, by itself."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import nbformat
import pytest
from labtest import WORKLOAD, exec_in, labelled, python_for, run_as, unique_lab_name, user_home
from nbclient import NotebookClient

from swarmlab.lessons.kernel import KERNEL_MANAGER

pytestmark = pytest.mark.integration

ALICE, BOB = 12348, 12349

#: what a learner runs: lesson 03's service on a one-machine swarm, with N replicas
STEP = """
import sys
import swarmlab as sl
lab = sl.Lab(sys.argv[1], provider="dind", progress=False)
if sys.argv[2] == "make":  # as a lesson starts: lab.up, the image loaded
    lab.up(managers=1, workers=0)
    lab.image.load(sys.argv[3])
    lab.service.create("helloworld", sys.argv[3], "ping", "127.0.0.1", replicas=int(sys.argv[4]))
elif sys.argv[2] == "scale":
    lab.service.scale(helloworld=int(sys.argv[4]))
elif sys.argv[2] == "destroy":
    lab.destroy()
"""


class Learner:
    def __init__(self, uid: int, home: Path) -> None:
        self.uid, self.home, self.lab = uid, home, unique_lab_name(f"cl{uid % 100}")
        self.python = python_for(uid, home)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_as(self.uid, self.home, self.python, *args)

    def step(self, what: str, replicas: int = 1) -> None:
        done = self.run("-c", STEP, self.lab, what, WORKLOAD, str(replicas))
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def learners(host: docker.DockerClient) -> Iterator[tuple[Learner, Learner]]:
    with user_home(ALICE) as a_home, user_home(BOB) as b_home:
        alice, bob = Learner(ALICE, a_home), Learner(BOB, b_home)
        try:
            alice.step("make", 3)  # lesson 03's exercise done: helloworld scaled to 3
            bob.step("make", 1)  # not yet
            yield alice, bob
        finally:
            for who in (alice, bob):
                who.step("destroy")
                assert labelled(host, who.lab) == {"containers": 0, "volumes": 0, "networks": 0}


def on_engine(host: docker.DockerClient, who: Learner) -> list[str]:
    """The lab's services as the docker CLI in its manager machine lists them (not swarmlab)."""
    (machine,) = host.containers.list(filters={"label": [f"io.swarmlab.lab={who.lab}",
                                                          f"io.swarmlab.owner={who.uid}"]})
    said = exec_in(machine, ["docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"])
    assert said.code == 0, said
    return sorted(said.text.split("\n")[:-1])


def class_status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swarmlab", "class", "status", *args],
                          capture_output=True, text=True, timeout=300)


def test_root_sees_every_learner_and_which_checks_pass(learners: tuple[Learner, Learner],
                                                        host: docker.DockerClient) -> None:
    alice, bob = learners
    done = class_status("--user", str(ALICE), "--user", str(BOB), "-o", "json")
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert said["scope"] == f"user(s) {ALICE}, {BOB}"
    assert said["lessons"][:3] == ["03-services", "04-rolling-update", "05-drain"] and len(said["lessons"]) == 11
    rows = {(x["uid"], x["lab"]): x for x in said["labs"]}
    assert sorted(rows) == sorted([(str(ALICE), alice.lab), (str(BOB), bob.lab)])
    a, b = rows[(str(ALICE), alice.lab)], rows[(str(BOB), bob.lab)]
    # these uids have no entry in the user database: the board says the id
    assert (a["user"], a["machines"], a["nodes"], a["error"]) == (str(ALICE), "1/1", "1/1", "")
    assert a["services"] == ["helloworld 3/3"] and b["services"] == ["helloworld 1/1"]
    # 03's check passes on Alice's lab only; 08's (a leader and a majority of managers) on both
    assert a["passed"] == ["03-services", "08-quorum"] and b["passed"] == ["08-quorum"]
    # the engine agrees: what the docker CLI in each lab's machine lists
    assert on_engine(host, alice) == ["helloworld 3/3"] and on_engine(host, bob) == ["helloworld 1/1"]

    text = class_status("--user", str(ALICE), "--user", str(BOB))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"2 lab(s) of 2 learner(s) (user(s) {ALICE}, {BOB}), read in ")
    assert lines[1].split()[:6] == ["LEARNER", "LAB", "MACHINES", "NODES", "SERVICES", "03"]
    row = next(line.split() for line in lines if alice.lab in line)
    assert row[:6] == [str(ALICE), alice.lab, "1/1", "1/1", "helloworld", "3/3"] and row[6] == "✓"
    assert next(line for line in lines if bob.lab in line).split()[6] == "·"

    quick = class_status("--user", str(BOB), "--no-checks", "-o", "json")
    assert json.loads(quick.stdout)["lessons"] == [] and json.loads(quick.stdout)["labs"][0]["passed"] is None


def test_a_learner_sees_only_their_own_labs(learners: tuple[Learner, Learner]) -> None:
    alice, bob = learners
    own = alice.run("-m", "swarmlab", "class", "status", "-o", "json")
    assert own.returncode == 0, own.stderr
    said = json.loads(own.stdout)
    assert said["scope"] == "your own labs: root sees every learner's"
    assert [(x["uid"], x["lab"]) for x in said["labs"]] == [(str(ALICE), alice.lab)]
    other = alice.run("-m", "swarmlab", "class", "status", "--user", str(BOB))
    assert other.returncode == 2 and "only root reads other users' labs" in other.stderr
    assert other.stdout == ""


BOARD = """
import re
from swarmlab import classroom
board = classroom.board(refresh=5, users=[{alice}, {bob}], live=True)
def bobs_row():  # the cells of Bob's row: LEARNER, LAB, MACHINES, NODES, SERVICES, then 03, 04, ...
    found = re.search(r'<tr data-learner="{bob}" data-lab="{lab}">(.*?)</tr>', board.widget.value)
    return re.findall(r"<td[^>]*>(.*?)</td>", found.group(1)) if found else []
print(type(board).__name__, board.refresher.interval, bobs_row()[4:6])
"""

WAIT = """
import time
deadline = time.monotonic() + {seconds}
while time.monotonic() < deadline and bobs_row()[5:6] != ["✓"]:
    time.sleep(0.5)
print(bobs_row()[4:6], board.refresher.refreshes)
board.stop()
"""


def test_the_board_in_a_kernel_follows_a_learner_by_itself(learners: tuple[Learner, Learner],
                                                            tmp_path: Path) -> None:
    alice, bob = learners
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(BOARD.format(alice=ALICE, bob=BOB, lab=bob.lab)),
                nbformat.v4.new_code_cell(WAIT.format(seconds=120))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=300, kernel_name="python3", kernel_manager_class=KERNEL_MANAGER,
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        first = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
        assert first.strip() == "_Board 5.0 ['helloworld 1/1', '·']", nb.cells[0].outputs
        bob.step("scale", 3)  # Bob does the exercise now; no cell of the teacher's runs meanwhile
        client.execute_cell(nb.cells[1], 1)
        said = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.output_type == "stream")
    refreshes = int(said.split()[-1])
    assert said.startswith("['helloworld 3/3', '✓'] "), \
        f"the board did not show Bob's check passing within 120 s: {said}"
    assert refreshes >= 1, said  # the background thread refreshed it
