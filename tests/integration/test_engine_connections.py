"""Many threads asking one engine at once (a big lab's machines started, killed, waited
for): every request is answered, and no connection warning reaches the learner's screen.

docker-py keeps a pool of connections per URL for a unix socket (25 at most, the one it drops
closed even while in use) of 10 connections each: 64 threads then print "Connection pool is
full, discarding connection" (checked against docker-py's own client below), and under load
urllib3 failed inside (``'NoneType' object has no attribute 'qsize'``) in a 40-machine destroy."""

from __future__ import annotations

import logging
import threading
import time

import docker
import docker.errors
import pytest

import swarmlab as sl
from swarmlab._engine import host_client

pytestmark = pytest.mark.integration

THREADS = 64


def _hammer(client: docker.DockerClient) -> list[str]:
    """Each thread asks the same URL and a URL of its own, three times; the errors seen."""
    errors: list[str] = []

    def work(i: int) -> None:
        try:
            # held open for a second by the engine: all the threads' requests overlap
            now = int(time.time())
            list(client.events(since=now, until=now + 2))
            for _ in range(3):
                client.version()
                with pytest.raises(docker.errors.NotFound):
                    client.containers.get(f"swarmlab-no-such-container-{i}")
        except BaseException as e:  # noqa: BLE001 - any failure in a thread is the finding
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _pool_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("urllib3") and r.levelno >= logging.WARNING]


def test_the_host_engine_answers_many_threads_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    plain = docker.from_env(version="auto")  # what docker-py does left to itself
    try:
        failed = _hammer(plain)
    finally:
        plain.close()
    # the load is enough to show the problem on docker-py's own client: the warning, or under
    # more load (a busy computer) urllib3's failure inside; only swarmlab's client must be free of it
    assert any("Connection pool is full" in w for w in _pool_warnings(caplog)) or failed, failed
    caplog.clear()
    assert _hammer(host_client()) == []
    assert _pool_warnings(caplog) == []


def test_a_machine_engine_answers_many_threads_without_a_warning(
        make_lab, caplog: pytest.LogCaptureFixture) -> None:
    lab: sl.Lab = make_lab("conns")
    lab.machine.create("manager1")
    caplog.set_level(logging.WARNING, logger="urllib3")
    assert _hammer(lab.client("manager1")) == []
    assert _pool_warnings(caplog) == []
