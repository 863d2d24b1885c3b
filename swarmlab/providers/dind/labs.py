"""Which dind labs an engine holds, and whose (:meth:`DindProvider.list_labs`); and what each
machine's own engine says of its use (:meth:`DindProvider.machine_events`, for ``swarmlab gc``).

A machine's engine is read through ``docker exec`` on the engine the machine runs on, so it
works for any user's lab. Nothing read back is trusted: labels are names swarmlab gives or the
thing is left out, and a machine's ``docker`` (and ``timeout``) are the learner's to replace and
its dockerd theirs to stop, so each read has a deadline of our own, on the socket, and a bound
on what is read (:data:`OUTPUT_LIMIT`)."""

from __future__ import annotations

import calendar
import contextlib
import re
import time
from collections.abc import Sequence
from typing import Any

import docker
import docker.errors

from ..._engine import this_computers_env
from ..._exec import ExecTimeout, exec_output
from ..._util import parallel_map
from ..base import (
    LABEL_LAB,
    LABEL_MACHINE,
    LABEL_OWNER,
    LABEL_PROVIDER,
    LABEL_ROLE,
    FoundLab,
    LabListing,
    MachineEvents,
    folder_labs,
    is_name,
    labelled_lab,
    owner,
)

#: at most this many bytes of a command's output are read (a stream, never the whole output
#: at once): 256 events are some 30 kB; more means an event log that does not reach back
OUTPUT_LIMIT = 1_000_000
#: how long a machine's own ``timeout`` lets its command run is the read's deadline less
#: this (then SIGKILL 5 s later): only our own socket deadline is sure
EXEC_MARGIN = 5.0


def stamp(text: object) -> float:
    """An engine's time stamp (``2026-12-01T04:10:05.3165Z``) as seconds; 0 when it is not one."""
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)", str(text or ""))
    if not m:
        return 0.0
    y, mo, d, h, mi, s = (int(g) for g in m.groups())
    return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))


def _filters(owners: Sequence[str] | None, whose: str, lab: str | None) -> list[str]:
    flt = [f"{LABEL_PROVIDER}=dind"]
    if owners is not None and len(owners) == 1 and not whose:
        flt.append(f"{LABEL_OWNER}={owners[0]}")
    if lab is not None:
        flt.append(f"{LABEL_LAB}={lab}")
    return flt


def _labels(c: Any) -> dict[str, str] | None:
    """A container's labels, from a list's own fields (sparse) or from its inspection."""
    labels = c.attrs.get("Labels") if "Labels" in c.attrs else (c.attrs.get("Config") or {}).get("Labels")
    return labels if isinstance(labels, dict) else None


def _machines(engine: docker.DockerClient, owners: Sequence[str] | None, whose: str, lab: str | None,
              sparse: bool = True) -> tuple[dict[tuple[str, str], list[Any]], set[str]]:
    """The machine containers of each (lab, owner), and the other owners a learner's engine
    reports ("": labels swarmlab does not give). ``sparse``: the list's own fields only (a
    container removed meanwhile is no error), else each one inspected."""
    if whose:
        owners = [whose]
    labs: dict[tuple[str, str], list[Any]] = {}
    others: set[str] = set()
    flt = [*_filters(owners, whose, lab), f"{LABEL_ROLE}=machine"]
    for c in engine.containers.list(all=True, filters={"label": flt}, sparse=sparse, ignore_removed=True):
        labels = _labels(c)
        key = labelled_lab(labels)
        if whose and (key is None or key[1] != whose):
            others.add(key[1] if key else "")
        elif key and (owners is None or key[1] in owners) and is_name((labels or {}).get(LABEL_MACHINE), "machine"):
            labs.setdefault(key, []).append(c)
    return labs, others


def _remains(engine: docker.DockerClient, owners: Sequence[str] | None, whose: str, lab: str | None,
             now: float) -> dict[tuple[str, str], float]:
    """(lab, owner) -> when its newest network or volume was made, for every lab that has one."""
    if whose:
        owners = [whose]
    flt = _filters(owners, whose, lab)
    things = [(n.attrs.get("Labels"), n.attrs.get("Created"))
              for n in engine.networks.list(filters={"label": [*flt, f"{LABEL_ROLE}=network"]})]
    things += [(v.attrs.get("Labels"), v.attrs.get("CreatedAt"))
               for v in engine.volumes.list(filters={"label": [*flt, f"{LABEL_ROLE}=volume"]})]
    remains: dict[tuple[str, str], float] = {}
    for labels, created in things:
        key = labelled_lab(labels)
        if key and (owners is None or key[1] in owners):
            made = stamp(created)
            remains[key] = max(remains.get(key, 0.0), made if made else now)
    return remains


def list_labs(owners: Sequence[str] | None = None, *, engine: docker.DockerClient | None = None,
              whose: str = "", lab: str | None = None, remains: bool = False) -> LabListing:
    """:meth:`swarmlab.providers.base.Provider.list_labs` for dind labs: without ``engine``,
    this user's lab folders and the labs of their machines on the local engine (no engine
    here: the folders alone)."""
    if engine is None:
        found = {f.name: f for f in folder_labs("dind")}
        with contextlib.suppress(Exception):  # no engine here: the folders still say which labs exist
            local = docker.from_env(version="auto", timeout=20, environment=this_computers_env())
            try:
                for f in list_labs([owner()], engine=local).labs:
                    found[f.name] = f
            finally:
                local.close()
        return LabListing(sorted(found.values(), key=lambda f: f.name))
    now = time.time()
    machines, others = _machines(engine, owners, whose, lab)
    out = [FoundLab(name, who, "dind", len(cs)) for (name, who), cs in machines.items()]
    if remains:
        left = _remains(engine, owners, whose, lab, now)
        out += [FoundLab(name, who, "dind", 0, made) for (name, who), made in left.items()
                if (name, who) not in machines]
    return LabListing(sorted(out, key=lambda f: (f.owner, f.name)), sorted(others))


# -- a machine's engine, read within a deadline -------------------------------------------------
class NoAnswer(Exception):
    """A machine's command did not end, or did not succeed, within its deadline."""


def run_bounded(host: docker.DockerClient, container: str, cmd: Sequence[str], deadline: float,
                limit: int = OUTPUT_LIMIT) -> tuple[bytes, bool]:
    """The stdout of ``cmd`` run in the container, read as a stream for at most ``deadline``
    seconds and ``limit`` bytes, and whether it was cut at ``limit``. :class:`NoAnswer` when
    it did not end in time or ended with an error; docker's errors as they come."""
    bounded = ["timeout", "-k", "5", f"{max(1.0, deadline - EXEC_MARGIN):.0f}", *cmd]
    try:
        ran = exec_output(host, container, bounded, stderr=False, deadline=deadline, limit=limit)
    except ExecTimeout:
        raise NoAnswer(f"no answer within {deadline:.0f}s") from None
    if not ran.cut and ran.code != 0:
        raise NoAnswer(f"it ended with exit code {ran.code}" + (" (its deadline)" if ran.code in (124, 137) else ""))
    return ran.output, ran.cut


def _started(c: Any) -> float:
    """When the machine's container was made or last started (one being made now is new)."""
    return max(stamp((c.attrs.get("State") or {}).get("StartedAt")), stamp(c.attrs.get("Created")))


def _read(host: docker.DockerClient, c: Any, since: float | None, until: float, fmt: str,
          deadline: float) -> MachineEvents:
    machine, running = str((_labels(c) or {})[LABEL_MACHINE]), c.status == "running"
    if since is None or not running:
        return MachineEvents(machine, _started(c), running)
    # to the microsecond: a window cut to whole seconds misses a change made a moment ago
    cmd = ["docker", "events", "--since", f"{since:.6f}", "--until", f"{until:.6f}", "--format", fmt]
    try:
        out, cut = run_bounded(host, c.id, cmd, deadline)
    except NoAnswer as e:
        return MachineEvents(machine, _started(c), running, unread=f"its engine did not answer: {e}")
    except (docker.errors.DockerException, OSError) as e:  # requests' errors are OSErrors
        return MachineEvents(machine, _started(c), running, unread=f"its engine did not answer ({type(e).__name__})")
    return MachineEvents(machine, _started(c), running, tuple(out.decode("utf-8", "replace").splitlines()), cut)


def machine_events(found: FoundLab, engine: docker.DockerClient, since: float | None, until: float, fmt: str,
                   deadline: float) -> list[MachineEvents]:
    """:meth:`swarmlab.providers.base.Provider.machine_events` for a dind lab: its machines
    found again by their labels on ``engine``, their engines read side by side."""
    machines, _ = _machines(engine, [found.owner], "", found.name, sparse=False)
    containers = machines.get((found.name, found.owner), [])
    return parallel_map(lambda c: _read(engine, c, since, until, fmt, deadline), containers)
