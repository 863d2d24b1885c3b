"""Which failed tasks a step reports (:class:`swarmlab.converge.FailedStarts`): those that
failed during the step, by node, with the engine's error; never the service's older history.
That a real create reports them is shown on a real swarm (tests/integration/test_behaviour.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from swarmlab.converge import FailedStarts, Snapshot

NOW = 1_800_000_000.0


def task(tid: str, node: str, state: str, ago: float, err: str = "") -> dict[str, Any]:
    stamp = dt.datetime.fromtimestamp(NOW - ago, tz=dt.timezone.utc)
    return {"ID": tid, "ServiceID": "s1", "NodeID": node, "DesiredState": "shutdown",
            "Status": {"State": state, "Err": err, "Timestamp": stamp.isoformat().replace("+00:00", "Z")}}


def snapshot(tasks: list[dict[str, Any]], now: float) -> Snapshot:
    nodes = [{"ID": n, "Description": {"Hostname": h}, "Status": {"State": "ready"}}
             for n, h in (("n1", "worker1"), ("n2", "worker2"))]
    return Snapshot([{"ID": "s1", "Spec": {"Name": "crowd"}}], tasks, nodes, now)


def test_failures_during_the_step_are_said_by_node_and_older_ones_are_not() -> None:
    seen = FailedStarts()
    old = task("t0", "n2", "failed", 600, "an old failure")
    seen.observe(snapshot([old], NOW), "crowd")
    assert seen.count == 0
    later = [old, task("t1", "n1", "rejected", 1, "starting container failed: context deadline exceeded"),
             task("t2", "n1", "failed", 0.5, "task: non-zero exit (1)"), task("t3", "n2", "running", 0.5)]
    seen.observe(snapshot(later, NOW + 10), "crowd")
    seen.observe(snapshot(later, NOW + 11), "crowd")  # seen twice, counted once
    assert seen.count == 2
    note = seen.note("crowd")
    assert note.startswith("2 tasks of crowd failed to start and were started again: "
                           "worker1: 2 (task: non-zero exit (1)).")
    assert "an old failure" not in note and "worker2" not in note
    assert note.endswith("lab.service.update('crowd', force=True) spreads them again.")
