"""Joins that do not work the first time: a manager nobody can reach for a while (as a
manager too busy to answer is, on a computer running many machines) is waited for and
tried again, within the window of joins, until each worker is in the swarm; read back with
the manager's own docker CLI."""

from __future__ import annotations

import threading
import time

import pytest

import swarmlab as sl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

AWAY = 25.0  # seconds the manager is cut off: longer than the engine's own 20 s wait for a join


def node_rows(lab: sl.Lab) -> list[tuple[str, str]]:
    out = lab.ssh("manager1", "docker node ls --format '{{.Hostname}} {{.Status}}'")
    assert out.ok, out
    return sorted(tuple(line.split()) for line in out.splitlines())  # type: ignore[misc]


def test_joins_while_the_manager_is_unreachable_are_tried_again_until_they_land(make_lab) -> None:
    lab = make_lab("join")
    lab.machine.create("manager1", "worker1", "worker2")
    lab.swarm.init("manager1")
    lab.machine.disconnect("manager1")  # its engine still answers swarmlab on its socket
    away: list[tuple[list[str], str]] = []  # the manager's own engine, read just before it is back
    back: list[tuple[float, float]] = []  # when it was put back: monotonic, wall clock
    errors: list[BaseException] = []

    def reconnect() -> None:
        try:
            listed = lab.ssh("manager1", "docker node ls --format '{{.Hostname}}'")
            counted = lab.ssh("manager1", "docker info --format '{{.Swarm.Nodes}}'")
            assert listed.ok and counted.ok, (listed, counted)
            away.append((listed.splitlines(), counted.strip()))
            back.append((time.monotonic(), time.time()))
            lab.machine.reconnect("manager1")
            back.append((time.monotonic(), time.time()))
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            errors.append(e)

    timer = threading.Timer(AWAY, reconnect)
    start = time.monotonic()
    timer.start()
    try:
        joined = lab.swarm.join("worker1", "worker2", timeout=180)
        landed = time.monotonic()
    except sl.SwarmlabError as e:
        timer.join()
        # what became of the manager meanwhile says whose failure it is
        raise AssertionError(f"the join failed: {e}; putting the manager back: {errors or 'done'}, "
                             f"at {[round(t - start, 1) for t, _ in back]} s") from e
    finally:
        timer.join()
    assert not errors, errors
    # while the manager was away, its swarm had one node: no join got through
    assert away == [(["manager1"], "1")], away
    # the join landed after the manager came back, and so did the workers' nodes, as its engine says
    assert back and landed > back[0][0], (landed, back)
    assert joined.data["joined"] == ["worker1", "worker2"]
    created = lab.ssh("manager1", "docker node inspect worker1 worker2 --format '{{.CreatedAt.Unix}}'")
    assert created.ok, created
    assert all(int(t) >= int(back[0][1]) for t in created.split()) and len(created.split()) == 2, (created, back)
    # one node per machine, all Ready: a failed attempt left no node behind in the swarm
    assert node_rows(lab) == [("manager1", "Ready"), ("worker1", "Ready"), ("worker2", "Ready")]
    for m in ("worker1", "worker2"):
        state = lab.ssh(m, "docker info --format '{{.Swarm.LocalNodeState}}'")
        assert state.ok and state.strip() == "active", state
