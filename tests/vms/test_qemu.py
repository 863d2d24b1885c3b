"""The qemu provider, for real: three QEMU virtual machines (software emulation here, KVM where
the computer has it), each with its own kernel, booted from the base image
(scripts/build-vm-image), checked through their engines and through QEMU's own processes.

The module's lab is made by a child Python process that then dies by SIGKILL (a notebook
kernel killed after its cell): the tests reach the lab through ``Lab.attach`` and destroy it
at the end, so the tier also proves that a lab outlives the kernel that made it and that
``destroy`` leaves no process, overlay, socket or switch behind.

The tier runs alone (scripts/test): three emulated machines fill two cores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from labtest import WEB_V1, on_machine, running_tasks, unique_lab_name
from tutorial import MACHINES, run_tutorial

import swarmlab as sl
from swarmlab import _home
from swarmlab.lessons.kernel import KERNEL_MANAGER

pytestmark = [pytest.mark.vms, pytest.mark.timeout(1800)]

LESSON = Path(__file__).resolve().parents[2] / "notebooks" / "11-publishing.ipynb"


def qemu_processes() -> dict[int, str]:
    """Every live QEMU process on this computer, with its command line (zombies excluded)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if state != "Z" and args and args[0].endswith((b"qemu-system-x86_64", b"vde_switch")):
            out[int(entry)] = b" ".join(args).decode("utf-8", "replace")
    return out


def of_lab(lab_dir: Path) -> dict[int, str]:
    """The QEMU and vde_switch processes whose command line names the lab's folder."""
    return {pid: cmd for pid, cmd in qemu_processes().items() if str(lab_dir) + "/" in cmd}


@pytest.fixture(scope="module")
def vm_lab() -> Iterator[sl.Lab]:
    name = unique_lab_name("vm")
    # made by a kernel that then dies without a word: no cleanup, no close()
    child = subprocess.run([sys.executable, "-c", (
        "import os, signal, swarmlab as sl\n"
        f"lab = sl.Lab({name!r}, provider='qemu', internet=False, progress=False)\n"
        f"lab.machine.create(*{MACHINES!r})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")], capture_output=True, text=True, timeout=900)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    lab = sl.Lab.attach(name, provider="qemu", internet=False, progress=False, offline=True)
    folder = _home.lab_dir("qemu", name, create=False)
    try:
        yield lab
    finally:
        removed = lab.destroy()
        assert removed.data["machines"] == 3
        assert lab.provider.left_behind == []
        # no QEMU, no switch, no overlay, no socket: the lab's folder is gone
        assert of_lab(folder) == {}
        assert not folder.exists()


def test_machines_are_virtual_machines_with_their_own_kernel(vm_lab: sl.Lab) -> None:
    ls = vm_lab.machine.ls()
    assert list(ls["NAME"]) == list(MACHINES) and set(ls["STATE"]) == {"Running"}
    folder = _home.lab_dir("qemu", vm_lab.name, create=False)
    procs = of_lab(folder)
    assert sum(1 for c in procs.values() if "qemu-system" in c) == 3
    assert sum(1 for c in procs.values() if "vde_switch" in c) == 1
    for m in MACHINES:
        # the guest says it is a QEMU machine; its engine runs on the guest's kernel
        assert vm_lab.ssh(m, "systemd-detect-virt").strip() in ("qemu", "kvm")
        assert vm_lab.client(m).info()["KernelVersion"] == vm_lab.ssh(m, "uname -r").strip()
        assert vm_lab.ssh(m, "hostname").strip() == m
    assert vm_lab.client("manager1").info()["KernelVersion"] != os.uname().release
    # each command is a new session on one kept SSH connection, not a new handshake: the
    # guest's own sshd has one connection, however many commands came before
    for m in MACHINES:
        count = vm_lab.ssh(m, "ss -Htn state established '( sport = :22 )' | wc -l")
        assert count.exit_code == 0 and str(count).strip().splitlines()[-1] == "1", (m, str(count))
    # the engine and sshd are reached on 127.0.0.1 only: QEMU forwards nothing else
    for cmd in procs.values():
        for part in cmd.split(","):
            if part.startswith("hostfwd="):
                assert part.startswith("hostfwd=tcp:127.0.0.1:"), part
    # `swarmlab env`: this computer's docker CLI reaches the machine's engine with the lab's
    # certificates, and nothing without them
    env = vm_lab.provider.engine_env("worker1")
    assert env["DOCKER_HOST"].startswith("tcp://127.0.0.1:") and env["DOCKER_TLS_VERIFY"] == "1"
    cli = subprocess.run(["docker", "info", "--format", "{{.Name}}"], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=60)
    assert cli.stdout.strip() == "worker1", cli.stderr
    # without them, the engine itself refuses the plain HTTP request on its TLS port (Go's
    # net/http answers it). `docker version`: `docker info --format` exits 0 when the server
    # part fails (docker CLI 28), and a failure of any other kind would pass a bare exit code
    bare = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True,
                          env={**os.environ, "DOCKER_HOST": env["DOCKER_HOST"], "DOCKER_TLS_VERIFY": "",
                               "DOCKER_CERT_PATH": ""}, timeout=60)
    assert bare.returncode != 0 and not bare.stdout.strip(), (bare.returncode, bare.stdout, bare.stderr)
    assert "Client sent an HTTP request to an HTTPS server." in bare.stderr, bare.stderr


def test_the_classic_lab_on_three_vms(vm_lab: sl.Lab) -> None:
    """The classic lab as on every provider (tests/tutorial.py), then what is the VMs' own:
    each advertises its address on the lab's switch."""
    run_tutorial(vm_lab)
    mgr = vm_lab.client("manager1")
    for n in mgr.api.nodes():
        assert n["Status"]["Addr"].startswith("192.168.56.")
    info = str(vm_lab.info("manager1"))
    assert "Swarm: active" in info and " Nodes: 3" in info
    vm_lab.service.rm("web")
    assert all(on_machine(vm_lab, m, "web") == [] for m in MACHINES)


def test_the_routing_mesh_lesson_runs_on_vms(vm_lab: sl.Lab, tmp_path: Path) -> None:
    """Lesson 11, as a learner runs it, on this lab: IPVS is in the guests' kernel, so a port
    published through the mesh answers on every machine, also on those that run no task of
    the service; and the exercise's answer key passes its check."""
    import papermill

    out = tmp_path / "11.ipynb"
    papermill.execute_notebook(str(LESSON), str(out), cwd=str(LESSON.parent), kernel_name="python3",
                               kernel_manager_class=KERNEL_MANAGER, progress_bar=False, parameters={
                                   "provider": "qemu", "lab_name": vm_lab.name, "offline": True, "solve": True})
    cells = nbformat.read(str(out), as_version=4).cells

    def shown(needle: str) -> str:
        cell = next(c for c in cells if c.cell_type == "code" and needle in c.source)
        return "\n".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in cell.outputs)

    assert "IPVS: yes" in shown("lab.network.routing_mesh()")
    asked = shown("ex.ask_every_machine(lab, 8080")
    assert asked.count("200") == 3 and "no answer" not in asked, asked
    # the one task of `front` answered on every machine, also the two that run none of it:
    # checked on the engine (where the task runs, its container's hostname) and over HTTP
    mgr = vm_lab.client("manager1")
    front = running_tasks(mgr, "front")
    assert len(front) == 1
    where = next(n["Description"]["Hostname"] for n in mgr.api.nodes() if n["ID"] == front[0]["NodeID"])
    task = on_machine(vm_lab, where, "front")[0]
    hostname = vm_lab.ssh(where, f"docker inspect -f '{{{{.Config.Hostname}}}}' {task}").strip()
    assert asked.count(f"task container {hostname}") == 3, asked
    for m in MACHINES:
        answer = vm_lab.http(m, 8080)
        assert answer.status == 200 and f"Hostname: {hostname}" in str(answer), (m, answer)
        assert on_machine(vm_lab, m, "front") == ([task] if m == where else [])
    assert "✓ port 8088 answers on every machine: done." in shown("ex.check_every_machine_answers(lab)")
    # and the engine agrees: the lesson's services, and port 8088 answering on each machine
    names = {s["Spec"]["Name"] for s in mgr.api.services()}
    assert {"front", "front-host"} <= names
    for m in MACHINES:
        assert vm_lab.http(m, 8088).status == 200
    vm_lab.service.rm(*sorted(names))


def test_a_machine_powered_off_and_the_swarm_rescheduling(vm_lab: sl.Lab) -> None:
    lab = vm_lab
    mgr = lab.client("manager1")
    folder = _home.lab_dir("qemu", lab.name, create=False)
    lab.service.create("web", WEB_V1, replicas=3)
    assert len(on_machine(lab, "worker1", "web")) == 1  # replicas spread: one on each node
    pid = next(p for p, c in of_lab(folder).items() if f"{folder}/worker1/" in c and "qemu-system" in c)
    killed = lab.machine.kill("worker1")
    assert killed.command == "docker-machine kill worker1" and "(qemu) quit" in killed.details[0]
    assert pid not in qemu_processes()  # the VM's process is gone: a power cut, not a shutdown
    node = [n for n in mgr.api.nodes() if n["Description"]["Hostname"] == "worker1"][0]
    assert node["Status"]["State"] == "down"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        running = running_tasks(mgr, "web")
        if len(running) == 3 and all(t["NodeID"] != node["ID"] for t in running):
            break
        time.sleep(2)
    running = running_tasks(mgr, "web")
    assert len(running) == 3 and all(t["NodeID"] != node["ID"] for t in running)

    lab.machine.start("worker1")
    node = [n for n in mgr.api.nodes() if n["Description"]["Hostname"] == "worker1"][0]
    deadline = time.monotonic() + 300
    while node["Status"]["State"] != "ready" and time.monotonic() < deadline:
        time.sleep(2)
        node = [n for n in mgr.api.nodes() if n["Description"]["Hostname"] == "worker1"][0]
    assert node["Status"]["State"] == "ready"
    assert lab.ssh("worker1", "hostname").strip() == "worker1"
    lab.service.rm("web")

    # stop: the power button, and the guest shuts down by itself (its console says so)
    pid = next(p for p, c in of_lab(folder).items() if f"{folder}/worker2/" in c and "qemu-system" in c)
    lab.machine.stop("worker2")
    assert pid not in qemu_processes()
    console = (folder / "worker2" / "console.log").read_text(errors="replace")
    assert "reboot: Power down" in console, console[-2000:]
    assert [m.state for m in lab.provider.list() if m.name == "worker2"] == ["Stopped"]
