"""Making one machine: its container (the spec, the TLS files put into it), starting it with
``--privileged`` or, where the engine refuses that, with capabilities; the readiness gate
(its engine answers); and how swarmlab reaches that engine (socket or TLS)."""

from __future__ import annotations

import io
import ipaddress
import os
import stat
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import docker
import docker.errors
import docker.tls

from ... import _home
from ... import _tls as tls
from ..._engine import ping
from ..._errors import DockerError, InsecurePath, MachineNotFound
from ..._util import error_text
from ..._wait import Progress, wait_for
from ..base import owner
from .engine import CAPABILITY_FLAGS, CAPABILITY_MODE, privileged_refused, remember_security
from .limits import show_size
from .names import LABEL_API, LABEL_SECURITY, LABEL_SOCKET, LabNames, found_containers, the_container

SOCKET_DIR_IN_MACHINE = "/run/swarmlab"
TLS_DIR_IN_MACHINE = "/etc/swarmlab/tls"
TLS_PORT = 2376
#: How many machines are started (and waited for) at once.
START_AT_ONCE = 32


class Site(Protocol):
    """What making a machine touches (the provider, seen from here)."""

    host: docker.DockerClient
    names: LabNames
    api: str  # "socket" or "tls"
    node_image: str
    registry_mirror: str  # a checked URL, or "" for none
    machine_memory: int | None  # bytes (docker run --memory, and --memory-swap the same)
    machine_cpus: float | None  # docker run --cpus

    @property
    def rootless(self) -> bool:  # the engine runs rootless: each machine's dockerd does too
        ...


class NotYet(Exception):
    """A machine's engine cannot be addressed yet (no socket, no published port)."""


class Taken(Exception):
    """The engine already has a container of the name swarmlab gives a machine."""


class _Stopped(Exception):
    """A machine's container stopped while its engine was starting (the status)."""


# -- the container -------------------------------------------------------------------------
def container_spec(site: Site, machine: str, mode: str, volume: str, address: str = "") -> dict[str, Any]:
    """The arguments of ``APIClient.create_container`` for the machine, started in ``mode``
    (``"privileged"`` or ``"capabilities"``) with its ``/var/lib/docker`` on ``volume``, at
    ``address`` on the lab's network when given (``--ip``: it keeps that address when it is
    stopped and started, as a swarm manager must, since the others know it by its address)."""
    api = site.host.api
    binds = {volume: {"bind": "/var/lib/docker", "mode": "rw"}}
    command = ["dockerd", "--host=unix:///var/run/docker.sock"]
    extra: dict[str, Any] = {}
    if site.api == "socket":
        binds[str(site.names.lab_dir() / machine)] = {"bind": SOCKET_DIR_IN_MACHINE, "mode": "rw"}
        command += [f"--host=unix://{SOCKET_DIR_IN_MACHINE}/docker.sock", f"--group={os.getgid()}"]
    else:
        command += [f"--host=tcp://0.0.0.0:{TLS_PORT}", "--tlsverify",
                    f"--tlscacert={TLS_DIR_IN_MACHINE}/ca.pem",
                    f"--tlscert={TLS_DIR_IN_MACHINE}/server.pem",
                    f"--tlskey={TLS_DIR_IN_MACHINE}/server-key.pem"]
        extra["port_bindings"] = {TLS_PORT: ("127.0.0.1", None)}
    if site.registry_mirror:  # checked: scheme://host[:port], nothing else
        command.append(f"--registry-mirror={site.registry_mirror}")
    if site.rootless:
        command.append("--rootless")
    if site.machine_memory:
        extra["mem_limit"] = extra["memswap_limit"] = site.machine_memory  # no swap beyond it
    if site.machine_cpus:
        extra["nano_cpus"] = int(site.machine_cpus * 1e9)
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
    labels = site.names.labels("machine", machine)
    labels[LABEL_SECURITY] = mode
    labels[LABEL_API] = site.api
    if site.api == "socket":
        labels[LABEL_SOCKET] = str(site.names.socket_path(machine))  # shown, never read back
    return {
        "image": site.node_image,
        "command": command,
        "ports": [TLS_PORT] if site.api == "tls" else None,
        "name": site.names.container(machine),
        "hostname": machine,
        "labels": labels,
        "environment": {"DOCKER_TLS_CERTDIR": ""},
        "host_config": host_config,
        "networking_config": api.create_networking_config(
            {site.names.network: api.create_endpoint_config(ipv4_address=address or None)}),
    }


def create_container(site: Site, machine: str, mode: str, address: str = "") -> str:
    """Create (not start) the machine's container; return its id. :class:`Taken` when the
    engine already has a container of that name."""
    api = site.host.api
    files = tls.server_files(site.names.tls_dir(), machine) if site.api == "tls" else {}
    volume = site.host.volumes.create(site.names.volume(machine), labels=site.names.labels("volume", machine))
    why = site.names.why_not_mine("volume", volume.name, volume.attrs.get("Labels"))
    if why:  # the engine gave back a volume of that name that swarmlab did not make
        raise DockerError(
            f"a volume named {volume.name!r} exists, but swarmlab did not make it ({why}): "
            f"remove it ('docker volume rm {volume.name}') or use another lab name"
        )
    try:
        created = api.create_container(**container_spec(site, machine, mode, volume.name, address))
    except docker.errors.APIError as e:
        if e.status_code == 409:
            raise Taken(str(e)) from None
        raise
    if site.api == "tls":
        try:
            api.put_archive(created["Id"], "/", tls_tar(TLS_DIR_IN_MACHINE, files))
        except BaseException:
            api.remove_container(created["Id"], force=True)
            raise
    return str(created["Id"])


def tls_tar(folder: str, files: dict[str, bytes]) -> bytes:
    """A tar archive holding ``files`` (mode 0600) under ``folder`` (for put_archive to "/")."""
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


# -- starting it ---------------------------------------------------------------------------
#: What the engine says to ``--ip`` on a network whose subnet it chose itself (a lab network
#: made by an older swarmlab): the machine then gets an address the engine picks.
NO_FIXED_ADDRESS = "user configured subnets"


def start_machine(site: Site, machine: str, mode: str, made: dict[str, str | None],
                  address: str = "") -> str:
    """Make and start the machine; record it (and its container) in ``made``. ``mode``
    ``"auto"`` tries ``--privileged``, then capabilities where the engine refuses that. A
    machine another process made meanwhile is used as it is. Returns the security mode."""
    made[machine] = None
    if site.api == "socket":
        sock_dir = _home.make_private_dir(site.names.lab_dir() / machine)
        _home.remove_inside(site.names.lab_dir(), sock_dir / "docker.sock")  # a stale socket
    tried = ["privileged", "capabilities"] if mode == "auto" else [mode]
    for attempt in tried:
        cid = None
        try:
            try:
                cid = create_container(site, machine, attempt, address)
            except docker.errors.APIError as e:
                if not address or NO_FIXED_ADDRESS not in error_text(e):
                    raise
                address = ""
                cid = create_container(site, machine, attempt)
            made[machine] = cid
            try:
                site.host.api.start(cid)
            except docker.errors.APIError as e:
                # an engine of 20.10's age checks --ip only when the container starts
                if not address or NO_FIXED_ADDRESS not in error_text(e):
                    raise
                made[machine] = None
                site.host.api.remove_container(cid, force=True)
                cid, address = None, ""
                cid = create_container(site, machine, attempt)
                made[machine] = cid
                site.host.api.start(cid)
        except Taken:
            del made[machine]  # not this call's: never taken away by it
            return made_meanwhile(site, machine)
        except docker.errors.APIError as e:
            if cid is not None:
                made[machine] = None
                site.host.api.remove_container(cid, force=True)
            if attempt == "privileged" and mode == "auto" and privileged_refused(e):
                continue
            raise DockerError(
                f"failed to start machine {machine!r} (image {site.node_image}): {error_text(e)}"
            ) from None
        if mode == "auto":
            remember_security(site.host, attempt)
        return attempt
    raise AssertionError("unreachable")


def made_meanwhile(site: Site, machine: str) -> str:
    """The engine already has a container of this machine's name: use it if it is what
    swarmlab makes (another process made it), else refuse to touch it."""
    found = found_containers(site.host, site.names, machine)
    if not found:
        name = site.names.container(machine)
        raise DockerError(
            f"a container named {name!r} exists, but it is not a machine swarmlab made (its "
            f"labels don't match): remove it ('docker rm -f {name}') or use another lab name"
        )
    if found[0].status != "running":
        found[0].start()
    return str(found[0].labels[LABEL_SECURITY])


def wait_ready(site: Site, machine: str, timeout: float, interval: float = 0.05) -> None:
    """The readiness gate: the machine's engine answers a ping. A machine that stops while
    starting fails at once, with its log."""
    checks = 0

    def answers() -> Progress:
        nonlocal checks
        try:
            if ping(**client_kwargs(site, machine, timeout=5)):
                return Progress(True, 1, 1, "the engine answers")
            last = "the engine answered, but not OK"
        except (docker.errors.DockerException, OSError, NotYet) as e:
            # (requests' ConnectionError is an OSError too)
            last = error_text(e)
        checks += 1
        if checks % max(2, int(1 / interval)) == 0:  # every second, see whether the machine died
            status = the_container(site.host, site.names, machine).status
            if status not in ("running", "created"):
                # not a DockerError: wait_for takes those for "not yet"
                raise _Stopped(status)
        return Progress(False, 0, 1, last)

    try:
        wait_for(answers, what=f"the engine of machine {machine!r} answering", timeout=timeout,
                 interval=interval, logs=lambda: machine_logs(site, machine), advice="Its log ends with:")
    except _Stopped as e:
        raise DockerError(
            f"machine {machine!r} stopped while starting (status {e}); "
            f"its log ends with:\n{machine_logs(site, machine)}"
        ) from None


def machine_logs(site: Site, machine: str, tail: int = 30) -> str:
    """The last lines of the machine's log (its engine's), for error messages."""
    try:
        data = the_container(site.host, site.names, machine).logs(tail=tail)
    except (docker.errors.DockerException, MachineNotFound):
        return "(no log: the machine is gone)"
    return str(data.decode("utf-8", "replace")).rstrip()


# -- reaching its engine -------------------------------------------------------------------
def client_kwargs(site: Site, machine: str, timeout: int = 60) -> dict[str, Any]:
    """base_url (and TLS settings) for a docker-py client of this machine's engine; the
    folders on the way are checked first."""
    c = the_container(site.host, site.names, machine)
    if c.labels[LABEL_API] == "socket":
        if site.names.owner != owner():  # root reading a learner's lab (a teacher's board, gc)
            folder = mounted_socket_folder(c, machine, site.names.owner)
        else:
            folder = site.names.lab_dir() / machine
            if not os.path.lexists(folder):
                raise NotYet(f"no socket folder {folder} (yet)")
            _home.check_private_dir(folder, f"the socket folder of machine {machine!r}")
        sock = folder / "docker.sock"
        try:
            st = os.lstat(sock)
        except FileNotFoundError:
            raise NotYet("no socket yet") from None
        if not stat.S_ISSOCK(st.st_mode):
            raise InsecurePath(f"{sock} is not a socket (a symlink or a file?): remove it "
                               f"(rm {sock}) and start the machine again")
        return {"base_url": f"unix://{sock}", "timeout": timeout}
    port = published_port(c)
    if port is None:
        raise NotYet(f"machine {machine!r} has no published TLS port (is it running?)")
    certs = tls.client_certs(site.names.tls_dir())
    return {
        "base_url": f"https://127.0.0.1:{port}",
        "timeout": timeout,
        "tls": docker.tls.TLSConfig(client_cert=(str(certs.cert), str(certs.key)),
                                    ca_cert=str(certs.ca), verify=True),
    }


def mounted_socket_folder(c: Any, machine: str, who: str) -> Path:
    """The socket folder of another user's machine, for root (``owner_of``): where the
    machine's container mounts it from, read back from the engine and so checked before it is
    used: an absolute, normalised path to a real folder (not a symlink) that belongs to the
    lab's owner and that no one else may write to. A learner's own swarmlab home is not
    known to root; the mount says where it is."""
    found = [m.get("Source") for m in (c.attrs.get("Mounts") or [])
             if m.get("Destination") == SOCKET_DIR_IN_MACHINE and m.get("Type") == "bind"]
    if len(found) != 1 or not isinstance(found[0], str):
        raise NotYet(f"machine {machine!r} mounts no socket folder (yet)")
    src = found[0]
    if not os.path.isabs(src) or os.path.normpath(src) != src:
        raise InsecurePath(f"machine {machine!r} mounts its socket folder from {src!r}, not a plain absolute path")
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        raise NotYet(f"no socket folder {src} (yet)") from None
    if (stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or not who.isdigit() or st.st_uid != int(who)
            or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        raise InsecurePath(f"the socket folder {src} of machine {machine!r} is not a private folder of user {who} "
                           "(a symlink, someone else's, or writable by others): not used")
    return Path(src)


def engine_url(site: Site, c: Any, machine: str) -> str:
    """The machine's engine as ``docker-machine ls`` shows it (URL column); '' when none."""
    if c.labels[LABEL_API] == "socket":
        return f"unix://{site.names.socket_path(machine)}"
    port = published_port(c)
    return f"tcp://127.0.0.1:{port}" if port else ""


def published_port(c: Any) -> int | None:
    """The host port of the machine's TLS engine, read from the engine and checked."""
    ports = (c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    bound = ports.get(f"{TLS_PORT}/tcp") or []
    port = str(bound[0].get("HostPort", "")) if bound else ""
    return int(port) if port.isdigit() and 0 < int(port) < 65536 else None


def ip(value: object) -> str:
    """An IP address read from the engine, or '' when it is not one."""
    try:
        return str(ipaddress.ip_address(str(value))) if value else ""
    except ValueError:
        return ""


def run_commands(site: Site, names: Sequence[str], mode: str) -> list[str]:
    """The ``docker run`` that makes each machine, with the flags actually used (``mode``:
    "privileged" or "capabilities"): what ``docker-machine create`` stands for here."""
    flags = CAPABILITY_FLAGS if mode == "capabilities" else "--privileged"
    if site.machine_memory:
        size = show_size(site.machine_memory)
        flags += f" --memory {size} --memory-swap {size}"
    if site.machine_cpus:
        flags += f" --cpus {site.machine_cpus:g}"
    out = []
    for n in names:
        where = (f"-p 127.0.0.1::{TLS_PORT} " if site.api == "tls"
                 else f"-v {site.names.socket_path(n).parent}:{SOCKET_DIR_IN_MACHINE} ")
        daemon = ("dockerd -H unix:///var/run/docker.sock "
                  + (f"-H tcp://0.0.0.0:{TLS_PORT} --tlsverify ..." if site.api == "tls"
                     else f"-H unix://{SOCKET_DIR_IN_MACHINE}/docker.sock"))
        if site.registry_mirror:
            daemon += f" --registry-mirror={site.registry_mirror}"
        if site.rootless:
            daemon += " --rootless"
        out.append(
            f"docker run -d --init {flags} --name {site.names.container(n)} --hostname {n} "
            f"--network {site.names.network} -v {site.names.volume(n)}:/var/lib/docker "
            f"{where}{site.node_image} {daemon}"
        )
    return out
