"""A kernel interrupt (Ctrl-C: SIGINT to the kernel's main thread, as Jupyter's ■ sends it)
in the middle of a step leaves a lab that the next run of the same cell completes, and that
``destroy`` removes whole."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import docker
import pytest
from labtest import WEB_V1, WEB_V2

import swarmlab as sl
from swarmlab.providers.dind import machine, network

pytestmark = pytest.mark.integration


def interrupted(step: Callable[[], object], after: float | None = None) -> None:
    """Run ``step``, sending SIGINT to this (the main) thread ``after`` seconds in (None: the
    step sends it itself); the step must end with the KeyboardInterrupt, as a cell interrupted
    in a kernel does. While a cell runs, a kernel's SIGINT handler is Python's own (it raises
    KeyboardInterrupt): so it is here, whatever an earlier test in this process left."""
    main = threading.main_thread().ident
    assert main == threading.get_ident()
    timer = threading.Timer(after, signal.pthread_kill, (main, signal.SIGINT)) if after is not None else None
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    if timer is not None:
        timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            step()
    finally:
        if timer is not None:
            timer.cancel()
        signal.signal(signal.SIGINT, previous)


def interrupt_main_thread() -> None:
    """Ctrl-C, as Jupyter's ■ sends it: SIGINT to the kernel's main thread."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def test_a_step_interrupted_is_completed_by_running_it_again(make_lab, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = make_lab("intr")
    # Ctrl-C lands while the machines start: once worker1's container runs (a timer could
    # fire before the first machine, or after the last on a busy computer)
    real_start = machine.start_machine

    def start_then_interrupt(site: object, name: str, *args: object) -> str:
        mode = real_start(site, name, *args)
        if name == "worker1":
            interrupt_main_thread()
        return mode

    monkeypatch.setattr(machine, "start_machine", start_then_interrupt)
    interrupted(lambda: lab.machine.create("manager1", "worker1", "worker2"))
    monkeypatch.undo()
    lab.machine.create("manager1", "worker1", "worker2")
    assert [m.state for m in lab.provider.list()] == ["Running"] * 3

    lab.swarm.init("manager1")
    # the join is quick: Ctrl-C lands while the workers' engines are being asked to join
    # (when a worker thread looks up its advertise address), as a tired learner's might
    real_address = lab.provider.address

    def address_then_interrupt(machine: str) -> str:
        if threading.get_ident() != threading.main_thread().ident:
            interrupt_main_thread()
        return real_address(machine)

    lab.provider.address = address_then_interrupt  # type: ignore[method-assign]
    try:
        interrupted(lambda: lab.swarm.join("worker1", "worker2"), after=60)
    finally:
        del lab.provider.address
    lab.swarm.join("worker1", "worker2")
    nodes = lab.client("manager1").api.nodes()
    assert sorted((n["Description"]["Hostname"], n["Status"]["State"]) for n in nodes) == [
        ("manager1", "ready"), ("worker1", "ready"), ("worker2", "ready")]

    lab.image.load(WEB_V1, WEB_V2)
    lab.service.create("web", WEB_V1, replicas=3, update_delay="1s")
    interrupted(lambda: lab.service.update("web", image=WEB_V2), after=1.0)
    lab.service.update("web", image=WEB_V2)
    tasks = [t for t in lab.client("manager1").api.tasks(filters={"service": "web", "desired-state": "running"})]
    assert len(tasks) == 3
    assert {t["Spec"]["ContainerSpec"]["Image"].split("@")[0] for t in tasks} == {WEB_V2}
    assert all(t["Status"]["State"] == "running" for t in tasks)


def _address_kept(host: docker.DockerClient, lab: sl.Lab, machine: str) -> str:
    """The address the engine keeps for the machine on the lab's network (``--ip``): it is
    given again when the machine is started again; '' when the engine picks one each time."""
    c = host.containers.get(lab.provider.names.container(machine))
    ep = c.attrs["NetworkSettings"]["Networks"][lab.provider.network_name]
    return str((ep.get("IPAMConfig") or {}).get("IPv4Address") or "")


def test_a_network_left_by_a_create_interrupted_while_making_it_is_made_again(
        make_lab, host: docker.DockerClient) -> None:
    """Ctrl-C between the engine's pick of a subnet and the network made again with it leaves
    the engine's pick behind (as a busy computer made it happen): the next create makes the
    network again, so the machines keep their addresses when stopped and started."""
    lab = make_lab("intrnet")
    name = lab.provider.network_name
    host.networks.create(name, driver="bridge", labels=lab.provider.names.labels("network"))
    lab.machine.create("manager1", "worker1")
    net = host.networks.get(name)
    config = net.attrs["IPAM"]["Config"][0]
    assert net.attrs["Labels"].get("io.swarmlab.subnet") == config["Subnet"]
    kept = {m: _address_kept(host, lab, m) for m in ("manager1", "worker1")}
    assert all(kept.values()) and len(set(kept.values())) == 2
    lab.provider.stop("worker1")
    lab.provider.start("worker1")
    assert host.containers.get(lab.provider.names.container("worker1")).attrs[
        "NetworkSettings"]["Networks"][name]["IPAddress"] == kept["worker1"]


def test_a_lab_network_without_a_subnet_of_its_own_still_takes_machines(
        make_lab, host: docker.DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab network made the way swarmlab once made it (the engine's pick, no subnet in its
    config): the engine refuses ``--ip`` on it (20.10 says so only when the container
    starts), and the machines are made with an address the engine picks, then swarm."""
    lab = make_lab("oldnet")

    def as_once_made(host: docker.DockerClient, name: str, labels: dict[str, str], attempts: int = 5) -> None:
        host.networks.create(name, driver="bridge", labels=labels, check_duplicate=True)

    monkeypatch.setattr(network, "create", as_once_made)
    lab.machine.create("manager1")
    monkeypatch.undo()
    lab.machine.create("worker1")  # with a machine on it, the network is used as it is
    net = host.networks.get(lab.provider.network_name)
    assert "io.swarmlab.subnet" not in (net.attrs["Labels"] or {})
    assert [m.state for m in lab.provider.list()] == ["Running", "Running"]
    assert _address_kept(host, lab, "manager1") == _address_kept(host, lab, "worker1") == ""
    lab.swarm.init("manager1")
    lab.swarm.join("worker1")
    nodes = lab.client("manager1").api.nodes()
    assert sorted((n["Description"]["Hostname"], n["Status"]["State"]) for n in nodes) == [
        ("manager1", "ready"), ("worker1", "ready")]
