"""A kernel interrupt (Ctrl-C: SIGINT to the kernel's main thread, as Jupyter's ■ sends it)
in the middle of a step leaves a lab that the next run of the same cell completes, and that
``destroy`` removes whole."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import docker
import pytest
from labtest import WEB_V1, WEB_V2, machine_containers, running_tasks

import swarmlab as sl
from swarmlab.commands import service as service_commands
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


def _interrupt_create(lab: sl.Lab, host: docker.DockerClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``machine create manager1 worker1 worker2`` interrupted once worker1's container runs,
    while worker2's is not made yet (its start waits for the Ctrl-C: the three start at once,
    and a timer could fire before the first machine, or after the last on a busy computer).
    Returns the machines that had a container on the engine when the Ctrl-C was sent."""
    real_start = machine.start_machine
    sent = threading.Event()
    seen: list[str] = []

    def start_then_interrupt(site: object, name: str, *args: object) -> str:
        if name == "worker2":
            sent.wait(120)
        mode = real_start(site, name, *args)
        if name == "worker1":
            seen.extend(machine_containers(host, lab.name))
            interrupt_main_thread()
            sent.set()
        return mode

    monkeypatch.setattr(machine, "start_machine", start_then_interrupt)
    try:
        interrupted(lambda: lab.machine.create("manager1", "worker1", "worker2"))
    finally:
        sent.set()
        monkeypatch.undo()
    return seen


def _interrupt_join(lab: sl.Lab) -> list[list[str]]:
    """``swarm join worker1 worker2`` interrupted while the workers' engines are being asked to
    join (when a worker's thread looks up its advertise address, before its join request), as
    a tired learner's Ctrl-C might land: the join is quick. Returns, for each Ctrl-C sent, the
    nodes the manager listed at that moment."""
    real_address = lab.provider.address
    seen: list[list[str]] = []

    def address_then_interrupt(machine: str) -> str:
        if threading.get_ident() != threading.main_thread().ident:
            seen.append(sorted(n["Description"]["Hostname"] for n in lab.client("manager1").api.nodes()))
            interrupt_main_thread()
        return real_address(machine)

    lab.provider.address = address_then_interrupt  # type: ignore[method-assign]
    try:
        interrupted(lambda: lab.swarm.join("worker1", "worker2"), after=60)
    finally:
        del lab.provider.address
    return seen


def _interrupt_update(lab: sl.Lab, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """``service update --image web:2 web`` interrupted at its first poll of the rolling
    update (the wait for the rollout judges each state it reads with ``service_progress``).
    Returns, as the manager's engine had it then, the spec's image and the images of the
    tasks that ran."""
    real_progress = service_commands.service_progress
    seen: list[tuple[str, list[str]]] = []

    def progress_then_interrupt(*args: object, **kw: object) -> object:
        p = real_progress(*args, **kw)  # type: ignore[arg-type]
        if not seen:
            client = lab.client("manager1")
            spec = client.api.inspect_service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
            tasks = sorted(t["Spec"]["ContainerSpec"]["Image"].split("@")[0] for t in running_tasks(client, "web"))
            seen.append((spec.split("@")[0], tasks))
            interrupt_main_thread()
        return p

    monkeypatch.setattr(service_commands, "service_progress", progress_then_interrupt)
    try:
        interrupted(lambda: lab.service.update("web", image=WEB_V2))
    finally:
        monkeypatch.undo()
    return seen


def test_a_step_interrupted_is_completed_by_running_it_again(
        make_lab, host: docker.DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step is cut short (the engines say so at the moment of the Ctrl-C: fewer machines,
    fewer nodes, a rollout half done), then run again to its end."""
    lab = make_lab("intr")
    made = _interrupt_create(lab, host, monkeypatch)
    assert "worker1" in made and "worker2" not in made, made
    lab.machine.create("manager1", "worker1", "worker2")
    assert [m.state for m in lab.provider.list()] == ["Running"] * 3
    assert machine_containers(host, lab.name) == ["manager1", "worker1", "worker2"]

    lab.swarm.init("manager1")
    nodes_seen = _interrupt_join(lab)
    assert nodes_seen and all(len(n) < 3 for n in nodes_seen), nodes_seen
    lab.swarm.join("worker1", "worker2")
    nodes = lab.client("manager1").api.nodes()
    assert sorted((n["Description"]["Hostname"], n["Status"]["State"]) for n in nodes) == [
        ("manager1", "ready"), ("worker1", "ready"), ("worker2", "ready")]

    lab.image.load(WEB_V1, WEB_V2)
    lab.service.create("web", WEB_V1, replicas=3, update_delay="1s")
    rollout_seen = _interrupt_update(lab, monkeypatch)
    assert [(image, WEB_V1 in running) for image, running in rollout_seen] == [(WEB_V2, True)], rollout_seen
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
