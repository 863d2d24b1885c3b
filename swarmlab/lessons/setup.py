"""The setup check: what the lessons need on this computer, each part said plainly when it is
missing (lesson 00 runs it, and so does ``swarmlab doctor``)."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from .._errors import SwarmlabError
from ..lab import Lab
from .check import Check
from .images import LessonImages, lesson_images

__all__ = ["check_setup", "on_binder"]


def on_binder() -> bool:
    """True inside a mybinder.org session (it sets BINDER_* variables; binder/start too)."""
    return any(k.startswith("BINDER_") for k in os.environ) or bool(os.environ.get("SWARMLAB_ON_BINDER"))


def check_setup(provider: str = "dind", offline: bool | None = None) -> Check:
    """What the lessons need on this computer, each said plainly when missing: a Docker
    engine, the provider's tools, the node image, and the images for the services (offline:
    built locally; online: a registry the engine can reach)."""
    images = lesson_images(offline)
    check = Check("this computer is ready for the lessons")
    _python(check)
    if not _provider_exists(check, provider):
        return check
    host = _engine(check)
    if host is None:
        return check
    found = _provider_works(check, provider)
    if found is None:
        return check
    lab, node_image = found
    _node_image(check, host, node_image, images)
    _provider_findings(check, lab, host)
    if images.offline:
        _offline_images(check, host, images)
    else:
        _registry(check, host, images)
    return check


def _python(check: Check) -> None:
    """This Python, and whether ipywidgets is there (progress bars)."""
    check.add(sys.version_info >= (3, 10), f"Python {sys.version.split()[0]}")
    try:
        import ipywidgets  # noqa: F401
        check.add(True, "ipywidgets is installed (progress bars in notebooks)")
    except ImportError:
        check.add(True, "ipywidgets is not installed: steps still work, without progress bars "
                        "(pip install 'swarmlab[notebook]')")


def _provider_exists(check: Check, provider: str) -> bool:
    from ..providers import PROVIDERS

    if provider in PROVIDERS:
        return True
    check.add(False, f"provider {provider!r} does not exist in this version of swarmlab "
                     f"(available: {', '.join(PROVIDERS)}); the virtualbox provider needs "
                     "VirtualBox and docker-machine, which these lessons cannot install for you")
    return False


def _engine(check: Check) -> Any | None:
    """A client of this computer's Docker engine, or None (the check says why, and on Binder
    that Binder has none)."""
    from .._engine import host_client

    try:
        host = host_client(timeout=10)
    except SwarmlabError as e:
        msg = str(e)
        if on_binder():
            msg = ("this is Binder: it has no Docker engine, so the lessons cannot create machines "
                   "here. Read the lessons here, and run them on a computer with Docker "
                   "(scripts/lessons), or point DOCKER_HOST at the engine your teacher provides. ") + msg
        check.add(False, msg)
        check.hint = "start Docker (scripts/setup does it on Debian/Ubuntu), then run this cell again"
        return None
    version = host.version()
    check.add(True, f"a Docker engine answers: {version.get('Version')} (API {version.get('ApiVersion')})")
    return host


def _provider_works(check: Check, provider: str) -> tuple[Lab, str | None] | None:
    """A lab of the provider (nothing created) and its machines' image, or None when the
    provider cannot work here."""
    try:
        lab = Lab("setup-probe", provider=provider, progress=False)
        return lab, lab.provider.node_image
    except SwarmlabError as e:
        check.add(False, f"the {provider} provider cannot work here: {e}")
        return None


def _node_image(check: Check, host: Any, node_image: str | None, images: LessonImages) -> None:
    """Whether the machines' image is on this computer's engine (online it may come later)."""
    import docker

    if not node_image:
        return
    try:
        image = host.images.get(node_image)
        version = node_docker_version(image.attrs)
        check.add(True, f"node image {node_image} is here"
                  + (f": the machines will run Docker {version}" if version else ""))
    except docker.errors.ImageNotFound:
        check.add(not images.offline,
                  f"node image {node_image} is not here yet"
                  + (": offline, build it with scripts/build-images" if images.offline
                     else "; it is pulled when the first machine is created"))


_VERSION = r"\d+\.\d+(\.\d+)?([-+~.][\w.+~-]{1,40})?"


def node_docker_version(attrs: dict[str, Any]) -> str:
    """The Docker version a node image's machines run, as the image says it: swarmlab's offline
    images carry it as a label (scripts/build-images), docker:dind as ``DOCKER_VERSION`` in its
    environment. '' when the image says neither, or says something that is not a version."""
    config = attrs.get("Config") or {}
    said = (config.get("Labels") or {}).get("io.swarmlab.docker-version", "")
    if not said:
        for item in config.get("Env") or []:
            if isinstance(item, str) and item.startswith("DOCKER_VERSION="):
                said = item.split("=", 1)[1]
    ok = isinstance(said, str) and len(said) <= 64 and re.fullmatch(_VERSION, said)
    return said if ok else ""


def _provider_findings(check: Check, lab: Lab, host: Any) -> None:
    """What only some providers need checked, as the provider says it
    (:meth:`~swarmlab.providers.base.Provider.readiness`): real VMs (their tools and image), or
    machines that share this computer's kernel (its IPVS and neighbour table)."""
    for ok, said in lab.provider.readiness(host):
        if ok is None:
            check.caution(said)
        else:
            check.add(ok, said)


def _offline_images(check: Check, host: Any, images: LessonImages) -> None:
    """Offline: every image the lessons load into the machines is built on this computer."""
    import docker

    missing = []
    for img in dict.fromkeys(images.to_load + images.network_images):
        try:
            host.images.get(img)
        except docker.errors.ImageNotFound:
            missing.append(img)
    what = f"missing {', '.join(missing)} (run scripts/build-images)" if missing else "all built"
    check.add(not missing, f"offline images: {what}")


def _registry(check: Check, host: Any, images: LessonImages) -> None:
    """Online: the engine reaches Docker Hub, where the machines pull the lessons' images."""
    import docker

    try:
        host.api.inspect_distribution(images.hello)
        check.add(True, f"the engine reaches the registry (it can see {images.hello} on Docker Hub)")
    except docker.errors.DockerException as e:
        check.add(False, f"the engine cannot reach Docker Hub ({str(e)[:120]}): no network for "
                         "pulls. Use the offline images: set offline = True in the parameters "
                         "cell (or SWARMLAB_OFFLINE=1) and run scripts/build-images")
