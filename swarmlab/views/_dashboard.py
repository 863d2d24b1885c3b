"""The dashboard's parts shared by its two forms (``lab.dashboard()`` picks one in
:mod:`swarmlab.views._show`): the static snapshot, the background refresher, and what the
picture says when the swarm cannot be read.

In a Jupyter kernel with ipywidgets, the dashboard is a widget whose picture a background
thread refreshes every ``refresh`` seconds by setting traits only (never printing), so the
learner keeps running cells and watches the picture change. Elsewhere (a terminal, no
ipywidgets) it is a :class:`Snapshot`: the same picture once, as text and escaped HTML.

Refreshing stops when the dashboard is closed, when another dashboard of the same lab
replaces it, or when the lab is destroyed. A node or manager that stops answering shows as an
error line (and a down node as down); refreshing goes on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .._swarm import NO_LEADER
from ._model import Picture
from ._protocol import LabView
from ._render import picture_html, picture_text

T = TypeVar("T")

#: Refresh interval bounds, in seconds.
MIN_REFRESH, DEFAULT_REFRESH = 0.5, 1.5


def live_default(live: bool | None) -> bool:
    """``live`` if given, else ``$SWARMLAB_LIVE`` (on unless 0/false/no/off). A kernel run by
    papermill or nbval is not someone watching: such runs pass ``live=False``."""
    if live is not None:
        return bool(live)
    return os.environ.get("SWARMLAB_LIVE", "1").lower() not in ("0", "false", "no", "off")


def in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def gone_note(lab: LabView) -> str:
    """What the dashboard says, calmly, once its lab was destroyed."""
    return f"lab {lab.name} is gone (destroyed): no machines, no swarm left to show"


#: The banner when no manager sees a leader: the swarm is there, frozen.
NO_QUORUM = ("NO QUORUM: the swarm has no leader. Too few managers are online for Raft to agree "
             "on anything: the tasks keep running, but nothing can be changed until a majority "
             "of the managers is back.")


def unreadable(error: BaseException, retrying: bool = False) -> str:
    """Why the picture could not be read, as the dashboard says it: the no-quorum banner for
    the engine's "The swarm does not have a leader", else the error itself."""
    if NO_LEADER in str(error):
        return NO_QUORUM
    return (f"cannot read the swarm right now ({str(error)[:200]}); retrying" if retrying
            else f"cannot read the swarm: {error}")


def lab_gone(lab: LabView) -> bool:
    """True when the lab has no running machine left (destroyed, or every machine removed)."""
    try:
        return not lab.machines(running=True)
    except Exception:  # the host engine itself is unreachable: not ours to decide
        return False


class Snapshot:
    """The swarm's picture at one moment: text in a terminal, escaped HTML in a notebook."""

    def __init__(self, picture: Picture, title: str) -> None:
        self.picture = picture
        self.title = title

    def __repr__(self) -> str:
        return picture_text(self.picture, self.title)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        return picture_html(self.picture, self.title)


def title_for(lab: LabView) -> str:
    return f"swarm of lab {lab.name}"


class Refresher(Generic[T]):
    """Calls ``fetch`` every ``interval`` seconds on a daemon thread and hands the result to
    ``apply`` (which must only set traits). ``poke()`` refreshes now; ``stop()`` ends it."""

    def __init__(self, fetch: Callable[[], T], apply: Callable[[T], None],
                 failed: Callable[[Exception], bool], interval: float) -> None:
        self._fetch, self._apply, self._failed = fetch, apply, failed
        self.interval = max(MIN_REFRESH, float(interval))
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.refreshes = 0
        self.thread = threading.Thread(target=self._run, name="swarmlab-dashboard", daemon=True)

    def start(self) -> None:
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.thread.is_alive() and not self._stop.is_set()

    def poke(self) -> None:
        self._wake.set()

    def stop(self, wait: float = 0) -> None:
        self._stop.set()
        self._wake.set()
        if wait and self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(wait)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                picture = self._fetch()
            except Exception as e:  # noqa: BLE001 - a refresh must never kill the thread
                if not self._failed(e):
                    break
                continue
            if self._stop.is_set():
                break
            try:
                self._apply(picture)
                self.refreshes += 1
            except Exception:  # noqa: BLE001 - the widget was closed under us
                break
