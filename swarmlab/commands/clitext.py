"""The docker CLI's own text for what swarmlab reads from the engines: ``service ps`` rows,
``service ls`` ports, ``docker info``'s Swarm section, ``inspect --pretty``. Pure functions of
the engine's JSON (unit-tested without an engine, compared with the real CLI in the tests)."""

from __future__ import annotations

from typing import Any

from .. import _format as fmt

PS_COLUMNS = ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"]


def ps_rows(name: str, tasks: list[dict[str, Any]], nodes: dict[str, str],
            now: Any = None) -> list[tuple[str, ...]]:
    """Rows of ``docker service ps``: by slot, the newest task first, older ones as ``\\_``."""
    def key(t: dict[str, Any]) -> tuple[Any, ...]:
        created = fmt.parse_time(t["CreatedAt"]).timestamp() if t.get("CreatedAt") else 0.0
        return (t.get("Slot") or 0, "" if t.get("Slot") else t.get("NodeID", ""), -created)
    rows: list[tuple[str, ...]] = []
    seen: set[tuple[Any, Any]] = set()
    for t in sorted(tasks, key=key):
        group = (t.get("Slot") or 0, None if t.get("Slot") else t.get("NodeID"))
        label = f"{name}.{t['Slot']}" if t.get("Slot") else f"{name}.{t.get('NodeID', '')[:25]}"
        label = label if group not in seen else f" \\_ {label}"
        seen.add(group)
        st = t.get("Status", {})
        current = st.get("State", "").capitalize()
        if st.get("Timestamp"):
            current += f" {fmt.ago(st['Timestamp'], now)}"
        err = st.get("Err", "")
        rows.append((t["ID"][:12], label, t.get("Spec", {}).get("ContainerSpec", {}).get("Image", "").split("@")[0],
                     nodes.get(t.get("NodeID", ""), ""), t.get("DesiredState", "").capitalize(), current,
                     f'"{err}"' if err else "", ""))
    return rows


def published_ports(svc: dict[str, Any]) -> str:
    # as the CLI's `service ls`: only ports published through the routing mesh
    ports = [p for p in (svc.get("Endpoint") or {}).get("Ports") or []
             if p.get("PublishMode", "ingress") == "ingress"]
    return ", ".join(f"*:{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol', 'tcp')}" for p in ports)


def format_info(info: dict[str, Any]) -> str:
    """The Swarm section of ``docker info`` (and a few lines above it), as the CLI prints it."""
    sw = info.get("Swarm", {})
    lines = [
        f"Containers: {info.get('Containers', 0)}",
        f" Running: {info.get('ContainersRunning', 0)}",
        f"Server Version: {info.get('ServerVersion', '')}",
        f"Swarm: {sw.get('LocalNodeState', 'inactive')}",
    ]
    if sw.get("LocalNodeState") == "active":
        lines.append(f" NodeID: {sw.get('NodeID', '')}")
        lines.append(f" Is Manager: {str(bool(sw.get('ControlAvailable'))).lower()}")
        if sw.get("ControlAvailable"):
            cl = sw.get("Cluster", {})
            lines.append(f" ClusterID: {cl.get('ID', '')}")
            lines.append(f" Managers: {sw.get('Managers', 0)}")
            lines.append(f" Nodes: {sw.get('Nodes', 0)}")
            pools = cl.get("DefaultAddrPool") or []
            if pools:
                lines.append(" Default Address Pool: " + " ".join(pools))
        lines.append(f" Node Address: {sw.get('NodeAddr', '')}")
        managers = sw.get("RemoteManagers") or []
        if managers:
            lines.append(" Manager Addresses:")
            lines += [f"  {m.get('Addr')}" for m in sorted(managers, key=lambda m: m.get("Addr", ""))]
    lines.append(f"Name: {info.get('Name', '')}")
    return "\n".join(lines)


def format_service_pretty(svc: dict[str, Any]) -> str:
    """``docker service inspect --pretty``."""
    spec = svc["Spec"]
    cs = spec["TaskTemplate"]["ContainerSpec"]
    mode = spec.get("Mode", {})
    lines = [f"ID:\t\t{svc['ID']}", f"Name:\t\t{spec['Name']}"]
    if spec.get("Labels"):
        lines.append("Labels:")
        lines += [f" {k}={v}" for k, v in spec["Labels"].items()]
    if "Replicated" in mode:
        lines += ["Service Mode:\tReplicated", f" Replicas:\t{mode['Replicated'].get('Replicas', 0)}"]
    else:
        lines.append("Service Mode:\tGlobal")
    us = svc.get("UpdateStatus")
    if us:
        lines += ["UpdateStatus:", f" State:\t\t{us.get('State', '')}"]
        if us.get("Message"):
            lines.append(f" Message:\t{us['Message']}")
    placement = spec["TaskTemplate"].get("Placement", {}) or {}
    lines.append("Placement:")
    if placement.get("Constraints"):
        lines.append(" Constraints:\t" + ", ".join(placement["Constraints"]))
    for title, key in (("UpdateConfig", "UpdateConfig"), ("RollbackConfig", "RollbackConfig")):
        c = spec.get(key) or {}
        lines.append(f"{title}:")
        lines.append(f" Parallelism:\t{c.get('Parallelism', 1)}")
        if c.get("Delay"):
            lines.append(f" Delay:\t\t{fmt.format_duration(c['Delay'] / 1e9)}")
        lines.append(f" On failure:\t{c.get('FailureAction', 'pause')}")
        lines.append(f" Monitoring Period: {fmt.format_duration(c.get('Monitor', 5_000_000_000) / 1e9)}")
        lines.append(f" Max failure ratio: {c.get('MaxFailureRatio', 0)}")
        lines.append(f" Update order:      {c.get('Order', 'stop-first')}")
    lines += ["ContainerSpec:", f" Image:\t\t{cs.get('Image', '')}"]
    if cs.get("Command"):
        lines.append(" Command:\t" + " ".join(cs["Command"]))
    if cs.get("Args"):
        lines.append(" Args:\t\t" + " ".join(cs["Args"]))
    if cs.get("Env"):
        lines.append(" Env:\t\t" + " ".join(cs["Env"]))
    lines.append(f" Init:\t\t{str(bool(cs.get('Init', False))).lower()}")
    lines.append("Resources:")
    ep = spec.get("EndpointSpec", {}) or {}
    lines.append(f"Endpoint Mode:\t{ep.get('Mode', 'vip')}")
    if ep.get("Ports"):
        lines.append("Ports:")
        for p in ep["Ports"]:
            lines += [f" PublishedPort = {p.get('PublishedPort')}",
                      f"  Protocol = {p.get('Protocol', 'tcp')}",
                      f"  TargetPort = {p.get('TargetPort')}",
                      f"  PublishMode = {p.get('PublishMode', 'ingress')}"]
    return "\n".join(lines).expandtabs(8)


def format_node_pretty(node: dict[str, Any]) -> str:
    """``docker node inspect --pretty``."""
    d = node.get("Description", {})
    ms = node.get("ManagerStatus") or {}
    lines = [f"ID:\t\t\t{node['ID']}", f"Hostname:\t\t{d.get('Hostname', '')}",
             f"Joined at:\t\t{node.get('CreatedAt', '')}", "Status:",
             f" State:\t\t\t{node['Status']['State'].capitalize()}",
             f" Availability:\t\t{node['Spec'].get('Availability', '').capitalize()}",
             f" Address:\t\t{node['Status'].get('Addr', '')}"]
    if ms:
        lines += ["Manager Status:", f" Address:\t\t{ms.get('Addr', '')}",
                  f" Raft Status:\t\t{(ms.get('Reachability') or '').capitalize()}",
                  f" Leader:\t\t{'Yes' if ms.get('Leader') else 'No'}"]
    plat = d.get("Platform", {})
    res = d.get("Resources", {})
    lines += ["Platform:", f" Operating System:\t{plat.get('OS', '')}",
              f" Architecture:\t\t{plat.get('Architecture', '')}", "Resources:",
              f" CPUs:\t\t\t{int(res.get('NanoCPUs', 0) / 1e9)}",
              f" Memory:\t\t{res.get('MemoryBytes', 0) / 2**30:.2f}GiB",
              f"Engine Version:\t\t{d.get('Engine', {}).get('EngineVersion', '')}"]
    return "\n".join(lines).expandtabs(8)


