"""Convergence on real swarms: "converged" means what the docker CLI means (tasks running and
stable for the monitor period), a poll reads the swarm once, and two kernels running the same
swarm cells at once both end in the same swarm."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
from labtest import WEB_V1, WEB_V2, WORKLOAD, running_tasks

import swarmlab as sl
import swarmlab.commands._base as command_base  # where every command's wait looks wait_for up
import swarmlab.exercises as ex
from swarmlab.converge import Snapshot, engine_clock_offset


def test_tasks_that_run_briefly_then_fail_never_count_as_converged(swarm3: sl.Lab) -> None:
    # each task runs 2 s, then exits: caught at the right moment, all replicas "run"
    with pytest.raises(sl.WaitTimeout) as caught:
        swarm3.service.create("flaky", WORKLOAD, "sh", "-c", "sleep 2; exit 3", replicas=2, timeout=15)
    msg = str(caught.value)
    assert "non-zero exit (3)" in msg, msg  # the tasks' own error
    # the engine agrees: the service's tasks keep failing
    failed = [t for t in swarm3.manager_client().api.tasks(filters={"service": "flaky"})
              if t["Status"]["State"] == "failed"]
    assert failed
    swarm3.service.rm("flaky")


def test_an_update_to_a_crash_loop_is_not_reported_done(swarm3: sl.Lab) -> None:
    # failure action "continue": the engine finishes the update whatever the tasks do, so
    # the step times out on the tasks' own exit (with the engine's default, "pause", it would
    # raise UpdatePaused instead)
    swarm3.service.create("loop", WEB_V1, replicas=2)
    with pytest.raises(sl.WaitTimeout) as caught:
        swarm3.service.update("loop", image=WEB_V2, args=["sh", "-c", "sleep 2; exit 4"],
                              update_failure_action="continue", timeout=25)
    assert not isinstance(caught.value, sl.UpdatePaused)
    assert "non-zero exit (4)" in str(caught.value), caught.value
    # the engine was given the option and did not pause the update
    [svc] = swarm3.manager_client().api.services(filters={"name": "loop"})
    assert svc["Spec"]["UpdateConfig"]["FailureAction"] == "continue", svc["Spec"]
    state = (svc.get("UpdateStatus") or {}).get("State")
    assert state not in ("paused", "rollback_paused"), svc.get("UpdateStatus")
    swarm3.service.rm("loop")


def test_a_healthy_step_waits_out_the_monitor_period(swarm3: sl.Lab) -> None:
    swarm3.service.create("steady", WORKLOAD, "sleep", "3600", replicas=2)
    mgr = swarm3.manager_client()
    tasks = running_tasks(mgr, "steady")
    assert len(tasks) == 2
    snap = Snapshot.read(mgr, "steady", clock_offset=engine_clock_offset(mgr))
    # every task the step reported had been running for the service's monitor period (5 s)
    assert all(snap.age(t) >= 5.0 for t in tasks), [snap.age(t) for t in tasks]
    swarm3.service.rm("steady")


def test_an_update_that_replaces_the_tasks_returns_after_its_own_rollout(swarm3: sl.Lab) -> None:
    """A forced update keeps the image, so until the engine's updater takes it up the old
    tasks look like the new ones (under load, lesson 09's rebalance returned within 2 s, before
    it had started). The step returns after the update it started: the engine says completed,
    started after the call, and every running task was made after the call (engine's clock)."""
    from swarmlab._format import parse_time

    lab, mgr = swarm3, swarm3.manager_client()
    lab.service.create("again", WORKLOAD, "sleep", "3600", replicas=3)
    try:
        lab.service.update("again", force=True)  # an update status of its own, to tell from the next
        called = parse_time(mgr.info()["SystemTime"])
        lab.service.update("again", force=True)
        status = mgr.api.inspect_service("again")["UpdateStatus"]
        assert status["State"] == "completed" and parse_time(status["StartedAt"]) >= called, status
        made = [parse_time(t["CreatedAt"]) for t in running_tasks(mgr, "again")]
        assert len(made) == 3 and min(made) >= called, (made, called)
        # a change that replaces no task (the replicas alone) waits for no update
        lab.service.update("again", replicas=4)
        assert len(running_tasks(mgr, "again")) == 4
    finally:
        lab.service.rm("again")


def _hosts_running(mgr: docker.DockerClient, service: str) -> list[str]:
    names = {n["ID"]: n["Description"]["Hostname"] for n in mgr.api.nodes()}
    return sorted(names[t["NodeID"]] for t in running_tasks(mgr, service))


def _node_state(mgr: docker.DockerClient, hostname: str) -> str:
    return next(n["Status"]["State"] for n in mgr.api.nodes() if n["Description"]["Hostname"] == hostname)


def test_a_node_that_drops_out_during_an_update_is_named_and_its_advice_spreads_the_tasks(
        swarm3: sl.Lab, host: docker.DockerClient) -> None:
    """A node the managers stop hearing from in the middle of a forced update (its engine
    frozen: no heartbeats, as on a computer too busy to run it) is Down for a while, so its
    task's replacement goes elsewhere and the service ends uneven. The update says which node
    dropped out and what to do, even when the node was back before the next poll; lesson 09's
    answer key does it, and spreads the tasks even when a node drops out during it too."""
    lab, mgr = swarm3, swarm3.manager_client()
    lab.service.create("spread", WORKLOAD, "sleep", "3600", replicas=3)
    assert _hosts_running(mgr, "spread") == ["manager1", "worker1", "worker2"]
    plain = lab.service.update("spread", force=True)  # nobody drops out: no such note
    assert not any("dropped out" in n for n in plain.notes), plain.notes
    [box] = host.containers.list(filters={"label": [f"io.swarmlab.lab={lab.name}", "io.swarmlab.machine=worker2"]})
    since = int(time.time())
    with _frozen_until_down(mgr, box, "worker2") as down_seen:
        # the engine decides between two outcomes, each named: its default failure action
        # pauses the update when the task it gave worker2 before the managers saw it gone is
        # lost; or the update finishes on the other nodes
        try:
            rolled = lab.service.update("spread", force=True)
            [said] = [n for n in rolled.notes if "dropped out" in n]
            assert "worker2" not in _hosts_running(mgr, "spread")  # finished without it: uneven
        except sl.UpdatePaused as paused:
            said = str(paused)
            assert "update paused due to failure or early termination" in said, said
            assert "worker2 dropped out" in said, said
            said = said[said.index("worker2 dropped out"):]
    assert down_seen.is_set()
    assert said.startswith("worker2 dropped out") and "lab.service.update('spread', force=True)" in said, said
    # the engine's own record, read by the docker CLI in the manager: worker2 went Down
    # during the update
    events = lab.ssh("manager1", f"docker events --since {since} --until {int(time.time()) + 1} --filter type=node "
                                 "--format '{{.Actor.Attributes.name}} {{index .Actor.Attributes \"state.new\"}}'")
    assert "worker2 down" in str(events).splitlines(), str(events)
    # lesson 09's answer key follows the note, even when the node drops out again during it
    with _frozen_until_down(mgr, box, "worker2") as down_seen:
        ex.answer_rebalanced(lab, "spread")
    assert down_seen.is_set()
    assert _hosts_running(mgr, "spread") == ["manager1", "worker1", "worker2"]
    lab.service.rm("spread")


@contextlib.contextmanager
def _frozen_until_down(mgr: docker.DockerClient, box: Any, hostname: str) -> Iterator[threading.Event]:
    """The machine's container paused (its engine sends no heartbeats) until the manager lists
    its node Down, then thawed at once: a node gone for a moment, as on a computer too busy."""
    down_seen = threading.Event()

    def thaw_once_down() -> None:
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline and _node_state(mgr, hostname) != "down":
                time.sleep(0.2)
            down_seen.set()
        finally:
            box.unpause()

    box.pause()
    thaw = threading.Thread(target=thaw_once_down)
    thaw.start()
    try:
        yield down_seen
    finally:
        thaw.join()


def _count_requests(lab: sl.Lab) -> list[str]:
    """Every HTTP request any machine's engine answers, as 'METHOD /path'."""
    calls: list[str] = []

    def hook(resp: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(f"{resp.request.method} {resp.request.path_url.split('?')[0]}")

    for m in lab.machines():
        lab.client(m).api.hooks.setdefault("response", []).append(hook)
    return calls


def test_a_rolling_update_poll_reads_the_swarm_once(swarm3: sl.Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    swarm3.service.create("counted", WEB_V1, replicas=2, update_delay="1s")
    calls = _count_requests(swarm3)
    marks: list[int] = []
    real_wait_for = command_base.wait_for

    def counting_wait_for(check: Callable[[], Any], **kw: Any) -> Any:
        def marked() -> Any:
            marks.append(len(calls))
            return check()
        return real_wait_for(marked, **kw)

    monkeypatch.setattr(command_base, "wait_for", counting_wait_for)
    try:
        swarm3.service.update("counted", image=WEB_V2)
    finally:
        for m in swarm3.machines():
            swarm3.client(m).api.hooks["response"].clear()
    per_poll = [b - a for a, b in zip(marks, marks[1:])]
    assert len(per_poll) >= 3, (marks, calls)
    # the first poll also finds the manager and its clock; every later one: services, tasks, nodes
    assert max(per_poll[1:]) <= 3, (per_poll, calls)
    assert {c.split(" ", 1)[1].rsplit("/", 1)[-1] for c in calls[marks[1]:marks[-1]]} <= {"services", "tasks", "nodes"}
    swarm3.service.rm("counted")


_KERNEL = textwrap.dedent("""
    import sys
    import swarmlab as sl
    lab = sl.Lab(sys.argv[1], provider="dind", progress=False)
    lab.swarm.init("manager1")
    lab.swarm.join("worker1", "worker2")
    print("ok")
""")


def test_two_kernels_init_and_join_the_same_swarm_at_once(make_lab: Callable[..., sl.Lab],
                                                          host: docker.DockerClient) -> None:
    lab = make_lab("k")
    lab.machine.create("manager1", "worker1", "worker2")
    procs = [subprocess.Popen([sys.executable, "-c", _KERNEL, lab.name], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]
    # one swarm of three Ready nodes, one manager, as the manager's engine lists it
    nodes = lab.client("manager1").api.nodes()
    assert sorted(n["Description"]["Hostname"] for n in nodes) == ["manager1", "worker1", "worker2"]
    assert all(n["Status"]["State"] == "ready" for n in nodes)
    assert [n["Description"]["Hostname"] for n in nodes if n["Spec"]["Role"] == "manager"] == ["manager1"]
    for m in ("worker1", "worker2"):
        assert lab.client(m).info()["Swarm"]["LocalNodeState"] == "active"
