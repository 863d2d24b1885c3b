"""The ssh provider's steps: :class:`SSHProvider` adopts hosts (``create``), lists them,
releases them (``remove`` / ``destroy``), and reaches each one's engine and shell. The hosts
come from :mod:`.inventory`, SSH from :mod:`.transport`, the records it keeps on the hosts
from :mod:`.records`."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shlex
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from ... import _home
from ..._errors import (
    DockerError,
    EngineUnavailable,
    InsecurePath,
    InvalidArgument,
    MachineNotFound,
    ProviderUnavailable,
    SwarmStateError,
)
from ..._util import error_text, parallel_map
from ..base import (
    LABEL_LAB,
    LABEL_MACHINE,
    LABEL_ROLE,
    Capabilities,
    CreateOutcome,
    MachineInfo,
    Provider,
    RunOutput,
    check_machine_name,
    check_machine_names,
    lab_labels,
    no_machine,
)
from .connections import Connections
from .inventory import Host, check_settings, hosts_setting, load_inventory
from .records import (
    LABEL_GWBRIDGE,
    LABEL_NODE,
    LABEL_TARGET,
    NODE_ID_RE,
    ROLE_ADOPTED,
    ROLE_NODE,
    SWARM_NODE_LABEL,
    SWARM_SERVICE_LABEL,
    Records,
    marker_name,
    node_record_name,
    read_records,
)
from .transport import CONNECT_TIMEOUT, Login, paramiko_module


class SSHProvider(Provider):
    """Existing Docker hosts, adopted over SSH. See :mod:`swarmlab.providers.ssh`."""

    name = "ssh"
    CAPABILITIES = Capabilities(shares_host_kernel=False, routing_mesh=None, memory_limits=False, boot_seconds=0.0,
                                makes_machines=False)

    def __init__(
        self,
        lab: str,
        hosts: Any = None,
        key: str | None = None,
        known_hosts: str | None = None,
        trust_new_hosts: bool | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        super().__init__(lab)
        paramiko_module()
        self.hosts, options = load_inventory(hosts_setting(hosts))
        check_settings("the ssh provider", key, known_hosts, trust_new_hosts)
        self.key = str(key or options.get("key") or "") or None
        self.known_hosts = Path(known_hosts or options.get("known_hosts")
                                or Path.home() / ".ssh" / "known_hosts").expanduser()
        self.trust_new_hosts = bool(trust_new_hosts if trust_new_hosts is not None
                                    else options.get("trust_new_hosts", False))
        self.connect_timeout = connect_timeout
        login = Login(self.key, self.known_hosts, self.trust_new_hosts, connect_timeout)
        self._net = Connections(self.name, self.lab, login, self._noted)
        self._bound: dict[str, Host] = {}  # machine -> host, as last seen on the hosts
        self._addresses: dict[str, str] = {}
        self._lock = threading.Lock()
        self._seen: list[str] | None = None  # left alone, as of the last look at the hosts
        self._kept: list[str] = []  # left alone by the last release: swarms the lab did not make

    # -- connections (see .connections) --------------------------------------------------------
    def _exec(self, host: Host, command: str, timeout: float = 600) -> RunOutput:
        return self._net.run(host, command, timeout)

    def _docker(self, host: Host) -> docker.DockerClient:
        return self._net.docker(host)

    # -- which host is which machine --------------------------------------------------------
    def _records(self, host: Host) -> Records:
        return read_records(self._docker(host), self.lab, self.name, host)

    def _scan(self, strict: bool) -> tuple[dict[str, Host], dict[Host, str]]:
        """Which machine each inventory host is (by its record); hosts that cannot be asked
        map to their error (strict: raise it)."""
        def look(host: Host) -> tuple[Host, Records | None, str]:
            try:
                return host, self._records(host), ""
            except (EngineUnavailable, ProviderUnavailable) as e:
                if strict:
                    raise
                return host, None, str(e)

        found: dict[str, Host] = {}
        errors: dict[Host, str] = {}
        notes: list[str] = []
        claims: dict[str, list[Host]] = {}
        for host, rec, err in parallel_map(look, self.hosts):
            if rec is not None:
                notes += rec.notes
                if rec.machine:
                    claims.setdefault(rec.machine, []).append(host)
            if err:
                errors[host] = err
        for machine, claimants in claims.items():
            if len(claimants) == 1:
                found[machine] = claimants[0]
            else:
                notes.append(f"left alone: {', '.join(h.target for h in claimants)} each carry the record "
                             f"of machine {machine!r} of lab {self.lab!r}; none is used or released as it")
        with self._lock:
            self._bound.update(found)
            self._seen = notes
        return found, errors

    def left_alone(self) -> list[str]:
        """What the hosts carry with the lab's labels that is not a record swarmlab makes (as of
        the last look at them: every ls, create and destroy looks), and the swarms the last
        release left in place because the lab did not make them."""
        with self._lock:
            looked = self._seen is not None
        if not looked:
            self._scan(strict=False)
        with self._lock:
            return list(self._seen or []) + list(self._kept)

    def _noted(self, host: Host, api: Any, node_id: str) -> None:
        """Record on the host that the lab made this swarm membership (see :class:`.engine.LabAPI`)."""
        if not NODE_ID_RE.fullmatch(node_id):
            return
        with self._lock:
            machine = next((m for m, h in self._bound.items() if h == host), None)
        if machine is None:
            return
        labels = lab_labels(self.lab, ROLE_NODE, self.name, machine)
        labels[LABEL_NODE] = node_id
        api.create_volume(node_record_name(self.lab, machine, node_id), labels=labels)

    def _host(self, machine: str) -> Host:
        check_machine_name(machine)
        with self._lock:
            host = self._bound.get(machine)
        if host is None:
            found, _ = self._scan(strict=False)
            host = found.get(machine)
        if host is None:
            raise no_machine(self.lab, machine, sorted(self._bound), make="adopt a host with")
        return host

    # -- machines -----------------------------------------------------------------------------
    def create(self, names: Sequence[str], timeout: float = 60.0) -> list[CreateOutcome]:
        names = check_machine_names(names)
        found, errors = self._scan(strict=False)
        outcomes = {n: CreateOutcome(n, False, f"already adopted ({found[n].target})")
                    for n in names if n in found}
        todo = [n for n in names if n not in found]
        used = set(found.values())
        choice: dict[str, Host] = {}
        for n in todo:  # named entries first, then free unnamed ones in inventory order
            named = [h for h in self.hosts if h.name == n]
            if named:
                choice[n] = named[0]
        free = [h for h in self.hosts if h.name is None and h not in used]
        for n in todo:
            if n not in choice:
                if not free:
                    raise InvalidArgument(
                        f"the inventory has no free host for {n!r} ({len(self.hosts)} hosts: "
                        f"{', '.join(h.target for h in self.hosts)}; adopted: "
                        f"{', '.join(sorted(found)) or 'none'}). Add a host to hosts=. "
                        f"Nothing was adopted.")
                choice[n] = free.pop(0)
        # check every host before recording anything on any
        checked = parallel_map(lambda n: self._check_host(n, choice[n]), todo)
        made: list[tuple[Host, str]] = []
        try:
            for n, (gwbridge, hostname) in zip(todo, checked):
                host = choice[n]
                labels = lab_labels(self.lab, ROLE_ADOPTED, self.name, n)
                labels[LABEL_GWBRIDGE] = "existed" if gwbridge else "made"
                labels[LABEL_TARGET] = host.target
                self._docker(host).volumes.create(marker_name(self.lab, n), labels=labels)
                made.append((host, n))
                with self._lock:
                    self._bound[n] = host
                note = f"adopted {host.target}"
                if hostname != n:
                    note += (f" (its hostname is {hostname!r}: the swarm's node commands "
                             f"know it by that name)")
                outcomes[n] = CreateOutcome(n, True, note)
        except BaseException:
            for host, n in made:
                self._unrecord(host, n)
            raise
        return [outcomes[n] for n in names]

    def _check_host(self, machine: str, host: Host) -> tuple[bool, str]:
        client = self._docker(host)
        for v in client.volumes.list(filters={"label": LABEL_ROLE + "=" + ROLE_ADOPTED}):
            labels = v.attrs.get("Labels") or {}
            if labels.get(LABEL_LAB) != self.lab:
                raise SwarmStateError(
                    f"{host.target} is already adopted by lab {labels.get(LABEL_LAB)!r} (as "
                    f"{labels.get(LABEL_MACHINE)!r}); destroy that lab first, or use another "
                    f"host. Nothing was adopted.")
        info = client.info()
        swarm = info.get("Swarm", {})
        if swarm.get("LocalNodeState") not in ("inactive", "", None):
            raise SwarmStateError(
                f"{host.target} is already part of a swarm (state {swarm.get('LocalNodeState')}, "
                f"node {str(swarm.get('NodeID', ''))[:12]}); swarmlab will not take over a swarm "
                f"it did not make. Run 'docker swarm leave' on it (or pick another host). "
                f"Nothing was adopted.")
        has_gwbridge = bool(client.networks.list(names=["docker_gwbridge"]))
        return has_gwbridge, str(info.get("Name", ""))

    def _unrecord(self, host: Host, machine: str) -> None:
        """Remove the lab's records of ``machine`` from the host: only volumes that are records
        as swarmlab makes them (node records first, the adoption last)."""
        try:
            rec = self._records(host)
            if rec.machine == machine:
                api = self._docker(host).api
                for name in rec.volumes:
                    with contextlib.suppress(docker.errors.NotFound):
                        api.remove_volume(name, force=True)
        finally:
            with self._lock:
                self._bound.pop(machine, None)
                self._addresses.pop(machine, None)

    def list(self) -> list[MachineInfo]:
        found, errors = self._scan(strict=False)
        with self._lock:
            lost = {m: h for m, h in self._bound.items() if m not in found and h in errors}

        def info(item: tuple[str, Host]) -> MachineInfo:
            machine, host = item
            if machine in lost:
                return MachineInfo(machine, self.name, "Error", f"ssh://{host.target}",
                                   error=errors[host])
            try:
                version = str(self._docker(host).version().get("Version", ""))
                return MachineInfo(machine, self.name, "Running", f"ssh://{host.target}",
                                   self.address(machine), version,
                                   details={"target": host.target})
            except (EngineUnavailable, ProviderUnavailable, DockerError) as e:
                return MachineInfo(machine, self.name, "Error", f"ssh://{host.target}", error=str(e))

        items = sorted({**found, **lost}.items())
        return sorted(parallel_map(info, items), key=lambda m: m.name)

    def remove(self, names: Sequence[str]) -> None:
        names = check_machine_names(names)
        hosts = {n: self._host(n) for n in names}
        with self._lock:
            self._kept = []

        def is_manager(n: str) -> bool:
            try:
                return bool(self._docker(hosts[n]).info()["Swarm"].get("ControlAvailable"))
            except (EngineUnavailable, ProviderUnavailable, docker.errors.DockerException):
                return False

        managers = {n for n in names if is_manager(n)}
        # workers leave first, then managers: the swarm's control goes last
        for group in ([n for n in names if n not in managers], [n for n in names if n in managers]):
            parallel_map(lambda n: self._release(n, hosts[n]), group)

    def _release(self, machine: str, host: Host) -> None:
        """Undo what the lab made on the host, and only that: the swarm membership it recorded
        (leave, and that node's task containers), docker_gwbridge if swarm made it, the records."""
        client = self._docker(host)
        rec = self._records(host)
        if rec.machine != machine:
            return  # no record of it (any more): nothing of the lab's to undo
        swarm = client.info()["Swarm"]
        state, node_id = swarm.get("LocalNodeState"), str(swarm.get("NodeID") or "")
        in_another = state not in ("inactive", "", None) and node_id not in rec.nodes
        if in_another:
            made = ", ".join(sorted(rec.nodes)) or "none"
            with self._lock:
                self._kept.append(
                    f"left alone: the swarm {machine} ({host.target}) is in now, as node "
                    f"{node_id or '(not known yet)'} (state {state}): the lab did not make that "
                    f"membership (its swarm's nodes on {machine}: {made}), so {machine} stays in it "
                    f"with its tasks; 'docker swarm leave --force' on the host leaves it")
        elif state not in ("inactive", "", None):
            try:
                client.swarm.leave(force=True)
            except docker.errors.APIError as e:
                raise DockerError(f"failed to make {host.target} leave the swarm: {error_text(e)}") from None
        # the task containers of the lab's swarm on this host (it was in no swarm when adopted)
        for node in sorted(rec.nodes):
            for c in client.containers.list(all=True, filters={"label": f"{SWARM_NODE_LABEL}={node}"},
                                            ignore_removed=True):
                if c.labels.get(SWARM_NODE_LABEL) == node and c.labels.get(SWARM_SERVICE_LABEL):
                    try:
                        c.remove(force=True)
                    except docker.errors.APIError as e:  # already gone, or going
                        if e.status_code not in (404, 409):
                            raise
        if rec.gwbridge_made and not in_another:
            for net in client.networks.list(names=["docker_gwbridge"]):
                with contextlib.suppress(docker.errors.APIError):  # the host uses it now: leave it
                    net.remove()
        self._unrecord(host, machine)
        self._net.drop(host)

    def destroy(self) -> dict[str, int]:
        found, errors = self._scan(strict=False)
        with self._lock:
            unreachable = [f"{m} ({h.target})" for m, h in self._bound.items()
                           if m not in found and h in errors]
        self.remove(sorted(found))
        self.close()
        # the lab's own folder (the forwarded sockets), checked, and nothing outside it
        folder = _home.lab_dir(self.name, self.lab, create=False)
        if os.path.lexists(folder):
            _home.remove_inside(folder.parent, folder)
        if unreachable:
            raise EngineUnavailable(
                f"released {len(found)} host(s), but could not reach {', '.join(unreachable)}: run "
                f"lab.destroy() again once they answer")
        return {"hosts released": len(found)}

    def stop(self, name: str) -> None:
        raise ProviderUnavailable(
            f"the ssh provider does not stop hosts it did not make ({name} is "
            f"{self._host(name).target}); leave the swarm with lab.swarm.leave({name!r}) instead")

    def start(self, name: str, timeout: float = 60.0) -> None:
        self._docker(self._host(name))

    # -- one machine --------------------------------------------------------------------------
    def address(self, name: str) -> str:
        with self._lock:
            cached = self._addresses.get(name)
        if cached:
            return cached
        host = self._host(name)
        addr = host.address
        if addr is None:
            try:
                ip = ipaddress.ip_address(host.hostname)
                addr = None if ip.is_loopback else str(ip)
            except ValueError:
                addr = None
        if addr is None:
            out = self._exec(host, 'echo "$SSH_CONNECTION"', timeout=30).output.split()
            seen = out[2] if len(out) >= 3 else ""
            try:
                if "%" in seen or ipaddress.ip_address(seen).is_loopback:
                    seen = ""
            except ValueError:
                seen = ""
            if not seen:
                raise InvalidArgument(
                    f"cannot tell the address other hosts reach {host.target} at; give it in the "
                    f"inventory: {{'target': {host.target!r}, 'address': 'IP'}}")
            addr = seen
        with self._lock:
            self._addresses[name] = addr
        return addr

    def listen_address(self, name: str) -> str:
        """The host's swarm listens on the address it advertises, not on every address it has
        (``--listen-addr <address>:2377``): a host of a classroom or a cloud has networks
        beyond the lab's, where its swarm's port has no business. That address must be one
        of the host's own (the inventory's ``address``, else the one SSH reached)."""
        return self.address(name)

    def client(self, name: str) -> docker.DockerClient:
        return self._net.client(self._host(name))

    def run(self, name: str, command: str) -> RunOutput:
        return self._exec(self._host(name), command)

    def shell_command(self, name: str) -> tuple[str, ...]:
        """``ssh -t`` to the machine's host, with the provider's key and known hosts file
        (host keys checked: an unknown host is refused, as the provider refuses it)."""
        host = self._host(name)
        return ("ssh", "-t", "-p", str(host.port), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", *(["-i", self.key] if self.key else []),
                "--", f"{host.user}@{host.hostname}")

    def engine_env(self, name: str) -> dict[str, str]:
        """``DOCKER_HOST=ssh://user@host:port``: the docker CLI reaches the engine over ssh
        itself (with this computer's ssh settings: its keys, its ~/.ssh/known_hosts)."""
        host = self._host(name)
        where = f"[{host.hostname}]" if ":" in host.hostname else host.hostname
        return {"DOCKER_HOST": f"ssh://{host.user}@{where}:{host.port}", "DOCKER_TLS_VERIFY": "",
                "DOCKER_CERT_PATH": ""}

    def logs(self, name: str, tail: int = 30) -> str:
        n = int(tail)
        try:
            out = self._exec(self._host(name), (
                f"if [ -r /var/log/docker.log ]; then tail -n {n} /var/log/docker.log; "
                f"else journalctl -u docker -n {n} --no-pager 2>&1; fi"), timeout=30)
        except (SwarmStateError, EngineUnavailable, ProviderUnavailable, MachineNotFound, OSError):
            return "(no log: the host does not answer)"
        return out.output.rstrip()

    def create_command(self, names: Sequence[str]) -> str:
        parts = []
        for n in names:
            try:
                target = self._host(n).target
            except MachineNotFound:
                target = "user@host"
            parts.append(f"docker context create {n} --docker host=ssh://{shlex.quote(target)}")
        return " && ".join(parts)

    def close(self) -> None:
        self._net.close()
        super().close()
        # the lab's folder holds only sockets: once none is left, it goes too (rmdir removes
        # an empty folder and nothing else)
        with contextlib.suppress(OSError, InsecurePath):
            folder = _home.lab_dir(self.name, self.lab, create=False)
            if not os.path.islink(folder) and os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
