"""Reaching Docker engines: the host's, and where swarmlab keeps its per-lab files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.transport.unixconn import UnixHTTPAdapter

from . import _home
from ._errors import EngineUnavailable
from ._util import error_text

#: The Engine API version a client is built with before it has asked the engine which one it
#: speaks (``/version`` and ``/_ping`` answer whatever the version). :func:`engine_client`
#: then speaks the engine's own: Docker 29 refuses clients older than 1.44, boot2docker's
#: 19.03 knows nothing newer than 1.40.
NODE_API_VERSION = "1.41"


#: Connections kept to one engine: at least as many as swarmlab's threads ask it at once
#: (machines started, killed or waited for 32 at a time, joins 16 at a time). With fewer, the
#: connections over that number are closed as they come back, each with a "Connection pool is
#: full, discarding connection" warning on the learner's screen.
MAX_CONNECTIONS = 64


class _OneSocketPool(UnixHTTPAdapter):
    """docker-py's unix-socket adapter keeps a connection pool per URL (each container's
    path is its own) and only the 25 latest, closing the pool it drops even while another
    thread's request holds a connection of it: under many threads urllib3 then fails inside
    (``'NoneType' object has no attribute 'qsize'``). One socket, one pool."""

    def get_connection(self, url: str, proxies: Any = None) -> Any:
        return super().get_connection("http+docker://localhost", proxies)


def one_pool(client: docker.DockerClient) -> docker.DockerClient:
    """``client`` with :class:`_OneSocketPool` in place of docker-py's adapter when it talks
    to a unix socket; any other client as it is."""
    api = client.api
    adapter = getattr(api, "_custom_adapter", None)  # docker-py mounts it under that name
    if isinstance(adapter, UnixHTTPAdapter) and not isinstance(adapter, _OneSocketPool):
        mine = _OneSocketPool(adapter.socket_path, timeout=adapter.timeout, max_pool_size=MAX_CONNECTIONS)
        api.mount("http+docker://", mine)
        api._custom_adapter = mine
        adapter.close()
    return client


def swarmlab_home() -> Path:
    """Where swarmlab keeps per-lab files (machine sockets, certificates):
    ``$SWARMLAB_HOME``, else ``~/.swarmlab``, made mode 0700 when missing and checked
    (:func:`swarmlab._home.home`; a lab's own folder is :func:`swarmlab._home.lab_dir`)."""
    return _home.home()


#: What ``swarmlab env`` sets beside a machine's own variables: the ``DOCKER_HOST`` it set, so
#: that swarmlab knows that ``DOCKER_HOST`` is one of its machines and not this computer's
#: engine, and the one it replaced ("" for none: the default socket), which ``swarmlab env -u``
#: puts back.
ENV_MACHINE_HOST = "SWARMLAB_ENV_HOST"
ENV_OUTER_HOST = "SWARMLAB_OUTER_DOCKER_HOST"
#: the variables that point a docker client at an engine (as docker-machine env sets them)
DOCKER_VARIABLES = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_MACHINE_NAME")


def machine_in_env(environ: Any = None) -> str:
    """The ``DOCKER_HOST`` of the environment when it points at one of swarmlab's machines
    (``eval $(swarmlab env LAB MACHINE)`` set it, or it is a machine socket in swarmlab's
    home), else ""."""
    environ = os.environ if environ is None else environ
    host = str(environ.get("DOCKER_HOST") or "")
    if not host:
        return ""
    if host == environ.get(ENV_MACHINE_HOST):
        return host
    if host.startswith("unix://") and host.endswith("/docker.sock"):
        labs = os.path.join(os.path.abspath(_home.home_path()), "labs") + os.sep
        if os.path.abspath(host[len("unix://"):]).startswith(labs):
            return host
    return ""


def this_computers_env(environ: Any = None) -> dict[str, str]:
    """The environment that finds this computer's engine: the process's own, except when
    ``DOCKER_HOST`` points at one of swarmlab's machines (:func:`machine_in_env`): then the
    ``DOCKER_HOST`` that ``swarmlab env`` replaced (none: the default socket), no TLS settings."""
    env = dict(os.environ if environ is None else environ)
    if machine_in_env(env):
        outer = env.get(ENV_OUTER_HOST, "")
        for key in DOCKER_VARIABLES:
            env.pop(key, None)
        if outer and not machine_in_env({**env, "DOCKER_HOST": outer}):
            env["DOCKER_HOST"] = outer
    return env


def host_client(timeout: int = 60) -> docker.DockerClient:
    """A client for the local Docker engine (``DOCKER_HOST`` or the default socket, as
    :func:`this_computers_env` finds them), checked to answer; otherwise
    :class:`EngineUnavailable` saying what to do."""
    env = this_computers_env()
    where = env.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
    try:
        client = one_pool(docker.from_env(version="auto", timeout=timeout, max_pool_size=MAX_CONNECTIONS,
                                          environment=env))
        client.ping()
    except docker.errors.DockerException as e:
        raise EngineUnavailable(
            f"no Docker engine answers at {where}: {error_text(e)}. Start Docker (Docker "
            f"Desktop, or 'sudo systemctl start docker' / scripts/setup on Linux), or point "
            f"DOCKER_HOST at a running engine."
        ) from None
    except OSError as e:
        raise EngineUnavailable(f"no Docker engine answers at {where}: {e}") from None
    return client


def engine_client(base_url: str, *, tls: Any = None, timeout: int = 60, **kwargs: Any) -> docker.DockerClient:
    """A docker-py client for a machine's engine that speaks the engine's own API version.

    requests' environment settings are switched off: ``REQUESTS_CA_BUNDLE`` would replace the
    lab's own CA for TLS engines, and no proxy belongs between us and a lab's engine. Raises
    whatever docker-py raises when the engine does not answer."""
    probe = docker.APIClient(base_url=base_url, version=NODE_API_VERSION, tls=tls, timeout=timeout)
    probe.trust_env = False
    try:
        version = str(probe.version(api_version=False)["ApiVersion"])
    finally:
        probe.close()
    kwargs.setdefault("max_pool_size", MAX_CONNECTIONS)
    client = one_pool(docker.DockerClient(base_url=base_url, version=version, tls=tls, timeout=timeout, **kwargs))
    client.api.trust_env = False
    return client


def ping(base_url: str, *, tls: Any = None, timeout: int = 5) -> bool:
    """Does the engine at ``base_url`` answer ``/_ping``, whatever API versions it accepts?"""
    api = docker.APIClient(base_url=base_url, version=NODE_API_VERSION, tls=tls, timeout=timeout)
    api.trust_env = False
    try:
        resp = api.get(f"{api.base_url}/_ping")
        return bool(resp.status_code == 200)
    finally:
        api.close()
