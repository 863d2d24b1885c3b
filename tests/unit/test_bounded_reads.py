"""Reads given deadlines (swarmlab/_deadline.py) and an engine's log that cannot grow without
bound (swarmlab/_logcap.py), with real threads, pipes and files."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from swarmlab import _deadline

LOGCAP = Path(__file__).resolve().parents[2] / "swarmlab" / "_logcap.py"


def test_a_read_that_never_ends_is_given_up_and_not_started_again() -> None:
    release = threading.Event()
    calls = []

    def forever() -> str:
        calls.append(1)
        release.wait()
        return "late"

    t = time.monotonic()
    got = _deadline.run_all([("stuck", forever), ("quick", lambda: 42)], deadline=0.5)
    assert time.monotonic() - t < 3
    assert got["stuck"].late and got["quick"].value == 42
    again = _deadline.run_all([("stuck", forever)], deadline=0.5)
    assert again["stuck"].stuck and len(calls) == 1  # the earlier read still runs: not a second one
    release.set()
    time.sleep(0.2)
    assert _deadline.run_all([("stuck", forever)], deadline=5)["stuck"].value == "late" and len(calls) == 2


def test_an_error_is_the_reads_own() -> None:
    def fails() -> None:
        raise ValueError("no")

    got = _deadline.run_all([("x", fails)], deadline=5)
    assert isinstance(got["x"].error, ValueError)


def test_an_engine_log_is_rotated_past_its_limit(tmp_path: Path) -> None:
    log = tmp_path / "engine-x.log"
    log.write_bytes(b"old " * 300)  # 1200 bytes from an earlier run: over the limit, rotated first
    writer = subprocess.Popen([sys.executable, "-I", str(LOGCAP), str(log), "1000"], stdin=subprocess.PIPE)
    assert writer.stdin is not None
    for _ in range(500):  # 50 kB, far past the limit
        writer.stdin.write(b"x" * 99 + b"\n")
    writer.stdin.close()
    assert writer.wait(30) == 0
    assert os.path.getsize(log) <= 1000 and os.path.getsize(f"{log}.1") <= 1000
    assert log.read_bytes().endswith(b"x\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine-x.log", "engine-x.log.1"]


def test_one_read_within_its_deadline_gives_its_value_its_error_or_the_callers_late_error() -> None:
    class Late(Exception):
        pass

    assert _deadline.within("one-ok", 5, lambda: 7, Late) == 7
    with pytest.raises(KeyError):
        _deadline.within("one-err", 5, lambda: {}["x"], Late)
    release = threading.Event()
    with pytest.raises(Late, match=r"no answer within 0.3 s$"):
        _deadline.within("one-slow", 0.3, release.wait, Late)
    with pytest.raises(Late, match=r"an earlier read is still stuck"):
        _deadline.within("one-slow", 0.3, lambda: 1, Late)
    release.set()
