"""The lab's network: made with its subnet written in its config, so that every machine can
be given an address of its own (``--ip``) that it keeps when it is stopped, started, cut off
and reconnected, as a swarm manager must: the other managers know it by that address."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types

from ... import _home
from .machine import ip


def create(host: docker.DockerClient, name: str, labels: dict[str, str], attempts: int = 5) -> None:
    """Make the bridge network ``name``: the engine picks a free subnet, and the network is
    made again with that subnet as the user's, because only then does the engine take
    ``--ip`` on it (``docker network connect --ip``, ``docker run --ip``). Another network
    made in between may take that subnet (labs created at the same time): then again."""
    for attempt in range(attempts):
        net = host.networks.create(name, driver="bridge", labels=labels, check_duplicate=True)
        config = ipv4_config(net)
        net.remove()
        try:
            pool = docker.types.IPAMPool(subnet=str(ipaddress.ip_network(str(config.get("Subnet")))),
                                         gateway=str(ipaddress.ip_address(str(config.get("Gateway")))))
            ipam = docker.types.IPAMConfig(pool_configs=[pool])
        except ValueError:  # no subnet to keep: the engine's own choice, unpinned
            ipam = None
        try:
            host.networks.create(name, driver="bridge", ipam=ipam, labels=labels, check_duplicate=True)
            return
        except docker.errors.APIError as e:
            if "overlaps" not in str(e) or attempt == attempts - 1:
                raise


def ipv4_config(net: Any) -> dict[str, Any]:
    """The network's IPv4 IPAM entry (a network with IPv6 too has one of each), or {}."""
    for config in (net.attrs.get("IPAM") or {}).get("Config") or []:
        try:
            if ipaddress.ip_network(str(config.get("Subnet"))).version == 4:
                return dict(config)
        except ValueError:
            continue
    return {}


def subnet_of(net: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    config = ipv4_config(net)
    return ipaddress.ip_network(str(config["Subnet"])) if config else None


def free_addresses(net: Any, names: Sequence[str], endpoints: Sequence[dict[str, Any]]) -> dict[str, str]:
    """An address of the network's subnet for each new machine, none of them the gateway, in
    use on the network, or kept by a machine of the lab (``endpoints``: each machine's entry
    for the network, where a stopped one keeps its own); {} when the subnet is not known."""
    net.reload()  # the list leaves out which containers are on it
    subnet = subnet_of(net)
    if subnet is None:
        return {}
    taken = {ip(ipv4_config(net).get("Gateway"))}
    taken |= {ip(str(v.get("IPv4Address", "")).split("/")[0]) for v in (net.attrs.get("Containers") or {}).values()}
    for ep in endpoints:
        taken |= {ip(ep.get("IPAddress")), ip((ep.get("IPAMConfig") or {}).get("IPv4Address"))}
    free = (str(a) for a in subnet.hosts() if str(a) not in taken)
    return dict(zip(names, free))


def kept_address(path: Path, net: Any, what: str) -> str:
    """The address kept in ``path`` (a private file of the lab's folder), if it is an address
    of the network's subnet; '' otherwise."""
    if not path.exists():
        return ""
    _home.check_private_file(path, what)
    addr = ip(path.read_text(errors="replace").strip())
    subnet = subnet_of(net)
    return addr if addr and subnet is not None and ipaddress.ip_address(addr) in subnet else ""
