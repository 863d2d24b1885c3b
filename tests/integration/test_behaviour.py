"""What every step owes the learner: safe to run twice, waits that explain themselves, labs
that don't see each other, nothing leaked, nothing exposed."""

from __future__ import annotations

import json
import re
import sys

import docker
import pytest
from labtest import WEB_V1, WEB_V2, WORKLOAD, labelled

import swarmlab as sl

pytestmark = pytest.mark.integration


def test_every_step_is_safe_to_run_twice(make_lab) -> None:
    lab = make_lab("twice")
    lab.machine.create("manager1", "worker1")
    again = lab.machine.create("manager1", "worker1")
    # a re-run says so, alone: no note of how machines are made, nothing ran
    assert again.notes == ["manager1, worker1: already running, nothing to do."]
    assert again.details == []
    assert len(lab.machine.ls()) == 2

    lab.swarm.init("manager1")
    node_id = lab.client("manager1").info()["Swarm"]["NodeID"]
    again = lab.swarm.init("manager1")
    assert "manager1 already manages an active swarm (nothing to do)." in again.notes
    assert lab.client("manager1").info()["Swarm"]["NodeID"] == node_id

    lab.swarm.join("worker1")
    again = lab.swarm.join("worker1")
    assert "worker1 is already a member of this swarm (nothing to do)." in str(again)
    assert len(lab.client("manager1").api.nodes()) == 2

    lab.image.load(WORKLOAD)
    loaded = lab.image.load(WORKLOAD)
    assert set(loaded["RESULT"]) == {"already there"}

    lab.service.create("helloworld", WORKLOAD, "ping", "127.0.0.1", replicas=2)
    again = lab.service.create("helloworld", WORKLOAD, "ping", "127.0.0.1", replicas=2)
    assert "service helloworld already exists (nothing to create)." in again.notes
    assert len([s for s in lab.client("manager1").api.services()]) == 1

    lab.node.drain("worker1")
    again = lab.node.drain("worker1")
    assert "worker1 is already drain (nothing to change)." in again.notes
    lab.node.activate("worker1")

    lab.service.rm("helloworld")
    again = lab.service.rm("helloworld")
    assert "there is no service 'helloworld' (nothing to remove; services: none)." in again.notes
    assert lab.client("manager1").api.services() == []

    lab.machine.rm("worker1")
    again = lab.machine.rm("worker1")
    assert again.notes == ["there is no machine 'worker1' (nothing to remove; machines: manager1)."]
    assert list(lab.machine.ls()["NAME"]) == ["manager1"]


def test_two_labs_side_by_side_do_not_see_each_other(make_lab, host: docker.DockerClient) -> None:
    a, b = make_lab("side-a"), make_lab("side-b")
    a.machine.create("manager1", "worker1")
    b.machine.create("manager1", "worker1")
    a.swarm.init("manager1")
    b.swarm.init("manager1")
    a.swarm.join("worker1")
    b.swarm.join("worker1")
    # each swarm has its own two nodes, on its own network
    ids_a = {n["ID"] for n in a.client("manager1").api.nodes()}
    ids_b = {n["ID"] for n in b.client("manager1").api.nodes()}
    assert len(ids_a) == len(ids_b) == 2 and not ids_a & ids_b
    net_a = a.machine.ip("manager1").rsplit(".", 1)[0]
    net_b = b.machine.ip("manager1").rsplit(".", 1)[0]
    assert net_a != net_b
    # a manager of lab a reaches its own worker's swarm gossip port, but not lab b's manager's
    # swarm port (2377: nothing but a manager's dockerd listens on it; when the host's
    # addresses have come round again, lab b's may lie in a subnet of a machine's own bridges,
    # docker0 or docker_gwbridge, where a probe of a port that machine serves itself would
    # answer from inside it)
    def connects(lab, ip: str, port: int) -> str:
        out = lab.ssh("manager1", f"timeout 3 bash -c 'echo > /dev/tcp/{ip}/{port}' 2>/dev/null; echo $?")
        return out.strip()
    assert connects(a, a.machine.ip("worker1"), 7946) == "0"
    assert connects(b, b.machine.ip("manager1"), 2377) == "0"
    assert connects(a, b.machine.ip("manager1"), 2377) in ("1", "124")  # refused or unanswered
    a.image.load(WORKLOAD)
    a.service.create("only-in-a", WORKLOAD, "ping", "127.0.0.1")
    assert [s["Spec"]["Name"] for s in b.client("manager1").api.services()] == []
    # destroying one leaves the other whole
    a.destroy()
    assert labelled(host, a.name) == {"containers": 0, "volumes": 0, "networks": 0}
    assert labelled(host, b.name)["containers"] == 2
    assert len(b.node.ls()) == 2


def test_attach_finds_a_lab_again_after_a_restart(make_lab) -> None:
    lab = make_lab("attach")
    lab.machine.create("manager1", "worker1")
    lab.swarm.init("manager1")
    lab.swarm.join("worker1")
    found = sl.Lab.attach(lab.name)  # a new object, as after a kernel restart: only labels
    assert list(found.machine.ls()["NAME"]) == ["manager1", "worker1"]
    assert found.manager() == "manager1"
    assert sorted(found.node.ls()["HOSTNAME"]) == ["manager1", "worker1"]


def test_context_manager_destroys_even_after_an_error(host: docker.DockerClient) -> None:
    from labtest import unique_lab_name

    name = unique_lab_name("ctx")
    with pytest.raises(sl.ServiceNotFound), sl.Lab(name, progress=False) as lab:
        lab.machine.create("manager1")
        lab.swarm.init("manager1")
        assert labelled(host, name)["containers"] == 1
        lab.service.ps("nope")
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


def test_a_step_that_cannot_converge_times_out_with_its_reason(swarm3: sl.Lab) -> None:
    with pytest.raises(sl.WaitTimeout) as caught:
        swarm3.service.create("crashes", WORKLOAD, "sh", "-c", "exit 3", replicas=2, timeout=8)
    msg = str(caught.value)
    assert "service crashes: not done after 8s" in msg
    assert "non-zero exit (3)" in msg  # the tasks' own error, as the engine reports it
    assert "engine log" in msg  # and the machines' engine logs
    assert caught.value.last_state is not None
    swarm3.service.rm("crashes")


def test_a_failing_rolling_update_pauses_and_rolls_back(swarm3: sl.Lab) -> None:
    swarm3.service.create("web", WEB_V1, replicas=2, update_delay="1s")
    with pytest.raises(sl.UpdatePaused, match=r"update of web paused.*lab\.service\.rollback\('web'\)"):
        swarm3.service.update("web", image=WEB_V2, args=["sh", "-c", "exit 1"])
    mgr = swarm3.manager_client()
    assert mgr.api.inspect_service("web")["UpdateStatus"]["State"] == "paused"
    back = swarm3.service.rollback("web")
    assert back.command == "docker service rollback web"
    svc = mgr.api.inspect_service("web")
    assert svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == WEB_V1
    running = [t for t in mgr.api.tasks(filters={"service": "web", "desired-state": "running"})
               if t["Status"]["State"] == "running"]
    assert len(running) == 2
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in running} == {WEB_V1}
    swarm3.service.rm("web")


def test_the_update_after_a_paused_one_is_waited_for_as_its_own(swarm3: sl.Lab) -> None:
    """The learner fixes the command of an update that paused and runs the update again: until
    the engine takes the new update up, the service still says "paused" (the last update's
    status), which must not be reported as this update's pause."""
    swarm3.service.create("fixed", WEB_V1, replicas=2, update_delay="1s")
    with pytest.raises(sl.UpdatePaused):
        swarm3.service.update("fixed", image=WEB_V2, args=["sh", "-c", "exit 1"])
    swarm3.service.update("fixed", args=[])
    svc = swarm3.manager_client().api.inspect_service("fixed")
    assert svc["UpdateStatus"]["State"] == "completed", svc["UpdateStatus"]
    running = [t for t in swarm3.manager_client().api.tasks(filters={"service": "fixed", "desired-state": "running"})
               if t["Status"]["State"] == "running"]
    assert len(running) == 2 and {t["Spec"]["ContainerSpec"]["Image"] for t in running} == {WEB_V2}
    swarm3.service.rm("fixed")


def test_a_stopped_machine_shows_down_and_steps_still_converge(swarm3: sl.Lab) -> None:
    from swarmlab._wait import Progress, wait_for

    swarm3.service.create("steady", WORKLOAD, "ping", "127.0.0.1", replicas=3)
    swarm3.machine.stop("worker2")
    assert swarm3.machine.ls().df.set_index("NAME").loc["worker2", "STATE"] == "Stopped"
    mgr = swarm3.client("manager1")

    def worker2_status() -> str:
        return [n for n in mgr.api.nodes() if n["Description"]["Hostname"] == "worker2"][0]["Status"]["State"]

    wait_for(lambda: Progress(worker2_status() == "down"), what="worker2 down", timeout=60)
    assert "Down" in list(swarm3.node.ls()["STATUS"])
    # the down node's last report still says "running": scale and drain must not wait for it
    swarm3.service.scale(steady=4, timeout=60)
    swarm3.node.drain("worker2", timeout=60)
    up = {n["ID"] for n in mgr.api.nodes() if n["Status"]["State"] == "ready"}
    running = [t for t in mgr.api.tasks(filters={"service": "steady", "desired-state": "running"})
               if t["Status"]["State"] == "running" and t["NodeID"] in up]
    assert len(running) == 4
    swarm3.node.activate("worker2")
    swarm3.service.rm("steady")

    swarm3.machine.start("worker2")
    wait_for(lambda: Progress(worker2_status() == "ready"), what="worker2 ready", timeout=60)
    assert swarm3.ssh("worker2", "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == "active"



def test_with_its_only_manager_down_a_step_says_so_and_how_to_go_on(swarm3: sl.Lab) -> None:
    """Not "no swarm yet: run init" (a second swarm): the swarm is there, its manager is not."""
    from swarmlab._wait import Progress, wait_for

    swarm3.machine.kill("manager1")
    said = (r"^lab '[^']+' has a swarm, but none of its managers answers \(stopped: manager1\): "
            r"start its managers again, e\.g\. lab\.machine\.start\('manager1'\)")
    try:
        # the engines agree: manager1's machine is off, worker1 is still a member of the swarm
        assert swarm3.machine.ls().df.set_index("NAME").loc["manager1", "STATE"] == "Stopped"
        assert swarm3.client("worker1").info()["Swarm"]["LocalNodeState"] == "active"
        with pytest.raises(sl.SwarmStateError, match=said):
            swarm3.service.ls()
    finally:
        swarm3.machine.start("manager1")
    mgr = swarm3.client("manager1")
    assert mgr.info()["Swarm"]["ControlAvailable"] is True
    wait_for(lambda: Progress([n["Status"]["State"] for n in mgr.api.nodes()] == ["ready"] * 3),
             what="the workers back", timeout=60)
    swarm3.service.ls()


def test_a_create_whose_tasks_fail_on_one_node_says_which_node_and_why(swarm3: sl.Lab) -> None:
    """Tasks that fail to start are started again, and the scheduler places new tasks last on
    a node where five failed: every replica runs, unevenly. The result says where and why."""
    made = swarm3.service.create("picky", WORKLOAD, "sh", "-c", 'test "$NODE" != worker1 && exec sleep 1d',
                                 env={"NODE": "{{.Node.Hostname}}"}, replicas=4, timeout=240)
    try:
        said = " ".join(made.notes)
        assert re.search(r"\b\d+ tasks? of picky failed to start and (were|was) started again: "
                         r"worker1: \d+ \(task: non-zero exit \(1\)\)", said), made.notes
        assert "lab.service.update('picky', force=True) spreads them again" in said
        # the engine's own account: every running task elsewhere, the failed ones on worker1
        rows = [line.split(" ", 2) for line in str(swarm3.ssh(
            "manager1", "docker service ps picky --format '{{.Node}} {{.CurrentState}} {{.Error}}'")).splitlines()]
        assert sum(1 for node, state, _ in rows if state == "Running") == 4
        assert all(node != "worker1" for node, state, _ in rows if state == "Running")
        assert any(node == "worker1" and state == "Failed" and "non-zero exit (1)" in rest
                   for node, state, rest in rows), rows
    finally:
        swarm3.service.rm("picky")


def test_swarm_update_changes_what_it_is_given_and_keeps_the_rest(swarm3: sl.Lab) -> None:
    def spec() -> dict:
        said = swarm3.ssh("manager1", "docker info --format '{{json .Swarm.Cluster.Spec}}'")
        assert said.ok, said
        return json.loads(str(said))

    before = spec()
    assert before["Dispatcher"]["HeartbeatPeriod"] == 5_000_000_000  # docker's default, 5s
    made = swarm3.swarm.update(dispatcher_heartbeat="20s", task_history_limit=3)
    try:
        assert made.command == "docker swarm update --dispatcher-heartbeat 20s --task-history-limit 3"
        assert made.body == "Swarm updated."
        assert made.notes == ["--dispatcher-heartbeat: 5s -> 20s", "--task-history-limit: 5 -> 3"]
        after = spec()
        assert after["Dispatcher"]["HeartbeatPeriod"] == 20_000_000_000
        assert after["Orchestration"]["TaskHistoryRetentionLimit"] == 3
        # every other setting as it was (docker-py's Swarm.update would put them back to defaults)
        for part in ("Raft", "CAConfig", "EncryptionConfig", "TaskDefaults", "Name", "Labels"):
            assert after.get(part) == before.get(part), part
        again = swarm3.swarm.update(dispatcher_heartbeat=20, task_history_limit=3)
        assert again.notes == ["the swarm has these settings already (nothing to change)."]
        assert spec() == after
    finally:
        # the command swarmlab shows, typed in the manager, puts the defaults back
        typed = swarm3.ssh("manager1", "docker swarm update --dispatcher-heartbeat 5s --task-history-limit 5")
        assert typed.ok and typed.strip() == "Swarm updated.", typed
    assert spec() == before


#: the TCP ports a swarm node listens on: cluster management (managers) and the nodes' gossip
SWARM_PORTS = {2377, 7946}
#: 127.0.0.11 as /proc/net/tcp writes it: where Docker's embedded DNS server listens in a container
EMBEDDED_DNS = "0B00007F"


def test_nothing_is_exposed(swarm3: sl.Lab, host: docker.DockerClient) -> None:
    for c in host.containers.list(filters={"label": f"io.swarmlab.lab={swarm3.name}"}):
        assert c.attrs["HostConfig"]["PortBindings"] in (None, {})  # no port published at all
        listening = swarm3.ssh(c.labels["io.swarmlab.machine"], "cat /proc/net/tcp /proc/net/tcp6")
        # dockerd listens on no TCP port of its own (2376/2375, or any other): only swarm's
        # 2377 (a manager's) and 7946; besides them only the host engine's DNS server for the
        # machine's network, at 127.0.0.11 inside the machine
        assert listening.ok, listening
        sockets = {(line.split()[1].split(":")[0], int(line.split()[1].split(":")[1], 16))
                   for line in listening.splitlines() if line.split() and line.split()[3] == "0A"}
        ports = {port for address, port in sockets if address != EMBEDDED_DNS}
        assert 7946 in ports and ports <= SWARM_PORTS, (c.name, sockets)
    # the machines' sockets are private to this user
    import os
    import stat
    for m in swarm3.provider.list():
        sock_dir = os.path.dirname(m.url.removeprefix("unix://"))
        assert stat.S_IMODE(os.stat(sock_dir).st_mode) == 0o700


def test_destroy_finishes_and_says_what_the_engine_kept_and_how_to_clear_it(
        make_lab, host: docker.DockerClient) -> None:  # type: ignore[no-untyped-def]
    """A container someone attached to the lab's network makes the engine refuse to remove
    it: destroy removes everything else, says what is left and the command that clears it,
    keeps the lab findable, and the next destroy finishes."""
    import subprocess

    from swarmlab.cli._labs import found_labs

    lab = make_lab("left")
    lab.machine.create("manager1")
    net = lab.provider.network_name
    blocker = host.containers.run(WORKLOAD, ["sleep", "300"], detach=True, network=net,
                                  labels={"io.swarmlab.test": "blocker"})
    try:
        done = lab.destroy()  # no exception: the rest is removed all the same
        said = str(done)
        assert done.data["containers"] == 1 and done.data["networks"] == 0, said
        assert f"network {net} is left" in said and "has active endpoints" in said, said
        clear = f"docker network disconnect -f {net} {blocker.name}"
        assert clear in said, said
        assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 1}
        assert ("dind", lab.name) in found_labs()  # swarmlab ls still shows it, and what is left
        ls = subprocess.run([sys.executable, "-m", "swarmlab", "ls"], capture_output=True, text=True, check=True)
        assert f"{lab.name} (dind): left behind: network {net}; 'swarmlab down {lab.name}' removes it" \
            in ls.stderr, ls.stderr
        with pytest.raises(sl.LabNotFound, match=f"its network {net} is still here"):
            sl.Lab.attach(lab.name, provider="dind", progress=False)
        subprocess.run(clear.split(), check=True, capture_output=True)
        again = lab.destroy()
        assert again.data["left_behind"] == [] and again.data["networks"] == 1, str(again)
    finally:
        blocker.remove(force=True)
    assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}
    assert ("dind", lab.name) not in found_labs()
