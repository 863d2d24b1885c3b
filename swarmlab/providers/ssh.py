"""The ``ssh`` provider: machines are existing hosts that already run Docker (a classroom's lab
computers, Vagrant boxes, cloud VMs), reached over SSH. This is how a lab outgrows one computer.

::

    lab = sl.Lab("class", provider="ssh",
                 hosts=["learner@10.0.0.11", "learner@10.0.0.12", "learner@10.0.0.13:2222"],
                 key="~/.ssh/id_ed25519")
    lab.machine.create("manager1", "worker1", "worker2")   # adopts the hosts, in this order

Inventory (``hosts=``): a list of ``user@host[:port]`` (machine names are bound in the order
``machine.create`` names them), a dict ``{"manager1": "user@host", ...}``, entries as dicts
(``name``, ``target``, ``key``, ``address``), or the path of a YAML or TOML file holding the
same under ``hosts`` (and optionally ``key``, ``known_hosts``, ``trust_new_hosts``).

- ``machine.create`` ADOPTS a host: it checks that SSH lets us in, that Docker answers and that
  the host is in no swarm, then records the adoption on the host itself (a labelled volume,
  ``swarmlab-<lab>-<machine>``: state lives on the machines). It never installs anything. If any
  host fails a check, nothing is recorded on any host.
- ``destroy`` / ``machine.rm`` make the host leave the swarm, remove what the lab made there
  (the swarm and its task containers, the ``docker_gwbridge`` network when swarm made it, the
  record) and leave the host itself, its Docker and its other containers alone. Images loaded
  with ``lab.image.load`` stay (the host may have had them before).
- Docker is reached over SSH with paramiko: each API connection runs ``docker system
  dial-stdio`` on the host (what ``docker -H ssh://...`` does), through a unix socket in
  ``~/.swarmlab/labs/<lab>/`` that only you can open. No TCP port is opened on any host.
- Host keys are checked against ``~/.ssh/known_hosts`` (or ``known_hosts=``), and an unknown
  host is refused, naming its fingerprint. To trust a new lab host, compare the fingerprint with
  the host's own (``ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`` on it), then either add
  it (``ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts``, or one ``ssh -p PORT user@host``) or
  pass ``trust_new_hosts=True``, which records a host's key the first time it is seen (like
  OpenSSH's ``StrictHostKeyChecking=accept-new``). A key that CHANGED is always refused.
- The address a machine advertises to the swarm is ``address=`` from its entry, else the host's
  IP when the target names one, else the address the host was reached on (``$SSH_CONNECTION``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import shlex
import shutil
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from .._engine import engine_client, swarmlab_home
from .._errors import (
    DockerError,
    EngineUnavailable,
    InvalidArgument,
    MachineNotFound,
    ProviderUnavailable,
    SwarmStateError,
)
from ._base import (
    LABEL_LAB,
    LABEL_MACHINE,
    LABEL_ROLE,
    CreateOutcome,
    MachineInfo,
    Provider,
    RunOutput,
    check_machine_name,
    check_machine_names,
    lab_labels,
)

LABEL_GWBRIDGE = "io.swarmlab.ssh.gwbridge"
LABEL_TARGET = "io.swarmlab.ssh.target"
CONNECT_TIMEOUT = 10.0
#: sshd allows 10 sessions per connection (MaxSessions): stay under it, idle pooled API
#: connections included (the docker client keeps at most POOL_SIZE of them)
SESSIONS = 8
POOL_SIZE = 4


@dataclass(frozen=True)
class Host:
    """One inventory entry: ``user@hostname:port``, maybe bound to a machine name."""

    user: str
    hostname: str
    port: int = 22
    name: str | None = None
    key: str | None = None
    address: str | None = None

    @property
    def target(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}" + (f":{self.port}" if self.port != 22 else "")


def parse_target(text: str) -> tuple[str, str, int]:
    """``user@host[:port]`` (``user@[v6]:port`` for IPv6) -> (user, host, port)."""
    if not isinstance(text, str) or "@" not in text:
        raise InvalidArgument(f"host {text!r}: write it as user@host or user@host:port")
    user, _, rest = text.rpartition("@")
    port = 22
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port_text = tail[1:]
        elif tail:
            raise InvalidArgument(f"host {text!r}: write it as user@[address]:port")
        else:
            port_text = ""
    else:
        host, _, port_text = rest.partition(":")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidArgument(f"host {text!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    if not user or not host or any(c.isspace() for c in text):
        raise InvalidArgument(f"host {text!r}: write it as user@host or user@host:port")
    return user, host, port


def _entry(item: Any, name: str | None = None) -> Host:
    if isinstance(item, str):
        if name is None and "=" in item.split("@")[0]:
            name, _, item = item.partition("=")
        user, host, port = parse_target(item.strip())
        return Host(user, host, port, check_machine_name(name.strip()) if name else None)
    if isinstance(item, Mapping):
        unknown = set(item) - {"name", "target", "key", "address"}
        if unknown or "target" not in item:
            raise InvalidArgument(
                f"inventory entry {dict(item)!r}: give 'target' (user@host[:port]) and optionally "
                f"'name', 'key', 'address'" + (f"; unknown: {sorted(unknown)}" if unknown else ""))
        user, host, port = parse_target(str(item["target"]))
        nm = item.get("name", name)
        address = item.get("address")
        if address is not None:
            try:
                ipaddress.ip_address(str(address))
            except ValueError:
                raise InvalidArgument(f"address {address!r} of {item['target']}: give an IP address") from None
        return Host(user, host, port, check_machine_name(nm) if nm else None,
                    str(item["key"]) if item.get("key") else None,
                    str(address) if address else None)
    raise InvalidArgument(f"inventory entry {item!r}: give 'user@host[:port]' or a dict with 'target'")


def _toml() -> Any:
    """The TOML reader: ``tomllib`` (Python 3.11+), else ``tomli`` (the same module, installed
    with ``swarmlab[ssh]`` on Python 3.10)."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ImportError:
        raise ProviderUnavailable(
            "reading a TOML inventory on Python 3.10 needs tomli: pip install 'swarmlab[ssh]' "
            "(or pip install tomli), or use a YAML inventory") from None
    return tomli


def load_inventory(hosts: Any) -> tuple[list[Host], dict[str, Any]]:
    """Read an inventory (list, dict, or YAML/TOML file); return the hosts and file options."""
    options: dict[str, Any] = {}
    if isinstance(hosts, (str, Path)) and not (isinstance(hosts, str) and "@" in hosts):
        path = Path(hosts).expanduser()
        if not path.is_file():
            raise InvalidArgument(f"inventory file {str(path)!r} does not exist")
        text = path.read_text()
        if path.suffix == ".toml":
            data = _toml().loads(text)
        elif path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ProviderUnavailable(
                    "reading a YAML inventory needs PyYAML: pip install pyyaml (or use TOML)") from None
            data = yaml.safe_load(text)
        else:
            raise InvalidArgument(f"inventory file {str(path)!r}: use a .yaml, .yml or .toml file")
        if not isinstance(data, Mapping) or "hosts" not in data:
            raise InvalidArgument(f"inventory file {str(path)!r} has no 'hosts'")
        options = {k: v for k, v in data.items() if k != "hosts"}
        unknown = set(options) - {"key", "known_hosts", "trust_new_hosts"}
        if unknown:
            raise InvalidArgument(f"inventory file {str(path)!r}: unknown settings {sorted(unknown)}")
        hosts = data["hosts"]
    if isinstance(hosts, str):
        hosts = [hosts]
    if isinstance(hosts, Mapping):
        entries = [_entry(v, str(k)) for k, v in hosts.items()]
    elif isinstance(hosts, Sequence):
        entries = [_entry(v) for v in hosts]
    else:
        raise InvalidArgument("hosts=: give a list of 'user@host[:port]', a dict of them, or a file")
    if not entries:
        raise InvalidArgument("hosts=: the inventory is empty; name at least one user@host")
    problems = []
    checks: list[tuple[str, list[str]]] = [
        ("machine name", [e.name for e in entries if e.name]),
        ("host", [f"{e.hostname}:{e.port}" for e in entries])]
    for what, values in checks:
        twice = {v for v in values if values.count(v) > 1}
        if twice:
            problems.append(f"{what} listed twice: {sorted(map(str, twice))}")
    if problems:
        raise InvalidArgument("inventory: " + "; ".join(problems))
    return entries, options


def _paramiko() -> Any:
    try:
        import paramiko
    except ImportError:
        raise ProviderUnavailable(
            "the ssh provider needs paramiko: pip install 'swarmlab[ssh]' (or pip install paramiko)"
        ) from None
    return paramiko


class HostKeyError(ProviderUnavailable):
    """An SSH host key is unknown or changed."""


def _fingerprint(key: Any) -> str:
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def _known_hosts_name(host: Host) -> str:
    return host.hostname if host.port == 22 else f"[{host.hostname}]:{host.port}"


class _Sessions:
    """SSH sessions to one host, over as many SSH connections as needed: sshd allows only
    MaxSessions (10) per connection, and every open API connection holds one."""

    def __init__(self, opener: Any) -> None:
        self.opener = opener
        self.lock = threading.Lock()
        self.clients: list[list[Any]] = [[opener(), 0]]

    @property
    def active(self) -> bool:
        t = self.clients[0][0].get_transport()
        return bool(t is not None and t.is_active())

    def open(self, command: str, combine: bool = False) -> tuple[Any, list[Any]]:
        with self.lock:
            entry = next((e for e in self.clients if e[1] < SESSIONS and e[0].get_transport()
                          is not None and e[0].get_transport().is_active()), None)
            if entry is None:
                entry = [self.opener(), 0]
                self.clients.append(entry)
            entry[1] += 1
        try:
            chan = entry[0].get_transport().open_session(timeout=CONNECT_TIMEOUT)
            if combine:
                chan.set_combine_stderr(True)
            chan.exec_command(command)
        except BaseException:
            self.release(entry)
            raise
        return chan, entry

    def release(self, entry: list[Any]) -> None:
        with self.lock:
            entry[1] -= 1

    def close(self) -> None:
        with self.lock:
            for e in self.clients:
                e[0].close()


def _key_kind(key: Any) -> str:
    """'ssh-ed25519' -> 'ed25519', 'ecdsa-sha2-nistp256' -> 'ecdsa': the host key file's name."""
    return str(key.get_name()).replace("ssh-", "").split("-")[0]


class _Forwarder:
    """A unix socket on this computer whose every connection is a ``docker system dial-stdio``
    on the host, over SSH."""

    def __init__(self, sessions: _Sessions, path: Path) -> None:
        self.sessions, self.path = sessions, path
        if path.exists() or path.is_symlink():
            path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        path.chmod(0o600)
        self.sock.listen(32)
        self.closed = False
        threading.Thread(target=self._serve, daemon=True, name=f"swarmlab-ssh {path.name}").start()

    def _serve(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(conn,), daemon=True).start()

    def _pipe(self, conn: socket.socket) -> None:
        try:
            chan, entry = self.sessions.open("docker system dial-stdio")
        except Exception:  # noqa: BLE001  (the client sees its connection closed)
            conn.close()
            return
        try:
            while not self.closed:
                ready, _, _ = select.select([conn, chan], [], [], 1.0)
                if conn in ready:
                    data = conn.recv(65536)
                    if not data:
                        break
                    chan.sendall(data)
                if chan in ready:
                    data = chan.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)
        except Exception:  # noqa: BLE001  (either end closed: the API client sees it)
            pass
        finally:
            for end in (chan, conn):
                with contextlib.suppress(Exception):  # the SSH connection is already gone
                    end.close()
            self.sessions.release(entry)

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.close()
        finally:
            if self.path.exists():
                self.path.unlink()


class _Connection:
    """SSH sessions to one host, and the Docker API through them. The docker-py client is made
    on first use: making it asks the engine its API version, and shell commands on a host
    without a working engine need the SSH part alone."""

    def __init__(self, sessions: _Sessions, forwarder: _Forwarder) -> None:
        self.sessions, self.forwarder = sessions, forwarder
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                self._client = engine_client(f"unix://{self.forwarder.path}", max_pool_size=POOL_SIZE)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.forwarder.close()
        self.sessions.close()


class SSHProvider(Provider):
    """Existing Docker hosts, adopted over SSH. See the module docstring."""

    name = "ssh"

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
        _paramiko()
        if hosts is None:
            hosts = os.environ.get("SWARMLAB_SSH_HOSTS")
            if not hosts:
                raise InvalidArgument(
                    "the ssh provider needs an inventory: Lab(..., provider='ssh', "
                    "hosts=['user@host', ...] or hosts='lab-hosts.yaml'), or set SWARMLAB_SSH_HOSTS "
                    "(a file, or user@host entries separated by commas)")
            if "@" in hosts:
                hosts = [h.strip() for h in hosts.split(",") if h.strip()]
        self.hosts, options = load_inventory(hosts)
        self.key = key or options.get("key")
        self.known_hosts = Path(known_hosts or options.get("known_hosts")
                                or Path.home() / ".ssh" / "known_hosts").expanduser()
        self.trust_new_hosts = bool(trust_new_hosts if trust_new_hosts is not None
                                    else options.get("trust_new_hosts", False))
        self.connect_timeout = connect_timeout
        self._conns: dict[tuple[str, int], _Connection] = {}
        self._bound: dict[str, Host] = {}  # machine -> host, as last seen on the hosts
        self._addresses: dict[str, str] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[tuple[str, int], threading.Lock] = {}

    # -- connections -------------------------------------------------------------------------
    def _key_file(self, host: Host) -> str | None:
        key = host.key or self.key
        if key is None:
            return None
        path = Path(key).expanduser()
        if not path.is_file():
            raise InvalidArgument(f"SSH key {str(path)!r} (for {host.target}) does not exist")
        return str(path)

    def _policy(self) -> Any:
        paramiko = _paramiko()
        provider = self

        class Policy(paramiko.MissingHostKeyPolicy):  # type: ignore[name-defined]
            def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
                if not provider.trust_new_hosts:
                    raise HostKeyError(
                        f"the SSH host key of {hostname} is not known ({_fingerprint(key)}), so "
                        f"swarmlab will not connect. If that fingerprint is the host's own (on "
                        f"the host: ssh-keygen -lf /etc/ssh/ssh_host_{_key_kind(key)}_key.pub), "
                        f"trust it: ssh-keyscan {provider._keyscan_args(hostname)} >> "
                        f"{provider.known_hosts}, or pass trust_new_hosts=True to record new "
                        f"hosts' keys on first use."
                    )
                with provider._lock:
                    kh = provider.known_hosts
                    kh.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
                    with open(kh, "a") as f:
                        f.write(line)
                    kh.chmod(0o600)
                client.get_host_keys().add(hostname, key.get_name(), key)

        return Policy()

    @staticmethod
    def _keyscan_args(known_name: str) -> str:
        if known_name.startswith("["):
            host, _, port = known_name[1:].partition("]:")
            return f"-p {port} {host}"
        return known_name

    def _connect(self, host: Host) -> _Connection:
        hkey = (host.hostname, host.port)
        with self._lock:
            conn = self._conns.get(hkey)
            lock = self._host_locks.setdefault(hkey, threading.Lock())
        if conn is not None and conn.sessions.active:
            return conn
        with lock:
            with self._lock:
                conn = self._conns.get(hkey)
            if conn is not None and conn.sessions.active:
                return conn
            sessions = _Sessions(lambda: self._open_ssh(host))
            folder = swarmlab_home() / "labs" / self.lab
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
            safe = f"{host.hostname}-{host.port}".replace(":", "_").replace("/", "_")
            forwarder = _Forwarder(sessions, folder / f"ssh-{safe}.sock")
            conn = _Connection(sessions, forwarder)
            with self._lock:
                self._conns[hkey] = conn
            return conn

    def _open_ssh(self, host: Host) -> Any:
        """One SSH connection to the host, its key checked; errors say what to do."""
        paramiko = _paramiko()
        ssh = paramiko.SSHClient()
        if self.known_hosts.is_file():
            ssh.load_host_keys(str(self.known_hosts))
        ssh.set_missing_host_key_policy(self._policy())
        key_file = self._key_file(host)
        try:
            ssh.connect(host.hostname, port=host.port, username=host.user,
                        key_filename=key_file, look_for_keys=key_file is None,
                        allow_agent=key_file is None, timeout=self.connect_timeout,
                        banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout)
        except HostKeyError:
            ssh.close()
            raise
        except paramiko.BadHostKeyException as e:
            ssh.close()
            raise HostKeyError(
                f"the SSH host key of {host.target} CHANGED ({_fingerprint(e.key)}; "
                f"{self.known_hosts} has {_fingerprint(e.expected_key)}). That may be a "
                f"reinstalled host, or someone in between: check with the host's admin, "
                f"then remove the old key with 'ssh-keygen -R {_known_hosts_name(host)} "
                f"-f {self.known_hosts}'."
            ) from None
        except paramiko.AuthenticationException as e:
            ssh.close()
            raise ProviderUnavailable(
                f"{host.target} refused our SSH login ({e}): check the user name and the key "
                f"({key_file or 'your default keys and agent'}); its public key must be in "
                f"~{host.user}/.ssh/authorized_keys on the host"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            ssh.close()
            raise EngineUnavailable(
                f"cannot reach {host.target} over SSH ({e or type(e).__name__}): is the host "
                f"on, and does sshd listen on port {host.port}?"
            ) from None
        ssh.get_transport().set_keepalive(30)
        return ssh

    def _drop(self, host: Host) -> None:
        with self._lock:
            conn = self._conns.pop((host.hostname, host.port), None)
        if conn is not None:
            conn.close()

    def _exec(self, host: Host, command: str, timeout: float = 600) -> RunOutput:
        conn = self._connect(host)
        chan, entry = conn.sessions.open(command, combine=True)
        try:
            chan.settimeout(timeout)
            chunks = []
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                chunks.append(data)
            return RunOutput(chan.recv_exit_status(), b"".join(chunks).decode("utf-8", "replace"))
        finally:
            chan.close()
            conn.sessions.release(entry)

    def _docker(self, host: Host) -> docker.DockerClient:
        """The host's engine, checked to answer; the errors say what is wrong with the host."""
        try:
            conn = self._connect(host)
            conn.client.ping()
            return conn.client
        except (docker.errors.DockerException, OSError) as e:
            reason = str(e)
        probe = self._exec(host, "command -v docker >/dev/null && docker version --format "
                                 "'{{.Server.Version}}' 2>&1", timeout=30)
        if probe.exit_code == 127 or (probe.exit_code != 0 and not probe.output.strip()):
            raise EngineUnavailable(
                f"{host.target} has no Docker (no 'docker' command there). swarmlab never "
                f"installs anything on a host: install Docker on it (Debian/Ubuntu: apt-get "
                f"install docker.io) and add {host.user} to the 'docker' group.")
        raise EngineUnavailable(
            f"the Docker engine on {host.target} does not answer ({probe.output.strip() or reason}): "
            f"start it (sudo systemctl start docker) and make sure {host.user} may use it "
            f"(the 'docker' group).")

    # -- which host is which machine --------------------------------------------------------
    def _marker_name(self, machine: str) -> str:
        return f"swarmlab-{self.lab}-{machine}"

    def _markers(self, host: Host) -> list[Any]:
        client = self._docker(host)
        return list(client.volumes.list(filters={"label": f"{LABEL_LAB}={self.lab}"}))

    def _scan(self, strict: bool) -> tuple[dict[str, Host], dict[Host, str]]:
        """Which machine each inventory host is (by its record); hosts that cannot be asked
        map to their error (strict: raise it)."""
        def look(host: Host) -> tuple[Host, str | None, str]:
            try:
                for v in self._markers(host):
                    if v.attrs.get("Labels", {}).get(LABEL_ROLE) == "adopted":
                        return host, v.attrs["Labels"].get(LABEL_MACHINE), ""
                return host, None, ""
            except (EngineUnavailable, ProviderUnavailable) as e:
                if strict:
                    raise
                return host, None, str(e)

        found: dict[str, Host] = {}
        errors: dict[Host, str] = {}
        for host, machine, err in _parallel(look, self.hosts):
            if machine:
                found[machine] = host
            if err:
                errors[host] = err
        with self._lock:
            self._bound.update(found)
        return found, errors

    def _host(self, machine: str) -> Host:
        with self._lock:
            host = self._bound.get(machine)
        if host is None:
            found, _ = self._scan(strict=False)
            host = found.get(machine)
        if host is None:
            raise MachineNotFound(
                f"lab {self.lab!r} has no machine {machine!r} (adopted: "
                f"{', '.join(sorted(self._bound)) or 'none yet'}); adopt a host with "
                f"lab.machine.create({machine!r})")
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
        checked = _parallel(lambda n: self._check_host(n, choice[n]), todo)
        made: list[tuple[Host, str]] = []
        try:
            for n, (gwbridge, hostname) in zip(todo, checked):
                host = choice[n]
                labels = lab_labels(self.lab, "adopted", self.name, n)
                labels[LABEL_GWBRIDGE] = "existed" if gwbridge else "made"
                labels[LABEL_TARGET] = host.target
                self._docker(host).volumes.create(self._marker_name(n), labels=labels)
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
        for v in client.volumes.list(filters={"label": LABEL_ROLE + "=adopted"}):
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
        try:
            for v in self._docker(host).volumes.list(
                    filters={"label": [f"{LABEL_LAB}={self.lab}", f"{LABEL_MACHINE}={machine}"]}):
                v.remove(force=True)
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
        return sorted(_parallel(info, items), key=lambda m: m.name)

    def remove(self, names: Sequence[str]) -> None:
        hosts = {n: self._host(n) for n in names}

        def is_manager(n: str) -> bool:
            try:
                return bool(self._docker(hosts[n]).info()["Swarm"].get("ControlAvailable"))
            except (EngineUnavailable, ProviderUnavailable, docker.errors.DockerException):
                return False

        managers = {n for n in names if is_manager(n)}
        # workers leave first, then managers: the swarm's control goes last
        for group in ([n for n in names if n not in managers], [n for n in names if n in managers]):
            _parallel(lambda n: self._release(n, hosts[n]), group)

    def _release(self, machine: str, host: Host) -> None:
        client = self._docker(host)
        records = client.volumes.list(filters={"label": [f"{LABEL_LAB}={self.lab}",
                                                         f"{LABEL_MACHINE}={machine}"]})
        made_gwbridge = any((v.attrs.get("Labels") or {}).get(LABEL_GWBRIDGE) == "made" for v in records)
        if client.info()["Swarm"].get("LocalNodeState") != "inactive":
            try:
                client.swarm.leave(force=True)
            except docker.errors.APIError as e:
                raise DockerError(f"failed to make {host.target} leave the swarm: {e.explanation}") from None
        # task containers the swarm left behind (the host was in no swarm when adopted)
        for c in client.containers.list(all=True, filters={"label": "com.docker.swarm.service.id"}):
            c.remove(force=True)
        if made_gwbridge:
            for net in client.networks.list(names=["docker_gwbridge"]):
                with contextlib.suppress(docker.errors.APIError):  # the host uses it now: leave it
                    net.remove()
        self._unrecord(host, machine)
        self._drop(host)

    def destroy(self) -> dict[str, int]:
        found, errors = self._scan(strict=False)
        with self._lock:
            unreachable = [f"{m} ({h.target})" for m, h in self._bound.items()
                           if m not in found and h in errors]
        self.remove(sorted(found))
        self.close()
        shutil.rmtree(swarmlab_home() / "labs" / self.lab, ignore_errors=True)
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
                if ipaddress.ip_address(seen).is_loopback:
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

    def client(self, name: str) -> docker.DockerClient:
        return self._connect(self._host(name)).client

    def run(self, name: str, command: str) -> RunOutput:
        return self._exec(self._host(name), command)

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
        with self._lock:
            conns = list(self._conns.values())
            self._conns.clear()
        for c in conns:
            c.close()


def _parallel(fn: Any, items: Sequence[Any]) -> list[Any]:
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
        return list(pool.map(fn, items))
