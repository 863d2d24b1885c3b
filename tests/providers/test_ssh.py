"""provider="ssh" against real hosts: Docker-in-Docker machines that also run sshd (image
swarmlab/node-sshd:bookworm, built by tests/providers/build-sshd-image), reached over
127.0.0.1 ports with a key made here, host keys checked."""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from labtest import WORKLOAD, exec_in, labelled, unique_lab_name
from tutorial import MACHINES, run_tutorial

import swarmlab as sl
from swarmlab._errors import EngineUnavailable, InvalidArgument, ProviderUnavailable, SwarmStateError
from swarmlab._home import home as swarmlab_home
from swarmlab.providers import ssh as sshp
from swarmlab.providers.dind import CAPABILITY_MODE

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
IMAGE = "swarmlab/node-sshd:bookworm"


# -- inventories (no hosts needed) ------------------------------------------------------------
def test_inventory_forms(tmp_path: Path) -> None:
    hosts, _ = sshp.load_inventory(["learner@10.0.0.5", "manager1=alice@pc7:2222", "bob@[fd00::1]:22"])
    assert [(h.user, h.hostname, h.port, h.name) for h in hosts] == [
        ("learner", "10.0.0.5", 22, None), ("alice", "pc7", 2222, "manager1"), ("bob", "fd00::1", 22, None)]
    hosts, _ = sshp.load_inventory({"worker1": {"target": "a@h:2200", "address": "10.1.1.1"}})
    assert hosts[0].name == "worker1" and hosts[0].address == "10.1.1.1" and hosts[0].target == "a@h:2200"
    (tmp_path / "lab.yaml").write_text("key: ~/.ssh/lab\nhosts:\n  manager1: a@10.0.0.1\n  worker1: a@10.0.0.2\n")
    hosts, opts = sshp.load_inventory(str(tmp_path / "lab.yaml"))
    assert [h.name for h in hosts] == ["manager1", "worker1"] and opts == {"key": "~/.ssh/lab"}
    (tmp_path / "lab.toml").write_text('trust_new_hosts = true\nhosts = ["a@10.0.0.1", "a@10.0.0.2:2222"]\n')
    hosts, opts = sshp.load_inventory(tmp_path / "lab.toml")
    assert [h.port for h in hosts] == [22, 2222] and opts == {"trust_new_hosts": True}
    for bad, says in ((["10.0.0.5"], "host '10.0.0.5': write it as user@host"),
                      (["a@h:99999"], "host 'a@h:99999': the port must be a number from 1 to 65535"),
                      (["a@h", "b@h"], "host listed twice: ['h:22']"), ([], "the inventory is empty"),
                      ({"bad name!": "a@h"}, "invalid machine name 'bad name!'"),
                      ([{"target": "a@h", "adress": "1.2.3.4"}], "unknown: ['adress']"),
                      (str(tmp_path / "nope.yaml"), f"inventory file '{tmp_path / 'nope.yaml'}' does not exist")):
        with pytest.raises(InvalidArgument, match=re.escape(says)):
            sshp.load_inventory(bad)


#: inventory entries no host of a lab can have: each would once have reached a command line
#: (ssh-keyscan advice, docker context create), a socket's file name or paramiko
HOSTILE_ENTRIES = [
    ["-oProxyCommand=touch /tmp/x@pc7"], ["learner@-oProxyCommand=x"], ["learner@pc7/../../x"],
    ["learner@pc7;reboot"], ["learner@pc7\n"], ["learner@pc7:22\n"], ["learner@pc7:\u00b2"],
    ["learner@pc7:0x16"], ["learner@[fe80::1%../../x]:22"], ["lea rner@pc7"], ["learner@"],
    ["learner@pc7..lab"], ["-@pc7"], ["learner@pc7:"], {"manager1\n": "learner@pc7"},
    {"-oFoo": "learner@pc7"}, [{"target": "learner@pc7", "address": "10.0.0.1\n"}],
    [{"target": "learner@pc7", "address": "fe80::1%../x"}], [{"target": "learner@pc7", "name": "../x"}],
    [{"target": "learner@pc7", "key": ["a", "b"]}], [{"target": 22}],
]


@pytest.mark.parametrize("entries", HOSTILE_ENTRIES, ids=range(len(HOSTILE_ENTRIES)))
def test_inventory_entries_are_checked_whole(entries: object) -> None:
    with pytest.raises(InvalidArgument):
        sshp.load_inventory(entries)


def test_inventory_file_settings_are_checked(tmp_path: Path) -> None:
    """trust_new_hosts must be a true boolean: 'no' (a string) must not switch it on."""
    for text, what in (('trust_new_hosts: "no"\n', "trust_new_hosts"), ("key: [1, 2]\n", "key"),
                       ("known_hosts: 5\n", "known_hosts")):
        (tmp_path / "lab.yaml").write_text(text + "hosts:\n  manager1: learner@10.0.0.1\n")
        with pytest.raises(InvalidArgument, match=what):
            sl.Lab(unique_lab_name("ssi"), provider="ssh", hosts=str(tmp_path / "lab.yaml"))
    with pytest.raises(InvalidArgument, match="trust_new_hosts"):
        sl.Lab(unique_lab_name("ssi"), provider="ssh", hosts=["learner@10.0.0.1"], trust_new_hosts="no")


# -- real hosts ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sshd_image(host: docker.DockerClient) -> str:
    done = subprocess.run([str(HERE / "build-sshd-image")], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"could not build {IMAGE}: {done.stderr[-2000:]}", pytrace=False)
    return IMAGE


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """A key pair for the hosts, a second key they do not know, an empty known_hosts."""
    tmp = tmp_path_factory.mktemp("ssh")
    out: dict[str, Path | str] = {}
    for name in ("key", "wrong"):
        k = ed25519.Ed25519PrivateKey.generate()
        path = tmp / name
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                         serialization.NoEncryption()))
        path.chmod(0o600)
        out[name] = path
        out[name + ".pub"] = k.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                         serialization.PublicFormat.OpenSSH).decode()
    out["dir"] = tmp
    return out


class Hosts:
    """Containers that play existing Docker hosts: sshd on a 127.0.0.1 port, user 'learner'."""

    def __init__(self, host: docker.DockerClient, image: str, pubkey: str) -> None:
        self.host, self.image, self.pubkey = host, image, pubkey
        self.set = f"hosts-{uuid.uuid4().hex[:8]}"
        self.labels = {"io.swarmlab.lab": self.set, "io.swarmlab.role": "test-ssh-host",
                       "io.swarmlab.provider": "ssh"}
        self.net = host.networks.create(self.set, driver="bridge", labels=self.labels)
        self.made: list[str] = []

    def start(self, *names: str, docker_running: bool = True) -> list[dict[str, str]]:
        api = self.host.api
        ids = []
        for name in names:
            vol = self.host.volumes.create(f"{self.set}-{name}", labels=self.labels)
            for mode in ("privileged", "capabilities"):
                binds = {vol.name: {"bind": "/var/lib/docker", "mode": "rw"}}
                extra: dict = {"privileged": True}
                if mode == "capabilities":
                    extra = dict(CAPABILITY_MODE)
                    binds["/sys/fs/cgroup"] = {"bind": "/sys/fs/cgroup", "mode": "rw"}
                hc = api.create_host_config(binds=binds, init=True, port_bindings={22: ("127.0.0.1", None)},
                                            network_mode=self.net.name, **extra)
                if mode == "capabilities":
                    hc["MaskedPaths"], hc["ReadonlyPaths"] = [], []
                cid = api.create_container(
                    self.image, name=f"{self.set}-{name}", hostname=name, labels=self.labels, ports=[22],
                    environment={"AUTHORIZED_KEY": self.pubkey, "NO_DOCKER": "0" if docker_running else "1"},
                    host_config=hc)["Id"]
                self.made.append(cid)
                try:
                    api.start(cid)
                    break
                except docker.errors.APIError as e:
                    api.remove_container(cid, force=True)
                    self.made.remove(cid)
                    if mode == "capabilities" or "operation not permitted" not in str(e).lower():
                        raise
            ids.append(cid)
        out = []
        for name, cid in zip(names, ids):
            c = self.host.containers.get(cid)
            deadline = time.monotonic() + 60
            while True:
                pub = exec_in(c, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
                # the key file exists before sshd's key generation has written it: wait for both fields
                written = pub.code == 0 and len(pub.output.split()) >= 2
                ready = written and (not docker_running or c.exec_run("docker info").exit_code == 0)
                if ready and c.exec_run("sh -c 'ss -ltn | grep -q :22'").exit_code == 0:
                    break
                assert time.monotonic() < deadline, c.logs()[-2000:]
                time.sleep(0.2)
            c.reload()
            port = c.attrs["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"]
            kind, b64 = pub.output.decode().split()[:2]
            out.append({"name": name, "target": f"learner@127.0.0.1:{port}", "port": port,
                        "known": f"[127.0.0.1]:{port} {kind} {b64}",
                        "ip": c.attrs["NetworkSettings"]["Networks"][self.net.name]["IPAddress"],
                        "container": cid})
        return out

    def container(self, h: dict[str, str]) -> docker.models.containers.Container:
        return self.host.containers.get(h["container"])

    def docker_in(self, h: dict[str, str], command: str) -> str:
        return exec_in(self.container(h), ["sh", "-c", command]).text

    def remove(self) -> None:
        for cid in self.made:
            with contextlib.suppress(docker.errors.NotFound):
                self.host.api.remove_container(cid, force=True, v=True)
        for v in self.host.volumes.list(filters={"label": f"io.swarmlab.lab={self.set}"}):
            v.remove(force=True)
        self.net.remove()
        assert labelled(self.host, self.set) == {"containers": 0, "volumes": 0, "networks": 0}


@pytest.fixture
def hosts(host: docker.DockerClient, sshd_image: str, keys: dict) -> Iterator[Hosts]:
    made = Hosts(host, sshd_image, str(keys["key.pub"]))
    try:
        yield made
    finally:
        made.remove()


def known_hosts(keys: dict, started: list[dict[str, str]], name: str = "known_hosts") -> Path:
    path = Path(keys["dir"]) / f"{name}-{uuid.uuid4().hex[:6]}"
    path.write_text("".join(h["known"] + "\n" for h in started))
    return path


def records(hosts: Hosts, h: dict[str, str]) -> list[str]:
    """The lab records (volumes labelled io.swarmlab.*) on a host, asked through its own CLI."""
    out = hosts.docker_in(h, "docker volume ls -q --filter label=io.swarmlab.role=adopted")
    return out.split()


def test_the_whole_lab_over_ssh(hosts: Hosts, keys: dict, host: docker.DockerClient) -> None:
    started = hosts.start(*MACHINES)
    kh = known_hosts(keys, started)
    before = {h["name"]: hosts.docker_in(h, "docker network ls -q --filter name=docker_gwbridge") for h in started}
    lab = sl.Lab(unique_lab_name("ssh"), provider="ssh", progress=False, key=str(keys["key"]),
                 known_hosts=str(kh), hosts=[h["target"] for h in started])
    try:
        created = lab.machine.create(*MACHINES)
        assert list(created["NAME"]) == list(MACHINES) and set(created["STATE"]) == {"Running"}
        assert created.command.startswith(f"docker context create manager1 --docker host=ssh://{started[0]['target']}")
        for h in started:  # each machine is the host given for it, and advertises its own address
            assert lab.ssh(h["name"], "hostname").strip() == h["name"]
            assert str(lab.machine.ip(h["name"])) == h["ip"]
            assert records(hosts, h) == [f"swarmlab-{lab.name}-{h['name']}"]
        again = lab.machine.create("manager1")
        assert again.notes == ["manager1: already running, nothing to do."]
        # `swarmlab ssh LAB manager1` is this computer's ssh, with the lab's key and known hosts
        shell = [*lab.provider.shell_command("manager1"), "hostname"]
        done = subprocess.run(shell, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 0 and done.stdout.strip() == "manager1", done.stderr
        user_host, _, port = started[0]["target"].rpartition(":")
        assert lab.provider.engine_env("manager1")["DOCKER_HOST"] == f"ssh://{user_host}:{port}"
        assert sl.Lab.attach(lab.name, provider="ssh", key=str(keys["key"]), known_hosts=str(kh),
                             hosts=[h["target"] for h in started]).provider.list()[0].name == "manager1"

        run_tutorial(lab)

        lab.destroy()
        for h in started:  # the hosts stay, running Docker, out of any swarm, with nothing of the lab
            assert hosts.container(h).status == "running"
            assert hosts.docker_in(h, "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == "inactive"
            assert records(hosts, h) == []
            assert hosts.docker_in(h, "docker ps -aq").split() == []
            assert hosts.docker_in(h, "docker network ls -q --filter name=docker_gwbridge") == before[h["name"]]
        assert lab.provider.list() == []
    finally:
        lab.destroy()
    assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}


def test_host_keys_are_checked_and_can_be_trusted(hosts: Hosts, keys: dict) -> None:
    (h,) = hosts.start("manager1")
    empty = Path(keys["dir"]) / f"empty-{uuid.uuid4().hex[:6]}"
    lab = sl.Lab(unique_lab_name("ssk"), provider="ssh", progress=False, key=str(keys["key"]),
                 known_hosts=str(empty), hosts=[h["target"]])
    unknown = r"host key of \[127.0.0.1\]:\d+ is not known \(ssh-ed25519 SHA256:"
    with pytest.raises(ProviderUnavailable, match=unknown) as e:
        lab.machine.create("manager1")
    assert f"ssh-keyscan -p {h['port']} 127.0.0.1 >> {empty}" in str(e.value)
    assert records(hosts, h) == [] and not empty.exists()
    lab.provider.close()
    # a wrong key in known_hosts: refused as CHANGED
    other_key = str(keys["wrong.pub"]).split()[1]  # some other ed25519 key
    wrong = known_hosts(keys, [{"known": h["known"].rsplit(" ", 1)[0] + " " + other_key}])
    lab = sl.Lab(unique_lab_name("ssk"), provider="ssh", progress=False, key=str(keys["key"]),
                 known_hosts=str(wrong), hosts=[h["target"]])
    with pytest.raises(ProviderUnavailable, match="CHANGED"):
        lab.machine.create("manager1")
    lab.provider.close()
    # trust_new_hosts: recorded on first use, then checked
    lab = sl.Lab(unique_lab_name("ssk"), provider="ssh", progress=False, key=str(keys["key"]),
                 known_hosts=str(empty), trust_new_hosts=True, hosts=[h["target"]])
    try:
        lab.machine.create("manager1")
        assert empty.read_text().split() == h["known"].split()
    finally:
        lab.destroy()
    assert records(hosts, h) == []


def test_bad_hosts_get_clear_errors_and_nothing_is_left(hosts: Hosts, keys: dict) -> None:
    good, in_swarm = hosts.start("manager1", "worker1")
    (no_docker,) = hosts.start("worker2", docker_running=False)
    kh = known_hosts(keys, [good, in_swarm, no_docker])
    closed = _closed_port()

    def lab_with(targets: list[str], key: str = str(keys["key"])) -> sl.Lab:
        return sl.Lab(unique_lab_name("sse"), provider="ssh", progress=False, key=key,
                      known_hosts=str(kh), hosts=targets)

    cases: list[tuple[list[str], str, type, str]] = [
        ([good["target"], f"learner@127.0.0.1:{closed}"], "", EngineUnavailable, "cannot reach learner@127.0.0.1"),
        ([good["target"], no_docker["target"]], "", EngineUnavailable, "Docker engine on .* does not answer"),
        ([good["target"], in_swarm["target"]], "swarm", SwarmStateError, "already part of a swarm"),
        ([good["target"], in_swarm["target"]], "wrong-key", ProviderUnavailable, "refused our SSH login"),
    ]
    for targets, setup, error, message in cases:
        if setup == "swarm":
            assert "Swarm initialized" in hosts.docker_in(in_swarm, "docker swarm init --advertise-addr 127.0.0.1")
        lab = lab_with(targets, str(keys["wrong"]) if setup == "wrong-key" else str(keys["key"]))
        with pytest.raises(error, match=message):
            lab.machine.create("manager1", "worker1")
        # nothing half-made: no host carries a record, the swarm host is still in its own swarm
        assert records(hosts, good) == [] and records(hosts, in_swarm) == []
        lab.provider.close()
        assert not (swarmlab_home() / "labs" / "ssh" / lab.name).exists()  # its sockets' folder neither
    assert hosts.docker_in(in_swarm, "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == "active"
    assert hosts.docker_in(good, "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == "inactive"
    lab = lab_with([good["target"]])
    with pytest.raises(InvalidArgument, match="no free host for 'worker2'"):
        lab.machine.create("manager1", "worker2")
    lab.provider.close()
    assert records(hosts, good) == []


def test_records_swarmlab_did_not_make_are_left_alone(hosts: Hosts, keys: dict) -> None:
    """Volumes on a host that carry the lab's record labels but are not records swarmlab makes
    (a machine label no machine can have, a record under another name): never a machine,
    never removed; the host is adopted as a host without a record."""
    (h,) = hosts.start("manager1")
    kh = known_hosts(keys, [h])
    lab = sl.Lab(unique_lab_name("ssr"), provider="ssh", progress=False, key=str(keys["key"]),
                 known_hosts=str(kh), hosts=[h["target"]])
    forged = {"forged-a": "-oFoo", "forged-b": "../x", "forged-c": "manager1"}
    for volume, machine in forged.items():
        labels = " ".join(f"--label {shlex.quote(f'{k}={v}')}" for k, v in {
            "io.swarmlab.lab": lab.name, "io.swarmlab.role": "adopted", "io.swarmlab.provider": "ssh",
            "io.swarmlab.machine": machine, "io.swarmlab.ssh.gwbridge": "made"}.items())
        assert hosts.docker_in(h, f"docker volume create {labels} {volume}").strip() == volume
    try:
        assert lab.provider.list() == []
        said = "\n".join(lab.provider.left_alone())
        for volume in forged:
            assert f"volume {volume!r}" in said, said
        with pytest.raises(sl.LabNotFound):
            sl.Lab.attach(lab.name, provider="ssh", key=str(keys["key"]), known_hosts=str(kh), hosts=[h["target"]])
        created = lab.machine.create("manager1")
        assert created.notes[0] == "Created manager1."
        assert sorted(records(hosts, h)) == sorted([*forged, f"swarmlab-{lab.name}-manager1"])
        assert [m.name for m in lab.provider.list()] == ["manager1"]
        lab.destroy()
        assert sorted(records(hosts, h)) == sorted(forged), "destroy removed volumes it did not make"
        assert "left alone: volume 'forged-c'" in "\n".join(lab.provider.left_alone())
    finally:
        lab.destroy()
        hosts.docker_in(h, f"docker volume rm {' '.join(forged)}")


def test_destroy_keeps_a_swarm_the_lab_did_not_make(hosts: Hosts, keys: dict) -> None:
    """A host leaves the lab's swarm and makes a swarm of its own, with a service: destroying
    the lab releases the host but leaves that swarm and its task running."""
    started = hosts.start("manager1", "worker1")
    manager1, worker1 = started
    kh = known_hosts(keys, started)
    lab = sl.Lab(unique_lab_name("ssw"), provider="ssh", progress=False, key=str(keys["key"]),
                 known_hosts=str(kh), hosts=[h["target"] for h in started])
    try:
        lab.machine.create("manager1", "worker1")
        lab.swarm.init("manager1")
        lab.swarm.join("worker1")
        lab.image.load(WORKLOAD)
        lab.service.create("lab-task", WORKLOAD, "sleep", "3600", mode="global")
        lab_node = lab.client("worker1").info()["Swarm"]["NodeID"]
        deadline = time.monotonic() + 60
        while not hosts.docker_in(worker1, f"docker ps -q --filter label=com.docker.swarm.node.id={lab_node}"):
            assert time.monotonic() < deadline, hosts.docker_in(worker1, "docker ps -a --format '{{.Labels}}'")
            time.sleep(0.5)

        # worker1 leaves (as its owner would, in its own shell) and makes its own swarm
        assert "left the swarm" in hosts.docker_in(worker1, "docker swarm leave")
        assert "Swarm initialized" in hosts.docker_in(worker1, "docker swarm init --advertise-addr 127.0.0.1")
        hosts.docker_in(worker1, f"docker service create --detach --no-resolve-image --name other {WORKLOAD} "
                                 "sleep 3600")
        deadline = time.monotonic() + 60
        while not (theirs := hosts.docker_in(
                worker1, "docker ps -q --filter label=com.docker.swarm.service.name=other").split()):
            assert time.monotonic() < deadline, hosts.docker_in(worker1, "docker service ps --no-trunc other")
            time.sleep(0.5)
        their_node = hosts.docker_in(worker1, "docker info --format '{{.Swarm.NodeID}}'").strip()

        done = lab.destroy()

        # worker1: still in its own swarm, its task the same container, running; the lab's gone
        assert hosts.docker_in(worker1, "docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}'"
                               ).split() == ["active", their_node]
        assert hosts.docker_in(worker1, "docker ps -q --filter label=com.docker.swarm.service.name=other"
                               ).split() == theirs
        ps = hosts.docker_in(worker1, "docker service ps other --filter desired-state=running "
                                      "--format '{{.CurrentState}}'")
        assert ps.startswith("Running"), ps
        assert hosts.docker_in(worker1, f"docker ps -aq --filter label=com.docker.swarm.node.id={lab_node}") == ""
        assert hosts.docker_in(worker1, "docker network ls -q --filter name=docker_gwbridge").split()
        assert records(hosts, worker1) == []
        # manager1: out of the lab's swarm, nothing of the lab left
        assert hosts.docker_in(manager1, "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == "inactive"
        assert hosts.docker_in(manager1, "docker ps -aq") == "" and records(hosts, manager1) == []
        assert hosts.docker_in(manager1, "docker volume ls -q --filter label=io.swarmlab.lab").split() == []
        # and destroy says what it left, and why
        assert done.data == {"hosts released": 2, "left_behind": []}
        assert f"left alone: the swarm worker1 ({worker1['target']}) is in now, as node {their_node}" in str(done)
    finally:
        lab.destroy()


def test_the_labs_folder_is_its_own_and_checked(hosts: Hosts, keys: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The forwarded sockets live in the lab's own folder of the ssh provider (0700), which
    destroy removes, and nothing else; a folder that is a symlink is refused before anything
    is recorded on a host."""
    top = Path(tempfile.mkdtemp(prefix="sl-"))
    monkeypatch.setenv("SWARMLAB_HOME", str(top / "home"))
    (h,) = hosts.start("manager1")
    kh = known_hosts(keys, [h])
    name = unique_lab_name("ssf")

    def lab() -> sl.Lab:
        return sl.Lab(name, provider="ssh", progress=False, key=str(keys["key"]), known_hosts=str(kh),
                      hosts=[h["target"]])

    try:
        # what other providers keep for a lab of the same name is not the ssh provider's
        shared = top / "home" / "labs" / name
        shared.mkdir(parents=True, mode=0o700)
        (shared / "keep").write_text("still here\n")
        (top / "home").chmod(0o700)
        (top / "home" / "labs").chmod(0o700)
        one = lab()
        one.machine.create("manager1")
        folder = top / "home" / "labs" / "ssh" / name
        assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert [p.suffix for p in folder.iterdir()] == [".sock"]
        assert sorted(p.name for p in shared.iterdir()) == ["keep"]
        # a second notebook attached to the lab has sockets of its own: closing it leaves ours
        two = sl.Lab.attach(name, provider="ssh", key=str(keys["key"]), known_hosts=str(kh), hosts=[h["target"]])
        assert two.client("manager1").ping()
        assert len(list(folder.iterdir())) == 2
        two.provider.close()
        assert len(list(folder.iterdir())) == 1
        one.client("manager1").api.close()  # the next request opens a new connection through our socket
        assert one.client("manager1").ping()
        one.destroy()
        assert not folder.exists()
        assert (shared / "keep").read_text() == "still here\n"

        (top / "elsewhere").mkdir(mode=0o700)
        folder.symlink_to(top / "elsewhere")
        with pytest.raises(sl.InsecurePath, match="symlink"):
            lab().machine.create("manager1")
        assert records(hosts, h) == [] and list((top / "elsewhere").iterdir()) == []
        assert folder.is_symlink()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _closed_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)



