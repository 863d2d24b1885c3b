"""A learner's own rootless engine, for real (swarmlab/classroom/rootless.py): a new account, its
dockerd started by root through RootlessKit and slirp4netns, the learner's lab made in it by
the learner's own process, which has no access to this computer's engine. Read through the
engines: the machines are in the learner's engine and not in this computer's, each runs its
own dockerd with --rootless, as the learner's user on this computer (root in a machine is the
learner outside it), and the swarm in them runs a service. Then everything goes: the lab,
the engine's processes, the account."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from labtest import WORKLOAD, exec_in, rootless_learner, user_env

from swarmlab.classroom import rootless
from swarmlab.classroom.hub import students_python
from swarmlab.lessons.setup import node_docker_version
from swarmlab.providers import rootless_node_image

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# what the dind provider runs machines from in a rootless engine (bookworm's Docker 20.10)
NODE_IMAGE = rootless_node_image()

LEARNER = f"""
import swarmlab as sl
lab = sl.Lab("rl", provider="dind", progress=False)
made = lab.machine.create("manager1", "worker1", "worker2")
lab.swarm.init("manager1")
lab.swarm.join("worker1", "worker2")
lab.image.load("{WORKLOAD}")
lab.service.create("hello", "{WORKLOAD}", "ping", "127.0.0.1", replicas=3)
print(*made.notes, *made.details, sep=chr(10))
"""


def as_learner(uid: int, home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A process of the learner's: their ids and groups only (not the Docker socket's)."""
    env = {**user_env(home, DOCKER_HOST=url, SWARMLAB_OFFLINE="1")}
    return subprocess.run(list(args), user=uid, group=uid, extra_groups=[], env=env, cwd=home,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def learner(tmp_path_factory: pytest.TempPathFactory, host: docker.DockerClient) -> Iterator[dict[str, Any]]:
    with rootless_learner("slr", tmp_path_factory.mktemp("rootless"), [NODE_IMAGE, WORKLOAD]) as who:
        yield who
    uid = who["uid"]
    assert not os.path.exists(f"/run/user/{uid}")
    # this computer's engine never had any of it
    assert host.containers.list(all=True, filters={"label": f"io.swarmlab.owner={uid}"}) == []


def test_a_learners_lab_runs_in_their_own_rootless_engine(learner: dict[str, Any],
                                                          host: docker.DockerClient) -> None:
    uid, home, url = learner["uid"], learner["home"], learner["url"]
    assert url == f"unix:///run/user/{uid}/docker.sock"
    theirs = docker.DockerClient(base_url=url)
    try:
        info = theirs.info()
        assert "name=rootless" in ",".join(info["SecurityOptions"])

        # the learner cannot use this computer's engine at all
        refused = as_learner(uid, home, url, "docker", "-H", "unix:///var/run/docker.sock", "info")
        assert refused.returncode != 0 and "permission denied" in refused.stderr.lower(), refused.stderr

        made = as_learner(uid, home, url, students_python()[0], "-c", LEARNER)
        assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-3000:]
        assert "The engine runs rootless (in your user namespace), so each machine's dockerd runs with " \
               "--rootless too" in made.stdout, made.stdout
        ran = [line for line in made.stdout.splitlines() if line.startswith("docker run")]  # what ran underneath
        assert len(ran) == 3 and all(line.endswith(" --rootless") for line in ran), made.stdout

        # through the engines: the machines are in the learner's, none in this computer's
        mine = {"label": ["io.swarmlab.lab=rl", f"io.swarmlab.owner={uid}"]}
        machines = theirs.containers.list(filters=mine)
        assert sorted(c.labels["io.swarmlab.machine"] for c in machines) == ["manager1", "worker1", "worker2"]
        assert host.containers.list(all=True, filters=mine) == []
        for c in machines:
            assert "--rootless" in c.attrs["Config"]["Cmd"]
            # the rootless engine's node image, whatever SWARMLAB_NODE_IMAGE says
            assert c.attrs["Config"]["Image"] == NODE_IMAGE
            assert c.attrs["HostConfig"]["Privileged"] or c.attrs["HostConfig"]["CapAdd"]
            # root in the machine is the learner on this computer
            with open(f"/proc/{c.attrs['State']['Pid']}/status") as f:
                ids = dict(line.split(":", 1) for line in f if line.startswith(("Uid", "Gid")))
            assert ids["Uid"].split()[1] == str(uid), ids
        mgr = next(c for c in machines if c.labels["io.swarmlab.machine"] == "manager1")
        nodes = exec_in(mgr, ["docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}"]).text
        assert sorted(nodes.split("\n")[:-1]) == ["manager1 Ready", "worker1 Ready", "worker2 Ready"], nodes
        # its dockerd is the Docker that image was built with (20.10: 28's --rootless needs RootlessKit)
        version = exec_in(mgr, ["docker", "version", "--format", "{{.Server.Version}}"]).text
        assert version.startswith(node_docker_version(host.images.get(NODE_IMAGE).attrs)), version
        tasks = exec_in(mgr, ["docker", "service", "ps", "hello", "--filter", "desired-state=running",
                            "--format", "{{.CurrentState}}"]).text.split("\n")[:-1]
        assert len(tasks) == 3 and all(t.startswith("Running") for t in tasks), tasks

        gone = as_learner(uid, home, url, students_python()[0], "-c",
                          "import swarmlab as sl; sl.Lab('rl', provider='dind', progress=False).destroy()")
        assert gone.returncode == 0, gone.stderr[-2000:]
        f = {"label": f"io.swarmlab.owner={uid}"}
        assert theirs.containers.list(all=True, filters=f) == [] and theirs.networks.list(filters=f) == []
        assert theirs.volumes.list(filters=f) == []
    finally:
        theirs.close()


def test_what_a_rootless_engine_needs_is_said(learner: dict[str, Any]) -> None:
    assert rootless.missing() == []
    with pytest.raises(rootless.RootlessError, match=r"user 'root' is a system account"):
        rootless.start("root", learner["logs"])
    with pytest.raises(rootless.RootlessError, match=r"no user 'slr-nobody-here'"):
        rootless.start("slr-nobody-here", learner["logs"])
