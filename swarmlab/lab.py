"""The Lab: the classic Docker Swarm lab, one method per CLI verb.

Every Swarm step is written here once, over docker-py, so every provider gets it. Each method
returns a result that knows the command it stands for (``result.command``); each step that
changes the swarm waits for it to converge by default (``wait=True``), and is safe to run twice.

::

    lab = Lab("tutorial")                               # provider from SWARMLAB_PROVIDER, else dind
    lab.machine.create("manager1", "worker1", "worker2")
    lab.swarm.init("manager1")                          # docker swarm init --advertise-addr <ip>
    lab.swarm.join("worker1", "worker2")                # docker swarm join --token ... <ip>:2377
    lab.service.create("helloworld", "alpine", "ping", "docker.com")
    lab.service.scale(helloworld=5)
    lab.node.drain("worker1")
    lab.destroy()
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import docker
import docker.errors
import docker.types
import requests

from . import _format as fmt
from ._engine import host_client
from ._errors import (
    DockerError,
    EngineUnavailable,
    ImageNotAvailable,
    InvalidArgument,
    LabNotFound,
    MachineNotFound,
    NodeNotFound,
    ProviderUnavailable,
    ServiceNotFound,
    SwarmlabError,
    SwarmStateError,
    UpdatePaused,
)
from ._results import JoinToken, Output, Table, Text, mask_token
from ._wait import Progress, progress_enabled, wait_for
from .providers import Provider, get_provider
from .providers._base import check_lab_name, check_machine_name, check_machine_names

T = TypeVar("T")

_SERVICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
AVAILABILITIES = ("active", "pause", "drain")
FAILURE_ACTIONS = ("pause", "continue", "rollback")
SWARM_PORT = 2377
#: What `docker service create` puts in UpdateConfig/RollbackConfig when no flag says
#: otherwise (the engine's own defaults differ: parallelism 0 would replace every task at once).
CLI_UPDATE_DEFAULTS: dict[str, Any] = {
    "Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0, "Order": "stop-first",
}


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Wrap docker-py errors at the boundary: 'failed to <verb> <object>: <why>'."""
    try:
        yield
    except SwarmlabError:
        raise
    except docker.errors.APIError as e:
        raise DockerError(f"failed to {what}: {e.explanation or e}") from None
    except (requests.exceptions.ConnectionError, ConnectionError) as e:
        raise EngineUnavailable(f"failed to {what}: the engine did not answer ({e})") from None
    except requests.exceptions.RequestException as e:  # a read timeout, a broken answer
        raise DockerError(f"failed to {what}: {e}") from None
    except docker.errors.DockerException as e:
        raise DockerError(f"failed to {what}: {e}") from None
    except NotImplementedError as e:  # a provider without this verb
        raise ProviderUnavailable(f"failed to {what}: {e}") from None


def _parallel(fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
        return list(pool.map(fn, items))


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def check_replicas(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise InvalidArgument(
            f"replicas for {name!r} must be a whole number of 0 or more, not {value!r}; "
            f"e.g. lab.service.scale({name}=5)"
        )
    if value < 0:
        raise InvalidArgument(
            f"replicas for {name!r} cannot be negative ({value}); use 0 to stop every task, "
            f"or lab.service.rm({name!r}) to remove the service"
        )
    return value


def check_service_name(name: object) -> str:
    if not isinstance(name, str) or not _SERVICE_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid service name {name!r}: use letters, digits, '_', '.' and '-' "
            "(start with a letter or digit, at most 63 characters), e.g. 'helloworld'"
        )
    return name


def image_ref(image: str) -> str:
    """'redis:7.4@sha256:...' -> 'redis:7.4'; 'alpine' -> 'alpine:latest'."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        ref += ":latest"
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    return ref


def _replicas(spec: dict[str, Any]) -> int | None:
    """The replica count a spec asks for; None for a global service (one task per node)."""
    mode = spec.get("Mode", {})
    return int(mode["Replicated"].get("Replicas", 0)) if "Replicated" in mode else None


def _down_nodes(client: docker.DockerClient) -> set[str]:
    return {n["ID"] for n in client.api.nodes() if n.get("Status", {}).get("State") != "ready"}


def _task_running(t: dict[str, Any]) -> bool:
    return bool(t.get("DesiredState") == "running" and t.get("Status", {}).get("State") == "running")


def _task_image(t: dict[str, Any]) -> str:
    return image_ref(t.get("Spec", {}).get("ContainerSpec", {}).get("Image", ""))


def _task_error(t: dict[str, Any]) -> str:
    st = t.get("Status", {})
    return str(st.get("Err") or "")


class Lab:
    """A Docker Swarm lab: a set of machines from one provider, and the swarm on them.

    ``Lab(name)`` makes nothing by itself: machines come from ``lab.machine.create``. A lab
    with machines already running under that name (after a kernel restart) is simply found
    again; :meth:`attach` does the same but insists that it exists.
    """

    def __init__(
        self,
        name: str = "tutorial",
        provider: str | None = None,
        *,
        progress: bool | None = None,
        offline: bool | None = None,
        **provider_options: Any,
    ) -> None:
        self.name = check_lab_name(name)
        self.provider_name = provider or os.environ.get("SWARMLAB_PROVIDER") or "dind"
        self.provider: Provider = get_provider(self.provider_name, self.name, **provider_options)
        self.progress = progress_enabled(progress)
        #: offline: never try a registry; an image no machine has is an error at once
        self.offline = offline if offline is not None else _env_flag("SWARMLAB_OFFLINE")
        self._manager: str | None = None
        self._lock = threading.Lock()
        self.machine = Machines(self)
        self.swarm = Swarm(self)
        self.service = Services(self)
        self.node = Nodes(self)
        self.image = Images(self)

    # -- finding labs ------------------------------------------------------------------
    @classmethod
    def attach(cls, name: str, provider: str | None = None, **options: Any) -> Lab:
        """Find a running lab again by its labels (after a kernel restart, in another notebook)."""
        lab = cls(name, provider, **options)
        if not lab.provider.list():
            raise LabNotFound(
                f"no lab named {name!r} on the {lab.provider_name} provider; "
                f"create it with sl.Lab({name!r}).machine.create('manager1', ...)"
            )
        return lab

    def __repr__(self) -> str:
        return f"Lab({self.name!r}, provider={self.provider_name!r})"

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.destroy()
            return
        try:  # the learner's own error matters more than a failed cleanup
            self.destroy()
        except Exception as cleanup:  # noqa: BLE001
            if hasattr(exc, "add_note"):  # Python 3.11+
                exc.add_note(f"(and destroying lab {self.name!r} failed too: {cleanup})")

    # -- top-level verbs ---------------------------------------------------------------
    def ssh(self, machine: str, command: str) -> Output:
        """Run a shell command on a machine: ``docker-machine ssh MACHINE COMMAND``."""
        check_machine_name(machine)
        with engine_errors(f"run a command on {machine}"):
            out = self.provider.run(machine, command)
        return Output(out.output, f"docker-machine ssh {machine} {shlex.quote(command)}", out.exit_code)

    def info(self, machine: str) -> Text:
        """``docker info`` on a machine, its Swarm section first."""
        check_machine_name(machine)
        with engine_errors(f"read docker info of {machine}"):
            data = self.provider.client(machine).info()
        return Text(command="docker info", body=format_info(data), data=data,
                    notes=[f"on {machine}"])

    def destroy(self) -> Text:
        """Remove every machine, volume and network of the lab (``docker-machine rm -y ...``)."""
        with engine_errors(f"destroy lab {self.name}"):
            names = [m.name for m in self.provider.list()]
            counts = self.provider.destroy()
        self._manager = None
        what = ", ".join(f"{v} {k}" for k, v in counts.items())
        return Text(
            command=f"docker-machine rm -y {' '.join(names)}" if names else "docker-machine rm -y",
            body=f"Removed lab {self.name!r}: {what}." if names else f"Lab {self.name!r} had nothing to remove.",
            data=counts,
        )

    def dashboard(self, refresh: float = 1.5, *, history: bool = False,
                  live: bool | None = None) -> Any:
        """A live picture of the swarm: a column per node, a card per task, with controls.

        In a notebook it refreshes itself every ``refresh`` seconds in the background (unless
        ``live=False`` or ``$SWARMLAB_LIVE=0``); ``history=True`` shows finished tasks too.
        Elsewhere it is a snapshot (text, escaped HTML). See :mod:`swarmlab.views`."""
        from .views import dashboard

        return dashboard(self, refresh, history=history, live=live)

    # -- the public API the commands, views and exercises use ----------------------------
    def client(self, machine: str) -> docker.DockerClient:
        """A docker-py client for a machine's engine (cached by the provider)."""
        return self.provider.client(machine)

    def machines(self, running: bool = True) -> list[str]:
        """The names of the lab's machines (only the running ones unless ``running=False``)."""
        return [m.name for m in self.provider.list() if m.running or not running]

    def manager_client(self) -> docker.DockerClient:
        """A client for a manager of the lab's swarm (see :meth:`manager`)."""
        return self.client(self.manager())

    def engine_logs(self, machines: Sequence[str] | None = None, tail: int = 15) -> str:
        """The last lines of the machines' engine logs (all running machines by default)."""
        return self._logs(machines, tail)

    def forget_manager(self, machine: str | None = None) -> None:
        """Forget the cached manager (only if it is ``machine``, when given)."""
        with self._lock:
            if machine is None or self._manager == machine:
                self._manager = None

    # -- helpers for the namespaces ----------------------------------------------------
    def _client(self, machine: str) -> docker.DockerClient:
        return self.provider.client(machine)

    def _running_machines(self) -> list[str]:
        return [m.name for m in self.provider.list() if m.running]

    def _machine_names(self) -> set[str]:
        return {m.name for m in self.provider.list()}

    def manager(self) -> str:
        """The name of a machine that manages the lab's swarm (the one init ran on, if it is
        still a manager). Raises :class:`SwarmStateError` when there is no swarm yet."""
        with self._lock:
            cached = self._manager
        if cached is not None:
            try:
                if self._client(cached).info()["Swarm"].get("ControlAvailable"):
                    return cached
            except (docker.errors.DockerException, requests.exceptions.RequestException, SwarmlabError):
                pass
        machines = self._running_machines()
        infos = _parallel(lambda m: self._swarm_info_or_none(m), machines)
        for m, info in zip(machines, infos):
            if info and info.get("ControlAvailable"):
                with self._lock:
                    self._manager = m
                return m
        hint = machines[0] if machines else "manager1"
        raise SwarmStateError(
            f"lab {self.name!r} has no swarm yet: run lab.swarm.init({hint!r}) first"
            + ("" if machines else f" (after lab.machine.create({hint!r}, ...))")
        )

    def _swarm_info_or_none(self, machine: str) -> dict[str, Any] | None:
        try:
            return dict(self._client(machine).info()["Swarm"])
        except (docker.errors.DockerException, requests.exceptions.RequestException, SwarmlabError):
            return None

    def _mgr(self) -> docker.DockerClient:
        return self._client(self.manager())

    def _logs(self, machines: Sequence[str] | None = None, tail: int = 15) -> str:
        names = list(machines) if machines is not None else self._running_machines()
        chunks = []
        for m in names:
            text = self.provider.logs(m, tail=tail)
            if text:
                chunks.append(f"--- last lines of {m}'s engine log ---\n{text}")
        return "\n".join(chunks)


# ---------------------------------------------------------------------------------------
class _Namespace:
    def __init__(self, lab: Lab) -> None:
        self._lab = lab

    def __repr__(self) -> str:
        verbs = [n for n in dir(self) if not n.startswith("_")]
        return f"<{type(self).__name__.lower()} commands of {self._lab!r}: {', '.join(verbs)}>"


class Machines(_Namespace):
    """``docker-machine``: create, list, address, stop/start, remove machines."""

    def create(self, *names: str, timeout: float = 90.0) -> Table:
        """Create machines (in parallel), each used only once its engine answers (``timeout``).

        Stands for ``docker-machine create -d virtualbox NAME`` in the original lab. Machines
        that already exist are kept and reported as found."""
        if not names:
            raise InvalidArgument("name at least one machine, e.g. lab.machine.create('manager1')")
        checked = check_machine_names(names)
        with engine_errors(f"create machines {', '.join(checked)}"):
            outcomes = self._lab.provider.create(checked, timeout=timeout)
        notes = []
        made = [o.name for o in outcomes if o.created]
        found = [o for o in outcomes if not o.created]
        if made:
            notes.append(f"Created {', '.join(made)}.")
            security = {o.note for o in outcomes if o.created}
            notes.extend(sorted(security))
        for o in found:
            notes.append(f"{o.name}: {o.note} (nothing to do).")
        table = self.ls()
        table.notes = notes
        table.command = self._lab.provider.create_command(checked)
        return table

    def ls(self) -> Table:
        """``docker-machine ls``: the lab's machines, their state, engine URL and version."""
        machines = self._lab.provider.list()

        def version(m: Any) -> str:
            if not m.running:
                return ""
            try:
                return str(self._lab._client(m.name).version().get("Version", ""))
            except (docker.errors.DockerException, requests.exceptions.RequestException, SwarmlabError):
                return "Unknown"

        versions = _parallel(version, machines)
        rows = [
            (m.name, "-", m.driver, m.state, m.url, m.address, v, m.error)
            for m, v in zip(machines, versions)
        ]
        return Table.of(
            "docker-machine ls",
            ["NAME", "ACTIVE", "DRIVER", "STATE", "URL", "ADDRESS", "DOCKER", "ERRORS"],
            rows,
            data=[m.__dict__ for m in machines],
            colour=["STATE"],
        )

    def ip(self, name: str) -> Output:
        """``docker-machine ip NAME``: the address the machine advertises to the others."""
        check_machine_name(name)
        return Output(self._lab.provider.address(name), f"docker-machine ip {name}")

    def rm(self, *names: str) -> Text:
        """``docker-machine rm -y NAME...``: remove machines (a swarm node of it shows Down).
        A machine that is not there is reported, not an error, so the cell can run twice."""
        if not names:
            raise InvalidArgument("name at least one machine, e.g. lab.machine.rm('worker2')")
        checked = check_machine_names(names)
        known = {m.name for m in self._lab.provider.list()}
        present = [n for n in checked if n in known]
        notes = [f"there is no machine {n!r} (nothing to remove; machines: "
                 f"{', '.join(sorted(known)) or 'none'})." for n in checked if n not in known]
        with engine_errors(f"remove machines {', '.join(present)}"):
            self._lab.provider.remove(present)
        if self._lab._manager in present:
            self._lab._manager = None
        return Text(command=f"docker-machine rm -y {' '.join(checked)}", notes=notes,
                    body="\n".join(f"Successfully removed {n}" for n in present))

    def stop(self, name: str) -> Text:
        """``docker-machine stop NAME``: stop a machine (its node goes Down)."""
        check_machine_name(name)
        with engine_errors(f"stop machine {name}"):
            self._lab.provider.stop(name)
        return Text(command=f"docker-machine stop {name}", body=f'Stopping "{name}"...\nMachine "{name}" was stopped.')

    def start(self, name: str, timeout: float = 90.0) -> Text:
        """``docker-machine start NAME``: start a stopped machine and wait for its engine."""
        check_machine_name(name)
        with engine_errors(f"start machine {name}"):
            self._lab.provider.start(name, timeout)
        return Text(command=f"docker-machine start {name}", body=f'Starting "{name}"...\nMachine "{name}" was started.')

    def ssh(self, name: str, command: str) -> Output:
        """``docker-machine ssh NAME COMMAND`` (the same as ``lab.ssh``)."""
        return self._lab.ssh(name, command)


class Swarm(_Namespace):
    """``docker swarm``: init, join, join-token, leave."""

    def init(self, machine: str, advertise_addr: str | None = None, wait: bool = True,
             timeout: float = 60.0) -> Text:
        """``docker swarm init --advertise-addr <ip of MACHINE>``: make MACHINE the first manager.

        The advertise address is the machine's own address on the lab network (what
        ``docker-machine ip`` prints): the address the other machines reach it at."""
        lab = self._lab
        check_machine_name(machine)
        client = lab._client(machine)
        with engine_errors(f"read the swarm state of {machine}"):
            info = client.info()["Swarm"]
        addr = advertise_addr or lab.provider.address(machine)
        command = f"docker swarm init --advertise-addr {addr}"
        if info.get("LocalNodeState") == "active":
            if not info.get("ControlAvailable"):
                raise SwarmStateError(
                    f"{machine} is already a worker in a swarm; a worker cannot init another. "
                    f"Run lab.swarm.leave({machine!r}) first, or init on a manager."
                )
            lab._manager = machine
            tok = self.join_token("worker", machine=machine)
            return Text(command=command, data={"found": True, "node_id": info.get("NodeID")},
                        notes=[f"{machine} already manages an active swarm (nothing to do)."],
                        body=tok.text())
        # another machine of this lab may manage a swarm already
        try:
            other = lab.manager()
        except SwarmStateError:
            other = None
        if other is not None and other != machine:
            raise SwarmStateError(
                f"lab {lab.name!r} already has a swarm, managed by {other}; add {machine} to it "
                f"with lab.swarm.join({machine!r}) (or role='manager')"
            )
        with engine_errors(f"init a swarm on {machine}"):
            node_id = client.swarm.init(advertise_addr=addr, listen_addr=f"0.0.0.0:{SWARM_PORT}")
        lab._manager = machine
        if wait:
            wait_for(lambda: self._nodes_ready([str(node_id)]), what="swarm init", timeout=timeout,
                     progress=False, logs=lambda: lab._logs([machine]))
        tok = self.join_token("worker", machine=machine)
        body = (f"Swarm initialized: current node ({node_id}) is now a manager.\n\n{tok.text()}\n\n"
                "To add a manager to this swarm, run 'docker swarm join-token manager' and "
                "follow the instructions.")
        return Text(command=command, body=body, data={"found": False, "node_id": node_id,
                                                      "advertise_addr": addr})

    def join_token(self, role: str = "worker", machine: str | None = None) -> JoinToken:
        """``docker swarm join-token ROLE``: the token (masked when shown; ``.reveal()``)."""
        if role not in ("worker", "manager"):
            raise InvalidArgument(f"role={role!r}: use 'worker' or 'manager'")
        lab = self._lab
        name = machine or lab.manager()
        client = lab._client(name)
        with engine_errors("read the join token"):
            attrs = client.api.inspect_swarm()
            info = client.info()["Swarm"]
        token = attrs["JoinTokens"]["Worker" if role == "worker" else "Manager"]
        addr = f"{info.get('NodeAddr')}:{SWARM_PORT}"
        return JoinToken(f"docker swarm join-token {role}", token, role, addr)

    def join(self, *machines: str, role: str = "worker", wait: bool = True,
             timeout: float = 90.0) -> Text:
        """``docker swarm join --token SWMTKN-... <manager ip>:2377`` on each machine (in parallel).

        Waits until the manager lists every one of them Ready. A machine that is already a
        member is reported, not joined twice."""
        lab = self._lab
        if not machines:
            raise InvalidArgument("name at least one machine, e.g. lab.swarm.join('worker1')")
        names = check_machine_names(machines)
        known = {m.name for m in lab.provider.list()}
        missing = [n for n in names if n not in known]
        if missing:
            raise MachineNotFound(
                f"lab {lab.name!r} has no machine {', '.join(map(repr, missing))}; create it "
                f"with lab.machine.create({', '.join(map(repr, missing))}). Nothing was joined."
            )
        if role not in ("worker", "manager"):
            raise InvalidArgument(f"role={role!r}: use 'worker' or 'manager'")
        try:
            manager = lab.manager()
        except SwarmStateError:
            first = sorted(known)[0] if known else "manager1"
            raise SwarmStateError(
                f"there is no swarm to join yet: run lab.swarm.init({first!r}) on the manager "
                f"first, then lab.swarm.join({', '.join(map(repr, names))})"
            ) from None
        tok = self.join_token(role)
        with engine_errors("read the swarm"):
            members = {n["ID"] for n in lab._client(manager).api.nodes()}
        infos = _parallel(lambda m: lab._client(m).info()["Swarm"], names)
        todo, notes, node_ids = [], [], []
        for m, info in zip(names, infos):
            state = info.get("LocalNodeState")
            ours = tok.manager_addr in {r.get("Addr") for r in info.get("RemoteManagers") or []}
            if state == "active" and info.get("NodeID") in members:
                notes.append(f"{m} is already a member of this swarm (nothing to do).")
                node_ids.append(info["NodeID"])
            elif state == "pending" and ours:  # an earlier join still under way
                notes.append(f"{m} is still joining this swarm (waiting for it).")
                node_ids.append(self._joined_node_id(m, timeout))
            elif state in ("active", "pending", "error"):
                raise SwarmStateError(
                    f"{m} is already part of another swarm (state {state}); run "
                    f"lab.swarm.leave({m!r}, force=True) first. Nothing was joined."
                )
            else:
                todo.append(m)

        def join_one(m: str) -> str:
            try:
                with engine_errors(f"join {m} to the swarm"):
                    lab._client(m).swarm.join(
                        remote_addrs=[tok.manager_addr], join_token=tok.reveal(),
                        advertise_addr=lab.provider.address(m), listen_addr=f"0.0.0.0:{SWARM_PORT}",
                    )
            except DockerError as e:
                # a busy engine gives up waiting after a while but keeps joining in the background
                if "Timeout was reached before node joined" not in str(e):
                    raise
            return self._joined_node_id(m, timeout)

        node_ids += _parallel(join_one, todo)
        for m in todo:
            notes.append(f"{m}: This node joined a swarm as a {role}.")
        if wait:
            wait_for(lambda: self._nodes_ready(node_ids), what="swarm join", timeout=timeout,
                     progress=lab.progress, logs=lambda: lab._logs(names),
                     advice="Are the machines' engines running (lab.machine.ls())?")
        return Text(command=tok.join_command(), body="\n".join(notes),
                    data={"joined": todo, "found": [m for m in names if m not in todo]})

    def _joined_node_id(self, machine: str, timeout: float) -> str:
        """The node ID of a machine once its engine says it is in the swarm."""
        def joined() -> Progress:
            info = self._lab._client(machine).info()["Swarm"]
            return Progress(info.get("LocalNodeState") == "active" and bool(info.get("NodeID")),
                            state=f"{machine} is {info.get('LocalNodeState')}", total=1)

        wait_for(joined, what=f"{machine} joining", timeout=timeout, logs=lambda: self._lab._logs([machine]))
        return str(self._lab._client(machine).info()["Swarm"]["NodeID"])

    def _nodes_ready(self, node_ids: Sequence[str]) -> Progress:
        nodes = {n["ID"]: n for n in self._lab._mgr().api.nodes()}
        ready = [i for i in node_ids if nodes.get(i, {}).get("Status", {}).get("State") == "ready"]
        waiting = [nodes.get(i, {}).get("Description", {}).get("Hostname", i[:12])
                   for i in node_ids if i not in ready]
        return Progress(len(ready) == len(node_ids), len(ready), len(node_ids),
                        f"waiting for {', '.join(waiting)}" if waiting else "all Ready")

    def leave(self, machine: str, force: bool = False) -> Text:
        """``docker swarm leave [--force]`` on a machine (a manager needs ``force=True``)."""
        lab = self._lab
        check_machine_name(machine)
        info = lab._swarm_info_or_none(machine) or {}
        cmd = "docker swarm leave" + (" --force" if force else "")
        if info.get("LocalNodeState") == "inactive":
            return Text(command=cmd, notes=[f"{machine} is not in a swarm (nothing to do)."])
        if info.get("ControlAvailable") and not force:
            raise SwarmStateError(
                f"{machine} is a manager: leaving would take the swarm's control with it. "
                f"Use lab.swarm.leave({machine!r}, force=True) if you mean it."
            )
        with engine_errors(f"leave the swarm on {machine}"):
            lab._client(machine).swarm.leave(force=force)
        if lab._manager == machine:
            lab._manager = None
        return Text(command=cmd, body="Node left the swarm.")


class Nodes(_Namespace):
    """``docker node``: ls, inspect, update (drain / activate / pause)."""

    def _all(self) -> list[dict[str, Any]]:
        with engine_errors("list the swarm's nodes"):
            return list(self._lab._mgr().api.nodes())

    def _find(self, name: str, nodes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"node name {name!r}: give a hostname such as 'worker1'")
        nodes = nodes if nodes is not None else self._all()
        # a machine of the lab is its own node, whatever its hostname (an ssh host may differ)
        own = self._lab._swarm_info_or_none(name) if name in self._lab._machine_names() else None
        hits = [n for n in nodes if own and n["ID"] == own.get("NodeID")]
        hits = hits or [n for n in nodes if n["Description"].get("Hostname") == name]
        hits = hits or [n for n in nodes if n["ID"].startswith(name) and len(name) >= 4]
        if len(hits) != 1:
            known = ", ".join(sorted(n["Description"].get("Hostname", "?") for n in nodes))
            if hits:
                raise NodeNotFound(f"{len(hits)} nodes are called {name!r}; use a node ID instead")
            raise NodeNotFound(
                f"the swarm has no node {name!r} (nodes: {known}); run lab.node.ls() to see them"
            )
        return hits[0]

    def ls(self) -> Table:
        """``docker node ls``: ID, HOSTNAME, STATUS, AVAILABILITY, MANAGER STATUS, ENGINE VERSION."""
        lab = self._lab
        mgr = lab.manager()
        client = lab._client(mgr)
        with engine_errors("list the swarm's nodes"):
            nodes = client.api.nodes()
            self_id = client.info()["Swarm"]["NodeID"]
        rows = []
        for n in sorted(nodes, key=lambda n: n["Description"].get("Hostname", "")):
            ms = n.get("ManagerStatus") or {}
            manager_status = "Leader" if ms.get("Leader") else (ms.get("Reachability", "") or "").capitalize()
            rows.append((
                n["ID"][:25] + (" *" if n["ID"] == self_id else ""),
                n["Description"].get("Hostname", ""),
                n["Status"]["State"].capitalize(),
                n["Spec"].get("Availability", "").capitalize(),
                manager_status,
                n["Description"].get("Engine", {}).get("EngineVersion", ""),
            ))
        return Table.of("docker node ls",
                        ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"],
                        rows, data=nodes, colour=["STATUS", "AVAILABILITY", "MANAGER STATUS"],
                        notes=[f"on {mgr}"])

    def inspect(self, name: str, pretty: bool = False) -> Text:
        """``docker node inspect [--pretty] NAME``."""
        node = self._find(name)
        cmd = f"docker node inspect {'--pretty ' if pretty else ''}{name}"
        body = format_node_pretty(node) if pretty else json.dumps(node, indent=4)
        return Text(command=cmd, body=body, data=node)

    def update(self, name: str, availability: str | None = None, wait: bool = True,
               timeout: float = 120.0) -> Text:
        """``docker node update --availability active|pause|drain NAME``.

        Draining waits until no task runs on the node any more and every service has its
        replicas back (on the other nodes)."""
        lab = self._lab
        if availability is None:
            raise InvalidArgument("say what to change, e.g. availability='drain'")
        if availability not in AVAILABILITIES:
            raise InvalidArgument(
                f"availability={availability!r}: use one of {', '.join(map(repr, AVAILABILITIES))}"
            )
        node = self._find(name)
        cmd = f"docker node update --availability {availability} {name}"
        client = lab._mgr()
        notes = []
        with engine_errors("list tasks"):  # before the change: which services must come back
            on_node = {t["ServiceID"] for t in client.api.tasks(filters={"node": node["ID"]})
                       if t.get("DesiredState") == "running"}
        if node["Spec"].get("Availability") == availability:
            notes.append(f"{name} is already {availability} (nothing to change).")
        else:
            with engine_errors(f"update node {name}"):
                fresh = client.api.inspect_node(node["ID"])  # spec and version read together
                spec = copy.deepcopy(fresh["Spec"])
                spec["Availability"] = availability
                client.api.update_node(node["ID"], fresh["Version"]["Index"], spec)
        if wait and availability == "drain":
            services = Services(lab)
            wait_for(lambda: self._drained(node["ID"], services, on_node), what=f"drain {name}",
                     timeout=timeout, progress=lab.progress, logs=lambda: lab._logs())
        body = name
        return Text(command=cmd, body=body, notes=notes, data={"availability": availability})

    def _drained(self, node_id: str, services: Services, service_ids: set[str]) -> Progress:
        """Done when the node runs no task any more and the services that were on it have
        their replicas back elsewhere. A node that is down runs nothing, whatever its last
        report says: only its tasks still meant to run count then."""
        client = self._lab._mgr()
        tasks = client.api.tasks()
        down = _down_nodes(client)
        busy = ("running", "starting", "preparing", "assigned")
        left = [t for t in tasks if t.get("NodeID") == node_id
                and (t.get("DesiredState") == "running"
                     or (node_id not in down and t.get("Status", {}).get("State") in busy))]
        conv = services._convergence(client, tasks, service_ids=service_ids, down=down)
        waiting = [f"{s}: {r}/{d}" for s, (r, d) in conv.items() if r != d]
        done = not left and not waiting
        state = f"{len(left)} task(s) still on the node" if left else (
            "replicas coming back: " + ", ".join(waiting) if waiting else "drained")
        return Progress(done, 0 if left else 1, 1, state)

    def drain(self, name: str, wait: bool = True, timeout: float = 120.0) -> Text:
        """``docker node update --availability drain NAME``: move its tasks elsewhere."""
        return self.update(name, availability="drain", wait=wait, timeout=timeout)

    def activate(self, name: str) -> Text:
        """``docker node update --availability active NAME``: accept new tasks again."""
        return self.update(name, availability="active")

    def pause(self, name: str) -> Text:
        """``docker node update --availability pause NAME``: keep its tasks, take no new ones."""
        return self.update(name, availability="pause")


class Services(_Namespace):
    """``docker service``: create, ls, ps, inspect, scale, update, rollback, rm."""

    #: The last rolling update waited for (a ``swarmlab.views.Rollout``: its chart), or None.
    last_rollout: Any = None

    # -- lookups ---------------------------------------------------------------------
    def _get(self, name: str, client: docker.DockerClient | None = None) -> dict[str, Any]:
        check_service_name(name)
        client = client or self._lab._mgr()
        with engine_errors(f"inspect service {name}"):
            found = [s for s in client.api.services(filters={"name": name})
                     if s["Spec"]["Name"] == name]
        if not found:
            with engine_errors("list services"):
                names = sorted(s["Spec"]["Name"] for s in client.api.services())
            raise ServiceNotFound(
                f"there is no service {name!r} (services: {', '.join(names) or 'none'}); "
                f"create it with lab.service.create({name!r}, IMAGE, ...)"
            )
        return dict(found[0])

    def _convergence(self, client: docker.DockerClient, tasks: list[dict[str, Any]],
                     service_ids: set[str] | None = None,
                     down: Collection[str] = ()) -> dict[str, tuple[int, int]]:
        """service name -> (running tasks, desired replicas) for replicated services."""
        out = {}
        for s in client.api.services():
            if service_ids is not None and s["ID"] not in service_ids:
                continue
            mode = s["Spec"].get("Mode", {})
            if "Replicated" not in mode:
                continue
            want = int(mode["Replicated"].get("Replicas", 0))
            running = sum(1 for t in tasks if t.get("ServiceID") == s["ID"] and _task_running(t)
                          and t.get("NodeID") not in down)
            out[s["Spec"]["Name"]] = (running, want)
        return out

    def _converged(self, name: str, want: int | None, image: str | None = None,
                   svc: dict[str, Any] | None = None) -> Progress:
        """Has the service ``want`` running tasks (on ``image``), and nothing else running?
        ``want=None`` (a global service): every task meant to run is running. Tasks on a node
        that is down are neither running nor stopping: that node runs nothing. ``svc``: the
        service as the caller just read it (one inspect per poll, not two)."""
        client = self._lab._mgr()
        svc = svc or self._get(name, client)
        tasks = client.api.tasks(filters={"service": svc["ID"]})
        down = _down_nodes(client)
        up = [t for t in tasks if t.get("NodeID") not in down]
        live = [t for t in up if t.get("DesiredState") == "running"]
        want = len(live) if want is None else want
        running = [t for t in live if _task_running(t)]
        if image is not None:
            running = [t for t in running if _task_image(t) == image_ref(image)]
        # leftovers of a scale-down still running count against convergence
        stopping = [t for t in up if t.get("DesiredState") != "running"
                    and t.get("Status", {}).get("State") == "running"]
        errors = sorted({_task_error(t) for t in tasks if _task_error(t)
                         and t.get("Status", {}).get("State") in ("failed", "rejected")})
        state = f"{len(running)}/{want} running"
        if stopping:
            state += f", {len(stopping)} stopping"
        if errors:
            state += f"; task errors: {'; '.join(errors[-2:])}"
        done = len(running) == want and len(live) == want and not stopping
        return Progress(done, len(running), want, state)

    def _image_check(self, image: str) -> list[str]:
        """Make sure some machine has the image or can pull it; return notes. Raises
        :class:`ImageNotAvailable` (changing nothing) when none can."""
        lab = self._lab
        machines = lab._running_machines()

        def has(m: str) -> bool:
            try:
                lab._client(m).images.get(image)
                return True
            except docker.errors.ImageNotFound:
                return False
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                return False

        present = [m for m, ok in zip(machines, _parallel(has, machines)) if ok]
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
                    lab._client(mgr).images.pull(repo, tag=tag)
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
               mode: str = "replicated", publish: dict[int, int] | None = None,
               publish_mode: str = "host", endpoint_mode: str | None = None,
               env: dict[str, str] | None = None, labels: dict[str, str] | None = None,
               constraints: Sequence[str] = (), wait: bool = True,
               timeout: float | None = None) -> Text:
        """``docker service create --replicas N --name NAME IMAGE ARGS...``.

        Waits until the replicas run. Running the same create twice finds the service and
        leaves it as asked; a create that differs from the existing service is refused."""
        lab = self._lab
        check_service_name(name)
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            raise InvalidArgument(f"image {image!r}: give an image name such as 'alpine' or 'redis:7.2'")
        replicas = check_replicas(name, replicas)
        if mode not in ("replicated", "global"):
            raise InvalidArgument(f"mode={mode!r}: use 'replicated' or 'global'")
        update = _update_config(update_delay, update_parallelism, update_failure_action, update_order)
        if publish_mode not in ("host", "ingress"):
            raise InvalidArgument(f"publish_mode={publish_mode!r}: use 'host' or 'ingress'")
        if endpoint_mode not in (None, "vip", "dnsrr"):
            raise InvalidArgument(f"endpoint_mode={endpoint_mode!r}: use 'vip' or 'dnsrr'")
        args = tuple(str(a) for a in args)
        _check_create_options(publish, env, labels, constraints)
        cmd = _create_command(name, image, args, replicas, mode, update_delay, update_parallelism,
                              update_failure_action, update_order, publish, publish_mode,
                              endpoint_mode, env, labels, constraints)
        client = lab._mgr()
        with engine_errors("list services"):
            existing = [s for s in client.api.services(filters={"name": name})
                        if s["Spec"]["Name"] == name]
        notes: list[str] = []
        if existing:
            spec = existing[0]["Spec"]
            differ = _spec_differences(spec, image, args, mode, update, publish, env, labels, constraints)
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
            notes += self._image_check(image)
            endpoint = None
            if publish or endpoint_mode:
                ports = {int(p): (int(t), "tcp", publish_mode) for p, t in (publish or {}).items()}
                endpoint = docker.types.EndpointSpec(mode=endpoint_mode, ports=ports or None)
            with engine_errors(f"create service {name}"):
                svc = client.services.create(
                    image, name=name, args=list(args) or None,
                    mode=docker.types.ServiceMode(mode, replicas if mode == "replicated" else None),
                    update_config={**CLI_UPDATE_DEFAULTS, **update},
                    rollback_config=dict(CLI_UPDATE_DEFAULTS), env=[f"{k}={v}" for k, v in (env or {}).items()] or None,
                    labels=labels, constraints=list(constraints) or None, endpoint_spec=endpoint,
                )
            service_id = svc.id
        if wait and mode == "replicated":
            self._wait_replicas(name, replicas, timeout)
        body = service_id if not existing else ""
        if wait and mode == "replicated":
            body += f"\noverall progress: {replicas} out of {replicas} tasks\nverify: Service converged"
        return Text(command=cmd, body=body.strip(), notes=notes, data={"id": service_id})

    def _wait_replicas(self, name: str, want: int, timeout: float | None,
                       image: str | None = None) -> Progress:
        lab = self._lab
        return wait_for(lambda: self._converged(name, want, image), what=f"service {name}",
                        timeout=timeout or 60.0 + 5.0 * want, progress=lab.progress,
                        logs=lambda: lab._logs(tail=8),
                        advice=f"See lab.service.ps({name!r}) for each task's error.")

    def ls(self) -> Table:
        """``docker service ls``: ID, NAME, MODE, REPLICAS (running/desired), IMAGE, PORTS."""
        client = self._lab._mgr()
        with engine_errors("list services"):
            services = client.api.services()
            tasks = client.api.tasks(filters={"desired-state": "running"})
        rows = []
        for s in sorted(services, key=lambda s: s["Spec"]["Name"]):
            spec = s["Spec"]
            mode = spec.get("Mode", {})
            running = sum(1 for t in tasks if t.get("ServiceID") == s["ID"] and _task_running(t))
            if "Replicated" in mode:
                kind, replicas = "replicated", f"{running}/{mode['Replicated'].get('Replicas', 0)}"
            else:
                kind, replicas = "global", f"{running}/{sum(1 for t in tasks if t.get('ServiceID') == s['ID'])}"
            rows.append((s["ID"][:12], spec["Name"], kind, replicas,
                         spec["TaskTemplate"]["ContainerSpec"].get("Image", "").split("@")[0],
                         _ports(s)))
        return Table.of("docker service ls", ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"],
                        rows, data=services)

    def ps(self, name: str) -> Table:
        """``docker service ps NAME``: every task, where it runs, its state; history as ``\\_``."""
        client = self._lab._mgr()
        svc = self._get(name, client)
        with engine_errors(f"list the tasks of {name}"):
            tasks = client.api.tasks(filters={"service": svc["ID"]})
            nodes = {n["ID"]: n["Description"].get("Hostname", "") for n in client.api.nodes()}
        return Table.of(f"docker service ps {name}", PS_COLUMNS, ps_rows(name, tasks, nodes),
                        data=tasks, colour=["DESIRED STATE", "CURRENT STATE"])

    def inspect(self, name: str, pretty: bool = False) -> Text:
        """``docker service inspect [--pretty] NAME``."""
        svc = self._get(name)
        cmd = f"docker service inspect {'--pretty ' if pretty else ''}{name}"
        body = format_service_pretty(svc) if pretty else json.dumps(svc, indent=4)
        return Text(command=cmd, body=body, data=svc)

    def scale(self, wait: bool = True, timeout: float | None = None, **replicas: int) -> Text:
        """``docker service scale NAME=N ...``: waits until N tasks run (or the extra ones stop)."""
        lab = self._lab
        if not replicas:
            raise InvalidArgument("say which service to scale, e.g. lab.service.scale(helloworld=5)")
        wanted = {check_service_name(n): check_replicas(n, r) for n, r in replicas.items()}
        client = lab._mgr()
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
                _update_service(client, s["ID"], s["Version"]["Index"], spec)
            lines.append(f"{n} scaled to {want}")
        if wait:
            for n, want in wanted.items():
                self._wait_replicas(n, want, timeout)
                lines.append(f"{n}: overall progress: {want} out of {want} tasks; verify: Service converged")
        return Text(command=cmd, body="\n".join(lines), data=wanted)

    def update(self, name: str, image: str | None = None, *, replicas: int | None = None,
               args: Sequence[str] | None = None, update_delay: str | float | None = None,
               update_parallelism: int | None = None, update_failure_action: str | None = None,
               update_order: str | None = None, force: bool = False, wait: bool = True,
               timeout: float | None = None) -> Text:
        """``docker service update --image IMAGE NAME``: a rolling update.

        Tasks are replaced ``update_parallelism`` at a time, ``update_delay`` apart (the
        service's UpdateConfig). Waits until every task runs the new image; if the update
        pauses on failures, raises :class:`UpdatePaused` with the engine's reason."""
        lab = self._lab
        client = lab._mgr()
        svc = self._get(name, client)
        if image is not None and (not isinstance(image, str) or not image or any(c.isspace() for c in image)):
            raise InvalidArgument(f"image {image!r}: give an image name such as 'redis:7.4'")
        if replicas is not None:
            replicas = check_replicas(name, replicas)
        update = _update_config(update_delay, update_parallelism, update_failure_action, update_order)
        spec = copy.deepcopy(svc["Spec"])
        cs = spec["TaskTemplate"]["ContainerSpec"]
        flags = _update_flags(update_delay, update_parallelism, update_failure_action, update_order)
        notes: list[str] = []
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
                _update_service(client, svc["ID"], svc["Version"]["Index"], spec)
        lines = [name]
        if wait:
            lines += self._wait_rollout(name, _replicas(spec), cs["Image"], spec, timeout)
        return Text(command=cmd, body="\n".join(lines), notes=notes,
                    data={"image": cs["Image"], "replicas": spec.get("Mode", {}).get("Replicated", {}).get("Replicas")})

    def _wait_rollout(self, name: str, want: int | None, image: str, spec: dict[str, Any],
                      timeout: float | None) -> list[str]:
        lab = self._lab
        uc = spec.get("UpdateConfig") or {}
        delay = float(uc.get("Delay", 0)) / 1e9
        par = int(uc.get("Parallelism", 1) or 1)
        batches = max(1, -(-(want or 1) // par))
        budget = timeout or 90.0 + batches * (delay + 15.0)

        def check() -> Progress:
            client = lab._mgr()
            svc = self._get(name, client)
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
            p = self._converged(name, want, image, svc)
            if state == "updating":
                p.done = False
                p.state = f"updating: {p.state}"
            return p

        from .views import RolloutWatch  # the rollout view; shown only with progress on

        shown_want = want if want is not None else self._converged(name, None).total  # global: one a node
        watch = RolloutWatch(lab, name, image, shown_want, show=lab.progress)
        try:
            done = wait_for(check, what=f"rolling update of {name}", timeout=budget,
                            progress=lab.progress, interval=0.5, logs=lambda: lab._logs(tail=8),
                            advice=f"See lab.service.ps({name!r}) for each task's state and error.",
                            observe=watch.observe)
        finally:
            self.last_rollout = watch.finish()
        return [f"overall progress: {done.n} out of {done.total} tasks", "verify: Service converged"]

    def rollback(self, name: str, wait: bool = True, timeout: float | None = None) -> Text:
        """``docker service rollback NAME``: go back to the previous spec (e.g. the old image)."""
        lab = self._lab
        client = lab._mgr()
        svc = self._get(name, client)
        prev = svc.get("PreviousSpec")
        if not prev:
            raise SwarmStateError(f"{name} has no previous version to roll back to (it was never updated)")
        with engine_errors(f"roll back service {name}"):
            resp = client.api._post_json(  # the engine's own rollback; docker-py has no argument for it
                client.api._url("/services/{0}/update", svc["ID"]), data=svc["Spec"],
                params={"version": svc["Version"]["Index"], "rollback": "previous"},
            )
            client.api._raise_for_status(resp)
        lines = [name, "rollback: manually requested rollback"]
        if wait:
            want = _replicas(prev)
            image = prev["TaskTemplate"]["ContainerSpec"]["Image"]
            budget = timeout or 90.0 + (want or 3) * 15.0
            done = wait_for(lambda: self._rolled_back(name, want, image), what=f"rollback of {name}",
                            timeout=budget, progress=lab.progress, interval=0.5,
                            logs=lambda: lab._logs(tail=8))
            lines += [f"overall progress: rolling back update: {done.n} out of {done.total} tasks",
                      "verify: Service converged"]
        return Text(command=f"docker service rollback {name}", body="\n".join(lines))

    def _rolled_back(self, name: str, want: int | None, image: str) -> Progress:
        svc = self._get(name)
        p = self._converged(name, want, image, svc)
        state = (svc.get("UpdateStatus") or {}).get("State", "")
        if state and state != "rollback_completed":
            p.done = False
        return p

    def rm(self, *names: str, wait: bool = True, timeout: float = 90.0) -> Text:
        """``docker service rm NAME...``: remove services; waits until their tasks' containers
        are gone from every machine. A service that is not there is reported, not an error."""
        lab = self._lab
        if not names:
            raise InvalidArgument("say which service to remove, e.g. lab.service.rm('helloworld')")
        client = lab._mgr()
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
            wait_for(lambda: self._containers_gone(present), what="service rm", timeout=timeout,
                     progress=lab.progress, logs=lambda: lab._logs(tail=8))
        return Text(command=f"docker service rm {' '.join(names)}", body="\n".join(present), notes=notes)

    def _containers_gone(self, names: list[str]) -> Progress:
        lab = self._lab
        machines = lab._running_machines()

        def count(m: str) -> int:
            containers = lab._client(m).api.containers(
                all=True, filters={"label": "com.docker.swarm.service.name"})
            return sum(1 for c in containers
                       if c["Labels"].get("com.docker.swarm.service.name") in names)

        left = sum(_parallel(count, machines))
        return Progress(left == 0, 0 if left else 1, 1, f"{left} task container(s) still on the machines")


class Images(_Namespace):
    """Images on the machines: ``load`` them from this computer's engine, no registry needed."""

    def load(self, *images: str, machines: Sequence[str] | None = None) -> Table:
        """``docker save IMAGE | docker load`` into every machine that lacks it.

        The image is saved once from this computer's engine and loaded into the machines in
        parallel; machines that already have the same image ID are skipped (as ``kind load
        docker-image`` does)."""
        lab = self._lab
        if not images:
            raise InvalidArgument("name at least one image, e.g. lab.image.load('swarmlab/busybox')")
        host = getattr(lab.provider, "host", None) or host_client()
        targets = check_machine_names(machines) if machines else lab._running_machines()
        known = {m.name for m in lab.provider.list()}
        missing = [m for m in targets if m not in known]
        if missing or not targets:
            raise MachineNotFound(
                f"lab {lab.name!r} has no machine {', '.join(map(repr, missing))}" if missing
                else f"lab {lab.name!r} has no running machines to load images into; create them first"
            )
        ids = {}
        for img in images:
            try:
                ids[img] = host.images.get(img).id
            except docker.errors.ImageNotFound:
                raise ImageNotAvailable(
                    f"image {img!r} is not on this computer's engine, so it cannot be loaded into "
                    f"the machines. Pull it ('docker pull {img}') or build the offline images "
                    f"with scripts/build-images."
                ) from None
        rows = []
        for img in images:
            def lacks(m: str, img: str = img) -> bool:
                try:
                    return bool(lab._client(m).images.get(img).id != ids[img])
                except docker.errors.ImageNotFound:
                    return True
            need = [m for m, lack in zip(targets, _parallel(lacks, targets)) if lack]
            if need:
                with tempfile.TemporaryDirectory(prefix="swarmlab-load-") as tmp:
                    archive = os.path.join(tmp, "image.tar")
                    with engine_errors(f"save {img}"), open(archive, "wb") as f:
                        image = host.images.get(img)
                        # save under the name asked for, not whichever tag comes first
                        named: str | bool = image_ref(img) if image_ref(img) in image.tags else True
                        for chunk in image.save(named=named):
                            f.write(chunk)

                    def load(m: str, archive: str = archive, img: str = img) -> None:
                        with engine_errors(f"load {img} into {m}"), open(archive, "rb") as f:
                            lab._client(m).images.load(f)

                    _parallel(load, need)
            rows += [(m, img, "loaded" if m in need else "already there") for m in targets]
        return Table.of(
            " ; ".join(f"docker save {i} | docker load  (into each machine)" for i in images),
            ["MACHINE", "IMAGE", "RESULT"], rows)

    def ls(self, machine: str) -> Table:
        """``docker image ls`` on a machine."""
        check_machine_name(machine)
        with engine_errors(f"list images on {machine}"):
            imgs = self._lab._client(machine).api.images()
        rows = []
        for i in imgs:
            for tag in i.get("RepoTags") or ["<none>:<none>"]:
                repo, _, t = tag.rpartition(":")
                rows.append((repo, t, i["Id"].split(":")[-1][:12], f"{i.get('Size', 0) / 1e6:.1f}MB"))
        return Table.of("docker image ls", ["REPOSITORY", "TAG", "IMAGE ID", "SIZE"], sorted(rows),
                        notes=[f"on {machine}"])


# ---------------------------------------------------------------------------------------
# pure helpers (unit-tested without an engine)

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


def _ports(svc: dict[str, Any]) -> str:
    # as the CLI's `service ls`: only ports published through the routing mesh
    ports = [p for p in (svc.get("Endpoint") or {}).get("Ports") or []
             if p.get("PublishMode", "ingress") == "ingress"]
    return ", ".join(f"*:{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol', 'tcp')}" for p in ports)


def _check_create_options(publish: object, env: object, labels: object, constraints: object) -> None:
    """Validate the shapes of create's optional arguments before anything happens."""
    if publish is not None and (not isinstance(publish, dict) or not all(
            isinstance(p, int) and isinstance(t, int) and not isinstance(p, bool)
            and 0 < p < 65536 and 0 < t < 65536 for p, t in publish.items())):
        raise InvalidArgument(
            f"publish={publish!r}: give {{published port: target port}} as numbers 1-65535, "
            "e.g. publish={8080: 80}")
    for what, value in (("env", env), ("labels", labels)):
        if value is not None and (not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            raise InvalidArgument(f"{what}={value!r}: give a dict of strings, e.g. {what}={{'KEY': 'value'}}")
    if isinstance(constraints, str) or not all(isinstance(c, str) for c in constraints):  # type: ignore[attr-defined]
        raise InvalidArgument(
            f"constraints={constraints!r}: give a list of strings, e.g. constraints=['node.role==worker']")


def _spec_differences(spec: dict[str, Any], image: str, args: Sequence[str], mode: str,
                      update: dict[str, Any], publish: dict[int, int] | None,
                      env: dict[str, str] | None, labels: dict[str, str] | None,
                      constraints: Sequence[str]) -> list[str]:
    """What of a create's request an existing service does not have (replicas aside)."""
    cs = spec["TaskTemplate"]["ContainerSpec"]
    out = []
    if image_ref(cs.get("Image", "")) != image_ref(image):
        out.append(f"image ({cs.get('Image')})")
    if tuple(cs.get("Args") or ()) != tuple(args):
        out.append(f"command ({shlex.join(cs.get('Args') or [])!r})")
    if ("Replicated" in spec.get("Mode", {})) != (mode == "replicated"):
        out.append("mode")
    have_update = spec.get("UpdateConfig") or {}
    if any(have_update.get(k) != v for k, v in {**CLI_UPDATE_DEFAULTS, **update}.items()):
        out.append("update config")
    if sorted(cs.get("Env") or []) != sorted(f"{k}={v}" for k, v in (env or {}).items()):
        out.append("env")
    if (spec.get("Labels") or {}) != (labels or {}):
        out.append("labels")
    placement = spec["TaskTemplate"].get("Placement") or {}
    if sorted(placement.get("Constraints") or []) != sorted(constraints):
        out.append("constraints")
    have_ports = {(p.get("PublishedPort"), p.get("TargetPort"))
                  for p in (spec.get("EndpointSpec") or {}).get("Ports") or []}
    if have_ports != {(p, t) for p, t in (publish or {}).items()}:
        out.append("published ports")
    return out


def _update_config(delay: object, parallelism: object, failure_action: object,
                   order: object) -> dict[str, Any]:
    """Validated UpdateConfig fields (engine names) for the given options."""
    out: dict[str, Any] = {}
    if delay is not None:
        out["Delay"] = int(fmt.parse_duration(delay, "update_delay") * 1e9)
    if parallelism is not None:
        if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 0:
            raise InvalidArgument(f"update_parallelism={parallelism!r}: a whole number, 0 meaning all at once")
        out["Parallelism"] = parallelism
    if failure_action is not None:
        if failure_action not in FAILURE_ACTIONS:
            raise InvalidArgument(
                f"update_failure_action={failure_action!r}: use one of {', '.join(map(repr, FAILURE_ACTIONS))}")
        out["FailureAction"] = failure_action
    if order is not None:
        if order not in ("stop-first", "start-first"):
            raise InvalidArgument(f"update_order={order!r}: use 'stop-first' or 'start-first'")
        out["Order"] = order
    return out


def _update_flags(delay: object, parallelism: object, failure_action: object, order: object) -> list[str]:
    """The CLI flags for the UpdateConfig options given (already validated)."""
    flags = []
    if delay is not None:
        flags.append(f"--update-delay {fmt.format_duration(fmt.parse_duration(delay, 'update_delay'))}")
    if parallelism is not None:
        flags.append(f"--update-parallelism {parallelism}")
    if failure_action is not None:
        flags.append(f"--update-failure-action {failure_action}")
    if order is not None:
        flags.append(f"--update-order {order}")
    return flags


def _create_command(name: str, image: str, args: Sequence[str], replicas: int, mode: str,
                    delay: object, parallelism: object, failure_action: object, order: object,
                    publish: dict[int, int] | None, publish_mode: str, endpoint_mode: str | None,
                    env: dict[str, str] | None, labels: dict[str, str] | None,
                    constraints: Sequence[str]) -> str:
    parts = ["docker service create"]
    if mode == "global":
        parts.append("--mode global")
    else:
        parts.append(f"--replicas {replicas}")
    parts.append(f"--name {name}")
    parts += _update_flags(delay, parallelism, failure_action, order)
    for p, t in (publish or {}).items():
        parts.append(f"--publish published={p},target={t},mode={publish_mode}")
    if endpoint_mode:
        parts.append(f"--endpoint-mode {endpoint_mode}")
    for k, v in (env or {}).items():
        parts.append(f"--env {shlex.quote(f'{k}={v}')}")
    for k, v in (labels or {}).items():
        parts.append(f"--label {shlex.quote(f'{k}={v}')}")
    for c in constraints:
        parts.append(f"--constraint {shlex.quote(c)}")
    parts.append(image)
    parts += [shlex.quote(a) for a in args]
    return " ".join(parts)


def _update_service(client: docker.DockerClient, service_id: str, version: int,
                    spec: dict[str, Any]) -> None:
    """POST a whole service spec (docker-py's update_service drops fields it is not given)."""
    resp = client.api._post_json(
        client.api._url("/services/{0}/update", service_id), data=spec, params={"version": version}
    )
    client.api._raise_for_status(resp)


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


__all__ = ["Lab", "mask_token"]
