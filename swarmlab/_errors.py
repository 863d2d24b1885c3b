"""swarmlab's exceptions: one root, a few subclasses, each message says what to do.

::

    SwarmlabError
    ├── InvalidArgument          (also ValueError)    a bad name, replicas, availability...
    │   └── UnknownProvider                           provider="nope"
    ├── NotFound                 (also LookupError)
    │   ├── LabNotFound                               Lab.attach("nope")
    │   ├── MachineNotFound                           lab.ssh("nope", ...)
    │   ├── NodeNotFound                              lab.node.drain("nope")
    │   └── ServiceNotFound                           lab.service.scale(nope=3)
    ├── SwarmStateError                               join before init, a node of another swarm
    ├── ImageNotAvailable                             an image no machine has or can pull
    ├── EngineUnavailable                             no Docker engine answers
    ├── ProviderUnavailable                           a provider's tools are missing here
    │   └── HostLimit                                 this computer is set up too small for the lab
    ├── InsecurePath                                  a folder or key swarmlab cannot trust
    ├── UpdatePaused                                  a rolling update stopped on failures
    ├── WaitTimeout              (also TimeoutError)  a step did not converge in time
    └── DockerError                                   the engine refused a request
        └── NoQuorum                                  the swarm has no leader (too few managers)

Every error raised on bad input is raised before anything is changed.
"""

from __future__ import annotations


class SwarmlabError(Exception):
    """Root of every error swarmlab raises on purpose."""


class InvalidArgument(SwarmlabError, ValueError):
    """An argument has the wrong form or value; nothing was changed."""


class UnknownProvider(InvalidArgument):
    """No provider of that name exists."""


class NotFound(SwarmlabError, LookupError):
    """A lab, machine, node or service of that name does not exist."""


class LabNotFound(NotFound):
    pass


class MachineNotFound(NotFound):
    pass


class NodeNotFound(NotFound):
    pass


class ServiceNotFound(NotFound):
    pass


class NetworkNotFound(NotFound):
    pass


class SwarmStateError(SwarmlabError):
    """The swarm is not in a state that allows this step (e.g. join before init)."""


class Unschedulable(SwarmStateError):
    """Tasks of a service that no node can take: they wait until the nodes change."""

    def __init__(self, name: str, count: int, reason: str, created: bool = True) -> None:
        self.service, self.count, self.reason = name, count, reason
        said = f"{count} task(s) of {name} cannot be placed on any node; the scheduler says: {reason}. "
        if created:
            said += (f"They will wait until the nodes change, not until time passes: see "
                     f"lab.service.ps({name!r}), lab.node.ls() and the service's constraints and "
                     f"published ports.")
        else:
            said += ("A new service that no node can run was removed again: nothing was created. "
                     "Change its constraints or published ports (or the nodes: lab.node.update) "
                     "and create it again.")
        super().__init__(said)


class ImageNotAvailable(SwarmlabError):
    """No machine of the lab has the image, and it cannot be pulled."""


class EngineUnavailable(SwarmlabError):
    """No Docker engine answers where one is expected."""


class ProviderUnavailable(SwarmlabError):
    """A provider cannot work on this computer (a tool is missing, a setting is wrong)."""


class HostLimit(ProviderUnavailable):
    """This computer, as it is set up, cannot hold the lab asked for (e.g. its kernel's
    neighbour table is too small for that many machines); the message says what to change."""


class LimitExceeded(SwarmlabError):
    """A classroom's limit (machines per learner, memory or CPUs per machine, set by the
    teacher) refuses what was asked; the message says the limit, where it is set, and what to
    remove to fit."""


class InsecurePath(SwarmlabError):
    """A folder or file swarmlab would trust (its home, a lab's folder, a key) is a symlink,
    belongs to someone else or is writable by others; or a path lies outside its folder."""


class UpdatePaused(SwarmlabError):
    """A rolling update paused (or rolled back) because tasks failed."""


class WaitTimeout(SwarmlabError, TimeoutError):
    """A step did not converge in time. ``last_state`` holds what was last seen."""

    def __init__(self, message: str, last_state: object = None, logs: str = "") -> None:
        super().__init__(message)
        self.last_state = last_state
        self.logs = logs


class DockerError(SwarmlabError):
    """The Docker engine refused a request; the message says which and why."""


class NoQuorum(DockerError):
    """The swarm has no leader: fewer than a majority of its managers are online, so Raft
    cannot agree on any change. The running tasks keep running; nothing can be changed until
    a majority is back (or the swarm is rebuilt with ``force_new_cluster=True``)."""
