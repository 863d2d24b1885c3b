"""Providers: where a lab's machines come from. The contract every provider keeps is
:mod:`swarmlab.providers.base` (with names and labels in :mod:`.labels`); code they share is
:mod:`swarmlab.providers.common`; each provider is a package (``dind``, ``virtualbox``,
``ssh``, ``qemu``) split by concern.

Code outside this package reaches providers through this registry and the contract only:
:func:`get_provider` for one lab, :func:`provider_class` and :func:`list_labs` for what is
here, :func:`shared_engine_providers` and :func:`rootless_node_image` for the classroom, and
the registry mirror of this computer (:func:`mirror_here`, the URL rules of :mod:`.mirror_url`)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .._errors import UnknownProvider
from .base import Capabilities, CreateOutcome, FoundLab, LabListing, MachineEvents, MachineInfo, Provider, RunOutput
from .mirror_url import ENV as MIRROR_ENV
from .mirror_url import MIRROR_URL, check_url, is_local, lab_mirror

if TYPE_CHECKING:
    import docker

#: the provider a lab is on when nobody says (``Lab(provider=...)``, ``$SWARMLAB_PROVIDER``)
DEFAULT_PROVIDER = "dind"
#: provider name -> "module:Class", imported only when used
PROVIDERS: dict[str, str] = {
    "dind": "swarmlab.providers.dind:DindProvider",
    "virtualbox": "swarmlab.providers.virtualbox:VirtualBoxProvider",
    "ssh": "swarmlab.providers.ssh:SSHProvider",
    "qemu": "swarmlab.providers.qemu:QemuProvider",
}


def provider_class(name: str) -> type[Provider]:
    """The class of the provider called ``name`` (imported now)."""
    target = PROVIDERS.get(name) if isinstance(name, str) else None
    if target is None:
        raise UnknownProvider(
            f"unknown provider {name!r}: use one of {', '.join(repr(p) for p in PROVIDERS)} "
            "(or set SWARMLAB_PROVIDER)"
        )
    module, cls = target.split(":")
    found: type[Provider] = getattr(importlib.import_module(module), cls)
    return found


def get_provider(name: str, lab: str, **options: Any) -> Provider:
    """Make the provider called ``name`` for lab ``lab``."""
    return provider_class(name)(lab, **options)


def list_labs() -> list[FoundLab]:
    """This user's labs on this computer, of every provider (:meth:`Provider.list_labs`),
    sorted by name, then provider."""
    found = {(f.provider, f.name): f for name in sorted(PROVIDERS) for f in provider_class(name).list_labs().labs}
    return sorted(found.values(), key=lambda f: (f.name, f.provider))


def shared_engine_providers() -> list[type[Provider]]:
    """The providers whose labs live on an engine several users share
    (:attr:`Capabilities.shared_engine`): those the teacher's board and ``swarmlab gc`` read."""
    return [cls for cls in map(provider_class, sorted(PROVIDERS)) if cls.CAPABILITIES.shared_engine]


def mirror_here(host: docker.DockerClient | None = None) -> Any:
    """This user's registry mirror on this computer's engine (``swarmlab mirror``:
    ``up(upstream)``, ``down()``, ``status()``), as the dind provider runs it."""
    from .._engine import host_client
    from .dind.mirror import Mirror

    return Mirror(host if host is not None else host_client())


def rootless_node_image() -> str:
    """The node image of machines made in a learner's rootless engine, as the dind provider
    chooses it there (``SWARMLAB_ROOTLESS_NODE_IMAGE``, else the offline one for rootless
    engines): the classroom copies it into each student's engine."""
    import os

    from .dind.engine import OFFLINE_ROOTLESS_NODE_IMAGE

    return os.environ.get("SWARMLAB_ROOTLESS_NODE_IMAGE") or OFFLINE_ROOTLESS_NODE_IMAGE


__all__ = ["DEFAULT_PROVIDER", "MIRROR_ENV", "MIRROR_URL", "PROVIDERS", "Capabilities", "CreateOutcome",
           "FoundLab", "LabListing", "MachineEvents", "MachineInfo", "Provider", "RunOutput", "check_url",
           "get_provider", "is_local", "lab_mirror", "list_labs", "mirror_here", "provider_class",
           "rootless_node_image", "shared_engine_providers"]
