"""The order in which a whole run hands its modules to the pytest-xdist workers, and what each
worker did. A module's tests stay together on one worker (``--dist loadscope``); the longest
modules go first (``--no-loadscope-reorder``, by their times in ``tests/durations.json``), so
that no worker starts an eight-minute lesson module while the others run out of work: the
tier then ends when its work is done, not when its last long module does.

After a run, ``tests/artifacts/durations.json`` holds each module's seconds in its latest run
(setup, call and teardown of its tests; each tier's run adds its modules) and the run prints
each worker's busy time and end. Copy the
file over ``tests/durations.json`` when modules were added or changed much in time."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
DURATIONS = HERE / "durations.json"
MEASURED = HERE / "artifacts" / "durations.json"
#: what a module not in the file is taken to last: a module with a swarm of its own
UNKNOWN = 30.0


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def known_durations() -> dict[str, float]:
    try:
        found = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in found.items() if isinstance(v, (int, float))}


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest modules first, each module's tests in their own order. Every worker sorts the
    same collection the same way (xdist requires identical collections)."""
    known = known_durations()
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        first.setdefault(module_of(item.nodeid), i)
    items.sort(key=lambda it: (-known.get(module_of(it.nodeid), UNKNOWN), first[module_of(it.nodeid)]))


class _Record:
    """Seconds per module and per worker, from the reports the workers send the controller."""

    def __init__(self) -> None:
        self.modules: dict[str, float] = defaultdict(float)
        self.busy: dict[str, float] = defaultdict(float)
        self.end: dict[str, float] = {}

    def add(self, report: pytest.TestReport) -> None:
        self.modules[module_of(report.nodeid)] += report.duration
        worker = getattr(getattr(report, "node", None), "gateway", None)
        name = getattr(worker, "id", "main")
        self.busy[name] += report.duration
        self.end[name] = max(self.end.get(name, 0.0), report.stop)


#: the controller's record (a run without workers is its own controller); None on a worker
_record: _Record | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _record
    _record = None if hasattr(config, "workerinput") else _Record()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _record is not None:
        _record.add(report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    record = _record
    if record is None or not record.modules:
        return
    # merged into what earlier runs measured: a whole run is several pytest runs (its tiers)
    try:
        measured = json.loads(MEASURED.read_text())
    except (OSError, ValueError):
        measured = {}
    measured.update({k: round(v, 1) for k, v in record.modules.items()})
    MEASURED.parent.mkdir(parents=True, exist_ok=True)
    fresh = MEASURED.with_name(f".{MEASURED.name}.{os.getpid()}")
    fresh.write_text(json.dumps(dict(sorted(measured.items())), indent=1) + "\n")
    fresh.replace(MEASURED)
    if len(record.busy) > 1:
        first = min(record.end.values())
        said = ", ".join(f"{w} busy {record.busy[w]:.0f} s, ended {record.end[w] - first:.0f} s after the first"
                         for w in sorted(record.busy))
        terminalreporter.write_line(f"workers: {said}")
    terminalreporter.write_line(f"module times: {MEASURED.relative_to(HERE.parent)}")
