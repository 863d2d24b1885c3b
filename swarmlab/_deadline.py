"""Reads that may never end, each given a deadline: a Docker engine that sends a byte now and
then, or a machine whose dockerd is stopped (docker-py's exec waits for its command however
long, and a ``docker`` command in such a machine never ends). Each read runs in a daemon
thread of its own; what has not ended by its deadline is given up (its thread left to end by
itself, never waited for), and a read of the same thing is not started again while an
earlier one is still stuck."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

#: the reads given up on and still running, by what they read
_STUCK: dict[Hashable, threading.Thread] = {}
_LOCK = threading.Lock()


@dataclass
class Outcome:
    """How one read ended: ``value``, or ``error``, or ``late`` (not within the deadline), or
    ``stuck`` (an earlier read of the same thing is still running: not started again)."""

    value: Any = None
    error: BaseException | None = None
    late: bool = False
    stuck: bool = False


class _Read(threading.Thread):
    def __init__(self, key: Hashable, fn: Callable[[], Any]) -> None:
        super().__init__(name=f"swarmlab-read-{key}", daemon=True)
        self.key, self.fn, self.outcome, self.started_at = key, fn, Outcome(), 0.0

    def run(self) -> None:
        try:
            self.outcome.value = self.fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            self.outcome.error = e
        finally:
            with _LOCK:
                if _STUCK.get(self.key) is self:
                    del _STUCK[self.key]


def stuck(key: Hashable) -> bool:
    """Whether a read of ``key`` given up on earlier still runs."""
    with _LOCK:
        t = _STUCK.get(key)
        return t is not None and t.is_alive()


def run_all(jobs: Sequence[tuple[Any, Callable[[], Any]]], deadline: float,
            width: int = 16) -> dict[Any, Outcome]:
    """Run each ``(key, fn)`` in a thread of its own, at most ``width`` at once, each given
    ``deadline`` seconds from its start; their outcomes by key. Returns within about
    ``deadline`` times the number of rounds of ``width``, whatever the reads do."""
    todo = list(jobs)
    running: list[_Read] = []
    done: dict[Any, Outcome] = {}
    while todo or running:
        now = time.monotonic()
        for r in list(running):
            if not r.is_alive():
                done[r.key] = r.outcome
                running.remove(r)
            elif now - r.started_at > deadline:
                with _LOCK:
                    _STUCK[r.key] = r
                done[r.key] = Outcome(late=True)
                running.remove(r)
        while todo and len(running) < width:
            key, fn = todo.pop(0)
            if stuck(key):
                done[key] = Outcome(stuck=True)
                continue
            r = _Read(key, fn)
            r.started_at = time.monotonic()
            r.start()
            running.append(r)
        if running:
            running[0].join(0.05)
    return done


def within(key: Hashable, deadline: float, fn: Callable[[], Any], late: Callable[[str], BaseException]) -> Any:
    """``fn()`` as one read of :func:`run_all`: its value, or its own error raised here, or
    ``late(why)`` raised when it did not end within ``deadline`` seconds (or an earlier read of
    ``key`` is still stuck)."""
    got = run_all([(key, fn)], deadline)[key]
    if got.late or got.stuck:
        raise late(f"no answer within {deadline:g} s" + (" (an earlier read is still stuck)" if got.stuck else ""))
    if got.error is not None:
        raise got.error
    return got.value
