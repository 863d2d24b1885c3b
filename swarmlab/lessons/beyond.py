"""Beyond the lab (lessons 10 to 14): services that find each other by name, published ports
on every machine, a stack, a rotated secret, a rack of nodes drained at once; each check with
its answer key, and :func:`ask_every_machine` (which machines answer on a port).

Checks read the swarm with the ``docker`` CLI on a manager (and real HTTP requests from this
computer) and never raise for an unfinished exercise (see :mod:`swarmlab.lessons.classic`)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from .._errors import InvalidArgument, SwarmlabError
from ..lab import Lab
from .check import (
    AGAIN,
    CATCH_UP,
    Check,
    asked_replicas,
    create_hello,
    docker_json,
    manager,
    manager_and_service,
    node_rows,
    running_tasks,
    schedulable,
    task_rows,
)

__all__ = ["answer_drained", "answer_every_machine_answers", "answer_reach", "answer_rotated",
           "answer_stack_replicas", "ask_every_machine", "check_drained", "check_every_machine_answers",
           "check_reach", "check_rotated", "check_stack_replicas"]


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
    found = manager_and_service(lab, service, check, create)
    if found is None:
        check.hint = create
        return check
    mgr, svc = found
    running = running_tasks(lab, mgr, service)
    check.add(bool(running), f"{len(running)} task(s) of {service} are running", AGAIN)
    ours = {n.get("Target") for n in svc["Spec"].get("TaskTemplate", {}).get("Networks") or []}
    theirs_svc = docker_json(lab, mgr, f"docker service inspect {shlex.quote(client)}") or []
    theirs = {n.get("Target") for s_ in theirs_svc for n in s_["Spec"].get("TaskTemplate", {}).get("Networks") or []}
    overlays = docker_json(lab, mgr, "docker network ls --no-trunc --filter driver=overlay "
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
    found = docker_json(lab, mgr, f"docker service inspect {shlex.quote(service)}")
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

    from .._results import Table
    from .._wait import until

    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or not 0 <= settle <= 600:
        raise InvalidArgument(f"settle={settle!r}: give the seconds to wait for the routing mesh, from 0 to 600")
    machines = lab.machines()
    start = time.monotonic()
    answers = {m: lab.http(m, port, timeout=timeout) for m in machines}
    late: dict[str, float] = {}
    silent = [m for m in machines if answers[m].status is None]
    if service is not None and silent and settle > 0 and _through_the_mesh(lab, service, port):
        waiting = [m for m in silent if lab.network.routing_mesh(m).data["ipvs"]]

        def all_heard() -> bool:
            for m in list(waiting):
                answers[m] = lab.http(m, port, timeout=timeout)
                if answers[m].status is not None:
                    waiting.remove(m)
                    late[m] = time.monotonic() - start
            return not waiting

        if waiting and time.monotonic() - start < settle:  # asked again a second later, and on
            time.sleep(1.0)
            until(all_heard, max(0.0, settle - (time.monotonic() - start)), 1.0)
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
    mgr = manager(lab, check)
    if mgr is None:
        return check
    able = set(schedulable(lab, mgr))
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
    mgr = manager(lab, check)
    if mgr is None:
        return check
    rows = docker_json(lab, mgr, f"docker stack services {shlex.quote(stack)} --format '{{{{json .}}}}'",
                        lines=True) or []
    row = next((r for r in rows if r.get("Name") == full), None)
    if row is None:
        check.add(False, f"stack {stack} has no service {full} (docker stack services {stack})", deploy)
        return check
    check.add(row.get("Replicas") == f"{replicas}/{replicas}",
              f"{full} runs {row.get('Replicas')} (running/asked): {replicas}/{replicas} is the aim",
              deploy if not str(row.get("Replicas", "")).endswith(f"/{replicas}") else AGAIN)
    running = running_tasks(lab, mgr, full)
    silent = [t.get("Node") for t in running if lab.http(str(t.get("Node")), port).status is None]
    check.add(bool(running) and not silent, f"the machines of its tasks answer on port {port}" if not silent
              else f"no answer on port {port} from {', '.join(map(str, silent))}", AGAIN)
    return check


def answer_stack_replicas(lab: Lab, compose: Sequence[str], stack: str = "app", service: str = "web",
                          replicas: int = 3) -> Any:
    """The answer key of :func:`check_stack_replicas` (teachers, CI): the same compose files
    and one more that asks for the replicas; then, as a teacher would, a moment (a minute at
    most) until the machines of the new tasks answer on the port (a task the engine says runs
    may not listen yet on a busy computer)."""
    from .._wait import until

    done = lab.stack.deploy(stack, *compose, _replicas_override(service, replicas))
    until(lambda: check_stack_replicas(lab, stack, service, replicas).ok, timeout=60, interval=2)
    return done


def check_rotated(lab: Lab, service: str = "web-app", secret: str = "db_password_v3",
                  target: str = "password") -> Check:
    """Exercise: ``service`` reads ``secret`` at ``/run/secrets/TARGET`` now, and no other
    secret there, with every task running. Read with ``docker service inspect`` and
    ``docker service ps`` on a manager, and the file from inside a task."""
    mount = f"source={secret},target={target},mode=0400"
    check = Check(f"{service} reads {secret} as /run/secrets/{target}")
    found = manager_and_service(lab, service, check, "run the cells above again: they make it")
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
    want = asked_replicas(svc)
    running = running_tasks(lab, mgr, service)
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
    create = create_hello(service, replicas)
    found = manager_and_service(lab, service, check, create)
    if found is None:
        return check
    mgr, svc = found
    listed = {str(n.get("Hostname")): n for n in node_rows(lab, mgr) or []}
    missing = [n for n in nodes if n not in listed]
    if missing:
        check.add(False, f"the swarm has no node {_span(missing)} (docker node ls does not list it)", CATCH_UP)
        return check
    left = [n for n in nodes if str(listed[n].get("Availability", "")).lower() != "drain"]
    check.add(not left, f"{len(nodes) - len(left)} of the {len(nodes)} nodes are drained"
                        + (f" ({_span(left)} not yet)" if left else ""),
              f"for n in {tuple(left)!r}: lab.node.drain(n)   # docker node update --availability drain NODE")
    rows = task_rows(lab, mgr, service)
    on_drained = [r for r in rows if r.get("Node") in set(nodes)]
    check.add(not on_drained, f"{len(on_drained)} task(s) of {service} still meant to run on them", AGAIN)
    want = asked_replicas(svc)
    running = [r for r in rows if str(r.get("CurrentState", "")).startswith("Running")]
    check.add(len(running) == want,
              f"{service} has {len(running)} of {want} replicas running, on the other nodes",
              f"{AGAIN} (lab.service.ps({service!r}) shows where its tasks are)")
    return check


def answer_drained(lab: Lab, nodes: Sequence[str]) -> Any:
    """The answer key of :func:`check_drained` (teachers, CI): each node drained in turn."""
    return [lab.node.drain(n) for n in nodes]


