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
compared with known words and numbers. Nor is the machine: its ``docker`` (and ``timeout``)
are the learner's to replace, and its dockerd theirs to stop, so each read has a deadline
of our own (:data:`READ_DEADLINE`) and a bound on what is read (:data:`OUTPUT_LIMIT`); an
engine that did not answer in time makes its lab in use, never a wait.
"""

from __future__ import annotations

import calendar
import contextlib
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
    unread: str = ""  # why some machine's engine could not be read ('' when all were)

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

#: The deadline of each command run in a machine to read its engine (``docker events``): it
#: runs under the machine's own ``timeout`` for EXEC_DEADLINE seconds (then SIGKILL 5 s
#: later), and its output is read from a socket with a real timeout for READ_DEADLINE
#: seconds in all (a learner may have replaced the machine's ``timeout`` or ``docker``, or
#: stopped its dockerd: only our own socket deadline is sure). An engine that has not
#: answered by then is "could not be read": its lab counts as in use.
EXEC_DEADLINE = 20.0
READ_DEADLINE = EXEC_DEADLINE + 5.0
#: at most this many bytes of a command's output are read (a stream, never the whole output
#: at once): 256 events are some 30 kB; more means an event log that does not reach back
OUTPUT_LIMIT = 1_000_000


class NoAnswer(Exception):
    """A machine's command did not end, or did not succeed, within its deadline."""


def _demux(data: bytes) -> bytes:
    """The stdout frames of a non-TTY exec's multiplexed stream (8-byte headers)."""
    out, i = bytearray(), 0
    while i + 8 <= len(data):
        kind, size = data[i], int.from_bytes(data[i + 4:i + 8], "big")
        if kind == 1:
            out += data[i + 8:i + 8 + size]
        i += 8 + size
    return bytes(out)


def run_bounded(host: docker.DockerClient, container: str, cmd: Sequence[str],
                deadline: float = READ_DEADLINE, limit: int = OUTPUT_LIMIT) -> tuple[bytes, bool]:
    """The stdout of ``cmd`` run in the container, read as a stream for at most ``deadline``
    seconds and ``limit`` bytes, and whether it was cut at ``limit``. :class:`NoAnswer` when
    it did not end in time or ended with an error; docker's errors as they come."""
    end = time.monotonic() + deadline
    bounded = ["timeout", "-k", "5", f"{min(EXEC_DEADLINE, deadline):.0f}", *cmd]
    exec_id = host.api.exec_create(container, bounded, stdout=True, stderr=False)["Id"]
    sock = host.api.exec_start(exec_id, socket=True)
    raw = getattr(sock, "_sock", sock)  # docker-py gives a SocketIO over a unix socket
    data, cut = bytearray(), False
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise NoAnswer(f"no answer within {deadline:.0f}s")
            raw.settimeout(left)
            try:
                chunk = raw.recv(65536)
            except TimeoutError:  # socket.timeout
                raise NoAnswer(f"no answer within {deadline:.0f}s") from None
            if not chunk:
                break
            data += chunk
            if len(data) > limit:
                cut = True
                break
    finally:
        for s in (sock, raw):
            with contextlib.suppress(OSError):
                s.close()
    if not cut:
        code = host.api.exec_inspect(exec_id).get("ExitCode")
        if code != 0:
            raise NoAnswer(f"it ended with exit code {code}" + (" (its deadline)" if code in (124, 137) else ""))
    return _demux(bytes(data)), cut


@dataclass(frozen=True)
class Seen:
    """What one machine's engine said: its newest use (None: none), or why it said nothing."""

    last: float | None
    what: str = ""
    unread: str = ""  # why the engine could not be read; '' when it was


def _events(host: docker.DockerClient, c: Any, since: float, until: float) -> Seen:
    """The newest use among the machine's engine's events in [since, until]. In use now
    (``until``) when its event buffer does not reach back to ``since``; ``unread`` when the
    engine did not answer (within :data:`READ_DEADLINE`) or said it could not."""
    # to the microsecond: a window cut to whole seconds misses a change made a moment ago
    cmd = ["docker", "events", "--since", f"{since:.6f}", "--until", f"{until:.6f}", "--format", FORMAT]
    try:
        out, cut = run_bounded(host, c.id, cmd)
    except NoAnswer as e:
        return Seen(None, unread=f"its engine did not answer: {e}")
    except (docker.errors.DockerException, OSError) as e:  # requests' errors are OSErrors
        return Seen(None, unread=f"its engine did not answer ({type(e).__name__})")
    if cut:
        return Seen(until, "its engine's event log does not reach back that far (too long)")
    lines = out.decode("utf-8", "replace").splitlines()
    stamps = [int(m.group(1)) / 1e9 for m in map(_TIME.search, lines) if m]
    if len(lines) >= BUFFER_FULL and (not stamps or min(stamps) > since + 60):
        return Seen(until, "its engine's event log does not reach back that far")
    best = Seen(None)
    for line in lines:
        t = is_use(line)
        if t is not None and (best.last is None or t > best.last):
            best = Seen(t, f"a {line.split(' ', 1)[0]} change")
    return best


def last_used(host: docker.DockerClient, machines: Sequence[Any], window: float, machine_of: Any) -> Activity:
    """When the lab of these machine containers was last used: the newest of each machine's
    start and, on running ones, its engine's events of use in the last ``window`` seconds
    (none read for a window of 0: every lab is unused for that long). An engine that could
    not be read (:data:`READ_DEADLINE`) makes the lab in use now, and says so in ``unread``."""
    now = time.time()
    best = Activity(0.0, "nothing")
    for c in machines:
        started = _started(c)
        if started > best.last:
            best = Activity(started, f"machine {machine_of(c)} started")
    running = [c for c in machines if c.status == "running"] if window > 0 else []
    found = parallel_map(lambda c: _events(host, c, now - window, now), running)
    unread = [f"machine {machine_of(c)}: {ev.unread}" for c, ev in zip(running, found) if ev.unread]
    if unread:
        return Activity(now, "its engines could not be read", "; ".join(unread))
    for c, ev in zip(running, found):
        if ev.last is not None and ev.last > best.last:
            best = Activity(ev.last, f"{ev.what} on {machine_of(c)}")
    if best.last < now - window:  # the events asked for go no further back than the window
        best = Activity(best.last, "no change through its engines, and no machine started, in that time")
    return best
