"""The lessons beyond the lab (10 on: overlay networks and service discovery, published
ports, stacks, secrets and configs) executed with papermill, in class order, on one real DinD
swarm of their own, then checked for what a learner sees and, through docker inside the
machines and real HTTP requests from this computer, for what the swarm really is."""

from __future__ import annotations

import re
from collections.abc import Iterator

import docker
import nbtools
import pytest
import requests
from lessonrun import (
    Run,
    in_machine,
    machine_container,
    no_error_outputs,
    no_full_token,
    run_in_sequence,
    same_as_reference,
)

#: the part's lessons run in its module fixture, timed with the first test that asks for it
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

BEYOND = [p for p in nbtools.notebooks() if "10" <= p.stem < "14"]  # 14 (scale) runs alone: test_scale_lesson.py
MACHINES = ("manager1", "worker1", "worker2")


@pytest.fixture(scope="module")
def beyond(host: docker.DockerClient) -> Iterator[Run]:
    yield from run_in_sequence(host, BEYOND)


def has_ipvs(host: docker.DockerClient, run: Run) -> bool:
    """What the machines' kernel says, read in a machine (not through swarmlab)."""
    return in_machine(host, run.lab, "manager1", "test -d /proc/sys/net/ipv4/vs && echo yes || echo no") == "yes"


def containers_of(host: docker.DockerClient, run: Run, service: str) -> dict[str, set[str]]:
    """Each machine's running containers of a service, by hostname (a container's hostname is
    its ID's first 12 characters), as the machine's own docker lists them."""
    out = {}
    for m in MACHINES:
        ids = in_machine(host, run.lab, m, f"docker ps -q --filter label=com.docker.swarm.service.name={service}")
        out[m] = set(ids.split())
    return out


def task_addresses(host: docker.DockerClient, run: Run, service: str, network: str) -> set[str]:
    """The tasks' own addresses on a network, from the manager's ``docker inspect`` of them."""
    fmt = ("{{range .NetworksAttachments}}{{if eq .Network.Spec.Name \"" + network + "\"}}"
           "{{range .Addresses}}{{.}} {{end}}{{end}}{{end}}")
    ids = in_machine(host, run.lab, "manager1", f"docker service ps -q --filter desired-state=running {service}")
    found = in_machine(host, run.lab, "manager1", f"docker inspect --format '{fmt}' {' '.join(ids.split())}")
    return {a.split("/")[0] for a in found.split()}


def answered_by(text: str) -> list[str]:
    return re.findall(r"Hostname: (\w+)", text)


def address_of(host: docker.DockerClient, run: Run, machine: str) -> str:
    nets = machine_container(host, run.lab, machine).attrs["NetworkSettings"]["Networks"]
    return next(n["IPAddress"] for n in nets.values() if n.get("IPAddress"))


def test_every_lesson_ran_without_an_error_output(beyond: Run) -> None:
    no_error_outputs(beyond, BEYOND)
    assert [p.stem[:2] for p in BEYOND] == ["10", "11", "12", "13"]


def test_join_tokens_are_never_shown_in_full(beyond: Run) -> None:
    no_full_token(beyond)


def test_checked_outputs_are_those_of_the_reference_copies(beyond: Run) -> None:
    same_as_reference(beyond, BEYOND)


def test_10_services_find_each_other_by_name_on_the_overlay_network(host: docker.DockerClient,
                                                                    beyond: Run) -> None:
    n = "10-networks"
    assert beyond.text(n, "network-create").startswith("$ docker network create -d overlay appnet")
    assert re.search(r"\n\w{12}\s+appnet\s+overlay\s+swarm\n", beyond.text(n, "network-ls"))
    assert in_machine(host, beyond.lab, "manager1",
                      "docker network ls --filter name=appnet --format '{{.Driver}} {{.Scope}}'") == "overlay swarm"
    # tasks.whoami: the three tasks' own addresses, as the engine gives them
    listed = set(re.findall(r"Address: (10\.\d+\.\d+\.\d+)", beyond.text(n, "nslookup-tasks")))
    assert listed == task_addresses(host, beyond, "whoami", "appnet") and len(listed) == 3
    # whoami: one address that is none of them, the virtual IP
    vip = re.findall(r"Address: (10\.\d+\.\d+\.\d+)", beyond.text(n, "nslookup-web"))
    assert len(vip) == 1 and vip[0] not in listed
    ipvs = has_ipvs(host, beyond)
    assert beyond.text(n, "routing-mesh").split("\n")[1].startswith("IPVS: yes" if ipvs else "IPVS: no")
    whoami = set().union(*containers_of(host, beyond, "whoami").values())
    by_vip = answered_by(beyond.text(n, "wget-vip"))
    assert (by_vip and set(by_vip) <= {c[:12] for c in whoami}) if ipvs else not by_vip
    by_tasks = answered_by(beyond.text(n, "wget-tasks"))
    assert len(by_tasks) == 1 and by_tasks[0] in {c[:12] for c in whoami}
    # api, in DNS round-robin: its name is the tasks' own addresses, and they answer
    assert set(re.findall(r"Address: (10\.\d+\.\d+\.\d+)", beyond.text(n, "nslookup-api"))) == \
        task_addresses(host, beyond, "api", "appnet")
    api = {c[:12] for c in set().union(*containers_of(host, beyond, "api").values())}
    said = answered_by(beyond.text(n, "who-answered"))
    assert len(said) == 6 and set(said) <= api, said
    assert "Endpoint Mode:  dnsrr" in beyond.text(n, "inspect-api")
    assert beyond.text(n, "check-reach").startswith("✓ client reaches hello by its name: done.")
    eng = beyond.engine[n]
    assert {s: eng["services"][s]["Replicas"] for s in ("whoami", "client", "api", "hello")} == \
        {"whoami": "3/3", "client": "1/1", "api": "3/3", "hello": "2/2"}
    net_id = in_machine(host, beyond.lab, "manager1", "docker network inspect -f '{{.Id}}' appnet")
    for s in ("whoami", "client", "api", "hello"):
        assert [a["Target"] for a in eng["inspect"][s]["Spec"]["TaskTemplate"]["Networks"]] == [net_id], s


def test_11_published_ports_answer_where_the_engine_says(host: docker.DockerClient, beyond: Run) -> None:
    n = "11-publishing"
    ipvs = has_ipvs(host, beyond)
    assert re.search(r"front\s+replicated\s+1/1\s+\S+\s+\*:8080->80/tcp", beyond.text(n, "front-ls"))
    rows = {line.split()[0]: line for line in beyond.text(n, "ask-front").splitlines()[2:]}
    assert sorted(rows) == list(MACHINES)
    front = {c[:12] for c in set().union(*containers_of(host, beyond, "front").values())}
    for line in rows.values():
        if ipvs:  # the mesh: every machine answers, by the one task
            assert re.search(rf"\s200\s+task container ({'|'.join(front)})$", line), line
        else:
            assert re.search(r"\sno answer\s+connection refused$", line), line
    where = containers_of(host, beyond, "front-host")
    on = {m for m, ids in where.items() if ids}
    assert len(on) == 2
    for line in beyond.text(n, "ask-front-host").splitlines()[2:]:
        m = line.split()[0]
        if m in on:
            assert re.search(rf"^{m}\s+yes\s+200\s+task container {next(iter(where[m]))[:12]}$", line), line
        else:
            assert re.search(rf"^{m}\s+no\s+no answer\s+connection refused$", line), line
    assert beyond.text(n, "check-every_machine_answers").startswith("✓ port 8088 answers on every machine: done.")
    # every machine answers on 8088 to this test too, each by its own task of the global service
    everywhere = containers_of(host, beyond, "everywhere")
    for m in MACHINES:
        r = requests.get(f"http://{address_of(host, beyond, m)}:8088/", timeout=5)
        assert r.status_code == 200 and answered_by(r.text) == [next(iter(everywhere[m]))[:12]]
    eng = beyond.engine[n]
    assert eng["services"]["everywhere"]["Mode"] == "global" and eng["services"]["everywhere"]["Replicas"] == "3/3"


def test_12_a_stack_deployed_used_changed_and_removed(host: docker.DockerClient, beyond: Run) -> None:
    n = "12-stacks"
    deployed = beyond.text(n, "deploy")
    assert deployed.startswith("$ docker stack deploy --resolve-image never -c docker-compose.yml -c offline.yml app")
    for made in ("network app_frontend", "network app_backend", "config app_counter_page", "service app_store",
                 "service app_web"):
        assert f"Creating {made}" in deployed, deployed
    assert re.search(r"\napp\s+2\s+Swarm", beyond.text(n, "stack-ls"))
    assert re.search(r"app_web\s+replicated\s+2/2", beyond.text(n, "stack-services"))
    # the page counted every visit in the store: 1, 2, then 3, 4 after the update, by the web tasks
    first = re.findall(r"200\s+Hello from (\w+): this page was seen (\d+) times", beyond.text(n, "ask"))
    assert sorted(int(c) for _, c in first) == [1, 2], beyond.text(n, "ask")
    redeployed = beyond.text(n, "redeploy")
    assert redeployed.startswith("$ GREETING=Bonjour docker stack deploy") and "Updating service app_web" in redeployed
    second = re.findall(r"200\s+Bonjour from (\w+): this page was seen (\d+) times", beyond.text(n, "ask-again"))
    assert sorted(int(c) for _, c in second) == [3, 4], beyond.text(n, "ask-again")
    assert not {h for h, _ in first} & {h for h, _ in second}  # new tasks: a rolling update replaced them
    assert beyond.text(n, "check-stack_replicas").startswith("✓ stack app runs 3 tasks of web: done.")
    removed = beyond.text(n, "stack-rm")
    assert "Removing service app_web" in removed and "Removing network app_backend" in removed
    # and the engine has nothing of it left
    of_app = "-q --filter label=com.docker.stack.namespace=app"
    left = in_machine(host, beyond.lab, "manager1",
                      f"docker service ls {of_app}; docker network ls {of_app}; docker config ls {of_app}")
    assert left == ""


def test_13_a_secret_mounted_never_shown_then_rotated(host: docker.DockerClient, beyond: Run) -> None:
    n = "13-secrets"
    value = "correct horse battery staple"
    for name, nb in beyond.notebooks.items():
        if name.startswith(n):
            shown = "\n".join(str(o) for c in nb.cells for o in c.get("outputs", []))
            assert value not in shown and "a longer and better pass phrase" not in shown, name
    assert re.search(r"\w{25}\s+db_password\s+", beyond.text(n, "secret-ls"))
    assert '"io.swarmlab.scrypt": "scrypt:(masked)"' in beyond.text(n, "secret-inspect")
    assert "-r--------" in beyond.text(n, "ls-secrets") and " password" in beyond.text(n, "ls-secrets")
    assert beyond.text(n, "tmpfs").startswith("$ docker-machine ssh ")
    assert "tmpfs /run/secrets/password tmpfs ro" in beyond.text(n, "tmpfs")
    assert "greeting = hello" in beyond.text(n, "cat-config")
    logs = beyond.text(n, "logs").splitlines()[1:]
    assert logs and all(re.fullmatch(r"web-app\.\d\.\w{12}@\w+    \| the password has 28 characters", x)
                        for x in logs), logs
    assert "the password has 31 characters" in beyond.text(n, "logs-after")
    assert beyond.text(n, "check-rotated").startswith("✓ web-app reads db_password_v3 as /run/secrets/password: done.")
    # the engine: web-app mounts v3 only, and the old secret is gone
    secrets = in_machine(host, beyond.lab, "manager1", "docker secret ls --format '{{.Name}}' | sort").split()
    assert secrets == ["db_password_v2", "db_password_v3"]
    mounted = in_machine(host, beyond.lab, "manager1", "docker service inspect web-app --format "
                         "'{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}>{{.File.Name}} {{end}}'")
    assert mounted.split() == ["db_password_v3>password"]


def test_the_lessons_run_again_reach_the_same_state(beyond: Run) -> None:
    assert beyond.text("10-networks-again", "network-create").count("already exists") == 1
    assert beyond.text("10-networks-again", "check-reach").startswith("✓")
    assert beyond.text("11-publishing-again", "check-every_machine_answers").startswith("✓")
    assert beyond.engine["11-publishing-again"]["services"] == beyond.engine["11-publishing"]["services"]
    assert beyond.text("12-stacks-again", "check-stack_replicas").startswith("✓")
    assert beyond.text("13-secrets-again", "check-rotated").startswith("✓")
    assert "already exists with this data" in beyond.text("13-secrets-again", "secret-v2")
