"""The classic Swarm lab, replayed on a fresh 3-machine lab, checked through the engines."""

from __future__ import annotations

import json

import docker
import pytest
from labtest import WEB_V1, WEB_V2, WORKLOAD, labelled, on_machine, running_tasks

from swarmlab import _format as fmt

pytestmark = pytest.mark.integration

UPDATE_DELAY = 5.0


def test_the_whole_classic_lab(make_lab, host: docker.DockerClient) -> None:
    lab = make_lab("classic")

    # -- machines -------------------------------------------------------------------------
    created = lab.machine.create("manager1", "worker1", "worker2")
    assert list(created["NAME"]) == ["manager1", "worker1", "worker2"]
    assert set(created["STATE"]) == {"Running"}
    # the step is shown as the command it stands for; what really ran is kept aside
    assert created.command == ("docker-machine create -d dind manager1 && docker-machine create -d dind "
                               "worker1 && docker-machine create -d dind worker2")
    runs = [d for d in created.details if d.startswith("docker run ")]
    assert len(runs) == 3 and all(f"--hostname {m} " in r for m, r in zip(["manager1", "worker1", "worker2"], runs))
    assert labelled(host, lab.name)["containers"] == 3
    ip = lab.machine.ip("manager1")
    assert ip.command == "docker-machine ip manager1"
    assert lab.ssh("manager1", "hostname").strip() == "manager1"

    # -- swarm init / join ------------------------------------------------------------------
    init = lab.swarm.init("manager1")
    assert init.command == f"docker swarm init --advertise-addr {ip}"
    joined = lab.swarm.join("worker1", "worker2")
    assert "--token SWMTKN-1-" in joined.command and "(masked)" in joined.command
    mgr = lab.client("manager1")
    nodes = mgr.api.nodes()
    assert sorted(n["Description"]["Hostname"] for n in nodes) == ["manager1", "worker1", "worker2"]
    assert all(n["Status"]["State"] == "ready" for n in nodes)
    leaders = [n for n in nodes if (n.get("ManagerStatus") or {}).get("Leader")]
    assert [n["Description"]["Hostname"] for n in leaders] == ["manager1"]
    # each worker advertises its own address, and reaches the manager at manager1's
    for n in nodes:
        assert n["Status"]["Addr"] == lab.machine.ip(n["Description"]["Hostname"])
    # the manager's own CLI agrees
    cli = lab.ssh("manager1", "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'")
    assert sorted(cli.splitlines()) == ["manager1 Ready Leader", "worker1 Ready ", "worker2 Ready "]

    info = lab.info("manager1")
    assert "Swarm: active" in str(info) and " Managers: 1" in str(info) and " Nodes: 3" in str(info)
    ls = lab.node.ls()
    assert ls.command == "docker node ls" and len(ls) == 3
    assert list(ls["MANAGER STATUS"]) == ["Leader", "", ""]

    # -- a service: create, ps, inspect, scale, rm ------------------------------------------
    lab.image.load(WORKLOAD, WEB_V1, WEB_V2)
    created = lab.service.create("helloworld", WORKLOAD, "ping", "127.0.0.1", replicas=1)
    assert created.command == (
        f"docker service create --replicas 1 --name helloworld {WORKLOAD} ping 127.0.0.1")
    assert len(running_tasks(mgr, "helloworld")) == 1
    ps = lab.service.ps("helloworld")
    assert list(ps["NAME"]) == ["helloworld.1"] and ps["CURRENT STATE"][0].startswith("Running")
    pretty = str(lab.service.inspect("helloworld", pretty=True))
    assert "Name:           helloworld" in pretty and "Args:          ping 127.0.0.1" in pretty
    assert " Replicas:      1" in pretty

    scaled = lab.service.scale(helloworld=5)
    assert scaled.command == "docker service scale helloworld=5"
    assert len(running_tasks(mgr, "helloworld")) == 5  # already true when scale returns
    on_machines = sum(len(on_machine(lab, m, "helloworld")) for m in ("manager1", "worker1", "worker2"))
    assert on_machines == 5

    lab.service.rm("helloworld")
    assert [s for s in mgr.api.services() if s["Spec"]["Name"] == "helloworld"] == []
    assert all(on_machine(lab, m, "helloworld") == [] for m in ("manager1", "worker1", "worker2"))

    # -- rolling update with --update-delay -----------------------------------------------
    lab.service.create("redis", WEB_V1, replicas=3, update_delay=f"{UPDATE_DELAY:g}s")
    spec = mgr.api.inspect_service("redis")["Spec"]
    assert spec["UpdateConfig"]["Delay"] == UPDATE_DELAY * 1e9 and spec["UpdateConfig"]["Parallelism"] == 1
    before = {t["ID"] for t in running_tasks(mgr, "redis")}
    updated = lab.service.update("redis", image=WEB_V2)
    assert updated.command == f"docker service update --image {WEB_V2} redis"
    now = running_tasks(mgr, "redis")
    assert len(now) == 3 and not before & {t["ID"] for t in now}
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in now} == {WEB_V2}
    # the new tasks were started one by one, at least the update delay apart
    starts = sorted(fmt.parse_time(t["CreatedAt"]).timestamp() for t in now)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(g >= UPDATE_DELAY for g in gaps), gaps
    # and what runs is the new version: ask one task's web server itself
    cid = on_machine(lab, "manager1", "redis") or on_machine(lab, "worker1", "redis")
    where = "manager1" if on_machine(lab, "manager1", "redis") else "worker1"
    page = lab.ssh(where, f"docker exec {cid[0]} wget -qO- http://127.0.0.1/")
    assert "swarmlab web v2" in page

    # -- drain and activate -----------------------------------------------------------------
    lab.node.drain("worker1")
    node = [n for n in mgr.api.nodes() if n["Description"]["Hostname"] == "worker1"][0]
    assert node["Spec"]["Availability"] == "drain"
    assert on_machine(lab, "worker1", "redis") == []
    assert len(running_tasks(mgr, "redis")) == 3  # the replica count held

    lab.node.activate("worker1")
    node = [n for n in mgr.api.nodes() if n["Description"]["Hostname"] == "worker1"][0]
    assert node["Spec"]["Availability"] == "active"
    assert on_machine(lab, "worker1", "redis") == []  # tasks don't move back by themselves
    lab.service.scale(redis=6)
    assert len(on_machine(lab, "worker1", "redis")) >= 1  # new tasks land on worker1 again

    # -- clean up ---------------------------------------------------------------------------
    removed = lab.destroy()
    assert removed.command == "docker-machine rm -y manager1 worker1 worker2"
    assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}
    assert json.loads(json.dumps(removed.data))["containers"] == 3
