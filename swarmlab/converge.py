"""Convergence: one read of the swarm per poll, and the predicates every wait asks of it.

A :class:`Snapshot` is what a manager said at one moment: the services asked about, their
tasks and the nodes (three engine calls). Every predicate here is a pure function of one
snapshot, so a poll of a rolling update costs three calls whatever the view beside it shows,
and the predicates are unit-tested on recorded JSON.

"Converged" means what the docker CLI means (``verify: Waiting 5 seconds to verify that tasks
are stable``): the tasks asked for are running and have stayed running for the service's
monitor period (``--update-monitor``, 5 s unless set). A crash-looping service is never
converged, however often its tasks are caught running. The period is counted from the time the
engine says each task started running, so tasks that have long been running are stable at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import docker
import docker.errors
import requests

from . import _format as fmt
from ._swarm import image_ref, monitor_seconds
from ._wait import Progress

#: States in which a task still occupies its node.
BUSY = ("assigned", "preparing", "starting", "running")


class HasManager(Protocol):
    def manager_client(self) -> docker.DockerClient: ...


@dataclass
class Snapshot:
    """The manager's view at one moment: ``services``, ``tasks`` and ``nodes`` as the Engine
    API returns them; ``now`` is the engine's clock at the read (for task ages)."""

    services: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    now: float = field(default_factory=time.time)

    @classmethod
    def read(cls, client: docker.DockerClient, service: str | None = None, *,
             clock_offset: float = 0.0) -> Snapshot:
        """Read the swarm once: the service called ``service`` (every service when None), its
        tasks (every task when None), and the nodes. Three engine calls."""
        api = client.api
        if service is None:
            services = api.services()
            tasks = api.tasks()
        else:
            services = [s for s in api.services(filters={"name": service}) if s["Spec"]["Name"] == service]
            tasks = api.tasks(filters={"service": services[0]["ID"]}) if services else []
        nodes = api.nodes()
        return cls(list(services), list(tasks), list(nodes), time.time() + clock_offset)

    # -- lookups -----------------------------------------------------------------------
    def service(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.services if s["Spec"]["Name"] == name), None)

    def tasks_of(self, service_id: str) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t.get("ServiceID") == service_id]

    @property
    def down(self) -> set[str]:
        """IDs of the nodes that are not Ready: they run nothing, whatever they last said."""
        return {n["ID"] for n in self.nodes if n.get("Status", {}).get("State") != "ready"}

    def hostnames(self) -> dict[str, str]:
        return {n["ID"]: n.get("Description", {}).get("Hostname", "") for n in self.nodes}

    def age(self, task: dict[str, Any]) -> float:
        """Seconds since the task's last state change, by the engine's clock."""
        ts = task.get("Status", {}).get("Timestamp")
        if not ts:
            return 0.0
        try:
            return max(0.0, self.now - fmt.parse_time(ts).timestamp())
        except ValueError:
            return 0.0


def engine_clock_offset(client: docker.DockerClient) -> float:
    """The engine's clock minus this computer's (seconds), from ``docker info``'s SystemTime:
    task ages are counted on the engine's clock, so a skewed VM never looks stable early."""
    try:
        return fmt.parse_time(str(client.info()["SystemTime"])).timestamp() - time.time()
    except (KeyError, ValueError):
        return 0.0


class SwarmReader:
    """Reads snapshots from a lab's manager during one wait: the manager and its clock are
    found on the first read and again only after an engine error (a manager that went away),
    so a steady poll costs the snapshot's three calls and nothing more."""

    def __init__(self, lab: HasManager) -> None:
        self._lab = lab
        self._client: docker.DockerClient | None = None
        self._offset = 0.0

    def read(self, service: str | None = None) -> Snapshot:
        if self._client is None:
            self._client = self._lab.manager_client()
            self._offset = engine_clock_offset(self._client)
        try:
            return Snapshot.read(self._client, service, clock_offset=self._offset)
        except Exception:
            self._client = None
            raise

    def node_drops(self, since: float) -> dict[str, str]:
        """Nodes the managers marked not Ready from ``since`` (this computer's clock) until now,
        from the engine's node events: {node ID: hostname}. Empty when the engine cannot say."""
        try:
            client = self._client or self._lab.manager_client()
            events = client.api.events(since=int(since + self._offset), until=int(time.time() + self._offset) + 1,
                                       filters={"type": "node"}, decode=True)
            drops: dict[str, str] = {}
            for e in events:
                actor = e.get("Actor") or {}
                attrs = actor.get("Attributes") or {}
                if attrs.get("state.new") in _NOT_READY and isinstance(actor.get("ID"), str):
                    drops.setdefault(actor["ID"], str(attrs.get("name") or actor["ID"][:12])[:64])
            return drops
        except (docker.errors.DockerException, requests.exceptions.RequestException, ValueError):
            # a step's report never fails on this extra
            return {}


_NOT_READY = ("down", "unknown", "disconnected")


# -- tasks -------------------------------------------------------------------------------
def task_running(t: dict[str, Any]) -> bool:
    return bool(t.get("DesiredState") == "running" and t.get("Status", {}).get("State") == "running")


def task_image(t: dict[str, Any]) -> str:
    return image_ref(t.get("Spec", {}).get("ContainerSpec", {}).get("Image", ""))


def task_error(t: dict[str, Any]) -> str:
    return str(t.get("Status", {}).get("Err") or "")


#: How the scheduler says that no node can take a task (constraints, host-mode ports, resources)
NO_SUITABLE_NODE = "no suitable node"


def unplaceable(snap: Snapshot, name: str) -> list[str]:
    """The scheduler's reasons, one per task of service ``name`` that is meant to run but
    that no node can take ("no suitable node (scheduling constraints not satisfied on 3
    nodes)"): such a task waits until the nodes change, not until time passes."""
    svc = snap.service(name)
    if svc is None:
        return []
    return [task_error(t) for t in snap.tasks_of(svc["ID"])
            if t.get("DesiredState") == "running" and t.get("Status", {}).get("State") == "pending"
            and task_error(t).startswith(NO_SUITABLE_NODE)]


# -- predicates ----------------------------------------------------------------------------
def global_nodes(snap: Snapshot, svc: dict[str, Any]) -> set[str]:
    """The nodes a global service without placement constraints runs one task on: those
    Ready and Active (a global service with constraints: none counted here, its tasks say)."""
    mode = svc.get("Spec", {}).get("Mode") or {}
    placement = (svc.get("Spec", {}).get("TaskTemplate") or {}).get("Placement") or {}
    if "Global" not in mode or placement.get("Constraints"):
        return set()
    down = snap.down
    return {n["ID"] for n in snap.nodes if n["ID"] not in down and n.get("Spec", {}).get("Availability") == "active"}


def service_progress(snap: Snapshot, name: str, want: int | None, image: str | None = None,
                     *, stable: bool = True) -> Progress:
    """Has service ``name`` ``want`` tasks running (on ``image``), stable for its monitor
    period, and nothing else running? ``want=None`` (a global service): every task meant to
    run. Tasks on a node that is down are neither running nor stopping: that node runs nothing."""
    svc = snap.service(name)
    if svc is None:
        return Progress(False, 0, want or 0, f"service {name} is not there (yet)", snapshot=snap)
    down = snap.down
    tasks = snap.tasks_of(svc["ID"])
    up = [t for t in tasks if t.get("NodeID") not in down]
    live = [t for t in up if t.get("DesiredState") == "running"]
    if want is None:
        want = max(len(live), len(global_nodes(snap, svc)))
    running = [t for t in live if task_running(t)]
    if image is not None:
        running = [t for t in running if task_image(t) == image_ref(image)]
    # leftovers of a scale-down still running count against convergence
    stopping = [t for t in up if t.get("DesiredState") != "running"
                and t.get("Status", {}).get("State") == "running"]
    monitor = monitor_seconds(svc["Spec"]) if stable else 0.0
    young = [t for t in running if snap.age(t) < monitor]
    errors = sorted({task_error(t) for t in tasks if task_error(t)
                     and t.get("Status", {}).get("State") in ("failed", "rejected")})
    state = f"{len(running)}/{want} running"
    if stopping:
        state += f", {len(stopping)} stopping"
    counted = len(running) == want and len(live) == want and not stopping
    if counted and young:
        wait = max(monitor - snap.age(t) for t in young)
        state += f"; verify: waiting {wait:.0f}s more to see that the tasks are stable"
    if errors:
        state += f"; task errors: {'; '.join(errors[-2:])}"
    return Progress(counted and not young, len(running) - len(young), want, state, snapshot=snap)


class DroppedNodes:
    """Nodes the managers marked not Ready (Down, Unknown, Disconnected) during a step: they
    missed heartbeats, or a newly elected leader had not heard from them yet. Meanwhile the
    scheduler gives new tasks to the other nodes only, so a rolling update or a rebalance
    leaves the service uneven, whatever the node does later. Read from the engine's own node
    events (:meth:`SwarmReader.node_drops`), which keep a drop shorter than a poll, and from
    the snapshots a wait reads anyway."""

    def __init__(self) -> None:
        self._ready_at_start: set[str] | None = None
        self._hosts: dict[str, str] = {}  # node ID -> hostname, in the order they dropped out

    def observe(self, snap: Snapshot) -> None:
        ready = {n["ID"] for n in snap.nodes} - snap.down
        if self._ready_at_start is None:
            self._ready_at_start = ready
        for node_id in sorted(self._ready_at_start - ready):
            self._hosts.setdefault(node_id, snap.hostnames().get(node_id) or node_id[:12])

    def add(self, drops: dict[str, str]) -> None:
        for node_id, host in drops.items():
            self._hosts.setdefault(node_id, host)

    @property
    def hosts(self) -> list[str]:
        return list(self._hosts.values())

    def note(self, service: str) -> str:
        """What happened and what to do, for a note or an error."""
        return (f"{', '.join(self.hosts)} dropped out of the swarm's view during the step (Down or Unknown "
                f"for a moment: the managers missed heartbeats, or a new leader had not heard from it yet), "
                f"so the scheduler gave the new tasks to the other nodes. When every node is Ready again "
                f"(lab.node.ls()), lab.service.update({service!r}, force=True) spreads them.")


def rolled_back(snap: Snapshot, name: str, want: int | None, image: str) -> Progress:
    """The service runs ``want`` stable tasks of ``image`` and its rollback has completed."""
    p = service_progress(snap, name, want, image)
    svc = snap.service(name) or {}
    state = (svc.get("UpdateStatus") or {}).get("State", "")
    if state and state != "rollback_completed":
        p.done = False
    return p


def drained(snap: Snapshot, node_id: str, service_ids: set[str]) -> Progress:
    """Done when the node runs no task any more and the services that were on it have their
    replicas back elsewhere, stable. A node that is down runs nothing: only its tasks still
    meant to run count then."""
    down = snap.down
    left = [t for t in snap.tasks if t.get("NodeID") == node_id
            and (t.get("DesiredState") == "running"
                 or (node_id not in down and t.get("Status", {}).get("State") in BUSY))]
    waiting = []
    for s in snap.services:
        if s["ID"] in service_ids and "Replicated" in s["Spec"].get("Mode", {}):
            p = service_progress(snap, s["Spec"]["Name"], int(s["Spec"]["Mode"]["Replicated"].get("Replicas", 0)))
            if not p.done:
                waiting.append(f"{s['Spec']['Name']}: {p.state}")
    done = not left and not waiting
    state = f"{len(left)} task(s) still on the node" if left else (
        "replicas coming back: " + ", ".join(waiting) if waiting else "drained")
    return Progress(done, 0 if left else 1, 1, state, snapshot=snap)


def nodes_ready(nodes: list[dict[str, Any]], node_ids: list[str]) -> Progress:
    """Are these nodes listed Ready by the manager?"""
    by_id = {n["ID"]: n for n in nodes}
    ready = [i for i in node_ids if by_id.get(i, {}).get("Status", {}).get("State") == "ready"]
    waiting = [by_id.get(i, {}).get("Description", {}).get("Hostname", i[:12])
               for i in node_ids if i not in ready]
    return Progress(len(ready) == len(node_ids), len(ready), len(node_ids),
                    f"waiting for {', '.join(waiting)}" if waiting else "all Ready")


def roles_settled(snap: Snapshot, node_ids: list[str], role: str,
                  listed: set[str] | None = None) -> Progress:
    """Have these nodes taken ``role``? A manager once it is a reachable member of the Raft
    group; a worker once it has left it (no manager status any more). ``listed``: the IDs the
    manager lists under ``role`` (``docker node ls --filter role=...``, which reads the role a
    node has taken, not the one asked for in its spec): each must be there too."""
    by_id = {n["ID"]: n for n in snap.nodes}

    def settled(n: dict[str, Any]) -> bool:
        if listed is not None and n.get("ID") not in listed:
            return False
        ms = n.get("ManagerStatus") or {}
        if role == "manager":
            return bool(ms.get("Leader")) or ms.get("Reachability") == "reachable"
        return not ms and (n.get("Spec") or {}).get("Role") == "worker"

    done = [i for i in node_ids if settled(by_id.get(i, {}))]
    waiting = [by_id.get(i, {}).get("Description", {}).get("Hostname", i[:12])
               for i in node_ids if i not in done]
    return Progress(not waiting, len(done), len(node_ids),
                    f"waiting for {', '.join(waiting)} to become a {role}" if waiting
                    else f"every node is a {role}", snapshot=snap)


@dataclass(frozen=True)
class Quorum:
    """The Raft group as the managers' list says it: how many managers, how many of them
    are reachable, how many a majority needs, and who leads."""

    managers: int
    reachable: int
    leader: str  # the leader's hostname; '' when there is none

    @property
    def needed(self) -> int:
        """A majority: more than half of the managers."""
        return self.managers // 2 + 1

    @property
    def has_quorum(self) -> bool:
        """A leader, and a majority of the managers reachable: the swarm can change."""
        return self.managers > 0 and self.reachable >= self.needed and bool(self.leader)

    @property
    def tolerates(self) -> int:
        """How many more managers may be lost with the swarm still able to change: of N
        managers a swarm tolerates (N-1)/2 losses, so 2 tolerate no more than 1 do."""
        return max(0, self.reachable - self.needed) if self.has_quorum else 0


def quorum_of(nodes: list[dict[str, Any]]) -> Quorum:
    """Count the managers of ``GET /nodes``: reachable ones (the leader too) and the leader."""
    # the Raft group: nodes with a manager status (after --force-new-cluster the lost managers
    # keep their role in their spec, but are no members any more)
    managers = [n for n in nodes if n.get("ManagerStatus") is not None]
    reachable = [n for n in managers if (n.get("ManagerStatus") or {}).get("Leader")
                 or (n.get("ManagerStatus") or {}).get("Reachability") == "reachable"]
    leader = next(((n.get("Description") or {}).get("Hostname", "") for n in managers
                   if (n.get("ManagerStatus") or {}).get("Leader")), "")
    return Quorum(len(managers), len(reachable), leader)


class FailedStarts:
    """Tasks of a service that failed (or were rejected) during a step, by node, with the
    engine's error: the orchestrator starts each again, and the scheduler places new tasks of
    that service on a node where five failed within five minutes last of all, so the spread
    comes out uneven while every replica runs."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, str]] = {}  # task ID -> (hostname, error)
        self._since: float | None = None  # the engine's clock at the step's first read

    def observe(self, snap: Snapshot, service: str) -> None:
        if self._since is None:
            self._since = snap.now - 2.0  # a failure the engine stamped just before the first read
        svc = snap.service(service)
        if svc is None:
            return
        hosts = snap.hostnames()
        for t in snap.tasks_of(svc["ID"]):
            # a task that failed before this step (the service's task history) is not this step's
            if snap.now - snap.age(t) < self._since:
                continue
            if t.get("Status", {}).get("State") in ("failed", "rejected") and isinstance(t.get("ID"), str):
                node = t.get("NodeID") or ""
                self._seen.setdefault(t["ID"], (hosts.get(node) or node[:12] or "no node",
                                                 task_error(t)[:200] or "no error given"))

    @property
    def count(self) -> int:
        return len(self._seen)

    def note(self, service: str) -> str:
        by_node: dict[str, list[str]] = {}
        for host, error in self._seen.values():
            by_node.setdefault(host, []).append(error)
        worst = sorted(by_node.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        said = "; ".join(f"{host}: {len(errs)} ({errs[-1]})" for host, errs in worst[:3])
        more = f"; {len(worst) - 3} more nodes" if len(worst) > 3 else ""
        return (f"{self.count} task{'s' if self.count != 1 else ''} of {service} failed to start and "
                f"{'were' if self.count != 1 else 'was'} started again: {said}{more}. The scheduler places "
                f"new tasks last on a node where five failed within five minutes, so the spread may be "
                f"uneven; lab.service.ps({service!r}) shows each task's error, and once the cause is gone "
                f"lab.service.update({service!r}, force=True) spreads them again.")
