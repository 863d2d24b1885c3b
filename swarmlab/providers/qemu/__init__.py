"""The qemu provider: machines as real virtual machines booted by QEMU on this computer
(KVM where it works, else software emulation), from one base image built offline by
``scripts/build-vm-image``. ``host.py``: what this computer must have (QEMU, the VDE switch,
an accelerator, memory, the image); ``guest.py``: what a VM learns at boot, and its keys;
``vm.py``: one VM's files, process and monitor; ``provider.py``: ``QemuProvider``."""

from __future__ import annotations

from .provider import QemuProvider

__all__ = ["QemuProvider"]
