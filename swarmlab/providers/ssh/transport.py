"""The ssh provider's transport: SSH connections to the hosts (paramiko), their host keys, the
sessions over them, and the unix socket on this computer whose every connection is a ``docker
system dial-stdio`` on a host (what ``docker -H ssh://...`` does). No TCP port is opened on
any host."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import select
import socket
import threading
from pathlib import Path
from typing import Any

from ... import _home
from ..._errors import EngineUnavailable, InsecurePath, InvalidArgument, ProviderUnavailable
from ..base import RunOutput
from .inventory import Host

CONNECT_TIMEOUT = 10.0
#: sshd allows 10 sessions per connection (MaxSessions): stay under it, idle pooled API
#: connections included (the docker client keeps at most POOL_SIZE of them)
SESSIONS = 8
POOL_SIZE = 4


def paramiko_module() -> Any:
    """paramiko, else :class:`ProviderUnavailable` saying how to install it."""
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
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def _known_hosts_name(host: Host) -> str:
    return host.hostname if host.port == 22 else f"[{host.hostname}]:{host.port}"


def _key_kind(key: Any) -> str:
    """'ssh-ed25519' -> 'ed25519', 'ecdsa-sha2-nistp256' -> 'ecdsa': the host key file's name."""
    return str(key.get_name()).replace("ssh-", "").split("-")[0]


def _keyscan_args(known_name: str) -> str:
    if known_name.startswith("["):
        host, _, port = known_name[1:].partition("]:")
        return f"-p {port} {host}"
    return known_name


class Login:
    """How swarmlab logs in to the inventory's hosts: the key, the known hosts file (and
    whether a new host's key is recorded on first use), the timeout."""

    def __init__(self, key: str | None, known_hosts: Path, trust_new_hosts: bool, timeout: float) -> None:
        self.key, self.known_hosts, self.trust_new_hosts = key, known_hosts, trust_new_hosts
        self.timeout = timeout
        self._lock = threading.Lock()  # one write to the known hosts file at a time

    def key_file(self, host: Host) -> str | None:
        """The host's own key, else the lab's; None: the user's default keys and agent."""
        key = host.key or self.key
        if key is None:
            return None
        path = Path(key).expanduser()
        if not path.is_file():
            raise InvalidArgument(f"SSH key {str(path)!r} (for {host.target}) does not exist")
        return str(path)

    def _policy(self) -> Any:
        paramiko = paramiko_module()
        login = self

        class Policy(paramiko.MissingHostKeyPolicy):  # type: ignore[name-defined]
            def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
                if not login.trust_new_hosts:
                    raise HostKeyError(
                        f"the SSH host key of {hostname} is not known ({_fingerprint(key)}), so "
                        f"swarmlab will not connect. If that fingerprint is the host's own (on "
                        f"the host: ssh-keygen -lf /etc/ssh/ssh_host_{_key_kind(key)}_key.pub), "
                        f"trust it: ssh-keyscan {_keyscan_args(hostname)} >> "
                        f"{login.known_hosts}, or pass trust_new_hosts=True to record new "
                        f"hosts' keys on first use."
                    )
                with login._lock:
                    kh = login.known_hosts
                    kh.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
                    with open(kh, "a") as f:
                        f.write(line)
                    kh.chmod(0o600)
                client.get_host_keys().add(hostname, key.get_name(), key)

        return Policy()

    def open(self, host: Host) -> Any:
        """One SSH connection to the host, its key checked; errors say what to do."""
        paramiko = paramiko_module()
        ssh = paramiko.SSHClient()
        if self.known_hosts.is_file():
            ssh.load_host_keys(str(self.known_hosts))
        ssh.set_missing_host_key_policy(self._policy())
        key_file = self.key_file(host)
        try:
            ssh.connect(host.hostname, port=host.port, username=host.user,
                        key_filename=key_file, look_for_keys=key_file is None,
                        allow_agent=key_file is None, timeout=self.timeout,
                        banner_timeout=self.timeout, auth_timeout=self.timeout)
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


def channel_output(chan: Any, timeout: float) -> RunOutput:
    """All a session channel's output (its command's stdout and stderr, combined) and the
    command's exit code; no read waits longer than ``timeout`` seconds."""
    chan.settimeout(timeout)
    chunks = []
    while True:
        data = chan.recv(65536)
        if not data:
            break
        chunks.append(data)
    return RunOutput(chan.recv_exit_status(), b"".join(chunks).decode("utf-8", "replace"))


class Sessions:
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
        """A session running ``command``, and its entry (give it back with :meth:`release`)."""
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

    def run(self, command: str, timeout: float) -> RunOutput:
        """Run a shell command; its output (stdout and stderr) and exit code."""
        chan, entry = self.open(command, combine=True)
        try:
            return channel_output(chan, timeout)
        finally:
            chan.close()
            self.release(entry)

    def close(self) -> None:
        with self.lock:
            for e in self.clients:
                e[0].close()


class Forwarder:
    """A unix socket on this computer whose every connection is a ``docker system dial-stdio``
    on the host, over SSH."""

    def __init__(self, sessions: Sessions, folder: Path, path: Path) -> None:
        self.sessions, self.folder, self.path = sessions, folder, path
        _home.remove_inside(folder, path)  # a socket left by an earlier session
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        path.chmod(0o600)
        self.sock.listen(32)
        self.closed = False
        threading.Thread(target=self._serve, daemon=True, name=f"swarmlab-ssh {path.name}").start()

    @property
    def url(self) -> str:
        """The socket as docker-py's ``base_url``."""
        return f"unix://{self.path}"

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


def socket_name(host: Host, instance: str) -> str:
    """The forwarded socket's file name for a host, of one provider instance (two notebooks
    attached to one lab each have their own; a checked host name, long ones hashed, as a unix
    socket's path has at most 107 bytes)."""
    name = host.hostname.replace(":", "_")
    if len(name) > 40:
        name = hashlib.sha256(host.hostname.encode()).hexdigest()[:16]
    return _home.check_path_part(f"ssh-{name}-{host.port}-{instance}.sock", "socket name")
