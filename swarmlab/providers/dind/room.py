"""Room for a lab, checked before anything is made: the classroom's limit on a learner's
machines (:mod:`.limits`), and the kernel's neighbour table that every machine of every lab on
this engine shares (:mod:`.neighbours`)."""

from __future__ import annotations

import docker

from ..base import LABEL_LAB, LABEL_OWNER, LABEL_PROVIDER, LABEL_ROLE, is_name
from . import limits, neighbours
from .names import LabNames


def check_learner(host: docker.DockerClient, names: LabNames, lim: limits.Limits, new: list[str]) -> bool:
    """Refuse a learner with too many machines (``lim``: the classroom's limits) before the
    ``new`` ones are made; whether they were counted against a limit."""
    if lim.machines is None or not new:
        return False
    had: dict[str, int] = {}
    flt = {"label": [f"{LABEL_PROVIDER}={names.provider}", f"{LABEL_ROLE}=machine", f"{LABEL_OWNER}={names.owner}"]}
    for c in host.containers.list(all=True, filters=flt, ignore_removed=True):
        # a lab's name here is only counted and shown, checked as a lab name first
        lab = str(c.labels.get(LABEL_LAB))
        lab = lab if is_name(lab, "lab") else "(a lab not named as swarmlab names them)"
        had[lab] = had.get(lab, 0) + 1
    lim.check_machines(names.lab, len(new), had)
    return True


def check_kernel(host: docker.DockerClient, names: LabNames, machines: int) -> None:
    """Refuse, before anything is made, a lab of ``machines`` too big for the kernel's
    neighbour table, counting the other labs' running machines on this engine."""
    others: dict[tuple[str, str], int] = {}
    flt = {"label": [f"{LABEL_PROVIDER}={names.provider}", f"{LABEL_ROLE}=machine"]}
    for c in host.containers.list(filters=flt, ignore_removed=True):
        # labels are only counted here: no name, path or command is made of them
        key = (str(c.labels.get(LABEL_LAB)), str(c.labels.get(LABEL_OWNER)))
        if key != (names.lab, names.owner):
            others[key] = others.get(key, 0) + 1
    if neighbours.needed([machines, *others.values()]) <= neighbours.HEADROOM * 1024:
        return  # fits every kernel's default: no need to ask
    kernel = host.info().get("KernelVersion")
    neighbours.check(machines, others.values(), kernel)
