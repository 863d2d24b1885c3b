"""The classic lab, once, over any provider: what a learner would notice, checked through the
machines' own engines. Shared by the virtualbox, ssh and qemu provider tests."""

from __future__ import annotations

from labtest import WEB_V1, WEB_V2, WORKLOAD, on_machine, running_tasks

import swarmlab as sl

MACHINES = ("manager1", "worker1", "worker2")


def run_tutorial(lab: sl.Lab) -> None:
    """init, join, service create/ps/scale/update/rm, drain/activate, ssh: on created machines."""
    ip = str(lab.machine.ip("manager1"))
    init = lab.swarm.init("manager1")
    listen = lab.provider.listen_address("manager1")  # existing hosts (ssh): the advertise address only
    flag = "" if listen == "0.0.0.0" else f" --listen-addr {listen}:2377"
    assert init.command == f"docker swarm init --advertise-addr {ip}{flag}"
    lab.swarm.join("worker1", "worker2")
    mgr = lab.client("manager1")
    nodes = mgr.api.nodes()
    assert sorted(n["Description"]["Hostname"] for n in nodes) == list(MACHINES)
    assert all(n["Status"]["State"] == "ready" for n in nodes)
    for n in nodes:  # every node advertises the address the provider reports for it
        assert n["Status"]["Addr"] == str(lab.machine.ip(n["Description"]["Hostname"]))
    cli = lab.ssh("manager1", "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'")
    assert sorted(cli.splitlines()) == ["manager1 Ready Leader", "worker1 Ready ", "worker2 Ready "]
    bad = lab.ssh("worker1", "exit 3")
    assert bad.exit_code == 3

    lab.image.load(WORKLOAD, WEB_V1, WEB_V2)
    lab.service.create("helloworld", WORKLOAD, "ping", "127.0.0.1", replicas=1)
    assert len(running_tasks(mgr, "helloworld")) == 1
    lab.service.scale(helloworld=5)
    assert sum(len(on_machine(lab, m, "helloworld")) for m in MACHINES) == 5
    lab.service.rm("helloworld")
    assert all(on_machine(lab, m, "helloworld") == [] for m in MACHINES)

    lab.service.create("web", WEB_V1, replicas=3, update_delay="1s")
    before = {t["ID"] for t in running_tasks(mgr, "web")}
    lab.service.update("web", image=WEB_V2)
    now = running_tasks(mgr, "web")
    assert len(now) == 3 and not before & {t["ID"] for t in now}
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in now} == {WEB_V2}
    where = next(m for m in MACHINES if on_machine(lab, m, "web"))
    page = lab.ssh(where, f"docker exec {on_machine(lab, where, 'web')[0]} wget -qO- http://127.0.0.1/")
    assert "swarmlab web v2" in page

    lab.node.drain("worker1")
    assert on_machine(lab, "worker1", "web") == []
    assert len(running_tasks(mgr, "web")) == 3
    lab.node.activate("worker1")
    node = [n for n in mgr.api.nodes() if n["Description"]["Hostname"] == "worker1"][0]
    assert node["Spec"]["Availability"] == "active"
    lab.service.scale(web=6)
    assert len(on_machine(lab, "worker1", "web")) >= 1
