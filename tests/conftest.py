"""Shared fixtures. Integration tests run real Docker-in-Docker swarms on the local engine;
when no engine answers or the offline images are missing they FAIL with what to do (CI must
never skip a tier for lack of an engine)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import docker
import pytest
from labtest import OFFLINE_IMAGES, WEB_V1, WEB_V2, WORKLOAD, labelled, unique_lab_name

import swarmlab as sl

#: the longest modules first on the workers, and each module's time recorded (tests/ordering.py)
pytest_plugins = ["ordering"]


@pytest.fixture(scope="session")
def host() -> docker.DockerClient:
    """The local engine; fails (not skips) when there is none, or the offline images are missing."""
    try:
        client = docker.from_env(version="auto")
        client.ping()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"no Docker engine answers ({e}); run scripts/setup first", pytrace=False)
    missing = []
    for img in OFFLINE_IMAGES:
        try:
            client.images.get(img)
        except docker.errors.ImageNotFound:
            missing.append(img)
    if missing:
        pytest.fail(f"offline images missing: {missing}; run scripts/build-images", pytrace=False)
    return client


@pytest.fixture
def make_lab(host: docker.DockerClient) -> Iterator[Callable[..., sl.Lab]]:
    """Make labs with unique names; each is destroyed afterwards, and nothing may be left."""
    labs: list[sl.Lab] = []

    def make(prefix: str = "t", **kw: object) -> sl.Lab:
        lab = sl.Lab(unique_lab_name(prefix), provider="dind", progress=False, **kw)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.destroy()
        assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}


@pytest.fixture(scope="module")
def swarm3(host: docker.DockerClient) -> Iterator[sl.Lab]:
    """One 3-machine swarm (manager1, worker1, worker2) with the offline images loaded, shared by
    a module's tests. Tests that change it must put it back."""
    lab = sl.Lab(unique_lab_name("m"), provider="dind", progress=False)
    try:
        lab.machine.create("manager1", "worker1", "worker2")
        lab.swarm.init("manager1")
        lab.swarm.join("worker1", "worker2")
        lab.image.load(WORKLOAD, WEB_V1, WEB_V2)
        yield lab
    finally:
        lab.destroy()
        assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}

