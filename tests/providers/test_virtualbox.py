"""provider="virtualbox" against the docker-machine stand-in (tests/providers/bin/docker-machine):
docker-machine's command line and output, with a real TLS-protected engine behind each "VM"."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import docker
import pytest
import requests
from labtest import labelled, unique_lab_name
from tutorial import MACHINES, run_tutorial

import swarmlab as sl
from swarmlab._errors import DockerError, InvalidArgument, ProviderUnavailable
from swarmlab.providers import virtualbox as vb

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
CLI = json.loads((HERE / "docker_machine_cli.json").read_text())


def logged(standin: Path) -> list[dict]:
    log = standin / "commands.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def commands(standin: Path) -> list[list[str]]:
    return [e["argv"] for e in logged(standin) if "argv" in e]


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
    while j < len(rest) and rest[j].startswith("-") and rest[j] != "--" and not cspec.get("skip_flag_parsing"):
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
    monkeypatch.setattr(vb.command, "find_vboxmanage", lambda: None)  # ...anywhere
    with pytest.raises(ProviderUnavailable, match="VirtualBox is not installed.*provider='dind'"):
        sl.Lab("t-vbox", provider="virtualbox")


def test_hostonly_cidr_must_be_one_virtualbox_allows() -> None:
    assert vb.check_hostonly_cidr("192.168.56.1/24") == "192.168.56.1/24"
    assert vb.check_hostonly_cidr("192.168.60.1/24") == "192.168.60.1/24"
    for bad, says in (("192.168.99.1/24", "only allow host-only networks inside 192.168.56.0/21"),
                      ("10.0.0.1/24", "only allow host-only networks inside 192.168.56.0/21"),
                      ("192.168.56.0/24", "names the network, not the host's address on it"),
                      ("nonsense", "is not an address with a mask"),
                      ("192.168.0.1/16", "only allow host-only networks inside 192.168.56.0/21")):
        with pytest.raises(InvalidArgument, match=re.escape(f"hostonly_cidr={bad!r}") + ".*" + re.escape(says)):
            vb.check_hostonly_cidr(bad)


def test_ls_output_timeout_and_error_are_not_ready() -> None:
    rows, left_alone = vb.parse_ls("m1\tvirtualbox\tRunning\ttcp://192.168.56.101:2376\tv19.03.12\t\n"
                       "m2\tvirtualbox\tTimeout\t\t\t\n"
                       "m3\tvirtualbox\tError\t\tUnknown\tmachine does not exist\n"
                       "m4\tvirtualbox\tStopped\t\tUnknown\t\n")
    assert [(m.name, m.running) for m in rows] == [("m1", True), ("m2", False), ("m3", False), ("m4", False)]
    assert rows[0].docker_version == "v19.03.12" and rows[2].error == "machine does not exist"
    assert "Timeout" in rows[1].error
    assert left_alone == []


#: ls rows no machine of swarmlab's can produce: each is left alone and reported, none listed
HOSTILE_LS = {
    "../x\tvirtualbox\tRunning\ttcp://127.0.0.1:2376\tv19.03.12\t": "'../x'",
    "-oProxyCommand=touch /tmp/x\tvirtualbox\tStopped\t\tUnknown\t": "'-oProxyCommand=touch /tmp/x'",
    "manager1 \tvirtualbox\tRunning\ttcp://127.0.0.1:2376\tv19.03.12\t": "'manager1 '",
    "m\u0131\tvirtualbox\tRunning\ttcp://127.0.0.1:2376\tv19.03.12\t": "'m\u0131'",
    "w1\tvirtualbox\tRunning\ttcp://127.0.0.1:2376\tv19.03.12\t\tmore": "'w1",
    "w2\tvirtualbox\tPwned\t\t\t": "state 'Pwned'",
}


@pytest.mark.parametrize("line", list(HOSTILE_LS), ids=range(len(HOSTILE_LS)))
def test_ls_rows_swarmlab_cannot_have_made_are_left_alone(line: str) -> None:
    good = "manager1\tvirtualbox\tRunning\ttcp://127.0.0.1:2376\tv19.03.12\t"
    rows, left_alone = vb.parse_ls(f"{good}\n{line}\n")
    assert [m.name for m in rows] == ["manager1"]
    assert len(left_alone) == 1 and HOSTILE_LS[line] in left_alone[0], left_alone


def test_ls_names_with_a_line_break_are_left_alone_whole() -> None:
    """A machine folder called 'x<newline>manager1' prints as two lines, the second one a
    row for 'manager1': neither is a machine, and the real manager1 stays the only one."""
    text = ("manager1\tvirtualbox\tRunning\ttcp://127.0.0.1:2376\tv19.03.12\t\n"
            "x\nmanager1\tvirtualbox\tError\t\tUnknown\tmachine does not exist\n"
            "a\nb\nworker1\tvirtualbox\tRunning\ttcp://127.0.0.1:2377\tv19.03.12\t\n")
    rows, left_alone = vb.parse_ls(text)
    assert [(m.name, m.state) for m in rows] == [("manager1", "Running")]
    assert len(left_alone) == 2 and all("line break" in n for n in left_alone), left_alone
    # a name listed twice is nobody's: both are left alone
    twice = "m1\tvirtualbox\tRunning\t\t\t\nm1\tvirtualbox\tStopped\t\t\t\n"
    rows, left_alone = vb.parse_ls(twice)
    assert rows == [] and "twice" in left_alone[0]


def test_ls_urls_that_are_not_an_engine_over_tls_are_not_shown() -> None:
    for url in ("tcp://192.0.2.10:2375/../x", "unix:///var/run/docker.sock", "ssh://docker@192.0.2.10",
                "tcp://-oFoo:2376", "tcp://192.0.2.10"):
        rows, left_alone = vb.parse_ls(f"m1\tvirtualbox\tRunning\t{url}\tv19.03.12\t\n")
        assert [(m.name, m.url) for m in rows] == [("m1", "")], url
        assert url in rows[0].error and left_alone == [], rows


def test_config_output_is_parsed() -> None:
    text = ('--tlsverify\n--tlscacert="/h/.docker/machine/machines/m1/ca.pem"\n'
            '--tlscert="/h/.docker/machine/machines/m1/cert.pem"\n'
            '--tlskey="/h/.docker/machine/machines/m1/key.pem"\n-H=tcp://192.168.56.101:2376\n')
    assert vb.parse_config(text) == {
        "tlscacert": "/h/.docker/machine/machines/m1/ca.pem",
        "tlscert": "/h/.docker/machine/machines/m1/cert.pem",
        "tlskey": "/h/.docker/machine/machines/m1/key.pem",
        "host": "tcp://192.168.56.101:2376"}


CONFIG_OK = ('--tlsverify\n--tlscacert="/h/m1/ca.pem"\n--tlscert="/h/m1/cert.pem"\n'
             '--tlskey="/h/m1/key.pem"\n-H=tcp://192.168.56.101:2376\n')
HOSTILE_CONFIG = {
    "no TLS": CONFIG_OK.replace("--tlsverify\n", "").replace(":2376", ":2375"),
    "host's engine": CONFIG_OK.replace("tcp://192.168.56.101:2376", "unix:///var/run/docker.sock"),
    "a name, not an IP": CONFIG_OK.replace("192.168.56.101", "evil.example"),
    "no port": CONFIG_OK.replace(":2376", ""),
    "a path after the port": CONFIG_OK.replace(":2376", ":2376/../x"),
    "unspecified address": CONFIG_OK.replace("192.168.56.101", "0.0.0.0"),
    "two hosts": CONFIG_OK + "-H=tcp://192.0.2.10:2376\n",
    "an option more": CONFIG_OK + "--tlsverify=false\n",
    "a relative path": CONFIG_OK.replace('"/h/m1/key.pem"', '"key.pem"'),
}


@pytest.mark.parametrize("case", list(HOSTILE_CONFIG))
def test_config_output_swarmlab_would_not_use_is_refused(case: str) -> None:
    assert vb.parse_config(CONFIG_OK)["host"] == "tcp://192.168.56.101:2376"
    with pytest.raises(ProviderUnavailable, match="docker-machine config"):
        vb.parse_config(HOSTILE_CONFIG[case])


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
        # the engine's TLS alert for a missing client certificate (a closed port refuses instead)
        with pytest.raises(requests.exceptions.SSLError, match="BAD_CERTIFICATE|CERTIFICATE_REQUIRED"):
            anonymous.ping()
        assert lab.machine.create("manager1").notes == ["manager1: already running, nothing to do."]
        # `swarmlab env` is docker-machine env: this computer's docker CLI reaches the VM's engine
        env = lab.provider.engine_env("manager1")
        assert env["DOCKER_TLS_VERIFY"] == "1" and Path(env["DOCKER_CERT_PATH"]).resolve() == files.resolve()
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        cli = subprocess.run(["docker", "info", "--format", "{{.Name}}"], capture_output=True, text=True,
                             env={**clean, **env}, timeout=60)
        assert cli.stdout.strip() == "manager1", cli.stderr
        assert lab.provider.shell_command("manager1")[-3:] == ("ssh", "--", "manager1")  # docker-machine ssh

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


def test_hostile_docker_machine_output_is_refused_or_left_alone(
        standin: Path, host: docker.DockerClient, monkeypatch: pytest.MonkeyPatch,
        loopback_only: list[tuple[str, str]]) -> None:
    """What a broken or hostile docker-machine (or its storage) says never becomes a name in a
    command line, a path or a client: names no machine of swarmlab's can have are left alone
    and reported, addresses, URLs and TLS files that are not what docker-machine makes are
    refused with a clear error, before anything connects anywhere."""
    lab = sl.Lab(unique_lab_name("vbh"), provider="virtualbox", progress=False)
    machines = standin / "storage" / "machines"
    # folders docker-machine lists as machines: '-oFoo' and 'x<newline>manager1' (ls prints the
    # latter as two lines), each with the lab's labels, as a copy of a real machine would carry
    planted = [machines / "-oFoo", machines / "x\nmanager1"]
    try:
        lab.machine.create("manager1")
        for folder in planted:
            folder.mkdir()
            (folder / "config.json").write_text((machines / "manager1" / "config.json").read_text())
        # and a line with a name no folder can have, printed by a hostile docker-machine
        monkeypatch.setenv("SWARMLAB_STANDIN_TAMPER", json.dumps(
            {"ls": {"append": "../x\tvirtualbox\tRunning\ttcp://127.0.0.1:2376\tv19.03.12\t\n"}}))
        listed = lab.provider.list()
        assert [m.name for m in listed] == ["manager1"] and listed[0].running
        said = "\n".join(lab.provider.left_alone())
        for name in ("'-oFoo'", "'../x'", "line break"):
            assert name in said, said
        assert lab.machine.ls().df["NAME"].tolist() == ["manager1"]
        monkeypatch.delenv("SWARMLAB_STANDIN_TAMPER")

        # names no machine can have never reach docker-machine's command line
        before = len(commands(standin))
        provider = lab.provider
        for bad in ("-oFoo", "../x", "manager1\n", "x\nmanager1"):
            for call in (provider.address, provider.client, provider.stop, provider.tls_config,
                         lambda n: provider.run(n, "true"), lambda n: provider.remove([n]),
                         lambda n: provider.start(n, 5)):
                with pytest.raises(InvalidArgument, match="invalid machine name"):
                    call(bad)
        assert commands(standin)[before:] == []

        # a command is never an option of ssh (docker-machine hands its words to ssh)
        for command in ("-oProxyCommand=touch /tmp/swarmlab-pwned", "-F/dev/null", "--"):
            with pytest.raises(InvalidArgument, match="cannot start with '-'"):
                lab.ssh("manager1", command)
        assert not [e for e in logged(standin) if "ssh_option" in e]
        assert commands(standin)[before:] == []
        assert lab.ssh("manager1", " echo fine").strip() == "fine"

        # an address that is not one IP
        for printed in ("192.168.56.101\n-oFoo\n", "../x\n", "192.168.56.101 \n", "0.0.0.0\n", "\n"):
            monkeypatch.setenv("SWARMLAB_STANDIN_TAMPER", json.dumps({"ip": {"stdout": printed}}))
            provider.close()
            with pytest.raises(ProviderUnavailable, match="docker-machine ip manager1"):
                provider.address("manager1")
        # an engine URL without TLS, TLS files that are not the machine's own
        real = (machines / "manager1").resolve()
        for printed in (
            f'--tlscacert="{real}/ca.pem"\n--tlscert="{real}/cert.pem"\n--tlskey="{real}/key.pem"\n'
            "-H=tcp://192.0.2.10:2375\n",
            f'--tlsverify\n--tlscacert="{real}/ca.pem"\n--tlscert="{real}/cert.pem"\n--tlskey="{real}/key.pem"\n'
            "-H=unix:///var/run/docker.sock\n",
            f'--tlsverify\n--tlscacert="{real}/ca.pem"\n--tlscert="{real}/cert.pem"\n'
            '--tlskey="{storage}/machines/-oFoo/config.json"\n-H=tcp://192.0.2.10:2376\n',
            f'--tlsverify\n--tlscacert="{real}/../../certs/ca.pem"\n--tlscert="{real}/cert.pem"\n'
            f'--tlskey="{real}/key.pem"\n-H=tcp://192.0.2.10:2376\n',
        ):
            monkeypatch.setenv("SWARMLAB_STANDIN_TAMPER", json.dumps({"config": {"stdout": printed}}))
            provider.close()
            with pytest.raises(ProviderUnavailable, match="docker-machine config manager1"):
                provider.client("manager1")
        assert loopback_only == [], "swarmlab tried to reach an address docker-machine made up"
        monkeypatch.delenv("SWARMLAB_STANDIN_TAMPER")
        provider.close()
        assert lab.client("manager1").info()["Name"] == "manager1"  # the true output still works

        done = lab.destroy()
        assert done.data["machines"] == 1
        assert not (machines / "manager1").exists()
        assert all(folder.is_dir() for folder in planted), "destroy removed what it did not make"
        assert "left alone: machine '-oFoo'" in str(done), str(done)
        assert not [a for a in commands(standin) if any("-oFoo" in w or "\n" in w for w in a)]
    finally:
        monkeypatch.delenv("SWARMLAB_STANDIN_TAMPER", raising=False)
        for folder in planted:  # the test's own, removed by the test
            if folder.is_dir():
                for f in folder.iterdir():
                    f.unlink()
                folder.rmdir()
        lab.destroy()
    assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}


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
