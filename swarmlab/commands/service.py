"""``docker service``: create, ls, ps, inspect, scale, update, rollback, rm."""

from __future__ import annotations

import copy
import json
import re
import shlex
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import docker
import docker.errors
import docker.types
import requests

from .._errors import (
    ImageNotAvailable,
    InvalidArgument,
    ServiceNotFound,
    SwarmlabError,
    SwarmStateError,
    Unschedulable,
    UpdatePaused,
)
from .._results import Output, Table, Text
from .._util import parallel_map
from .._wait import Progress
from ..converge import SwarmReader, rolled_back, service_progress, unplaceable
from ._base import Command, engine_errors
from .clitext import (
    PS_COLUMNS,
    SERVICE_LS_COLUMNS,
    CliTable,
    format_service_pretty,
    node_names,
    ps_rows,
    service_ls_rows,
    with_service_status,
)
from .secret import engine_references, parse_references, reference_flags
from .spec import (
    CLI_UPDATE_DEFAULTS,
    check_endpoint,
    create_command,
    health_config,
    parse_publish,
    post_spec,
    publish_flags,
    spec_differences,
    update_config,
    update_flags,
)
from .spec import replicas as spec_replicas
from .validate import (
    check_choice,
    check_create_options,
    check_image,
    check_names,
    check_replicas,
    check_service_name,
    did_you_mean,
    image_ref,
)

#: How long a task may stay unplaceable ("no suitable node") before a wait gives up on it:
#: long enough for a node that is joining or coming back to be counted
STUCK_AFTER = 4.0


class Services(Command):
    """``docker service``: create, ls, ps, inspect, scale, update, rollback, rm."""

    #: The last rolling update waited for (a ``swarmlab.views.Rollout``: its chart), or None.
    last_rollout: Any = None

    # -- lookups ---------------------------------------------------------------------
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

    def _ports_free(self, ports: list[dict[str, Any]], client: docker.DockerClient) -> None:
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

    def _references(self, kind: str, refs: list[dict[str, Any]], client: docker.DockerClient) -> list[dict[str, Any]]:
        """Parsed ``--secret`` / ``--config`` specs as the engine takes them, each name
        looked up (a missing one: :class:`NotFound`, naming the ones there are)."""
        objects = self._lab.secret if kind == "secret" else self._lab.config
        ids = {r["source"]: str(objects._get(r["source"], client)["ID"]) for r in refs}
        return engine_references(kind, refs, ids)

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

    def _progress(self, reader: SwarmReader, name: str, want: int | None,
                  image: str | None = None) -> Progress:
        """One poll: the service, its tasks and the nodes read once, then judged."""
        return service_progress(reader.read(name), name, want, image)

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

    # -- verbs -----------------------------------------------------------------------
    def create(self, name: str, image: str, *args: str, replicas: int = 1,
               update_delay: str | float | None = None, update_parallelism: int | None = None,
               update_failure_action: str | None = None, update_order: str | None = None,
               mode: str = "replicated", publish: str | Sequence[str] | dict[int, int] | None = None,
               publish_mode: str | None = None, endpoint_mode: str | None = None,
               networks: Sequence[str] = (), secrets: Sequence[str] = (), configs: Sequence[str] = (),
               env: dict[str, str] | None = None, labels: dict[str, str] | None = None,
               constraints: Sequence[str] = (), health_cmd: str | None = None,
               health_interval: str | float | None = None, health_timeout: str | float | None = None,
               health_retries: int | None = None, health_start_period: str | float | None = None,
               no_healthcheck: bool = False, wait: bool = True,
               timeout: float | None = None) -> Text:
        """``docker service create --replicas N --name NAME IMAGE ARGS...``.

        ``networks=['appnet']`` attaches the tasks to overlay networks (``--network``), where
        other services reach them by name. ``publish`` takes the CLI's ``--publish`` specs:
        ``'8080:80'`` (through the routing mesh, on every node) or
        ``'published=8080,target=80,mode=host'`` (on the nodes that run a task), or a list of
        them, or ``{8080: 80}``; ``publish_mode`` is the mode of the specs that name none
        (``ingress`` by default, as the CLI). ``endpoint_mode='dnsrr'``: the service's name
        resolves to its tasks' addresses instead of one virtual IP. ``secrets`` and ``configs``
        take the CLI's ``--secret`` / ``--config`` specs: a name (mounted at
        ``/run/secrets/NAME``, or ``/NAME`` for a config) or
        ``'source=NAME,target=PATH,mode=0400'``. ``health_cmd`` (with ``health_interval``,
        ``health_timeout``, ``health_retries``, ``health_start_period``) is ``--health-cmd``
        and its friends: a task counts as running only once its check passes;
        ``no_healthcheck=True`` turns the image's own check off.

        Waits until the replicas run. Running the same create twice finds the service and
        leaves it as asked; a create that differs from the existing service is refused."""
        lab = self._lab
        check_service_name(name)
        check_image(image)
        replicas = check_replicas(name, replicas)
        check_choice("mode", mode, ("replicated", "global"))
        update = update_config(update_delay, update_parallelism, update_failure_action, update_order)
        check_choice("publish_mode", publish_mode, (None, "host", "ingress"))
        check_choice("endpoint_mode", endpoint_mode, (None, "vip", "dnsrr"))
        args = tuple(str(a) for a in args)
        check_create_options(env, labels, constraints, networks)
        ports = parse_publish(publish, publish_mode)
        check_endpoint(endpoint_mode, ports)
        networks = tuple(networks)
        health, health_flags = health_config(health_cmd, health_interval, health_timeout, health_retries,
                                             health_start_period, no_healthcheck)
        secret_refs = parse_references("secret", secrets)
        config_refs = parse_references("config", configs)
        cmd = create_command(name, image, args, replicas, mode, update_delay, update_parallelism,
                              update_failure_action, update_order, ports,
                              endpoint_mode, env, labels, constraints, networks,
                              reference_flags("secret", secret_refs) + reference_flags("config", config_refs),
                              health_flags)
        client = lab.manager_client()
        # every network, secret and config checked before anything changes
        network_ids = tuple(self._network_id(n, client) for n in networks)
        mounts = {"Secrets": self._references("secret", secret_refs, client),
                  "Configs": self._references("config", config_refs, client)}
        with engine_errors("list services"):
            existing = [s for s in client.api.services(filters={"name": name})
                        if s["Spec"]["Name"] == name]
        notes: list[str] = []
        if existing:
            spec = existing[0]["Spec"]
            differ = spec_differences(spec, image, args, mode, update, ports, env, labels, constraints,
                                      network_ids, endpoint_mode, mounts, health)
            if differ:
                raise SwarmStateError(
                    f"service {name!r} already exists, with a different {', '.join(differ)}. "
                    f"Remove it with lab.service.rm({name!r}) or change it with "
                    f"lab.service.update({name!r}, ...). Nothing was changed."
                )
            notes.append(f"service {name} already exists (nothing to create).")
            have = spec.get("Mode", {}).get("Replicated", {}).get("Replicas")
            if mode == "replicated" and have != replicas:
                self.scale(wait=False, **{name: replicas})
                notes.append(f"scaled it from {have} to {replicas} replicas, as this create asks.")
            service_id = existing[0]["ID"]
        else:
            self._ports_free(ports, client)
            notes += self._image_check(image)
            endpoint = None
            if ports or endpoint_mode:
                endpoint = docker.types.EndpointSpec(mode=endpoint_mode, ports=ports or None)
            with engine_errors(f"create service {name}"):
                svc = client.services.create(
                    image, name=name, args=list(args) or None,
                    mode=docker.types.ServiceMode(mode, replicas if mode == "replicated" else None),
                    update_config={**CLI_UPDATE_DEFAULTS, **update},
                    rollback_config=dict(CLI_UPDATE_DEFAULTS), env=[f"{k}={v}" for k, v in (env or {}).items()] or None,
                    labels=labels, constraints=list(constraints) or None, endpoint_spec=endpoint,
                    networks=[docker.types.NetworkAttachmentConfig(i) for i in network_ids] or None,
                    secrets=mounts["Secrets"] or None, configs=mounts["Configs"] or None,
                    healthcheck=health,
                )
            service_id = svc.id
        body = service_id if not existing else ""
        if wait:  # a global service: one task on each node that is Ready and Active
            try:
                done = self._wait_replicas(name, replicas if mode == "replicated" else None, timeout)
            except Unschedulable as e:
                if existing:
                    raise
                with engine_errors(f"remove service {name}"):  # a create that can never run: undone
                    client.api.remove_service(service_id)
                raise Unschedulable(name, e.count, e.reason, created=False) from None
            body += f"\noverall progress: {done.total} out of {done.total} tasks\nverify: Service converged"
        return Text(command=cmd, body=body.strip(), notes=notes, data={"id": service_id})

    def _wait_replicas(self, name: str, want: int | None, timeout: float | None,
                       image: str | None = None) -> Progress:
        """Wait until the service runs ``want`` stable tasks. A task no node can take (the
        scheduler's "no suitable node", unchanged for :data:`STUCK_AFTER` seconds) raises
        :class:`Unschedulable` at once instead of waiting out the timeout."""
        lab = self._lab
        reader = SwarmReader(lab)
        stuck_since: list[float] = []

        def check() -> Progress:
            p = self._progress(reader, name, want, image)
            reasons = unplaceable(p.snapshot, name) if p.snapshot is not None and not p.done else []
            if not reasons:
                stuck_since.clear()
            elif not stuck_since:
                stuck_since.append(time.monotonic())
            elif time.monotonic() - stuck_since[0] >= STUCK_AFTER:
                raise Unschedulable(name, len(reasons), reasons[0])
            return p

        return self._wait_for(check, what=f"service {name}",
                        timeout=timeout or 60.0 + 5.0 * (want or len(lab.machines())), progress=lab.progress,
                        logs=lambda: lab.engine_logs(tail=8),
                        advice=f"See lab.service.ps({name!r}) for each task's error.")

    def ls(self) -> Table:
        """``docker service ls``: ID, NAME, MODE, REPLICAS (running/desired), IMAGE, PORTS."""
        client = self._lab.manager_client()
        with engine_errors("list services"):
            if docker.utils.version_lt(client.api.api_version, "1.41"):
                # an older engine does not count tasks itself: count them as the CLI does
                services = with_service_status(client.api.services(), client.api.tasks(), client.api.nodes())
            else:
                services = client.api.services(status=True)
        return CliTable.of("docker service ls", SERVICE_LS_COLUMNS, service_ls_rows(services), data=services)

    def ps(self, name: str) -> Table:
        """``docker service ps NAME``: every task, where it runs, its state; history as ``\\_``."""
        client = self._lab.manager_client()
        svc = self._get(name, client)
        with engine_errors(f"list the tasks of {name}"):
            tasks = client.api.tasks(filters={"service": svc["ID"]})
            nodes = node_names(client.api.nodes())
        return CliTable.of(f"docker service ps {name}", PS_COLUMNS, ps_rows(name, tasks, nodes),
                           data=tasks, colour=["DESIRED STATE", "CURRENT STATE"])

    def inspect(self, name: str, pretty: bool = False) -> Text:
        """``docker service inspect [--pretty] NAME``."""
        client = self._lab.manager_client()
        found = self._get(name, client)
        cmd = f"docker service inspect {'--pretty ' if pretty else ''}{name}"
        with engine_errors(f"inspect service {name}"):
            # as the CLI asks: the engine's defaults filled into the fields the spec leaves empty
            svc = dict(client.api.inspect_service(found["ID"], insert_defaults=True))
        if not pretty:
            return Text(command=cmd, body=json.dumps(svc, indent=4), data=svc)
        networks = {}
        for n in svc["Spec"].get("TaskTemplate", {}).get("Networks") or []:
            # as the CLI: a network it cannot look up is shown by its ID
            with suppress(docker.errors.DockerException, requests.exceptions.RequestException, KeyError):
                networks[n["Target"]] = client.api.inspect_network(n["Target"], scope="swarm")["Name"]
        return Text(command=cmd, body=format_service_pretty(svc, networks), data=svc)

    def logs(self, name: str, tail: int | None = None) -> Output:
        """``docker service logs [--tail N] NAME``: what its tasks printed, each line after the
        task and node it came from (``web.1.abcdef123456@worker1    | ...``), as the CLI
        shows it."""
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
            raise InvalidArgument(f"tail={tail!r}: give a number of lines, e.g. tail=20")
        client = self._lab.manager_client()
        svc = self._get(name, client)
        with engine_errors(f"read the logs of {name}"):
            raw = client.api.service_logs(svc["ID"], details=True, stdout=True, stderr=True,
                                          tail="all" if tail is None else tail, timestamps=False)
            tasks = {t["ID"]: t for t in client.api.tasks(filters={"service": svc["ID"]})}
            nodes = node_names(client.api.nodes())
        lines = []
        for line in (raw if isinstance(raw, bytes) else b"".join(raw)).decode("utf-8", "replace").splitlines():
            attrs, _, message = line.partition(" ")
            details = dict(kv.split("=", 1) for kv in attrs.split(",") if "=" in kv)
            task = tasks.get(details.get("com.docker.swarm.task.id", ""), {})
            task_id = str(task.get("ID", details.get("com.docker.swarm.task.id", "")))[:12]
            where = task.get("Slot") or task.get("NodeID", "")
            node = nodes.get(details.get("com.docker.swarm.node.id", ""), "")
            lines.append(f"{name}.{where}.{task_id}@{node}    | {message}" if details else line)
        cmd = f"docker service logs {'--tail ' + str(tail) + ' ' if tail is not None else ''}{name}"
        return Output("\n".join(lines), cmd, 0)

    def scale(self, wait: bool = True, timeout: float | None = None, **replicas: int) -> Text:
        """``docker service scale NAME=N ...``: waits until N tasks run (or the extra ones stop)."""
        lab = self._lab
        if not replicas:
            raise InvalidArgument("say which service to scale, e.g. lab.service.scale(helloworld=5)")
        wanted = {check_service_name(n): check_replicas(n, r) for n, r in replicas.items()}
        client = lab.manager_client()
        services = {n: self._get(n, client) for n in wanted}  # every name checked before any change
        for n, s in services.items():
            if "Replicated" not in s["Spec"].get("Mode", {}):
                raise InvalidArgument(f"{n} is a global service: it runs one task per node and cannot be scaled")
        cmd = "docker service scale " + " ".join(f"{n}={r}" for n, r in wanted.items())
        lines = []
        for n, want in wanted.items():
            s = services[n]
            spec = copy.deepcopy(s["Spec"])
            spec["Mode"]["Replicated"]["Replicas"] = want
            with engine_errors(f"scale service {n}"):
                post_spec(client, s["ID"], s["Version"]["Index"], spec)
            lines.append(f"{n} scaled to {want}")
        if wait:
            for n, want in wanted.items():
                self._wait_replicas(n, want, timeout)
                lines.append(f"{n}: overall progress: {want} out of {want} tasks; verify: Service converged")
        return Text(command=cmd, body="\n".join(lines), data=wanted)

    def update(self, name: str, image: str | None = None, *, replicas: int | None = None,
               args: Sequence[str] | None = None, update_delay: str | float | None = None,
               update_parallelism: int | None = None, update_failure_action: str | None = None,
               update_order: str | None = None, force: bool = False,
               network_add: Sequence[str] = (), network_rm: Sequence[str] = (),
               publish_add: str | Sequence[str] | dict[int, int] | None = None,
               publish_rm: Sequence[int] = (), endpoint_mode: str | None = None,
               secret_add: Sequence[str] = (), secret_rm: Sequence[str] = (),
               config_add: Sequence[str] = (), config_rm: Sequence[str] = (),
               health_cmd: str | None = None, health_interval: str | float | None = None,
               health_timeout: str | float | None = None, health_retries: int | None = None,
               health_start_period: str | float | None = None, no_healthcheck: bool = False,
               wait: bool = True, timeout: float | None = None) -> Text:
        """``docker service update --image IMAGE NAME``: a rolling update.

        Tasks are replaced ``update_parallelism`` at a time, ``update_delay`` apart (the
        service's UpdateConfig). Waits until every task runs the new image; if the update
        pauses on failures, raises :class:`UpdatePaused` with the engine's reason.

        As the CLI: ``network_add`` / ``network_rm`` (``--network-add``, ``--network-rm``)
        attach the tasks to overlay networks or detach them; ``publish_add`` takes
        ``--publish-add`` specs (``'8080:80'``, ``'published=8080,target=80,mode=host'``) and
        ``publish_rm`` target ports (``--publish-rm 80``); ``endpoint_mode`` is ``vip`` or
        ``dnsrr``. ``secret_add`` / ``secret_rm`` and ``config_add`` / ``config_rm``
        (``--secret-add``, ...) mount or unmount secrets and configs: rotating a secret is
        ``secret_rm=['pw'], secret_add=['source=pw_v2,target=pw']``. The ``health_*`` options
        change the health check (the others it has are kept). Each of these replaces the tasks,
        as a rolling update."""
        lab = self._lab
        client = lab.manager_client()
        svc = self._get(name, client)
        if image is not None:
            check_image(image)
        if replicas is not None:
            replicas = check_replicas(name, replicas)
        update = update_config(update_delay, update_parallelism, update_failure_action, update_order)
        check_choice("endpoint_mode", endpoint_mode, (None, "vip", "dnsrr"))
        network_add = check_names("network_add", network_add, "appnet")
        network_rm = check_names("network_rm", network_rm, "appnet")
        if isinstance(publish_rm, (str, int)) or not all(
                isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in publish_rm):
            raise InvalidArgument(f"publish_rm={publish_rm!r}: give a list of target ports, e.g. publish_rm=[80]")
        adding = parse_publish(publish_add)
        spec = copy.deepcopy(svc["Spec"])
        cs = spec["TaskTemplate"]["ContainerSpec"]
        flags = update_flags(update_delay, update_parallelism, update_failure_action, update_order)
        notes: list[str] = []
        notes += self._update_endpoint(spec, client, network_add, network_rm, adding,
                                       tuple(publish_rm), endpoint_mode, flags)
        for kind, add, rm in (("secret", secret_add, secret_rm), ("config", config_add, config_rm)):
            notes += self._update_mounts(kind, cs, client, parse_references(kind, add), rm, flags)
        health, health_flags = health_config(health_cmd, health_interval, health_timeout, health_retries,
                                             health_start_period, no_healthcheck)
        if health is not None:
            kept = {} if no_healthcheck or (cs.get("Healthcheck") or {}).get("Test") == ["NONE"] else \
                dict(cs.get("Healthcheck") or {})
            cs["Healthcheck"] = {**kept, **health}
            flags += health_flags
        if replicas is not None:
            if "Replicated" not in spec.get("Mode", {}):
                raise InvalidArgument(f"{name} is a global service: it has no replica count")
            spec["Mode"]["Replicated"]["Replicas"] = replicas
            flags.append(f"--replicas {replicas}")
        if args is not None:
            cs["Args"] = [str(a) for a in args]
            flags.append("--args " + shlex.quote(shlex.join(cs["Args"])))
        if update:
            spec["UpdateConfig"] = {**(spec.get("UpdateConfig") or {}), **update}
        if force:
            spec["TaskTemplate"]["ForceUpdate"] = int(spec["TaskTemplate"].get("ForceUpdate", 0)) + 1
            flags.append("--force")
        if image is not None:
            flags.append(f"--image {image}")
            if image_ref(cs.get("Image", "")) == image_ref(image):
                notes.append(f"{name} already uses {image} (no new image to roll out).")
            else:
                notes += self._image_check(image)
            cs["Image"] = image
        cmd = " ".join(["docker service update", *flags, name])
        unchanged = spec == svc["Spec"]
        if unchanged:
            # run twice: the same end state, so report (or keep waiting for) the last rollout
            notes.append("nothing to change: the service already has this spec.")
            status = (svc.get("UpdateStatus") or {}).get("State", "")
            if not wait or status not in ("updating", "paused", "rollback_started", "rollback_paused",
                                          "rollback_completed"):
                return Text(command=cmd, body=name, notes=notes)
        else:
            with engine_errors(f"update service {name}"):
                post_spec(client, svc["ID"], svc["Version"]["Index"], spec)
        lines = [name]
        if wait:
            lines += self._wait_rollout(name, spec_replicas(spec), cs["Image"], spec, timeout, cmd)
        return Text(command=cmd, body="\n".join(lines), notes=notes,
                    data={"image": cs["Image"], "replicas": spec.get("Mode", {}).get("Replicated", {}).get("Replicas")})

    def _update_endpoint(self, spec: dict[str, Any], client: docker.DockerClient,
                         network_add: tuple[str, ...], network_rm: tuple[str, ...],
                         adding: list[dict[str, Any]], publish_rm: tuple[int, ...],
                         endpoint_mode: str | None, flags: list[str]) -> list[str]:
        """Change a spec's networks, published ports and endpoint mode as ``docker service
        update`` flags do (``flags`` gets them); every name is checked before anything
        changes. Returns notes on what was already so."""
        notes: list[str] = []
        task = spec["TaskTemplate"]
        attached = list(task.get("Networks") or spec.get("Networks") or [])
        add_ids = {n: self._network_id(n, client) for n in network_add}
        rm_ids = {n: self._network_id(n, client) for n in network_rm}
        for n, net_id in add_ids.items():
            flags.append(f"--network-add {n}")
            if any(a.get("Target") in (net_id, n) for a in attached):
                notes.append(f"it is already on network {n}.")
            else:
                attached.append({"Target": net_id})
        for n, net_id in rm_ids.items():
            flags.append(f"--network-rm {n}")
            if not any(a.get("Target") in (net_id, n) for a in attached):
                notes.append(f"it is not on network {n} (nothing to detach).")
            attached = [a for a in attached if a.get("Target") not in (net_id, n)]
        if network_add or network_rm:
            task["Networks"] = attached
            spec.pop("Networks", None)  # the older place for them: the task template's is the one
        endpoint = spec.setdefault("EndpointSpec", {})
        ports = list(endpoint.get("Ports") or [])
        for target in publish_rm:
            flags.append(f"--publish-rm {target}")
            if not any(p.get("TargetPort") == target for p in ports):
                notes.append(f"no port is published to target port {target} (nothing to remove).")
            ports = [p for p in ports if p.get("TargetPort") != target]
        if adding:
            flags += [f.replace("--publish ", "--publish-add ", 1) for f in publish_flags(adding)]
            mine = {(p.get("PublishedPort"), p.get("Protocol", "tcp")) for p in ports}
            self._ports_free([p for p in adding if (p.get("PublishedPort"), p["Protocol"]) not in mine], client)
            keys = {(p.get("PublishedPort"), p["Protocol"]) for p in adding if p.get("PublishedPort")}
            ports = [p for p in ports if (p.get("PublishedPort"), p.get("Protocol", "tcp")) not in keys] + adding
        if adding or publish_rm:
            endpoint["Ports"] = ports
        if endpoint_mode is not None:
            flags.append(f"--endpoint-mode {endpoint_mode}")
            endpoint["Mode"] = endpoint_mode
        check_endpoint(endpoint.get("Mode"), endpoint.get("Ports") or [])
        if not endpoint:
            spec.pop("EndpointSpec")
        return notes

    def _update_mounts(self, kind: str, cs: dict[str, Any], client: docker.DockerClient,
                       adding: list[dict[str, Any]], removing: Sequence[str], flags: list[str]) -> list[str]:
        """``--secret-rm`` / ``--secret-add`` (or the config ones) on a ContainerSpec: removed
        first, then added, as the CLI does; names checked before anything changes."""
        removing = check_names(f"{kind}_rm", removing, "pw")
        key, name_key = ("Secrets", "SecretName") if kind == "secret" else ("Configs", "ConfigName")
        mounted = list(cs.get(key) or [])
        notes = []
        for n in removing:
            flags.append(f"--{kind}-rm {n}")
            if not any(r.get(name_key) == n for r in mounted):
                notes.append(f"{kind} {n} is not mounted (nothing to remove).")
            mounted = [r for r in mounted if r.get(name_key) != n]
        if adding:
            flags += reference_flags(kind, adding, f"--{kind}-add")
            new = self._references(kind, adding, client)
            targets = {(r.get("File") or {}).get("Name") for r in new}
            mounted = [r for r in mounted if (r.get("File") or {}).get("Name") not in targets] + new
        if removing or adding:
            cs[key] = mounted
        return notes

    def _wait_rollout(self, name: str, want: int | None, image: str, spec: dict[str, Any],
                      timeout: float | None, command: str = "") -> list[str]:
        lab = self._lab
        uc = spec.get("UpdateConfig") or {}
        delay = float(uc.get("Delay", 0)) / 1e9
        par = int(uc.get("Parallelism", 1) or 1)
        batches = max(1, -(-(want or 1) // par))
        budget = timeout or 90.0 + batches * (delay + 15.0)

        reader = SwarmReader(lab)

        def check() -> Progress:
            snap = reader.read(name)
            svc = snap.service(name)
            if svc is None:
                raise ServiceNotFound(f"service {name} was removed during its rolling update")
            status = svc.get("UpdateStatus") or {}
            state = status.get("State", "")
            if state == "paused":
                raise UpdatePaused(
                    f"the update of {name} paused: {status.get('Message', '')}. See which tasks "
                    f"failed with lab.service.ps({name!r}); go back with "
                    f"lab.service.rollback({name!r})."
                )
            if state in ("rollback_started", "rollback_paused", "rollback_completed"):
                raise UpdatePaused(
                    f"the update of {name} failed and was rolled back ({state}): "
                    f"{status.get('Message', '')}. See lab.service.ps({name!r})."
                )
            p = service_progress(snap, name, want, image)
            if state == "updating":
                p.done = False
                p.state = f"updating: {p.state}"
            return p

        from ..views import RolloutWatch  # the rollout view; shown only with progress on

        # a global service: one task a node
        shown_want = want if want is not None else service_progress(reader.read(name), name, None).total
        watch = RolloutWatch(lab, name, image, shown_want, show=lab.progress, command=command)
        try:
            done = self._wait_for(check, what=f"rolling update of {name}", timeout=budget,
                            progress=lab.progress, interval=0.5, logs=lambda: lab.engine_logs(tail=8),
                            advice=f"See lab.service.ps({name!r}) for each task's state and error.",
                            observe=watch.observe)
        finally:
            self.last_rollout = watch.finish()
        return [f"overall progress: {done.n} out of {done.total} tasks", "verify: Service converged"]

    def rollback(self, name: str, wait: bool = True, timeout: float | None = None) -> Text:
        """``docker service rollback NAME``: go back to the previous spec (e.g. the old image)."""
        lab = self._lab
        client = lab.manager_client()
        svc = self._get(name, client)
        prev = svc.get("PreviousSpec")
        if not prev:
            raise SwarmStateError(f"{name} has no previous version to roll back to (it was never updated)")
        with engine_errors(f"roll back service {name}"):
            post_spec(client, svc["ID"], svc["Version"]["Index"], svc["Spec"], rollback=True)
        lines = [name, "rollback: manually requested rollback"]
        if wait:
            want = spec_replicas(prev)
            image = prev["TaskTemplate"]["ContainerSpec"]["Image"]
            budget = timeout or 90.0 + (want or 3) * 15.0
            reader = SwarmReader(lab)
            done = self._wait_for(lambda: rolled_back(reader.read(name), name, want, image), what=f"rollback of {name}",
                            timeout=budget, progress=lab.progress, interval=0.5,
                            logs=lambda: lab.engine_logs(tail=8))
            lines += [f"overall progress: rolling back update: {done.n} out of {done.total} tasks",
                      "verify: Service converged"]
        return Text(command=f"docker service rollback {name}", body="\n".join(lines))

    def rm(self, *names: str, wait: bool = True, timeout: float = 90.0) -> Text:
        """``docker service rm NAME...``: remove services; waits until their tasks' containers
        are gone from every machine. A service that is not there is reported, not an error."""
        lab = self._lab
        if not names:
            raise InvalidArgument("say which service to remove, e.g. lab.service.rm('helloworld')")
        client = lab.manager_client()
        names = tuple(check_service_name(n) for n in names)
        with engine_errors("list services"):
            services = {s["Spec"]["Name"]: s for s in client.api.services()}
        present = [n for n in names if n in services]
        notes = [f"there is no service {n!r} (nothing to remove; services: "
                 f"{', '.join(sorted(services)) or 'none'})." for n in names if n not in services]
        for n in present:
            with engine_errors(f"remove service {n}"):
                client.api.remove_service(services[n]["ID"])
        if wait and present:
            seen: list[int] = []  # the most task containers seen: the bar counts them going
            self._wait_for(lambda: self._containers_gone(present, seen), what="service rm", timeout=timeout,
                     progress=lab.progress, logs=lambda: lab.engine_logs(tail=8))
        return Text(command=f"docker service rm {' '.join(names)}", body="\n".join(present), notes=notes)

    def _containers_gone(self, names: list[str], seen: list[int]) -> Progress:
        lab = self._lab
        machines = lab.machines()

        def count(m: str) -> int:
            containers = lab.client(m).api.containers(
                all=True, filters={"label": "com.docker.swarm.service.name"})
            return sum(1 for c in containers
                       if c["Labels"].get("com.docker.swarm.service.name") in names)

        left = sum(parallel_map(count, machines))
        seen.append(left)
        total = max(seen)
        return Progress(left == 0, total - left, total,
                        f"{left} task container(s) still on the machines" if left else "all removed")
