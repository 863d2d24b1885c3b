"""The registry mirror, for real: the CNCF distribution registry (``swarmlab/registry:2.8``)
in proxy mode, machines whose dockerd uses it, and labs pulling images by name, the online
path a learner with internet takes.

No public registry answers here, so the mirror's upstream is a second real registry on this
engine holding stand-ins under the public names (``library/alpine`` is swarmlab/busybox,
``library/redis:7.2`` and ``:7.4`` are swarmlab/web:1 and :2). What the upstream served is read from its own
access log. What this cannot prove: Docker Hub's own behaviour (its pull limits, its
token authentication), which only a run with internet shows.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
from labtest import WEB_V1, WEB_V2, WORKLOAD, labelled, python_for, run_as, user_home

import swarmlab as sl
from swarmlab import exercises as ex
from swarmlab.providers.dind.mirror import IMAGE, MIRROR_URL, Mirror, MirrorError

pytestmark = pytest.mark.integration

UPSTREAM_PORT = 5000


@pytest.fixture(scope="module")
def mirror(host: docker.DockerClient) -> Iterator[Mirror]:
    m = Mirror(host)
    assert not m.status().running, "a registry mirror runs already: 'swarmlab mirror down' first"
    m.down()  # what a mirror that never started left (its network)
    yield m
    m.down()
    assert host.containers.list(all=True, filters={"label": "io.swarmlab.role=mirror"}) == []
    assert host.networks.list(filters={"label": "io.swarmlab.role=mirror"}) == []
    assert host.volumes.list(filters={"label": "io.swarmlab.role=mirror"}) == []


@pytest.fixture(scope="module")
def upstream(host: docker.DockerClient, mirror: Mirror) -> Iterator[Any]:
    """A plain registry (no proxy) on the mirror's network, holding the stand-ins, pushed by
    this computer's engine through 127.0.0.1."""
    # the network `mirror up` makes, made first so that the upstream is on it when the
    # mirror starts (the registry asks its upstream at start)
    host.networks.create(mirror.network, driver="bridge", labels=mirror.labels, check_duplicate=True)
    name = f"swarmlab-test-upstream-{uuid.uuid4().hex[:8]}"
    c = host.containers.run(IMAGE, name=name, detach=True, network=mirror.network,
                            ports={f"{UPSTREAM_PORT}/tcp": ("127.0.0.1", None)},
                            labels={"io.swarmlab.test": "upstream"})
    try:
        c.reload()
        port = c.attrs["NetworkSettings"]["Ports"][f"{UPSTREAM_PORT}/tcp"][0]["HostPort"]
        _wait_for(f"http://127.0.0.1:{port}/v2/")
        for src, ref in ((WORKLOAD, "library/alpine:latest"), (WEB_V1, "library/redis:7.2"),
                         (WEB_V2, "library/redis:7.4")):
            target = f"127.0.0.1:{port}/{ref}"
            host.images.get(src).tag(target)
            try:
                for line in host.images.push(target, stream=True, decode=True):
                    assert "error" not in line, line
            finally:
                host.images.remove(target)
        c.url = f"http://{name}:{UPSTREAM_PORT}"
        yield c
    finally:
        c.remove(force=True)


@pytest.fixture(scope="module")
def running(mirror: Mirror, upstream: Any) -> Mirror:
    status = mirror.up(upstream.url)
    assert status.running and status.upstream == upstream.url
    return mirror


def _wait_for(url: str, wait: float = 15.0) -> None:
    import urllib.request

    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _blob_fetches(upstream: Any, repo: str) -> int:
    """Layer and config downloads the upstream registry served for ``repo`` (its access log)."""
    log = upstream.logs().decode("utf-8", "replace")
    return len(re.findall(rf'"GET /v2/{re.escape(repo)}/blobs/sha256:[0-9a-f]+ HTTP/1\.1" 200', log))


def _mirrors(lab: sl.Lab, machine: str) -> list[str]:
    """What the machine's own dockerd says its registry mirrors are (``docker info``)."""
    # none: [] from Docker 20.10, null from 28
    return [str(m) for m in lab.client(machine).info()["RegistryConfig"]["Mirrors"] or []]


def test_three_machines_pulling_an_image_cost_what_one_costs(
        running: Mirror, upstream: Any, make_lab, host: docker.DockerClient) -> None:
    lab = make_lab("mirror", registry_mirror=MIRROR_URL)
    lab.machine.create("manager1", "worker1", "worker2")
    assert all(_mirrors(lab, m) == [f"{MIRROR_URL}/"] for m in ("manager1", "worker1", "worker2"))
    assert lab.provider.network_name in running.status().labs

    assert _blob_fetches(upstream, "library/alpine") == 0
    first = lab.image.pull("alpine", machines=["manager1"])
    one = _blob_fetches(upstream, "library/alpine")
    assert one >= 2  # its config and its layer, at least
    rest = lab.image.pull("alpine")
    assert [r["MACHINE"] for r in rest.rows()] == ["manager1", "worker1", "worker2"]
    assert _blob_fetches(upstream, "library/alpine") == one  # served from the mirror's cache
    assert "library/alpine" in running.status().repositories
    # what each machine has is the stand-in itself: the same image ID as this computer's
    want = host.images.get(WORKLOAD).id
    for m in ("manager1", "worker1", "worker2"):
        assert lab.client(m).images.get("alpine").id == want
    assert first.command == "docker pull alpine  (on each machine)"

    # the online path of the lessons: a service of an image by name, pulled by its node
    lab.swarm.init("manager1")
    lab.service.create("cache", "redis:7.2", replicas=1)
    tasks = lab.client("manager1").api.tasks(filters={"service": "cache", "desired-state": "running"})
    assert [t["Status"]["State"] for t in tasks] == ["running"]
    node = lab.client("manager1").api.inspect_node(tasks[0]["NodeID"])["Description"]["Hostname"]
    assert lab.client(node).images.get("redis:7.2").id == host.images.get(WEB_V1).id

    # destroyed, the lab leaves nothing (make_lab counts), and the mirror runs on without it
    lab.destroy()
    assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}
    status = running.status()
    assert status.running and lab.provider.network_name not in status.labs


#: what each learner runs: their own mirror up (``swarmlab mirror up --upstream URL``), a lab of
#: 3 machines using it, ``alpine`` pulled on all three; what their mirror then says
LEARNER = """
import json, sys
import docker
import swarmlab as sl
from swarmlab.providers.dind.mirror import MIRROR_URL, Mirror
mirror = Mirror(docker.from_env())
assert mirror.up(sys.argv[2]).running
lab = sl.Lab(sys.argv[1], provider="dind", progress=False, registry_mirror=MIRROR_URL)
try:
    lab.machine.create("manager1", "worker1", "worker2")
    lab.image.pull("alpine")
    status = mirror.status()
    print(json.dumps({"network": lab.provider.network_name, "labs": status.labs,
                      "repositories": status.repositories, "container": mirror.container}))
finally:
    lab.destroy()
"""


def test_each_learner_has_a_mirror_of_their_own_so_a_class_pulls_once_per_learner(
        running: Mirror, upstream: Any, host: docker.DockerClient) -> None:
    """The measurement behind the README: two learners (users of their own), each with the
    mirror their ``mirror up`` starts and a 3-machine lab pulling ``alpine`` through it. Each
    learner's three pulls cost the upstream one pull, and the second learner's as much as the
    first's: a class costs one pull per learner and image, not one in all."""
    costs = []
    for uid in (12347, 12348):
        theirs = Mirror(host, str(uid))
        assert theirs.network != running.network and theirs.container != running.container
        # their mirror's network made first, with the upstream on it, as the fixture does for root's
        host.networks.create(theirs.network, driver="bridge", labels=theirs.labels, check_duplicate=True)
        host.networks.get(theirs.network).connect(upstream.id)
        lab = f"mirrown-{uuid.uuid4().hex[:8]}"
        try:
            with user_home(uid) as home:
                before = _blob_fetches(upstream, "library/alpine")
                done = run_as(uid, home, python_for(uid, home), "-c", LEARNER, lab, upstream.url)
                assert done.returncode == 0, done.stdout + done.stderr
                costs.append(_blob_fetches(upstream, "library/alpine") - before)
            said = json.loads(done.stdout.strip().splitlines()[-1])
            assert said["container"] == theirs.container and said["network"] in said["labs"]
            assert "library/alpine" in said["repositories"]
            assert said["network"] not in running.status().labs  # root's mirror never saw their lab
        finally:
            host.networks.get(theirs.network).disconnect(upstream.id, force=True)
            theirs.down()
        assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}
    assert costs[0] >= 2 and costs == [costs[0], costs[0]], costs  # each learner: one pull's cost


def test_an_image_no_registry_has_is_one_clear_error(running: Mirror, make_lab) -> None:
    lab = make_lab("mirrmiss", registry_mirror=MIRROR_URL)
    lab.machine.create("manager1")
    t0 = time.monotonic()
    with pytest.raises(sl.ImageNotAvailable) as e:
        lab.image.pull("alpne")
    assert time.monotonic() - t0 < 60
    said = str(e.value)
    assert said.startswith("docker pull alpne failed on manager1: ")
    assert "the registry mirror has no library/alpne:latest and its upstream" in said


def test_a_lab_that_asks_for_nothing_has_no_mirror(running: Mirror, make_lab, monkeypatch) -> None:
    monkeypatch.delenv("SWARMLAB_REGISTRY_MIRROR", raising=False)
    lab = make_lab("nomirror")
    lab.machine.create("manager1")
    assert _mirrors(lab, "manager1") == []
    assert lab.provider.network_name not in running.status().labs


def test_the_cli_says_where_the_mirror_is(running: Mirror, upstream: Any) -> None:
    out = subprocess.run([sys.executable, "-m", "swarmlab", "mirror", "status", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True)
    status = json.loads(out.stdout)
    assert status["running"] is True and status["upstream"] == upstream.url
    assert status["machines_url"] == MIRROR_URL
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", status["local_url"])
    # started again with another upstream while it runs: refused, and it keeps running
    bad = subprocess.run([sys.executable, "-m", "swarmlab", "mirror", "up", "--upstream", "http://elsewhere:5000"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert f"the registry mirror runs already, for {upstream.url}" in bad.stderr
    assert running.status().upstream == upstream.url


def test_an_upstream_that_is_down_is_one_clear_error(running: Mirror, upstream: Any, make_lab) -> None:
    lab = make_lab("mirrdown", registry_mirror=MIRROR_URL)
    lab.machine.create("manager1")
    upstream.stop(timeout=1)
    try:
        with pytest.raises(sl.ImageNotAvailable) as e:
            lab.image.pull("redis:7.4")  # never pulled: not in the mirror's cache
        assert f"its upstream {upstream.url} gave none: check the name, and that {upstream.url} is up" in str(e.value)
    finally:
        upstream.start()
        _wait_for(running.status().local_url + "/v2/")


def test_offline_none_chooses_online_through_this_computers_mirror(
        running: Mirror, make_lab, host: docker.DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody said online or offline, nothing else answers: the running mirror (reached on
    127.0.0.1, its name answering only on the labs' networks) makes swarmlab choose online,
    and a lab so chosen pulls by name through it."""
    monkeypatch.delenv("SWARMLAB_OFFLINE")
    monkeypatch.setenv("SWARMLAB_REGISTRY_MIRROR", MIRROR_URL)
    images = ex.lesson_images()
    assert not images.offline
    assert f"swarmlab chose ONLINE: the registry mirror {MIRROR_URL} answers" in repr(images)
    lab = make_lab("mirrauto")  # its registry_mirror from the environment, as a lesson's
    assert lab.offline is False
    lab.machine.create("manager1")
    lab.swarm.init("manager1")
    lab.service.create("hello", "alpine", "sleep", "600")  # not on the machine: pulled through the mirror
    tasks = lab.client("manager1").services.get("hello").tasks(filters={"desired-state": "running"})
    assert [t["Status"]["State"] for t in tasks] == ["running"]
    assert lab.client("manager1").images.get("alpine").id == host.images.get(WORKLOAD).id  # the stand-in


def test_a_lab_asking_for_a_mirror_that_is_not_running_is_refused_and_nothing_is_made(
        running: Mirror, upstream: Any, make_lab, host: docker.DockerClient) -> None:
    lab = make_lab("mirroff", registry_mirror=MIRROR_URL)
    lab.machine.create("manager1")
    running.down()
    try:
        with pytest.raises(sl.ImageNotAvailable, match="the registry mirror .* is not running: 'swarmlab mirror up'"):
            lab.image.pull("alpine")
        other = make_lab("mirroff2", registry_mirror=MIRROR_URL)
        with pytest.raises(MirrorError, match="none is running: start it with 'swarmlab mirror up'"):
            other.machine.create("manager1")
        assert labelled(host, other.name) == {"containers": 0, "volumes": 0, "networks": 0}
    finally:
        host.networks.create(running.network, driver="bridge", labels=running.labels, check_duplicate=True)
        host.networks.get(running.network).connect(upstream)
        running.up(upstream.url)


def test_bad_mirror_urls_are_refused_before_anything_is_made(make_lab, monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("ftp://mirror:5000", "http://user:pw@mirror:5000", "http://mirror:5000/path", "mirror:5000",
                "http://mir ror:5000", "http://mirror:99999", "http://[::1]:5000"):
        with pytest.raises(sl.InvalidArgument, match="give http:// or https://|give a URL"):
            make_lab("mirrbad", registry_mirror=bad)
    monkeypatch.setenv("SWARMLAB_REGISTRY_MIRROR", "http://x/y")
    with pytest.raises(sl.InvalidArgument, match=r"registry mirror \(SWARMLAB_REGISTRY_MIRROR\) 'http://x/y'"):
        make_lab("mirrbad")
