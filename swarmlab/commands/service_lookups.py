"""What ``docker service`` looks up on the engine before it changes anything: a service by
name (with a suggestion for a typo), the networks, secrets and configs a service's options
name, whether a published port is free, whether some machine has or can pull an image, and
where a task runs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import docker
import docker.errors
import requests

from .._errors import ImageNotAvailable, InvalidArgument, ServiceNotFound, SwarmlabError, SwarmStateError
from .._util import parallel_map
from ._base import Command, engine_errors
from .clitext import node_names
from .service_options import Attached, CreateOptions, UpdateOptions
from .service_parts import Reference
from .spec import replicas as spec_replicas
from .validate import check_service_name, did_you_mean, image_ref


class ServiceLookups(Command):
    """The reads ``lab.service``'s verbs make first: each raises, changing nothing, when what
    it looks for is not there or not usable."""

    def _get(self, name: str, client: docker.DockerClient | None = None) -> dict[str, Any]:
        check_service_name(name)
        client = client or self._lab.manager_client()
        with engine_errors(f"inspect service {name}"):
            found = [s for s in client.api.services(filters={"name": name})
                     if s["Spec"]["Name"] == name]
        if not found:
            with engine_errors("list services"):
                names = sorted(s["Spec"]["Name"] for s in client.api.services())
            close = did_you_mean(name, names)
            raise ServiceNotFound(
                f"there is no service {name!r}: did you mean {close!r}? (services: {', '.join(names)})"
                if close else
                f"there is no service {name!r} (services: {', '.join(names) or 'none'}); "
                f"create it with lab.service.create({name!r}, IMAGE, ...)"
            )
        return dict(found[0])

    def _ports_free(self, ports: Sequence[dict[str, Any]], client: docker.DockerClient) -> None:
        """Refuse, before anything is made, a port the routing mesh already publishes for
        another service (the engine would refuse it too, in words that say less)."""
        wanted = {(p.get("PublishedPort"), p["Protocol"]) for p in ports if p.get("PublishedPort")}
        if not wanted:
            return
        with engine_errors("list services"):
            services = client.api.services()
        for s in services:
            for p in (s.get("Endpoint") or {}).get("Ports") or []:
                if p.get("PublishMode", "ingress") == "ingress" and \
                        (p.get("PublishedPort"), p.get("Protocol", "tcp")) in wanted:
                    raise SwarmStateError(
                        f"port {p.get('PublishedPort')} is already published by service "
                        f"{s['Spec']['Name']!r} (through the routing mesh, on every node): pick "
                        f"another published port, or remove that service with "
                        f"lab.service.rm({s['Spec']['Name']!r}). Nothing was changed.")

    def _references(self, kind: str, refs: tuple[Reference, ...],
                    client: docker.DockerClient) -> tuple[dict[str, Any], ...]:
        """Secret or config references as the engine takes them, each name looked up (a
        missing one: :class:`NotFound`, naming the ones there are)."""
        objects = self._lab.secret if kind == "secret" else self._lab.config
        ids = {r.source: str(objects._get(r.source, client)["ID"]) for r in refs}
        return tuple(r.engine(ids[r.source]) for r in refs)

    def _attach(self, options: CreateOptions | UpdateOptions, client: docker.DockerClient) -> Attached:
        """The networks, secrets and configs ``options`` name, looked up: every one checked
        before anything changes."""
        networks = {n: self._network_id(n, client) for n in options.network_names}
        mounts = {kind: self._references(kind, refs, client) for kind, refs in options.references.items()}
        return Attached(networks, mounts)

    def _network_id(self, name: str, client: docker.DockerClient) -> str:
        """The ID of an overlay network a service can be attached to."""
        from .network import Networks, check_network_name

        check_network_name(name)
        if name == "ingress":
            raise InvalidArgument("'ingress' is the routing mesh's own network: services join it by "
                                  "publishing a port (publish='8080:80'), not with networks=[...]")
        net = Networks(self._lab)._get(name, client)
        if net.get("Scope") != "swarm":
            raise InvalidArgument(
                f"network {name!r} is a {net.get('Driver')} network of one machine ({net.get('Scope')} "
                f"scope): a service needs an overlay network that spans the swarm; create one with "
                f"lab.network.create('appnet')")
        return str(net["Id"])

    def _running_task(self, target: str) -> tuple[str, str, str]:
        """Where a task of a service runs: ``(machine, container ID, container name)``.

        ``target`` is a service (its running task with the lowest slot) or ``NAME.SLOT``.
        What the engine says (IDs, the node's name) is checked before it is used."""
        name, dot, slot_text = target.rpartition(".") if isinstance(target, str) else ("", "", "")
        if not (dot and slot_text.isdigit()):
            name, slot_text = target, ""
        client = self._lab.manager_client()
        svc = self._get(name, client)
        with engine_errors(f"list the tasks of {name}"):
            tasks = client.api.tasks(filters={"service": svc["ID"], "desired-state": "running"})
            nodes = node_names(client.api.nodes())
        running = sorted((t for t in tasks if (t.get("Status") or {}).get("State") == "running"
                          and (not slot_text or t.get("Slot") == int(slot_text))),
                         key=lambda t: (t.get("Slot") or 0, t.get("NodeID", "")))
        if not running:
            raise SwarmStateError(
                f"no task of {target!r} is running: see lab.service.ps({name!r})"
                + (f" (its slots are 1 to {spec_replicas(svc['Spec'])})" if slot_text else ""))
        task = running[0]
        machine = nodes.get(task.get("NodeID", ""), "")
        cid = str(((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID", ""))
        task_id = str(task.get("ID", ""))
        if not re.fullmatch(r"[0-9a-f]{64}", cid) or not re.fullmatch(r"[0-9a-z]{25}", task_id) \
                or machine not in self._lab.machines():
            raise SwarmStateError(
                f"the engine's answer for a task of {name!r} is not one swarmlab can use (node "
                f"{machine[:40]!r}, container {cid[:70]!r}): see lab.service.ps({name!r})")
        slot = task.get("Slot")
        where = f"{name}.{slot}" if isinstance(slot, int) and slot else f"{name}.{task.get('NodeID', '')[:25]}"
        return machine, cid, f"{where}.{task_id}"

    def _image_check(self, image: str) -> list[str]:
        """Make sure some machine has the image or can pull it; return notes. Raises
        :class:`ImageNotAvailable` (changing nothing) when none can."""
        lab = self._lab
        machines = lab.machines()

        def has(m: str) -> bool:
            try:
                lab.client(m).images.get(image)
                return True
            except docker.errors.ImageNotFound:
                return False
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                return False

        present = [m for m, ok in zip(machines, parallel_map(has, machines)) if ok]
        if not present and lab.offline:
            raise ImageNotAvailable(
                f"image {image!r} is on no machine of lab {lab.name!r}, and this lab is offline "
                f"(SWARMLAB_OFFLINE): load it from this computer's engine with "
                f"lab.image.load({image!r}) (build the offline images with scripts/build-images "
                f"first). Nothing was changed."
            )
        if not present:
            mgr = lab.manager()
            repo, _, tag = image_ref(image).rpartition(":")
            try:
                with engine_errors(f"pull {image} on {mgr}"):
                    lab.client(mgr).images.pull(repo, tag=tag)
            except SwarmlabError as e:
                raise ImageNotAvailable(
                    f"image {image!r} is on no machine of lab {lab.name!r} and cannot be pulled "
                    f"({str(e).split(': ', 1)[-1][:160]}). Offline? Load it from this computer's "
                    f"engine with lab.image.load({image!r}) (build the offline images with "
                    f"scripts/build-images first). Nothing was changed."
                ) from None
            return [f"{mgr} pulled {image}; the other machines pull it when a task lands there."]
        if len(present) < len(machines):
            lacking = [m for m in machines if m not in present]
            return [f"image {image} is only on {', '.join(present)}: machines {', '.join(lacking)} "
                    f"will try to pull it (offline, load it with lab.image.load({image!r}))."]
        return []

