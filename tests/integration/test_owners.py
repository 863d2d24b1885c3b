"""Two users of one engine who both name their lab the same never see, use or destroy each
other's machines. The second user is a real one: a process with another uid (and the
engine's socket group), its own SWARMLAB_HOME; every check is made on the engine."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from labtest import labelled, python_for, remove_labelled, run_as, unique_lab_name, user_home

import swarmlab as sl

pytestmark = pytest.mark.integration

OTHER_UID = 12345
LABEL_LAB, LABEL_OWNER, LABEL_ROLE = "io.swarmlab.lab", "io.swarmlab.owner", "io.swarmlab.role"

#: what the other user runs: one verb on its lab, then what its own lab lists, as JSON
OTHER = """
import json, sys
import swarmlab as sl
lab = sl.Lab(sys.argv[1], provider="dind", progress=False)
verb = sys.argv[2]
if verb == "create":
    lab.machine.create("manager1")
elif verb == "destroy":
    lab.destroy()
print(json.dumps([[m.name, m.state, m.details["container"]] for m in lab.provider.list()]))
"""


@pytest.fixture
def other_home() -> Iterator[Path]:
    with user_home(OTHER_UID) as home:
        yield home


def run_as_other(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_as(OTHER_UID, home, *args)


def other_python(home: Path) -> str:
    return python_for(OTHER_UID, home)


def as_other_user(home: Path, lab: str, verb: str) -> list[list[str]]:
    done = run_as_other(home, other_python(home), "-c", OTHER, lab, verb)
    assert done.returncode == 0, done.stdout + done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def machines_on_engine(host: docker.DockerClient, lab: str) -> dict[str, tuple[str, str]]:
    """Container name -> (owner label, status): everything labelled as a machine of ``lab``."""
    found = host.containers.list(all=True, filters={"label": [f"{LABEL_LAB}={lab}", f"{LABEL_ROLE}=machine"]})
    return {c.name: (c.labels.get(LABEL_OWNER, ""), c.status) for c in found}


def test_two_users_with_the_same_lab_name_keep_apart(host: docker.DockerClient, other_home: Path) -> None:
    name = unique_lab_name("same")
    me = str(os.getuid())
    lab = sl.Lab(name, provider="dind", progress=False)
    try:
        lab.machine.create("manager1")
        theirs = as_other_user(other_home, name, "create")
        mine = [[m.name, m.state, m.details["container"]] for m in lab.provider.list()]
        # each user sees one manager1: their own
        assert [m[:2] for m in mine] == [["manager1", "Running"]]
        assert [m[:2] for m in theirs] == [["manager1", "Running"]]
        assert mine[0][2] != theirs[0][2]
        on_engine = machines_on_engine(host, name)
        assert on_engine == {mine[0][2]: (me, "running"), theirs[0][2]: (str(OTHER_UID), "running")}
        # each machine on its own network, the owner's
        nets = host.networks.list(filters={"label": f"{LABEL_LAB}={name}"})
        assert sorted(n.attrs["Labels"][LABEL_OWNER] for n in nets) == sorted([me, str(OTHER_UID)])
        assert sl.Lab.attach(name, provider="dind", progress=False).machine.ls()["NAME"].tolist() == ["manager1"]

        # my destroy leaves their machine running
        lab.destroy()
        assert machines_on_engine(host, name) == {theirs[0][2]: (str(OTHER_UID), "running")}
        assert [m[:2] for m in as_other_user(other_home, name, "list")] == [["manager1", "Running"]]
        assert lab.provider.list() == []

        # and theirs leaves mine
        lab.machine.create("manager1")
        mine = [[m.name, m.state, m.details["container"]] for m in lab.provider.list()]
        assert as_other_user(other_home, name, "destroy") == []
        assert machines_on_engine(host, name) == {mine[0][2]: (me, "running")}
        assert [m.name for m in lab.provider.list() if m.running] == ["manager1"]
        assert lab.ssh("manager1", "docker info --format '{{.Name}}'").strip() == "manager1"
        lab.destroy()
        assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}
    finally:
        # whatever either user left is removed by the test itself
        remove_labelled(host, name)
