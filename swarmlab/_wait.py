"""Waiting for a swarm to converge: poll a check, show progress, time out with the last state.

A check is a function returning a :class:`Progress`. Transient engine errors (a manager
electing a leader, a machine's engine restarting) count as "not yet" and are kept as the last
state. On timeout :class:`~swarmlab.WaitTimeout` carries that last state and the logs the
caller names, so a stuck step explains itself instead of hanging.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker.errors
import requests

from ._errors import DockerError, EngineUnavailable, WaitTimeout


@dataclass
class Progress:
    done: bool
    n: int = 0
    total: int = 0
    state: str = ""
    #: what the check read to decide (a :class:`swarmlab.converge.Snapshot`), for views
    snapshot: Any = field(default=None, repr=False, compare=False)


def progress_enabled(setting: bool | None) -> bool:
    if setting is not None:
        return setting
    return os.environ.get("SWARMLAB_PROGRESS", "1").lower() not in ("0", "false", "no", "off")


class Bar:
    """A tqdm.auto bar (a widget in Jupyter, text in a terminal), or nothing."""

    def __init__(self, enabled: bool, what: str) -> None:
        self._bar: Any = None
        if enabled:
            try:
                from tqdm.auto import tqdm

                # no desc= here: a notebook bar would show it as HTML before its first
                # (escaping) refresh; set afterwards, every label and state it shows is escaped
                self._bar = tqdm(total=1, leave=False, bar_format="{desc}: {n}/{total}{postfix}")
                self._bar.set_description_str(what, refresh=False)
            except Exception:  # progress is a nicety: never fail a step for it
                self._bar = None

    def update(self, p: Progress) -> None:
        if self._bar is None:
            return
        self._bar.total = max(p.total, 1)
        self._bar.n = p.n
        self._bar.set_postfix_str(p.state[:60], refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def until(ready: Callable[[], bool], timeout: float | None, interval: float) -> bool:
    """The one polling loop: ask ``ready`` every ``interval`` seconds until it says True
    (True), or until ``timeout`` seconds have passed (False; None: as long as it takes).
    ``ready`` is asked at once, and once more after the deadline has passed; what it raises
    ends the wait. :func:`wait_for` is this with progress, transient errors and a timeout
    that explains itself; the other waits (a process gone, a port answering, a lock free)
    call it directly."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if ready():
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# a manager electing a leader, an engine restarting, a slow answer: "not yet", until the deadline
TRANSIENT = (docker.errors.APIError, requests.exceptions.RequestException, ConnectionError,
             DockerError, EngineUnavailable)


def wait_for(
    check: Callable[[], Progress],
    *,
    what: str,
    timeout: float,
    progress: bool = False,
    interval: float = 0.2,
    logs: Callable[[], str] | None = None,
    advice: str = "",
    observe: Callable[[Progress], None] | None = None,
) -> Progress:
    """Poll ``check`` until it reports done; raise :class:`WaitTimeout` after ``timeout`` s.

    ``observe`` (a view, e.g. the rollout view) is called with each state seen; its errors
    are ignored."""
    bar = Bar(progress, what)
    last = Progress(False, state="not checked yet")

    def done() -> bool:
        nonlocal last
        try:
            last = check()
        except TRANSIENT as e:
            last = Progress(False, last.n, last.total, f"engine busy: {_short(e)}")
        bar.update(last)
        if observe is not None:
            with contextlib.suppress(Exception):  # a view never fails the step it watches
                observe(last)
        return last.done

    try:
        if until(done, timeout, interval):
            return last
    finally:
        bar.close()
    text = logs() if logs else ""
    msg = f"{what}: not done after {timeout:.0f}s. Last state: {last.state or f'{last.n}/{last.total}'}."
    if advice:
        msg += f" {advice}"
    if text:
        msg += f"\n{text}"
    raise WaitTimeout(msg, last_state=last, logs=text)


def _short(e: Exception) -> str:
    if isinstance(e, docker.errors.APIError):
        return str(e.explanation or e)[:120]
    return str(e)[:120]
