"""``docker service``: create, ls, ps, inspect, scale, update, rollback, rm.

What ``create`` and ``update`` ask for is one value object each
(:mod:`.service_options`); what they look up first: :mod:`.service_lookups`."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import docker
import docker.errors
import requests

from .._errors import (
    InvalidArgument,
    ServiceNotFound,
    SwarmStateError,
    Unschedulable,
    UpdatePaused,
)
from .._results import Output, Table, Text
from .._util import parallel_map
from .._wait import Progress
from ..converge import DroppedNodes, FailedStarts, SwarmReader, rolled_back, service_progress, unplaceable
from ._base import engine_errors
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
from .service_lookups import ServiceLookups
from .service_options import Attached, CreateOptions, UpdateOptions
from .spec import post_spec, rolls
from .spec import replicas as spec_replicas
from .validate import check_replicas, check_service_name

#: How long a task may stay unplaceable ("no suitable node") before a wait gives up on it:
#: long enough for a node that is joining or coming back to be counted
STUCK_AFTER = 4.0


class Services(ServiceLookups):
    """``docker service``: create, ls, ps, inspect, scale, update, rollback, rm."""

    #: The last rolling update waited for (a ``swarmlab.views.Rollout``: its chart), or None.
    last_rollout: Any = None

    def _progress(self, reader: SwarmReader, name: str, want: int | None,
                  image: str | None = None) -> Progress:
        """One poll: the service, its tasks and the nodes read once, then judged."""
        return service_progress(reader.read(name), name, want, image)

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
        options = CreateOptions.of(
            name, image, args, replicas=replicas, update_delay=update_delay, update_parallelism=update_parallelism,
            update_failure_action=update_failure_action, update_order=update_order, mode=mode, publish=publish,
            publish_mode=publish_mode, endpoint_mode=endpoint_mode, networks=networks, secrets=secrets,
            configs=configs, env=env, labels=labels, constraints=constraints, health_cmd=health_cmd,
            health_interval=health_interval, health_timeout=health_timeout, health_retries=health_retries,
            health_start_period=health_start_period, no_healthcheck=no_healthcheck)
        client = self._lab.manager_client()
        attached = self._attach(options, client)
        with engine_errors("list services"):
            existing = [s for s in client.api.services(filters={"name": name})
                        if s["Spec"]["Name"] == name]
        if existing:
            service_id, notes = existing[0]["ID"], self._adopt(options, attached, existing[0]["Spec"])
        else:
            self._ports_free(options.publish.engine(), client)
            notes = self._image_check(image)
            with engine_errors(f"create service {name}"):
                service_id = client.services.create(**options.docker_args(attached)).id
        body = service_id if not existing else ""
        if wait:  # a global service: one task on each node that is Ready and Active
            try:
                done = self._wait_replicas(name, options.wanted_replicas, timeout, notes=notes)
            except Unschedulable as e:
                if existing:
                    raise
                with engine_errors(f"remove service {name}"):  # a create that can never run: undone
                    client.api.remove_service(service_id)
                raise Unschedulable(name, e.count, e.reason, created=False) from None
            body += f"\noverall progress: {done.total} out of {done.total} tasks\nverify: Service converged"
        return Text(command=options.command(), body=body.strip(), notes=notes, data={"id": service_id})

    def _adopt(self, options: CreateOptions, attached: Attached, spec: dict[str, Any]) -> list[str]:
        """A create run again: the service there is left as it is when it is what ``options``
        ask for (only its replica count is set), and refused when it is not."""
        name = options.name
        differ = options.differences(spec, attached)
        if differ:
            raise SwarmStateError(
                f"service {name!r} already exists, with a different {', '.join(differ)}. "
                f"Remove it with lab.service.rm({name!r}) or change it with "
                f"lab.service.update({name!r}, ...). Nothing was changed."
            )
        notes = [f"service {name} already exists (nothing to create)."]
        have = spec.get("Mode", {}).get("Replicated", {}).get("Replicas")
        if options.mode == "replicated" and have != options.replicas:
            self.scale(wait=False, **{name: options.replicas})
            notes.append(f"scaled it from {have} to {options.replicas} replicas, as this create asks.")
        return notes

    def _wait_replicas(self, name: str, want: int | None, timeout: float | None,
                       image: str | None = None, notes: list[str] | None = None) -> Progress:
        """Wait until the service runs ``want`` stable tasks. A task no node can take (the
        scheduler's "no suitable node", unchanged for :data:`STUCK_AFTER` seconds) raises
        :class:`Unschedulable` at once instead of waiting out the timeout. Tasks that failed
        meanwhile (:class:`~swarmlab.converge.FailedStarts`) and nodes that dropped out of the
        managers' view (:class:`~swarmlab.converge.DroppedNodes`) are said in ``notes``: both
        leave the spread uneven."""
        lab = self._lab
        reader = SwarmReader(lab)
        stuck_since: list[float] = []
        failed, dropped, started = FailedStarts(), DroppedNodes(), time.time()

        def check() -> Progress:
            p = self._progress(reader, name, want, image)
            if p.snapshot is not None:
                failed.observe(p.snapshot, name)
                dropped.observe(p.snapshot)
            reasons = unplaceable(p.snapshot, name) if p.snapshot is not None and not p.done else []
            if not reasons:
                stuck_since.clear()
            elif not stuck_since:
                stuck_since.append(time.monotonic())
            elif time.monotonic() - stuck_since[0] >= STUCK_AFTER:
                raise Unschedulable(name, len(reasons), reasons[0])
            return p

        done = self._wait_for(check, what=f"service {name}",
                              timeout=timeout or 60.0 + 5.0 * (want or len(lab.machines())), progress=lab.progress,
                              logs=lambda: lab.engine_logs(tail=8),
                              advice=f"See lab.service.ps({name!r}) for each task's error.")
        if notes is not None:
            dropped.add(reader.node_drops(started))
            notes += ([dropped.note(name)] if dropped.hosts else []) + ([failed.note(name)] if failed.count else [])
        return done

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
        lines: list[str] = []
        notes: list[str] = []
        for n, want in wanted.items():
            s = services[n]
            spec = copy.deepcopy(s["Spec"])
            spec["Mode"]["Replicated"]["Replicas"] = want
            with engine_errors(f"scale service {n}"):
                post_spec(client, s["ID"], s["Version"]["Index"], spec)
            lines.append(f"{n} scaled to {want}")
        if wait:
            for n, want in wanted.items():
                self._wait_replicas(n, want, timeout, notes=notes)
                lines.append(f"{n}: overall progress: {want} out of {want} tasks; verify: Service converged")
        return Text(command=cmd, body="\n".join(lines), notes=notes, data=wanted)

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
        client = self._lab.manager_client()
        svc = self._get(name, client)
        options = UpdateOptions.of(
            name, image, replicas=replicas, args=args, update_delay=update_delay,
            update_parallelism=update_parallelism, update_failure_action=update_failure_action,
            update_order=update_order, force=force, network_add=network_add, network_rm=network_rm,
            publish_add=publish_add, publish_rm=publish_rm, endpoint_mode=endpoint_mode, secret_add=secret_add,
            secret_rm=secret_rm, config_add=config_add, config_rm=config_rm, health_cmd=health_cmd,
            health_interval=health_interval, health_timeout=health_timeout, health_retries=health_retries,
            health_start_period=health_start_period, no_healthcheck=no_healthcheck)
        changed = options.apply(svc["Spec"], self._attach(options, client))
        self._ports_free(changed.claims, client)
        notes = [*changed.notes, *(self._image_check(changed.new_image) if changed.new_image else [])]
        cmd, spec = options.command(), changed.spec
        if spec == svc["Spec"]:
            # run twice: the same end state, so report (or keep waiting for) the last rollout
            notes.append("nothing to change: the service already has this spec.")
            status = (svc.get("UpdateStatus") or {}).get("State", "")
            if not wait or status not in ("updating", "paused", "rollback_started", "rollback_paused",
                                          "rollback_completed"):
                return Text(command=cmd, body=name, notes=notes)
        else:
            with engine_errors(f"update service {name}"):
                post_spec(client, svc["ID"], svc["Version"]["Index"], spec)
        image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
        lines = [name]
        if wait:
            # a spec that replaces the tasks is done only after the update it starts: until the
            # engine's updater takes it up, the old tasks run and look converged (none: no update)
            replaces = rolls(svc["Spec"], spec) and spec_replicas(spec) != 0
            earlier = (svc.get("UpdateStatus") or {}).get("StartedAt", "") if replaces else None
            lines += self._wait_rollout(name, spec_replicas(spec), image, spec, timeout, cmd, notes, earlier)
        return Text(command=cmd, body="\n".join(lines), notes=notes,
                    data={"image": image, "replicas": spec.get("Mode", {}).get("Replicated", {}).get("Replicas")})

    def _wait_rollout(self, name: str, want: int | None, image: str, spec: dict[str, Any],
                      timeout: float | None, command: str = "", notes: list[str] | None = None,
                      started_before: str | None = None) -> list[str]:
        """Wait for the rollout. ``started_before``: the StartedAt of the service's update
        status before this change ("" for none), when the change replaces the tasks: the
        rollout is not done before an update that started later. Nodes that dropped out of
        the managers' view during it (:class:`~swarmlab.converge.DroppedNodes`) are named in
        ``notes``, or in the :class:`UpdatePaused` error when the update paused."""
        lab = self._lab
        dropped = DroppedNodes()
        uc = spec.get("UpdateConfig") or {}
        delay = float(uc.get("Delay", 0)) / 1e9
        par = int(uc.get("Parallelism", 1) or 1)
        batches = max(1, -(-(want or 1) // par))
        budget = timeout or 90.0 + batches * (delay + 15.0)

        reader = SwarmReader(lab)
        started = time.time()

        def check() -> Progress:
            snap = reader.read(name)
            dropped.observe(snap)
            svc = snap.service(name)
            if svc is None:
                raise ServiceNotFound(f"service {name} was removed during its rolling update")
            status = svc.get("UpdateStatus") or {}
            # the status of an update before this change (paused, rolled back) is not this one's
            stale = started_before is not None and status.get("StartedAt", "") in ("", started_before)
            state = "" if stale else status.get("State", "")
            if state == "paused":
                dropped.add(reader.node_drops(started))
                raise UpdatePaused(
                    f"the update of {name} paused: {status.get('Message', '')}. See which tasks "
                    f"failed with lab.service.ps({name!r}); go back with "
                    f"lab.service.rollback({name!r})." + (f" {dropped.note(name)}" if dropped.hosts else "")
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
            elif stale:
                p.done = False
                p.state = f"the update has not started yet: {p.state}"
            return p

        from ..views import RolloutWatch  # the rollout view; shown only with progress on

        # a global service: one task a node
        shown_want = want if want is not None else service_progress(reader.read(name), name, None).total
        watch = RolloutWatch(lab, name, image, shown_want, show=lab.progress, command=command)
        done = None
        try:
            done = self._wait_for(check, what=f"rolling update of {name}", timeout=budget,
                            progress=lab.progress, interval=0.5, logs=lambda: lab.engine_logs(tail=8),
                            advice=f"See lab.service.ps({name!r}) for each task's state and error.",
                            observe=watch.observe)
        finally:  # a result follows the chart (and says the command) only when the wait ended well
            self.last_rollout = watch.finish(command_below=done is not None)
        dropped.add(reader.node_drops(started))
        if dropped.hosts and notes is not None:
            notes.append(dropped.note(name))
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
