"""What the views need of a lab: a typed protocol, so a view depends on these calls only (and
a test may hand it anything that has them). :class:`swarmlab.Lab` satisfies it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import docker


class ServiceCommands(Protocol):
    last_rollout: Any

    # the views call these as a learner would; any signature of the real commands fits
    def scale(self, *args: Any, **kwargs: Any) -> Any: ...

    def update(self, *args: Any, **kwargs: Any) -> Any: ...


class NodeCommands(Protocol):
    def update(self, *args: Any, **kwargs: Any) -> Any: ...


class LabView(Protocol):
    """The part of a lab the dashboard, the rollout view and the swarm source use."""

    @property
    def name(self) -> str: ...

    @property
    def service(self) -> ServiceCommands: ...

    @property
    def node(self) -> NodeCommands: ...

    def manager_client(self) -> docker.DockerClient: ...

    def machines(self, running: bool = True) -> list[str]: ...
