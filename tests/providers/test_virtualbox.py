"""provider="virtualbox" against the docker-machine stand-in (tests/providers/bin/docker-machine):
docker-machine's command line and output, with a real TLS-protected engine behind each "VM"."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest
from labtest import labelled, unique_lab_name
from tutorial import MACHINES, run_tutorial

import swarmlab as sl
from swarmlab._errors import DockerError, InvalidArgument, ProviderUnavailable
from swarmlab.providers import virtualbox as vb

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
CLI = json.loads((HERE / "docker_machine_cli.json").read_text())


def commands(standin: Path) -> list[list[str]]:
    log = standin / "commands.jsonl"
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()] if log.exists() else []


def flags_of(argv: list[str]) -> tuple[str, list[str]]:
    """The command and the flag names in one recorded docker-machine command line."""
    i, names = 0, []
    spec = CLI["global"]
    while i < len(argv) and argv[i].startswith("-"):
        names.append(argv[i].lstrip("-").split("=")[0])
        i += 1 if "=" in argv[i] or argv[i].lstrip("-") in spec["bool"] else 2
    command, rest = argv[i], argv[i + 1:]
    cspec = CLI["commands"][command]
    j = 0
    while j < len(rest) and rest[j].startswith("-") and not cspec.get("skip_flag_parsing"):
        name = rest[j].lstrip("-").split("=")[0]
        names.append(name)
        j += 1 if "=" in rest[j] or name in cspec["bool"] else 2
    return command, names


# -- no docker-machine, no VirtualBox ---------------------------------------------------------
def test_missing_docker_machine_names_the_fork_and_dind(tmp_path: Path) -> None:
    with pytest.raises(ProviderUnavailable) as e:
        sl.Lab("t-vbox", provider="virtualbox", docker_machine=str(tmp_path / "docker-machine"))
    text = str(e.value)
    assert "docker-machine is not installed" in text
    assert vb.MAINTAINED_FORK in text and "provider='dind' needs neither" in text


def test_missing_virtualbox_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(HERE / "bin"))  # docker-machine, but no VBoxManage...
    monkeypatch.setattr(vb, "find_vboxmanage", lambda: None)  # ...anywhere
    with pytest.raises(ProviderUnavailable, match="VirtualBox is not installed.*provider='dind'"):
        sl.Lab("t-vbox", provider="virtualbox")


def test_hostonly_cidr_must_be_one_virtualbox_allows() -> None:
    assert vb.check_hostonly_cidr("192.168.56.1/24") == "192.168.56.1/24"
    assert vb.check_hostonly_cidr("192.168.60.1/24") == "192.168.60.1/24"
    for bad in ("192.168.99.1/24", "10.0.0.1/24", "192.168.56.0/24", "nonsense", "192.168.0.1/16"):
        with pytest.raises(InvalidArgument):
            vb.check_hostonly_cidr(bad)


def test_ls_output_timeout_and_error_are_not_ready() -> None:
    rows = vb.parse_ls("m1\tvirtualbox\tRunning\ttcp://192.168.56.101:2376\tv19.03.12\t\n"
                       "m2\tvirtualbox\tTimeout\t\t\t\n"
                       "m3\tvirtualbox\tError\t\tUnknown\tmachine does not exist\n"
                       "m4\tvirtualbox\tStopped\t\tUnknown\t\n")
    assert [(m.name, m.running) for m in rows] == [("m1", True), ("m2", False), ("m3", False), ("m4", False)]
    assert rows[0].docker_version == "v19.03.12" and rows[2].error == "machine does not exist"
    assert "Timeout" in rows[1].error


def test_config_output_is_parsed() -> None:
    text = ('--tlsverify\n--tlscacert="/h/.docker/machine/machines/m1/ca.pem"\n'
            '--tlscert="/h/.docker/machine/machines/m1/cert.pem"\n'
            '--tlskey="/h/.docker/machine/machines/m1/key.pem"\n-H=tcp://192.168.56.101:2376\n')
    assert vb.parse_config(text) == {
        "tlscacert": "/h/.docker/machine/machines/m1/ca.pem",
        "tlscert": "/h/.docker/machine/machines/m1/cert.pem",
        "tlskey": "/h/.docker/machine/machines/m1/key.pem",
        "host": "tcp://192.168.56.101:2376"}


# -- through the stand-in -------------------------------------------------------------------
def test_a_cidr_virtualbox_refuses_fails_cleanly(standin: Path, host: docker.DockerClient) -> None:
    lab = sl.Lab(unique_lab_name("vbc"), provider="virtualbox", progress=False,
                 hostonly_cidr="192.168.99.1/24", check_cidr=False)
    with pytest.raises(DockerError, match="E_ACCESSDENIED") as e:
        lab.machine.create("manager1", "worker1")
    assert "removed the machines this step made" in str(e.value)
    assert lab.provider.list() == []
    assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}
    assert not (standin / "storage" / "machines" / "manager1").exists()


def test_a_machine_outside_the_lab_is_never_taken_over(standin: Path, host: docker.DockerClient) -> None:
    lab = sl.Lab(unique_lab_name("vbo"), provider="virtualbox", progress=False)
    other = sl.Lab(unique_lab_name("vbo"), provider="virtualbox", progress=False)
    try:
        other.machine.create("stranger")
        with pytest.raises(InvalidArgument, match="not part of lab"):
            lab.machine.create("stranger")
        assert [m.name for m in other.provider.list()] == ["stranger"]
        assert other.provider.list()[0].running
    finally:
        other.destroy()
    assert labelled(host, other.name) == {"containers": 0, "volumes": 0, "networks": 0}


def test_the_whole_lab_through_docker_machine(standin: Path, host: docker.DockerClient) -> None:
    lab = sl.Lab(unique_lab_name("vb"), provider="virtualbox", progress=False, memory=2048, cpus=2)
    try:
        created = lab.machine.create(*MACHINES)
        assert list(created["NAME"]) == list(MACHINES) and set(created["STATE"]) == {"Running"}
        assert created.command.startswith("docker-machine create --driver virtualbox --virtualbox-memory 2048")
        # the engine behind each machine is a real one, reached over TLS with docker-machine's files
        for m in MACHINES:
            client = lab.client(m)
            assert client.api.base_url.startswith("https://127.0.0.1:")
            assert client.info()["Name"] == m
            assert f"io.swarmlab.lab={lab.name}" in client.info()["Labels"]
        files = standin / "storage" / "machines" / "manager1"
        assert {p.name for p in files.iterdir()} >= {"ca.pem", "cert.pem", "key.pem", "server.pem",
                                                      "server-key.pem", "config.json"}
        # without the client certificate the engine refuses to talk
        port = lab.client("manager1").api.base_url.rsplit(":", 1)[1]
        anonymous = docker.DockerClient(base_url=f"tcp://127.0.0.1:{port}", version="1.41", timeout=5,
                                        tls=docker.tls.TLSConfig(ca_cert=str(files / "ca.pem"), verify=True))
        anonymous.api.trust_env = False
        with pytest.raises(Exception):  # noqa: B017  (the TLS handshake fails)
            anonymous.ping()
        assert lab.machine.create("manager1").notes == ["manager1: already exists and is running (nothing to do)."]

        run_tutorial(lab)

        # a VM whose engine stops answering is listed, and not used
        worker2 = host.containers.list(filters={"label": ["io.swarmlab.role=standin-vm",
                                                          "io.swarmlab.machine=worker2",
                                                          f"io.swarmlab.lab={lab.name}"]})[0]
        assert worker2.exec_run("pkill -STOP -x dockerd").exit_code == 0
        try:
            lab.provider.ls_timeout = 2
            states = {m.name: m for m in lab.provider.list()}
            assert states["worker2"].state == "Timeout" and not states["worker2"].running
            assert "worker2" not in lab.machines()
        finally:
            worker2.exec_run("pkill -CONT -x dockerd")
            lab.provider.ls_timeout = 10
        worker2.remove(force=True)  # the VM vanished behind docker-machine's back
        states = {m.name: m for m in lab.provider.list()}
        assert states["worker2"].state == "Error" and states["worker2"].error == "machine does not exist"

        removed = lab.destroy()
        assert removed.command == "docker-machine rm -y manager1 worker1 worker2"
        assert lab.provider.list() == []
    finally:
        lab.destroy()
    assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}
    assert not (standin / "storage" / "machines" / "manager1").exists()


def test_every_command_issued_is_one_docker_machine_accepts(standin: Path) -> None:
    issued = commands(standin)
    assert issued, "the tests above issued no docker-machine command"
    used = set()
    for argv in issued:
        command, flags = flags_of(argv)
        spec = CLI["commands"][command]
        allowed = set(spec["bool"] + spec["value"] + spec["repeat"] + CLI["global"]["bool"]
                      + CLI["global"]["value"])
        assert set(flags) <= allowed, (argv, set(flags) - allowed)
        used.add(command)
        if command == "create" and "--virtualbox-hostonly-cidr" in argv:
            cidr = argv[argv.index("--virtualbox-hostonly-cidr") + 1]
            url = argv[argv.index("--virtualbox-boot2docker-url") + 1]
            assert url.endswith("/v19.03.12/boot2docker.iso")
            assert argv[argv.index("--driver") + 1] == "virtualbox"
            assert any(a.startswith("io.swarmlab.lab=") for a in argv)
            if cidr != "192.168.99.1/24":  # the one test that asks for what VirtualBox refuses
                vb.check_hostonly_cidr(cidr)
    assert {"create", "ls", "ip", "config", "ssh", "rm"} <= used
