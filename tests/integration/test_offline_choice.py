"""``offline=None``: swarmlab chooses online or offline and says why (swarmlab/_offline.py).

"Docker Hub" here is a real registry (``swarmlab/registry:2.8``) on 127.0.0.1, given as
``SWARMLAB_ONLINE_PROBE``; "nothing answers" is a port of 127.0.0.1 that refuses. No test
asks an address outside this computer, so what this cannot prove is Docker Hub's own answer
(a 401 to a client without a token, taken as an answer), which only a run with internet shows.
What a choice means is checked through the engine: a lab chosen offline tries no registry."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Iterator

import docker
import pytest
from labtest import REFUSING_URL

import swarmlab as sl
from swarmlab import exercises as ex
from swarmlab.providers.dind.mirror import IMAGE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(host: docker.DockerClient) -> Iterator[str]:
    """A real registry on 127.0.0.1, its URL."""
    c = host.containers.run(IMAGE, name=f"swarmlab-test-hub-{uuid.uuid4().hex[:8]}", detach=True,
                            ports={"5000/tcp": ("127.0.0.1", None)}, labels={"io.swarmlab.test": "hub"})
    try:
        c.reload()
        url = f"http://127.0.0.1:{c.attrs['NetworkSettings']['Ports']['5000/tcp'][0]['HostPort']}"
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v2/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        c.remove(force=True)


@pytest.fixture
def unsaid(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Nobody says online or offline, no mirror is set, and nothing answers (until a test says)."""
    monkeypatch.delenv("SWARMLAB_OFFLINE")
    monkeypatch.delenv("SWARMLAB_REGISTRY_MIRROR", raising=False)
    monkeypatch.setenv("SWARMLAB_ONLINE_PROBE", REFUSING_URL)
    return monkeypatch


def test_nothing_answers_so_offline_and_the_lab_tries_no_registry(unsaid: pytest.MonkeyPatch, make_lab,  # type: ignore[no-untyped-def]
                                                                   host: docker.DockerClient) -> None:
    images = ex.lesson_images()
    assert images.offline and images.to_load == ex.OFFLINE.to_load
    said = repr(images)
    assert f"swarmlab chose OFFLINE: neither {REFUSING_URL} answers from this computer (" in said, said
    assert "refused" in said.lower() and "This computer has the offline images." in said
    assert "offline=False, or SWARMLAB_OFFLINE=0, chooses online" in said

    lab = make_lab("off")
    lab.machine.create("manager1")
    lab.swarm.init("manager1")
    assert lab.offline
    with pytest.raises(sl.ImageNotAvailable, match=r"this lab is offline.*lab\.image\.load\('redis:7\.2'\)"):
        lab.service.create("r", "redis:7.2")
    # through the engine: no service was made, no image came (a pull would have tried)
    assert lab.client("manager1").services.list() == []
    assert [t for i in lab.client("manager1").images.list() for t in i.tags if "redis" in t] == []


def test_a_registry_answers_so_online(unsaid: pytest.MonkeyPatch, registry: str) -> None:
    unsaid.setenv("SWARMLAB_ONLINE_PROBE", registry)
    images = ex.lesson_images()
    assert not images.offline and images.hello == "alpine"
    assert f"swarmlab chose ONLINE: {registry} answers from this computer." in repr(images)
    assert sl.Lab("t-never-made", provider="dind").offline is False


def test_a_mirror_that_answers_means_online_and_one_that_does_not_is_said(unsaid: pytest.MonkeyPatch,
                                                                         registry: str) -> None:
    unsaid.setenv("SWARMLAB_REGISTRY_MIRROR", registry)
    online = ex.lesson_images()
    assert not online.offline
    assert f"chose ONLINE: the registry mirror {registry} answers; the machines pull through it" in repr(online)
    assert sl.Lab("t-never-made", provider="dind").offline is False

    unsaid.setenv("SWARMLAB_REGISTRY_MIRROR", REFUSING_URL)
    offline = repr(ex.lesson_images())
    assert f"swarmlab chose OFFLINE: neither the registry mirror {REFUSING_URL} (" in offline
    assert f") nor {REFUSING_URL} answers from this computer" in offline


def test_said_is_obeyed_without_asking_and_bad_values_are_refused(unsaid: pytest.MonkeyPatch,
                                                                  registry: str) -> None:
    unsaid.setenv("SWARMLAB_ONLINE_PROBE", registry)  # it would answer: online, if asked
    unsaid.setenv("SWARMLAB_OFFLINE", "1")
    assert ex.lesson_images() is ex.OFFLINE and "chose" not in repr(ex.OFFLINE)
    assert sl.Lab("t-never-made", provider="dind").offline is True
    unsaid.setenv("SWARMLAB_OFFLINE", "0")
    unsaid.setenv("SWARMLAB_ONLINE_PROBE", REFUSING_URL)
    assert ex.lesson_images() is ex.ONLINE and ex.lesson_images(True) is ex.OFFLINE
    assert sl.Lab("t-never-made", provider="dind").offline is False

    unsaid.setenv("SWARMLAB_OFFLINE", "maybe")
    with pytest.raises(sl.InvalidArgument, match=r"SWARMLAB_OFFLINE='maybe': give 1 \(offline\) or 0 \(online\)"):
        ex.lesson_images()
    unsaid.delenv("SWARMLAB_OFFLINE")
    unsaid.setenv("SWARMLAB_ONLINE_PROBE", "ftp://127.0.0.1/x")
    with pytest.raises(sl.InvalidArgument, match=r"SWARMLAB_ONLINE_PROBE 'ftp://127\.0\.0\.1/x': give http"):
        ex.lesson_images()
    with pytest.raises(sl.InvalidArgument, match=r"offline='yes': give True, False, or None"):
        sl.Lab("t-never-made", provider="dind", offline="yes")  # type: ignore[arg-type]
    with pytest.raises(sl.InvalidArgument, match=r"offline='yes': give True, False, or None"):
        ex.lesson_images("yes")  # type: ignore[arg-type]
