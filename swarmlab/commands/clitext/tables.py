"""The CLI's tables: ``service ls``, ``service ps`` and ``node ls`` rows."""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from ... import _format as fmt
from ..._results import Table
from ._go import display_image, natural_cmp, natural_key, pretty_print

PS_COLUMNS = ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"]
SERVICE_LS_COLUMNS = ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
NODE_LS_COLUMNS = ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"]

#: The docker CLI's tables: Go's tabwriter with ``minwidth`` 10 and ``padding`` 3.
CLI_MIN_WIDTH = 10
#: ``service ps`` shortens a task's error to this many characters, the last one an ellipsis.
MAX_ERR_LENGTH = 30


class CliTable(Table):
    """A table the docker CLI prints (``service ls``, ``service ps``, ``node ls``): columns at
    least 10 wide, as its tabwriter makes them."""

    def text(self) -> str:
        return fmt.text_table(list(self.df.columns), self.df.itertuples(index=False), CLI_MIN_WIDTH)


def node_names(nodes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """What the CLI shows for a node ID: the node's name if it has one, else its hostname."""
    return {n["ID"]: (n.get("Spec") or {}).get("Name") or (n.get("Description") or {}).get("Hostname")
            or n["ID"] for n in nodes}


def task_ports(task: Mapping[str, Any]) -> str:
    ports = ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or []
    return ",".join(f"*:{p.get('PublishedPort', 0)}->{p.get('TargetPort', 0)}/{p.get('Protocol', '')}"
                    for p in ports)


def task_error(err: str) -> str:
    raw = err.encode()
    if len(raw) > MAX_ERR_LENGTH:
        err = raw[: MAX_ERR_LENGTH - 1].decode(errors="ignore") + "…"
    return f'"{err}"' if err else ""


def ps_rows(name: str, tasks: list[dict[str, Any]], nodes: Mapping[str, str],
            now: _dt.datetime | None = None) -> list[tuple[str, ...]]:
    """Rows of ``docker service ps NAME``: tasks by name (``NAME.SLOT``, or ``NAME.NODEID`` for
    a global service) in natural order, each slot's newest task first and the older ones
    indented as ``\\_``. ``nodes`` maps node IDs to what to show (see :func:`node_names`)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)

    def label(t: Mapping[str, Any]) -> str:
        return f"{name}.{t['Slot']}" if t.get("Slot") else f"{name}.{t.get('NodeID', '')}"

    def created(t: Mapping[str, Any]) -> int:
        return fmt.parse_time_ns(t["CreatedAt"]) if t.get("CreatedAt") else -(2**63)

    def cmp(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
        la, lb = label(a), label(b)
        if la != lb:
            return natural_cmp(la, lb)
        return (created(b) > created(a)) - (created(a) > created(b))  # newest first

    rows: list[tuple[str, ...]] = []
    previous = None
    for t in sorted(tasks, key=functools.cmp_to_key(cmp)):
        shown = label(t)
        indented = f" \\_ {shown}" if shown == previous else shown
        previous = shown
        st = t.get("Status") or {}
        since = (now - fmt.parse_time(st.get("Timestamp") or "0001-01-01T00:00:00Z")).total_seconds()
        current = f"{pretty_print(st.get('State', ''))} {fmt.human_duration(since).lower()} ago"
        node_id = t.get("NodeID", "")
        image = ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
        rows.append((t["ID"][:12], indented, display_image(image), nodes.get(node_id, node_id),
                     pretty_print(t.get("DesiredState", "")), current, task_error(st.get("Err", "")),
                     task_ports(t)))
    return rows


# -- docker service ls ---------------------------------------------------------------------
def with_service_status(services: list[dict[str, Any]], tasks: list[dict[str, Any]],
                        nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each service the ``ServiceStatus`` (running / desired tasks) that engines from API
    1.41 report themselves, counted from tasks and nodes as the CLI counts it for older ones."""
    out = [dict(s) for s in services]
    counting: dict[str, dict[str, int]] = {}
    for s in out:
        if s.get("ServiceStatus") is not None:
            continue
        mode = s["Spec"].get("Mode") or {}
        if "Replicated" in mode:
            s["ServiceStatus"] = {"RunningTasks": 0, "DesiredTasks": mode["Replicated"].get("Replicas", 0),
                                  "CompletedTasks": 0}
            counting[s["ID"]] = {"RunningTasks": 0, "DesiredTasks": 0, "CompletedTasks": 0}
        elif "Global" in mode:
            s["ServiceStatus"] = {"RunningTasks": 0, "DesiredTasks": 0, "CompletedTasks": 0}
            counting[s["ID"]] = {"RunningTasks": 0, "DesiredTasks": 0, "CompletedTasks": 0}
    mine = [t for t in tasks if t.get("ServiceID") in counting]
    if not mine:
        return out
    up = {n["ID"] for n in nodes if (n.get("Status") or {}).get("State") != "down"}
    for t in mine:
        c = counting[t["ServiceID"]]
        if t.get("DesiredState") != "shutdown":
            c["DesiredTasks"] += 1
        if t.get("NodeID") in up and (t.get("Status") or {}).get("State") == "running":
            c["RunningTasks"] += 1
    for s in out:
        if s["ID"] in counting:
            s["ServiceStatus"] = counting[s["ID"]]
    return out


def service_mode(spec: Mapping[str, Any]) -> str:
    mode = spec.get("Mode") or {}
    for key, text in (("Global", "global"), ("Replicated", "replicated"),
                      ("ReplicatedJob", "replicated job"), ("GlobalJob", "global job")):
        if key in mode:
            return text
    return ""


def service_replicas(svc: Mapping[str, Any]) -> str:
    spec = svc["Spec"]
    st = svc.get("ServiceStatus") or {}
    running, desired = st.get("RunningTasks", 0), st.get("DesiredTasks", 0)
    completed = st.get("CompletedTasks", 0)
    mode = spec.get("Mode") or {}
    if "ReplicatedJob" in mode:
        total = mode["ReplicatedJob"].get("TotalCompletions", 0)
        return f"{running}/{desired} ({completed}/{total} completed)"
    if "GlobalJob" in mode:
        return f"{running}/{desired} ({completed}/{desired + completed} completed)"
    placement = (spec.get("TaskTemplate") or {}).get("Placement") or {}
    if service_mode(spec) == "replicated" and placement.get("MaxReplicas"):
        return f"{running}/{desired} (max {placement['MaxReplicas']} per node)"
    return f"{running}/{desired}"


def published_ports(svc: Mapping[str, Any]) -> str:
    """``service ls``'s PORTS: the ports published through the routing mesh (``ingress``),
    consecutive ones grouped as the CLI groups them ('*:80-81->80-81/tcp')."""
    ports = sorted((svc.get("Endpoint") or {}).get("Ports") or [],
                   key=lambda p: (p.get("Protocol", ""), p.get("PublishedPort", 0)))
    out: list[str] = []
    cur: dict[str, Any] | None = None

    def text(r: dict[str, Any]) -> str:
        pub = f"{r['p0']}-{r['p1']}" if r["p1"] > r["p0"] else str(r["p0"])
        tgt = f"{r['t0']}-{r['t1']}" if r["t1"] > r["t0"] else str(r["t0"])
        return f"*:{pub}->{tgt}/{r['proto']}"

    for p in ports:
        if p.get("PublishMode") != "ingress":
            continue
        pub, tgt, proto = p.get("PublishedPort", 0), p.get("TargetPort", 0), p.get("Protocol", "")
        r = cur or {"p0": 0, "p1": 0, "t0": 0, "t1": 0, "proto": ""}
        is_range = r["t1"] != r["t0"]
        # the CLI subtracts unsigned 32-bit ports: a step down wraps round to a big step up
        if (proto != r["proto"] or (pub - r["p1"]) % 2**32 > 1 or (tgt - r["t1"]) % 2**32 > 1
                or (is_range and tgt <= r["t1"])):
            if cur and cur["p0"] > 0:
                out.append(text(cur))
            cur = {"p0": pub, "p1": pub, "t0": tgt, "t1": tgt, "proto": proto}
            continue
        r["p1"], r["t1"] = pub, tgt
        cur = r
    if cur and cur["p0"] > 0:
        out.append(text(cur))
    return ", ".join(out)


def service_ls_rows(services: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Rows of ``docker service ls``, by name in natural order. Services need their
    ``ServiceStatus`` (``services(status=True)``, or :func:`with_service_status`)."""
    rows: list[tuple[str, ...]] = []
    for s in sorted(services, key=lambda s: natural_key(s["Spec"]["Name"])):
        cs = (s["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}
        rows.append((s["ID"][:12], s["Spec"]["Name"], service_mode(s["Spec"]), service_replicas(s),
                     display_image(cs.get("Image", "")), published_ports(s)))
    return rows


# -- docker node ls --------------------------------------------------------------------------
def node_ls_rows(nodes: list[dict[str, Any]], self_id: str) -> list[tuple[str, ...]]:
    """Rows of ``docker node ls`` read through the node ``self_id`` (marked ``*``), by hostname
    in natural order."""
    rows: list[tuple[str, ...]] = []
    for n in sorted(nodes, key=lambda n: natural_key((n.get("Description") or {}).get("Hostname", ""))):
        d = n.get("Description") or {}
        ms = n.get("ManagerStatus")
        manager = "" if ms is None else ("Leader" if ms.get("Leader") else ms.get("Reachability", ""))
        rows.append((n["ID"] + (" *" if n["ID"] == self_id else ""), d.get("Hostname", ""),
                     pretty_print((n.get("Status") or {}).get("State", "")),
                     pretty_print((n.get("Spec") or {}).get("Availability", "")), pretty_print(manager),
                     (d.get("Engine") or {}).get("EngineVersion", "")))
    return rows


# -- docker info -------------------------------------------------------------------------------
