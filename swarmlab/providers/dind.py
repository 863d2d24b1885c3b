"""The ``dind`` provider: each machine is a container on the local engine running its own
dockerd (Docker-in-Docker), the way kind makes Kubernetes nodes.

- One bridge network per lab (``swarmlab-<lab>``); a machine's address on it is what it
  advertises to the swarm, so two labs on one engine never see each other.
- A machine's engine always listens on a unix socket inside the machine
  (``/var/run/docker.sock``, for ``docker`` run through :meth:`DindProvider.run`). swarmlab
  reaches it one of two ways (``api=``):

  ``"socket"``: a second unix socket in a per-machine folder bind-mounted from this computer
  (``~/.swarmlab/labs/<lab>/<machine>/docker.sock``, folder mode 0700). No TCP port at all.
  Needs the engine on this same computer (Linux, WSL2 without Docker Desktop).

  ``"tls"``: TCP with TLS and client certificates (``--tlsverify``), published on 127.0.0.1
  only. Certificates (a per-lab CA, swarmlab's client certificate) live under
  ``~/.swarmlab/labs/<lab>/tls`` with mode 0600; each machine gets its own server certificate.
  Works wherever published ports reach 127.0.0.1, Docker Desktop included.

  ``"auto"`` (the default) takes ``socket`` on a local Linux engine and ``tls`` on Docker
  Desktop. An engine on another computer (``DOCKER_HOST=tcp://...``) is refused with a clear
  error. There is never a plaintext TCP API.
- ``--privileged`` is used where the engine allows it. Where it does not (a sandbox without
  CAP_SYS_RESOURCE), the machine is started with an explicit capability set instead
  (:data:`CAPABILITY_MODE`), and :meth:`DindProvider.security` says which one was used.
- Every container, volume and network carries the lab's labels; ``destroy`` is a label query.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
import requests

from .. import _tls as tls
from .._engine import engine_client, host_client, ping, swarmlab_home
from .._errors import (
    DockerError,
    ImageNotAvailable,
    InvalidArgument,
    MachineNotFound,
    ProviderUnavailable,
    WaitTimeout,
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
    check_machine_names,
    lab_labels,
)

ONLINE_NODE_IMAGE = "docker:dind"
OFFLINE_NODE_IMAGE = "swarmlab/node:bookworm"
LABEL_SECURITY = "io.swarmlab.security"
LABEL_SOCKET = "io.swarmlab.socket"
LABEL_API = "io.swarmlab.api"
SOCKET_DIR_IN_MACHINE = "/run/swarmlab"
TLS_DIR_IN_MACHINE = "/etc/swarmlab/tls"
TLS_PORT = 2376

#: What replaces ``--privileged`` where the engine refuses it (no CAP_SYS_RESOURCE).
CAPABILITY_MODE: dict[str, Any] = {
    "cap_add": ["ALL"],
    "cap_drop": ["SYS_RESOURCE"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    "cgroupns": "host",
    "tmpfs": {"/run": "", "/tmp": ""},
}
CAPABILITY_FLAGS = (
    "--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined "
    "--security-opt apparmor=unconfined --security-opt systempaths=unconfined "
    "--cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run"
)

# Which security mode each host engine accepts, learned once per process.
_security_by_engine: dict[str, str] = {}
_security_lock = threading.Lock()


def default_node_image(host: docker.DockerClient) -> str:
    """``SWARMLAB_NODE_IMAGE``; else the offline image when it was built; else docker:dind."""
    env = os.environ.get("SWARMLAB_NODE_IMAGE")
    if env:
        return env
    try:
        host.images.get(OFFLINE_NODE_IMAGE)
        return OFFLINE_NODE_IMAGE
    except docker.errors.ImageNotFound:
        return ONLINE_NODE_IMAGE


class DindProvider(Provider):
    """Machines as Docker-in-Docker containers on the local engine."""

    name = "dind"

    def __init__(
        self,
        lab: str,
        node_image: str | None = None,
        security: str = "auto",
        api: str = "auto",
        host: docker.DockerClient | None = None,
    ) -> None:
        super().__init__(lab)
        if security not in ("auto", "privileged", "capabilities"):
            raise InvalidArgument(
                f"security={security!r}: use 'auto', 'privileged' or 'capabilities'"
            )
        if api not in ("auto", "socket", "tls"):
            raise InvalidArgument(f"api={api!r}: use 'auto', 'socket' or 'tls'")
        self.host = host or host_client()
        self.api = self._choose_api(api)
        self.node_image = node_image or default_node_image(self.host)
        self._security = security
        self._clients: dict[str, docker.DockerClient] = {}
        self._lock = threading.Lock()

    # -- names and places -------------------------------------------------------------
    @property
    def network_name(self) -> str:
        return f"swarmlab-{self.lab}"

    def container_name(self, machine: str) -> str:
        # '.' appears in neither lab nor machine names: lab a-b's machine c and lab a's
        # machine b-c never share a container name
        return f"{self.lab}.{machine}"

    def lab_dir(self) -> Path:
        return swarmlab_home() / "labs" / self.lab

    def socket_path(self, machine: str) -> Path:
        return self.lab_dir() / machine / "docker.sock"

    def tls_dir(self) -> Path:
        return self.lab_dir() / "tls"

    def _filters(self, role: str, machine: str | None = None) -> dict[str, Any]:
        labels = [f"{LABEL_LAB}={self.lab}", f"{LABEL_ROLE}={role}", f"{LABEL_PROVIDER}={self.name}"]
        if machine is not None:
            labels.append(f"{LABEL_MACHINE}={machine}")
        return {"label": labels}

    def _choose_api(self, api: str) -> str:
        """How swarmlab reaches the machines' engines: see the module docstring."""
        base = self.host.api.base_url
        local_unix = base.startswith("http+docker://localhost") or base.startswith("http+unix")
        loopback = any(h in base for h in ("://127.0.0.1", "://localhost", "://[::1]"))
        if not (local_unix or loopback):
            raise ProviderUnavailable(
                f"the dind provider publishes each machine's engine on this computer's "
                f"127.0.0.1, but DOCKER_HOST points at another computer "
                f"({os.environ.get('DOCKER_HOST', base)}). Run swarmlab on the computer that "
                f"runs Docker, or use provider='ssh' for remote hosts."
            )
        if api != "auto":
            return api
        if not local_unix:
            return "tls"
        desktop = "docker desktop" in str(self.host.info().get("OperatingSystem", "")).lower()
        return "tls" if desktop else "socket"

    # -- security mode -------------------------------------------------------------------
    def _engine_id(self) -> str:
        return str(self.host.info().get("ID", ""))

    def security(self) -> str:
        """'privileged' or 'capabilities': how this lab's machines were started."""
        for c in self._containers():
            return str(c.labels.get(LABEL_SECURITY, "unknown"))
        return self._security

    @staticmethod
    def describe_security(mode: str) -> str:
        if mode == "privileged":
            return "machines run with --privileged"
        return (
            "this engine does not permit --privileged (it lacks CAP_SYS_RESOURCE), so "
            f"machines run with explicit capabilities instead: {CAPABILITY_FLAGS}"
        )

    # -- machines ------------------------------------------------------------------------
    def _containers(self, machine: str | None = None) -> list[Any]:
        return self.host.containers.list(all=True, filters=self._filters("machine", machine))

    def _container(self, machine: str) -> Any:
        found = self._containers(machine)
        if not found:
            known = ", ".join(sorted(c.labels.get(LABEL_MACHINE, "?") for c in self._containers()))
            raise MachineNotFound(
                f"lab {self.lab!r} has no machine {machine!r} "
                f"(machines: {known or 'none yet'}); create it with "
                f"lab.machine.create({machine!r})"
            )
        return found[0]

    def _ensure_node_image(self) -> None:
        try:
            self.host.images.get(self.node_image)
            return
        except docker.errors.ImageNotFound:
            pass
        try:
            self.host.images.pull(self.node_image)
        except docker.errors.DockerException as e:
            raise ImageNotAvailable(
                f"the node image {self.node_image!r} is not on this computer and cannot be "
                f"pulled ({_reason(e)}). Offline? Build the offline node image with "
                f"'scripts/build-images' and use node_image={OFFLINE_NODE_IMAGE!r} "
                f"(or set SWARMLAB_NODE_IMAGE)."
            ) from None

    def _ensure_network(self) -> None:
        if self.host.networks.list(filters=self._filters("network")):
            return
        try:
            self.host.networks.create(
                self.network_name,
                driver="bridge",
                labels=lab_labels(self.lab, "network", self.name),
                check_duplicate=True,
            )
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise DockerError(f"failed to create network {self.network_name}: {_reason(e)}") from None

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
        existing = {c.labels.get(LABEL_MACHINE): c for c in self._containers()}
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
        if todo:
            self._ensure_node_image()
            self._ensure_network()
            mode = self._security_mode()
            try:
                with ThreadPoolExecutor(max_workers=min(16, len(todo))) as pool:
                    modes = list(pool.map(lambda n: self._start_machine(n, mode), todo))
                    list(pool.map(lambda n: self._wait_ready(n, timeout), todo))
            except BaseException:
                # a half-made machine is no use to anyone: take away what this call made
                self.remove(todo)
                if not self._containers():
                    self.destroy()
                raise
            for n, m in zip(todo, modes):
                outcomes[n] = CreateOutcome(n, True, self.describe_security(m))
        return [outcomes[n] for n in names]

    def _security_mode(self) -> str:
        if self._security != "auto":
            return self._security
        with _security_lock:
            return _security_by_engine.get(self._engine_id(), "auto")

    def _create_container(self, machine: str, mode: str) -> str:
        """Create (not start) the machine's container; return its id."""
        api = self.host.api
        volume = f"{self.container_name(machine)}.var-lib-docker"
        self.host.volumes.create(volume, labels=lab_labels(self.lab, "volume", self.name, machine))
        binds = {volume: {"bind": "/var/lib/docker", "mode": "rw"}}
        command = ["dockerd", "--host=unix:///var/run/docker.sock"]
        extra: dict[str, Any] = {}
        if self.api == "socket":
            binds[str(self.socket_path(machine).parent)] = {"bind": SOCKET_DIR_IN_MACHINE, "mode": "rw"}
            command += [f"--host=unix://{SOCKET_DIR_IN_MACHINE}/docker.sock", f"--group={os.getgid()}"]
        else:
            command += [f"--host=tcp://0.0.0.0:{TLS_PORT}", "--tlsverify",
                        f"--tlscacert={TLS_DIR_IN_MACHINE}/ca.pem",
                        f"--tlscert={TLS_DIR_IN_MACHINE}/server.pem",
                        f"--tlskey={TLS_DIR_IN_MACHINE}/server-key.pem"]
            extra["port_bindings"] = {TLS_PORT: ("127.0.0.1", None)}
        if mode == "privileged":
            extra["privileged"] = True
        else:
            extra.update(CAPABILITY_MODE)
            binds["/sys/fs/cgroup"] = {"bind": "/sys/fs/cgroup", "mode": "rw"}
        host_config = api.create_host_config(binds=binds, init=True, **extra)
        if mode != "privileged":
            # `--security-opt systempaths=unconfined`: the CLI's words for these two fields,
            # which docker-py has no argument for. dockerd inside writes /proc/sys.
            host_config["MaskedPaths"] = []
            host_config["ReadonlyPaths"] = []
        labels = lab_labels(self.lab, "machine", self.name, machine)
        labels[LABEL_SECURITY] = mode
        labels[LABEL_API] = self.api
        if self.api == "socket":
            labels[LABEL_SOCKET] = str(self.socket_path(machine))
        created = api.create_container(
            image=self.node_image,
            command=command,
            ports=[TLS_PORT] if self.api == "tls" else None,
            name=self.container_name(machine),
            hostname=machine,
            labels=labels,
            environment={"DOCKER_TLS_CERTDIR": ""},
            host_config=host_config,
            networking_config=api.create_networking_config(
                {self.network_name: api.create_endpoint_config()}
            ),
        )
        if self.api == "tls":
            api.put_archive(created["Id"], "/", _tar(TLS_DIR_IN_MACHINE, tls.server_files(self.tls_dir(), machine)))
        return str(created["Id"])

    def _start_machine(self, machine: str, mode: str) -> str:
        if self.api == "socket":
            sock_dir = self.socket_path(machine).parent
            sock_dir.mkdir(parents=True, exist_ok=True)
            sock_dir.chmod(0o700)
            stale = self.socket_path(machine)
            if stale.exists() or stale.is_symlink():
                stale.unlink()
        tried = ["privileged", "capabilities"] if mode == "auto" else [mode]
        for attempt in tried:
            cid = None
            try:
                cid = self._create_container(machine, attempt)
                self.host.api.start(cid)
            except docker.errors.APIError as e:
                if cid is not None:
                    self.host.api.remove_container(cid, force=True)
                if attempt == "privileged" and mode == "auto" and _privileged_refused(e):
                    continue
                raise DockerError(
                    f"failed to start machine {machine!r} (image {self.node_image}): {_reason(e)}"
                ) from None
            if mode == "auto":
                with _security_lock:
                    _security_by_engine[self._engine_id()] = attempt
            return attempt
        raise AssertionError("unreachable")

    def _wait_ready(self, machine: str, timeout: float) -> None:
        """The readiness gate: the machine's engine answers a ping."""
        deadline = time.monotonic() + timeout
        last = "not started"
        checks = 0
        while time.monotonic() < deadline:
            try:
                if ping(**self._client_kwargs(machine, timeout=5)):
                    return
                last = "the engine answered, but not OK"
            except (docker.errors.DockerException, OSError, _NotYet) as e:
                # (requests' ConnectionError is an OSError too)
                last = str(e) or type(e).__name__
            checks += 1
            if checks % 20 == 0:  # now and then, see whether the machine died
                c = self._container(machine)
                if c.status not in ("running", "created"):
                    raise DockerError(
                        f"machine {machine!r} stopped while starting (status {c.status}); "
                        f"its log ends with:\n{self.logs(machine)}"
                    )
            time.sleep(0.05)
        raise WaitTimeout(
            f"the engine of machine {machine!r} did not answer within {timeout:.0f}s "
            f"(last: {last}); its log ends with:\n{self.logs(machine)}",
            last_state=last,
            logs=self.logs(machine),
        )

    def _client_kwargs(self, machine: str, timeout: int = 60) -> dict[str, Any]:
        """base_url (and TLS settings) for a docker-py client of this machine's engine."""
        c = self._container(machine)
        if c.labels.get(LABEL_API, "socket") == "socket":
            sock = self.socket_path(machine)
            if not sock.exists():
                raise _NotYet("no socket yet")
            return {"base_url": f"unix://{sock}", "timeout": timeout}
        port = _published_port(c)
        if port is None:
            raise _NotYet(f"machine {machine!r} has no published TLS port (is it running?)")
        certs = tls.client_certs(self.tls_dir())
        return {
            "base_url": f"https://127.0.0.1:{port}",
            "timeout": timeout,
            "tls": docker.tls.TLSConfig(client_cert=(str(certs.cert), str(certs.key)),
                                        ca_cert=str(certs.ca), verify=True),
        }

    def list(self) -> list[MachineInfo]:
        out = []
        for c in self._containers():
            name = c.labels.get(LABEL_MACHINE, c.name)
            state = {"running": "Running", "exited": "Stopped", "created": "Starting",
                     "paused": "Paused"}.get(c.status, "Error")
            net = c.attrs.get("NetworkSettings", {}).get("Networks", {}).get(self.network_name, {})
            out.append(
                MachineInfo(
                    name=name,
                    driver=self.name,
                    state=state,
                    url=_url(c),
                    address=net.get("IPAddress", "") if state == "Running" else "",
                    details={"security": c.labels.get(LABEL_SECURITY, ""),
                             "container": c.name, "image": self.node_image},
                )
            )
        return sorted(out, key=lambda m: m.name)

    def remove(self, names: Sequence[str]) -> None:
        for n in names:
            self._drop_client(n)
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(names)))) as pool:
            list(pool.map(self._remove_one, names))

    def _remove_one(self, machine: str) -> None:
        for c in self._containers(machine):
            c.remove(force=True, v=True)
        for v in self.host.volumes.list(filters=self._filters("volume", machine)):
            v.remove(force=True)
        shutil.rmtree(self.socket_path(machine).parent, ignore_errors=True)

    def destroy(self) -> dict[str, int]:
        machines = [c.labels.get(LABEL_MACHINE, "") for c in self._containers()]
        self.remove(machines)
        # only what this provider made: another provider may keep a lab of the same name
        mine = {"label": [f"{LABEL_LAB}={self.lab}", f"{LABEL_PROVIDER}={self.name}"]}
        volumes = self.host.volumes.list(filters=mine)
        for v in volumes:
            v.remove(force=True)
        networks = self.host.networks.list(filters=mine)
        for net in networks:
            net.remove()
        shutil.rmtree(self.lab_dir(), ignore_errors=True)
        return {"containers": len(machines), "volumes": len(machines) + len(volumes),
                "networks": len(networks)}

    def stop(self, name: str) -> None:
        self._drop_client(name)
        self._container(name).stop(timeout=10)

    def start(self, name: str, timeout: float = 60.0) -> None:
        self._drop_client(name)  # a restarted TLS machine gets a new port
        c = self._container(name)
        if c.status != "running":
            c.start()
        self._wait_ready(name, timeout)

    # -- one machine ---------------------------------------------------------------------
    def address(self, name: str) -> str:
        c = self._container(name)
        net = c.attrs.get("NetworkSettings", {}).get("Networks", {}).get(self.network_name)
        if c.status != "running" or not net or not net.get("IPAddress"):
            raise DockerError(f"machine {name!r} is not running; start it with lab.machine.start({name!r})")
        return str(net["IPAddress"])

    def client(self, name: str) -> docker.DockerClient:
        with self._lock:
            cached = self._clients.get(name)
            if cached is not None:
                return cached
        try:
            client = engine_client(**self._client_kwargs(name))
        except (_NotYet, docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise DockerError(
                f"cannot reach the engine of machine {name!r} ({e}); if it is stopped, start it "
                f"with lab.machine.start({name!r})"
            ) from None
        with self._lock:
            kept = self._clients.setdefault(name, client)
        if kept is not client:
            client.close()
        return kept

    def _drop_client(self, name: str) -> None:
        with self._lock:
            c = self._clients.pop(name, None)
        if c is not None:
            c.close()

    def run(self, name: str, command: str) -> RunOutput:
        c = self._container(name)
        code, out = c.exec_run(["sh", "-c", command], environment={"DOCKER_HOST": ""})
        return RunOutput(int(code), out.decode("utf-8", "replace"))

    def logs(self, name: str, tail: int = 30) -> str:
        try:
            data = self._container(name).logs(tail=tail)
        except (docker.errors.DockerException, MachineNotFound):
            return "(no log: the machine is gone)"
        return str(data.decode("utf-8", "replace")).rstrip()

    def create_command(self, names: Sequence[str]) -> str:
        """The ``docker run`` that makes each machine, with the flags actually used."""
        mode = self._security_mode()
        mode = self.security() if mode == "auto" else mode
        flags = CAPABILITY_FLAGS if mode == "capabilities" else "--privileged"
        out = []
        for n in names:
            where = (f"-p 127.0.0.1::{TLS_PORT} " if self.api == "tls"
                     else f"-v {self.socket_path(n).parent}:{SOCKET_DIR_IN_MACHINE} ")
            daemon = ("dockerd -H unix:///var/run/docker.sock "
                      + (f"-H tcp://0.0.0.0:{TLS_PORT} --tlsverify ..." if self.api == "tls"
                         else f"-H unix://{SOCKET_DIR_IN_MACHINE}/docker.sock"))
            out.append(
                f"docker run -d --init {flags} --name {self.container_name(n)} --hostname {n} "
                f"--network {self.network_name} -v {self.container_name(n)}.var-lib-docker:/var/lib/docker "
                f"{where}{self.node_image} {daemon}"
            )
        return "\n".join(out)

    def close(self) -> None:
        for n in list(self._clients):
            self._drop_client(n)


class _NotYet(Exception):
    """A machine's engine cannot be addressed yet (no socket, no published port)."""


def _published_port(c: Any) -> int | None:
    ports = (c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    bound = ports.get(f"{TLS_PORT}/tcp") or []
    return int(bound[0]["HostPort"]) if bound else None


def _url(c: Any) -> str:
    if c.labels.get(LABEL_API, "socket") == "socket":
        return f"unix://{c.labels.get(LABEL_SOCKET, '')}"
    port = _published_port(c)
    return f"tcp://127.0.0.1:{port}" if port else ""


def _tar(folder: str, files: dict[str, bytes]) -> bytes:
    """A tar archive holding ``files`` under ``folder`` (for put_archive to "/")."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        parts = folder.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = tarfile.TarInfo("/".join(parts[:i]))
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(d)
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder.strip('/')}/{name}")
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _privileged_refused(e: docker.errors.APIError) -> bool:
    text = str(e).lower()
    return "operation not permitted" in text and any(w in text for w in ("caps", "privileged", "oci runtime"))


def _reason(e: Exception) -> str:
    if isinstance(e, docker.errors.APIError):
        return str(e.explanation or e)
    return str(e)
