"""``swarmlab gc --idle 2h``: the dind labs nobody used for that long (see :mod:`.activity`),
and the remains of labs whose machines are gone (a network or volume a destroy left).

Every read of a machine's engine has a deadline (:data:`.activity.READ_DEADLINE`): a lab whose
engines do not answer in time (a learner's dockerd stopped, a ``docker`` that never ends) is
kept and listed as could not be read, never waited for. One ``swarmlab gc`` runs at a time
per swarmlab home (:func:`only_one`), and a lab is read again right before it is removed
(:func:`recheck`): one used since it was listed is kept."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker

from ... import _deadline, _home
from ..._errors import DockerError, SwarmlabError, WaitTimeout
from ..._util import parallel_map
from ..base import LABEL_LAB, LABEL_MACHINE, LABEL_OWNER, LABEL_PROVIDER, LABEL_ROLE, is_name, labelled_lab
from . import activity

#: how long one engine's labs may take to be listed and read (each machine's read within
#: activity.READ_DEADLINE, side by side): an engine that has not answered by then (a
#: learner's rootless engine that sends a byte now and then) is given up, its labs kept
SCAN_DEADLINE = activity.READ_DEADLINE + 35
#: how many labs are read at once (each with its machines side by side): stuck reads wait
#: out their deadline together, not one round after another
LABS_AT_ONCE = 64


@dataclass(frozen=True)
class IdleLab:
    lab: str
    owner: str
    machines: int
    idle: float  # seconds; for a lab with no machine left, how long its remains stayed (unknown: 0)
    why: str  # what the last use was, or "no machine left"; for a lab not read, why not


@dataclass
class Scan:
    """The labs of one engine: the idle ones, those in use, and those that could not be read
    (kept: in use as far as gc knows)."""

    idle: list[IdleLab] = field(default_factory=list)
    used: list[IdleLab] = field(default_factory=list)
    unread: list[IdleLab] = field(default_factory=list)
    #: on a learner's rootless engine, the other owners it reports labs of (ignored)
    others: list[str] = field(default_factory=list)


def idle_labs(host: docker.DockerClient, idle: float, owners: Sequence[str] | None) -> list[IdleLab]:
    """Every dind lab of ``owners`` (None: every user's) that nobody used for ``idle``
    seconds, and every lab of theirs with remains but no machine; sorted by owner and name.
    A lab whose engines could not be read is not among them. With ``idle`` 0 no engine of a
    machine is asked anything: every lab is. Within :data:`SCAN_DEADLINE` (:func:`scan_within`)."""
    return scan_within(host, idle, owners).idle


class NotAnswered(DockerError):
    """An engine whose labs could not be listed and read within the deadline."""


def scan_within(host: docker.DockerClient, idle: float, owners: Sequence[str] | None,
                deadline: float = SCAN_DEADLINE, whose: str = "") -> Scan:
    """:func:`scan` given up after ``deadline`` seconds (:class:`NotAnswered`): an engine
    that sends its answer a byte at a time (a learner's own) is never waited for. Errors of
    the engine are raised as they come. ``whose``: see :func:`scan`."""
    key = ("gc-scan", str(host.api.base_url), tuple(owners) if owners is not None else None, whose)
    return _deadline.within(key, deadline, lambda: scan(host, idle, owners, whose=whose), NotAnswered)


def scan(host: docker.DockerClient, idle: float, owners: Sequence[str] | None, lab: str | None = None,
         whose: str = "") -> Scan:
    """Every dind lab of ``owners`` (None: every user's; ``lab``: that lab only), sorted into
    idle for ``idle`` seconds, in use, and could not be read. ``whose``: the engine is user
    ``whose``'s rootless engine, an API that user controls: only their labs count, and the
    other owners it reports are listed in :attr:`Scan.others`, never acted on."""
    out = Scan()
    if whose:
        owners = [whose]
    flt = [f"{LABEL_PROVIDER}=dind"]
    if owners is not None and len(owners) == 1 and not whose:
        flt.append(f"{LABEL_OWNER}={owners[0]}")
    if lab is not None:
        flt.append(f"{LABEL_LAB}={lab}")
    labs: dict[tuple[str, str], list] = {}
    others: set[str] = set()
    for c in host.containers.list(all=True, filters={"label": [*flt, f"{LABEL_ROLE}=machine"]}, ignore_removed=True):
        key = labelled_lab(c.labels if isinstance(c.labels, dict) else None)
        if whose and (key is None or key[1] != whose):
            others.add(key[1] if key else "(labels swarmlab does not give)")
        elif key and (owners is None or key[1] in owners) and is_name(c.labels.get(LABEL_MACHINE), "machine"):
            labs.setdefault(key, []).append(c)
    out.others = sorted(others)
    # remains: a lab's network or volume with no machine, made longer ago than ``idle`` (a
    # lab being made has its network a moment before its machines)
    now = time.time()
    remains: dict[tuple[str, str], float] = {}
    things = [(n.attrs.get("Labels"), n.attrs.get("Created"))
              for n in host.networks.list(filters={"label": [*flt, f"{LABEL_ROLE}=network"]})]
    things += [(v.attrs.get("Labels"), v.attrs.get("CreatedAt"))
               for v in host.volumes.list(filters={"label": [*flt, f"{LABEL_ROLE}=volume"]})]
    for labels, created in things:
        key = labelled_lab(labels)
        if key and (owners is None or key[1] in owners) and key not in labs:
            made = activity.stamp(created)
            remains[key] = max(remains.get(key, 0.0), made if made else now)
    for (name, who), made in remains.items():
        (out.idle if now - made >= idle else out.used).append(IdleLab(name, who, 0, now - made, "no machine left"))
    # the labs side by side (each machine's engine too): one deadline for all, not one per lab
    keys = list(labs)
    found = parallel_map(lambda k: activity.last_used(host, labs[k], idle, lambda c: c.labels[LABEL_MACHINE]),
                         keys, limit=LABS_AT_ONCE)
    for (name, who), used in zip(keys, found):
        # idle as of when the reading began: a lab in use "now" stays in use however long
        # the other labs' engines took to answer
        x = IdleLab(name, who, len(labs[(name, who)]), used.idle_for(now), used.unread or used.what)
        (out.unread if used.unread else out.idle if x.idle >= idle else out.used).append(x)
    for part in (out.idle, out.used, out.unread):
        part.sort(key=lambda x: (x.owner, x.lab))
    return out


#: called with each lab gc chose to remove, before it is read again (:func:`recheck`): a
#: seam for tests that use the lab in between; None in use
before_recheck: Callable[[IdleLab], None] | None = None


def recheck(host: docker.DockerClient, x: IdleLab, idle: float) -> str:
    """Read lab ``x`` again right before it is removed: '' when it is still idle (or its
    remains still have no machine), else why it is kept now (used meanwhile, could not be
    read, a machine made meanwhile)."""
    if before_recheck is not None:
        before_recheck(x)
    now = scan(host, idle, [x.owner], lab=x.lab)
    for kept in now.unread:
        return f"could not be read again before removal: {kept.why}"
    for kept in now.used:
        return f"used since it was listed: {kept.why}"
    for y in now.idle:
        if y.machines != x.machines:
            return f"it has {y.machines} machines now, {x.machines} when it was listed"
    return ""  # still idle, or gone already


# -- one gc at a time -------------------------------------------------------------------------
class GcRunning(SwarmlabError):
    """Another ``swarmlab gc`` of this swarmlab home is running."""


def _gc_dir() -> Path:
    return _home.make_private_dir(_home.home() / "gc")


def _holder(folder: Path) -> str:
    """The process id the running gc wrote, checked (a number), else 'unknown'."""
    path = folder / "pid"
    with contextlib.suppress(OSError, SwarmlabError):
        _home.check_private_file(path, "gc's pid file")
        text = path.read_text()[:20].strip()
        if text.isdigit():
            return text
    return "unknown"


@contextlib.contextmanager
def only_one() -> Iterator[None]:
    """Hold gc's lock (``<home>/gc/.lock``, :func:`swarmlab._home.locked`) while gc runs;
    :class:`GcRunning`, at once, naming the process that holds it, when another gc does."""
    held = contextlib.ExitStack()
    try:
        held.enter_context(_home.locked(_gc_dir, "the labs (swarmlab gc)", 0))
    except WaitTimeout:
        folder = _gc_dir()
        raise GcRunning(f"another swarmlab gc is running (pid {_holder(folder)}, holding {folder / '.lock'}): "
                        f"this one did not start; run it again when that one has ended") from None
    with held:
        _home.write_private(_gc_dir() / "pid", str(os.getpid()).encode())
        yield
