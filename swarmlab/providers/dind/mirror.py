"""A registry mirror: a pull-through cache on this computer, one per user, so that a learner
whose machines all pull ``alpine`` costs one pull from the internet, not one per machine. A
class costs one pull per learner and image: each learner's labs use that learner's own mirror
(started by their own ``swarmlab mirror up``), never another user's
(``tests/integration/test_mirror.py`` measures both).

``swarmlab mirror up`` starts the CNCF distribution registry (``swarmlab/registry:2.8``, built
from Debian's package by scripts/build-images, else ``registry:2``) in proxy mode: every layer
and manifest it is asked for it fetches once from its upstream (Docker Hub by default) and
keeps. A lab asks for it (``Lab(..., registry_mirror=MIRROR_URL)`` or
``SWARMLAB_REGISTRY_MIRROR``): the mirror then joins the lab's network under the name
``swarmlab-mirror``, and each machine's dockerd gets ``--registry-mirror``, exactly as a
Docker Desktop user sets ``registry-mirrors`` in daemon.json.

It listens where the machines reach it (their network) and on 127.0.0.1 (for ``status``),
nowhere else. One mirror per user: its container, network and cache volume carry the owner
label, and ``swarmlab mirror down`` removes all three.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from ..._errors import DockerError, InvalidArgument, SwarmlabError
from ..._util import error_text
from ..._wait import until
from ..base import LABEL_OWNER, LABEL_PROVIDER, LABEL_ROLE, owner, owner_tag
from ..mirror_url import ALIAS, DOCKER_HUB, ENV, MIRROR_URL, PORT, check_url
from ..mirror_url import is_local as is_local  # the provider asks these of its mirror here
from ..mirror_url import lab_mirror as lab_mirror

#: the offline image (scripts/build-images), else the registry's own image from Docker Hub
IMAGE = "swarmlab/registry:2.8"
ONLINE_IMAGE = "registry:2"
ROLE = "mirror"
#: how long ``up`` waits for the registry to answer
START_WAIT = 15.0

#: for the mirror on 127.0.0.1: never through a proxy of the environment (http_proxy)
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MirrorError(SwarmlabError):
    """The registry mirror could not be started, is not running, or refused a pull."""


@dataclass
class MirrorStatus:
    """What ``swarmlab mirror status`` says."""

    running: bool
    container: str
    upstream: str = ""
    image: str = ""
    local_url: str = ""  # http://127.0.0.1:PORT, for this computer only
    labs: list[str] = field(default_factory=list)  # lab networks it has joined
    repositories: list[str] = field(default_factory=list)

    @property
    def machines_url(self) -> str:
        return MIRROR_URL if self.running else ""

    def as_dict(self) -> dict[str, Any]:
        return {"running": self.running, "container": self.container, "upstream": self.upstream,
                "image": self.image, "local_url": self.local_url, "machines_url": self.machines_url,
                "networks": self.labs, "repositories": self.repositories}

    def text(self) -> str:
        if not self.running:
            return f"no registry mirror is running (container {self.container}): start one with 'swarmlab mirror up'"
        return "\n".join([
            f"registry mirror {self.container} is running ({self.image})",
            f"  upstream:      {self.upstream}",
            f"  on this computer: {self.local_url}",
            f"  for the machines: {MIRROR_URL}   (export {ENV}={MIRROR_URL} before making labs)",
            f"  lab networks:  {', '.join(self.labs) or 'none yet'}",
            f"  cached:        {', '.join(self.repositories) or 'nothing yet'}",
        ])


class Mirror:
    """This user's registry mirror on the engine ``host``."""

    def __init__(self, host: docker.DockerClient, who: str | None = None) -> None:
        self.host = host
        self.owner = who if who is not None else owner()
        tag = owner_tag(self.owner)
        self.container = f"swarmlab-mirror.{tag}"
        self.network = f"swarmlab-mirror-{tag}"
        self.volume = f"swarmlab-mirror.{tag}.cache"

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_ROLE: ROLE, LABEL_PROVIDER: "dind", LABEL_OWNER: self.owner}

    def _mine(self, thing: Any, name: str) -> bool:
        """Found by name: only ours when it carries exactly our labels."""
        labels = (thing.attrs.get("Labels") or thing.attrs.get("Config", {}).get("Labels") or {})
        return thing.name == name and all(labels.get(k) == v for k, v in self.labels.items())

    def _found(self) -> Any | None:
        """The mirror's container, or None; :class:`MirrorError` if a container of its name
        is not swarmlab's."""
        try:
            c = self.host.containers.get(self.container)
        except docker.errors.NotFound:
            return None
        if not self._mine(c, self.container):
            raise MirrorError(f"a container named {self.container!r} exists, but swarmlab did not make it: "
                              f"remove it ('docker rm -f {self.container}')")
        return c

    # -- up, down, status -----------------------------------------------------------------
    def up(self, upstream: str = DOCKER_HUB, image: str | None = None) -> MirrorStatus:
        """Start the mirror (kept when it runs already with this upstream). Waits until it
        answers; :class:`MirrorError` with the registry's own words when it does not."""
        upstream = check_url(upstream, "upstream registry")
        c = self._found()
        if c is not None and c.status == "running":
            now = self._upstream_of(c)
            if now != upstream:
                raise MirrorError(f"the registry mirror runs already, for {now}: 'swarmlab mirror down' first "
                                  f"to start it for {upstream}")
            return self.status()
        if c is not None:
            c.remove(force=True)
        image = image or self._image()
        self._ensure_network()
        with suppress(docker.errors.APIError):  # made anew below when missing
            self.host.volumes.create(self.volume, labels=self.labels)
        try:
            c = self.host.containers.create(
                image, name=self.container, labels=self.labels, detach=True,
                environment={"REGISTRY_PROXY_REMOTEURL": upstream},
                volumes={self.volume: {"bind": "/var/lib/registry", "mode": "rw"}},
                ports={f"{PORT}/tcp": ("127.0.0.1", None)},
                network=self.network, read_only=True, tmpfs={"/tmp": "size=64m"},
                cap_drop=["ALL"], security_opt=["no-new-privileges"])
            c.start()
        except docker.errors.APIError as e:
            raise DockerError(f"failed to start the registry mirror ({image}): {error_text(e)}") from None
        self._wait_answering(c, upstream)
        # back after the engine restarts, once it has shown it starts (a registry that
        # cannot start would otherwise be restarted for ever)
        c.update(restart_policy={"Name": "unless-stopped"})
        return self.status()

    def _image(self) -> str:
        for name in (IMAGE, ONLINE_IMAGE):
            with suppress(docker.errors.ImageNotFound):
                self.host.images.get(name)
                return name
        try:
            self.host.images.pull(ONLINE_IMAGE)
        except docker.errors.APIError as e:
            raise MirrorError(
                f"no registry image here: build {IMAGE} with scripts/build-images (Debian's docker-registry), "
                f"or pull {ONLINE_IMAGE} ({error_text(e)})") from None
        return ONLINE_IMAGE

    def _ensure_network(self) -> None:
        try:
            net = self.host.networks.get(self.network)
        except docker.errors.NotFound:
            self.host.networks.create(self.network, driver="bridge", labels=self.labels, check_duplicate=True)
            return
        if not self._mine(net, self.network):
            raise MirrorError(f"a network named {self.network!r} exists, but swarmlab did not make it: "
                              f"remove it ('docker network rm {self.network}')")

    def _wait_answering(self, c: Any, upstream: str) -> None:
        def answering() -> bool:
            c.reload()
            if c.status in ("exited", "dead"):
                said = self._last_words(c)
                c.remove(force=True)
                hint = (" The registry checks its upstream when it starts: is it up, and reachable from "
                        "this computer's containers?")
                raise MirrorError(f"the registry mirror stopped at start (upstream {upstream}): {said}.{hint}")
            url = self._local_url(c)
            if url:
                with suppress(OSError, ValueError), _LOCAL.open(f"{url}/v2/", timeout=2) as r:
                    if r.status == 200:
                        return True
            return False

        if not until(answering, START_WAIT, 0.2):
            said = self._last_words(c)
            raise MirrorError(f"the registry mirror does not answer after {START_WAIT:.0f} s: {said}")

    @staticmethod
    def _last_words(c: Any) -> str:
        """The registry's last error (its ``msg=``), as plain printable text."""
        with suppress(docker.errors.APIError):
            lines = c.logs(tail=80).decode("utf-8", "replace").splitlines()
            for line in lines:  # Go's panic, at start: "panic: <why>" then the stack
                if line.startswith("panic: "):
                    return _printable(line[len("panic: "):])
            for line in reversed(lines):
                if "level=fatal" in line or "level=error" in line:
                    m = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
                    if m:
                        return _printable(m.group(1))
            if lines:
                return _printable(lines[-1])
        return "it said nothing"

    def down(self) -> dict[str, int]:
        """Remove the mirror: its container, network and cache. Lab networks it had joined
        lose it (their machines then pull from the internet again)."""
        removed = {"containers": 0, "volumes": 0, "networks": 0}
        c = self._found()
        if c is not None:
            c.remove(force=True)
            removed["containers"] = 1
        with suppress(docker.errors.NotFound):
            v = self.host.volumes.get(self.volume)
            if self._mine(v, self.volume):
                v.remove(force=True)
                removed["volumes"] = 1
        with suppress(docker.errors.NotFound):
            net = self.host.networks.get(self.network)
            if self._mine(net, self.network):
                for cid in net.attrs.get("Containers") or {}:  # e.g. an upstream put on it
                    with suppress(docker.errors.APIError):
                        net.disconnect(str(cid), force=True)
                net.remove()
                removed["networks"] = 1
        return removed

    def status(self) -> MirrorStatus:
        c = self._found()
        if c is None or c.status != "running":
            return MirrorStatus(False, self.container)
        nets = sorted(n for n in (c.attrs.get("NetworkSettings", {}).get("Networks") or {}) if n != self.network)
        url = self._local_url(c)
        return MirrorStatus(True, self.container, self._upstream_of(c), _printable(str(c.attrs["Config"]["Image"])),
                            url, [_printable(n) for n in nets], self._catalog(url))

    # -- for labs ---------------------------------------------------------------------------
    def require(self) -> Any:
        """The running mirror's container; :class:`MirrorError` saying how to start it when
        it does not run."""
        c = self._found()
        if c is None or c.status != "running":
            raise MirrorError(
                f"this lab asks for the registry mirror {MIRROR_URL}, but none is running: start it with "
                f"'swarmlab mirror up', or unset {ENV} (or registry_mirror='off') to pull from the internet")
        return c

    def join(self, network: str, address: str = "") -> None:
        """Put the running mirror on a lab's network as ``swarmlab-mirror`` (at ``address``
        when given: one no machine of the lab has or keeps)."""
        c = self.require()
        if network in (c.attrs.get("NetworkSettings", {}).get("Networks") or {}):
            return
        try:
            self.host.networks.get(network).connect(c, aliases=[ALIAS], ipv4_address=address or None)
        except docker.errors.APIError as e:
            if "already exists" not in str(e):
                raise DockerError(f"failed to put the registry mirror on {network}: {error_text(e)}") from None

    def leave(self, network: str) -> None:
        """Take the mirror off a lab's network (before the network is removed)."""
        with suppress(docker.errors.APIError, MirrorError):
            c = self._found()
            if c is not None and network in (c.attrs.get("NetworkSettings", {}).get("Networks") or {}):
                self.host.networks.get(network).disconnect(c, force=True)

    def explain(self, image: str) -> str:
        """What the mirror says about ``image`` (its manifest asked for), one sentence; '' when
        it has it or cannot be asked."""
        with suppress(MirrorError, docker.errors.APIError):
            c = self._found()
            url = self._local_url(c) if c is not None and c.status == "running" else ""
            if not url:
                return f"the registry mirror ({MIRROR_URL}) is not running: 'swarmlab mirror up' starts it"
            repo, tag = _repo_tag(image)
            req = urllib.request.Request(f"{url}/v2/{repo}/manifests/{tag}", method="HEAD", headers={
                "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                          "application/vnd.docker.distribution.manifest.list.v2+json, "
                          "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"})
            try:
                with _LOCAL.open(req, timeout=20):  # loopback, ours
                    return ""
            except urllib.error.HTTPError as e:
                code = e.code
            except (OSError, ValueError) as e:
                return f"the registry mirror does not answer ({_printable(str(e))})"
            upstream = self._upstream_of(c)
            if code == 404:
                return (f"the registry mirror has no {repo}:{tag} and its upstream {upstream} gave none: "
                        f"check the name, and that {upstream} is up")
            return f"the registry mirror answered {code} for {repo}:{tag} (upstream {upstream})"
        return ""

    # -- what the engine says, checked -------------------------------------------------------
    def _upstream_of(self, c: Any) -> str:
        for item in c.attrs.get("Config", {}).get("Env") or []:
            key, _, value = str(item).partition("=")
            if key == "REGISTRY_PROXY_REMOTEURL":
                try:
                    return check_url(value, "upstream registry")
                except InvalidArgument:
                    return "(not a URL swarmlab sets)"
        return "(none)"

    @staticmethod
    def _local_url(c: Any) -> str:
        ports = (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{PORT}/tcp") or []
        for p in ports:
            if p.get("HostIp") == "127.0.0.1" and str(p.get("HostPort", "")).isdigit():
                port = int(p["HostPort"])
                if 0 < port < 65536:
                    return f"http://127.0.0.1:{port}"
        return ""

    @staticmethod
    def _catalog(url: str) -> list[str]:
        if not url:
            return []
        with suppress(OSError, ValueError), _LOCAL.open(f"{url}/v2/_catalog", timeout=5) as r:
            repos = json.loads(r.read(1_000_000)).get("repositories") or []
            return sorted(_printable(str(x)) for x in repos if isinstance(x, str))[:100]
        return []


def from_docker_hub(image: str) -> bool:
    """Whether ``image`` comes from Docker Hub (the only registry ``--registry-mirror`` serves)."""
    first = image.split("/", 1)[0] if "/" in image else ""
    return not first or not ("." in first or ":" in first or first == "localhost") or first == "docker.io"


def _repo_tag(image: str) -> tuple[str, str]:
    """``alpine`` -> (``library/alpine``, ``latest``): the name as the registry API spells it."""
    name, _, digest = image.partition("@")
    repo, tag = name, "latest"
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
    if digest:
        tag = digest
    first = repo.split("/", 1)[0]
    if "/" in repo and ("." in first or ":" in first or first == "localhost"):
        repo = repo.split("/", 1)[1]  # a registry host: not part of the path
    elif "/" not in repo:
        repo = f"library/{repo}"
    return repo, tag


def _printable(text: str, limit: int = 300) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]
