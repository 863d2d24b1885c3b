"""The labs on this computer, for ``swarmlab ls``: what each provider finds of this user's
(:meth:`~swarmlab.providers.base.Provider.list_labs`: each lab's folder in swarmlab's home,
and the labs whose machines carry this user's labels on an engine), each read for its row.
Names read back from folders and labels are checked before they become a lab."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import _home
from .._errors import SwarmlabError
from .._util import parallel_map
from ..lab import Lab
from ..providers import list_labs


@dataclass
class LabSummary:
    """One row of ``swarmlab ls``."""

    name: str
    provider: str
    machines: str  # "running/all"
    nodes: str  # "ready/all", "-" without a swarm
    services: str  # a count, "-" without a swarm
    age: str  # "12 minutes", "" when not known
    error: str = ""
    #: what a destroy could not remove yet (a lab with no machine left), e.g. "network x"
    left: list[str] = field(default_factory=list)

    def row(self) -> list[str]:
        return [self.name, self.provider, self.machines, self.nodes, self.services, self.age]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def found_labs() -> list[tuple[str, str]]:
    """(provider, lab) for every lab this user has here (:func:`swarmlab.providers.list_labs`),
    sorted by lab, then provider."""
    return [(f.provider, f.name) for f in list_labs()]


def _age(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "less than a minute"


def _created(lab: Lab, machines: list[Any]) -> float | None:
    stamps = []
    for m in machines:
        text = str(m.details.get("created", ""))
        if text:
            with contextlib.suppress(ValueError):
                stamps.append(dt.datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00").timestamp())
    if stamps:
        return min(stamps)
    try:  # the lab's folder was made with it
        return os.stat(_home.lab_dir(lab.provider_name, lab.name, create=False)).st_mtime
    except (OSError, SwarmlabError):
        return None


def summarize(provider: str, name: str) -> LabSummary:
    """What ``swarmlab ls`` shows of one lab: never raises (an error goes in ``error``): one
    lab being made or removed by another process at that moment must not hide the others."""
    try:
        lab = Lab(name, provider=provider, progress=False)
    except Exception as e:  # noqa: BLE001 - e.g. the ssh provider with no inventory set
        return LabSummary(name, provider, "-", "-", "-", "", error=str(e)[:300])
    try:
        machines = lab.provider.list()
        running = sum(1 for m in machines if m.running)
        born = _created(lab, machines)
        age = _age(dt.datetime.now().timestamp() - born) if born else ""
        nodes = services = "-"
        try:
            client = lab.manager_client()
            listed = client.api.nodes()
            ready = sum(1 for n in listed if (n.get("Status") or {}).get("State") == "ready")
            nodes, services = f"{ready}/{len(listed)}", str(len(client.api.services()))
        except Exception:  # noqa: BLE001 - no swarm (yet), or no quorum: the machines still count
            pass
        left = [] if machines else list(lab.provider.remnants())
        return LabSummary(name, provider, f"{running}/{len(machines)}", nodes, services, age, left=left)
    except Exception as e:  # noqa: BLE001 - a container gone between listing and reading it
        return LabSummary(name, provider, "-", "-", "-", "", error=str(e)[:300])
    finally:
        lab.provider.close()


def every_lab() -> list[LabSummary]:
    """A summary of every lab found, each read at the same time; labs with no machine left
    (a folder only) are shown too, with 0 machines, so ``swarmlab down`` can clear them."""
    return list(parallel_map(lambda pl: summarize(*pl), found_labs()))
