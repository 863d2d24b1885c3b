"""Reaching Docker engines: the host's, and where swarmlab keeps its per-lab files."""

from __future__ import annotations

import os
from pathlib import Path

import docker
import docker.errors

from ._errors import EngineUnavailable

#: The Engine API version used to talk to machines: Docker 20.10 (Debian bookworm's
#: docker.io) speaks 1.41, and every newer engine still accepts it.
NODE_API_VERSION = "1.41"


def swarmlab_home() -> Path:
    """Where swarmlab keeps per-lab files (machine sockets, certificates):
    ``$SWARMLAB_HOME``, else ``~/.swarmlab``."""
    return Path(os.environ.get("SWARMLAB_HOME") or Path.home() / ".swarmlab")


def host_client(timeout: int = 60) -> docker.DockerClient:
    """A client for the local Docker engine (``DOCKER_HOST`` or the default socket), checked
    to answer; otherwise :class:`EngineUnavailable` saying what to do."""
    where = os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
    try:
        client = docker.from_env(version="auto", timeout=timeout)
        client.ping()
    except docker.errors.DockerException as e:
        raise EngineUnavailable(
            f"no Docker engine answers at {where}: {_short(e)}. Start Docker (Docker "
            f"Desktop, or 'sudo systemctl start docker' / scripts/setup on Linux), or point "
            f"DOCKER_HOST at a running engine."
        ) from None
    except OSError as e:
        raise EngineUnavailable(f"no Docker engine answers at {where}: {e}") from None
    return client


def _short(e: Exception) -> str:
    text = str(e)
    for marker in ("Error while fetching server API version: ", "Connection aborted."):
        text = text.replace(marker, "")
    return text.strip(" ()'\"") or type(e).__name__
