"""Names and trust: what the dind provider calls what it makes, the labels it puts on it, and
whether a thing found by those labels is one it made.

Nothing read back from the engine is trusted: a container, volume or network is used or
removed only when its labels are valid names and its name is the one swarmlab gives it
(:meth:`LabNames.why_not_mine`). Anything else that carries the lab's labels (any image can
carry them) is left alone and reported (:func:`left_alone_notes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from ... import _home
from ..._errors import InvalidArgument
from ..base import (
    LABEL_LAB,
    LABEL_MACHINE,
    LABEL_OWNER,
    LABEL_PROVIDER,
    LABEL_ROLE,
    check_machine_name,
    lab_labels,
    no_machine,
    owner,
    owner_tag,
)

#: how a machine was started: "privileged" or "capabilities"
LABEL_SECURITY = "io.swarmlab.security"
#: where a "socket" machine's engine socket is on this computer (shown, never read back)
LABEL_SOCKET = "io.swarmlab.socket"
#: how swarmlab reaches a machine's engine: "socket" or "tls"
LABEL_API = "io.swarmlab.api"


@dataclass(frozen=True)
class LabNames:
    """The names, labels and folders of one user's lab on the dind provider.

    Machine ``manager1`` of lab ``tutorial`` of user 1000 is the container
    ``tutorial.manager1.u1000`` with the volume ``tutorial.manager1.u1000.var-lib-docker``,
    on the network ``swarmlab-tutorial-u1000``."""

    lab: str
    owner: str
    provider: str = "dind"

    @property
    def tag(self) -> str:
        return owner_tag(self.owner)

    @property
    def network(self) -> str:
        # the owner tag has no '-': lab a-u1 of user 2 (swarmlab-a-u1-u2) is never lab a's
        return f"swarmlab-{self.lab}-{self.tag}"

    def container(self, machine: str) -> str:
        # '.' appears in no lab, machine or owner name: lab a-b's machine c and lab a's
        # machine b-c never share a container name, nor do two users' labs
        return f"{self.lab}.{check_machine_name(machine)}.{self.tag}"

    def volume(self, machine: str) -> str:
        return f"{self.container(machine)}.var-lib-docker"

    # -- places on this computer ----------------------------------------------------------
    @property
    def folder(self) -> str:
        """The folder of ``<home>/labs`` that holds this lab's folder: the provider's
        (``dind``) for a lab of the user running swarmlab; for another user's lab (root acting
        on a learner's: ``swarmlab gc --user``, ``class down``) a folder of that user's alone
        (``dind-u1000``), so that a learner's lab named like one of root's own never shares
        root's lock, sockets or CA, and its destroy never removes root's lab's folder."""
        if self.owner == owner():
            return self.provider
        return _home.check_path_part(f"{self.provider}-{self.tag}", "owner")

    def lab_dir(self, create: bool = False) -> Path:
        """The lab's folder (``<home>/labs/dind/<lab>``, or ``<home>/labs/dind-u<uid>/<lab>``
        for another user's lab: see :attr:`folder`), checked (and its parents) before it is
        used; made mode 0700 when ``create``."""
        return _home.lab_dir(self.folder, self.lab, create=create)

    def socket_path(self, machine: str) -> Path:
        """Where the machine's engine socket is (for showing it: nothing here is checked)."""
        return _home.home_path() / "labs" / self.folder / self.lab / check_machine_name(machine) / "docker.sock"

    def tls_dir(self) -> Path:
        return self.lab_dir(create=True) / "tls"

    # -- labels ---------------------------------------------------------------------------
    def labels(self, role: str, machine: str | None = None) -> dict[str, str]:
        labels = lab_labels(self.lab, role, self.provider, machine)
        labels[LABEL_OWNER] = self.owner
        return labels

    def filters(self, role: str, machine: str | None = None) -> dict[str, Any]:
        return {"label": [f"{k}={v}" for k, v in self.labels(role, machine).items()]}

    def why_not_mine(self, kind: str, name: str, labels: dict[str, str] | None) -> str:
        """Why a container, volume or network found by the lab's labels is not one swarmlab
        made for this lab and user; '' when it is. Labels are valid names, the name is the
        one swarmlab gives it, and so no path, client or command is made from anything else."""
        labels = labels or {}
        want = {LABEL_LAB: self.lab, LABEL_PROVIDER: self.provider, LABEL_OWNER: self.owner,
                LABEL_ROLE: "network" if kind == "network" else "machine" if kind == "container" else "volume"}
        for key, value in want.items():
            if labels.get(key) != value:
                return f"its label {key}={show(labels.get(key))} is not {value!r}"
        if kind == "network":
            expected = self.network
        else:
            machine = labels.get(LABEL_MACHINE)
            try:
                check_machine_name(machine)
            except InvalidArgument:
                return f"its label {LABEL_MACHINE}={show(machine)} is not a machine name"
            assert machine is not None
            expected = self.container(machine) if kind == "container" else self.volume(machine)
        if kind == "container":
            if labels.get(LABEL_API) not in ("socket", "tls"):
                return f"its label {LABEL_API}={show(labels.get(LABEL_API))} is not 'socket' or 'tls'"
            if labels.get(LABEL_SECURITY) not in ("privileged", "capabilities"):
                return (f"its label {LABEL_SECURITY}={show(labels.get(LABEL_SECURITY))} is not "
                        f"'privileged' or 'capabilities'")
        if name != expected:
            return f"its name is not {expected!r}, the name swarmlab gives it"
        return ""


# -- what is ours on the engine ------------------------------------------------------------
def found_containers(host: docker.DockerClient, names: LabNames, machine: str | None = None) -> list[Any]:
    """The lab's machine containers (of this user), only those swarmlab made."""
    found = host.containers.list(all=True, filters=names.filters("machine", machine), ignore_removed=True)
    return [c for c in found if not names.why_not_mine("container", c.name, c.labels)]


def found_volumes(host: docker.DockerClient, names: LabNames, machine: str | None = None) -> list[Any]:
    found = host.volumes.list(filters=names.filters("volume", machine))
    return [v for v in found if not names.why_not_mine("volume", v.name, v.attrs.get("Labels"))]


def found_networks(host: docker.DockerClient, names: LabNames) -> list[Any]:
    found = host.networks.list(filters=names.filters("network"))
    return [n for n in found if not names.why_not_mine("network", n.name, n.attrs.get("Labels"))]


def the_container(host: docker.DockerClient, names: LabNames, machine: str) -> Any:
    """The container of machine ``machine``; :class:`MachineNotFound` naming the lab's
    machines when there is none."""
    check_machine_name(machine)
    found = found_containers(host, names, machine)
    if not found:
        raise no_machine(names.lab, machine, [c.labels[LABEL_MACHINE] for c in found_containers(host, names)])
    return found[0]


def left_alone_notes(host: docker.DockerClient, names: LabNames) -> list[str]:
    """What carries this lab's labels (and this user's, or no owner at all) but is not what
    swarmlab makes: one sentence each, with the command that removes it by hand."""
    mine = {"label": [f"{LABEL_LAB}={names.lab}", f"{LABEL_PROVIDER}={names.provider}"]}
    found: list[tuple[str, Any, dict[str, str], str]] = []
    for c in host.containers.list(all=True, filters=mine, ignore_removed=True):
        found.append(("container", c, c.labels, f"docker rm -f {c.short_id}"))
    for v in host.volumes.list(filters=mine):
        found.append(("volume", v, v.attrs.get("Labels") or {}, f"docker volume rm {v.name}"))
    for n in host.networks.list(filters=mine):
        found.append(("network", n, n.attrs.get("Labels") or {}, f"docker network rm {n.short_id}"))
    notes = []
    for kind, thing, labels, remove in found:
        if LABEL_OWNER not in labels:
            why = "it carries no owner label (made by an older swarmlab, or not by swarmlab)"
        elif labels[LABEL_OWNER] != names.owner:
            continue  # another user's lab of the same name: not ours to see
        else:
            why = names.why_not_mine(kind, thing.name, labels)
        if why:
            notes.append(f"left alone: {kind} {thing.name!r} (labels don't match what swarmlab "
                         f"makes: {why}); swarmlab neither uses nor removes it. If it is yours, "
                         f"remove it with '{remove}'.")
    return notes


def show(value: object) -> str:
    """A value read from the engine, quoted and cut short, for a message."""
    text = repr(value)
    return text if len(text) <= 42 else text[:40] + "…"
