"""The ``dind`` provider: each machine is a container on the local engine running its own
dockerd (Docker-in-Docker), the way kind makes Kubernetes nodes.

- Names carry the lab, the machine and the owner (``u<uid>``, see
  :func:`~swarmlab.providers.base.owner_tag`): machine ``manager1`` of lab ``tutorial`` of
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

The modules, by concern:

- :mod:`.engine`: the host engine's facts: where it runs (:func:`engine_location`, and so
  which ``api``), the node image, the security modes (:data:`CAPABILITY_MODE`).
- :mod:`.names`: names, labels and folders (:class:`~.names.LabNames`), and trust: what was
  found by the lab's labels is used only when it is what swarmlab made.
- :mod:`.machine`: making one machine (its container, started with the security fallback),
  its readiness gate, and how its engine is reached.
- :mod:`.network`: the lab's network (made with its subnet, so machines keep their
  addresses), a machine cut off it and back.
- :mod:`.room`: room for a lab, checked before anything is made (the classroom's
  :mod:`.limits`, the kernel's :mod:`.neighbours` table).
- :mod:`.teardown`: destroy, and undoing a create that failed.
- :mod:`.provider`: :class:`DindProvider`, the steps (create, list, remove, destroy, ...).
"""

from __future__ import annotations

from ..base import LABEL_LAB, LABEL_MACHINE, LABEL_OWNER, LABEL_PROVIDER, LABEL_ROLE
from .engine import (
    CAPABILITY_FLAGS,
    CAPABILITY_MODE,
    OFFLINE_NODE_IMAGE,
    ONLINE_NODE_IMAGE,
    default_node_image,
    engine_location,
)
from .machine import SOCKET_DIR_IN_MACHINE, TLS_DIR_IN_MACHINE, TLS_PORT
from .names import LABEL_API, LABEL_SECURITY, LABEL_SOCKET
from .provider import LOCK_WAIT, DindProvider

__all__ = [
    "CAPABILITY_FLAGS",
    "CAPABILITY_MODE",
    "LABEL_API",
    "LABEL_LAB",
    "LABEL_MACHINE",
    "LABEL_OWNER",
    "LABEL_PROVIDER",
    "LABEL_ROLE",
    "LABEL_SECURITY",
    "LABEL_SOCKET",
    "LOCK_WAIT",
    "OFFLINE_NODE_IMAGE",
    "ONLINE_NODE_IMAGE",
    "SOCKET_DIR_IN_MACHINE",
    "TLS_DIR_IN_MACHINE",
    "TLS_PORT",
    "DindProvider",
    "default_node_image",
    "engine_location",
]
