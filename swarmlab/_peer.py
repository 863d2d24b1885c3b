"""Unix sockets whose server is checked: the kernel says who listens on a socket
(``SO_PEERCRED``: the process, user and group that called ``listen``), whatever the file's
owner, mode or path (a link, a socket moved or handed over). Root uses a user's rootless
engine only through connections whose peer is that user, each one checked as it is made.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from typing import Any

from docker.transport.unixconn import UnixHTTPAdapter, UnixHTTPConnection, UnixHTTPConnectionPool

from ._errors import SwarmlabError


class WrongPeer(SwarmlabError, OSError):
    """The process behind a socket is not the user it should be."""


def peer(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a connected unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def connect(path: str, uid: int, timeout: float) -> socket.socket:
    """A connection to the unix socket at ``path`` whose server runs as user ``uid``; else
    :class:`WrongPeer` (or the OSError of connecting)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        pid, who, _ = peer(sock)
        if who != uid:
            raise WrongPeer(f"{path} is served by user {who} (process {pid}), not by user {uid}: not used")
    except BaseException:
        sock.close()
        raise
    return sock


def ping(path: str, uid: int, deadline: float = 10.0) -> bool:
    """Whether the Docker engine at ``path``, served by user ``uid``, answers ``/_ping`` with
    OK within ``deadline`` seconds in all (an engine that sends a byte now and then cannot
    make it wait longer)."""
    end = time.monotonic() + deadline
    try:
        sock = connect(path, uid, deadline)
    except OSError:
        return False
    got = b""
    try:
        sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        while len(got) < 4096:
            left = end - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        return False
    finally:
        sock.close()
    head, _, body = got.partition(b"\r\n\r\n")
    return head.split(b" ", 2)[1:2] == [b"200"] and body.strip() == b"OK"


class _Connection(UnixHTTPConnection):
    def __init__(self, base_url: str, unix_socket: str, timeout: float, uid: int) -> None:
        super().__init__(base_url, unix_socket, timeout)
        self.peer_uid = uid

    def connect(self) -> None:
        self.sock = connect(self.unix_socket, self.peer_uid, self.timeout)


class _Pool(UnixHTTPConnectionPool):
    def __init__(self, base_url: str, socket_path: str, timeout: float, maxsize: int, uid: int) -> None:
        super().__init__(base_url, socket_path, timeout, maxsize=maxsize)
        self.peer_uid = uid

    def _new_conn(self) -> _Connection:
        return _Connection(self.base_url, self.socket_path, self.timeout, self.peer_uid)


class PeerAdapter(UnixHTTPAdapter):
    """docker-py's unix-socket adapter, each of whose connections is checked to be served by
    user ``uid`` (one pool for the socket)."""

    def __init__(self, socket_path: str, uid: int, timeout: float = 60, max_pool_size: int = 16) -> None:
        super().__init__(socket_path, timeout=timeout, max_pool_size=max_pool_size)
        self.peer_uid = uid

    def get_connection(self, url: str, proxies: Any = None) -> Any:
        with self.pools.lock:
            pool = self.pools.get("one")
            if pool is None:
                pool = _Pool("http+docker://localhost", self.socket_path, self.timeout, self.max_pool_size,
                             self.peer_uid)
                self.pools["one"] = pool
        return pool


def client(path: str, uid: int, timeout: int = 60) -> Any:
    """A docker-py client of the engine at ``path`` whose every connection is checked to be
    served by user ``uid`` (the API version asked through such a connection)."""
    import docker

    from ._engine import NODE_API_VERSION

    c = docker.DockerClient(base_url=f"unix://{path}", version=NODE_API_VERSION, timeout=timeout)
    adapter = PeerAdapter(path, uid, timeout=timeout)
    c.api.mount("http+docker://", adapter)
    old, c.api._custom_adapter = c.api._custom_adapter, adapter
    old.close()
    try:
        said = c.api._retrieve_server_version()
        if isinstance(said, str) and re.fullmatch(r"1\.\d{1,3}", said):  # its word: a version, else ours
            c.api._version = said
    except Exception:
        c.close()
        raise
    return c
