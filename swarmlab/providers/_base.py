"""The provider interface: where machines come from.

A provider knows machines only: create, list, remove, stop/start, the address a machine
advertises, a docker-py client for its engine, a shell command on it, its logs. No Swarm
logic lives here: every Swarm step is written once, over docker-py, in :mod:`swarmlab.lab`.

A provider instance is bound to one lab (``Provider(lab_name, **options)``). Everything it
creates carries the labels from :func:`lab_labels`, which are the only state: listing,
re-attaching and cleanup are label queries.
"""

from __future__ import annotations

import abc
import getpass
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from .._errors import InvalidArgument, ProviderUnavailable

if TYPE_CHECKING:
    import docker

LABEL_LAB = "io.swarmlab.lab"
LABEL_ROLE = "io.swarmlab.role"
LABEL_MACHINE = "io.swarmlab.machine"
LABEL_PROVIDER = "io.swarmlab.provider"
#: who made it: the user id (``os.getuid()``), or the user name where there are no user ids.
#: Two users of one engine who both call their lab ``tutorial`` each see only their own.
LABEL_OWNER = "io.swarmlab.owner"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_LAB_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")


def check_machine_name(name: object) -> str:
    """Validate a machine name (a hostname label, as docker-machine requires)."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name.endswith("-"):
        raise InvalidArgument(
            f"invalid machine name {name!r}: use letters, digits and '-' "
            "(start with a letter or digit, at most 63 characters), e.g. 'manager1'"
        )
    return name


def check_machine_names(names: Sequence[object]) -> list[str]:
    """Validate a list of machine names: each valid, none twice."""
    checked = [check_machine_name(n) for n in names]
    seen: set[str] = set()
    twice = sorted({n for n in checked if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if twice:
        raise InvalidArgument(
            f"machine name given twice: {', '.join(twice)}; give each machine once"
        )
    return checked


def check_lab_name(name: object) -> str:
    if not isinstance(name, str) or not _LAB_RE.fullmatch(name) or name.endswith("-"):
        raise InvalidArgument(
            f"invalid lab name {name!r}: use lower-case letters, digits and '-' "
            "(start with a letter or digit, at most 30 characters), e.g. 'tutorial'"
        )
    return name


def owner() -> str:
    """This user, as the owner label says it: the user id, else the user name in lower-case
    letters and digits (``user`` when there is none)."""
    if hasattr(os, "getuid"):
        return str(os.getuid())
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no user name in the environment or database
        name = ""
    return re.sub(r"[^a-z0-9]", "", name.lower())[:32] or "user"


def owner_tag(who: str) -> str:
    """The owner as a part of a name (no '-' or '.', so names split back unambiguously):
    ``u1000`` for user id 1000, else the user name as :func:`owner` gives it."""
    return f"u{who}" if who.isdigit() else who


def lab_labels(lab: str, role: str, provider: str, machine: str | None = None) -> dict[str, str]:
    labels = {LABEL_LAB: lab, LABEL_ROLE: role, LABEL_PROVIDER: provider}
    if machine is not None:
        labels[LABEL_MACHINE] = machine
    return labels


@dataclass(frozen=True)
class MachineInfo:
    """One machine as a provider sees it (a row of ``docker-machine ls``)."""

    name: str
    driver: str
    state: str  # "Running", "Stopped", "Error", ...
    url: str = ""
    address: str = ""
    docker_version: str = ""
    error: str = ""
    details: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state == "Running"


@dataclass(frozen=True)
class CreateOutcome:
    """What ``create`` did for one machine: made it, or found it already there."""

    name: str
    created: bool
    note: str = ""


@dataclass(frozen=True)
class RunOutput:
    """The result of a shell command on a machine."""

    exit_code: int
    output: str


class Provider(abc.ABC):
    """Machines for one lab. Subclasses set ``name`` and implement the abstract methods."""

    name: ClassVar[str]

    def __init__(self, lab: str) -> None:
        self.lab = check_lab_name(lab)

    # -- machines -------------------------------------------------------------------
    @abc.abstractmethod
    def create(self, names: Sequence[str], timeout: float) -> list[CreateOutcome]:
        """Create the machines not already there (in parallel), wait until each engine
        answers, and report per machine whether it was created or found."""

    def left_alone(self) -> list[str]:
        """What carries the lab's labels but is not what swarmlab makes, one sentence each
        (``left alone: container X (...)``): never used, never removed, reported."""
        return []

    @abc.abstractmethod
    def list(self) -> list[MachineInfo]:
        """The lab's machines, sorted by name."""

    @abc.abstractmethod
    def remove(self, names: Sequence[str]) -> None:
        """Remove these machines and everything made for them."""

    @abc.abstractmethod
    def destroy(self) -> dict[str, int]:
        """Remove everything the lab made; return counts by kind (containers, ...)."""

    def stop(self, name: str) -> None:
        raise ProviderUnavailable(f"the {self.name} provider cannot stop machines")

    def start(self, name: str, timeout: float) -> None:
        raise ProviderUnavailable(f"the {self.name} provider cannot start machines")

    # -- one machine --------------------------------------------------------------
    @abc.abstractmethod
    def address(self, name: str) -> str:
        """The IP this machine advertises to the other machines of the lab."""

    @abc.abstractmethod
    def client(self, name: str) -> docker.DockerClient:
        """A docker-py client for this machine's engine (cached)."""

    @abc.abstractmethod
    def run(self, name: str, command: str) -> RunOutput:
        """Run a shell command on the machine (``docker-machine ssh NAME COMMAND``)."""

    def logs(self, name: str, tail: int = 30) -> str:
        """The last lines of the machine's engine log, for error messages."""
        return ""

    # -- for the learner ------------------------------------------------------------
    def create_command(self, names: Sequence[str]) -> str:
        """The command a learner would type for ``create`` (``docker-machine create ...``)."""
        return " && ".join(f"docker-machine create -d {self.name} {n}" for n in names)

    def create_details(self, names: Sequence[str]) -> Sequence[str]:
        """What really runs underneath ``create_command``, when that differs (kept in a
        result's ``.details``, not shown): e.g. the ``docker run`` of a dind machine."""
        return []

    def close(self) -> None:  # noqa: B027 - optional: providers without clients to close
        """Close cached clients."""
