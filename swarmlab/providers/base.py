"""The provider contract: where a lab's machines come from, and what they can do.

A provider knows machines only: create, list, remove, stop/start, the address a machine
advertises, a docker-py client for its engine, a shell command on it, its logs, and this
computer's engine (where images are saved from). No Swarm logic lives here: every Swarm step
is written once, over docker-py, in :mod:`swarmlab.commands`, so every provider gets it.

What a provider's machines can do is data, :class:`Capabilities` (``provider.capabilities``):
the core asks ``provider.capabilities.rootless``, never the provider's name. Which labs exist
here, and whose, is one question, :meth:`Provider.list_labs`, that ``swarmlab ls``, the
teacher's board and ``swarmlab gc`` all ask.

A provider instance is bound to one lab (``Provider(lab_name, **options)``). Everything it
creates carries the labels from :func:`~swarmlab.providers.labels.lab_labels`, which are the
only state: listing, re-attaching and cleanup are label queries. Code shared by several
providers (the client cache) is in :mod:`swarmlab.providers.common`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar

from .. import _home
from .._engine import host_client
from .._errors import MachineNotFound, ProviderUnavailable
from .._util import did_you_mean
from .common import ClientCache
from .labels import (
    LABEL_LAB,
    LABEL_MACHINE,
    LABEL_OWNER,
    LABEL_PROVIDER,
    LABEL_ROLE,
    check_lab_name,
    check_machine_name,
    check_machine_names,
    is_name,
    lab_labels,
    labelled_lab,
    owner,
    owner_tag,
)

if TYPE_CHECKING:
    import docker


@dataclass(frozen=True)
class Capabilities:
    """What a provider's machines can do, as data (kind's ``ProviderInfo``): asked as
    ``provider.capabilities.routing_mesh``, never read from the provider's name."""

    #: the machines are containers on this computer's kernel (False: each runs its own)
    shares_host_kernel: bool
    #: the routing mesh and virtual IPs (IPVS) work on the machines: True, False, or None when
    #: it depends on a kernel the provider does not choose (this computer's, when the machines
    #: share it: :meth:`Provider.readiness` says which)
    routing_mesh: bool | None
    #: a machine's memory and CPUs can be limited (``Lab(..., memory=...)``, a classroom's limits)
    memory_limits: bool
    #: about how many seconds a new machine takes until its engine answers, here
    boot_seconds: float
    #: how many times slower than a dind machine every step is (timeouts are stretched by it)
    slowness: float = 1.0
    #: swarmlab makes and removes the machines (False: it adopts existing hosts and releases them)
    makes_machines: bool = True
    #: the labs live on a Docker engine several users share, told apart by their owner label:
    #: the teacher's board and ``swarmlab gc`` read them there (:meth:`Provider.list_labs` with
    #: an engine, :meth:`Provider.machine_events`)
    shared_engine: bool = False
    #: the machines' engine runs rootless: their addresses are out of this computer's reach
    #: (``lab.http`` asks from inside the lab's network)
    rootless: bool = False
    #: the registry mirror the machines pull through ("" none); None when the provider takes
    #: no mirror setting (the lessons' online check then asks ``$SWARMLAB_REGISTRY_MIRROR``)
    registry_mirror: str | None = None


@dataclass(frozen=True)
class FoundLab:
    """One lab :meth:`Provider.list_labs` found, and whose it is."""

    name: str
    owner: str  #: the owner label's value: a user id, or a user name where there are none
    provider: str
    #: how many machines it has on the engine that was read (-1: not counted, a folder only);
    #: 0: none left, only remains (a network or a volume a destroy left)
    machines: int = -1
    #: for remains, when the newest of them was made (seconds since the epoch)
    made: float = 0.0


@dataclass
class LabListing:
    """What :meth:`Provider.list_labs` found: the labs, sorted by owner and name, and what an
    engine reported that does not count (on user X's own engine, labs of other owners: the
    owner ids, "" for machines whose labels are not names swarmlab gives)."""

    labs: list[FoundLab] = field(default_factory=list)
    others: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MachineEvents:
    """One machine of a lab, as :meth:`Provider.machine_events` read it. Nothing in it is
    trusted: ``lines`` are what the machine's engine said."""

    machine: str
    #: when the machine was made or last started (seconds since the epoch; 0: not known)
    started: float
    running: bool
    #: its engine's ``docker events`` lines in the window asked, in the format asked
    lines: tuple[str, ...] = ()
    #: more was said than is read (the read stopped at its limit)
    cut: bool = False
    #: why its engine could not be read ("" when it was, or was not asked)
    unread: str = ""


def folder_labs(provider: str) -> list[FoundLab]:
    """This user's labs of ``provider`` by their folders in swarmlab's home
    (``labs/<provider>/<lab>``, which every provider makes), sorted; names that are not lab
    names swarmlab gives (a folder someone else made) are left out."""
    root = _home.home_path() / "labs"
    if not root.is_dir():
        return []
    _home.home(create=False)  # checked: private, not a link
    folder = root / provider
    if not folder.is_dir() or folder.is_symlink():
        return []
    me = owner()
    return sorted((FoundLab(p.name, me, provider) for p in folder.iterdir()
                   if p.is_dir() and not p.is_symlink() and is_name(p.name, "lab")), key=lambda f: f.name)


def no_machine(lab: str, name: str, known: Sequence[str], make: str = "create it with") -> MachineNotFound:
    """The error for a machine the lab does not have: a misspelling of one it has gets "did
    you mean" (never the advice to make the misspelling); another name, the lab's machines
    and how to make it (``make``: "create it with", or the ssh provider's "adopt a host with")."""
    listed = ", ".join(sorted(known)) or "none yet"
    close = did_you_mean(name, known)
    if close:
        return MachineNotFound(f"lab {lab!r} has no machine {name!r}: did you mean {close!r}? (machines: {listed})")
    return MachineNotFound(f"lab {lab!r} has no machine {name!r} (machines: {listed}); {make} "
                           f"lab.machine.create({name!r})")


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
    #: what every lab's machines of this provider can do (:attr:`capabilities` gives one
    #: lab's, where it depends on the engine or the options)
    CAPABILITIES: ClassVar[Capabilities]

    def __init__(self, lab: str) -> None:
        """Bind the provider to lab ``lab`` (checked); nothing is made or connected yet."""
        #: the lab's name, in every label and name the provider gives
        self.lab = check_lab_name(lab)
        self._local = ClientCache()  # this computer's engine, for host_engine()
        self._clients = ClientCache()  # a client per machine, made by connect()

    # -- what it can do, which labs exist ----------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        """What this lab's machines can do (:class:`Capabilities`): the provider's, with this
        lab's ``slowness``."""
        caps = type(self).CAPABILITIES
        return caps if caps.slowness == self.slowness else replace(caps, slowness=self.slowness)

    @classmethod
    def list_labs(cls, owners: Sequence[str] | None = None, *, engine: docker.DockerClient | None = None,
                  whose: str = "", lab: str | None = None, remains: bool = False) -> LabListing:
        """Which labs of this provider exist here, and whose (``swarmlab ls``, the teacher's
        board and ``swarmlab gc`` ask this, and nothing else). Without ``engine``: this user's
        labs on this computer. With ``engine`` (a provider whose :attr:`Capabilities.shared_engine`):
        the labs whose machines are on that engine, of ``owners`` (None: every user's), only
        ``lab`` when given, and with ``remains`` also the labs with no machine left whose
        network or volume is still there; on user ``whose``'s own engine (an API that user
        controls) only that user's labs count, the other owners it reports are in
        :attr:`LabListing.others`. Errors of ``engine`` are raised as they come. Default: the
        lab folders in this user's swarmlab home."""
        return LabListing([] if engine is not None else folder_labs(cls.name))

    @classmethod
    def machine_events(cls, found: FoundLab, engine: docker.DockerClient, since: float | None, until: float,
                       fmt: str, deadline: float) -> list[MachineEvents]:
        """Each machine of a lab that :meth:`list_labs` found on ``engine``: when it started
        and, on a running one when ``since`` is given, its engine's ``docker events --since
        --until --format fmt``, each machine read within ``deadline`` seconds (one that does
        not answer by then says so in ``unread``). Default: not possible."""
        raise ProviderUnavailable(f"the {cls.name} provider cannot read its machines' events")

    def readiness(self, engine: docker.DockerClient) -> list[tuple[bool | None, str]]:
        """What this computer has and lacks for these machines, beyond a Docker engine and the
        node image (``swarmlab doctor``, the setup check): one (ok, sentence) each, a missing
        piece said with what to do; ok None: it works, with a limit the learner should know
        (shown with "!", not a failure). ``engine``: this computer's. Default: nothing more."""
        return []

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
    "Capabilities",
    "CreateOutcome",
    "FoundLab",
    "LabListing",
    "MachineEvents",
    "MachineInfo",
    "Provider",
    "RunOutput",
    "check_lab_name",
    "check_machine_name",
    "check_machine_names",
    "folder_labs",
    "is_name",
    "lab_labels",
    "labelled_lab",
    "owner",
    "owner_tag",
]
