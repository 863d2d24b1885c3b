"""The ``ssh`` provider: machines are existing hosts that already run Docker (a classroom's lab
computers, Vagrant boxes, cloud VMs), reached over SSH. This is how a lab outgrows one computer.

::

    lab = sl.Lab("class", provider="ssh",
                 hosts=["learner@10.0.0.11", "learner@10.0.0.12", "learner@10.0.0.13:2222"],
                 key="~/.ssh/id_ed25519")
    lab.machine.create("manager1", "worker1", "worker2")   # adopts the hosts, in this order

Inventory (``hosts=``): a list of ``user@host[:port]`` (machine names are bound in the order
``machine.create`` names them), a dict ``{"manager1": "user@host", ...}``, entries as dicts
(``name``, ``target``, ``key``, ``address``), or the path of a YAML or TOML file holding the
same under ``hosts`` (and optionally ``key``, ``known_hosts``, ``trust_new_hosts``).

- ``machine.create`` ADOPTS a host: it checks that SSH lets us in, that Docker answers and that
  the host is in no swarm, then records the adoption on the host itself (a labelled volume,
  ``swarmlab-<lab>-<machine>``: state lives on the machines). It never installs anything. If any
  host fails a check, nothing is recorded on any host.
- Each swarm membership the lab makes on a host (``lab.swarm.init`` / ``lab.swarm.join``, through
  the lab's own client) is recorded there too: a volume ``swarmlab-<lab>-<machine>-node-<id>``
  naming the swarm node ID the host got.
- ``destroy`` / ``machine.rm`` remove only what the lab made: a host whose node ID is the lab's
  leaves that swarm and loses that swarm's task containers (and the ``docker_gwbridge`` network
  when swarm made it); a host that left the lab's swarm and joined or made another keeps that
  swarm and its tasks (reported by :meth:`SSHProvider.left_alone`). Then the records go. The host
  itself, its Docker, its other containers and volumes stay; images loaded with
  ``lab.image.load`` stay too (the host may have had them before).
- Nothing read back from a host is trusted: a volume with the lab's labels that is not a record
  as swarmlab makes it (its name, a machine name, a node ID) is never used, never removed, and
  reported. Inventory entries are checked whole: user names, host names (a DNS name or an IP
  address), ports, machine names, addresses.
- Docker is reached over SSH with paramiko: each API connection runs ``docker system
  dial-stdio`` on the host (what ``docker -H ssh://...`` does), through a unix socket in the
  lab's own folder (``~/.swarmlab/labs/ssh/<lab>/``, mode 0700, checked before use, removed by
  ``destroy``). No TCP port is opened on any host.
- Host keys are checked against ``~/.ssh/known_hosts`` (or ``known_hosts=``), and an unknown
  host is refused, naming its fingerprint. To trust a new lab host, compare the fingerprint with
  the host's own (``ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`` on it), then either add
  it (``ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts``, or one ``ssh -p PORT user@host``) or
  pass ``trust_new_hosts=True``, which records a host's key the first time it is seen (like
  OpenSSH's ``StrictHostKeyChecking=accept-new``). A key that CHANGED is always refused.
- The address a machine advertises to the swarm is ``address=`` from its entry, else the host's
  IP when the target names one, else the address the host was reached on (``$SSH_CONNECTION``).

The modules, by concern:

- :mod:`.inventory`: the hosts (``hosts=``, a YAML or TOML file, ``SWARMLAB_SSH_HOSTS``),
  each entry checked whole (:class:`Host`, :func:`load_inventory`).
- :mod:`.transport`: SSH with paramiko: logging in and host keys (:class:`~.transport.Login`),
  sessions, the unix-socket forwarder.
- :mod:`.connections`: one connection per host (sessions, forwarded socket, API client).
- :mod:`.engine`: the docker-py client that notes the swarm memberships the lab makes.
- :mod:`.records`: the records kept on the hosts, read back and checked.
- :mod:`.provider`: :class:`SSHProvider`, the steps (adopt, list, release, ...).
"""

from __future__ import annotations

from .inventory import Host, check_address, check_host_name, check_settings, load_inventory, parse_target
from .provider import SSHProvider
from .records import (
    LABEL_GWBRIDGE,
    LABEL_NODE,
    LABEL_TARGET,
    ROLE_ADOPTED,
    ROLE_NODE,
    SWARM_NODE_LABEL,
    SWARM_SERVICE_LABEL,
)
from .transport import CONNECT_TIMEOUT, POOL_SIZE, SESSIONS, HostKeyError

__all__ = [
    "CONNECT_TIMEOUT",
    "LABEL_GWBRIDGE",
    "LABEL_NODE",
    "LABEL_TARGET",
    "POOL_SIZE",
    "ROLE_ADOPTED",
    "ROLE_NODE",
    "SESSIONS",
    "SWARM_NODE_LABEL",
    "SWARM_SERVICE_LABEL",
    "Host",
    "HostKeyError",
    "SSHProvider",
    "check_address",
    "check_host_name",
    "check_settings",
    "load_inventory",
    "parse_target",
]
