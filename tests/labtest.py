"""Helpers shared by the test tiers (importable as ``labtest``: pytest puts tests/ on the path)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import docker

OFFLINE_IMAGES = ["swarmlab/node:bookworm", "swarmlab/busybox:latest", "swarmlab/web:1", "swarmlab/web:2",
                  "swarmlab/whoami:latest", "swarmlab/registry:2.8"]
WORKLOAD = "swarmlab/busybox:latest"
WEB_V1, WEB_V2 = "swarmlab/web:1", "swarmlab/web:2"
WHOAMI = "swarmlab/whoami:latest"  # GET / says which task answered (its hostname)

os.environ.setdefault("SWARMLAB_PROGRESS", "0")
os.environ.setdefault("SWARMLAB_NODE_IMAGE", "swarmlab/node:bookworm")


def labelled(host: docker.DockerClient, lab: str) -> dict[str, int]:
    """Count what carries the lab's label on the engine itself."""
    f = {"label": f"io.swarmlab.lab={lab}"}
    return {
        # sparse: no inspect of each one (one made and removed meanwhile is no error)
        "containers": len(host.containers.list(all=True, filters=f, sparse=True)),
        "volumes": len(host.volumes.list(filters=f)),
        "networks": len(host.networks.list(filters=f)),
    }


def remove_labelled(host: docker.DockerClient, lab: str) -> None:
    """Remove, as a test's own cleanup, whatever carries the lab's label (whoever made it)."""
    f = {"label": f"io.swarmlab.lab={lab}"}
    for c in host.containers.list(all=True, filters=f):
        c.remove(force=True, v=True)
    for v in host.volumes.list(filters=f):
        v.remove(force=True)
    for n in host.networks.list(filters=f):
        n.remove()


def unique_lab_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"




def running_tasks(client: docker.DockerClient, service: str) -> list[dict]:
    """The service's tasks that run now, as the manager's engine reports them."""
    return [t for t in client.api.tasks(filters={"service": service, "desired-state": "running"})
            if t["Status"]["State"] == "running"]


def on_machine(lab, machine: str, service: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Ask the machine's own docker CLI which containers of the service run there."""
    out = lab.ssh(machine, f"docker ps -q --filter label=com.docker.swarm.service.name={service}")
    assert out.ok, out
    return list(out.split())


def swarm_lab(host: docker.DockerClient, prefix: str, workers: int, images: tuple[str, ...],
              **options: object) -> Iterator[Any]:
    """A module's swarm (manager1 and ``workers`` workers, ``images`` loaded): yielded, then
    destroyed, and nothing of it may be left on the engine."""
    import swarmlab as sl

    lab = sl.Lab(unique_lab_name(prefix), provider="dind", progress=False, **options)  # type: ignore[arg-type]
    try:
        lab.up(managers=1, workers=workers)
        lab.image.load(*images)
        yield lab
    finally:
        lab.destroy()
        assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}


def on_manager(lab: Any, command: str) -> str:
    """What the docker CLI in manager1 prints (the command must succeed)."""
    out = lab.ssh("manager1", command)
    assert out.ok, f"{command} on manager1: {out}"
    return str(out).strip()
