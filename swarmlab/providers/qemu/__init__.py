"""The qemu provider: machines as real virtual machines booted by QEMU on this computer
(KVM where it works, else software emulation), from one base image built offline by
``scripts/build-vm-image``. ``host.py``: what this computer must have (QEMU, the VDE switch,
an accelerator, memory, the image); ``guest.py``: what a VM learns at boot, and its keys;
``vm.py``: one VM's files, process and monitor; ``provider.py``: ``QemuProvider``.

Untrusted learners: ``internet=False`` (or ``SWARMLAB_QEMU_INTERNET=0``). With
``internet=True`` (the default) QEMU's user-mode NAT lets a guest open connections out, and
its gateway, ``192.168.127.2``, is this computer's own loopback: root in a VM (a learner has
it, through ``lab.ssh``) reaches every service of this computer that listens on
``127.0.0.1`` only (a hub's API, a registry mirror's port, a database), as this computer's
QEMU process. ``internet=False`` starts the NAT with ``restrict=on``: the guest can open no
connection through it at all (neither this computer's loopback nor the internet; its DNS
relay does not answer), and only the two forwards of ``127.0.0.1`` (sshd and the engine's
TLS port) come in. The machines still reach each other on the lab's switch; images reach
them by ``lab.image.load`` (offline images). What is tested here is the command line
(``tests/unit/test_qemu_parts.py``: ``restrict=on``), not a guest's attempt.
"""

from __future__ import annotations

from .provider import QemuProvider

__all__ = ["QemuProvider"]
