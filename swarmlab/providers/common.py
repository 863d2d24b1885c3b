"""Code the providers share: the cache of docker-py clients, one per machine."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker


class ClientCache:
    """docker-py clients by key (a machine's name, a host), made on first use.

    Making a client connects (it asks the engine its API version), which may take seconds:
    that happens outside the lock, so one slow machine never holds up the others. When two
    threads make a client for the same key at once, the first one stored is kept by both and
    the other is closed. Thread-safe."""

    def __init__(self) -> None:
        self._clients: dict[Hashable, docker.DockerClient] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], docker.DockerClient]) -> docker.DockerClient:
        """The cached client for ``key``, else ``make()``'s, cached (``make``'s errors pass)."""
        with self._lock:
            cached = self._clients.get(key)
        if cached is not None:
            return cached
        client = make()
        with self._lock:
            kept = self._clients.setdefault(key, client)
        if kept is not client:  # another thread was quicker: use its client, close ours
            client.close()
        return kept

    def drop(self, key: Hashable) -> None:
        """Forget the client for ``key`` and close it (the next :meth:`get` makes a new one):
        for a machine removed, stopped or started again (a new port, new certificates)."""
        with self._lock:
            client = self._clients.pop(key, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        """Close and forget every client."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()
