"""The ``swarmlab`` command, run for real (a subprocess, as a terminal runs it) against real DinD
swarms: up / ls / status / ssh / env / down, an interactive shell through a pseudo-terminal,
this computer's own ``docker`` CLI pointed at a machine by ``swarmlab env``, Ctrl-C during
``up``, bad usage; and the ``%docker`` magics executed in a notebook under papermill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import nbformat
import pexpect
import pytest
from labtest import exec_in, labelled, unique_lab_name

from swarmlab.lessons.kernel import KERNEL_MANAGER

pytestmark = pytest.mark.integration

SWARMLAB = [sys.executable, "-m", "swarmlab"]


def cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SWARMLAB, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "SWARMLAB_PROGRESS": "0", **(env or {})}, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def lab(host: docker.DockerClient) -> Iterator[str]:
    """A lab made by ``swarmlab up`` (1 manager, 1 worker, the offline images), removed by
    ``swarmlab down``: nothing of it may be left."""
    name = unique_lab_name("cli")
    try:
        up = cli("up", name, "--workers", "1", "--offline")
        assert up.returncode == 0, up.stdout + up.stderr
        assert up.stdout.startswith("$ docker-machine create -d dind manager1"), up.stdout
        assert "docker swarm init --advertise-addr" in up.stdout
        assert f"eval $(swarmlab env {name} manager1)" in up.stdout
        rows = [line.split() for line in up.stdout.splitlines() if " Ready " in line]
        assert sorted(r[1] if r[1] != "*" else r[2] for r in rows) == ["manager1", "worker1"], up.stdout
        yield name
    finally:
        down = cli("down", name)
        assert down.returncode == 0, down.stdout + down.stderr
        assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


def test_up_twice_keeps_the_lab_and_ls_status_see_it(lab: str, host: docker.DockerClient) -> None:
    again = cli("up", lab, "--workers", "1", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert sorted(n["HOSTNAME"] for n in json.loads(again.stdout)["nodes"]) == ["manager1", "worker1"]
    assert labelled(host, lab)["containers"] == 2  # nothing made twice
    listed = cli("ls", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    mine = [row for row in json.loads(listed.stdout) if row["name"] == lab]
    assert mine == [{"name": lab, "provider": "dind", "machines": "2/2", "nodes": "2/2", "services": "0",
                     "age": mine[0]["age"], "error": "", "left": []}], mine
    assert mine[0]["age"] in ("less than a minute", "1 minute", "2 minutes", "3 minutes")
    table = cli("ls").stdout.splitlines()
    assert table[0].split() == ["NAME", "PROVIDER", "MACHINES", "NODES", "SERVICES", "AGE"]
    assert any(line.split()[:5] == [lab, "dind", "2/2", "2/2", "0"] for line in table)
    status = cli("status", lab, "-o", "json")
    assert status.returncode == 0, status.stderr
    got = json.loads(status.stdout)
    assert {n["HOSTNAME"]: n["STATUS"] for n in got["nodes"]} == {"manager1": "Ready", "worker1": "Ready"}
    assert got["services"] == []
    text = cli("status", lab).stdout
    assert text.startswith("$ docker node ls") and "$ docker service ls" in text


def test_ssh_runs_a_command_with_its_exit_status(lab: str) -> None:
    out = cli("ssh", lab, "manager1", "docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split("\n")[:2]) == ["manager1 Ready", "worker1 Ready"]
    failed = cli("ssh", lab, "worker1", "docker node ls")  # a worker cannot list nodes
    assert failed.returncode == 1 and "This node is not a swarm manager" in failed.stdout
    assert cli("ssh", lab, "manager1", "exit 3").returncode == 3


def test_ssh_without_a_command_is_a_real_shell(lab: str) -> None:
    shell = pexpect.spawn(SWARMLAB[0], [*SWARMLAB[1:], "ssh", lab, "manager1"], encoding="utf-8",
                          timeout=60, env={**os.environ, "TERM": "xterm"}, dimensions=(40, 160))
    try:
        shell.expect(r"[#$] ")
        shell.sendline("docker node ls --format '{{.Hostname}}={{.ManagerStatus}}'; tty")
        shell.expect("manager1=Leader")
        shell.expect("/dev/pts/")  # a real terminal on the machine, as docker-machine ssh gave
        shell.sendline("exit 0")
        shell.expect(pexpect.EOF)
    finally:
        shell.close()
    assert shell.exitstatus == 0


def test_env_points_this_computers_docker_cli_at_the_machine(lab: str) -> None:
    out = cli("env", lab, "manager1", "-o", "json")
    assert out.returncode == 0, out.stderr
    env = json.loads(out.stdout)
    assert env["DOCKER_HOST"].startswith(("unix://", "tcp://127.0.0.1:")), env
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    docker_cli = subprocess.run(["docker", "node", "ls", "--format", "{{.Self}} {{.Hostname}}"],
                                capture_output=True, text=True, env={**clean, **env}, timeout=60)
    assert docker_cli.returncode == 0, docker_cli.stderr
    assert "true manager1" in docker_cli.stdout  # the engine answering is manager1's own
    sh = cli("env", lab, "manager1").stdout
    assert sh.splitlines()[0].startswith("export DOCKER_HOST=") and "eval $(swarmlab env" in sh


ROUND_TRIP = r"""
set -eu
eval $(swarmlab env "$LAB" manager1)
echo "cli: $(docker node ls --format '{{.Self}} {{.Hostname}}' | grep '^true ')"
swarmlab ls -o json > "$OUT/ls.json" 2> "$OUT/ls.err"
swarmlab status "$LAB" -o json > "$OUT/status.json"
echo "ssh: $(swarmlab ssh "$LAB" worker1 docker info --format '{{.Swarm.LocalNodeState}}')"
eval $(swarmlab env "$LAB" worker1)
echo "cli: $(docker info --format '{{.Name}}')"
eval $(swarmlab env -u)
echo "back: ${DOCKER_HOST-unset} ${DOCKER_CERT_PATH-unset} ${SWARMLAB_ENV_HOST-unset}"
echo "machines: $(docker ps -q --filter "label=io.swarmlab.lab=$LAB" | wc -l)"
"""


def test_env_and_back_in_a_shell_leave_swarmlab_on_this_computers_engine(lab: str, tmp_path: Path) -> None:
    """``eval $(swarmlab env LAB manager1)`` points the shell's docker CLI at manager1, and
    swarmlab itself still finds its labs on this computer's engine (ls, status, ssh), saying
    so; after a second ``env``, ``eval $(swarmlab env -u)`` brings the docker CLI back to this
    computer's engine, read through it: the lab's machine containers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "swarmlab").write_text(f'#!/bin/sh\nexec {sys.executable} -m swarmlab "$@"\n')
    (bin_dir / "swarmlab").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "SWARMLAB_ENV", "SWARMLAB_OUTER"))}
    env |= {"PATH": f"{bin_dir}:{env['PATH']}", "LAB": lab, "OUT": str(tmp_path), "SWARMLAB_PROGRESS": "0"}
    done = subprocess.run(["bash", "-c", ROUND_TRIP], capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["cli: true manager1", "ssh: active", "cli: worker1",
                                        "back: unset unset unset", "machines: 2"], done.stdout
    [mine] = [row for row in json.loads((tmp_path / "ls.json").read_text()) if row["name"] == lab]
    assert (mine["machines"], mine["nodes"]) == ("2/2", "2/2"), mine
    said = (tmp_path / "ls.err").read_text()
    assert "DOCKER_HOST points at manager1 of a lab" in said and "eval $(swarmlab env -u)" in said, said
    status = json.loads((tmp_path / "status.json").read_text())
    assert {n["HOSTNAME"]: n["STATUS"] for n in status["nodes"]} == {"manager1": "Ready", "worker1": "Ready"}


def test_the_docker_magics_in_a_notebook(lab: str, tmp_path: Path) -> None:
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        f"import swarmlab as sl\n%load_ext swarmlab\nlab = sl.Lab({lab!r}, progress=False)",
        "%docker manager1 node ls --format '{{.Hostname}}'",
        "%%docker manager1\ninfo --format '{{.Swarm.LocalNodeState}}'\ndocker service ls --format '{{.Name}}'",
        "%docker worker1 node ls",  # the CLI's own error, shown; the notebook goes on
        "print('after')",
    )]
    src, out = tmp_path / "magics.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    pm.execute_notebook(str(src), str(out), kernel_name="python3", kernel_manager_class=KERNEL_MANAGER,
                        progress_bar=False)
    cells = nbformat.read(out, as_version=4).cells

    def shown(i: int) -> list[str]:
        return [o["data"]["text/plain"] for o in cells[i].outputs if "data" in o]

    assert shown(1) == ["$ docker node ls --format '{{.Hostname}}'   # on manager1\nmanager1\nworker1\n"]
    assert shown(2)[0].startswith("$ docker info --format") and shown(2)[0].endswith("active\n")
    assert shown(2)[1] == "$ docker service ls --format '{{.Name}}'   # on manager1\n"
    assert "This node is not a swarm manager" in shown(3)[0]
    assert "exit code 1" in cells[3].outputs[0]["data"]["text/html"]
    assert cells[4].outputs[0]["text"] == "after\n"


@pytest.mark.parametrize("args, code, says", [
    (["status", "nolab-xyz"], 1, "no lab named 'nolab-xyz'"),
    (["status", "{lab}q"], 1, "no lab named '{lab}q' on the dind provider: did you mean '{lab}'?"),
    (["ssh", "{lab}", "manager9", "ls"], 1, "has no machine 'manager9'"),
    (["up", "x/y"], 2, "invalid lab name 'x/y'"),
    (["up", "t-bad", "--managers", "0"], 2, "--managers: '0': give a whole number from 1 to 99"),
    (["up", "t-bad", "--workers", "-1"], 2, "--workers: '-1': give a whole number from 0 to 99"),
    (["down"], 2, "name a lab (swarmlab down tutorial) or give --all"),
    (["down", "--all"], 2, "add --yes to say so"),
    (["env", "{lab}"], 2, "the following arguments are required: machine"),
    (["env", "-u", "{lab}"], 2, "-u takes no lab or machine"),
])
def test_bad_usage_says_what_in_one_line_and_changes_nothing(lab: str, host: docker.DockerClient,
                                                            args: list[str], code: int, says: str) -> None:
    before = {k: labelled(host, k) for k in (lab, "t-bad")}
    done = cli(*[a.format(lab=lab) for a in args])
    assert done.returncode == code, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and says.format(lab=lab) in done.stderr, done.stderr
    assert f"swarmlab up {lab}q" not in done.stderr  # never the advice to make a misspelling
    assert "Traceback" not in done.stderr
    assert {k: labelled(host, k) for k in (lab, "t-bad")} == before


def test_a_lab_is_found_on_its_provider_without_provider(lab: str, host: docker.DockerClient,
                                                         tmp_path: Path) -> None:
    """'swarmlab down NAME' removes the lab 'swarmlab ls' lists, whatever its provider (here a
    qemu lab with no machine left: its folder); a name on two providers is refused, listing
    both, and nothing changes."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = {"SWARMLAB_HOME": str(home)}
    for name in ("t-elsewhere", lab):
        (home / "labs" / "qemu" / name).mkdir(mode=0o700, parents=True)
    listed = json.loads(cli("ls", "-o", "json", env=env).stdout)
    assert {(x["name"], x["provider"]) for x in listed} >= {("t-elsewhere", "qemu"), (lab, "qemu"), (lab, "dind")}

    gone = cli("down", "t-elsewhere", env=env)
    assert gone.returncode == 0 and "on the qemu provider" in gone.stderr, gone.stdout + gone.stderr
    assert not (home / "labs" / "qemu" / "t-elsewhere").exists()

    before = labelled(host, lab)
    for args in (["down", lab], ["status", lab]):
        both = cli(*args, env=env)
        assert both.returncode == 2, both.stdout + both.stderr
        assert f"there is a lab {lab!r} on dind and on qemu" in both.stderr and "--provider" in both.stderr
    assert labelled(host, lab) == before and (home / "labs" / "qemu" / lab).is_dir()
    assert cli("status", lab, "--provider", "dind", "-o", "json", env=env).returncode == 0


def _swarm_of(host: docker.DockerClient, lab: str) -> tuple[int, str]:
    """How many machines the lab has on the engine, and what manager1's own engine says of its
    swarm (``docker info`` inside its machine container): state and node count, or why not."""
    made = host.containers.list(all=True, filters={"label": f"io.swarmlab.lab={lab}"})
    managers = [c for c in made if c.labels.get("io.swarmlab.machine") == "manager1"]
    if not managers:
        return len(made), "no manager1"
    said = exec_in(managers[0], ["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.Nodes}}"])
    return len(made), said.text.strip()


def _nodes_on(host: docker.DockerClient, lab: str) -> list[tuple[str, str]]:
    """``docker node ls`` run inside manager1's machine container: hostname and status of each node."""
    [manager] = host.containers.list(filters={"label": [f"io.swarmlab.lab={lab}", "io.swarmlab.machine=manager1"]})
    listed = exec_in(manager, ["docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}"])
    assert listed.code == 0, listed.text
    return sorted(tuple(line.split()) for line in listed.text.splitlines())  # type: ignore[misc]


def test_ctrl_c_during_up_then_up_completes_and_down_removes_all(host: docker.DockerClient) -> None:
    name = unique_lab_name("cli")
    try:
        # as a terminal's Ctrl-C finds it: SIGINT not ignored, whatever started this run (a shell
        # runs a background job with SIGINT ignored, and Python then keeps it ignored)
        proc = subprocess.Popen([*SWARMLAB, "up", name, "--workers", "2"], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "SWARMLAB_PROGRESS": "0"},
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 120
        while labelled(host, name)["containers"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "swarmlab up ended before its first machine was made"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err, err
        # the engine shows the lab as the interrupt left it: short of a swarm of three nodes
        machines, swarm = _swarm_of(host, name)
        assert machines < 3 or swarm != "active 3", (machines, swarm)
        again = cli("up", name, "--workers", "2", "-o", "json")
        assert again.returncode == 0, again.stderr
        nodes = json.loads(again.stdout)["nodes"]
        assert sorted((n["HOSTNAME"], n["STATUS"]) for n in nodes) == [
            ("manager1", "Ready"), ("worker1", "Ready"), ("worker2", "Ready")]
        assert _nodes_on(host, name) == [("manager1", "Ready"), ("worker1", "Ready"), ("worker2", "Ready")]
        assert labelled(host, name)["containers"] == 3
    finally:
        down = cli("down", name)
        assert down.returncode == 0, down.stderr
        assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


def test_python_m_swarmlab_and_help_with_an_example() -> None:
    for command in ("up", "ls", "status", "down", "ssh", "env", "doctor", "lessons", "run-lessons"):
        helped = cli(command, "--help")
        example = [line for line in helped.stdout.splitlines() if line.startswith("example: ")]
        assert helped.returncode == 0 and "swarmlab " in example[0], (command, helped.stdout)
    top = cli("--help")
    assert top.returncode == 0 and "Exit status: 0 done, 1 failed, 2 bad usage" in top.stdout
    doctor = cli("doctor", "--offline")
    assert doctor.returncode == 0 and doctor.stdout.startswith("✓ this computer is ready"), doctor.stdout
