"""The ssh provider's records: what it notes on a host, as labelled volumes (state lives on
the machines), and reading them back without trusting them.

- ``swarmlab-<lab>-<machine>`` (role ``adopted``): the host is the lab's machine ``<machine>``;
  it says whether ``docker_gwbridge`` was there before the lab's swarm.
- ``swarmlab-<lab>-<machine>-node-<node ID>`` (role ``swarm-node``): a swarm membership the
  lab made on the host (``lab.swarm.init`` / ``lab.swarm.join``).

A volume with the lab's labels that is not a record as swarmlab makes it (its name, a machine
name, a node ID) is never used, never removed, and reported."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import docker

from ..._errors import InvalidArgument
from ..base import LABEL_LAB, LABEL_MACHINE, LABEL_PROVIDER, LABEL_ROLE, check_machine_name
from .inventory import Host

LABEL_GWBRIDGE = "io.swarmlab.ssh.gwbridge"
LABEL_TARGET = "io.swarmlab.ssh.target"
LABEL_NODE = "io.swarmlab.ssh.node"
#: the roles of the ssh provider's records: a host's adoption, a swarm membership the lab made
ROLE_ADOPTED, ROLE_NODE = "adopted", "swarm-node"
#: a swarm node ID as swarmkit makes them (25 base-36 characters)
NODE_ID_RE = re.compile(r"[0-9a-z]{25}")
#: the labels swarm puts on a task's container
SWARM_NODE_LABEL, SWARM_SERVICE_LABEL = "com.docker.swarm.node.id", "com.docker.swarm.service.id"


def marker_name(lab: str, machine: str) -> str:
    """The name of the record that a host was adopted as ``machine``."""
    return f"swarmlab-{lab}-{machine}"


def node_record_name(lab: str, machine: str, node_id: str) -> str:
    """The name of the record of a swarm membership the lab made on ``machine``."""
    return f"swarmlab-{lab}-{machine}-node-{node_id}"


@dataclass
class Records:
    """What the lab recorded on one host, read back and checked."""

    machine: str | None = None  # what the host was adopted as
    gwbridge_made: bool = False  # docker_gwbridge was made by the lab's swarm
    nodes: set[str] = field(default_factory=set)  # the swarm node IDs the lab's swarm gave it
    volumes: list[str] = field(default_factory=list)  # the records, in the order to remove them
    notes: list[str] = field(default_factory=list)  # what was left alone, one sentence each


def why_not_a_record(lab: str, host: Host, name: str, labels: Mapping[str, str]) -> str:
    """'' when a volume is a record as the ssh provider makes them for ``lab``, else why not."""
    machine, role = labels.get(LABEL_MACHINE), labels.get(LABEL_ROLE)
    try:
        machine = check_machine_name(machine)
    except InvalidArgument:
        return f"its machine label {machine!r} is no machine name"
    if host.name is not None and machine != host.name:
        return f"the inventory names this host {host.name!r}, not {machine!r}"
    if role == ROLE_ADOPTED:
        if name != marker_name(lab, machine):
            return f"the record of {machine!r} is called {marker_name(lab, machine)!r}"
        if labels.get(LABEL_GWBRIDGE) not in ("made", "existed"):
            return f"its {LABEL_GWBRIDGE} label {labels.get(LABEL_GWBRIDGE)!r} is none swarmlab writes"
        return ""
    if role == ROLE_NODE:
        node = labels.get(LABEL_NODE)
        if not isinstance(node, str) or not NODE_ID_RE.fullmatch(node):
            return f"its node label {node!r} is no swarm node ID"
        if name != node_record_name(lab, machine, node):
            return f"the record of a node of {machine!r} is called {node_record_name(lab, machine, node)!r}"
        return ""
    return f"its role {role!r} is none the ssh provider gives"


def read_records(client: docker.DockerClient, lab: str, provider: str, host: Host) -> Records:
    """The lab's records on a host, read back and checked: what it was adopted as, the swarm
    node IDs the lab's swarm gave it; anything else with the lab's labels is left alone."""
    found = client.volumes.list(filters={"label": [f"{LABEL_LAB}={lab}", f"{LABEL_PROVIDER}={provider}"]})
    rec = Records()
    adopted: dict[str, tuple[str, Mapping[str, str]]] = {}
    nodes: list[tuple[str, str, str]] = []
    for v in found:
        labels = v.attrs.get("Labels") or {}
        why = why_not_a_record(lab, host, v.name, labels)
        if why:
            rec.notes.append(
                f"left alone: volume {v.name!r} on {host.target}: it carries lab {lab!r}'s labels "
                f"but is no record swarmlab makes ({why}); if it is yours, remove it on the host "
                f"with 'docker volume rm'")
        elif labels[LABEL_ROLE] == ROLE_ADOPTED:
            adopted[labels[LABEL_MACHINE]] = (v.name, labels)
        else:
            nodes.append((labels[LABEL_MACHINE], labels[LABEL_NODE], v.name))
    if len(adopted) > 1:
        rec.notes.append(
            f"left alone: {host.target} carries records of several machines of lab {lab!r} "
            f"({', '.join(sorted(adopted))}); swarmlab records one, so it uses and releases none")
        return rec
    for machine, (name, labels) in adopted.items():
        rec.machine, rec.gwbridge_made = machine, labels.get(LABEL_GWBRIDGE) == "made"
        rec.volumes.append(name)
    for machine, node, name in nodes:
        if machine == rec.machine:
            rec.nodes.add(node)
            rec.volumes.insert(0, name)  # removed before the adoption record
        else:
            rec.notes.append(f"left alone: volume {name!r} on {host.target}: a record of a swarm node "
                             f"of {machine!r}, which this host was not adopted as")
    return rec
