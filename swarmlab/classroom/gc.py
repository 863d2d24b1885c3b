"""``swarmlab gc --idle 2h``: the labs nobody used for that long (see :mod:`.activity`), and
the remains of labs whose machines are gone (a network or volume a destroy left), on every
engine of a provider whose labs share one (:attr:`~swarmlab.providers.base.Capabilities.shared_engine`).

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

from .. import _deadline, _home
from .._errors import DockerError, SwarmlabError, WaitTimeout
from .._util import parallel_map
from ..providers import FoundLab, Provider, shared_engine_providers
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
    provider: str  # the provider it was found on, as Lab(provider=...) takes it


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
    """Every lab of ``owners`` (None: every user's) on the engine that nobody used for ``idle``
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
    """Every lab of ``owners`` on the engine (None: every user's; ``lab``: that lab only), of
    each provider whose labs share an engine, sorted into idle for ``idle`` seconds, in use,
    and could not be read. ``whose``: the engine is user ``whose``'s rootless engine, an API
    that user controls: only their labs count, and the other owners it reports are listed in
    :attr:`Scan.others`, never acted on."""
    out = Scan()
    now = time.time()
    found: list[tuple[type[Provider], FoundLab]] = []
    others: set[str] = set()
    for cls in shared_engine_providers():
        listing = cls.list_labs(owners, engine=host, whose=whose, lab=lab, remains=True)
        others |= {o or "(labels swarmlab does not give)" for o in listing.others}
        found += [(cls, f) for f in listing.labs]
    out.others = sorted(others)
    # remains: a lab's network or volume with no machine, made longer ago than ``idle`` (a
    # lab being made has its network a moment before its machines)
    for _, f in found:
        if f.machines == 0:
            x = IdleLab(f.name, f.owner, 0, now - f.made, "no machine left", f.provider)
            (out.idle if now - f.made >= idle else out.used).append(x)
    # the labs side by side (each machine's engine too): one deadline for all, not one per lab
    labs = [(cls, f) for cls, f in found if f.machines > 0]

    def used(pair: tuple[type[Provider], FoundLab]) -> activity.Activity:
        cls, f = pair
        return activity.last_used(
            lambda since, until: cls.machine_events(f, host, since, until, activity.FORMAT, activity.READ_DEADLINE),
            idle)

    for (_, f), last in zip(labs, parallel_map(used, labs, limit=LABS_AT_ONCE)):
        # idle as of when the reading began: a lab in use "now" stays in use however long
        # the other labs' engines took to answer
        x = IdleLab(f.name, f.owner, f.machines, last.idle_for(now), last.unread or last.what, f.provider)
        (out.unread if last.unread else out.idle if x.idle >= idle else out.used).append(x)
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
