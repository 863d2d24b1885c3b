"""provider="ssh": where a host's swarm listens. Real hosts (sshd in Docker-in-Docker
containers, test_ssh.py's), each with a second network beyond the lab's."""

from __future__ import annotations

import contextlib

import docker
import docker.errors
import pytest
from labtest import unique_lab_name
from test_ssh import Hosts, hosts, keys, known_hosts, sshd_image  # noqa: F401 (fixtures)

import swarmlab as sl

pytestmark = pytest.mark.integration


def _swarm_port_open(on: Hosts, h: dict[str, str], ip: str) -> bool:
    """Whether a connection from host ``h`` to ``ip``:2377 is accepted."""
    said = on.docker_in(h, f"timeout 5 bash -c '</dev/tcp/{ip}/2377' && echo open || echo closed")
    return said.strip().splitlines()[-1] == "open"


def test_the_swarm_listens_on_the_advertise_address_only(hosts: Hosts, keys: dict,  # noqa: F811 (fixtures)
                                                         host: docker.DockerClient) -> None:
    """Each host has a second network, beyond the lab's (a classroom's other network). The
    attack: reach a manager's swarm port (2377) on that network's address. The swarm listens
    on the advertise address only: refused there, accepted on the lab's."""
    started = hosts.start("manager1", "worker1")
    manager1, worker1 = started
    other = host.networks.create(f"{hosts.set}-other", driver="bridge", labels=hosts.labels)
    try:
        for h in started:
            other.connect(h["container"])
        beyond = {h["name"]: hosts.container(h).attrs["NetworkSettings"]["Networks"][other.name]["IPAddress"]
                  for h in started}
        kh = known_hosts(keys, started)
        lab = sl.Lab(unique_lab_name("ssl"), provider="ssh", progress=False, key=str(keys["key"]),
                     known_hosts=str(kh), hosts=[h["target"] for h in started])
        try:
            lab.machine.create("manager1", "worker1")
            made = lab.swarm.init("manager1")
            assert made.command == (f"docker swarm init --advertise-addr {manager1['ip']} "
                                    f"--listen-addr {manager1['ip']}:2377")
            lab.swarm.join("worker1")
            for h in started:  # what each engine says: the address it advertises and listens on
                assert hosts.docker_in(h, "docker info --format '{{.Swarm.NodeAddr}}'").strip() == h["ip"]
                state = hosts.docker_in(h, "cat /var/lib/docker/swarm/docker-state.json")
                assert f'"ListenAddr":"{h["ip"]}:2377"' in state.replace(" ", ""), state
            addr = hosts.docker_in(manager1, "docker node inspect self --format '{{.ManagerStatus.Addr}}'")
            assert addr.strip() == f"{manager1['ip']}:2377"
            listening = hosts.docker_in(manager1, "ss -ltnH 'sport = :2377'").split()
            assert f"{manager1['ip']}:2377" in listening and not {"*:2377", "0.0.0.0:2377"} & set(listening)
            # the attack, from worker1 (on both networks): only the lab's address answers
            assert _swarm_port_open(hosts, worker1, manager1["ip"])
            assert not _swarm_port_open(hosts, worker1, beyond["manager1"])
        finally:
            lab.destroy()
    finally:
        for h in started:
            with contextlib.suppress(docker.errors.APIError):
                other.disconnect(h["container"], force=True)
        other.remove()
