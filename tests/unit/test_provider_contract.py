"""The provider contract (swarmlab.providers.base) and the code providers share (common)."""

from __future__ import annotations

import inspect
import threading
import time
from pathlib import Path

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


def test_every_provider_says_what_its_machines_can_do_as_data() -> None:
    import dataclasses

    from swarmlab.providers import Capabilities, provider_class

    for name in providers.PROVIDERS:
        caps = provider_class(name).CAPABILITIES
        assert isinstance(caps, Capabilities) and dataclasses.is_dataclass(caps), name
        with pytest.raises(dataclasses.FrozenInstanceError):
            caps.rootless = True  # type: ignore[misc]
    assert [cls.name for cls in providers.shared_engine_providers()] == ["dind"]
    assert provider_class("dind").CAPABILITIES.shares_host_kernel
    assert provider_class("qemu").CAPABILITIES.routing_mesh is True
    assert not provider_class("ssh").CAPABILITIES.makes_machines


def test_labs_are_found_by_their_folders_and_only_names_swarmlab_gives(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from swarmlab.providers.base import folder_labs, owner

    home = tmp_path / "home"
    (home / "labs" / "qemu").mkdir(parents=True)
    home.chmod(0o700)
    for folder in ("tutorial", "Bad_Name", "x-"):
        (home / "labs" / "qemu" / folder).mkdir()
    (home / "labs" / "qemu" / "linked").symlink_to(tmp_path)
    monkeypatch.setenv("SWARMLAB_HOME", str(home))
    found = providers.provider_class("qemu").list_labs()
    assert [(f.name, f.owner, f.provider) for f in found.labs] == [("tutorial", owner(), "qemu")]
    assert folder_labs("virtualbox") == [] and found.others == []
    assert ("qemu", "tutorial") in {(f.provider, f.name) for f in providers.list_labs()}


def test_nothing_outside_providers_imports_a_single_provider() -> None:
    """The registry (swarmlab.providers) and the contract (providers.base, .labels) only; and
    the waits and views take nothing from the commands."""
    import ast

    package = Path(providers.__file__).resolve().parents[1]
    single = ("swarmlab.providers.dind", "swarmlab.providers.qemu", "swarmlab.providers.ssh",
              "swarmlab.providers.virtualbox")
    wrong = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package).as_posix()
        if where.startswith("providers/"):
            continue
        parts = ["swarmlab", *where[:-3].split("/")]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = parts[:len(parts) - node.level] if node.level else []
                name = ".".join([*base, *([node.module] if node.module else [])])
                names = [name, *(f"{name}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n == s or n.startswith(s + ".") for n in names for s in single):
                wrong.append(f"{where}: {names[0]}")
            if where in ("converge.py",) or where.startswith("views/"):
                wrong += [f"{where}: {n}" for n in names[:1] if n.startswith("swarmlab.commands")]
    assert wrong == []
