"""What every command namespace shares: the lab it works on, and the boundary where
docker-py's errors become swarmlab's ("failed to <verb> <object>: <why>")."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import docker.errors
import requests

from .._errors import DockerError, EngineUnavailable, NoQuorum, ProviderUnavailable, SwarmlabError
from .._swarm import NO_LEADER
from .._wait import Progress, wait_for

if TYPE_CHECKING:
    from .._results import Output
    from ..providers.base import Provider


QUORUM_ADVICE = (
    "The swarm has lost its quorum: Raft needs a majority of the managers (2 of 3, 3 of 5) "
    "online to agree on any change, and fewer are. The tasks that run keep running, but "
    "nothing can be changed. Bring managers back (lab.machine.start(...), "
    "lab.machine.reconnect(...)); if they are lost for good, rebuild the swarm from one "
    "manager with lab.swarm.init(<manager>, force_new_cluster=True)."
)

#: What a manager answers when it asked the other managers and got no answer in time.
RAFT_SILENT = "DeadlineExceeded"
RAFT_SILENT_ADVICE = (
    "The manager waited for the other managers (Raft) and got no answer in time: a manager is "
    "down or cut off, or an election is under way. Try again in a few seconds; "
    "lab.swarm.quorum() says how many managers answer."
)


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Wrap docker-py errors at the boundary: 'failed to <verb> <object>: <why>'."""
    try:
        yield
    except SwarmlabError:
        raise
    except docker.errors.APIError as e:
        said = str(e.explanation or e)
        if NO_LEADER in said:
            raise NoQuorum(f"failed to {what}: {said}\n{QUORUM_ADVICE}") from None
        if RAFT_SILENT in said:
            said += f"\n{RAFT_SILENT_ADVICE}"
        raise DockerError(f"failed to {what}: {said}") from None
    except (requests.exceptions.ConnectionError, ConnectionError) as e:
        raise EngineUnavailable(f"failed to {what}: the engine did not answer ({e})") from None
    except requests.exceptions.RequestException as e:  # a read timeout, a broken answer
        raise DockerError(f"failed to {what}: {e}") from None
    except docker.errors.DockerException as e:
        raise DockerError(f"failed to {what}: {e}") from None
    except NotImplementedError as e:  # a provider without this verb
        raise ProviderUnavailable(f"failed to {what}: {e}") from None


#: What reading a machine's engine may raise when the machine is stopped, gone or busy.
UNREACHABLE = (docker.errors.DockerException, requests.exceptions.RequestException, SwarmlabError)


class ObjectCommands(Protocol):
    """``lab.secret`` or ``lab.config``, as a service's references look their objects up."""

    def _get(self, name: str, client: docker.DockerClient | None = None) -> dict[str, Any]: ...


class ServiceCommands(Protocol):
    """``lab.service``, as a stack and the rollout view use it."""

    last_rollout: Any

    def scale(self, *args: Any, **kwargs: Any) -> Any: ...

    def update(self, *args: Any, **kwargs: Any) -> Any: ...

    def _image_check(self, image: str) -> list[str]: ...

    def _containers_gone(self, names: list[str], seen: list[int]) -> Progress: ...


class NodeCommands(Protocol):
    """``lab.node``, as the rollout view uses it."""

    def update(self, *args: Any, **kwargs: Any) -> Any: ...


class LabParts(Protocol):
    """What a command may touch of its lab: the public API of :class:`swarmlab.Lab`, which sits
    above the commands and satisfies this (the commands never import it)."""

    @property
    def name(self) -> str: ...

    @property
    def provider(self) -> Provider: ...

    @property
    def progress(self) -> bool: ...

    @property
    def offline(self) -> bool: ...

    @property
    def service(self) -> ServiceCommands: ...

    @property
    def node(self) -> NodeCommands: ...

    @property
    def secret(self) -> ObjectCommands: ...

    @property
    def config(self) -> ObjectCommands: ...

    def client(self, machine: str) -> docker.DockerClient: ...

    def machines(self, running: bool = True) -> list[str]: ...

    def manager(self) -> str: ...

    def manager_client(self) -> docker.DockerClient: ...

    def swarm_info(self, machine: str) -> dict[str, Any] | None: ...

    def swarm_infos(self) -> list[tuple[str, dict[str, Any]]]: ...

    def use_manager(self, machine: str) -> None: ...

    def forget_manager(self, machine: str | None = None) -> None: ...

    def engine_logs(self, machines: Sequence[str] | None = None, tail: int = 15) -> str: ...

    def ssh(self, machine: str, command: str) -> Output: ...


class Command:
    """The commands of one CLI noun (``lab.service``, ``lab.node``, ...) on one lab."""

    def __init__(self, lab: LabParts) -> None:
        self._lab = lab

    def _wait_for(self, check: Callable[[], Progress], *, timeout: float, interval: float = 0.2,
                  **kw: Any) -> Progress:
        """:func:`~swarmlab._wait.wait_for`, its timeout and its polling interval stretched by
        the provider's ``slowness``: machines under software emulation do everything several
        times slower, and each poll costs their engine emulated CPU that the step needs."""
        slowness = self._lab.provider.slowness
        return wait_for(check, timeout=timeout * slowness, interval=interval * slowness, **kw)

    def __repr__(self) -> str:
        verbs = [n for n in dir(self) if not n.startswith("_")]
        return f"<{type(self).__name__.lower()} commands of {self._lab!r}: {', '.join(verbs)}>"
