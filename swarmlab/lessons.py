"""The lessons, in class order: the one list that the lesson runner, the tests and the README
tables are checked against. Each is a notebook ``notebooks/<name>.ipynb``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lesson:
    name: str  #: the notebook's name without ``.ipynb``, e.g. ``01-machines``
    part: str  #: the part of the original lab it teaches (notebooks/README.md's table)

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"


LESSONS: tuple[Lesson, ...] = (
    Lesson("00-setup-check", "what the lessons need here: a Docker engine, the node image, images for the services"),
    Lesson("01-machines", "1. machines"),
    Lesson("02-swarm", "2–3. create the swarm, add workers"),
    Lesson("03-services", "4–5. deploy, inspect and scale a service; watch it on the dashboard"),
    Lesson("04-rolling-update", "6. rolling update, failed update, rollback"),
    Lesson("05-drain", "7. drain a node, bring it back"),
    Lesson("06-cleanup", "5, 8. remove the services, clean up"),
    Lesson("07-high-availability",
           "after the lab: three managers, the leader killed, a new one elected; why never 2 or 4"),
    Lesson("08-quorum",
           "after the lab: two managers lost, no change accepted, the quorum back; --force-new-cluster"),
    Lesson("09-self-healing",
           "after the lab: a worker lost and its tasks started elsewhere; rebalance; a global service"),
    Lesson("10-networks",
           "beyond the lab: an overlay network, services that find each other by name; VIP and DNS round-robin"),
    Lesson("11-publishing",
           "beyond the lab: published ports, the routing mesh (and what works without IPVS), host mode"),
    Lesson("12-stacks",
           "beyond the lab: a whole app from a compose file; deploy, change and deploy again, remove"),
    Lesson("13-secrets",
           "beyond the lab: secrets and configs mounted into tasks, never shown; a rotation without downtime"),
    Lesson("14-scale",
           "beyond the lab: 50 machines, a service of 500 tasks spread evenly, a rack of 10 drained at once"),
)

__all__ = ["LESSONS", "Lesson"]
