"""Shared fixtures. Integration tests run real Docker-in-Docker swarms on the local engine;
when no engine answers or the offline images are missing they FAIL with what to do (CI must
never skip a tier for lack of an engine)."""

from __future__ import annotations

import os
import uuid
from typing import Callable, Iterator

import docker
import pytest

import swarmlab as sl

OFFLINE_IMAGES = ["swarmlab/node:bookworm", "swarmlab/busybox:latest", "swarmlab/web:1", "swarmlab/web:2"]
WORKLOAD = "swarmlab/busybox:latest"
WEB_V1, WEB_V2 = "swarmlab/web:1", "swarmlab/web:2"

os.environ.setdefault("SWARMLAB_PROGRESS", "0")
os.environ.setdefault("SWARMLAB_NODE_IMAGE", "swarmlab/node:bookworm")


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


def labelled(host: docker.DockerClient, lab: str) -> dict[str, int]:
    """Count what carries the lab's label on the engine itself."""
    f = {"label": f"io.swarmlab.lab={lab}"}
    return {
        "containers": len(host.containers.list(all=True, filters=f)),
        "volumes": len(host.volumes.list(filters=f)),
        "networks": len(host.networks.list(filters=f)),
    }


def unique_lab_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


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
