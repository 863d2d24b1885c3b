"""The lab's network: made with its subnet written in its config, so that every machine can
be given an address of its own (``--ip``) that it keeps when it is stopped, started, cut off
and reconnected, as a swarm manager must: the other managers know it by that address."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types

from ... import _home
from ..._errors import DockerError
from ..._util import error_text
from .machine import NO_FIXED_ADDRESS, ip
from .names import found_networks

#: on the lab's network once it is made with the subnet written in its config (its value is
#: that subnet): a network of the lab's name and labels without it is the engine's first pick,
#: left behind by a create that was interrupted (Ctrl-C) before it was made again
LABEL_SUBNET = "io.swarmlab.subnet"


def create(host: docker.DockerClient, name: str, labels: dict[str, str], attempts: int = 5) -> None:
    """Make the bridge network ``name``: the engine picks a free subnet, and the network is
    made again with that subnet as the user's, because only then does the engine take
    ``--ip`` on it (``docker network connect --ip``, ``docker run --ip``). Another network
    made in between may take that subnet (labs created at the same time): then again.
    Interrupted (Ctrl-C) or failed, it leaves no network of the engine's pick behind."""
    try:
        _create(host, name, labels, attempts)
    except BaseException:
        remove_unpinned(host, name, labels)
        raise


def _create(host: docker.DockerClient, name: str, labels: dict[str, str], attempts: int) -> None:
    for attempt in range(attempts):
        net = host.networks.create(name, driver="bridge", labels=labels, check_duplicate=True)
        config = ipv4_config(net)
        net.remove()
        try:
            subnet = ipaddress.ip_network(str(config.get("Subnet")))
            pool = docker.types.IPAMPool(subnet=str(subnet),
                                         gateway=str(ipaddress.ip_address(str(config.get("Gateway")))))
            ipam = docker.types.IPAMConfig(pool_configs=[pool])
            pinned = {**labels, LABEL_SUBNET: str(subnet)}
        except ValueError:  # no subnet to keep: the engine's own choice, unpinned
            ipam, pinned = None, labels
        try:
            host.networks.create(name, driver="bridge", ipam=ipam, labels=pinned, check_duplicate=True)
            return
        except docker.errors.APIError as e:
            if "overlaps" not in str(e) or attempt == attempts - 1:
                raise


def pinned(net: Any) -> bool:
    """Whether the network was made with its subnet in its config (see :data:`LABEL_SUBNET`)."""
    return bool((net.attrs.get("Labels") or {}).get(LABEL_SUBNET))


def remove_unpinned(host: docker.DockerClient, name: str, labels: dict[str, str]) -> None:
    """Remove the network ``name`` if it carries ``labels``, is the engine's first pick (not
    :func:`pinned`) and no container is on it; anything else is left as it is."""
    flt = {"name": [name], "label": [f"{k}={v}" for k, v in labels.items()]}
    with suppress(docker.errors.APIError):
        for net in host.networks.list(filters=flt):
            if net.name != name or pinned(net):
                continue
            net.reload()  # the list leaves out which containers are on it
            if not net.attrs.get("Containers"):
                with suppress(docker.errors.APIError):
                    net.remove()


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


def ensure(p: Any) -> bool:
    """Make the lab's network of provider ``p`` unless it is there; return whether this call
    made it."""
    found = found_networks(p.host, p.names)
    if found and (pinned(found[0]) or p._found()):
        return False  # an older swarmlab's network, with machines on it, is used as it is
    if found:  # the engine's first pick, left by an interrupted create: made again
        remove_unpinned(p.host, p.network_name, p.names.labels("network"))
        if found_networks(p.host, p.names):
            return False  # something is on it after all
    try:
        p._create_network()
        return True
    except docker.errors.APIError as e:
        if e.status_code != 409:
            raise DockerError(f"failed to create network {p.network_name}: {error_text(e)}") from None
    # the engine has a network of that name: another process made it just now, or it is
    # not swarmlab's at all
    if not found_networks(p.host, p.names):
        raise DockerError(
            f"a network named {p.network_name!r} exists, but swarmlab did not make it "
            f"(its labels don't match): remove it ('docker network rm {p.network_name}') "
            f"or use another lab name"
        )
    return False


# -- a machine cut off and back (provider ``p``: the lab's network, containers and folder) ----
def disconnect(p: Any, name: str) -> str:
    """``docker network disconnect``: the machine keeps running but reaches no other
    machine (with ``api="socket"`` its engine still answers swarmlab on its socket; a TLS
    engine is reached through the network, so it answers no one); its address is kept in
    the lab's folder for :func:`reconnect`."""
    c = p._container(name)
    net = p._lab_network()
    cmd = f"docker network disconnect {net.name} {c.name}"
    addr = ip(p._network_of(c).get("IPAddress"))
    if not addr:
        return cmd  # not on the network (disconnected already): nothing to do
    _home.write_private(p._address_file(name), addr.encode())
    p._drop_client(name)  # a TLS machine is reached through the network
    net.disconnect(c)
    return cmd


def reconnect(p: Any, name: str) -> str:
    """``docker network connect --ip ADDRESS``: back on the lab's network at the address
    the swarm knows it by (else its node could not rejoin)."""
    c = p._container(name)
    net = p._lab_network()
    if p._network_of(c).get("IPAddress"):
        return f"docker network connect {net.name} {c.name}"  # connected already
    addr = p._kept_address(name, net)
    try:
        if addr:
            net.connect(c, ipv4_address=addr)
        else:  # never disconnected by swarmlab: the engine picks an address
            net.connect(c)
    except docker.errors.APIError as e:
        if not addr or NO_FIXED_ADDRESS not in error_text(e):
            raise DockerError(f"failed to reconnect machine {name!r} at {addr or 'an address'}: "
                              f"{error_text(e)}") from None
        # a lab network made by an older swarmlab takes no --ip: the machine comes back at
        # another address, which a manager's swarm does not know (lab.destroy() and
        # lab.up(...) make a network that keeps addresses)
        addr = ""
        net.connect(c)
    p._drop_client(name)
    _home.remove_inside(p.lab_dir(), p._address_file(name))
    return f"docker network connect {'--ip ' + addr + ' ' if addr else ''}{net.name} {c.name}"
