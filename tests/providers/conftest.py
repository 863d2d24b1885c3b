"""Provider tests: the virtualbox provider against a docker-machine stand-in, the ssh provider
against Docker-in-Docker machines that also run sshd. Helpers here are importable by name."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

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

