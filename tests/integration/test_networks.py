"""Overlay networks, service discovery and published ports on one real swarm: what swarmlab
does is checked through the engines (``docker network ls`` and ``docker ps`` in the machines,
a task's own DNS answers, real HTTP requests from this computer to the machines)."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator

import docker
import pytest
from labtest import WHOAMI, WORKLOAD, swarm_lab

import swarmlab as sl
from swarmlab.providers.base import owner

MANAGER = "manager1"


@pytest.fixture(scope="module")
def lab(host: docker.DockerClient) -> Iterator[sl.Lab]:
    for lab in swarm_lab(host, "net", 2, (WORKLOAD, WHOAMI)):
        lab.network.create("appnet")
        lab.service.create("web", WHOAMI, replicas=3, networks=["appnet"], endpoint_mode="dnsrr")
        lab.service.create("client", WORKLOAD, "sleep", "1d", networks=["appnet"])
        yield lab


def cli(lab: sl.Lab, command: str, machine: str = MANAGER) -> str:
    out = lab.ssh(machine, command)
    assert out.ok, f"{command} on {machine}: {out}"
    return str(out)


def task_hostnames(lab: sl.Lab, service: str) -> set[str]:
    """The hostnames of the service's running containers, as each machine's docker lists them
    (a container's hostname is its ID's first 12 characters)."""
    found = set()
    for m in lab.machines():
        ids = cli(lab, f"docker ps -q --no-trunc --filter label=com.docker.swarm.service.name={service}", m)
        found |= {i[:12] for i in ids.split()}
    return found


def test_the_overlay_network_spans_the_swarm_and_running_create_again_keeps_it(lab: sl.Lab) -> None:
    listed = cli(lab, "docker network ls --filter name=appnet --format '{{.Name}} {{.Driver}} {{.Scope}}'")
    assert listed.split("\n")[0].strip() == "appnet overlay swarm"
    again = lab.network.create("appnet")
    assert "already exists" in " ".join(again.notes)
    assert again.command == "docker network create -d overlay appnet"
    rows = lab.network.ls().rows()
    assert {"NAME": "appnet", "DRIVER": "overlay", "SCOPE": "swarm"}.items() <= \
        next(r for r in rows if r["NAME"] == "appnet").items()
    # the same table the CLI prints, row for row
    theirs = cli(lab, "docker network ls --format '{{.ID}} {{.Name}} {{.Driver}} {{.Scope}}'").split("\n")
    ours = [" ".join(r.values()) for r in rows]
    assert sorted(line.strip() for line in theirs if line.strip()) == sorted(ours)


def test_a_service_reaches_another_by_name_and_each_task_by_tasks_name(lab: sl.Lab) -> None:
    web_tasks = task_hostnames(lab, "web")
    assert len(web_tasks) == 3
    answered = set()
    for _ in range(12):
        out = lab.exec("client", "timeout 5 wget -qO- http://web/")
        assert out.ok, out
        answered.add(out.split("Hostname: ", 1)[1].split()[0])
        if answered == web_tasks:
            break
    assert answered <= web_tasks and len(answered) >= 2  # DNS round-robin over the tasks
    assert out.command.startswith("docker-machine ssh ")
    assert " docker exec client.1." in out.command and out.command.endswith(" timeout 5 wget -qO- http://web/")
    tasks = lab.exec("client", "nslookup tasks.web")
    assert tasks.count("Address: 10.") == 3, tasks


def test_exec_runs_in_the_task_container_that_the_engine_names(lab: sl.Lab) -> None:
    out = lab.exec("client.1", ["hostname"])
    assert out.strip() in task_hostnames(lab, "client")
    failed = lab.exec("client", "ls /no/such/path")
    assert not failed.ok and failed.exit_code != 0
    with pytest.raises(sl.SwarmStateError, match=r"no task of 'web.9' is running.*slots are 1 to 3"):
        lab.exec("web.9", "true")
    with pytest.raises(sl.ServiceNotFound, match="there is no service 'nope'"):
        lab.exec("nope", "true")


def test_what_a_command_wrote_arrives_whole_when_this_computer_is_slow_to_read(
        lab: sl.Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # A busy computer reads the answer to `exec start` late: a short command has then run,
    # written and ended, and its output came in with the answer's headers (docker-py's
    # exec_run gave "" and exit code 0 then). Every answer is read half a second late here.
    typed = lab.exec("client", "stat -c %a:%s /bin/busybox").command
    machine, typed = typed.removeprefix("docker-machine ssh ").split(" ", 1)
    expected = cli(lab, typed, machine)  # the docker CLI in the machine, read at once
    assert re.fullmatch(r"\d{3}:\d+\n", expected), expected
    late = http.client.HTTPResponse.begin

    def read_late(self: http.client.HTTPResponse) -> None:
        time.sleep(0.5)
        late(self)

    monkeypatch.setattr(http.client.HTTPResponse, "begin", read_late)
    assert lab.exec("client", "stat -c %a:%s /bin/busybox") == expected  # lab.exec
    assert lab.ssh(MANAGER, "docker info --format '{{.Swarm.LocalNodeState}}'") == "active\n"  # lab.ssh
    counted = lab.exec("client", "seq 1 400000")  # 2.7 MB, read as it comes
    assert counted.ok and counted == "".join(f"{i}\n" for i in range(1, 400001))
    # gc's read of what each machine's engine did: the services made on it
    found = lab.provider.list_labs([owner()], engine=lab.provider.host_engine(), lab=lab.name).labs
    events = type(lab.provider).machine_events(found[0], lab.provider.host_engine(), time.time() - 3600,
                                               time.time(), "{{.Type}} {{.Action}}", 30)
    manager = next(m for m in events if m.machine == MANAGER)
    assert not manager.unread and "service create" in manager.lines, manager


def test_host_mode_publishing_answers_where_a_task_runs(lab: sl.Lab) -> None:
    made = lab.service.create("front", WHOAMI, publish="published=8081,target=80,mode=host",
                              constraints=["node.hostname==worker1"])
    try:
        assert "--publish published=8081,target=80,mode=host" in made.command
        assert cli(lab, "docker service inspect front --format "
                        "'{{range .Spec.EndpointSpec.Ports}}{{.PublishedPort}}/{{.PublishMode}}{{end}}'"
                   ).strip() == "8081/host"
        answer = lab.http("worker1", 8081)
        assert answer.status == 200 and answer.ok
        assert answer.split("Hostname: ", 1)[1].split()[0] in task_hostnames(lab, "front")
        assert answer.command == "curl http://$(docker-machine ip worker1):8081/"
        started = time.monotonic()
        elsewhere = lab.http("worker2", 8081, timeout=3)
        assert elsewhere.status is None and not elsewhere.ok and elsewhere.exit_code in (7, 28)
        assert "no answer from worker2" in elsewhere
        assert time.monotonic() - started < 10
    finally:
        lab.service.rm("front")


def test_a_global_service_in_host_mode_answers_on_every_node(lab: sl.Lab) -> None:
    lab.service.create("everywhere", WHOAMI, mode="global", publish=["published=8083,target=80,mode=host"])
    try:
        hostnames = task_hostnames(lab, "everywhere")
        board = repr(lab.dashboard(live=False))  # the picture as text: a line per service
        assert re.search(r"service everywhere: 3/3 running \(\S+\) · ports 8083->80/tcp host\n", board + "\n"), board
        assert re.search(r"service web: 3/3 running \(\S+\) · on appnet\n", board + "\n"), board
        for m in lab.machines():
            answer = lab.http(m, 8083)
            assert answer.status == 200, answer
            assert answer.split("Hostname: ", 1)[1].split()[0] in hostnames
    finally:
        lab.service.rm("everywhere")


def test_the_routing_mesh_answers_on_every_node_where_ipvs_exists(lab: sl.Lab) -> None:
    """Where the kernel has IPVS, a port published in ingress mode answers on every node,
    also on one without a task; where it has not, swarmlab says so and the port gives a quick
    'no answer', never a hang. Which one this computer is, the machines' kernel says."""
    mesh = lab.network.routing_mesh()
    has_ipvs = cli(lab, "test -d /proc/sys/net/ipv4/vs && echo yes || echo no").strip() == "yes"
    assert mesh.data["ipvs"] is has_ipvs
    assert mesh.body.startswith("IPVS: yes" if has_ipvs else "IPVS: no")
    lab.service.create("mesh", WHOAMI, publish="8082:80", constraints=["node.hostname==worker1"])
    try:
        assert "*:8082->80/tcp" in lab.service.ls().text()
        for m in lab.machines():
            started = time.monotonic()
            answer = lab.http(m, 8082, timeout=3)
            assert time.monotonic() - started < 10
            if has_ipvs:
                assert answer.status == 200, f"{m}: {answer}"
            else:
                assert answer.status is None, f"{m}: {answer}"
        if not has_ipvs:
            assert "modprobe ip_vs" in mesh.body and "mode=host" in mesh.body
    finally:
        lab.service.rm("mesh")


def test_encrypted_network_carries_the_engines_option(lab: sl.Lab) -> None:
    made = lab.network.create("secret-net", encrypted=True, attachable=True)
    try:
        assert made.command == "docker network create -d overlay --attachable --opt encrypted secret-net"
        opts = cli(lab, "docker network inspect secret-net --format '{{json .Options}} {{.Attachable}}'")
        assert '"encrypted":""' in opts and opts.strip().endswith("true")
        with pytest.raises(sl.SwarmStateError, match="different encrypted setting.*Nothing was changed"):
            lab.network.create("secret-net", attachable=True)
    finally:
        lab.network.rm("secret-net")
    assert "secret-net" not in cli(lab, "docker network ls --format '{{.Name}}'").split()


def bad(call, error: type[Exception], match: str, lab: sl.Lab) -> None:  # type: ignore[no-untyped-def]
    before = (cli(lab, "docker service ls -q | sort"), cli(lab, "docker network ls -q | sort"))
    with pytest.raises(error, match=match):
        call()
    assert (cli(lab, "docker service ls -q | sort"), cli(lab, "docker network ls -q | sort")) == before


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda lab: lab.service.create("x", WHOAMI, networks=["nonet"]), sl.NetworkNotFound,
     r"there is no network 'nonet'; create it with lab.network.create\('nonet'\)"),
    (lambda lab: lab.service.create("x", WHOAMI, networks=["bridge"]), sl.InvalidArgument,
     r"'bridge' is a bridge network of one machine .*lab.network.create"),
    (lambda lab: lab.service.create("x", WHOAMI, networks=["ingress"]), sl.InvalidArgument,
     r"routing mesh's own network"),
    (lambda lab: lab.service.create("x", WHOAMI, networks="appnet"), sl.InvalidArgument,
     r"networks='appnet': give a list"),
    (lambda lab: lab.service.create("x", WHOAMI, publish="80:http"), sl.InvalidArgument,
     r"target port 'http' is not a number"),
    (lambda lab: lab.service.create("x", WHOAMI, publish="8090:80", endpoint_mode="dnsrr"),
     sl.InvalidArgument, r"dnsrr.*host mode"),
    (lambda lab: lab.network.create("appnet", attachable=True), sl.SwarmStateError,
     r"different attachable setting"),
    (lambda lab: lab.network.create("ingress"), sl.InvalidArgument, r"Docker's own networks"),
    (lambda lab: lab.network.create("x", driver="bridge"), sl.InvalidArgument, r"driver='bridge'"),
    (lambda lab: lab.network.create("bad name"), sl.InvalidArgument, r"invalid network name"),
    (lambda lab: lab.network.rm("appnet"), sl.SwarmStateError,
     r"network 'appnet' is in use by service\(s\) client, web: remove those services first"),
    (lambda lab: lab.http("manager1", 0), sl.InvalidArgument, r"port=0"),
    (lambda lab: lab.http("manager1", 80, "no-slash"), sl.InvalidArgument, r"path='no-slash'"),
], ids=["missing-network", "local-network", "ingress", "networks-str", "port-word", "dnsrr-ingress",
        "network-differs", "builtin-name", "driver", "network-name", "rm-in-use", "http-port", "http-path"])
def test_bad_input_changes_nothing(lab: sl.Lab, call, error: type[Exception], match: str) -> None:  # type: ignore[no-untyped-def]
    bad(lambda: call(lab), error, match, lab)


def test_a_port_published_twice_is_refused_naming_the_service(lab: sl.Lab) -> None:
    lab.service.create("first", WHOAMI, publish="8085:80", replicas=0)
    try:
        bad(lambda: lab.service.create("second", WHOAMI, publish="8085:80"), sl.SwarmStateError,
            r"port 8085 is already published by service 'first'.*Nothing was changed", lab)
    finally:
        lab.service.rm("first")


def test_rm_of_a_missing_network_is_a_note(lab: sl.Lab) -> None:
    out = lab.network.rm("gone")
    assert out.notes == ["there is no network 'gone' (nothing to remove)."]


def test_a_constraint_no_node_satisfies_is_refused_at_once_and_nothing_is_left(lab: sl.Lab) -> None:
    started = time.monotonic()
    bad(lambda: lab.service.create("nowhere", WHOAMI, constraints=["node.labels.zone==mars"]),
        sl.Unschedulable, r"1 task\(s\) of nowhere cannot be placed on any node; the scheduler says: "
                          r"no suitable node \(scheduling constraints not satisfied on 3 nodes\).*nothing was created",
        lab)
    assert time.monotonic() - started < 30  # not the create's 75 s timeout


def test_more_host_mode_tasks_than_machines_say_why_they_wait(lab: sl.Lab) -> None:
    lab.service.create("per-node", WHOAMI, replicas=3, publish="published=8086,target=80,mode=host")
    try:
        with pytest.raises(sl.Unschedulable, match=r"1 task\(s\) of per-node cannot be placed.*host-mode port"):
            lab.service.scale(**{"per-node": 4})
        # the service is there, as asked: 3 tasks run and the fourth waits for a machine
        assert cli(lab, "docker service ls --filter name=per-node --format '{{.Replicas}}'").strip() == "3/4"
    finally:
        lab.service.rm("per-node")


def test_update_moves_a_service_between_networks_and_ports(lab: sl.Lab) -> None:
    lab.network.create("backnet")
    lab.service.create("mover", WHOAMI, replicas=2)
    try:
        moved = lab.service.update("mover", network_add=["appnet"], publish_add="published=8087,target=80,mode=host",
                                   endpoint_mode="dnsrr")
        assert moved.command == ("docker service update --network-add appnet "
                                 "--publish-add published=8087,target=80,mode=host --endpoint-mode dnsrr mover")
        spec = ("docker service inspect mover --format '{{range .Spec.TaskTemplate.Networks}}{{.Target}} {{end}}"
                "{{.Spec.EndpointSpec.Mode}} "
                "{{range .Spec.EndpointSpec.Ports}}{{.PublishedPort}}/{{.PublishMode}}{{end}}'")
        appnet = cli(lab, "docker network inspect -f '{{.Id}}' appnet").strip()
        assert cli(lab, spec).split() == [appnet, "dnsrr", "8087/host"]
        # client, on appnet, now reaches it by name, and its tasks answer on port 8087
        assert lab.exec("client", "timeout 5 wget -qO- http://mover/").ok
        mine = "docker ps -q --filter label=com.docker.swarm.service.name=mover"
        where = [m for m in lab.machines() if cli(lab, mine, m).strip()]
        assert len(where) == 2, where  # mode=host on one port: the two tasks on two machines
        assert [lab.http(m, 8087).status for m in where] == [200, 200]
        again = lab.service.update("mover", network_add=["appnet"])
        assert "it is already on network appnet." in again.notes
        assert "nothing to change" in " ".join(again.notes)
        back = lab.service.update("mover", network_add=["backnet"], network_rm=["appnet"], publish_rm=[80],
                                  endpoint_mode="vip")
        assert back.command == ("docker service update --network-add backnet --network-rm appnet "
                                "--publish-rm 80 --endpoint-mode vip mover")
        backnet = cli(lab, "docker network inspect -f '{{.Id}}' backnet").strip()
        assert cli(lab, spec).split() == [backnet, "vip"]
        # not on appnet any more: appnet's DNS server answers that it has no such name
        gone = lab.exec("client", "nslookup tasks.mover")
        assert "NXDOMAIN" in gone and "Address: 10." not in gone, gone
        bad(lambda: lab.service.update("mover", publish_add="8089:80", endpoint_mode="dnsrr"),
            sl.InvalidArgument, r"dnsrr with a port published through the routing mesh", lab)
        bad(lambda: lab.service.update("mover", network_add=["nonet"], network_rm=["backnet"]),
            sl.NetworkNotFound, r"there is no network 'nonet'", lab)
        bad(lambda: lab.service.update("mover", publish_rm=80), sl.InvalidArgument, r"publish_rm=80: give a list", lab)
        assert cli(lab, spec).split() == [backnet, "vip"]
    finally:
        lab.service.rm("mover")
        lab.network.rm("backnet")


def test_a_health_check_holds_the_create_until_the_task_is_healthy(lab: sl.Lab) -> None:
    made = lab.service.create("healthy", WORKLOAD, "sh", "-c", "sleep 3; touch /ready; sleep 1d",
                              health_cmd="test -f /ready", health_interval="1s", health_retries=30)
    try:
        assert "--health-cmd 'test -f /ready' --health-interval 1s --health-retries 30 " in made.command
        # create returned once the swarm counted the task running: its container is healthy
        machine, container, _ = lab.service._running_task("healthy")
        assert cli(lab, f"docker inspect -f '{{{{.State.Health.Status}}}}' {container}", machine).strip() == "healthy"
        again = lab.service.create("healthy", WORKLOAD, "sh", "-c", "sleep 3; touch /ready; sleep 1d",
                                   health_cmd="test -f /ready", health_interval="1s", health_retries=30)
        assert again.notes[0].startswith("service healthy already exists")
        with pytest.raises(sl.SwarmStateError, match=r"with a different health check"):
            lab.service.create("healthy", WORKLOAD, "sh", "-c", "sleep 3; touch /ready; sleep 1d")
        changed = lab.service.update("healthy", health_interval="2s")
        assert changed.command == "docker service update --health-interval 2s healthy"
        health = cli(lab, "docker service inspect healthy "
                          "--format '{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck}}'")
        assert json.loads(health) == {"Test": ["CMD-SHELL", "test -f /ready"], "Interval": 2_000_000_000, "Retries": 30}
    finally:
        lab.service.rm("healthy")
