"""The host engine, as the dind provider sees it: where it runs (and so how swarmlab reaches
the machines' engines), which node image it has, and which security mode it allows for a
machine: ``--privileged``, or an explicit capability set where it refuses that."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
import urllib.parse
from typing import Any

import docker
import docker.errors

from ..._engine import this_computers_env
from ..._errors import ImageNotAvailable, ProviderUnavailable
from ..._util import error_text

ONLINE_NODE_IMAGE = "docker:dind"
#: the offline node image (scripts/build-images): Debian forky's Docker 28.5
OFFLINE_NODE_IMAGE = "swarmlab/node:forky"
#: the offline node image for machines in a rootless engine: Debian bookworm's Docker 20.10.
#: A machine's dockerd there must run ``--rootless`` (it may not make cgroups), and from
#: Docker 28 on that mode needs RootlessKit's port driver inside the machine, which a machine
#: does not have ("$ROOTLESSKIT_STATE_DIR needs to be set"); 20.10's does not.
OFFLINE_ROOTLESS_NODE_IMAGE = "swarmlab/node:bookworm"

#: What replaces ``--privileged`` where the engine refuses it (no CAP_SYS_RESOURCE).
CAPABILITY_MODE: dict[str, Any] = {
    "cap_add": ["ALL"],
    "cap_drop": ["SYS_RESOURCE"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    "cgroupns": "host",
    "tmpfs": {"/run": "", "/tmp": ""},
}
#: :data:`CAPABILITY_MODE` as ``docker run`` flags (shown to the learner).
CAPABILITY_FLAGS = (
    "--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined "
    "--security-opt apparmor=unconfined --security-opt systempaths=unconfined "
    "--cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run"
)

# Which security mode each host engine accepts, learned once per process.
_security_by_engine: dict[str, str] = {}
_security_lock = threading.Lock()


def default_node_image(host: docker.DockerClient, *, rootless: bool = False) -> str:
    """``SWARMLAB_NODE_IMAGE``; else the offline image when it was built; else docker:dind.
    For a rootless engine (``rootless``) the offline image is bookworm's, and
    ``SWARMLAB_ROOTLESS_NODE_IMAGE`` chooses another (see :data:`OFFLINE_ROOTLESS_NODE_IMAGE`)."""
    env = os.environ.get("SWARMLAB_ROOTLESS_NODE_IMAGE" if rootless else "SWARMLAB_NODE_IMAGE")
    if env:
        return env
    offline = OFFLINE_ROOTLESS_NODE_IMAGE if rootless else OFFLINE_NODE_IMAGE
    try:
        host.images.get(offline)
        return offline
    except docker.errors.ImageNotFound:
        return ONLINE_NODE_IMAGE


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


def choose_api(host: docker.DockerClient, api: str) -> str:
    """How swarmlab reaches the machines' engines (``"socket"`` or ``"tls"``) when asked for
    ``api``: ``"auto"`` takes ``socket`` on a local Linux engine and ``tls`` on Docker Desktop
    or a loopback TCP engine. An engine on another computer is refused."""
    base = host.api.base_url
    where = engine_location(base)
    if where == "remote":
        raise ProviderUnavailable(
            f"the dind provider publishes each machine's engine on this computer's "
            f"127.0.0.1, but DOCKER_HOST points at another computer "
            f"({this_computers_env().get('DOCKER_HOST', base)}). Run swarmlab on the computer that "
            f"runs Docker, or use provider='ssh' for remote hosts."
        )
    if api != "auto":
        return api
    if where != "unix":
        return "tls"
    desktop = "docker desktop" in str(host.info().get("OperatingSystem", "")).lower()
    return "tls" if desktop else "socket"


# -- security modes ----------------------------------------------------------------------
def describe_security(mode: str) -> str:
    """How machines started in ``mode`` run, for the learner."""
    if mode == "privileged":
        return "machines run with --privileged"
    return (
        "this engine does not permit --privileged (it lacks CAP_SYS_RESOURCE), so "
        f"machines run with explicit capabilities instead: {CAPABILITY_FLAGS}"
    )


def privileged_refused(e: docker.errors.APIError) -> bool:
    """Whether the engine refused to start a container because it cannot grant --privileged."""
    text = str(e).lower()
    return "operation not permitted" in text and any(w in text for w in ("caps", "privileged", "oci runtime"))


def engine_id(host: docker.DockerClient) -> str:
    return str(host.info().get("ID", ""))


def is_rootless(info: dict[str, Any]) -> bool:
    """Whether an engine runs rootless (a dockerd in a user's user namespace), from its
    ``docker info``: ``rootless`` among its security options. Its machines' own dockerd then
    runs with ``--rootless`` too: in that namespace it may not make cgroups, so it runs its
    tasks without them, as the engine around it does."""
    options = info.get("SecurityOptions") or []
    return any(isinstance(o, str) and "name=rootless" in o.split(",") for o in options)


def remembered_security(host: docker.DockerClient) -> str:
    """The mode this engine accepted earlier in this process, else ``"auto"`` (try both)."""
    key = engine_id(host)
    with _security_lock:
        return _security_by_engine.get(key, "auto")


def probe_security(host: docker.DockerClient, image: str, labels: dict[str, str]) -> str:
    """The mode this engine grants, learned once per process from a throwaway container of
    ``image`` that runs ``true`` ``--privileged`` on no network at all: "privileged" if it
    starts, "capabilities" if the engine refuses. Machines are then started in that mode
    only, so no machine container is ever refused at start on the lab's network (before, a
    new process made each of its first machines twice, the first refused after joining the
    network: 50 of them at once for a 50-machine lab). "auto" when the probe itself fails for
    another reason: the machines then try both, as before."""
    mode = remembered_security(host)
    if mode != "auto":
        return mode
    try:
        cid = host.api.create_container(
            image, entrypoint=["true"], command=[], labels=labels, network_disabled=True,
            host_config=host.api.create_host_config(privileged=True, network_mode="none"))["Id"]
    except docker.errors.APIError:
        return "auto"
    except BaseException:  # Ctrl-C: the engine may have made it before its ID came back
        with contextlib.suppress(docker.errors.APIError):
            for c in host.api.containers(all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]}):
                host.api.remove_container(c["Id"], force=True)
        raise
    try:
        host.api.start(cid)
        mode = "privileged"
    except docker.errors.APIError as e:
        if not privileged_refused(e):
            return "auto"
        mode = "capabilities"
    finally:
        with contextlib.suppress(docker.errors.APIError):
            host.api.remove_container(cid, force=True)
    remember_security(host, mode)
    return mode


def remember_security(host: docker.DockerClient, mode: str) -> None:
    """Note that this engine started a machine in ``mode``: the next machines skip the other."""
    key = engine_id(host)
    with _security_lock:
        _security_by_engine[key] = mode


def readiness(host: docker.DockerClient) -> list[tuple[bool | None, str]]:
    """What the machines need of this computer's kernel, which they share (the setup check):
    IPVS for the routing mesh, and a neighbour table big enough for the labs."""
    from . import neighbours

    ipvs = os.path.isdir("/proc/sys/net/ipv4/vs")
    out: list[tuple[bool | None, str]] = [
        (True, "the routing mesh can work here: IPVS is loaded (/proc/sys/net/ipv4/vs)") if ipvs else
        (None, "no IPVS in this computer's kernel (/proc/sys/net/ipv4/vs is missing): the routing mesh "
               "and virtual IPs will not answer; lessons 10 and 11 show what works without them "
               "('sudo modprobe ip_vs' loads IPVS on a Linux computer)")]
    limit = neighbours.read_limit()
    if limit is not None and neighbours.same_kernel(host.info().get("KernelVersion")):
        biggest = neighbours.largest_lab(limit)
        out.append((True, f"the kernel's neighbour table holds {limit} entries: labs of up to "
                          f"{biggest} machines" + ("" if biggest >= 100 else
                                                   f" (for 100: {neighbours.advice(100 * 99)})")))
    return out


def ensure_node_image(host: docker.DockerClient, image: str, *, rootless: bool = False) -> None:
    """The node image on the engine: there already, or pulled; else :class:`ImageNotAvailable`
    saying how to build the offline one (for a ``rootless`` engine, the one made for it)."""
    try:
        host.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    try:
        host.images.pull(image)
    except docker.errors.DockerException as e:
        raise ImageNotAvailable(
            f"the node image {image!r} is not on this computer and cannot be "
            f"pulled ({error_text(e)}). Offline? Build the offline node images with "
            f"'scripts/build-images' and use node_image="
            + (f"{OFFLINE_ROOTLESS_NODE_IMAGE!r} (or set SWARMLAB_ROOTLESS_NODE_IMAGE)."
               if rootless else f"{OFFLINE_NODE_IMAGE!r} (or set SWARMLAB_NODE_IMAGE).")
        ) from None
