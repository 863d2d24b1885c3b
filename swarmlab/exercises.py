"""The lessons' "now you try" checks, and the images each lesson uses.

A check looks at the real cluster, through the ``docker`` CLI on the manager machine (the same
commands a learner could type there), and says what is right and what is still missing::

    from swarmlab import exercises as ex
    ex.check_scale(lab, "helloworld", 3)        # docker service inspect / service ps on the manager
    ex.check_rollback(lab, "redis", "redis:7.2", "redis:7.4")
    ex.check_drain(lab, "worker2", "redis")
    ex.check_nothing_left("tutorial")           # label query on this computer's engine

A check never raises for an unfinished exercise: it returns a :class:`Check` that is falsy and
lists what is missing, so a learner can run it as often as they like, and its hint is a step
that works from the state it found (after Run All, after an exercise done twice, after a cell
run out of order). The answer keys (``answer_scale`` ...) live here, not in the lessons: a
lesson runs them only when its ``solve`` parameter is True (teachers, CI).
"""

from __future__ import annotations

import html
import json
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ._errors import InvalidArgument, SwarmlabError
from .commands.validate import image_ref
from .lab import Lab

__all__ = [
    "Check",
    "LessonImages",
    "answer_drain",
    "answer_drained",
    "answer_rollback",
    "answer_scale",
    "answer_survives_one_manager_loss",
    "check_drain",
    "check_drained",
    "check_nothing_left",
    "check_rollback",
    "check_scale",
    "check_setup",
    "check_survives_one_manager_loss",
    "lesson_checks",
    "lesson_images",
    "on_binder",
]


# ---------------------------------------------------------------------------------------
# images



def _boxed(text: str, colour: str) -> str:
    """Escaped text with a coloured bar beside it (green: done, amber/red: not yet)."""
    return (f'<pre class="swarmlab-check" style="border-left:4px solid {colour};padding-left:8px">'
            f"{html.escape(text)}</pre>")


@dataclass(frozen=True)
class LessonImages:
    """The images a lesson uses: the original lab's, or the offline stand-ins."""

    offline: bool
    hello: str  # the helloworld service: image and arguments
    hello_args: tuple[str, ...]
    old: str  # the rolling update: from this image ...
    new: str  # ... to this one
    why: str = ""
    whoami: str = "traefik/whoami"  # networking lessons: a web server that says which task answered
    client: str = "alpine"  # ... and a task to ask from (nslookup, wget, timeout)

    @property
    def network_images(self) -> tuple[str, ...]:
        """The networking lessons' images to load into the machines (offline only)."""
        return (self.whoami, self.client) if self.offline else ()

    @property
    def to_load(self) -> tuple[str, ...]:
        """Images to copy from this computer's engine into the machines (offline only)."""
        return (self.hello, self.old, self.new) if self.offline else ()

    def text(self) -> str:
        lines = [
            ("OFFLINE images (no registry needed; loaded into the machines with lab.image.load):"
             if self.offline else "Online images (the machines pull them from Docker Hub):"),
            f"  helloworld service : {self.hello} {' '.join(self.hello_args)}",
            f"  rolling update     : {self.old}  ->  {self.new}",
            f"  networking lessons : {self.whoami} (says which task answered), {self.client}",
        ]
        if self.why:
            lines += ["", self.why]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return _boxed(self.text(), "#b26a00" if self.offline else "#2e7d32")


ONLINE = LessonImages(
    offline=False, hello="alpine", hello_args=("ping", "docker.com"),
    old="redis:7.2", new="redis:7.4",
    why=("The original lab used redis:3.0.6 -> redis:3.0.7; those tags are so old that Docker Hub "
         "may no longer serve them, so these lessons use two current redis tags instead."),
)
OFFLINE = LessonImages(
    offline=True, hello="swarmlab/busybox:latest", hello_args=("ping", "127.0.0.1"),
    old="swarmlab/web:1", new="swarmlab/web:2",
    whoami="swarmlab/whoami:latest", client="swarmlab/busybox:latest",
    why=("Without internet 'ping docker.com' cannot resolve a name, so helloworld pings 127.0.0.1 "
         "(each task's own loopback) instead.\nThe 'redis' service runs swarmlab/web:1 and :2, a "
         "tiny web server in two versions, instead of the redis images.\nBuild these images with "
         "scripts/build-images."),
)


def lesson_images(offline: bool | None = None) -> LessonImages:
    """The images for a lesson: ``offline`` when given, else ``SWARMLAB_OFFLINE`` (1 offline,
    0 online), else swarmlab chooses: online when a registry mirror or Docker Hub answers from
    this computer, offline when neither does; the images then say which it chose and why."""
    from . import _offline

    choice = _offline.decide(offline)
    images = OFFLINE if choice.offline else ONLINE
    if not choice.why:
        return images
    why = choice.why
    if choice.offline:
        missing = _missing_here((*images.to_load, *images.network_images))
        why += ("\nThis computer has the offline images." if not missing else
                f"\nThis computer lacks {', '.join(missing)}: build the offline images with scripts/build-images.")
    return replace(images, why=f"{why}\n\n{images.why}")


def _missing_here(images: Sequence[str]) -> list[str]:
    """Which of ``images`` this computer's engine does not have (all, when no engine answers)."""
    import docker

    from ._engine import host_client

    try:
        host = host_client()
    except SwarmlabError:
        return list(dict.fromkeys(images))
    missing = []
    try:
        for image in dict.fromkeys(images):
            try:
                host.images.get(image)
            except (docker.errors.DockerException, OSError):
                missing.append(image)
    finally:
        host.close()
    return missing


# ---------------------------------------------------------------------------------------
# checks


@dataclass
class Check:
    """What a check found: each finding is (ok, sentence). Truthy when every finding is ok."""

    title: str
    findings: list[tuple[bool, str]] = field(default_factory=list)
    hint: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(ok for ok, _ in self.findings)

    def __bool__(self) -> bool:
        return self.ok

    def add(self, ok: bool, sentence: str, hint: str = "") -> bool:
        """Record a finding; the first failed finding that names a hint sets the check's hint
        (the next step from the state found)."""
        self.findings.append((bool(ok), sentence))
        if not ok and hint and not self.hint:
            self.hint = hint
        return bool(ok)

    def text(self) -> str:
        head = f"✓ {self.title}: done." if self.ok else f"✗ {self.title}: not yet."
        lines = [head] + [f"  {'✓' if ok else '✗'} {s}" for ok, s in self.findings]
        if not self.ok and self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return _boxed(self.text(), "#2e7d32" if self.ok else "#b71c1c")


def _docker_json(lab: Lab, machine: str, command: str, lines: bool = False) -> Any | None:
    """Run ``docker ...`` on a machine and parse its JSON output: one document (``inspect``),
    or with ``lines=True`` one per line (``--format '{{json .}}'``). None when the command
    failed (e.g. no such service) or printed something that is not JSON."""
    out = lab.ssh(machine, command)
    if not out.ok:
        return None
    text = str(out).strip()
    try:
        if lines:  # a line that is not JSON is the CLI talking ("Nothing found in stack: app")
            return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
        return json.loads(text) if text else []
    except json.JSONDecodeError:
        return None


#: The hint when there is no swarm: the catch-up cell every lesson starts with makes it again.
CATCH_UP = "run the catch-up cell at the top of this notebook: it makes the machines and the swarm again"
#: When the swarm is still converging, the next step is to look again.
AGAIN = "the swarm is still on its way: run this check again in a moment"


def _manager(lab: Lab, check: Check) -> str | None:
    try:
        return lab.manager()
    except SwarmlabError as e:
        check.add(False, f"there is no swarm to look at ({e})", CATCH_UP)
        return None


def _service(lab: Lab, mgr: str, name: str, check: Check, create: str) -> dict[str, Any] | None:
    found = _docker_json(lab, mgr, f"docker service inspect {shlex.quote(name)}")
    if not found:
        check.add(False, f"there is no service {name!r} (docker service inspect {name} finds nothing)",
                  f"create it again first: {create}")
        return None
    return dict(found[0])


def _manager_and_service(lab: Lab, service: str, check: Check,
                         create: str) -> tuple[str, dict[str, Any]] | None:
    """The manager and the service, or None (the check then says which is missing)."""
    mgr = _manager(lab, check)
    if mgr is None:
        return None
    svc = _service(lab, mgr, service, check, create)
    return None if svc is None else (mgr, svc)


def _running_tasks(lab: Lab, mgr: str, name: str) -> list[dict[str, Any]]:
    """``docker service ps NAME`` rows whose task should run and does."""
    rows = _docker_json(
        lab, mgr,
        f"docker service ps {shlex.quote(name)} --filter desired-state=running --format '{{{{json .}}}}'",
        lines=True,
    ) or []
    return [r for r in rows if str(r.get("CurrentState", "")).startswith("Running")]


def _schedulable(lab: Lab, mgr: str) -> list[str]:
    """``docker node ls`` on a manager: the nodes that are Ready and Active (those that take tasks)."""
    nodes = _docker_json(lab, mgr, "docker node ls --format '{{json .}}'", lines=True) or []
    return sorted(str(n["Hostname"]) for n in nodes if n.get("Status") == "Ready" and n.get("Availability") == "Active")


def _image(spec: dict[str, Any]) -> str:
    return image_ref(spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", ""))


def _create_hello(service: str, replicas: int) -> str:
    """The step that makes SERVICE again, as the lessons make their hello services."""
    return (f"lab.service.create({service!r}, images.hello, *images.hello_args, replicas={replicas})"
            f"   # docker service create --replicas {replicas} --name {service} ...")


def check_scale(lab: Lab, service: str = "helloworld", replicas: int = 3) -> Check:
    """Exercise: ``docker service scale SERVICE=REPLICAS``, every task running."""
    check = Check(f"scale {service} to {replicas}")
    create = _create_hello(service, replicas)
    found = _manager_and_service(lab, service, check, create)
    if found is None:
        return check
    mgr, svc = found
    want = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas")
    wrong = "" if want == replicas else f" (not {replicas})"
    check.add(want == replicas, f"{service} asks for {want} replicas{wrong}",
              f"lab.service.scale({service}={replicas})   # docker service scale {service}={replicas}")
    running = _running_tasks(lab, mgr, service)
    check.add(len(running) == replicas,
              f"{len(running)} of its tasks are running (docker service ps {service})",
              f"{AGAIN} (lab.service.ps({service!r}) shows why a task is not running)")
    return check


def answer_scale(lab: Lab, service: str = "helloworld", replicas: int = 3) -> Any:
    """The answer key of :func:`check_scale` (teachers, CI)."""
    return lab.service.scale(wait=True, timeout=None, **{service: replicas})


def check_rollback(lab: Lab, service: str = "redis", old: str = "redis:7.2",
                   new: str = "redis:7.4") -> Check:
    """Exercise: ``docker service rollback SERVICE`` after an update from OLD to NEW."""
    check = Check(f"roll {service} back from {new} to {old}")
    rollback = f"lab.service.rollback({service!r})   # docker service rollback {service}"
    to_new = f"lab.service.update({service!r}, image={new!r})"
    create = f"lab.service.create({service!r}, {old!r}, replicas=3), then {to_new}, then {rollback}"
    found = _manager_and_service(lab, service, check, create)
    if found is None:
        return check
    mgr, svc = found
    image = _image(svc["Spec"])
    prev_image = _image(svc.get("PreviousSpec") or {})
    state = (svc.get("UpdateStatus") or {}).get("State", "")
    # the step that works from here: a rollback goes back to the previous spec
    if image == image_ref(new) and prev_image == image_ref(old):
        hint = rollback
    elif image == image_ref(old):
        hint = f"update it to the new image first: {to_new}, then {rollback}"
    else:
        hint = (f"go back to the start of the exercise: lab.service.update({service!r}, image={old!r}), "
                f"then {to_new}, then {rollback}")
    wrong = "" if image == image_ref(old) else f" (not {old})"
    check.add(image == image_ref(old), f"{service} is set to run {image}{wrong}", hint)
    check.add(state == "rollback_completed",
              f"its last change was {state.replace('_', ' ') or 'no update at all'}"
              + ("" if state == "rollback_completed" else " (not a completed rollback)"), hint)
    check.add(prev_image == image_ref(new), f"the version it went back from ran {prev_image or 'nothing'}",
              hint)
    want = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
    running = _running_tasks(lab, mgr, service)
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
    mgr = _manager(lab, check)
    if mgr is None:
        return check
    found = _docker_json(lab, mgr, f"docker node inspect {shlex.quote(node)}")
    if not found:
        check.add(False, f"the swarm has no node {node!r} (docker node inspect {node} finds nothing)",
                  f"lab.machine.create({node!r}), then lab.swarm.join({node!r})")
        return check
    availability = found[0]["Spec"].get("Availability", "")
    wrong = "" if availability == "drain" else " (not drain)"
    check.add(availability == "drain", f"{node} is {availability}{wrong}",
              f"lab.node.drain({node!r})   # docker node update --availability drain {node}")
    on_node = _docker_json(
        lab, mgr,
        f"docker node ps {shlex.quote(node)} --filter desired-state=running --format '{{{{json .}}}}'",
        lines=True,
    ) or []
    check.add(not on_node, f"{len(on_node)} task(s) still meant to run on {node}", AGAIN)
    svc = _service(lab, mgr, service, check, f"lab.service.create({service!r}, {old!r}, replicas=3)")
    if svc is not None:
        want = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
        running = _running_tasks(lab, mgr, service)
        check.add(len(running) == want,
                  f"{service} still has {len(running)} of {want} replicas running, on the other nodes",
                  f"{AGAIN} (lab.service.ps({service!r}) shows where its tasks are)")
    return check


def answer_drain(lab: Lab, node: str = "worker2") -> Any:
    """The answer key of :func:`check_drain` (teachers, CI)."""
    return lab.node.drain(node)


def _span(nodes: Sequence[str]) -> str:
    """``worker38 … worker47`` for a run of nodes, or the names themselves when they are few."""
    return f"{nodes[0]} … {nodes[-1]}" if len(nodes) > 3 else ", ".join(nodes)


def check_drained(lab: Lab, nodes: Sequence[str], service: str = "crowd", replicas: int = 500) -> Check:
    """Exercise: a rack out for maintenance, ``docker node update --availability drain`` on
    each of NODES; SERVICE keeps every replica, on the other nodes. ``replicas`` is what to
    create SERVICE with again, should it be gone."""
    nodes = [str(n) for n in nodes]
    if not nodes:
        raise InvalidArgument("name the nodes to drain, e.g. ['worker38', 'worker39']")
    check = Check(f"drain {_span(nodes)}")
    create = _create_hello(service, replicas)
    found = _manager_and_service(lab, service, check, create)
    if found is None:
        return check
    mgr, svc = found
    listed = {str(n.get("Hostname")): n
              for n in _docker_json(lab, mgr, "docker node ls --format '{{json .}}'", lines=True) or []}
    missing = [n for n in nodes if n not in listed]
    if missing:
        check.add(False, f"the swarm has no node {_span(missing)} (docker node ls does not list it)", CATCH_UP)
        return check
    left = [n for n in nodes if str(listed[n].get("Availability", "")).lower() != "drain"]
    check.add(not left, f"{len(nodes) - len(left)} of the {len(nodes)} nodes are drained"
                        + (f" ({_span(left)} not yet)" if left else ""),
              f"for n in {tuple(left)!r}: lab.node.drain(n)   # docker node update --availability drain NODE")
    rows = _docker_json(
        lab, mgr,
        f"docker service ps {shlex.quote(service)} --filter desired-state=running --format '{{{{json .}}}}'",
        lines=True,
    ) or []
    on_drained = [r for r in rows if r.get("Node") in set(nodes)]
    check.add(not on_drained, f"{len(on_drained)} task(s) of {service} still meant to run on them", AGAIN)
    want = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
    running = [r for r in rows if str(r.get("CurrentState", "")).startswith("Running")]
    check.add(len(running) == want,
              f"{service} has {len(running)} of {want} replicas running, on the other nodes",
              f"{AGAIN} (lab.service.ps({service!r}) shows where its tasks are)")
    return check


def answer_drained(lab: Lab, nodes: Sequence[str]) -> Any:
    """The answer key of :func:`check_drained` (teachers, CI): each node drained in turn."""
    return [lab.node.drain(n) for n in nodes]


def check_survives_one_manager_loss(lab: Lab) -> Check:
    """Exercise: the swarm survives the loss of any one manager. Read with ``docker node ls``
    on a manager: an odd number of managers, at least 3, every one of them Reachable (or
    Leader) and Ready."""
    check = Check("the swarm survives the loss of any one manager")
    mgr = _manager(lab, check)
    if mgr is None:
        return check
    nodes = _docker_json(lab, mgr, "docker node ls --format '{{json .}}'", lines=True)
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
    mgr = _manager(lab, check)
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
    found = _manager_and_service(lab, service, check, create)
    if found is None:
        return check
    mgr, svc = found
    want = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
    running = _running_tasks(lab, mgr, service)
    check.add(len(running) == want, f"{len(running)} of {want} tasks are running", AGAIN)
    eligible = _schedulable(lab, mgr)
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
    """The answer key of :func:`check_rebalanced` (teachers, CI)."""
    return lab.service.update(service, force=True)


# ---------------------------------------------------------------------------------------
# networks and published ports (lessons 10 and 11)


def _ipvs_hint(lab: Lab) -> str:
    """What to use when the routing mesh cannot work here (no IPVS in the machines' kernel)."""
    try:
        return "" if lab.network.routing_mesh().data["ipvs"] else " (no IPVS here: see lab.network.routing_mesh())"
    except SwarmlabError:
        return ""


def check_reach(lab: Lab, service: str = "hello", client: str = "client") -> Check:
    """Exercise: ``client`` reaches ``service`` by its name. Asked from inside a running task
    of ``client`` (``docker exec ... wget -qO- http://SERVICE/``): the name must resolve on a
    network both are on, and a task must answer."""
    create = (f"lab.service.create({service!r}, images.whoami, networks=['appnet'], "
              f"endpoint_mode='dnsrr')   # docker service create --name {service} --network appnet "
              f"--endpoint-mode dnsrr ...")
    again = f"lab.service.rm({service!r})   # then create it again: "
    check = Check(f"{client} reaches {service} by its name")
    found = _manager_and_service(lab, service, check, create)
    if found is None:
        check.hint = create
        return check
    mgr, svc = found
    running = _running_tasks(lab, mgr, service)
    check.add(bool(running), f"{len(running)} task(s) of {service} are running", AGAIN)
    ours = {n.get("Target") for n in svc["Spec"].get("TaskTemplate", {}).get("Networks") or []}
    theirs_svc = _docker_json(lab, mgr, f"docker service inspect {shlex.quote(client)}") or []
    theirs = {n.get("Target") for s_ in theirs_svc for n in s_["Spec"].get("TaskTemplate", {}).get("Networks") or []}
    overlays = _docker_json(lab, mgr, "docker network ls --no-trunc --filter driver=overlay "
                                      "--format '{{json .}}'", lines=True) or []
    names = {n.get("ID"): n.get("Name") for n in overlays}
    shared = sorted(names.get(t, t) for t in ours & theirs)
    check.add(bool(shared), f"{service} and {client} share the network(s) {', '.join(shared)}" if shared else
              f"{service} is on no network {client} is on ({client}: "
              f"{', '.join(sorted(names.get(t, t) for t in theirs)) or 'none'})",
              f"{again}on the network {client} is on (networks=['appnet'])")
    if not check.ok:
        return check
    try:
        out = lab.exec(client, f"timeout 5 wget -qO- http://{service}/")
    except SwarmlabError as e:
        check.add(False, f"could not ask from {client}: {e}", AGAIN)
        return check
    mode = (svc["Spec"].get("EndpointSpec") or {}).get("Mode") or "vip"
    check.add(out.ok and bool(out.strip()),
              f"from inside {client}, http://{service}/ answered" if out.ok
              else f"from inside {client}, http://{service}/ gave no answer within 5 s ({mode} endpoint mode)",
              f"{again}with endpoint_mode='dnsrr' (its virtual IP does not route here{_ipvs_hint(lab)})"
              if mode == "vip" else AGAIN)
    return check


def answer_reach(lab: Lab, image: str, service: str = "hello") -> Any:
    """The answer key of :func:`check_reach` (teachers, CI): a web server (``image``) on
    appnet, found by DNS round-robin, which works with or without IPVS."""
    return lab.service.create(service, image, replicas=2, networks=["appnet"], endpoint_mode="dnsrr")


def _through_the_mesh(lab: Lab, service: str, port: int) -> bool:
    """Whether ``service`` publishes ``port`` through the routing mesh (ingress mode, the
    default), as ``docker service inspect`` on a manager reads its endpoint."""
    mgr = lab.manager()
    found = _docker_json(lab, mgr, f"docker service inspect {shlex.quote(service)}")
    endpoint = found[0].get("Endpoint") if found and isinstance(found[0], dict) else None
    ports = endpoint.get("Ports") if isinstance(endpoint, dict) else None
    return any(isinstance(p, dict) and p.get("PublishedPort") == port and p.get("PublishMode", "ingress") == "ingress"
               for p in ports or ())


def ask_every_machine(lab: Lab, port: int, service: str | None = None, timeout: float = 3.0,
                      settle: float = 30.0) -> Any:
    """``curl http://$(docker-machine ip M):PORT/`` for every running machine M: a table of
    which answered, and (with ``service``) whether a task of it runs there. Answers come
    from a real HTTP request from this computer; the tasks from ``docker ps`` on each machine.

    A node learns of a port published through the routing mesh from the swarm, moments after
    the service starts (seconds on slow machines): when ``service`` publishes ``port`` that way,
    a machine whose kernel has IPVS is asked again for up to ``settle`` seconds before the
    table says it does not answer, and a note says which answered only after waiting."""
    import time

    from ._results import Table

    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or not 0 <= settle <= 600:
        raise InvalidArgument(f"settle={settle!r}: give the seconds to wait for the routing mesh, from 0 to 600")
    machines = lab.machines()
    start = time.monotonic()
    answers = {m: lab.http(m, port, timeout=timeout) for m in machines}
    late: dict[str, float] = {}
    silent = [m for m in machines if answers[m].status is None]
    if service is not None and silent and settle > 0 and _through_the_mesh(lab, service, port):
        waiting = [m for m in silent if lab.network.routing_mesh(m).data["ipvs"]]
        while waiting and time.monotonic() - start < settle:
            time.sleep(1.0)
            for m in list(waiting):
                answers[m] = lab.http(m, port, timeout=timeout)
                if answers[m].status is not None:
                    waiting.remove(m)
                    late[m] = time.monotonic() - start
    rows = []
    for m in machines:
        answer = answers[m]
        row: list[object] = [m]
        if service is not None:
            here = lab.ssh(m, f"docker ps -q --filter label=com.docker.swarm.service.name={shlex.quote(service)}")
            row.append("yes" if here.ok and here.strip() else "no")
        if answer.status is None:  # why not: "connection refused", or no answer in time
            row += ["no answer", str(answer).rsplit(": ", 1)[-1] if ": " in answer else "nothing within the timeout"]
        else:
            who = [line.split(": ", 1)[1] for line in answer.splitlines() if line.startswith("Hostname: ")]
            row += [answer.status, f"task container {who[0]}" if who else answer.strip().partition("\n")[0][:64]]
        rows.append(row)
    columns = ["MACHINE"] + (["RUNS A TASK"] if service is not None else []) + ["ANSWER", "ANSWERED BY / WHY NOT"]
    cmd = f"for m in {' '.join(machines)}; do curl http://$(docker-machine ip $m):{port}/; done"
    notes = [f"{m} answered {late[m]:.0f} s after the first ask: the routing mesh had not reached it yet "
             f"(each node learns of a published port from the swarm, moments after the service starts)"
             for m in machines if m in late]
    return Table.of(cmd, columns, rows, notes=notes)


def check_every_machine_answers(lab: Lab, port: int = 8088) -> Check:
    """Exercise: a published port answers on every machine whose node can run tasks (Ready
    and Active in ``docker node ls`` on a manager): a real HTTP GET from this computer to each
    machine's address. A drained node runs no task, so it is not asked."""
    check = Check(f"port {port} answers on every machine")
    mgr = _manager(lab, check)
    if mgr is None:
        return check
    able = set(_schedulable(lab, mgr))
    global_host = (f"lab.service.create('everywhere', images.whoami, mode='global', "
                   f"publish='published={port},target=80,mode=host')   # a task on every machine, "
                   f"its port opened there")
    silent = [str(answer) for m in lab.machines() if m in able and (answer := lab.http(m, port)).status is None]
    check.add(bool(able) and not silent, f"every machine whose node is Ready and Active answers on port {port}"
              if not silent else "; ".join(silent), global_host)
    return check


def answer_every_machine_answers(lab: Lab, image: str, port: int = 8088) -> Any:
    """The answer key of :func:`check_every_machine_answers` (teachers, CI): a global service
    of a web server (``image``) published in host mode, which needs no IPVS."""
    return lab.service.create("everywhere", image, mode="global",
                              publish=f"published={port},target=80,mode=host")


#: the compose text that asks for more web tasks: a third file over the lesson's (lesson 12)
def _replicas_override(service: str, replicas: int) -> str:
    return f'version: "3.8"\nservices:\n  {service}:\n    deploy:\n      replicas: {replicas}\n'


def check_stack_replicas(lab: Lab, stack: str = "app", service: str = "web", replicas: int = 3,
                         port: int = 8090) -> Check:
    """Exercise: stack ``stack`` runs ``replicas`` tasks of its ``service``, and the machines
    they run on answer on ``port``. Read with ``docker stack services`` on a manager and a
    real HTTP request to each of those machines."""
    full = f"{stack}_{service}"
    deploy = (f"lab.stack.deploy({stack!r}, *compose, {_replicas_override(service, replicas)!r})   "
              f"# a third compose file, over the others: docker stack deploy -c ... -c ... {stack}")
    check = Check(f"stack {stack} runs {replicas} tasks of {service}")
    mgr = _manager(lab, check)
    if mgr is None:
        return check
    rows = _docker_json(lab, mgr, f"docker stack services {shlex.quote(stack)} --format '{{{{json .}}}}'",
                        lines=True) or []
    row = next((r for r in rows if r.get("Name") == full), None)
    if row is None:
        check.add(False, f"stack {stack} has no service {full} (docker stack services {stack})", deploy)
        return check
    check.add(row.get("Replicas") == f"{replicas}/{replicas}",
              f"{full} runs {row.get('Replicas')} (running/asked): {replicas}/{replicas} is the aim",
              deploy if not str(row.get("Replicas", "")).endswith(f"/{replicas}") else AGAIN)
    running = _running_tasks(lab, mgr, full)
    silent = [t.get("Node") for t in running if lab.http(str(t.get("Node")), port).status is None]
    check.add(bool(running) and not silent, f"the machines of its tasks answer on port {port}" if not silent
              else f"no answer on port {port} from {', '.join(map(str, silent))}", AGAIN)
    return check


def answer_stack_replicas(lab: Lab, compose: Sequence[str], stack: str = "app", service: str = "web",
                          replicas: int = 3) -> Any:
    """The answer key of :func:`check_stack_replicas` (teachers, CI): the same compose files
    and one more that asks for the replicas."""
    return lab.stack.deploy(stack, *compose, _replicas_override(service, replicas))


def check_rotated(lab: Lab, service: str = "web-app", secret: str = "db_password_v3",
                  target: str = "password") -> Check:
    """Exercise: ``service`` reads ``secret`` at ``/run/secrets/TARGET`` now, and no other
    secret there, with every task running. Read with ``docker service inspect`` and
    ``docker service ps`` on a manager, and the file from inside a task."""
    mount = f"source={secret},target={target},mode=0400"
    check = Check(f"{service} reads {secret} as /run/secrets/{target}")
    found = _manager_and_service(lab, service, check, "run the cells above again: they make it")
    if found is None:
        return check
    mgr, svc = found
    mounted = svc["Spec"].get("TaskTemplate", {}).get("ContainerSpec", {}).get("Secrets") or []
    there = [m.get("SecretName") for m in mounted if (m.get("File") or {}).get("Name") == target]
    old = [n for n in there if n != secret]
    rotate = (f"lab.service.update({service!r}, secret_rm={old or ['OLD']!r}, secret_add=[{mount!r}])   "
              f"# docker service update --secret-rm ... --secret-add {mount} {service}")
    check.add(secret in there and not old, f"{target} is secret {', '.join(map(str, there)) or 'none'}",
              rotate if not there or old else AGAIN)
    want = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
    running = _running_tasks(lab, mgr, service)
    check.add(len(running) == want, f"{len(running)} of {want} tasks are running", AGAIN)
    if check.ok:
        out = lab.exec(service, f"test -s /run/secrets/{target}")
        check.add(out.ok, f"inside a task, /run/secrets/{target} is there" if out.ok
                  else f"inside a task, /run/secrets/{target} is missing", AGAIN)
    return check


def answer_rotated(lab: Lab, service: str = "web-app", secret: str = "db_password_v3",
                   old: str = "db_password_v2", target: str = "password") -> Any:
    """The answer key of :func:`check_rotated` (teachers, CI)."""
    return lab.service.update(service, secret_rm=[old], secret_add=[f"source={secret},target={target},mode=0400"])


def lesson_checks(images: LessonImages | None = None) -> dict[str, Callable[[Lab], Check]]:
    """Each lesson's "now you try" check, called as the lesson calls it (with its default
    machines, services and ``images``), by lesson name: what a teacher's board runs on every
    learner's lab (:mod:`swarmlab.classroom`). 06 (nothing left of a lab) is not in it: a lab
    that is there never passes it. Each check only reads the lab."""
    im = images or lesson_images()
    return {
        "03-services": lambda lab: check_scale(lab, "helloworld", 3),
        "04-rolling-update": lambda lab: check_rollback(lab, "redis", im.old, im.new),
        "05-drain": lambda lab: check_drain(lab, "worker2", "redis", im.old),
        "07-high-availability": check_survives_one_manager_loss,
        "08-quorum": check_quorum,
        "09-self-healing": check_rebalanced,
        "10-networks": check_reach,
        "11-publishing": check_every_machine_answers,
        "12-stacks": check_stack_replicas,
        "13-secrets": check_rotated,
        "14-scale": lambda lab: check_drained(lab, [f"worker{i}" for i in range(38, 48)], "crowd", 500),
    }


def check_nothing_left(lab_name: str) -> Check:
    """After ``lab.destroy()``: nothing on this computer's engine carries the lab's label."""
    import docker

    from .providers.base import LABEL_LAB

    check = Check(f"nothing of lab {lab_name!r} is left",
                  hint="lab.destroy()   # docker-machine rm -y manager1 worker1 worker2")
    client = docker.from_env(version="auto")
    flt = {"label": f"{LABEL_LAB}={lab_name}"}
    for kind, items in (("containers (machines)", client.containers.list(all=True, filters=flt)),
                        ("volumes", client.volumes.list(filters=flt)),
                        ("networks", client.networks.list(filters=flt))):
        check.add(not items, f"{len(items)} {kind} labelled {LABEL_LAB}={lab_name}")
    return check


# ---------------------------------------------------------------------------------------
# the setup check (notebook 00)


def on_binder() -> bool:
    """True inside a mybinder.org session (it sets BINDER_* variables; binder/start too)."""
    return any(k.startswith("BINDER_") for k in os.environ) or bool(os.environ.get("SWARMLAB_ON_BINDER"))


def check_setup(provider: str = "dind", offline: bool | None = None) -> Check:
    """What the lessons need on this computer, each said plainly when missing: a Docker
    engine, the provider's tools, the node image, and the images for the services (offline:
    built locally; online: a registry the engine can reach)."""
    import sys

    import docker

    from ._engine import host_client
    from .providers import PROVIDERS

    images = lesson_images(offline)
    check = Check("this computer is ready for the lessons")
    check.add(sys.version_info >= (3, 10), f"Python {sys.version.split()[0]}")
    try:
        import ipywidgets  # noqa: F401
        check.add(True, "ipywidgets is installed (progress bars in notebooks)")
    except ImportError:
        check.add(True, "ipywidgets is not installed: steps still work, without progress bars "
                        "(pip install 'swarmlab[notebook]')")
    if provider not in PROVIDERS:
        check.add(False, f"provider {provider!r} does not exist in this version of swarmlab "
                         f"(available: {', '.join(PROVIDERS)}); the virtualbox provider needs "
                         "VirtualBox and docker-machine, which these lessons cannot install for you")
        return check
    try:
        host = host_client(timeout=10)
    except SwarmlabError as e:
        msg = str(e)
        if on_binder():
            msg = ("this is Binder: it has no Docker engine, so the lessons cannot create machines "
                   "here. Read the lessons here, and run them on a computer with Docker "
                   "(scripts/lessons), or point DOCKER_HOST at the engine your teacher provides. ") + msg
        check.add(False, msg)
        check.hint = "start Docker (scripts/setup does it on Debian/Ubuntu), then run this cell again"
        return check
    version = host.version()
    check.add(True, f"a Docker engine answers: {version.get('Version')} (API {version.get('ApiVersion')})")
    try:
        lab = Lab("setup-probe", provider=provider, progress=False)
        node_image = lab.provider.node_image
    except SwarmlabError as e:
        check.add(False, f"the {provider} provider cannot work here: {e}")
        return check
    if node_image:
        try:
            host.images.get(node_image)
            check.add(True, f"node image {node_image} is here")
        except docker.errors.ImageNotFound:
            check.add(not images.offline,
                      f"node image {node_image} is not here yet"
                      + (": offline, build it with scripts/build-images" if images.offline
                         else "; it is pulled when the first machine is created"))
    if provider == "qemu":  # real VMs: QEMU, the VM image, and how fast they will be
        from .providers.qemu import host as vm_host

        try:
            tools = vm_host.tools()
            check.add(True, f"QEMU is installed: {vm_host.qemu_version(tools.qemu) or tools.qemu}")
        except SwarmlabError as e:
            check.add(False, str(e))
        check.add(True, f"acceleration: {lab.provider.acceleration}")  # type: ignore[attr-defined]
        try:
            check.add(True, f"the VM image is built ({vm_host.base_image()}); the machines' own kernel "
                            "has IPVS: the routing mesh works on them")
        except SwarmlabError as e:
            check.add(False, str(e))
    if provider == "dind":  # its machines share this computer's kernel
        ipvs = os.path.isdir("/proc/sys/net/ipv4/vs")
        check.add(True, "the routing mesh can work here: IPVS is loaded (/proc/sys/net/ipv4/vs)" if ipvs else
                  "no IPVS in this computer's kernel (/proc/sys/net/ipv4/vs is missing): the routing mesh "
                  "and virtual IPs will not answer; lessons 10 and 11 show what works without them "
                  "('sudo modprobe ip_vs' loads IPVS on a Linux computer)")
        from .providers.dind import neighbours

        limit = neighbours.read_limit()
        if limit is not None and neighbours.same_kernel(host.info().get("KernelVersion")):
            biggest = neighbours.largest_lab(limit)
            check.add(True, f"the kernel's neighbour table holds {limit} entries: labs of up to "
                            f"{biggest} machines" + ("" if biggest >= 100 else
                                                     f" (for 100: {neighbours.advice(100 * 99)})"))
    if images.offline:
        missing = []
        for img in dict.fromkeys(images.to_load + images.network_images):
            try:
                host.images.get(img)
            except docker.errors.ImageNotFound:
                missing.append(img)
        what = f"missing {', '.join(missing)} (run scripts/build-images)" if missing else "all built"
        check.add(not missing, f"offline images: {what}")
    else:
        try:
            host.api.inspect_distribution(images.hello)
            check.add(True, f"the engine reaches the registry (it can see {images.hello} on Docker Hub)")
        except docker.errors.DockerException as e:
            check.add(False, f"the engine cannot reach Docker Hub ({str(e)[:120]}): no network for "
                             "pulls. Use the offline images: set offline = True in the parameters "
                             "cell (or SWARMLAB_OFFLINE=1) and run scripts/build-images")
    return check
