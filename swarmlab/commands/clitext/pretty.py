"""The CLI's long forms: ``docker info``'s Swarm section, ``service inspect --pretty``,
``node inspect --pretty``."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from ... import _format as fmt
from ._go import bytes_size, go_bool, go_float, pretty_print


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


def _service_head(svc: Mapping[str, Any], now: _dt.datetime | None) -> list[str]:
    """ID, name, labels, mode and the update's status."""
    spec = svc["Spec"]
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
    return out


def _placement_lines(spec: Mapping[str, Any], tt: Mapping[str, Any]) -> list[str]:
    """Placement, and the update and rollback configs."""
    placement = tt.get("Placement") or {}
    out = ["Placement:"]
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
    return out


def _container_lines(cs: Mapping[str, Any]) -> list[str]:
    """The container spec: image, arguments, environment, capabilities, limits, mounts, configs, secrets."""
    out = ["ContainerSpec:", f" Image:\t\t{cs.get('Image', '')}"]
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
    return out


def _resource_lines(tt: Mapping[str, Any]) -> list[str]:
    """The log driver and the resources."""
    out: list[str] = []
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
    return out


def _endpoint_lines(svc: Mapping[str, Any], tt: Mapping[str, Any], networks: Mapping[str, str] | None) -> list[str]:
    """Networks, endpoint mode and published ports."""
    spec = svc["Spec"]
    nets = [(networks or {}).get(n.get("Target", ""), n.get("Target", "")) for n in tt.get("Networks") or []]
    out: list[str] = []
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
    return out


def _health_lines(cs: Mapping[str, Any]) -> list[str]:
    """The healthcheck."""
    out: list[str] = []
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
    return out


def format_service_pretty(svc: dict[str, Any], networks: Mapping[str, str] | None = None,
                          now: _dt.datetime | None = None) -> str:
    """``docker service inspect --pretty``, line for line the CLI's template. ``networks``
    maps network IDs to names (the CLI looks them up; an ID it cannot find stays an ID)."""
    spec = svc["Spec"]
    tt = spec.get("TaskTemplate") or {}
    cs = tt.get("ContainerSpec") or {}
    out = [*_service_head(svc, now), *_placement_lines(spec, tt), *_container_lines(cs), *_resource_lines(tt),
           *_endpoint_lines(svc, tt, networks), *_health_lines(cs)]
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
            f"Joined at:             \t{pretty_print(fmt.go_time(node['CreatedAt']))}" if node.get("CreatedAt")
            else "Joined at:             \t0001-01-01 00:00:00 +0000 utc",
            "Status:", f" State:\t\t\t{pretty_print(status.get('State', ''))}"]
    if status.get("Message"):
        out.append(f" Message:              \t{pretty_print(status['Message'])}")
    out.append(f" Availability:         \t{pretty_print(spec.get('Availability', ''))}")
    if status.get("Addr"):
        out.append(f" Address:\t\t{status['Addr']}")
    ms = node.get("ManagerStatus")
    if ms is not None:
        out += ["Manager Status:", f" Address:\t\t{ms.get('Addr', '')}",
                f" Raft Status:\t\t{pretty_print(ms.get('Reachability', ''))}",
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
