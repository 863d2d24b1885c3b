"""``docker network``: create, ls, inspect, rm overlay networks on the swarm; and whether
this lab's machines have what the routing mesh needs (IPVS)."""

from __future__ import annotations

import json
import re
from typing import Any

import docker
import docker.errors

from .._errors import InvalidArgument, NetworkNotFound, SwarmStateError
from .._results import Table, Text
from ._base import Command, engine_errors
from .clitext import CliTable
from .validate import check_choice, check_machine_name, check_swarm_name, did_you_mean

#: Docker's own networks: made by the engine, never by a learner
BUILT_IN = ("ingress", "bridge", "host", "none", "docker_gwbridge")
NETWORK_LS_COLUMNS = ("NETWORK ID", "NAME", "DRIVER", "SCOPE")
#: where a kernel with IPVS (the routing mesh's load balancer) lists its settings
IPVS_PROC = "/proc/sys/net/ipv4/vs"


def check_network_name(name: object) -> str:
    return check_swarm_name("network", name, "appnet")


def network_rows(networks: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """``docker network ls``: sorted by name, IDs cut to 12 characters."""
    return [(str(n.get("Id", ""))[:12], str(n.get("Name", "")), str(n.get("Driver", "")),
             str(n.get("Scope", ""))) for n in sorted(networks, key=lambda n: str(n.get("Name", "")))]


def _flags(attachable: bool, encrypted: bool, subnet: str | None) -> list[str]:
    flags = []
    if attachable:
        flags.append("--attachable")
    if encrypted:
        flags.append("--opt encrypted")
    if subnet:
        flags.append(f"--subnet {subnet}")
    return flags


class Networks(Command):
    """``docker network`` on a manager: the overlay networks services are attached to."""

    def _find(self, name: str, client: docker.DockerClient) -> dict[str, Any] | None:
        with engine_errors("list networks"):
            found = [n for n in client.api.networks(names=[name]) if n.get("Name") == name]
        # a swarm network first: a manager may also hold a local network of the same name
        found.sort(key=lambda n: n.get("Scope") != "swarm")
        return dict(found[0]) if found else None

    def _get(self, name: str, client: docker.DockerClient | None = None) -> dict[str, Any]:
        """The network ``name`` as the manager lists it; :class:`NetworkNotFound` (with the
        closest name) when there is none."""
        check_network_name(name)
        client = client or self._lab.manager_client()
        found = self._find(name, client)
        if found is None:
            with engine_errors("list networks"):
                names = sorted(str(n.get("Name")) for n in client.api.networks())
            close = did_you_mean(name, [n for n in names if n not in BUILT_IN])
            raise NetworkNotFound(
                f"there is no network {name!r}"
                + (f": did you mean {close!r}?" if close else
                   f"; create it with lab.network.create({name!r})")
                + f" (networks: {', '.join(names) or 'none'})"
            )
        return found

    def create(self, name: str, driver: str = "overlay", *, attachable: bool = False,
               encrypted: bool = False, subnet: str | None = None) -> Text:
        """``docker network create -d overlay NAME``: a network that spans the swarm's nodes.

        Services attached to it (``lab.service.create(..., networks=[NAME])``) reach each
        other by service name. ``attachable=True`` lets plain containers (``docker run
        --network NAME``) join it too. ``encrypted=True`` (``--opt encrypted``) encrypts the
        traffic between machines with IPsec: the kernel must have ESP with AES-GCM; on one
        without it the network is made but its tasks cannot reach each other across
        machines (the engine log says ``Failed Adding rSA ... function not implemented``).
        Running the same create twice finds the network and leaves it as it is."""
        check_network_name(name)
        check_choice("driver", driver, ("overlay",))
        for what, value in (("attachable", attachable), ("encrypted", encrypted)):
            if not isinstance(value, bool):
                raise InvalidArgument(f"{what}={value!r}: give True or False")
        if subnet is not None and (not isinstance(subnet, str)
                                   or not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}/\d{1,2}", subnet)):
            raise InvalidArgument(f"subnet={subnet!r}: give an IPv4 subnet, e.g. '10.10.0.0/24'")
        if name in BUILT_IN:
            raise InvalidArgument(f"{name!r} is one of Docker's own networks ({', '.join(BUILT_IN)}): "
                                  f"pick another name, e.g. 'appnet'")
        cmd = " ".join(["docker network create -d overlay", *_flags(attachable, encrypted, subnet), name])
        client = self._lab.manager_client()
        have = self._find(name, client)
        if have is not None:
            if have.get("Driver") != "overlay" or have.get("Scope") != "swarm":
                raise SwarmStateError(
                    f"a network named {name!r} already exists on {self._lab.manager()} with the "
                    f"{have.get('Driver')} driver ({have.get('Scope')} scope), not overlay: pick "
                    f"another name, or remove it there first. Nothing was changed.")
            differ = [what for what, want, got in (
                ("attachable", attachable, bool(have.get("Attachable"))),
                ("encrypted", encrypted, "encrypted" in (have.get("Options") or {})),
            ) if want != got]
            if differ:
                raise SwarmStateError(
                    f"network {name!r} already exists, with a different {', '.join(differ)} setting: "
                    f"remove it with lab.network.rm({name!r}) first (after the services on it). "
                    f"Nothing was changed.")
            return Text(command=cmd, body="", notes=[f"network {name} already exists (nothing to create)."],
                        data=have)
        ipam = None
        if subnet:
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        with engine_errors(f"create network {name}"):
            made = client.api.create_network(name, driver="overlay", attachable=attachable or None,
                                             options={"encrypted": ""} if encrypted else None, ipam=ipam)
        return Text(command=cmd, body=str(made.get("Id", "")), data=dict(made))

    def ls(self) -> Table:
        """``docker network ls`` on a manager: its own networks and the swarm's."""
        client = self._lab.manager_client()
        with engine_errors("list networks"):
            networks = [dict(n) for n in client.api.networks()]
        return CliTable.of("docker network ls", NETWORK_LS_COLUMNS, network_rows(networks), data=networks)

    def inspect(self, name: str) -> Text:
        """``docker network inspect NAME``: its driver, subnet, options and (on this manager)
        the containers attached."""
        client = self._lab.manager_client()
        found = self._get(name, client)
        with engine_errors(f"inspect network {name}"):
            net = dict(client.api.inspect_network(found["Id"]))
        return Text(command=f"docker network inspect {name}", body=json.dumps(net, indent=4), data=net)

    def rm(self, *names: str) -> Text:
        """``docker network rm NAME...``. A network a service is still attached to is refused
        (naming the services) and nothing is removed; one that is not there is reported."""
        if not names:
            raise InvalidArgument("say which network to remove, e.g. lab.network.rm('appnet')")
        names = tuple(check_network_name(n) for n in names)
        for n in names:
            if n in BUILT_IN:
                raise InvalidArgument(f"{n!r} is one of Docker's own networks: swarmlab does not remove it")
        client = self._lab.manager_client()
        present = {n: net for n in names if (net := self._find(n, client)) is not None}
        with engine_errors("list services"):
            services = client.api.services()
        users = {}
        for n, net in present.items():
            on = sorted(s["Spec"]["Name"] for s in services
                        if any(a.get("Target") in (net.get("Id"), n)
                               for a in (s["Spec"].get("TaskTemplate", {}).get("Networks") or [])))
            if on:
                users[n] = on
        if users:
            raise SwarmStateError(
                "; ".join(f"network {n!r} is in use by service(s) {', '.join(on)}" for n, on in users.items())
                + ": remove those services first (lab.service.rm(...)). Nothing was removed.")
        notes = [f"there is no network {n!r} (nothing to remove)." for n in names if n not in present]
        for n, net in present.items():
            with engine_errors(f"remove network {n}"):
                client.api.remove_network(net["Id"])
        return Text(command=f"docker network rm {' '.join(names)}", body="\n".join(present), notes=notes)

    def routing_mesh(self, machine: str | None = None) -> Text:
        """Whether the routing mesh can work on this lab: it balances a published port (and a
        service's virtual IP) with IPVS, in the kernel of each machine. DinD machines use the
        kernel of this computer; VMs their own. ``.data["ipvs"]`` is True or False."""
        lab = self._lab
        machine = check_machine_name(machine) if machine is not None else lab.manager()
        probe = f"ls {IPVS_PROC}"
        with engine_errors(f"look for IPVS on {machine}"):
            found = lab.provider.run(machine, f"test -d {IPVS_PROC} && {probe}").exit_code == 0
        if found:
            body = (f"IPVS: yes (the kernel of {machine} has {IPVS_PROC}).\n"
                    "The routing mesh works here: a port published with --publish 8080:80 answers on "
                    "every node, and a service's name resolves to a virtual IP that balances its tasks.")
        else:
            body = (f"IPVS: no ({IPVS_PROC} is missing in the kernel of {machine}).\n"
                    "Without IPVS the routing mesh cannot work: a port published in the default ingress "
                    "mode does not answer, and a service's virtual IP (VIP) does not route. What works "
                    "without it: publishing in host mode (published=8080,target=80,mode=host: the port "
                    "answers on the nodes that run a task) and DNS round-robin (--endpoint-mode dnsrr: "
                    "the name resolves to the tasks' own addresses).\n"
                    "On a Linux computer, 'sudo modprobe ip_vs' loads IPVS; then run this again.")
        return Text(command=f"docker-machine ssh {machine} {probe}", body=body, data={"ipvs": found})
