"""Lesson 14 (scale) at its full size: nbval over its reference copy on a lab of its own (50
machines, 500 tasks, a rack of 10 workers drained by the answer key), then the swarm read
through docker inside manager1, not through swarmlab: every node Ready, crowd's 500 tasks
running, none on the drained rack, the 40 other nodes even. Then the lab is destroyed and
nothing of it is left.

At this size the lesson fills both cores of a small computer for minutes, which would starve
the timing of the tests beside it: scripts/test runs this module alone, after the others."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import docker
import nbtools
import pytest
from lessonrun import nbval_in_sequence, snapshot

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

LESSON = nbtools.NOTEBOOK_DIR / "14-scale.ipynb"
RACK = {f"worker{i}" for i in range(38, 48)}


def test_lesson_14_passes_nbval_at_full_size_and_the_swarm_is_what_it_shows(
        host: docker.DockerClient, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    nbval_in_sequence([LESSON], host, tmp_path, cell_timeout=1200,
                      before_destroy=lambda lab: seen.update(snapshot(host, lab)))

    nodes = seen["nodes"]
    assert len(nodes) == 50 and seen["labelled"]["containers"] == 50
    assert sorted(h for h, n in nodes.items() if n["ManagerStatus"]) == ["manager1", "manager2", "manager3"]
    assert [h for h, n in nodes.items() if n["Status"] != "Ready"] == []
    assert {h for h, n in nodes.items() if n["Availability"] == "Drain"} == RACK
    tasks = seen["tasks"]["crowd"]  # docker service ps crowd --filter desired-state=running
    assert len(tasks) == 500 and all(t["CurrentState"].startswith("Running") for t in tasks)
    per_node = Counter(t["Node"] for t in tasks)
    assert not RACK & set(per_node)
    assert len(per_node) == 40 and {min(per_node.values()), max(per_node.values())} <= {12, 13}
    assert seen["services"]["crowd"]["Replicas"] == "500/500"
