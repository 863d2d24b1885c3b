"""After the lab (lessons 07 to 09): managers enough to lose one, the quorum back after
losing two, tasks spread again after a lost worker; each check with its answer key.

Checks read the swarm with the ``docker`` CLI on a manager and never raise for an unfinished
exercise (see :mod:`swarmlab.lessons.classic`)."""

from __future__ import annotations

import json
from typing import Any

from .._errors import UpdatePaused
from .._wait import until
from ..lab import Lab
from .check import AGAIN, Check, asked_replicas, manager, manager_and_service, node_rows, running_tasks, schedulable

__all__ = ["answer_quorum", "answer_rebalanced", "answer_survives_one_manager_loss", "check_quorum",
           "check_rebalanced", "check_survives_one_manager_loss"]


def check_survives_one_manager_loss(lab: Lab) -> Check:
    """Exercise: the swarm survives the loss of any one manager. Read with ``docker node ls``
    on a manager: an odd number of managers, at least 3, every one of them Reachable (or
    Leader) and Ready."""
    check = Check("the swarm survives the loss of any one manager")
    mgr = manager(lab, check)
    if mgr is None:
        return check
    nodes = node_rows(lab, mgr)
    if nodes is None:
        check.add(False, f"docker node ls on {mgr} failed: the swarm has no leader right now",
                  "bring the managers back first (lab.machine.start(...)), then run this check again")
        return check
    managers = [n for n in nodes if n.get("ManagerStatus")]
    spare = sorted(n["Hostname"] for n in nodes if not n.get("ManagerStatus") and n.get("Status") == "Ready")
    spare = [h for h in spare if h.startswith("manager")] + [h for h in spare if not h.startswith("manager")]
    promote = f"lab.node.promote({spare[0]!r})   # docker node promote {spare[0]}" if spare else \
        "lab.up(managers=3)   # a machine more, joined as a manager"
    up = [n for n in managers if n["ManagerStatus"] in ("Leader", "Reachable") and n.get("Status") == "Ready"]
    names = ", ".join(sorted(n["Hostname"] for n in up)) or "none"
    tolerates = max(0, len(up) - (len(managers) // 2 + 1))
    check.add(len(managers) >= 3 and len(managers) % 2 == 1,
              f"{len(managers)} manager(s): to tolerate a loss, a swarm needs an odd number, 3 or more",
              promote)
    check.add(len(up) == len(managers),
              f"{len(up)} of {len(managers)} managers are Ready and Reachable ({names})", AGAIN)
    check.add(tolerates >= 1, f"it can lose {tolerates} manager(s) and keep its quorum",
              promote)
    return check


def answer_survives_one_manager_loss(lab: Lab) -> Any:
    """The answer key of :func:`check_survives_one_manager_loss` (teachers, CI): the
    machines called ``manager<N>`` that are workers now are promoted again."""
    demoted = [r["HOSTNAME"] for r in lab.node.ls().rows()
               if r["HOSTNAME"].startswith("manager") and not r["MANAGER STATUS"]]
    return lab.node.promote(*demoted) if demoted else None


def _stopped_managers(lab: Lab) -> list[str]:
    """Machines that are not running, the ones called ``manager<N>`` first: the managers a
    swarm without a leader lost (a stopped engine cannot say its role)."""
    stopped = sorted(m.name for m in lab.provider.list() if m.state != "Running")
    return [m for m in stopped if m.startswith("manager")] + [m for m in stopped if not m.startswith("manager")]


def check_quorum(lab: Lab) -> Check:
    """Exercise: the swarm has its quorum back. Read with ``docker node ls`` on a manager:
    it answers (a leader exists), and a majority of the managers is Ready and Reachable."""
    check = Check("the swarm has a leader and a majority of its managers")
    mgr = manager(lab, check)
    if mgr is None:
        return check
    stopped = _stopped_managers(lab)
    start = (f"lab.machine.start({stopped[0]!r})   # docker-machine start {stopped[0]}" if stopped else
             "lab.machine.ls() shows which machines are stopped: start one with lab.machine.start(...)")
    out = lab.ssh(mgr, "docker node ls --format '{{json .}}'")
    if not out.ok:
        said = next((line.strip() for line in str(out).splitlines() if "leader" in line), str(out).strip())
        check.add(False, f"docker node ls on {mgr} fails: {said[:200]}", start)
        return check
    nodes = [json.loads(line) for line in str(out).splitlines() if line.strip()]
    managers = [n for n in nodes if n.get("ManagerStatus")]
    # Raft's view (MANAGER STATUS), not the nodes' heartbeats: a new leader lists the others
    # with STATUS Unknown until they report to it again, and they are members all the same
    up = [n for n in managers if n["ManagerStatus"] in ("Leader", "Reachable")]
    leader = [n["Hostname"] for n in managers if n["ManagerStatus"] == "Leader"]
    check.add(bool(leader), "the managers have a leader" if leader else "the managers have no leader", start)
    needed = len(managers) // 2 + 1
    check.add(len(up) >= needed, f"{len(up)} of {len(managers)} managers are Leader or Reachable "
              f"(a majority is {needed})", start if stopped else AGAIN)
    return check


def answer_quorum(lab: Lab) -> Any:
    """The answer key of :func:`check_quorum` (teachers, CI): one lost manager started again."""
    stopped = _stopped_managers(lab)
    return lab.machine.start(stopped[0]) if stopped else None


def check_rebalanced(lab: Lab, service: str = "web") -> Check:
    """Exercise: the service's tasks are spread over every node again. Read with ``docker
    service ps`` and ``docker node ls`` on a manager: all replicas run, and every node that
    is Ready and Active runs one of them at least (or, with fewer tasks than nodes, no node
    runs two)."""
    create = f"lab.service.create({service!r}, images.hello, *images.hello_args, replicas=6)"
    check = Check(f"{service} runs on every node again")
    found = manager_and_service(lab, service, check, create)
    if found is None:
        return check
    mgr, svc = found
    want = asked_replicas(svc)
    running = running_tasks(lab, mgr, service)
    check.add(len(running) == want, f"{len(running)} of {want} tasks are running", AGAIN)
    eligible = schedulable(lab, mgr)
    per_node = {h: sum(1 for t in running if t.get("Node") == h) for h in eligible}
    rebalance = f"lab.service.update({service!r}, force=True)   # docker service update --force {service}"
    if want >= len(eligible):
        empty = [h for h, n in per_node.items() if n == 0]
        spread = ", ".join(f"{h} {n}" for h, n in per_node.items())
        check.add(not empty, f"nodes running none of its tasks: {', '.join(empty)} (tasks per node: {spread})"
                  if empty else "every node that is Ready and Active runs one of its tasks at least", rebalance)
    else:
        crowded = [h for h, n in per_node.items() if n > 1]
        check.add(not crowded, f"nodes running two or more of its {want} tasks: {', '.join(crowded) or 'none'}",
                  rebalance)
    return check


def answer_rebalanced(lab: Lab, service: str = "web") -> Any:
    """The answer key of :func:`check_rebalanced` (teachers, CI): a forced update. When a node
    dropped out of the managers' view during it (the update's note, or its pause, names it),
    the scheduler skipped that node: as the note says, wait until ``docker node ls`` shows
    every node Ready, then rebalance again (three tries)."""
    for _ in range(3):
        try:
            done = lab.service.update(service, force=True)
        except UpdatePaused as e:
            if "dropped out" not in str(e):
                raise
        else:
            if not any("dropped out" in n for n in done.notes):
                return done
        until(lambda: all(n.get("Status") == "Ready" for n in node_rows(lab, lab.manager()) or [{}]),
              timeout=120, interval=1)
    return lab.service.update(service, force=True)


