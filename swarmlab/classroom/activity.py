"""When a lab was last used, read from its machines' engines themselves (``swarmlab gc --idle``).

A lab is used when someone changes something through its engines: a machine started; a
service, node, secret or config created, updated or removed; an image pulled, loaded or
removed; a network created or removed; a container run by hand. Each machine's own engine
keeps these as events (``docker events``, which the provider reads for any user's lab:
:meth:`~swarmlab.providers.base.Provider.machine_events`). What the swarm does by itself is
not use: a task's container started, stopped or restarted (a crash loop), attached to a
network, or its health checked. Reading (``docker node ls``, ``service ps``) leaves no trace
and so is not use either.

Nothing read back is trusted: each event line is split into fields whose values are only
compared with known words and numbers. Nor is the machine: its ``docker`` (and ``timeout``)
are the learner's to replace, and its dockerd theirs to stop, so each read has a deadline
of our own (:data:`READ_DEADLINE`) and a bound on what is read (the provider's); an engine
that did not answer in time makes its lab in use, never a wait.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._errors import InvalidArgument
from .._format import duration_seconds
from ..providers.base import MachineEvents

#: the event types a person's change leaves, and the actions of those that are not changes
USE_TYPES = {"service", "node", "secret", "config", "network", "image", "container"}
NOT_USE = {("network", "connect"), ("network", "disconnect")}
#: `docker events --format`: type, action, the swarm task (if any), time in nanoseconds
FORMAT = '{{.Type}} {{.Action}} {{index .Actor.Attributes "com.docker.swarm.task.id"}}. {{.TimeNano}}'
_LINE = re.compile(r"^([a-z]+) ([A-Za-z_:. -]+?) ([a-z0-9]*)\. (\d{1,20})$")

#: a dockerd keeps its last 256 events for ``docker events --since`` (moby's eventsLimit):
#: this many lines that do not reach back to the start of the window may hide older use
BUFFER_FULL = 200
_TIME = re.compile(r"\. (\d{1,20})$")

#: The deadline of each read of a machine's engine (``docker events``): the command runs
#: under the machine's own ``timeout`` for EXEC_DEADLINE seconds (then SIGKILL 5 s later),
#: and its output is read from a socket with a real timeout for READ_DEADLINE seconds in all
#: (a learner may have replaced the machine's ``timeout`` or ``docker``, or stopped its
#: dockerd: only our own socket deadline is sure). An engine that has not answered by then
#: is "could not be read": its lab counts as in use.
EXEC_DEADLINE = 20.0
READ_DEADLINE = EXEC_DEADLINE + 5.0


def parse_duration(text: object) -> float:
    """``"2h"``, ``"90m"``, ``"1h30m"``, ``"45s"``, ``"1d"`` as seconds (the one duration
    grammar, :func:`swarmlab._format.duration_seconds`, with days)."""
    seconds = duration_seconds(text, days=True)
    if seconds is None or seconds <= 0:
        raise InvalidArgument(f"{text!r}: give a duration such as '2h', '90m', '1h30m' or '45s'")
    return seconds


def is_use(line: str) -> float | None:
    """The time (seconds) of an event line that is use, else None."""
    m = _LINE.match(line.strip())
    if not m:
        return None
    kind, action, task, nanos = m.groups()
    action = action.split(":", 1)[0].strip()  # "exec_start: sh" -> "exec_start"
    if kind not in USE_TYPES or (kind, action) in NOT_USE:
        return None
    if kind == "container" and (task or action.startswith("exec_") or action.startswith("health_status")
                                or action in ("top", "resize", "attach", "detach")):
        return None
    return int(nanos) / 1e9


@dataclass(frozen=True)
class Activity:
    """When a lab was last used, and by what."""

    last: float  # seconds since the epoch
    what: str  # "machine manager1 started" or "a service change on manager1"
    unread: str = ""  # why some machine's engine could not be read ('' when all were)

    def idle_for(self, now: float | None = None) -> float:
        return max(0.0, (now if now is not None else time.time()) - self.last)


@dataclass(frozen=True)
class Seen:
    """What one machine's engine said: its newest use (None: none)."""

    last: float | None
    what: str = ""


def newest_use(m: MachineEvents, since: float, until: float) -> Seen:
    """The newest use among a machine's engine's events in [since, until]. In use now
    (``until``) when its event log does not reach back to ``since``."""
    if m.cut:
        return Seen(until, "its engine's event log does not reach back that far (too long)")
    stamps = [int(t.group(1)) / 1e9 for t in map(_TIME.search, m.lines) if t]
    if len(m.lines) >= BUFFER_FULL and (not stamps or min(stamps) > since + 60):
        return Seen(until, "its engine's event log does not reach back that far")
    best = Seen(None)
    for line in m.lines:
        t = is_use(line)
        if t is not None and (best.last is None or t > best.last):
            best = Seen(t, f"a {line.split(' ', 1)[0]} change")
    return best


def last_used(read: Callable[[float | None, float], Sequence[MachineEvents]], window: float) -> Activity:
    """When a lab was last used: the newest of each machine's start and, on running ones, its
    engine's events of use in the last ``window`` seconds (``read(since, until)`` reads them;
    none for a window of 0: every lab is unused for that long). An engine that could not be
    read (:data:`READ_DEADLINE`) makes the lab in use now, and says so in ``unread``."""
    now = time.time()
    machines = read(now - window if window > 0 else None, now)
    best = Activity(0.0, "nothing")
    for m in machines:
        if m.started > best.last:
            best = Activity(m.started, f"machine {m.machine} started")
    unread = [f"machine {m.machine}: {m.unread}" for m in machines if m.unread]
    if unread:
        return Activity(now, "its engines could not be read", "; ".join(unread))
    for m in machines:
        seen = newest_use(m, now - window, now) if window > 0 and m.running else Seen(None)
        if seen.last is not None and seen.last > best.last:
            best = Activity(seen.last, f"{seen.what} on {m.machine}")
    if best.last < now - window:  # the events asked for go no further back than the window
        best = Activity(best.last, "no change through its engines, and no machine started, in that time")
    return best
