"""The provider contract (swarmlab.providers.base) and the code providers share (common)."""

from __future__ import annotations

import inspect
import threading
import time

import pytest

import swarmlab.providers as providers
from swarmlab.providers.base import Provider
from swarmlab.providers.common import ClientCache


class FakeClient:
    closed = 0

    def close(self) -> None:
        FakeClient.closed += 1


def test_every_method_of_the_contract_says_what_it_does() -> None:
    methods = [n for n, f in inspect.getmembers(Provider, inspect.isfunction) if not n.startswith("_")]
    assert {"create", "list", "remove", "destroy", "address", "client", "run", "host_engine", "close"} <= set(methods)
    assert [n for n in methods if not inspect.getdoc(getattr(Provider, n))] == []
    assert Provider.node_image == ""
    assert {"CreateOutcome", "MachineInfo", "RunOutput", "Provider"} <= set(providers.__all__)


def test_client_cache_keeps_one_client_per_key_and_closes_the_loser_of_a_race() -> None:
    FakeClient.closed = 0
    cache = ClientCache()
    both_making = threading.Barrier(2)

    def make() -> FakeClient:
        both_making.wait()  # both threads are past the cache lookup: a real race
        time.sleep(0.02)
        return FakeClient()

    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("manager1", make))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got[0] is got[1] and FakeClient.closed == 1
    assert cache.get("manager1", make) is got[0]  # cached: make is not called again

    cache.drop("manager1")
    assert FakeClient.closed == 2
    cache.drop("manager1")  # nothing cached: nothing to close
    assert FakeClient.closed == 2

    cache.get("a", FakeClient)
    cache.get("b", FakeClient)
    cache.close()
    assert FakeClient.closed == 4
    assert isinstance(cache.get("a", FakeClient), FakeClient)  # usable again after close


def test_a_client_that_cannot_be_made_is_not_cached() -> None:
    cache = ClientCache()

    def fail() -> FakeClient:
        raise OSError("no engine")

    for _ in range(2):
        with pytest.raises(OSError, match="no engine"):
            cache.get("m", fail)
    assert isinstance(cache.get("m", FakeClient), FakeClient)


def test_the_create_command_shown_is_one_per_machine_or_a_loop_for_a_big_lab() -> None:
    class Named:
        name = "dind"

    def shown(*names: str) -> str:
        return Provider.create_command(Named(), list(names))  # type: ignore[arg-type]

    assert shown("manager1", "worker1") == ("docker-machine create -d dind manager1 && "
                                            "docker-machine create -d dind worker1")
    big = [f"worker{i}" for i in range(1, 48)]
    assert shown("manager1", *big) == ("for m in manager1 " + " ".join(big)
                                       + "; do docker-machine create -d dind $m; done")
