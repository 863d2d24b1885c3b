"""A host's Docker engine, as the ssh provider reaches it: docker-py over the forwarded socket
(:class:`~.transport.Forwarder`), noting on the host each swarm membership the lab makes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

from ..._engine import engine_client
from .transport import POOL_SIZE

#: called with the API client and the swarm node ID the host got
OnNode = Callable[[Any, str], None]


class LabAPI(docker.APIClient):
    """A host's Engine API that notes, on the host, each swarm membership the lab makes through
    it: the node ID ``swarm init`` gave, or ``swarm join`` once the host is in (a join that
    timed out may still finish: the next ``info`` that shows the host in a swarm notes it)."""

    def __init__(self, on_node: OnNode, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_node = on_node
        self.joining = False

    def init_swarm(self, *args: Any, **kwargs: Any) -> Any:
        node_id = super().init_swarm(*args, **kwargs)
        self.on_node(self, str(node_id))
        return node_id

    def join_swarm(self, *args: Any, **kwargs: Any) -> Any:
        self.joining = True
        try:
            return super().join_swarm(*args, **kwargs)
        finally:
            with contextlib.suppress(docker.errors.DockerException, OSError):  # noted by a later info
                self.info()

    def info(self, *args: Any, **kwargs: Any) -> Any:
        data = super().info(*args, **kwargs)
        swarm = data.get("Swarm") or {}
        if self.joining and swarm.get("LocalNodeState") == "active" and swarm.get("NodeID"):
            self.on_node(self, str(swarm["NodeID"]))
            self.joining = False
        return data


class LabClient(docker.DockerClient):
    """docker-py's client over :class:`LabAPI`."""

    def __init__(self, on_node: OnNode, **kwargs: Any) -> None:
        self.api = LabAPI(on_node, **kwargs)


def lab_client(url: str, on_node: OnNode) -> docker.DockerClient:
    """A client for the engine behind ``url`` (a forwarded socket), speaking its API version.
    Making it asks the engine that version: shell commands on a host without a working
    engine need the SSH part alone, so it is made on first use."""
    probe = engine_client(url, max_pool_size=POOL_SIZE)  # asks the engine its API version
    version = probe.api.api_version
    probe.close()
    client = LabClient(on_node, base_url=url, version=version, timeout=60, max_pool_size=POOL_SIZE)
    client.api.trust_env = False  # no proxy between us and the host's engine
    return client
