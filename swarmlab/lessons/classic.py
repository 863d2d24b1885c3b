"""The classic lab's exercises (lessons 03 to 06): scale a service, roll an update back,
drain a node, and leave nothing behind; each check with its answer key.

A check looks at the real cluster, through the ``docker`` CLI on the manager machine (the same
commands a learner could type there), and never raises for an unfinished exercise: it returns
a falsy :class:`~swarmlab.lessons.check.Check` whose hint is a step that works from the state
it found. An answer key runs only when a lesson's ``solve`` parameter is True (teachers, CI)."""

from __future__ import annotations

import shlex
from typing import Any

from ..commands.validate import image_ref
from ..lab import Lab
from .check import (
    AGAIN,
    Check,
    asked_replicas,
    create_hello,
    docker_json,
    inspect_service,
    manager,
    manager_and_service,
    running_tasks,
    spec_image,
)

__all__ = ["answer_drain", "answer_rollback", "answer_scale", "check_drain", "check_nothing_left",
           "check_rollback", "check_scale"]


def check_scale(lab: Lab, service: str = "helloworld", replicas: int = 3) -> Check:
    """Exercise: ``docker service scale SERVICE=REPLICAS``, every task running."""
    check = Check(f"scale {service} to {replicas}")
    found = manager_and_service(lab, service, check, create_hello(service, replicas))
    if found is None:
        return check
    mgr, svc = found
    want = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas")
    wrong = "" if want == replicas else f" (not {replicas})"
    check.add(want == replicas, f"{service} asks for {want} replicas{wrong}",
              f"lab.service.scale({service}={replicas})   # docker service scale {service}={replicas}")
    running = running_tasks(lab, mgr, service)
    check.add(len(running) == replicas,
              f"{len(running)} of its tasks are running (docker service ps {service})",
              f"{AGAIN} (lab.service.ps({service!r}) shows why a task is not running)")
    return check


def answer_scale(lab: Lab, service: str = "helloworld", replicas: int = 3) -> Any:
    """The answer key of :func:`check_scale` (teachers, CI)."""
    return lab.service.scale(wait=True, timeout=None, **{service: replicas})


def _rollback_hint(service: str, old: str, new: str, image: str, prev_image: str) -> str:
    """The step that works from here: a rollback goes back to the previous spec."""
    rollback = f"lab.service.rollback({service!r})   # docker service rollback {service}"
    to_new = f"lab.service.update({service!r}, image={new!r})"
    if image == image_ref(new) and prev_image == image_ref(old):
        return rollback
    if image == image_ref(old):
        return f"update it to the new image first: {to_new}, then {rollback}"
    return (f"go back to the start of the exercise: lab.service.update({service!r}, image={old!r}), "
            f"then {to_new}, then {rollback}")


def check_rollback(lab: Lab, service: str = "redis", old: str = "redis:7.2",
                   new: str = "redis:7.4") -> Check:
    """Exercise: ``docker service rollback SERVICE`` after an update from OLD to NEW."""
    check = Check(f"roll {service} back from {new} to {old}")
    create = (f"lab.service.create({service!r}, {old!r}, replicas=3), then "
              f"lab.service.update({service!r}, image={new!r}), then "
              f"lab.service.rollback({service!r})   # docker service rollback {service}")
    found = manager_and_service(lab, service, check, create)
    if found is None:
        return check
    mgr, svc = found
    image = spec_image(svc["Spec"])
    prev_image = spec_image(svc.get("PreviousSpec") or {})
    state = (svc.get("UpdateStatus") or {}).get("State", "")
    hint = _rollback_hint(service, old, new, image, prev_image)
    wrong = "" if image == image_ref(old) else f" (not {old})"
    check.add(image == image_ref(old), f"{service} is set to run {image}{wrong}", hint)
    check.add(state == "rollback_completed",
              f"its last change was {state.replace('_', ' ') or 'no update at all'}"
              + ("" if state == "rollback_completed" else " (not a completed rollback)"), hint)
    if state == "rollback_completed":  # before any rollback there is nothing it went back from
        check.add(prev_image == image_ref(new), f"the version it went back from ran {prev_image or 'nothing'}"
                  + ("" if prev_image == image_ref(new) else f" (not {new})"), hint)
    want = asked_replicas(svc)
    running = running_tasks(lab, mgr, service)
    on_old = [r for r in running if image_ref(str(r.get("Image", ""))) == image_ref(old)]
    others = len(running) - len(on_old)
    rest = f", {others} run another image" if others else ""
    check.add(len(on_old) == want == len(running), f"{len(on_old)} of {want} tasks run {old}{rest}",
              f"{AGAIN} (lab.service.ps({service!r}) shows the tasks)")
    return check


def answer_rollback(lab: Lab, service: str = "redis") -> Any:
    """The answer key of :func:`check_rollback` (teachers, CI)."""
    return lab.service.rollback(service)


def check_drain(lab: Lab, node: str = "worker2", service: str = "redis", old: str = "redis:7.2") -> Check:
    """Exercise: ``docker node update --availability drain NODE``; SERVICE keeps its replicas.
    ``old`` is the image to create SERVICE with again, should it be gone."""
    check = Check(f"drain {node}")
    mgr = manager(lab, check)
    if mgr is None:
        return check
    found = docker_json(lab, mgr, f"docker node inspect {shlex.quote(node)}")
    if not found:
        check.add(False, f"the swarm has no node {node!r} (docker node inspect {node} finds nothing)",
                  f"lab.machine.create({node!r}), then lab.swarm.join({node!r})")
        return check
    availability = found[0]["Spec"].get("Availability", "")
    said = {"drain": f"{node} is drained (availability drain)",
            "pause": f"{node} is paused, not drained: a paused node keeps the tasks it runs and only gets no "
                     f"new ones; drain moves them to the other nodes"}
    check.add(availability == "drain", said.get(availability, f"{node} is {availability}, not drained"),
              f"lab.node.drain({node!r})   # docker node update --availability drain {node}")
    on_node = docker_json(
        lab, mgr,
        f"docker node ps {shlex.quote(node)} --filter desired-state=running --format '{{{{json .}}}}'",
        lines=True,
    ) or []
    check.add(not on_node, f"{len(on_node)} task(s) still meant to run on {node}", AGAIN)
    svc = inspect_service(lab, mgr, service, check, f"lab.service.create({service!r}, {old!r}, replicas=3)")
    if svc is not None:
        want = asked_replicas(svc)
        running = running_tasks(lab, mgr, service)
        elsewhere = [t for t in running if t.get("Node") != node]
        still = len(running) - len(elsewhere)
        check.add(len(elsewhere) == want == len(running),
                  f"{service} has {len(elsewhere)} of {want} replicas running on the other nodes"
                  + (f" ({still} still on {node})" if still else ""),
                  f"{AGAIN} (lab.service.ps({service!r}) shows where its tasks are)")
    return check


def answer_drain(lab: Lab, node: str = "worker2") -> Any:
    """The answer key of :func:`check_drain` (teachers, CI)."""
    return lab.node.drain(node)


def check_nothing_left(lab_name: str) -> Check:
    """After ``lab.destroy()``: nothing on this computer's engine carries the lab's label."""
    import docker

    from .._engine import this_computers_env
    from ..providers.base import LABEL_LAB

    check = Check(f"nothing of lab {lab_name!r} is left",
                  hint="lab.destroy()   # docker-machine rm -y manager1 worker1 worker2")
    client = docker.from_env(version="auto", environment=this_computers_env())
    flt = {"label": f"{LABEL_LAB}={lab_name}"}
    for kind, items in (("containers (machines)", client.containers.list(all=True, filters=flt)),
                        ("volumes", client.volumes.list(filters=flt)),
                        ("networks", client.networks.list(filters=flt))):
        check.add(not items, f"{len(items)} {kind} labelled {LABEL_LAB}={lab_name}")
    return check
