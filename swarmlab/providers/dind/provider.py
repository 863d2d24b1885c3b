"""The dind provider: a lab's machines as Docker-in-Docker containers on the local engine.
What each step does to the engine is here; names and trust are in :mod:`.names`, making one
machine in :mod:`.machine`, the host engine's facts in :mod:`.engine`, the network in
:mod:`.network`, the room for a lab in :mod:`.room`, destroy in :mod:`.teardown`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from ... import _home
from ... import _tls as tls
from ..._engine import engine_client, host_client
from ..._errors import DockerError, InvalidArgument
from ..._exec import exec_output
from ..._util import error_text, parallel_map
from ..base import (
    LABEL_MACHINE,
    Capabilities,
    CreateOutcome,
    FoundLab,
    LabListing,
    MachineEvents,
    MachineInfo,
    Provider,
    RunOutput,
    check_machine_name,
    check_machine_names,
    is_name,
    owner,
)
from . import engine, labs, limits, machine, mirror, neighbours, network, room, teardown
from .machine import START_AT_ONCE, NotYet
from .names import (
    LABEL_SECURITY,
    LabNames,
    found_containers,
    found_networks,
    found_volumes,
    left_alone_notes,
    the_container,
)

#: How long ``remove`` and ``destroy`` wait for another process changing the same lab.
LOCK_WAIT = 300.0


class DindProvider(Provider):
    """Machines as Docker-in-Docker containers on the local engine."""

    name = "dind"
    CAPABILITIES = Capabilities(shares_host_kernel=True, routing_mesh=None, memory_limits=True, boot_seconds=5.0,
                                shared_engine=True, registry_mirror="")

    def __init__(
        self,
        lab: str,
        node_image: str | None = None,
        security: str = "auto",
        api: str = "auto",
        host: docker.DockerClient | None = None,
        registry_mirror: str | None = None,
        memory: str | int | None = None,
        cpus: float | None = None,
        owner_of: str | None = None,
    ) -> None:
        super().__init__(lab)
        if security not in ("auto", "privileged", "capabilities"):
            raise InvalidArgument(
                f"security={security!r}: use 'auto', 'privileged' or 'capabilities'"
            )
        if api not in ("auto", "socket", "tls"):
            raise InvalidArgument(f"api={api!r}: use 'auto', 'socket' or 'tls'")
        #: who this lab belongs to on a shared engine (the owner label's value): this user,
        #: or for root (``swarmlab gc --all-users``) the user ``owner_of`` names
        self.owner = owner()
        if owner_of is not None and owner_of != self.owner:
            if self.owner != "0":
                raise InvalidArgument(f"owner_of={owner_of!r}: only root may act on another user's lab")
            if not is_name(owner_of, "owner"):
                raise InvalidArgument(f"owner_of={owner_of!r}: give a user id, e.g. '1000'")
            self.owner = owner_of
        #: what this lab's things are called, and whether a thing found is one of them
        self.names = LabNames(self.lab, self.owner, self.name)
        #: the engine the machines run on (also :meth:`host_engine`)
        self.host = host or host_client()
        #: how swarmlab reaches the machines' engines: "socket" or "tls"
        self.api = engine.choose_api(self.host, api)
        self._rootless: bool | None = None
        self.node_image = node_image or engine.default_node_image(self.host, rootless=self.rootless)
        self._security = security
        self._capabilities: Capabilities | None = None
        #: the registry mirror each new machine's dockerd uses (``--registry-mirror``), or ""
        self.registry_mirror = mirror.lab_mirror(registry_mirror)
        # each new machine's memory and CPUs (docker run --memory --cpus): what was asked,
        # else the classroom's limit (limits.py), settled when machines are made
        self._asked = (memory, cpus)
        if memory is not None:
            limits.memory_bytes(memory)
        if cpus is not None:
            limits.cpus_value(cpus)
        self.machine_memory: int | None = None
        self.machine_cpus: float | None = None
        #: why the limits file SWARMLAB_LIMITS names was not used ("" when it was)
        self.limits_note = ""

    @property
    def rootless(self) -> bool:
        """Whether the engine runs rootless (its machines' dockerd then does too)."""
        if self._rootless is None:  # read once: asked for each machine made
            self._rootless = engine.is_rootless(self.host.info())
        return self._rootless

    @property
    def capabilities(self) -> Capabilities:
        """On a rootless engine: rootless, and memory limits only where it applies them (cgroup v2)."""
        if self._capabilities is None:  # read once, as :attr:`rootless`
            info = self.host.info() if self.rootless else {}
            limited = not self.rootless or bool(info.get("MemoryLimit") and info.get("CpuCfsQuota"))
            self._capabilities = replace(self.CAPABILITIES, rootless=self.rootless, memory_limits=limited,
                                         registry_mirror=self.registry_mirror)
        return self._capabilities

    def readiness(self, host: docker.DockerClient) -> list[tuple[bool | None, str]]:
        return engine.readiness(host)

    @classmethod
    def list_labs(cls, owners: Sequence[str] | None = None, *, engine: docker.DockerClient | None = None,
                  whose: str = "", lab: str | None = None, remains: bool = False) -> LabListing:
        return labs.list_labs(owners, engine=engine, whose=whose, lab=lab, remains=remains)

    @classmethod
    def machine_events(cls, found: FoundLab, engine: docker.DockerClient, since: float | None, until: float,
                       fmt: str, deadline: float) -> list[MachineEvents]:
        return labs.machine_events(found, engine, since, until, fmt, deadline)

    # -- names and places (see LabNames) --------------------------------------------------
    @property
    def network_name(self) -> str:
        return self.names.network

    def container_name(self, machine: str) -> str:
        return self.names.container(machine)

    def volume_name(self, machine: str) -> str:
        return self.names.volume(machine)

    def lab_dir(self, create: bool = False) -> Path:
        return self.names.lab_dir(create)

    def socket_path(self, machine: str) -> Path:
        return self.names.socket_path(machine)

    def tls_dir(self) -> Path:
        return self.names.tls_dir()

    def left_alone(self) -> list[str]:
        return left_alone_notes(self.host, self.names)

    def _found(self, machine: str | None = None) -> list[Any]:
        return found_containers(self.host, self.names, machine)

    def _container(self, machine: str) -> Any:
        return the_container(self.host, self.names, machine)

    @contextmanager
    def _locked(self, timeout: float) -> Iterator[None]:
        """One process (or thread) at a time changes this lab's machines."""
        with _home.locked(lambda: self.lab_dir(create=True), f"the machines of lab {self.lab!r}", timeout):
            yield

    # -- security mode -------------------------------------------------------------------
    def security(self) -> str:
        """'privileged' or 'capabilities': how this lab's machines were started."""
        for c in self._found():
            return str(c.labels[LABEL_SECURITY])
        return self._security

    describe_security = staticmethod(engine.describe_security)

    def _security_mode(self) -> str:
        if self._security != "auto":
            return self._security
        return engine.remembered_security(self.host)

    # -- machines ------------------------------------------------------------------------
    def create(self, names: Sequence[str], timeout: float = 60.0) -> list[CreateOutcome]:
        names = check_machine_names(names)
        if self.api == "socket":
            for n in names:
                if len(str(self.socket_path(n)).encode()) > 107:  # sockaddr_un's limit
                    raise InvalidArgument(
                        f"the socket path for machine {n!r} ({self.socket_path(n)}) is longer than "
                        f"unix sockets allow (107 bytes): use a shorter lab or machine name, or set "
                        f"SWARMLAB_HOME to a shorter folder"
                    )
        # a lab too big for this computer is refused before anything is made
        found = {c.labels[LABEL_MACHINE] for c in self._found()}
        self._check_room(len(found | set(names)))
        limited = self._check_limits([n for n in names if n not in found])
        if mirror.is_local(self.registry_mirror) and set(names) - found:
            mirror.Mirror(self.host, self.names.owner).require()  # running, or refused now
        # every folder (and the lab's CA) is checked before anything is made on the engine
        folder = self.lab_dir(create=True)
        if self.api == "socket":
            for n in names:
                if os.path.lexists(folder / n):
                    _home.check_private_dir(folder / n, f"the socket folder of machine {n!r}")
        else:
            tls.client_certs(self.tls_dir())
        wait = max(LOCK_WAIT, 2 * timeout + 60)
        # counted again, and made, under the learner's own lock (limits.counting)
        with limits.counting(lambda: self.lab_dir(create=True).parent, wait, limited), self._locked(wait):
            if limited:
                self._check_limits([n for n in names if n not in {c.labels[LABEL_MACHINE] for c in self._found()}])
            return self._create(names, timeout)

    def _create(self, names: list[str], timeout: float) -> list[CreateOutcome]:
        existing = {c.labels[LABEL_MACHINE]: c for c in self._found()}
        todo = [n for n in names if n not in existing]
        outcomes: dict[str, CreateOutcome] = {}
        for n in names:
            if n in existing:
                c = existing[n]
                if c.status != "running":
                    self.start(n, timeout)
                    outcomes[n] = CreateOutcome(n, False, "found it stopped; started it")
                else:
                    outcomes[n] = CreateOutcome(n, False, "already exists and is running")
        if not todo and mirror.is_local(self.registry_mirror):
            with suppress(mirror.MirrorError):  # not running: its pulls go to Docker Hub meanwhile
                self._join_mirror()  # again after a 'swarmlab mirror down' and 'up'
        if todo:
            self._ensure_node_image()
            made_network = self._ensure_network()
            mode = self._security_mode()
            if mode == "auto":  # learned off the lab's network: see engine.probe_security
                mode = engine.probe_security(self.host, self.node_image, self.names.labels("probe"))
            made: dict[str, str | None] = {}  # machine -> the container this call made (id)
            try:
                if mirror.is_local(self.registry_mirror):
                    self._join_mirror()
                addresses = self._free_addresses(todo)
                # the host engine starts many containers at once well; a big lab's engines
                # are asked whether they answer less often, as they share the CPU with us
                modes = parallel_map(lambda n: machine.start_machine(self, n, mode, made, addresses.get(n, "")),
                                     todo, limit=START_AT_ONCE)
                every = 0.05 if len(todo) <= 10 else 0.5
                parallel_map(lambda n: machine.wait_ready(self, n, timeout, interval=every), todo,
                             limit=START_AT_ONCE)
            except BaseException:
                # a half-made machine is no use to anyone: take away what this call made,
                # and only that (another process may be using the rest)
                self._undo(made, made_network)
                raise
            warning = " ".join(w for w in (self.limits_note, self._rootless_warning()) if w)
            for n, m in zip(todo, modes):
                note = self.describe_security(m) if n in made else "another program made it just now"
                outcomes[n] = CreateOutcome(n, n in made, note, warning if n in made else "")
        return [outcomes[n] for n in names]

    def _rootless_warning(self) -> str:
        """What a rootless engine changes for the machines, said where they are made."""
        if not self.rootless:
            return ""
        said = ("The engine runs rootless (in your user namespace), so each machine's dockerd runs with "
                "--rootless too: its tasks run without cgroups.")
        info = self.host.info()
        if (self.machine_memory or self.machine_cpus) and not (info.get("MemoryLimit") and info.get("CpuCfsQuota")):
            said += (" It cannot apply the classroom's memory and CPU limits either (a rootless engine on "
                     "cgroup v1): the machines run without them.")
        return said

    def _join_mirror(self) -> None:
        """This computer's registry mirror on the lab's network, at an address no machine
        has or keeps (a stopped machine gets its own back when started)."""
        free = self._free_addresses([mirror.ALIAS]).get(mirror.ALIAS, "")
        mirror.Mirror(self.host, self.names.owner).join(self.network_name, free)

    def _check_limits(self, new: list[str]) -> bool:
        """The classroom's limits (:mod:`.limits`): the machines' memory and CPUs settled,
        and a learner with too many machines refused, before anything is made; whether
        the new machines were counted against a limit."""
        lim = limits.read(self.names.owner)
        self.limits_note = lim.note
        self.machine_memory, self.machine_cpus = lim.machine_resources(*self._asked)
        return room.check_learner(self.host, self.names, lim, new)

    def _check_room(self, machines: int) -> None:
        """Refuse, before anything is made, a lab too big for the kernel's neighbour table."""
        room.check_kernel(self.host, self.names, machines)

    def unreachable_hint(self, said: str) -> str:
        low = said.lower()
        if "no route to host" in low or "i/o timeout" in low:
            return neighbours.OVERFLOW_HINT
        return ""

    def _ensure_node_image(self) -> None:
        engine.ensure_node_image(self.host, self.node_image, rootless=self.rootless)

    def _ensure_network(self) -> bool:
        """Make the lab's network unless it is there; return whether this call made it."""
        return network.ensure(self)

    def _free_addresses(self, names: Sequence[str]) -> dict[str, str]:
        net = self._lab_network()
        machines = self._found()
        endpoints = [self._network_of(c) for c in machines]
        # a machine cut off the network has no entry on it: its kept address is taken too
        kept = [self._kept_address(c.labels[LABEL_MACHINE], net) for c in machines]
        endpoints += [{"IPAddress": a} for a in kept if a]
        return network.free_addresses(net, names, endpoints)

    def _create_network(self) -> None:
        network.create(self.host, self.network_name, self.names.labels("network"))

    def _undo(self, made: dict[str, str | None], made_network: bool) -> None:
        teardown.undo(self, made, made_network)

    def list(self) -> list[MachineInfo]:
        out = []
        for c in self._found():
            name = c.labels[LABEL_MACHINE]
            state = {"running": "Running", "exited": "Stopped", "created": "Starting",
                     "paused": "Paused"}.get(c.status, "Error")
            out.append(
                MachineInfo(
                    name=name,
                    driver=self.name,
                    state=state,
                    url=machine.engine_url(self, c, name),
                    address=machine.ip(self._network_of(c).get("IPAddress")) if state == "Running" else "",
                    details={"security": c.labels[LABEL_SECURITY], "container": c.name,
                             "image": self.node_image, "created": str(c.attrs.get("Created", ""))},
                )
            )
        return sorted(out, key=lambda m: m.name)

    def _network_of(self, c: Any) -> dict[str, Any]:
        return dict(c.attrs.get("NetworkSettings", {}).get("Networks", {}).get(self.network_name) or {})

    def remove(self, names: Sequence[str]) -> None:
        names = check_machine_names(names)
        with self._locked(LOCK_WAIT):
            self._remove(names)

    def _remove(self, machines: Sequence[str]) -> None:
        for n in machines:
            self._drop_client(n)
        parallel_map(self._remove_one, machines)

    def _remove_one(self, name: str) -> None:
        for c in self._found(name):
            c.remove(force=True, v=True)
        for v in found_volumes(self.host, self.names, name):
            v.remove(force=True)
        folder = self.lab_dir()
        _home.remove_inside(folder, folder / check_machine_name(name))
        _home.remove_inside(folder, self._address_file(name))

    def destroy(self) -> dict[str, int]:
        """Every machine, volume and network of the lab, and its folder (:mod:`.teardown`).
        What the engine refuses (a container still stopping, a volume in use, a network with
        an endpoint) is retried for a few seconds, then left in :attr:`left_behind` with the
        command that clears it; the rest is removed all the same, and the lab's folder stays
        so that the lab is still found (``swarmlab ls``) and the next destroy finishes the job."""
        with self._locked(LOCK_WAIT):
            left, counts = teardown.destroy(self)
        self.left_behind = left
        return counts

    def remnants(self) -> Sequence[str]:
        return ([f"network {n.name}" for n in found_networks(self.host, self.names)]
                + [f"volume {v.name}" for v in found_volumes(self.host, self.names)])

    def stop(self, name: str) -> None:
        self._drop_client(name)
        self._container(name).stop(timeout=10)

    def start(self, name: str, timeout: float = 60.0) -> None:
        self._drop_client(name)  # a restarted TLS machine gets a new port
        c = self._container(name)
        if c.status != "running":
            c.start()
        machine.wait_ready(self, name, timeout)

    # -- failures, for real ---------------------------------------------------------------
    def kill(self, name: str) -> str:
        """``docker kill``: SIGKILL to the machine's init, so its engine dies with no word to
        the swarm, as in a power cut."""
        c = self._container(name)
        self._drop_client(name)
        if c.status == "running":
            c.kill()
        return f"docker kill {c.name}"

    def disconnect(self, name: str) -> str:
        """``docker network disconnect`` (:func:`.network.disconnect`): the machine keeps
        running, cut off the other machines; its address is kept for :meth:`reconnect`."""
        return network.disconnect(self, name)

    def reconnect(self, name: str) -> str:
        """``docker network connect --ip ADDRESS`` (:func:`.network.reconnect`): back at the
        address the swarm knows it by."""
        return network.reconnect(self, name)

    def _lab_network(self) -> Any:
        found = found_networks(self.host, self.names)
        if not found:
            raise DockerError(f"lab {self.lab!r} has no network {self.network_name!r}; create a "
                              f"machine first (lab.machine.create(...))")
        return found[0]

    def _address_file(self, name: str) -> Path:
        return self.lab_dir() / f"{check_machine_name(name)}.address"

    def _kept_address(self, name: str, net: Any) -> str:
        return network.kept_address(self._address_file(name), net, f"the kept address of machine {name!r}")

    # -- one machine ---------------------------------------------------------------------
    def address(self, name: str) -> str:
        c = self._container(name)
        ip = machine.ip(self._network_of(c).get("IPAddress"))
        if c.status != "running" or not ip:
            raise DockerError(f"machine {name!r} is not running; start it with lab.machine.start({name!r})")
        return ip

    def connect(self, name: str) -> docker.DockerClient:
        try:
            return engine_client(**machine.client_kwargs(self, name))
        except (NotYet, docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise DockerError(
                f"cannot reach the engine of machine {name!r} ({error_text(e)}); if it is stopped, start it "
                f"with lab.machine.start({name!r})"
            ) from None

    def _drop_client(self, name: str) -> None:
        self._clients.drop(name)

    def host_engine(self) -> docker.DockerClient:
        """The engine the machines run on: images are saved from it for ``lab.image.load``."""
        return self.host

    def run(self, name: str, command: str) -> RunOutput:
        c = self._container(name)
        ran = exec_output(self.host, c.id, ["sh", "-c", command], environment={"DOCKER_HOST": ""})
        return RunOutput(int(ran.code or 0), ran.text)

    def logs(self, name: str, tail: int = 30) -> str:
        return machine.machine_logs(self, name, tail)

    def shell_command(self, name: str) -> tuple[str, ...]:
        """``docker exec -it`` into the machine's container: bash where the node image has
        it, else sh; its ``docker`` talks to the machine's own engine."""
        c = self._container(name)
        if c.status != "running":
            raise DockerError(f"machine {name!r} is not running; start it with lab.machine.start({name!r})")
        return ("docker", "exec", "-it", "-e", "DOCKER_HOST=", c.name,
                "sh", "-c", "command -v bash >/dev/null && exec bash || exec sh")

    def engine_env(self, name: str) -> dict[str, str]:
        """The machine's socket in the lab's folder, or its TLS port on 127.0.0.1 with the
        lab's CA and client certificate (``ca.pem``, ``cert.pem``, ``key.pem``)."""
        try:
            kw = machine.client_kwargs(self, name)
        except NotYet as e:
            raise DockerError(f"machine {name!r} does not answer ({e}); if it is stopped, start it "
                              f"with lab.machine.start({name!r})") from None
        if "tls" not in kw:
            return {"DOCKER_HOST": kw["base_url"], "DOCKER_TLS_VERIFY": "", "DOCKER_CERT_PATH": ""}
        port = kw["base_url"].rsplit(":", 1)[1]
        return {"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(self.tls_dir())}

    def pull_hint(self, image: str) -> str:
        """What this computer's registry mirror says about ``image``, when the lab uses it:
        a machine's dockerd falls back to Docker Hub after any mirror error, so its own
        error names Docker Hub, not the mirror."""
        if not mirror.is_local(self.registry_mirror) or not mirror.from_docker_hub(image):
            return ""  # a mirror serves Docker Hub's images only
        return mirror.Mirror(self.host, self.names.owner).explain(image)

    def create_details(self, names: Sequence[str]) -> Sequence[str]:
        """The ``docker run`` that makes each machine, with the flags actually used: what
        ``docker-machine create`` stands for here."""
        mode = self._security_mode()
        return machine.run_commands(self, names, self.security() if mode == "auto" else mode)
