"""Providers: where a lab's machines come from. The contract every provider keeps is
:mod:`swarmlab.providers.base`; code they share is :mod:`swarmlab.providers.common`; each
provider is a package (``dind``, ``virtualbox``, ``ssh``, ``qemu``) split by concern."""

from __future__ import annotations

import importlib
from typing import Any

from .._errors import UnknownProvider
from .base import CreateOutcome, MachineInfo, Provider, RunOutput

#: provider name -> "module:Class", imported only when used
PROVIDERS: dict[str, str] = {
    "dind": "swarmlab.providers.dind:DindProvider",
    "virtualbox": "swarmlab.providers.virtualbox:VirtualBoxProvider",
    "ssh": "swarmlab.providers.ssh:SSHProvider",
    "qemu": "swarmlab.providers.qemu:QemuProvider",
}


def get_provider(name: str, lab: str, **options: Any) -> Provider:
    """Make the provider called ``name`` for lab ``lab``."""
    target = PROVIDERS.get(name) if isinstance(name, str) else None
    if target is None:
        raise UnknownProvider(
            f"unknown provider {name!r}: use one of {', '.join(repr(p) for p in PROVIDERS)} "
            "(or set SWARMLAB_PROVIDER)"
        )
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(lab, **options)


__all__ = ["PROVIDERS", "CreateOutcome", "MachineInfo", "Provider", "RunOutput", "get_provider"]
