"""The picture of a swarm: nodes as columns, tasks as cards. Pure data, no engine, no widgets.

Built from what the Engine API returns for ``GET /nodes`` and ``GET /tasks``, and the services
(``GET /services``): their names, which tasks do not carry, and the replicas they ask for.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A task is "live" while the orchestrator wants it running; the rest is history
#: (what ``docker service ps`` shows as ``\\_`` lines).
LIVE_DESIRED = ("running", "ready")

#: Card colours: picked from the service name's CRC32, so a service keeps its colour across
#: refreshes, kernels and machines, unless another service of the picture has one close to it
#: (:func:`service_colours`). Each keeps white text at 5:1 or more (WCAG AA asks 4.5:1); chosen
#: so that any 8 services get colours at least 25 apart (CIE76 ΔE).
PALETTE = (
    "#1565c0", "#2e7d32", "#8e24aa", "#bf360c", "#00695c", "#c2185b",
    "#3e2723", "#1a237e", "#5d6b00", "#455a64", "#880e4f", "#795548",
)


def service_colour(name: str) -> str:
    """The service's own colour (its name's CRC32): what it gets unless another service of
    the picture has that colour or one close to it (:func:`service_colours`)."""
    return PALETTE[zlib.crc32(name.encode("utf-8")) % len(PALETTE)]


#: CIE76 colour difference (in CIELAB) under which two cards' colours read as one
CLOSE = 30.0


def _lab(colour: str) -> tuple[float, float, float]:
    """CIELAB of an sRGB ``#rrggbb`` colour (D65)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    xyz = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b, \
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def colour_difference(a: str, b: str) -> float:
    """CIE76 ΔE between two ``#rrggbb`` colours."""
    return float(sum((x - y) ** 2 for x, y in zip(_lab(a), _lab(b))) ** 0.5)


def service_colours(names: Iterable[str]) -> dict[str, str]:
    """A colour for each service of a picture, no two alike: each its own colour
    (:func:`service_colour`) unless that is within :data:`CLOSE` of one taken already; then
    the palette's colour farthest from those taken. Taken in the order of the names' CRC32, so
    the same services get the same colours in every refresh, kernel and machine."""
    out: dict[str, str] = {}
    for name in sorted(set(names), key=lambda n: (zlib.crc32(n.encode("utf-8")), n)):
        taken = list(out.values())
        own = service_colour(name)
        if taken and min(colour_difference(own, t) for t in taken) < CLOSE:
            free = [c for c in PALETTE if c not in taken] or list(PALETTE)
            own = max(free, key=lambda c: min(colour_difference(c, t) for t in taken))
        out[name] = own
    return out


def short_image(image: str) -> str:
    """'swarmlab/web:2@sha256:...' -> 'swarmlab/web:2'; 'alpine' -> 'alpine:latest'."""
    ref = image.split("@", 1)[0]
    if ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    return ref


@dataclass
class Card:
    """One task: ``helloworld.3`` on a node, its image and state."""

    task_id: str
    service: str
    label: str          # helloworld.3 (replicated) or helloworld (global)
    image: str
    state: str          # current state: running, preparing, shutdown, failed, ...
    desired: str
    live: bool
    error: str = ""
    colour: str = ""


@dataclass
class Column:
    """One node: hostname, role, availability, status, and its task cards."""

    node_id: str
    hostname: str
    role: str           # leader | manager | worker
    availability: str   # active | pause | drain
    status: str         # ready | down | unknown | disconnected
    cards: list[Card] = field(default_factory=list)


@dataclass
class ServiceSummary:
    name: str
    service_id: str
    running: int
    desired: int        # tasks the orchestrator wants running (its slots, for replicated)
    images: list[str]
    colour: str
    ports: list[str] = field(default_factory=list)     # "8080->80/tcp mesh", "8081->80/tcp host"
    networks: list[str] = field(default_factory=list)  # the overlay networks its tasks are on


@dataclass
class Picture:
    columns: list[Column]
    services: list[ServiceSummary]
    unassigned: list[Card] = field(default_factory=list)   # tasks no node took (yet)
    history: bool = False
    error: str = ""     # why this picture may be stale (engine unreachable, ...)
    note: str = ""      # a calm word instead of a picture (the lab was destroyed)

    @property
    def cards(self) -> list[Card]:
        return [c for col in self.columns for c in col.cards] + self.unassigned

    def running(self, service: str | None = None) -> int:
        """Live tasks in state running (of one service, or all)."""
        return sum(1 for c in self.cards if c.live and c.state == "running"
                   and (service is None or c.service == service))


def node_role(node: Mapping[str, Any]) -> str:
    ms = node.get("ManagerStatus") or {}
    if ms.get("Leader"):
        return "leader"
    return "manager" if node.get("Spec", {}).get("Role") == "manager" else "worker"


_ROLE_ORDER = {"leader": 0, "manager": 1, "worker": 2}


def service_ports(service: Mapping[str, Any]) -> list[str]:
    """A service's published ports, as the engine lists them (``Endpoint.Ports``):
    ``8080->80/tcp mesh`` (the routing mesh, every node) or ``8081->80/tcp host`` (only where
    a task runs)."""
    out = []
    for p in (service.get("Endpoint") or {}).get("Ports") or []:
        mode = "host" if p.get("PublishMode") == "host" else "mesh"
        out.append(f"{p.get('PublishedPort', '')}->{p.get('TargetPort', '')}/{p.get('Protocol', 'tcp')} {mode}")
    return out


def task_networks(task: Mapping[str, Any]) -> list[str]:
    """The names of the networks a task is attached to (the routing mesh's own, ``ingress``,
    left out: the ports say it)."""
    names = [str(((a.get("Network") or {}).get("Spec") or {}).get("Name", ""))
             for a in task.get("NetworksAttachments") or []]
    return [n for n in names if n and n != "ingress"]


def build_picture(nodes: Sequence[Mapping[str, Any]], tasks: Sequence[Mapping[str, Any]],
                  service_names: Mapping[str, str], history: bool = False,
                  replicas: Mapping[str, int] | None = None,
                  ports: Mapping[str, list[str]] | None = None) -> Picture:
    """Nodes (managers first, then by hostname) with a card per task.

    Live tasks only, unless ``history``: then finished, failed and shut-down tasks too (dimmed
    in the views). ``service_names`` maps the IDs of the services that exist to their names:
    tasks of any other service (removed, its tasks still stopping) are left out, so a removed
    service is gone from the picture at once. ``replicas`` maps replicated services' IDs to
    the replicas their spec asks for (the "3" of ``docker service ls``'s 2/3); without it, a
    service's live tasks are counted instead. ``ports`` maps services' IDs to their published
    ports (:func:`service_ports`); the networks are read from the live tasks."""
    columns: dict[str, Column] = {}
    for n in nodes:
        columns[n["ID"]] = Column(
            node_id=n["ID"],
            hostname=n.get("Description", {}).get("Hostname", "") or n["ID"][:12],
            role=node_role(n),
            availability=n.get("Spec", {}).get("Availability", "") or "",
            status=n.get("Status", {}).get("State", "") or "unknown",
        )
    unassigned: list[Card] = []
    per_service: dict[str, dict[str, Any]] = {}
    colours = service_colours(service_names.values())
    for t in tasks:
        sid = t.get("ServiceID", "")
        name = service_names.get(sid)
        if name is None:  # a service removed (or made after the services were read)
            continue
        live = t.get("DesiredState") in LIVE_DESIRED
        state = t.get("Status", {}).get("State", "") or ""
        image = short_image(t.get("Spec", {}).get("ContainerSpec", {}).get("Image", ""))
        s = per_service.setdefault(sid, {"name": name, "running": 0, "desired": 0, "images": {},
                                         "networks": set()})
        if live:
            s["desired"] += 1
            s["networks"].update(task_networks(t))
            if state == "running":
                s["running"] += 1
                s["images"][image] = s["images"].get(image, 0) + 1
        if not live and not history:
            continue
        slot = t.get("Slot")
        card = Card(
            task_id=t.get("ID", ""), service=name, label=f"{name}.{slot}" if slot else name,
            image=image, state=state, desired=t.get("DesiredState", "") or "", live=live,
            error=str(t.get("Status", {}).get("Err", "") or ""), colour=colours[name],
        )
        col = columns.get(t.get("NodeID", "") or "")
        if col is None:
            unassigned.append(card)
        else:
            col.cards.append(card)

    def card_key(c: Card) -> tuple[Any, ...]:
        service, _, slot = c.label.partition(".")
        return (not c.live, service, int(slot) if slot.isdigit() else 0, c.task_id)

    for col in columns.values():
        col.cards.sort(key=card_key)
    unassigned.sort(key=card_key)
    ordered = sorted(columns.values(), key=lambda c: (_ROLE_ORDER.get(c.role, 3), c.hostname))
    want = replicas or {}
    published = ports or {}
    services = [
        ServiceSummary(v["name"], sid, v["running"], want.get(sid, v["desired"]),
                       sorted(v["images"]), colours[v["name"]], list(published.get(sid, [])),
                       sorted(v["networks"]))
        for sid, v in per_service.items()
    ]
    # services with no task at all (scaled to 0, or just made) still get a row
    seen = {s.service_id for s in services}
    for sid, name in service_names.items():
        if sid not in seen:
            services.append(ServiceSummary(name, sid, 0, want.get(sid, 0), [], colours[name],
                                           list(published.get(sid, []))))
    services.sort(key=lambda s: s.name)
    return Picture(ordered, services, unassigned, history)
