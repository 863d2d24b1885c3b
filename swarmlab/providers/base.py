"""The provider contract: where a lab's machines come from.

A provider knows machines only: create, list, remove, stop/start, the address a machine
advertises, a docker-py client for its engine, a shell command on it, its logs, and this
computer's engine (where images are saved from). No Swarm logic lives here: every Swarm step
is written once, over docker-py, in :mod:`swarmlab.commands`, so every provider gets it.

A provider instance is bound to one lab (``Provider(lab_name, **options)``). Everything it
creates carries the labels from :func:`lab_labels`, which are the only state: listing,
re-attaching and cleanup are label queries. Code shared by several providers (the client
cache) is in :mod:`swarmlab.providers.common`.
"""

from __future__ import annotations

import abc
import getpass
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from .._engine import host_client
from .._errors import InvalidArgument, ProviderUnavailable
from .common import ClientCache

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
_OWNER_RE = re.compile(r"^[a-z0-9]{1,32}$")


_PATTERNS = {"lab": _LAB_RE, "machine": _NAME_RE, "owner": _OWNER_RE}


def _check_name(name: object, what: str, rule: str) -> str:
    """``name`` if it is a ``what`` name swarmlab gives (:func:`is_name`)."""
    if not is_name(name, what):
        raise InvalidArgument(f"invalid {what} name {name!r}: {rule}")
    return name  # type: ignore[return-value]


def check_machine_name(name: object) -> str:
    """Validate a machine name (a hostname label, as docker-machine requires)."""
    return _check_name(name, "machine", "use letters, digits and '-' (start with a letter "
                       "or digit, at most 63 characters), e.g. 'manager1'")


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
    """Validate a lab name: lower-case letters, digits and '-', at most 30 characters."""
    return _check_name(name, "lab", "use lower-case letters, digits and '-' (start with a "
                       "letter or digit, at most 30 characters), e.g. 'tutorial'")


def is_name(text: object, kind: str) -> bool:
    """Whether a name read back from an engine or a folder (a label's value, never trusted as
    it comes) is one swarmlab gives: ``kind`` is "lab", "machine" or "owner"."""
    pattern = _PATTERNS[kind]
    return isinstance(text, str) and bool(pattern.fullmatch(text)) and not text.endswith("-")


def labelled_lab(labels: dict[str, str] | None) -> tuple[str, str] | None:
    """(lab, owner) from labels read back from an engine, when both are names swarmlab gives."""
    labels = labels or {}
    lab, who = labels.get(LABEL_LAB), labels.get(LABEL_OWNER)
    return (lab, who) if is_name(lab, "lab") and is_name(who, "owner") else None  # type: ignore[return-value]


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
    """The labels on everything a provider makes for a lab (a machine's also name it)."""
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
    #: what the learner should know of how it was made (shown with the result), e.g. that
    #: the engine cannot apply the classroom's limits
    warning: str = ""


@dataclass(frozen=True)
class RunOutput:
    """The result of a shell command on a machine."""

    exit_code: int
    output: str


class Provider(abc.ABC):
    """Machines for one lab. Subclasses set ``name`` and implement the abstract methods.

    Errors: bad input raises :class:`~swarmlab.InvalidArgument` before anything changes, an
    unknown machine :class:`~swarmlab.MachineNotFound`, a missing tool or setting
    :class:`~swarmlab.ProviderUnavailable`, an engine that does not answer
    :class:`~swarmlab.EngineUnavailable`; docker-py's own errors may pass through (the
    commands wrap them)."""

    #: the provider's name, as ``Lab(provider=...)`` takes it; also its label value
    name: ClassVar[str]
    #: the image machines are made from, where the provider makes them from one (dind: the
    #: node image, which the setup check looks for on :meth:`host_engine`); "" for the others
    node_image: str = ""
    #: how many times slower than a dind machine these machines are (every step's timeout
    #: is stretched by it): 1 for engines on real CPUs, more under software emulation
    slowness: float = 1.0

    def __init__(self, lab: str) -> None:
        """Bind the provider to lab ``lab`` (checked); nothing is made or connected yet."""
        #: the lab's name, in every label and name the provider gives
        self.lab = check_lab_name(lab)
        self._local = ClientCache()  # this computer's engine, for host_engine()
        self._clients = ClientCache()  # a client per machine, made by connect()

    # -- machines -------------------------------------------------------------------
    @abc.abstractmethod
    def create(self, names: Sequence[str], timeout: float) -> list[CreateOutcome]:
        """Create the machines not already there (in parallel), wait until each engine
        answers, and report per machine, in the order given, whether it was created or
        found (a stopped one found is started). Safe to run twice; a failed create takes
        away what it made."""

    def left_alone(self) -> list[str]:
        """What carries the lab's labels but is not what swarmlab makes, one sentence each
        (``left alone: container X (...)``): never used, never removed, reported."""
        return []

    @abc.abstractmethod
    def list(self) -> list[MachineInfo]:
        """The lab's machines, sorted by name, running or not (``docker-machine ls``)."""

    @abc.abstractmethod
    def remove(self, names: Sequence[str]) -> None:
        """Remove these machines and everything made for them (``docker-machine rm -y``);
        their cached clients are closed."""

    @abc.abstractmethod
    def destroy(self) -> dict[str, int]:
        """Remove everything the lab made; return counts by kind (containers, ...). What the
        engine refuses to remove, after brief retries, does not stop the rest: it is listed in
        :attr:`left_behind` (one sentence each: what, why, the command that clears it), and
        the next ``destroy`` tries it again."""

    #: what the last :meth:`destroy` could not remove, with the command that clears each
    left_behind: Sequence[str] = ()

    def remnants(self) -> Sequence[str]:
        """What the lab still has here besides machines (a network, a volume a destroy could
        not remove), one name each: what ``Lab.attach`` mentions when no machine is left."""
        return ()

    def stop(self, name: str) -> None:
        """Stop a machine, keeping it (``docker-machine stop``). Default: not possible."""
        raise ProviderUnavailable(f"the {self.name} provider cannot stop machines")

    def start(self, name: str, timeout: float) -> None:
        """Start a stopped machine and wait until its engine answers (``docker-machine
        start``). Default: not possible."""
        raise ProviderUnavailable(f"the {self.name} provider cannot start machines")

    # -- failures, for real ---------------------------------------------------------
    def kill(self, name: str) -> str:
        """Stop a machine at once, as a power cut would (``docker-machine kill``): its engine
        gets no chance to leave the swarm. Return the command that did it. Default: not
        possible."""
        raise ProviderUnavailable(f"the {self.name} provider cannot kill machines")

    def disconnect(self, name: str) -> str:
        """Cut a machine off the lab's network, keeping it running (a network partition);
        return the command that did it. Default: not possible."""
        raise ProviderUnavailable(
            f"the {self.name} provider cannot cut a machine off the network; do it on the "
            f"machine's own network (unplug it, or a firewall rule)")

    def reconnect(self, name: str) -> str:
        """Undo :meth:`disconnect`: the machine is back on the lab's network at its own
        address; return the command that did it. Default: not possible."""
        raise ProviderUnavailable(f"the {self.name} provider cannot reconnect machines")

    # -- one machine --------------------------------------------------------------
    @abc.abstractmethod
    def address(self, name: str) -> str:
        """The IP this machine advertises to the other machines of the lab
        (``docker-machine ip``); the swarm's ``--advertise-addr``."""

    def listen_address(self, name: str) -> str:
        """Where the machine's swarm listens (``docker swarm init/join --listen-addr``, without
        the port): by default every address of the machine, ``0.0.0.0``, as docker's own
        default (a machine on the lab's network alone). A provider whose machines have other
        networks too (existing hosts) gives the advertise address only."""
        return "0.0.0.0"

    def unreachable_hint(self, said: str) -> str:
        """What to look at when machines of the lab could not reach each other (``said`` is
        what an engine said); "" when the provider knows nothing more."""
        return ""

    def reach(self, name: str, port: int) -> tuple[str, int]:
        """Where this computer connects to reach ``port`` on the machine (``lab.http``): by
        default the machine's own address and that port. A provider whose machines this
        computer cannot reach directly forwards a port of 127.0.0.1 instead."""
        return self.address(name), port

    def client(self, name: str) -> docker.DockerClient:
        """A docker-py client for this machine's engine, made on first use (:meth:`connect`)
        and cached until the machine is removed, stopped or started, or the provider is
        closed. A provider whose clients are not one per machine overrides this."""
        check_machine_name(name)
        return self._clients.get(name, lambda: self.connect(name))

    def connect(self, name: str) -> docker.DockerClient:
        """Make a new client for this machine's engine (for :meth:`client`'s cache); raise
        a :class:`~swarmlab.SwarmlabError` saying what to do when it does not answer."""
        raise NotImplementedError(f"the {self.name} provider makes its clients in client()")

    @abc.abstractmethod
    def run(self, name: str, command: str) -> RunOutput:
        """Run a shell command on the machine (``docker-machine ssh NAME COMMAND``); a
        command that fails is an exit code in the result, not an exception."""

    def logs(self, name: str, tail: int = 30) -> str:
        """The last lines of the machine's engine log, for error messages; never raises
        for a machine that does not answer (says so instead)."""
        return ""

    # -- from a terminal ------------------------------------------------------------
    def shell_command(self, name: str) -> tuple[str, ...]:
        """The command line that opens an interactive shell on the machine from a terminal
        of this computer, with a real terminal (``docker-machine ssh NAME``), for ``swarmlab
        ssh``. Default: not possible."""
        raise ProviderUnavailable(f"the {self.name} provider opens no shell on its machines")

    def engine_env(self, name: str) -> dict[str, str]:
        """The environment that points this computer's ``docker`` CLI at the machine's engine
        (``DOCKER_HOST``, and the TLS settings where the engine needs them), as
        ``docker-machine env NAME`` prints it. Default: not possible."""
        raise ProviderUnavailable(f"the {self.name} provider cannot point a docker CLI at its machines")

    # -- this computer --------------------------------------------------------------
    def host_engine(self) -> docker.DockerClient:
        """The Docker engine on this computer: ``lab.image.load`` saves images from it
        (``docker save``). By default the local engine (``DOCKER_HOST``, else the default
        socket), as ``docker`` in a terminal finds it: connected on first use, checked to
        answer (else :class:`~swarmlab.EngineUnavailable`), closed by :meth:`close`. The
        dind provider's is the engine its machines run on."""
        return self._local.get("host", host_client)

    # -- for the learner ------------------------------------------------------------
    def create_command(self, names: Sequence[str]) -> str:
        """The command a learner would type for ``create`` (``docker-machine create ...``): one
        per machine, or for more than five a shell loop over their names (a 50-machine lab's
        line stays readable)."""
        if len(names) > 5:
            return f"for m in {' '.join(names)}; do docker-machine create -d {self.name} $m; done"
        return " && ".join(f"docker-machine create -d {self.name} {n}" for n in names)

    def pull_hint(self, image: str) -> str:
        """More about a failed ``docker pull`` of ``image`` than the machine's engine says
        (e.g. what the lab's registry mirror answered); '' when there is nothing to add."""
        return ""

    def create_details(self, names: Sequence[str]) -> Sequence[str]:
        """What really runs underneath ``create_command``, when that differs (kept in a
        result's ``.details``, not shown): e.g. the ``docker run`` of a dind machine."""
        return []

    def close(self) -> None:
        """Close cached clients (a subclass closes its own, then calls this). The machines
        stay; the provider may be used again (clients are made anew)."""
        self._clients.close()
        self._local.close()


__all__ = [
    "LABEL_LAB",
    "LABEL_MACHINE",
    "LABEL_OWNER",
    "LABEL_PROVIDER",
    "LABEL_ROLE",
    "CreateOutcome",
    "MachineInfo",
    "Provider",
    "RunOutput",
    "check_lab_name",
    "check_machine_name",
    "check_machine_names",
    "lab_labels",
    "owner",
    "owner_tag",
]
