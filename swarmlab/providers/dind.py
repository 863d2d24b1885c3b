"""The ``dind`` provider: each machine is a container on the local engine running its own
dockerd (Docker-in-Docker), the way kind makes Kubernetes nodes.

- Names carry the lab, the machine and the owner (``u<uid>``, see
  :func:`~swarmlab.providers._base.owner_tag`): machine ``manager1`` of lab ``tutorial`` of
  user 1000 is the container ``tutorial.manager1.u1000`` (hostname ``manager1``) with the
  volume ``tutorial.manager1.u1000.var-lib-docker``, on the lab's bridge network
  ``swarmlab-tutorial-u1000``. A machine's address on that network is what it advertises to
  the swarm, so two labs on one engine never see each other, and two users who both call
  their lab ``tutorial`` never share, list or remove each other's machines.
- Everything carries the lab's labels and the owner's (``io.swarmlab.owner=<uid>``); every
  query asks for both, and ``destroy`` is such a query. Nothing read back is trusted: a
  container, volume or network is used or removed only when its labels are valid names and
  its name is the one swarmlab gives it. Anything else that carries the lab's labels (any
  image can carry them) is left alone and reported (:meth:`DindProvider.left_alone`).
- A machine's engine always listens on a unix socket inside the machine
  (``/var/run/docker.sock``, for ``docker`` run through :meth:`DindProvider.run`). swarmlab
  reaches it one of two ways (``api=``):

  ``"socket"``: a second unix socket in a per-machine folder bind-mounted from this computer
  (``~/.swarmlab/labs/dind/<lab>/<machine>/docker.sock``, folder mode 0700). No TCP port at
  all. Needs the engine on this same computer (Linux, WSL2 without Docker Desktop).

  ``"tls"``: TCP with TLS and client certificates (``--tlsverify``), published on 127.0.0.1
  only. Certificates (a per-lab CA, swarmlab's client certificate) live under
  ``~/.swarmlab/labs/dind/<lab>/tls`` with mode 0600; each machine gets its own server
  certificate. Works wherever published ports reach 127.0.0.1, Docker Desktop included.

  Folders are checked before anything in them is trusted (:mod:`swarmlab._home`: mode 0700,
  ours, not a symlink); nothing outside the lab's folder is ever removed.

  ``"auto"`` (the default) takes ``socket`` on a local Linux engine and ``tls`` on Docker
  Desktop. An engine on another computer (``DOCKER_HOST=tcp://...``) is refused with a clear
  error. There is never a plaintext TCP API.
- ``--privileged`` is used where the engine allows it. Where it does not (a sandbox without
  CAP_SYS_RESOURCE), the machine is started with an explicit capability set instead
  (:data:`CAPABILITY_MODE`), and :meth:`DindProvider.security` says which one was used.
- One process at a time changes a lab's machines: ``create``, ``remove`` and ``destroy`` hold
  a lock file in the lab's folder, so two notebooks that create the same lab at once both
  end with the same machines. A name the engine already has (another process made it) is
  used when it is what swarmlab makes, and a failed ``create`` takes away only what it made.
"""

from __future__ import annotations

import io
import ipaddress
import os
import stat
import tarfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
import requests

from .. import _home
from .. import _tls as tls
from .._engine import engine_client, host_client, ping
from .._errors import (
    DockerError,
    ImageNotAvailable,
    InsecurePath,
    InvalidArgument,
    MachineNotFound,
    ProviderUnavailable,
    WaitTimeout,
)
from ._base import (
    LABEL_LAB,
    LABEL_MACHINE,
    LABEL_OWNER,
    LABEL_PROVIDER,
    LABEL_ROLE,
    CreateOutcome,
    MachineInfo,
    Provider,
    RunOutput,
    check_machine_name,
    check_machine_names,
    lab_labels,
    owner,
    owner_tag,
)

ONLINE_NODE_IMAGE = "docker:dind"
OFFLINE_NODE_IMAGE = "swarmlab/node:bookworm"
LABEL_SECURITY = "io.swarmlab.security"
LABEL_SOCKET = "io.swarmlab.socket"
LABEL_API = "io.swarmlab.api"
SOCKET_DIR_IN_MACHINE = "/run/swarmlab"
TLS_DIR_IN_MACHINE = "/etc/swarmlab/tls"
TLS_PORT = 2376
#: How long ``remove`` and ``destroy`` wait for another process changing the same lab.
LOCK_WAIT = 300.0

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
        #: who this lab belongs to on a shared engine (the owner label's value)
        self.owner = owner()
        self._tag = owner_tag(self.owner)
        self.host = host or host_client()
        self.api = self._choose_api(api)
        self.node_image = node_image or default_node_image(self.host)
        self._security = security
        self._clients: dict[str, docker.DockerClient] = {}
        self._lock = threading.Lock()

    # -- names and places -------------------------------------------------------------
    @property
    def network_name(self) -> str:
        # the owner tag has no '-': lab a-u1 of user 2 (swarmlab-a-u1-u2) is never lab a's
        return f"swarmlab-{self.lab}-{self._tag}"

    def container_name(self, machine: str) -> str:
        # '.' appears in no lab, machine or owner name: lab a-b's machine c and lab a's
        # machine b-c never share a container name, nor do two users' labs
        return f"{self.lab}.{check_machine_name(machine)}.{self._tag}"

    def volume_name(self, machine: str) -> str:
        return f"{self.container_name(machine)}.var-lib-docker"

    def lab_dir(self, create: bool = False) -> Path:
        """The lab's folder (``<home>/labs/dind/<lab>``), checked (and its parents) before it
        is used; made mode 0700 when ``create``."""
        return _home.lab_dir(self.name, self.lab, create=create)

    def socket_path(self, machine: str) -> Path:
        """Where the machine's engine socket is (for showing it: nothing here is checked)."""
        return _home.home_path() / "labs" / self.name / self.lab / check_machine_name(machine) / "docker.sock"

    def tls_dir(self) -> Path:
        return self.lab_dir(create=True) / "tls"

    def _labels(self, role: str, machine: str | None = None) -> dict[str, str]:
        labels = lab_labels(self.lab, role, self.name, machine)
        labels[LABEL_OWNER] = self.owner
        return labels

    def _filters(self, role: str, machine: str | None = None) -> dict[str, Any]:
        return {"label": [f"{k}={v}" for k, v in self._labels(role, machine).items()]}

    def _choose_api(self, api: str) -> str:
        """How swarmlab reaches the machines' engines: see the module docstring."""
        base = self.host.api.base_url
        where = engine_location(base)
        if where == "remote":
            raise ProviderUnavailable(
                f"the dind provider publishes each machine's engine on this computer's "
                f"127.0.0.1, but DOCKER_HOST points at another computer "
                f"({os.environ.get('DOCKER_HOST', base)}). Run swarmlab on the computer that "
                f"runs Docker, or use provider='ssh' for remote hosts."
            )
        if api != "auto":
            return api
        if where != "unix":
            return "tls"
        desktop = "docker desktop" in str(self.host.info().get("OperatingSystem", "")).lower()
        return "tls" if desktop else "socket"

    # -- what is ours ---------------------------------------------------------------------
    def _why_not_mine(self, kind: str, name: str, labels: dict[str, str] | None) -> str:
        """Why a container, volume or network found by the lab's labels is not one swarmlab
        made for this lab and user; '' when it is. Labels are valid names, the name is the
        one swarmlab gives it, and so no path, client or command is made from anything else."""
        labels = labels or {}
        want = {LABEL_LAB: self.lab, LABEL_PROVIDER: self.name, LABEL_OWNER: self.owner,
                LABEL_ROLE: "network" if kind == "network" else "machine" if kind == "container" else "volume"}
        for key, value in want.items():
            if labels.get(key) != value:
                return f"its label {key}={_show(labels.get(key))} is not {value!r}"
        if kind == "network":
            expected = self.network_name
        else:
            machine = labels.get(LABEL_MACHINE)
            try:
                check_machine_name(machine)
            except InvalidArgument:
                return f"its label {LABEL_MACHINE}={_show(machine)} is not a machine name"
            assert machine is not None
            expected = self.container_name(machine) if kind == "container" else self.volume_name(machine)
        if kind == "container":
            if labels.get(LABEL_API) not in ("socket", "tls"):
                return f"its label {LABEL_API}={_show(labels.get(LABEL_API))} is not 'socket' or 'tls'"
            if labels.get(LABEL_SECURITY) not in ("privileged", "capabilities"):
                return (f"its label {LABEL_SECURITY}={_show(labels.get(LABEL_SECURITY))} is not "
                        f"'privileged' or 'capabilities'")
        if name != expected:
            return f"its name is not {expected!r}, the name swarmlab gives it"
        return ""

    def _found(self, machine: str | None = None) -> list[Any]:
        """The lab's machine containers (of this user), only those swarmlab made."""
        found = self.host.containers.list(all=True, filters=self._filters("machine", machine),
                                          ignore_removed=True)
        return [c for c in found if not self._why_not_mine("container", c.name, c.labels)]

    def _volumes(self, machine: str | None = None) -> list[Any]:
        found = self.host.volumes.list(filters=self._filters("volume", machine))
        return [v for v in found if not self._why_not_mine("volume", v.name, v.attrs.get("Labels"))]

    def _networks(self) -> list[Any]:
        found = self.host.networks.list(filters=self._filters("network"))
        return [n for n in found if not self._why_not_mine("network", n.name, n.attrs.get("Labels"))]

    def left_alone(self) -> list[str]:
        """What carries this lab's labels (and this user's, or no owner at all) but is not what
        swarmlab makes: one sentence each, with the command that removes it by hand."""
        mine = {"label": [f"{LABEL_LAB}={self.lab}", f"{LABEL_PROVIDER}={self.name}"]}
        found: list[tuple[str, Any, dict[str, str], str]] = []
        for c in self.host.containers.list(all=True, filters=mine, ignore_removed=True):
            found.append(("container", c, c.labels, f"docker rm -f {c.short_id}"))
        for v in self.host.volumes.list(filters=mine):
            found.append(("volume", v, v.attrs.get("Labels") or {}, f"docker volume rm {v.name}"))
        for n in self.host.networks.list(filters=mine):
            found.append(("network", n, n.attrs.get("Labels") or {}, f"docker network rm {n.short_id}"))
        notes = []
        for kind, thing, labels, remove in found:
            if LABEL_OWNER not in labels:
                why = "it carries no owner label (made by an older swarmlab, or not by swarmlab)"
            elif labels[LABEL_OWNER] != self.owner:
                continue  # another user's lab of the same name: not ours to see
            else:
                why = self._why_not_mine(kind, thing.name, labels)
            if why:
                notes.append(f"left alone: {kind} {thing.name!r} (labels don't match what swarmlab "
                             f"makes: {why}); swarmlab neither uses nor removes it. If it is yours, "
                             f"remove it with '{remove}'.")
        return notes

    @contextmanager
    def _locked(self, timeout: float) -> Iterator[None]:
        """One process (or thread) at a time changes this lab's machines."""
        with _home.locked(lambda: self.lab_dir(create=True), f"the machines of lab {self.lab!r}", timeout):
            yield

    # -- security mode -------------------------------------------------------------------
    def _engine_id(self) -> str:
        return str(self.host.info().get("ID", ""))

    def security(self) -> str:
        """'privileged' or 'capabilities': how this lab's machines were started."""
        for c in self._found():
            return str(c.labels[LABEL_SECURITY])
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
    def _container(self, machine: str) -> Any:
        check_machine_name(machine)
        found = self._found(machine)
        if not found:
            known = ", ".join(sorted(c.labels[LABEL_MACHINE] for c in self._found()))
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

    def _ensure_network(self) -> bool:
        """Make the lab's network unless it is there; return whether this call made it."""
        if self._networks():
            return False
        try:
            self.host.networks.create(
                self.network_name,
                driver="bridge",
                labels=self._labels("network"),
                check_duplicate=True,
            )
            return True
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise DockerError(f"failed to create network {self.network_name}: {_reason(e)}") from None
        # the engine has a network of that name: another process made it just now, or it is
        # not swarmlab's at all
        if not self._networks():
            raise DockerError(
                f"a network named {self.network_name!r} exists, but swarmlab did not make it "
                f"(its labels don't match): remove it ('docker network rm {self.network_name}') "
                f"or use another lab name"
            )
        return False

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
        # every folder (and the lab's CA) is checked before anything is made on the engine
        folder = self.lab_dir(create=True)
        if self.api == "socket":
            for n in names:
                if os.path.lexists(folder / n):
                    _home.check_private_dir(folder / n, f"the socket folder of machine {n!r}")
        else:
            tls.client_certs(self.tls_dir())
        with self._locked(max(LOCK_WAIT, 2 * timeout + 60)):
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
        if todo:
            self._ensure_node_image()
            made_network = self._ensure_network()
            mode = self._security_mode()
            made: dict[str, str | None] = {}  # machine -> the container this call made (id)
            try:
                with ThreadPoolExecutor(max_workers=min(16, len(todo))) as pool:
                    modes = list(pool.map(lambda n: self._start_machine(n, mode, made), todo))
                    list(pool.map(lambda n: self._wait_ready(n, timeout), todo))
            except BaseException:
                # a half-made machine is no use to anyone: take away what this call made,
                # and only that (another process may be using the rest)
                self._undo(made, made_network)
                raise
            for n, m in zip(todo, modes):
                note = self.describe_security(m) if n in made else "another program made it just now"
                outcomes[n] = CreateOutcome(n, n in made, note)
        return [outcomes[n] for n in names]

    def _undo(self, made: dict[str, str | None], made_network: bool) -> None:
        for machine, cid in made.items():
            self._drop_client(machine)
            if cid is not None:
                with suppress(docker.errors.NotFound):
                    self.host.api.remove_container(cid, force=True, v=True)
            for v in self._volumes(machine):
                with suppress(docker.errors.APIError):  # in use: not this call's to take
                    v.remove(force=True)
            if self.api == "socket":
                _home.remove_inside(self.lab_dir(), self.lab_dir() / machine)
        if made_network:
            for net in self._networks():
                net.reload()
                if not net.attrs.get("Containers"):
                    with suppress(docker.errors.APIError):  # a machine was connected meanwhile
                        net.remove()

    def _security_mode(self) -> str:
        if self._security != "auto":
            return self._security
        with _security_lock:
            return _security_by_engine.get(self._engine_id(), "auto")

    def _create_container(self, machine: str, mode: str) -> str:
        """Create (not start) the machine's container; return its id. :class:`_Taken` when the
        engine already has a container of that name."""
        api = self.host.api
        files = tls.server_files(self.tls_dir(), machine) if self.api == "tls" else {}
        volume = self.host.volumes.create(self.volume_name(machine), labels=self._labels("volume", machine))
        why = self._why_not_mine("volume", volume.name, volume.attrs.get("Labels"))
        if why:  # the engine gave back a volume of that name that swarmlab did not make
            raise DockerError(
                f"a volume named {volume.name!r} exists, but swarmlab did not make it ({why}): "
                f"remove it ('docker volume rm {volume.name}') or use another lab name"
            )
        binds = {volume.name: {"bind": "/var/lib/docker", "mode": "rw"}}
        command = ["dockerd", "--host=unix:///var/run/docker.sock"]
        extra: dict[str, Any] = {}
        if self.api == "socket":
            binds[str(self.lab_dir() / machine)] = {"bind": SOCKET_DIR_IN_MACHINE, "mode": "rw"}
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
        labels = self._labels("machine", machine)
        labels[LABEL_SECURITY] = mode
        labels[LABEL_API] = self.api
        if self.api == "socket":
            labels[LABEL_SOCKET] = str(self.socket_path(machine))  # shown, never read back
        try:
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
        except docker.errors.APIError as e:
            if e.status_code == 409:
                raise _Taken(str(e)) from None
            raise
        if self.api == "tls":
            try:
                api.put_archive(created["Id"], "/", _tar(TLS_DIR_IN_MACHINE, files))
            except BaseException:
                api.remove_container(created["Id"], force=True)
                raise
        return str(created["Id"])

    def _start_machine(self, machine: str, mode: str, made: dict[str, str | None]) -> str:
        """Make and start the machine; record it (and its container) in ``made``. A machine
        another process made meanwhile is used as it is. Returns the security mode."""
        made[machine] = None
        if self.api == "socket":
            sock_dir = _home.make_private_dir(self.lab_dir() / machine)
            _home.remove_inside(self.lab_dir(), sock_dir / "docker.sock")  # a stale socket
        tried = ["privileged", "capabilities"] if mode == "auto" else [mode]
        for attempt in tried:
            cid = None
            try:
                cid = self._create_container(machine, attempt)
                made[machine] = cid
                self.host.api.start(cid)
            except _Taken:
                del made[machine]  # not this call's: never taken away by it
                return self._made_meanwhile(machine)
            except docker.errors.APIError as e:
                if cid is not None:
                    made[machine] = None
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

    def _made_meanwhile(self, machine: str) -> str:
        """The engine already has a container of this machine's name: use it if it is what
        swarmlab makes (another process made it), else refuse to touch it."""
        found = self._found(machine)
        if not found:
            name = self.container_name(machine)
            raise DockerError(
                f"a container named {name!r} exists, but it is not a machine swarmlab made (its "
                f"labels don't match): remove it ('docker rm -f {name}') or use another lab name"
            )
        if found[0].status != "running":
            found[0].start()
        return str(found[0].labels[LABEL_SECURITY])

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
        """base_url (and TLS settings) for a docker-py client of this machine's engine; the
        folders on the way are checked first."""
        c = self._container(machine)
        if c.labels[LABEL_API] == "socket":
            folder = self.lab_dir() / machine
            if not os.path.lexists(folder):
                raise _NotYet(f"no socket folder {folder} (yet)")
            _home.check_private_dir(folder, f"the socket folder of machine {machine!r}")
            sock = folder / "docker.sock"
            try:
                st = os.lstat(sock)
            except FileNotFoundError:
                raise _NotYet("no socket yet") from None
            if not stat.S_ISSOCK(st.st_mode):
                raise InsecurePath(f"{sock} is not a socket (a symlink or a file?): remove it "
                                   f"(rm {sock}) and start the machine again")
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
        for c in self._found():
            name = c.labels[LABEL_MACHINE]
            state = {"running": "Running", "exited": "Stopped", "created": "Starting",
                     "paused": "Paused"}.get(c.status, "Error")
            out.append(
                MachineInfo(
                    name=name,
                    driver=self.name,
                    state=state,
                    url=self._url(c, name),
                    address=_ip(self._network_of(c).get("IPAddress")) if state == "Running" else "",
                    details={"security": c.labels[LABEL_SECURITY],
                             "container": c.name, "image": self.node_image},
                )
            )
        return sorted(out, key=lambda m: m.name)

    def _network_of(self, c: Any) -> dict[str, Any]:
        return dict(c.attrs.get("NetworkSettings", {}).get("Networks", {}).get(self.network_name) or {})

    def _url(self, c: Any, machine: str) -> str:
        if c.labels[LABEL_API] == "socket":
            return f"unix://{self.socket_path(machine)}"
        port = _published_port(c)
        return f"tcp://127.0.0.1:{port}" if port else ""

    def remove(self, names: Sequence[str]) -> None:
        names = check_machine_names(names)
        with self._locked(LOCK_WAIT):
            self._remove(names)

    def _remove(self, names: Sequence[str]) -> None:
        for n in names:
            self._drop_client(n)
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(names)))) as pool:
            list(pool.map(self._remove_one, names))

    def _remove_one(self, machine: str) -> None:
        for c in self._found(machine):
            c.remove(force=True, v=True)
        for v in self._volumes(machine):
            v.remove(force=True)
        folder = self.lab_dir()
        _home.remove_inside(folder, folder / check_machine_name(machine))

    def destroy(self) -> dict[str, int]:
        with self._locked(LOCK_WAIT):
            machines = [c.labels[LABEL_MACHINE] for c in self._found()]
            self._remove(machines)
            # only what this provider made for this user: another provider or user may keep
            # a lab of the same name
            volumes = self._volumes()
            for v in volumes:
                v.remove(force=True)
            networks = self._networks()
            for net in networks:
                net.remove()
            folder = self.lab_dir()
            _home.remove_inside(folder, folder)  # the lock file too: it is held, not needed
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
        ip = _ip(self._network_of(c).get("IPAddress"))
        if c.status != "running" or not ip:
            raise DockerError(f"machine {name!r} is not running; start it with lab.machine.start({name!r})")
        return ip

    def client(self, name: str) -> docker.DockerClient:
        check_machine_name(name)
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
                f"--network {self.network_name} -v {self.volume_name(n)}:/var/lib/docker "
                f"{where}{self.node_image} {daemon}"
            )
        return "\n".join(out)

    def close(self) -> None:
        for n in list(self._clients):
            self._drop_client(n)


class _NotYet(Exception):
    """A machine's engine cannot be addressed yet (no socket, no published port)."""


class _Taken(Exception):
    """The engine already has a container of the name swarmlab gives a machine."""


def engine_location(base_url: str) -> str:
    """Where the engine at ``base_url`` (a ``DOCKER_HOST`` URL, or docker-py's form of one)
    runs: ``"unix"`` (a unix socket on this computer), ``"pipe"`` (a Windows named pipe on
    this computer), ``"loopback"`` (TCP to this computer's loopback address) or
    ``"remote"``. The URL is parsed, never searched: ``tcp://127.0.0.1.example.com`` is remote."""
    try:
        url = urllib.parse.urlsplit(base_url)
        scheme, host = url.scheme.lower(), url.hostname
    except ValueError:  # e.g. an unbalanced '[' in the host
        return "remote"
    if scheme in ("unix", "http+unix"):
        return "unix"
    if scheme == "npipe":
        return "pipe"
    if scheme == "http+docker":  # docker-py's name for unix://, npipe:// and ssh:// engines
        return {"localhost": "unix", "localnpipe": "pipe"}.get(host or "", "remote")
    if scheme in ("tcp", "http", "https") and host:
        if host == "localhost":
            return "loopback"
        try:
            return "loopback" if ipaddress.ip_address(host).is_loopback else "remote"
        except ValueError:  # a host name other than localhost
            return "remote"
    return "remote"


def _show(value: object) -> str:
    """A value read from the engine, quoted and cut short, for a message."""
    text = repr(value)
    return text if len(text) <= 42 else text[:40] + "…"


def _ip(value: object) -> str:
    """An IP address read from the engine, or '' when it is not one."""
    try:
        return str(ipaddress.ip_address(str(value))) if value else ""
    except ValueError:
        return ""


def _published_port(c: Any) -> int | None:
    ports = (c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    bound = ports.get(f"{TLS_PORT}/tcp") or []
    port = str(bound[0].get("HostPort", "")) if bound else ""
    return int(port) if port.isdigit() and 0 < int(port) < 65536 else None


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
