"""swarmlab: Docker Swarm, hands-on, in Jupyter.

>>> import swarmlab as sl
>>> lab = sl.Lab("tutorial")                     # machines are Docker-in-Docker containers
>>> lab.machine.create("manager1", "worker1", "worker2")
>>> lab.swarm.init("manager1")
>>> lab.swarm.join("worker1", "worker2")
>>> lab.service.create("helloworld", "alpine", "ping", "docker.com")
>>> lab.service.scale(helloworld=5)
>>> lab.destroy()
"""

from . import _ipython  # noqa: F401 - in IPython, a SwarmlabError shows as its message alone
from ._errors import (
    DockerError,
    EngineUnavailable,
    HostLimit,
    ImageNotAvailable,
    InsecurePath,
    InvalidArgument,
    LabNotFound,
    LimitExceeded,
    MachineNotFound,
    NetworkNotFound,
    NodeNotFound,
    NoQuorum,
    NotFound,
    ProviderUnavailable,
    ServiceNotFound,
    SwarmlabError,
    SwarmStateError,
    UnknownProvider,
    Unschedulable,
    UpdatePaused,
    WaitTimeout,
)
from ._results import HttpAnswer, JoinToken, Output, Result, Table, Text
from .lab import Lab

__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext swarmlab``: the ``%docker`` and ``%%docker`` magics (:mod:`swarmlab._magics`)."""
    from ._magics import load

    load(ipython)


__all__ = [
    "DockerError",
    "EngineUnavailable",
    "HttpAnswer",
    "HostLimit",
    "LimitExceeded",
    "ImageNotAvailable",
    "InsecurePath",
    "InvalidArgument",
    "JoinToken",
    "Lab",
    "LabNotFound",
    "MachineNotFound",
    "NetworkNotFound",
    "NoQuorum",
    "NodeNotFound",
    "NotFound",
    "Output",
    "ProviderUnavailable",
    "Result",
    "ServiceNotFound",
    "SwarmStateError",
    "SwarmlabError",
    "Table",
    "Text",
    "UnknownProvider",
    "Unschedulable",
    "UpdatePaused",
    "WaitTimeout",
    "__version__",
]
