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
- Each swarm membership the lab makes on a host (``lab.swarm.init`` / ``lab.swarm.join``, through
  the lab's own client) is recorded there too: a volume ``swarmlab-<lab>-<machine>-node-<id>``
  naming the swarm node ID the host got.
- ``destroy`` / ``machine.rm`` remove only what the lab made: a host whose node ID is the lab's
  leaves that swarm and loses that swarm's task containers (and the ``docker_gwbridge`` network
  when swarm made it); a host that left the lab's swarm and joined or made another keeps that
  swarm and its tasks (reported by :meth:`SSHProvider.left_alone`). Then the records go. The host
  itself, its Docker, its other containers and volumes stay; images loaded with
  ``lab.image.load`` stay too (the host may have had them before).
- Nothing read back from a host is trusted: a volume with the lab's labels that is not a record
  as swarmlab makes it (its name, a machine name, a node ID) is never used, never removed, and
  reported. Inventory entries are checked whole: user names, host names (a DNS name or an IP
  address), ports, machine names, addresses.
- Docker is reached over SSH with paramiko: each API connection runs ``docker system
  dial-stdio`` on the host (what ``docker -H ssh://...`` does), through a unix socket in the
  lab's own folder (``~/.swarmlab/labs/ssh/<lab>/``, mode 0700, checked before use, removed by
  ``destroy``). No TCP port is opened on any host.
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
import hashlib
import ipaddress
import os
import re
import select
import shlex
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from .. import _home
from .._engine import engine_client
from .._errors import (
    DockerError,
    EngineUnavailable,
    InsecurePath,
    InvalidArgument,
    MachineNotFound,
    ProviderUnavailable,
    SwarmStateError,
)
from ._base import (
    LABEL_LAB,
    LABEL_MACHINE,
    LABEL_PROVIDER,
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
LABEL_NODE = "io.swarmlab.ssh.node"
#: the roles of the ssh provider's records: a host's adoption, a swarm membership the lab made
ROLE_ADOPTED, ROLE_NODE = "adopted", "swarm-node"
#: a swarm node ID as swarmkit makes them (25 base-36 characters)
_NODE_ID_RE = re.compile(r"[0-9a-z]{25}")
#: the labels swarm puts on a task's container
SWARM_NODE_LABEL, SWARM_SERVICE_LABEL = "com.docker.swarm.node.id", "com.docker.swarm.service.id"
#: a user name: letters, digits, '_', '.', '-', '@' and '$' (domain and machine accounts), not
#: starting with '-' (ssh would read it as an option)
_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@$-]{0,63}")
#: a DNS host name: dot-separated labels of letters, digits, '-' and '_', none starting with '-'
_HOST_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*")
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
    """``user@host[:port]`` (``user@[v6]:port`` for IPv6) -> (user, host, port), each checked
    whole: a user name, a DNS host name or IP address, a port from 1 to 65535."""
    usage = (f"host {text!r}: write it as user@host or user@host:port (a user name, a host name "
             f"or IP address, a port number)")
    if not isinstance(text, str) or "@" not in text:
        raise InvalidArgument(usage)
    user, _, rest = text.rpartition("@")
    port_text = None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port_text = tail[1:]
        elif tail:
            raise InvalidArgument(f"host {text!r}: write it as user@[address]:port")
    else:
        host, colon, port = rest.partition(":")
        port_text = port if colon else None
    if port_text is not None and not (re.fullmatch(r"[0-9]{1,5}", port_text) and 0 < int(port_text) < 65536):
        raise InvalidArgument(f"host {text!r}: the port must be a number from 1 to 65535")
    if not _USER_RE.fullmatch(user):
        raise InvalidArgument(f"{usage}; the user name {user!r} has characters no user name has")
    check_host_name(host, text)
    return user, host, int(port_text) if port_text else 22


def check_host_name(host: str, entry: str) -> str:
    """A host to connect to: an IP address (no zone) or a DNS name, matched whole."""
    try:
        ipaddress.ip_address(host)
        if "%" not in host:
            return host
    except ValueError:
        if len(host) <= 253 and _HOSTNAME_RE.fullmatch(host):
            return host
    raise InvalidArgument(
        f"host {entry!r}: {host!r} is no host name or IP address (letters, digits, '-', '_' and "
        f"dots; an IPv6 address in brackets, without a zone); write it as user@host[:port]")


def check_address(address: object, entry: object) -> str:
    """An address to advertise: one IP address, no zone, matched whole."""
    try:
        if not isinstance(address, str) or "%" in address:
            raise ValueError(address)
        ipaddress.ip_address(address)
    except ValueError:
        raise InvalidArgument(f"address {address!r} of {entry!r}: give an IP address, e.g. '10.0.0.11'") from None
    return address


def _entry(item: Any, name: str | None = None) -> Host:
    if isinstance(item, str):
        if name is None and "=" in item.split("@")[0]:
            name, _, item = item.partition("=")
        user, host, port = parse_target(item)
        return Host(user, host, port, check_machine_name(name) if name is not None else None)
    if isinstance(item, Mapping):
        unknown = set(item) - {"name", "target", "key", "address"}
        if unknown or "target" not in item:
            raise InvalidArgument(
                f"inventory entry {dict(item)!r}: give 'target' (user@host[:port]) and optionally "
                f"'name', 'key', 'address'" + (f"; unknown: {sorted(unknown)}" if unknown else ""))
        user, host, port = parse_target(item["target"])
        nm = item.get("name", name)
        address = item.get("address")
        key = item.get("key")
        if key is not None and not isinstance(key, str):
            raise InvalidArgument(f"key {key!r} of {item['target']}: give the path of a private key file")
        return Host(user, host, port, check_machine_name(nm) if nm is not None else None, key or None,
                    check_address(address, item["target"]) if address is not None else None)
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
        check_settings(f"inventory file {str(path)!r}", options.get("key"), options.get("known_hosts"),
                       options.get("trust_new_hosts"))
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


def check_settings(where: str, key: object, known_hosts: object, trust_new_hosts: object) -> None:
    """``key`` and ``known_hosts`` are paths, ``trust_new_hosts`` is true or false: a string
    such as ``"no"`` would otherwise switch host key checking off."""
    for what, value in (("key", key), ("known_hosts", known_hosts)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise InvalidArgument(f"{where}: {what} {value!r} is not a file name; give a path")
    if trust_new_hosts is not None and not isinstance(trust_new_hosts, bool):
        raise InvalidArgument(f"{where}: trust_new_hosts {trust_new_hosts!r} must be true or false "
                              f"(a boolean, not a string)")


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

    def __init__(self, sessions: _Sessions, folder: Path, path: Path) -> None:
        self.sessions, self.folder, self.path = sessions, folder, path
        _home.remove_inside(folder, path)  # a socket left by an earlier session
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
            with contextlib.suppress(OSError, InsecurePath):  # gone already: nothing to remove
                _home.remove_inside(self.folder, self.path)


class _LabAPI(docker.APIClient):
    """A host's Engine API that notes, on the host, each swarm membership the lab makes through
    it: the node ID ``swarm init`` gave, or ``swarm join`` once the host is in (a join that
    timed out may still finish: the next ``info`` that shows the host in a swarm notes it)."""

    def __init__(self, on_node: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_node = on_node
        self.joining = False

    def init_swarm(self, *args: Any, **kwargs: Any) -> Any:
        node_id = super().init_swarm(*args, **kwargs)
        self.on_node(self, str(node_id))
        return node_id

    def join_swarm(self, *args: Any, **kwargs: Any) -> Any:
        self.joining = True
        try:
            return super().join_swarm(*args, **kwargs)
        finally:
            with contextlib.suppress(docker.errors.DockerException, OSError):  # noted by a later info
                self.info()

    def info(self, *args: Any, **kwargs: Any) -> Any:
        data = super().info(*args, **kwargs)
        swarm = data.get("Swarm") or {}
        if self.joining and swarm.get("LocalNodeState") == "active" and swarm.get("NodeID"):
            self.on_node(self, str(swarm["NodeID"]))
            self.joining = False
        return data


class _LabClient(docker.DockerClient):
    """docker-py's client over :class:`_LabAPI`."""

    def __init__(self, on_node: Any, **kwargs: Any) -> None:
        self.api = _LabAPI(on_node, **kwargs)


class _Connection:
    """SSH sessions to one host, and the Docker API through them. The docker-py client is made
    on first use: making it asks the engine its API version, and shell commands on a host
    without a working engine need the SSH part alone."""

    def __init__(self, sessions: _Sessions, forwarder: _Forwarder, on_node: Any) -> None:
        self.sessions, self.forwarder, self.on_node = sessions, forwarder, on_node
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                url = f"unix://{self.forwarder.path}"
                probe = engine_client(url, max_pool_size=POOL_SIZE)  # asks the engine its API version
                version = probe.api.api_version
                probe.close()
                client = _LabClient(self.on_node, base_url=url, version=version, timeout=60,
                                    max_pool_size=POOL_SIZE)
                client.api.trust_env = False  # no proxy between us and the host's engine
                self._client = client
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
        check_settings("the ssh provider", key, known_hosts, trust_new_hosts)
        self.key = str(key or options.get("key") or "") or None
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
        self._seen: list[str] | None = None  # left alone, as of the last look at the hosts
        self._instance = os.urandom(3).hex()  # names this instance's sockets
        self._kept: list[str] = []  # left alone by the last release: swarms the lab did not make

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
            folder = _home.lab_dir(self.name, self.lab)  # made 0700, or checked: refused if not ours
            sessions = _Sessions(lambda: self._open_ssh(host))
            forwarder = _Forwarder(sessions, folder, folder / _socket_name(host, self._instance))
            conn = _Connection(sessions, forwarder, lambda api, node_id: self._noted(host, api, node_id))
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

    def _node_record_name(self, machine: str, node_id: str) -> str:
        return f"swarmlab-{self.lab}-{machine}-node-{node_id}"

    def _why_not_a_record(self, host: Host, name: str, labels: Mapping[str, str]) -> str:
        """'' when a volume is a record as this provider makes them for this lab, else why not."""
        machine, role = labels.get(LABEL_MACHINE), labels.get(LABEL_ROLE)
        try:
            machine = check_machine_name(machine)
        except InvalidArgument:
            return f"its machine label {machine!r} is no machine name"
        if host.name is not None and machine != host.name:
            return f"the inventory names this host {host.name!r}, not {machine!r}"
        if role == ROLE_ADOPTED:
            if name != self._marker_name(machine):
                return f"the record of {machine!r} is called {self._marker_name(machine)!r}"
            if labels.get(LABEL_GWBRIDGE) not in ("made", "existed"):
                return f"its {LABEL_GWBRIDGE} label {labels.get(LABEL_GWBRIDGE)!r} is none swarmlab writes"
            return ""
        if role == ROLE_NODE:
            node = labels.get(LABEL_NODE)
            if not isinstance(node, str) or not _NODE_ID_RE.fullmatch(node):
                return f"its node label {node!r} is no swarm node ID"
            if name != self._node_record_name(machine, node):
                return f"the record of a node of {machine!r} is called {self._node_record_name(machine, node)!r}"
            return ""
        return f"its role {role!r} is none the ssh provider gives"

    def _records(self, host: Host) -> _Records:
        """The lab's records on a host, read back and checked: what it was adopted as, the swarm
        node IDs the lab's swarm gave it; anything else with the lab's labels is left alone."""
        client = self._docker(host)
        found = client.volumes.list(filters={"label": [f"{LABEL_LAB}={self.lab}", f"{LABEL_PROVIDER}={self.name}"]})
        rec = _Records()
        adopted: dict[str, tuple[str, Mapping[str, str]]] = {}
        nodes: list[tuple[str, str, str]] = []
        for v in found:
            labels = v.attrs.get("Labels") or {}
            why = self._why_not_a_record(host, v.name, labels)
            if why:
                rec.notes.append(
                    f"left alone: volume {v.name!r} on {host.target}: it carries lab {self.lab!r}'s labels "
                    f"but is no record swarmlab makes ({why}); if it is yours, remove it on the host "
                    f"with 'docker volume rm'")
            elif labels[LABEL_ROLE] == ROLE_ADOPTED:
                adopted[labels[LABEL_MACHINE]] = (v.name, labels)
            else:
                nodes.append((labels[LABEL_MACHINE], labels[LABEL_NODE], v.name))
        if len(adopted) > 1:
            rec.notes.append(
                f"left alone: {host.target} carries records of several machines of lab {self.lab!r} "
                f"({', '.join(sorted(adopted))}); swarmlab records one, so it uses and releases none")
            return rec
        for machine, (name, labels) in adopted.items():
            rec.machine, rec.gwbridge_made = machine, labels.get(LABEL_GWBRIDGE) == "made"
            rec.volumes.append(name)
        for machine, node, name in nodes:
            if machine == rec.machine:
                rec.nodes.add(node)
                rec.volumes.insert(0, name)  # removed before the adoption record
            else:
                rec.notes.append(f"left alone: volume {name!r} on {host.target}: a record of a swarm node "
                                 f"of {machine!r}, which this host was not adopted as")
        return rec

    def _scan(self, strict: bool) -> tuple[dict[str, Host], dict[Host, str]]:
        """Which machine each inventory host is (by its record); hosts that cannot be asked
        map to their error (strict: raise it)."""
        def look(host: Host) -> tuple[Host, _Records | None, str]:
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
        for host, rec, err in _parallel(look, self.hosts):
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
        """Record on the host that the lab made this swarm membership (see :class:`_LabAPI`)."""
        if not _NODE_ID_RE.fullmatch(node_id):
            return
        with self._lock:
            machine = next((m for m, h in self._bound.items() if h == host), None)
        if machine is None:
            return
        labels = lab_labels(self.lab, ROLE_NODE, self.name, machine)
        labels[LABEL_NODE] = node_id
        api.create_volume(self._node_record_name(machine, node_id), labels=labels)

    def _host(self, machine: str) -> Host:
        check_machine_name(machine)
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
                labels = lab_labels(self.lab, ROLE_ADOPTED, self.name, n)
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
        return sorted(_parallel(info, items), key=lambda m: m.name)

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
            _parallel(lambda n: self._release(n, hosts[n]), group)

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
                raise DockerError(f"failed to make {host.target} leave the swarm: {e.explanation}") from None
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
        self._drop(host)

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
        # the lab's folder holds only sockets: once none is left, it goes too (rmdir removes
        # an empty folder and nothing else)
        with contextlib.suppress(OSError, InsecurePath):
            folder = _home.lab_dir(self.name, self.lab, create=False)
            if not os.path.islink(folder) and os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)


@dataclass
class _Records:
    """What the lab recorded on one host, read back and checked."""

    machine: str | None = None  # what the host was adopted as
    gwbridge_made: bool = False  # docker_gwbridge was made by the lab's swarm
    nodes: set[str] = field(default_factory=set)  # the swarm node IDs the lab's swarm gave it
    volumes: list[str] = field(default_factory=list)  # the records, in the order to remove them
    notes: list[str] = field(default_factory=list)  # what was left alone, one sentence each


def _socket_name(host: Host, instance: str) -> str:
    """The forwarded socket's file name for a host, of one provider instance (two notebooks
    attached to one lab each have their own; a checked host name, long ones hashed, as a unix
    socket's path has at most 107 bytes)."""
    name = host.hostname.replace(":", "_")
    if len(name) > 40:
        name = hashlib.sha256(host.hostname.encode()).hexdigest()[:16]
    return _home.check_path_part(f"ssh-{name}-{host.port}-{instance}.sock", "socket name")


def _parallel(fn: Any, items: Sequence[Any]) -> list[Any]:
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
        return list(pool.map(fn, items))
