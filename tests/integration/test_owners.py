"""Two users of one engine who both name their lab the same never see, use or destroy each
other's machines. The second user is a real one: a process with another uid (and the
engine's socket group), its own SWARMLAB_HOME; every check is made on the engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from labtest import labelled, remove_labelled, unique_lab_name

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
    """A folder of the other user's own (outside root's private temporary folders)."""
    top = Path(tempfile.mkdtemp(prefix="sl-u-"))
    os.chown(top, OTHER_UID, OTHER_UID)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def other_user_env(home: Path) -> dict[str, str]:
    """The other user's environment: its own home and SWARMLAB_HOME; swarmlab and its
    dependencies from this checkout and this environment's site-packages."""
    paths = [str(Path(sl.__file__).resolve().parents[1]), sysconfig.get_paths()["purelib"],
             sysconfig.get_paths()["platlib"]]
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "SWARMLAB_HOME": str(home / "sl"),
           "SWARMLAB_NODE_IMAGE": os.environ["SWARMLAB_NODE_IMAGE"], "SWARMLAB_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    if "DOCKER_HOST" in os.environ:
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return env


def run_as_other(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    socket_group = os.stat("/var/run/docker.sock").st_gid
    return subprocess.run(list(args), user=OTHER_UID, group=OTHER_UID, extra_groups=[socket_group],
                          env=other_user_env(home), cwd=home, capture_output=True, text=True, timeout=300)


def other_python(home: Path) -> str:
    """A Python of this version that the other user may run (this one may live in a folder
    only root can enter, as pyenv's under /root does)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    tried = []
    for candidate in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        try:
            done = run_as_other(home, candidate, "-c", "import swarmlab, docker")
        except OSError as e:
            tried.append(f"{candidate}: {e}")
            continue
        if done.returncode == 0:
            return candidate
        tried.append(f"{candidate}: {done.stderr.strip().splitlines()[-1:]}")
    pytest.fail(f"no Python {version} that uid {OTHER_UID} may run imports swarmlab: {tried}; "
                f"install python{version} (apt-get install python{version})", pytrace=False)


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
