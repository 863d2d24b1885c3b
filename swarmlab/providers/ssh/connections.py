"""The ssh provider's connections to its hosts, one per host and per provider instance: the
SSH sessions (:class:`~.transport.Sessions`), the socket forwarding the host's Docker API
(:class:`~.transport.Forwarder`, in the lab's own folder), and a docker-py client through it
(made on first use, cached)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

from ... import _home
from ..._errors import EngineUnavailable
from ..._util import error_text
from ..base import RunOutput
from ..common import ClientCache
from .engine import lab_client
from .inventory import Host
from .transport import Forwarder, Login, Sessions, socket_name

#: a host, as connections and clients are cached by
HostKey = tuple[str, int]


def _key(host: Host) -> HostKey:
    return host.hostname, host.port


class Connection:
    """SSH sessions to one host, and the socket forwarding its Docker API through them."""

    def __init__(self, sessions: Sessions, forwarder: Forwarder) -> None:
        self.sessions, self.forwarder = sessions, forwarder

    def close(self) -> None:
        self.forwarder.close()
        self.sessions.close()


class Connections:
    """The connections of one provider instance to the inventory's hosts. ``on_node(host,
    api, node_id)`` is called when the lab makes a swarm membership through a host's client
    (see :class:`~.engine.LabAPI`)."""

    def __init__(self, provider: str, lab: str, login: Login,
                 on_node: Callable[[Host, Any, str], None]) -> None:
        self.provider, self.lab, self.login, self.on_node = provider, lab, login, on_node
        self._conns: dict[HostKey, Connection] = {}
        self._clients = ClientCache()  # by host: the Docker API through its connection
        self._lock = threading.Lock()
        self._host_locks: dict[HostKey, threading.Lock] = {}
        self._instance = os.urandom(3).hex()  # names this instance's sockets

    def connect(self, host: Host) -> Connection:
        """The host's connection, made (or made again, when SSH dropped it) under its lock."""
        hkey = _key(host)
        with self._lock:
            conn = self._conns.get(hkey)
            lock = self._host_locks.setdefault(hkey, threading.Lock())
        if conn is not None and conn.sessions.active:
            return conn
        with lock:
            with self._lock:
                conn = self._conns.get(hkey)
            if conn is not None and conn.sessions.active:
                return conn
            self._clients.drop(hkey)  # the API client of a connection that is gone
            folder = _home.lab_dir(self.provider, self.lab)  # made 0700, or checked: refused if not ours
            sessions = Sessions(lambda: self.login.open(host))
            conn = Connection(sessions, Forwarder(sessions, folder, folder / socket_name(host, self._instance)))
            with self._lock:
                self._conns[hkey] = conn
            return conn

    def drop(self, host: Host) -> None:
        """Close the host's client and connection (the next use connects again)."""
        with self._lock:
            conn = self._conns.pop(_key(host), None)
        self._clients.drop(_key(host))
        if conn is not None:
            conn.close()

    def run(self, host: Host, command: str, timeout: float = 600) -> RunOutput:
        """A shell command on the host, over SSH."""
        return self.connect(host).sessions.run(command, timeout)

    def client(self, host: Host) -> docker.DockerClient:
        """The host's Docker API through its connection, made on first use."""
        conn = self.connect(host)
        return self._clients.get(_key(host), lambda: lab_client(
            conn.forwarder.url, lambda api, node_id: self.on_node(host, api, node_id)))

    def docker(self, host: Host) -> docker.DockerClient:
        """The host's engine, checked to answer; the errors say what is wrong with the host."""
        try:
            client = self.client(host)
            client.ping()
            return client
        except (docker.errors.DockerException, OSError) as e:
            reason = error_text(e)
        probe = self.run(host, "command -v docker >/dev/null && docker version --format "
                               "'{{.Server.Version}}' 2>&1", timeout=30)
        if probe.exit_code == 127 or (probe.exit_code != 0 and not probe.output.strip()):
            raise EngineUnavailable(
                f"{host.target} has no Docker (no 'docker' command there). swarmlab never "
                f"installs anything on a host: install Docker on it (Debian/Ubuntu: apt-get "
                f"install docker.io) and add {host.user} to the 'docker' group.")
        raise EngineUnavailable(
            f"the Docker engine on {host.target} does not answer ({probe.output.strip() or reason}): "
            f"start it (sudo systemctl start docker) and make sure {host.user} may use it "
            f"(the 'docker' group).")

    def close(self) -> None:
        """Close every client, then every connection (their sockets are removed)."""
        with self._lock:
            conns = list(self._conns.values())
            self._conns.clear()
        self._clients.close()
        for c in conns:
            c.close()
