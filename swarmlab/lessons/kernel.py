"""The Jupyter kernel a lesson runs in when nobody watches it (the lesson runner, CI): ZeroMQ over
Unix sockets in the user's own Jupyter runtime folder instead of TCP ports on 127.0.0.1.

With TCP, jupyter_client picks five free ports (bind to port 0, note the number, close) and
the kernel binds them a moment later. Between the two, anything else on the computer may take
one of them, and the kernel dies at start with "Address already in use": seen when several
lessons, the students' own kernels and the labs' port forwarders start side by side. Unix
sockets are named, not picked: a name made of a fresh random part cannot be taken by anyone
else, and only their owner may connect to them (the runtime folder is private to the user).

    from nbclient import NotebookClient
    NotebookClient(nb, kernel_name="python3", kernel_manager_class=KERNEL_MANAGER).execute()

papermill passes ``kernel_manager_class`` on to nbclient the same way."""

from __future__ import annotations

import os
import uuid

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import default

__all__ = ["KERNEL_MANAGER", "UnixSocketKernelManager"]

#: what ``kernel_manager_class`` takes (nbclient, papermill): this module's manager, by name
KERNEL_MANAGER = f"{__name__}.UnixSocketKernelManager"


class UnixSocketKernelManager(AsyncKernelManager):
    """nbclient's kernel manager (the asynchronous one, as nbclient's own default: with the
    blocking one a cell's timeout is never noticed), whose kernel talks over Unix sockets named
    ``<runtime folder>/kernel-<random>-ipc-<n>`` (removed when the kernel is shut down)."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        # jupyter_client's own default for ipc is "kernel-ipc", relative to the working folder:
        # two kernels started in one folder (the lessons' folder) would share their sockets
        folder = jupyter_runtime_dir()
        os.makedirs(folder, mode=0o700, exist_ok=True)
        # short: a Unix socket's path holds at most 107 bytes
        return os.path.join(folder, f"kernel-{uuid.uuid4().hex[:16]}-ipc")
