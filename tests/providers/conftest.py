"""Provider tests: the virtualbox provider against a docker-machine stand-in, the ssh provider
against Docker-in-Docker machines that also run sshd. Helpers here are importable by name."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory, host: docker.DockerClient) -> Iterator[Path]:
    """docker-machine and VBoxManage stand-ins on the PATH, a fresh storage path, a command log."""
    tmp = tmp_path_factory.mktemp("machine")
    mp = pytest.MonkeyPatch()
    mp.setenv("PATH", f"{HERE / 'bin'}{os.pathsep}{os.environ['PATH']}")
    mp.setenv("SWARMLAB_STANDIN_PYTHON", sys.executable)
    mp.setenv("MACHINE_STORAGE_PATH", str(tmp / "storage"))
    mp.setenv("SWARMLAB_STANDIN_LOG", str(tmp / "commands.jsonl"))
    mp.delenv("SWARMLAB_DOCKER_MACHINE", raising=False)
    try:
        yield tmp
    finally:
        mp.undo()



#: Network rule for tests: traffic goes to loopback only. While ``loopback_only`` is in use,
#: a connection (or a name lookup) for any other address is stopped before a packet leaves,
#: and recorded, so a test can show that swarmlab did not even try.
_GUARD: dict[str, Any] = {"on": False, "attempts": [], "installed": False}


def _is_loopback(host: object) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _GUARD["on"]:
        return
    if event == "socket.connect":
        sock, address = args
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            _GUARD["attempts"].append(("connect", address[0]))
            raise OSError(f"network rule of the tests: no connection to {address[0]}")
    elif event == "socket.getaddrinfo" and not _is_loopback(args[0]):
        _GUARD["attempts"].append(("lookup", args[0]))
        raise OSError(f"network rule of the tests: no name lookup of {args[0]}")


@pytest.fixture
def loopback_only() -> Iterator[list[tuple[str, str]]]:
    """Stop (and list) every connection or name lookup this process tries beyond loopback."""
    if not _GUARD["installed"]:
        sys.addaudithook(_audit)
        _GUARD["installed"] = True
    _GUARD["attempts"] = []
    _GUARD["on"] = True
    try:
        yield _GUARD["attempts"]
    finally:
        _GUARD["on"] = False
