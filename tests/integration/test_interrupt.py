"""A kernel interrupt (Ctrl-C: SIGINT to the kernel's main thread, as Jupyter's ■ sends it)
in the middle of a step leaves a lab that the next run of the same cell completes, and that
``destroy`` removes whole."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import pytest
from labtest import WEB_V1, WEB_V2

pytestmark = pytest.mark.integration


def interrupted(step: Callable[[], object], after: float) -> None:
    """Run ``step``, sending SIGINT to this (the main) thread ``after`` seconds in; the step
    must end with the KeyboardInterrupt, as a cell interrupted in a kernel does."""
    main = threading.main_thread().ident
    assert main == threading.get_ident()
    timer = threading.Timer(after, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            step()
    finally:
        timer.cancel()


def test_a_step_interrupted_is_completed_by_running_it_again(make_lab) -> None:
    lab = make_lab("intr")
    interrupted(lambda: lab.machine.create("manager1", "worker1", "worker2"), after=0.5)
    lab.machine.create("manager1", "worker1", "worker2")
    assert [m.state for m in lab.provider.list()] == ["Running"] * 3

    lab.swarm.init("manager1")
    # the join is quick: Ctrl-C lands while the workers' engines are being asked to join
    # (when a worker thread looks up its advertise address), as a tired learner's might
    real_address = lab.provider.address

    def address_then_interrupt(machine: str) -> str:
        if threading.get_ident() != threading.main_thread().ident:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
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
