"""The docker CLI's own text for what swarmlab reads from the engines: ``service ls``,
``service ps`` and ``node ls`` rows, ``docker info``'s Swarm section, ``inspect --pretty``.
Pure functions of the engine's JSON, written after the CLI of the engines swarmlab runs
(docker 20.10): its templates, its sort orders, Go's formatting of times, durations, sizes
and numbers. Unit-tested without an engine; compared line by line with the real CLI on a real
swarm in tests/integration/test_cli_text.py.

Three things are left as a notebook shows them best and a terminal shows them the same: tabs
are expanded (at 8 columns, as a terminal does), a table's lines end at their last text (the
CLI pads empty last cells with blanks), and ``service inspect --pretty`` has no blank line
before and after it."""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .. import _format as fmt
from .._results import Table

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


# -- Go's ways of printing ---------------------------------------------------------------
def pretty(value: Any) -> str:
    """The CLI's ``PrettyPrint``: the first letter upper case, the rest lower case."""
    s = "None" if value is None else str(value)
    if len(s) <= 1:
        return s.lower()
    return s[0].upper() + s[1:].lower()


def go_bool(value: Any) -> str:
    return "true" if value else "false"


def go_float(value: Any) -> str:
    """A float as Go's ``%v`` prints it: the shortest digits that read back the same, with an
    exponent from 1e+06 up and below 1e-04 ('0.5', '2', '1.5e+06')."""
    x = float(value)
    if x == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    exp10 = len(digits) + int(exponent) - 1
    minus = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{minus}{mant}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    text = format(Decimal(f"0.{ds}").scaleb(exp10 + 1), "f")
    return minus + (text.rstrip("0").rstrip(".") if "." in text else text)


def bytes_size(n: float) -> str:
    """go-units' ``BytesSize``: '23.54GiB', '512MiB', '1KiB'."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    size, i = float(n), 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def _isdigit(c: str) -> bool:
    return "0" <= c <= "9"


def natural_less(a: str, b: str) -> bool:
    """``sortorder.NaturalLess``, the CLI's order of names: 'worker2' before 'worker10'; runs of
    digits compare as numbers (fewer leading zeros first), everything else byte by byte."""
    s1, s2 = a.encode(), b.encode()
    i = j = 0
    while i < len(s1) and j < len(s2):
        c1, c2 = s1[i:i + 1].decode("latin-1"), s2[j:j + 1].decode("latin-1")
        d1, d2 = _isdigit(c1), _isdigit(c2)
        if d1 != d2:
            return d1
        if not d1:
            if c1 != c2:
                return c1 < c2
            i += 1
            j += 1
            continue
        while i < len(s1) and s1[i:i + 1] == b"0":
            i += 1
        while j < len(s2) and s2[j:j + 1] == b"0":
            j += 1
        nz1, nz2 = i, j
        while i < len(s1) and _isdigit(s1[i:i + 1].decode("latin-1")):
            i += 1
        while j < len(s2) and _isdigit(s2[j:j + 1].decode("latin-1")):
            j += 1
        if i - nz1 != j - nz2:
            return i - nz1 < j - nz2
        if s1[nz1:i] != s2[nz2:j]:
            return s1[nz1:i] < s2[nz2:j]
        if nz1 != nz2:
            return nz1 < nz2
    return len(s1) < len(s2)


def natural_key(value: str) -> Any:
    """A sort key for :func:`natural_less`."""
    return _natural_cmp_key(value)


def _natural_cmp(a: str, b: str) -> int:
    return -1 if natural_less(a, b) else (1 if natural_less(b, a) else 0)


_natural_cmp_key = functools.cmp_to_key(_natural_cmp)

_DOMAIN = re.compile(r"^[^/]*[.:][^/]*$|^localhost$")


def display_image(image: str) -> str:
    """An image as ``service ls`` and ``service ps`` show it: the digest dropped when there is a
    tag, Docker Hub's ``docker.io/library/`` left out ('redis:7.4@sha256:...' -> 'redis:7.4')."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return image  # no tag: the CLI shows the reference as it is
    repo, tag = name[: len(name) - len(last)] + last.split(":", 1)[0], last.split(":", 1)[1]
    parts = repo.split("/")
    if len(parts) > 1 and _DOMAIN.match(parts[0]):
        domain, path = parts[0], "/".join(parts[1:])
    else:
        domain, path = "docker.io", repo
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io":
        shown = path[len("library/"):] if path.startswith("library/") and path.count("/") == 1 else path
    else:
        shown = f"{domain}/{path}"
    return f"{shown}:{tag}"


# -- docker service ps ---------------------------------------------------------------------
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
            return _natural_cmp(la, lb)
        return (created(b) > created(a)) - (created(a) > created(b))  # newest first

    rows: list[tuple[str, ...]] = []
    previous = None
    for t in sorted(tasks, key=functools.cmp_to_key(cmp)):
        shown = label(t)
        indented = f" \\_ {shown}" if shown == previous else shown
        previous = shown
        st = t.get("Status") or {}
        since = (now - fmt.parse_time(st.get("Timestamp") or "0001-01-01T00:00:00Z")).total_seconds()
        current = f"{pretty(st.get('State', ''))} {fmt.human_duration(since).lower()} ago"
        node_id = t.get("NodeID", "")
        image = ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
        rows.append((t["ID"][:12], indented, display_image(image), nodes.get(node_id, node_id),
                     pretty(t.get("DesiredState", "")), current, task_error(st.get("Err", "")),
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
                     pretty((n.get("Status") or {}).get("State", "")),
                     pretty((n.get("Spec") or {}).get("Availability", "")), pretty(manager),
                     (d.get("Engine") or {}).get("EngineVersion", "")))
    return rows


# -- docker info -------------------------------------------------------------------------------
def format_info(info: dict[str, Any]) -> str:
    """``docker info``'s Server section as the CLI prints it, cut to the lines a swarm lesson
    reads: the container counts, the server version, the whole Swarm section, the name. Every
    line is the CLI's own, in its order."""
    out = ["Server:",
           f" Containers: {info.get('Containers', 0)}",
           f"  Running: {info.get('ContainersRunning', 0)}",
           f"  Paused: {info.get('ContainersPaused', 0)}",
           f"  Stopped: {info.get('ContainersStopped', 0)}",
           f" Images: {info.get('Images', 0)}"]
    if info.get("ServerVersion"):
        out.append(f" Server Version: {info['ServerVersion']}")
    out += swarm_info_lines(info.get("Swarm") or {})
    if info.get("Name"):
        out.append(f" Name: {info['Name']}")
    return "\n".join(out)


def swarm_info_lines(sw: Mapping[str, Any]) -> list[str]:
    """The Swarm section of ``docker info`` (from `` Swarm: active``)."""
    state = sw.get("LocalNodeState", "")
    out = [f" Swarm: {state}"]
    if state in ("inactive", "locked"):
        return out
    out.append(f"  NodeID: {sw.get('NodeID', '')}")
    if sw.get("Error"):
        out.append(f"  Error: {sw['Error']}")
    out.append(f"  Is Manager: {go_bool(sw.get('ControlAvailable'))}")
    cl = sw.get("Cluster")
    if cl is not None and sw.get("ControlAvailable") and not sw.get("Error") and state != "error":
        spec = cl.get("Spec") or {}
        out += [f"  ClusterID: {cl.get('ID', '')}", f"  Managers: {sw.get('Managers', 0)}",
                f"  Nodes: {sw.get('Nodes', 0)}"]
        if cl.get("DefaultAddrPool") is not None:
            out.append("  Default Address Pool: " + "".join(f"{p}  " for p in cl["DefaultAddrPool"]))
            out.append(f"  SubnetSize: {cl.get('SubnetSize', 0)}")
        if cl.get("DataPathPort", 0) > 0:
            out.append(f"  Data Path Port: {cl['DataPathPort']}")
        raft = spec.get("Raft") or {}
        ca = spec.get("CAConfig") or {}
        out += ["  Orchestration:",
                f"   Task History Retention Limit: "
                f"{(spec.get('Orchestration') or {}).get('TaskHistoryRetentionLimit') or 0}",
                "  Raft:", f"   Snapshot Interval: {raft.get('SnapshotInterval', 0)}"]
        if raft.get("KeepOldSnapshots") is not None:
            out.append(f"   Number of Old Snapshots to Retain: {raft['KeepOldSnapshots']}")
        out += [f"   Heartbeat Tick: {raft.get('HeartbeatTick', 0)}",
                f"   Election Tick: {raft.get('ElectionTick', 0)}",
                "  Dispatcher:",
                f"   Heartbeat Period: "
                f"{fmt.human_duration((spec.get('Dispatcher') or {}).get('HeartbeatPeriod', 0) / 1e9)}",
                "  CA Configuration:",
                f"   Expiry Duration: {fmt.human_duration(ca.get('NodeCertExpiry', 0) / 1e9)}",
                f"   Force Rotate: {ca.get('ForceRotate', 0)}"]
        signing = (ca.get("SigningCACert") or "").strip()
        if signing:
            out += ["   Signing CA Certificate: ", *signing.split("\n"), ""]
        if ca.get("ExternalCAs"):
            out.append("   External CAs:")
            out += [f"     {e.get('Protocol', '')}: {e.get('URL', '')}" for e in ca["ExternalCAs"]]
        out += [f"  Autolock Managers: {go_bool((spec.get('EncryptionConfig') or {}).get('AutoLockManagers'))}",
                f"  Root Rotation In Progress: {go_bool(cl.get('RootRotationInProgress'))}"]
    out.append(f"  Node Address: {sw.get('NodeAddr', '')}")
    managers = sorted(m.get("Addr", "") for m in sw.get("RemoteManagers") or [])
    if managers:
        out.append("  Manager Addresses:")
        out += [f"   {a}" for a in managers]
    return out


# -- docker service inspect --pretty -----------------------------------------------------------
def _config_lines(title: str, c: Mapping[str, Any], order_label: str) -> list[str]:
    out = [f"{title}:", f" Parallelism:\t{c.get('Parallelism', 0)}"]
    if c.get("Delay", 0) > 0:
        out.append(f" Delay:\t\t{fmt.go_duration(c['Delay'])}")
    out.append(f" On failure:\t{c.get('FailureAction', '')}")
    if c.get("Monitor", 0) > 0:
        out.append(f" Monitoring Period: {fmt.go_duration(c['Monitor'])}")
    out += [f" Max failure ratio: {go_float(c.get('MaxFailureRatio', 0))}",
            f" {order_label} {c.get('Order', '')}"]
    return out


def format_service_pretty(svc: dict[str, Any], networks: Mapping[str, str] | None = None,
                          now: _dt.datetime | None = None) -> str:
    """``docker service inspect --pretty``, line for line the CLI's template. ``networks``
    maps network IDs to names (the CLI looks them up; an ID it cannot find stays an ID)."""
    spec = svc["Spec"]
    tt = spec.get("TaskTemplate") or {}
    cs = tt.get("ContainerSpec") or {}
    mode = spec.get("Mode") or {}
    out = [f"ID:\t\t{svc['ID']}", f"Name:\t\t{spec.get('Name', '')}"]
    if spec.get("Labels"):
        out.append("Labels:")
        out += [f" {k}={v}" if v else f" {k}" for k, v in sorted(spec["Labels"].items())]
    if "Global" in mode:
        out.append("Service Mode:\tGlobal")
    elif "Replicated" in mode:
        out.append("Service Mode:\tReplicated")
        if mode["Replicated"].get("Replicas") is not None:
            out.append(f" Replicas:\t{mode['Replicated']['Replicas']}")
    else:
        out.append("Service Mode:")
    us = svc.get("UpdateStatus") or {}
    if us.get("State"):
        out += ["UpdateStatus:", f" State:\t\t{us['State']}"]
        if us.get("StartedAt"):
            out.append(f" Started:\t{fmt.ago(us['StartedAt'], now)}")
        if us["State"] == "completed" and us.get("CompletedAt"):
            out.append(f" Completed:\t{fmt.ago(us['CompletedAt'], now)}")
        out.append(f" Message:\t{us.get('Message', '')}")
    placement = tt.get("Placement") or {}
    out.append("Placement:")
    if placement.get("Constraints"):
        out.append(f" Constraints:\t[{' '.join(placement['Constraints'])}]")
    prefs = [f"spread={p['Spread'].get('SpreadDescriptor', '')}"
             for p in placement.get("Preferences") or [] if p.get("Spread")]
    if prefs:
        out.append(f" Preferences:   [{' '.join(prefs)}]")
    if placement.get("MaxReplicas"):
        out.append(f" Max Replicas Per Node:   {placement['MaxReplicas']}")
    if spec.get("UpdateConfig") is not None:
        out += _config_lines("UpdateConfig", spec["UpdateConfig"], "Update order:     ")
    if spec.get("RollbackConfig") is not None:
        out += _config_lines("RollbackConfig", spec["RollbackConfig"], "Rollback order:   ")
    out += ["ContainerSpec:", f" Image:\t\t{cs.get('Image', '')}"]
    if cs.get("Args"):
        out.append(" Args:\t\t" + "".join(f"{a} " for a in cs["Args"]))
    if cs.get("Env"):
        out.append(" Env:\t\t" + "".join(f"{e} " for e in cs["Env"]))
    if cs.get("Dir"):
        out.append(f" Dir:\t\t{cs['Dir']}")
    if cs.get("Init") is not None:
        out.append(f" Init:\t\t{go_bool(cs['Init'])}")
    if cs.get("User"):
        out.append(f" User: {cs['User']}")
    if cs.get("CapabilityAdd") or cs.get("CapabilityDrop"):
        out.append("Capabilities:")
        if cs.get("CapabilityAdd"):
            out.append(" Add: " + ", ".join(cs["CapabilityAdd"]))
        if cs.get("CapabilityDrop"):
            out.append(" Drop: " + ", ".join(cs["CapabilityDrop"]))
    if cs.get("Sysctls"):
        out.append("SysCtls:")
        out += [f" {k}: {v}" if v else f" {k}" for k, v in sorted(cs["Sysctls"].items())]
    if cs.get("Ulimits"):
        out.append("Ulimits:")
        limits = {u.get("Name", ""): f"{u.get('Soft', 0)}:{u.get('Hard', 0)}" for u in cs["Ulimits"]}
        out += [f" {k}: {v}" for k, v in sorted(limits.items())]
    if cs.get("Mounts"):
        out.append("Mounts:")
        for m in cs["Mounts"]:
            out += [f" Target:\t{m.get('Target', '')}", f"  Source:\t{m.get('Source', '')}",
                    f"  ReadOnly:\t{go_bool(m.get('ReadOnly'))}", f"  Type:\t\t{m.get('Type', '')}"]
    if cs.get("Configs"):
        out.append("Configs:")
        for c in cs["Configs"]:
            out += [f" Target:\t{(c.get('File') or {}).get('Name', '')}", f"  Source:\t{c.get('ConfigName', '')}"]
    if cs.get("Secrets"):
        out.append("Secrets:")
        for c in cs["Secrets"]:
            out += [f" Target:\t{(c.get('File') or {}).get('Name', '')}", f"  Source:\t{c.get('SecretName', '')}"]
    log = tt.get("LogDriver")
    if log is not None:
        out.append("Log Driver:")
        if log.get("Name"):
            out.append(f" Name:\t\t{log['Name']}")
        if log.get("Options"):
            out.append(" LogOpts:")
            out += [f"  {k}:       {v}" if v else f"  {k}" for k, v in sorted(log["Options"].items())]
        out.append("")
    res = tt.get("Resources")
    if res is not None:
        out.append("Resources:")
        for title, part in ((" Reservations:", res.get("Reservations")), (" Limits:", res.get("Limits"))):
            part = part or {}
            pids = part.get("Pids", 0) if title == " Limits:" else 0
            if part.get("NanoCPUs", 0) > 0 or part.get("MemoryBytes", 0) > 0 or pids > 0:
                out.append(title)
                if part.get("NanoCPUs", 0) > 0:
                    out.append(f"  CPU:\t\t{go_float(part['NanoCPUs'] / 1e9)}")
                if part.get("MemoryBytes", 0):
                    out.append(f"  Memory:\t{bytes_size(part['MemoryBytes'])}")
        pids = (res.get("Limits") or {}).get("Pids", 0)
        if pids > 0:
            out.append(f"  PIDs:\t\t{pids}")
    nets = [(networks or {}).get(n.get("Target", ""), n.get("Target", "")) for n in tt.get("Networks") or []]
    if nets:
        out.append("Networks:" + "".join(f" {n}" for n in nets) + " ")
    ep = spec.get("EndpointSpec")
    out.append(f"Endpoint Mode:\t{'' if ep is None else ep.get('Mode', '')}")
    ports = (svc.get("Endpoint") or {}).get("Ports") or []
    if ports:
        out.append("Ports:")
        for p in ports:
            out += [f" PublishedPort = {p.get('PublishedPort', 0)}", f"  Protocol = {p.get('Protocol', '')}",
                    f"  TargetPort = {p.get('TargetPort', 0)}", f"  PublishMode = {p.get('PublishMode', '')}"]
        out[-1] += " "
    hc = cs.get("Healthcheck")
    if hc is not None:
        out += [" Healthcheck:", f"  Interval = {fmt.go_duration(hc.get('Interval', 0))}",
                f"  Retries = {hc.get('Retries', 0)}",
                f"  StartPeriod =\t{fmt.go_duration(hc.get('StartPeriod', 0))}",
                f"  Timeout =\t{fmt.go_duration(hc.get('Timeout', 0))}"]
        if hc.get("Test"):
            out.append("  Tests:")
            out += [f"\t Test = {t}" for t in hc["Test"]]
            out[-1] += " "
    return "\n".join(out).expandtabs(8)


# -- docker node inspect --pretty --------------------------------------------------------------
def format_node_pretty(node: dict[str, Any]) -> str:
    """``docker node inspect --pretty``, line for line the CLI's template."""
    d = node.get("Description") or {}
    spec = node.get("Spec") or {}
    status = node.get("Status") or {}
    engine = d.get("Engine") or {}
    out = [f"ID:\t\t\t{node['ID']}"]
    if spec.get("Name"):
        out.append(f"Name:\t\t\t{spec['Name']}")
    if spec.get("Labels"):
        out.append("Labels:")
        out += [f" - {k}={v}" if v else f" - {k}" for k, v in sorted(spec["Labels"].items())]
    out += [f"Hostname:              \t{d.get('Hostname', '')}",
            f"Joined at:             \t{pretty(fmt.go_time(node['CreatedAt']))}" if node.get("CreatedAt")
            else "Joined at:             \t0001-01-01 00:00:00 +0000 utc",
            "Status:", f" State:\t\t\t{pretty(status.get('State', ''))}"]
    if status.get("Message"):
        out.append(f" Message:              \t{pretty(status['Message'])}")
    out.append(f" Availability:         \t{pretty(spec.get('Availability', ''))}")
    if status.get("Addr"):
        out.append(f" Address:\t\t{status['Addr']}")
    ms = node.get("ManagerStatus")
    if ms is not None:
        out += ["Manager Status:", f" Address:\t\t{ms.get('Addr', '')}",
                f" Raft Status:\t\t{pretty(ms.get('Reachability', ''))}",
                f" Leader:\t\t{'Yes' if ms.get('Leader') else 'No'}"]
    plat = d.get("Platform") or {}
    res = d.get("Resources") or {}
    memory = bytes_size(res["MemoryBytes"]) if res.get("MemoryBytes") else ""
    out += ["Platform:", f" Operating System:\t{plat.get('OS', '')}",
            f" Architecture:\t\t{plat.get('Architecture', '')}",
            "Resources:", f" CPUs:\t\t\t{int(res.get('NanoCPUs', 0)) // 1_000_000_000}",
            f" Memory:\t\t{memory}"]
    plugins: dict[str, list[str]] = {}
    for p in engine.get("Plugins") or []:
        plugins.setdefault(p.get("Type", ""), []).append(p.get("Name", ""))
    if plugins:
        out.append("Plugins:")
        for kind, names in sorted(plugins.items()):
            joined = ", ".join(names)
            out.append(f" {kind}:\t\t{joined}" if joined else f" {kind}:")
    out.append(f"Engine Version:\t\t{engine.get('EngineVersion', '')}")
    if engine.get("Labels"):
        out.append("Engine Labels:")
        out += [f" - {k}={v}" if v else f" - {k}" for k, v in sorted(engine["Labels"].items())]
    tls = d.get("TLSInfo") or {}
    if any(tls.get(k) for k in ("TrustRoot", "CertIssuerSubject", "CertIssuerPublicKey")):
        # the engine's JSON carries the issuer's bytes as base64 already, as the CLI prints them
        out += ["TLS Info:", " TrustRoot:", *str(tls.get("TrustRoot", "")).split("\n"),
                f" Issuer Subject:\t{tls.get('CertIssuerSubject') or ''}",
                f" Issuer Public Key:\t{tls.get('CertIssuerPublicKey') or ''}"]
    return "\n".join(out).expandtabs(8)

