"""When a dind lab was last used, read from the engines themselves (``swarmlab gc --idle``).

A lab is used when someone changes something through its engines: a machine started; a
service, node, secret or config created, updated or removed; an image pulled, loaded or
removed; a network created or removed; a container run by hand. Each machine's own engine
keeps these as events (``docker events``, asked through ``docker exec`` on the host engine,
so it works for any user's lab). What the swarm does by itself is not use: a task's
container started, stopped or restarted (a crash loop), attached to a network, or its
health checked. Reading (``docker node ls``, ``service ps``) leaves no trace and so is not
use either.

Nothing read back is trusted: each event line is split into fields whose values are only
compared with known words and numbers.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from ..._util import parallel_map

#: the event types a person's change leaves, and the actions of those that are not changes
USE_TYPES = {"service", "node", "secret", "config", "network", "image", "container"}
NOT_USE = {("network", "connect"), ("network", "disconnect")}
#: `docker events --format`: type, action, the swarm task (if any), time in nanoseconds
FORMAT = '{{.Type}} {{.Action}} {{index .Actor.Attributes "com.docker.swarm.task.id"}}. {{.TimeNano}}'
_LINE = re.compile(r"^([a-z]+) ([A-Za-z_:. -]+?) ([a-z0-9]*)\. (\d{1,20})$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: object) -> float:
    """``"2h"``, ``"90m"``, ``"1h30m"``, ``"45s"``, ``"1d"`` as seconds."""
    m = _DURATION.match(text.strip()) if isinstance(text, str) else None
    seconds = 0
    if m and any(m.groups()):
        d, h, mi, s = (int(g or 0) for g in m.groups())
        seconds = ((d * 24 + h) * 60 + mi) * 60 + s
    if seconds <= 0:
        from ..._errors import InvalidArgument

        raise InvalidArgument(f"{text!r}: give a duration such as '2h', '90m', '1h30m' or '45s'")
    return float(seconds)


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

    def idle_for(self, now: float | None = None) -> float:
        return max(0.0, (now if now is not None else time.time()) - self.last)


def stamp(text: object) -> float:
    """An engine's time stamp (``2026-12-01T04:10:05.3165Z``) as seconds; 0 when it is not one."""
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)", str(text or ""))
    if not m:
        return 0.0
    y, mo, d, h, mi, s = (int(g) for g in m.groups())
    return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))


def _started(c: Any) -> float:
    """When the machine's container was made or last started (one being made now is new)."""
    return max(stamp((c.attrs.get("State") or {}).get("StartedAt")), stamp(c.attrs.get("Created")))


#: a dockerd keeps its last 256 events for ``docker events --since`` (moby's eventsLimit):
#: this many lines that do not reach back to the start of the window may hide older use
BUFFER_FULL = 200
_TIME = re.compile(r"\. (\d{1,20})$")


def _events(host: docker.DockerClient, c: Any, since: float, until: float) -> tuple[float, str] | None:
    """The newest use among the machine's engine's events in [since, until]; ``(until,
    why)`` (in use now) when that cannot be known: the engine did not answer, or its event
    buffer does not reach back to ``since``."""
    cmd = ["docker", "events", "--since", f"{since:.0f}", "--until", f"{until:.0f}", "--format", FORMAT]
    try:
        exec_id = host.api.exec_create(c.id, cmd, stdout=True, stderr=False)["Id"]
        out = host.api.exec_start(exec_id)
    except (docker.errors.DockerException, OSError) as e:  # requests' errors are OSErrors
        return (until, f"its engine did not say ({type(e).__name__})")
    lines = bytes(out)[-4_000_000:].decode("utf-8", "replace").splitlines()
    stamps = [int(m.group(1)) / 1e9 for m in map(_TIME.search, lines) if m]
    if len(lines) >= BUFFER_FULL and (not stamps or min(stamps) > since + 60):
        return (until, "its engine's event log does not reach back that far")
    best: tuple[float, str] | None = None
    for line in lines:
        t = is_use(line)
        if t is not None and (best is None or t > best[0]):
            best = (t, f"a {line.split(' ', 1)[0]} change")
    return best


def last_used(host: docker.DockerClient, machines: Sequence[Any], window: float, machine_of: Any) -> Activity:
    """When the lab of these machine containers was last used: the newest of each machine's
    start and, on running ones, its engine's events of use in the last ``window`` seconds."""
    now = time.time()
    best = Activity(0.0, "nothing")
    for c in machines:
        started = _started(c)
        if started > best.last:
            best = Activity(started, f"machine {machine_of(c)} started")
    running = [c for c in machines if c.status == "running"]
    found = parallel_map(lambda c: _events(host, c, now - window, now), running)
    for c, ev in zip(running, found):
        if ev is not None and ev[0] > best.last:
            best = Activity(ev[0], f"{ev[1]} on {machine_of(c)}")
    if best.last < now - window:  # the events asked for go no further back than the window
        best = Activity(best.last, "no change through its engines, and no machine started, in that time")
    return best
