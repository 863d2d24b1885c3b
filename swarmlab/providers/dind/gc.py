"""``swarmlab gc --idle 2h``: the dind labs nobody used for that long (see :mod:`.activity`),
and the remains of labs whose machines are gone (a network or volume a destroy left)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import docker

from ..base import LABEL_MACHINE, LABEL_OWNER, LABEL_PROVIDER, LABEL_ROLE, is_name, labelled_lab
from . import activity


@dataclass(frozen=True)
class IdleLab:
    lab: str
    owner: str
    machines: int
    idle: float  # seconds; for a lab with no machine left, how long its remains stayed (unknown: 0)
    why: str  # what the last use was, or "no machine left"


def idle_labs(host: docker.DockerClient, idle: float, owners: Sequence[str] | None) -> list[IdleLab]:
    """Every dind lab of ``owners`` (None: every user's) that nobody used for ``idle``
    seconds, and every lab of theirs with remains but no machine; sorted by owner and name."""
    flt = [f"{LABEL_PROVIDER}=dind"]
    if owners is not None and len(owners) == 1:
        flt.append(f"{LABEL_OWNER}={owners[0]}")
    labs: dict[tuple[str, str], list] = {}
    for c in host.containers.list(all=True, filters={"label": [*flt, f"{LABEL_ROLE}=machine"]}, ignore_removed=True):
        key = labelled_lab(c.labels)
        if key and (owners is None or key[1] in owners) and is_name(c.labels.get(LABEL_MACHINE), "machine"):
            labs.setdefault(key, []).append(c)
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
    found = [IdleLab(lab, who, 0, now - made, "no machine left")
             for (lab, who), made in remains.items() if now - made >= idle]
    for (lab, who), machines in labs.items():
        used = activity.last_used(host, machines, idle, lambda c: c.labels[LABEL_MACHINE])
        if used.idle_for() >= idle:
            found.append(IdleLab(lab, who, len(machines), used.idle_for(), used.what))
    return sorted(found, key=lambda x: (x.owner, x.lab))
