"""The ``virtualbox`` provider: machines are VirtualBox VMs made by ``docker-machine``, as in
the original lab (``docker-machine create -d virtualbox manager1``).

The provider runs docker-machine as a command and reads only its documented output:

- ``create -d virtualbox`` with ``--virtualbox-memory``/``--virtualbox-cpu-count``, a host-only
  network VirtualBox still accepts (``--virtualbox-hostonly-cidr 192.168.56.1/24``: VirtualBox
  6.1.28 and later refuse host-only networks outside 192.168.56.0/21 with E_ACCESSDENIED, and
  docker-machine's default is 192.168.99.1/24), the boot2docker ISO pinned to v19.03.12 (the
  last release; docker-machine would otherwise ask the GitHub API, whose rate limit breaks
  classrooms), and the lab's labels as ``--engine-label`` (the only state: the lab's machines
  are ``docker-machine ls --filter label=io.swarmlab.lab=<lab>``).
- ``ip`` is the address the machine advertises (the host-only one, never the NAT one);
  ``config`` gives the TLS files (in ``$MACHINE_STORAGE_PATH`` or
  ``~/.docker/machine/machines/NAME/``) and the engine URL for the docker-py client;
  ``ssh NAME COMMAND`` runs commands; ``rm -y`` removes machines.
- A machine whose state is ``Timeout`` or ``Error`` in ``docker-machine ls`` is listed but not
  running, so no step uses it.

Nothing docker-machine prints is trusted: a name in ``ls`` that no machine of swarmlab's can
have (``../x``, ``-oFoo``, a name with a line break) is left alone and reported by
:meth:`VirtualBoxProvider.left_alone`, never put on a command line; ``ip`` must print one address, ``config`` the
machine's own TLS files (``<storage>/machines/NAME/``) and a ``tcp://IP:PORT`` engine with
``--tlsverify``, or the step stops with :class:`~swarmlab.ProviderUnavailable` before anything
connects. Machine names always follow ``--`` on docker-machine's command line, and a command
for ``docker-machine ssh`` cannot start with ``-`` (ssh would read it as one of its options).

Machine names are the lesson's names (``manager1``), as docker-machine knows them, so that
``docker-machine ssh manager1`` in a terminal reaches the same machine; a name docker-machine
already uses for a machine outside the lab is refused, never taken over.

The modules, by concern:

- :mod:`.settings`: the settings, checked first (host-only network, boot2docker ISO, sizes).
- :mod:`.command`: docker-machine as a command (finding it and VirtualBox, running it, what
  its errors mean).
- :mod:`.output`: what docker-machine prints (``ls``, ``config``, ``ip``), read without trust.
- :mod:`.provider`: :class:`VirtualBoxProvider`, the steps (create, list, start, rm, ...).
"""

from __future__ import annotations

from .command import MAINTAINED_FORK, DockerMachine, find_tools, find_vboxmanage
from .output import LS_FORMAT, NOT_READY_STATES, STATES, engine_url_problem, parse_config, parse_ip, parse_ls
from .provider import VirtualBoxProvider
from .settings import BOOT2DOCKER_URL, DEFAULT_HOSTONLY_CIDR, VBOX_ALLOWED_RANGE, check_hostonly_cidr

__all__ = [
    "BOOT2DOCKER_URL",
    "DEFAULT_HOSTONLY_CIDR",
    "LS_FORMAT",
    "MAINTAINED_FORK",
    "NOT_READY_STATES",
    "STATES",
    "VBOX_ALLOWED_RANGE",
    "DockerMachine",
    "VirtualBoxProvider",
    "check_hostonly_cidr",
    "engine_url_problem",
    "find_tools",
    "find_vboxmanage",
    "parse_config",
    "parse_ip",
    "parse_ls",
]
