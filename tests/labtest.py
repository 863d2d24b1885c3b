"""Helpers shared by the test tiers (importable as ``labtest``: pytest puts tests/ on the path)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker

from swarmlab.providers.dind.engine import OFFLINE_NODE_IMAGE, OFFLINE_ROOTLESS_NODE_IMAGE

OFFLINE_IMAGES = [OFFLINE_NODE_IMAGE, OFFLINE_ROOTLESS_NODE_IMAGE, "swarmlab/busybox:latest", "swarmlab/web:1",
                  "swarmlab/web:2", "swarmlab/whoami:latest", "swarmlab/registry:2.8"]
WORKLOAD = "swarmlab/busybox:latest"
WEB_V1, WEB_V2 = "swarmlab/web:1", "swarmlab/web:2"
WHOAMI = "swarmlab/whoami:latest"  # GET / says which task answered (its hostname)

os.environ.setdefault("SWARMLAB_PROGRESS", "0")
os.environ.setdefault("SWARMLAB_NODE_IMAGE", OFFLINE_NODE_IMAGE)


def _refusing_port() -> int:
    """A port of 127.0.0.1 that refuses every connection while the tests run: bound by this
    process, never listened on."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _held.append(sock)
    return int(sock.getsockname()[1])


_held: list[Any] = []
#: where nothing answers: what a registry outside this computer is to these tests
REFUSING_URL = f"http://127.0.0.1:{_refusing_port()}"
# offline=None makes swarmlab ask Docker Hub whether it is online (swarmlab/_offline.py). The
# tests keep to one answer they state (online, unless a test or a lesson's parameters say
# offline), and should a test unset it, the question goes to a port of this computer that
# refuses, never outside it; every process the tests start inherits both.
os.environ["SWARMLAB_OFFLINE"] = "0"
os.environ["SWARMLAB_ONLINE_PROBE"] = REFUSING_URL


def labelled(host: docker.DockerClient, lab: str) -> dict[str, int]:
    """Count what carries the lab's label on the engine itself."""
    f = {"label": f"io.swarmlab.lab={lab}"}
    return {
        # sparse: no inspect of each one (one made and removed meanwhile is no error)
        "containers": len(host.containers.list(all=True, filters=f, sparse=True)),
        "volumes": len(host.volumes.list(filters=f)),
        "networks": len(host.networks.list(filters=f)),
    }


def machine_containers(host: docker.DockerClient, lab: str) -> list[str]:
    """The machines of the lab that have a container on the engine now (made, running or
    not), by the containers' labels: the lab's containers of role ``machine`` only."""
    f = {"label": [f"io.swarmlab.lab={lab}", "io.swarmlab.role=machine"]}
    return sorted((c["Labels"] or {}).get("io.swarmlab.machine", "") for c in host.api.containers(all=True, filters=f))


def remove_labelled(host: docker.DockerClient, lab: str) -> None:
    """Remove, as a test's own cleanup, whatever carries the lab's label (whoever made it)."""
    f = {"label": f"io.swarmlab.lab={lab}"}
    for c in host.containers.list(all=True, filters=f):
        c.remove(force=True, v=True)
    for v in host.volumes.list(filters=f):
        v.remove(force=True)
    for n in host.networks.list(filters=f):
        n.remove()


def unique_lab_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"




def running_tasks(client: docker.DockerClient, service: str) -> list[dict]:
    """The service's tasks that run now, as the manager's engine reports them."""
    return [t for t in client.api.tasks(filters={"service": service, "desired-state": "running"})
            if t["Status"]["State"] == "running"]


def on_machine(lab, machine: str, service: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Ask the machine's own docker CLI which containers of the service run there."""
    out = lab.ssh(machine, f"docker ps -q --filter label=com.docker.swarm.service.name={service}")
    assert out.ok, out
    return list(out.split())


def swarm_lab(host: docker.DockerClient, prefix: str, workers: int, images: tuple[str, ...],
              **options: object) -> Iterator[Any]:
    """A module's swarm (manager1 and ``workers`` workers, ``images`` loaded): yielded, then
    destroyed, and nothing of it may be left on the engine."""
    import swarmlab as sl

    lab = sl.Lab(unique_lab_name(prefix), provider="dind", progress=False, **options)  # type: ignore[arg-type]
    try:
        lab.up(managers=1, workers=workers)
        lab.image.load(*images)
        yield lab
    finally:
        lab.destroy()
        assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}


def exec_in(container: Any, command: list[str]) -> Any:
    """``docker exec`` in a container (a docker-py model), every byte of its output read:
    docker-py's ``exec_run`` loses a short command's output when the answer's headers are
    read late, as on a busy computer (:mod:`swarmlab._exec`)."""
    from swarmlab._exec import exec_output

    return exec_output(container.client, container.id, command)


def on_manager(lab: Any, command: str) -> str:
    """What the docker CLI in manager1 prints (the command must succeed)."""
    out = lab.ssh("manager1", command)
    assert out.ok, f"{command} on manager1: {out}"
    return str(out).strip()


# -- another user of this computer ---------------------------------------------------------
# Some behaviour is per user (labs are owned; a classroom's limits count a learner's machines):
# a test shows it with a real second user, a process with another uid (and the engine's
# socket group) and a SWARMLAB_HOME of its own, so that nothing of the user running the tests
# (their labs, side by side in the parallel tier) counts.


@contextmanager
def user_home(uid: int) -> Iterator[Path]:
    """A folder of user ``uid``'s own (outside root's private temporary folders)."""
    top = Path(tempfile.mkdtemp(prefix="sl-u-"))
    os.chown(top, uid, uid)
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """The other user's environment: its own home and SWARMLAB_HOME; swarmlab and its
    dependencies from this checkout and this environment's site-packages."""
    import swarmlab

    paths = [str(Path(swarmlab.__file__).resolve().parents[1]), sysconfig.get_paths()["purelib"],
             sysconfig.get_paths()["platlib"]]
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "SWARMLAB_HOME": str(home / "sl"),
           "SWARMLAB_NODE_IMAGE": os.environ["SWARMLAB_NODE_IMAGE"], "SWARMLAB_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
           **{k: os.environ[k] for k in ("SWARMLAB_OFFLINE", "SWARMLAB_ONLINE_PROBE") if k in os.environ}, **extra}
    if "DOCKER_HOST" in os.environ:
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return env


def run_as(uid: int, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    socket_group = os.stat("/var/run/docker.sock").st_gid
    return subprocess.run(list(args), user=uid, group=uid, extra_groups=[socket_group],
                          env=user_env(home, **env), cwd=home, capture_output=True, text=True, timeout=300)


def python_for(uid: int, home: Path) -> str:
    """A Python of this version that user ``uid`` may run (this one may live in a folder
    only root can enter, as pyenv's under /root does)."""
    import pytest

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    tried = []
    for candidate in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        try:
            done = run_as(uid, home, candidate, "-c", "import swarmlab, docker")
        except OSError as e:
            tried.append(f"{candidate}: {e}")
            continue
        if done.returncode == 0:
            return candidate
        tried.append(f"{candidate}: {done.stderr.strip().splitlines()[-1:]}")
    pytest.fail(f"no Python {version} that uid {uid} may run imports swarmlab: {tried}; "
                f"install python{version} (apt-get install python{version})", pytrace=False)


#: set (to 1) where a test may restart this computer's Docker engine: scripts/test sets it for
#: the tier that runs alone at the end (lesson 14 at full size), where nothing else runs
MAY_RESTART_ENGINE = "SWARMLAB_TESTS_MAY_RESTART_ENGINE"


def restart_engine() -> None:
    """Stop the dockerd that scripts/setup started (its pid file), and start it again with
    scripts/setup: the remedy ``destroy`` names for a network endpoint the engine keeps."""
    import signal
    import time

    pid = int(Path("/var/run/docker.pid").read_text().strip())
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd", "the pid file is not dockerd's"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([str(root / "scripts" / "setup")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def destroy_and_check(host: docker.DockerClient, lab: str) -> list[str]:
    """Destroy a lab and check that nothing of it is left on the engine. When the engine kept
    a network endpoint it no longer shows (dockerd 20.10, seen after 50-machine labs), the
    destroy says so and names the remedy, a restart of the engine: done here where
    ``SWARMLAB_TESTS_MAY_RESTART_ENGINE`` allows it, then the lab destroyed again. Returns
    what the first destroy left behind (empty when it left nothing)."""
    import swarmlab as sl

    result = sl.Lab(lab, provider="dind", progress=False).destroy()
    left = list(result.data.get("left_behind", []))
    if left and os.environ.get(MAY_RESTART_ENGINE) == "1":
        assert all("has active endpoints" in x and "restart the Docker engine" in x for x in left), left
        assert labelled(host, lab)["containers"] == 0  # only the network is left
        print(f"destroy of {lab} left {left}: restarting the engine, as it advises")
        restart_engine()
        again = sl.Lab(lab, provider="dind", progress=False).destroy()
        assert again.data.get("left_behind", []) == [], again
    assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}, left
    return left


def live_processes(uid: int, wait: float = 10.0) -> list[str]:
    """The user's processes that still run (not zombies, which only wait to be reaped),
    after up to ``wait`` seconds for them to end."""
    deadline = time.monotonic() + wait
    while True:
        alive = []
        for pid in subprocess.run(["pgrep", "-u", str(uid)], capture_output=True, text=True).stdout.split():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:80]
            except OSError:
                continue
            if state != "Z":
                alive.append(f"{pid} {cmd}")
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.5)


def three_free_ports() -> int:
    """A port p with p, p+1 and p+2 free on 127.0.0.1 (a classroom hub, its API, its proxy's API)."""
    import socket

    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port > 65530:
            continue
        try:
            for p in (port, port + 1, port + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
    raise AssertionError("no three free ports in a row on 127.0.0.1")


@contextmanager
def rootless_learner(prefix: str, logs: Path, images: list[str]) -> Iterator[dict[str, Any]]:
    """A new account with a rootless engine of its own (``images`` copied in): its name, uid,
    home and DOCKER_HOST. Afterwards the engine is stopped, none of the account's processes
    may be left, and the account goes with its home."""
    import pwd

    from swarmlab.classroom import rootless

    name = f"{prefix}{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, capture_output=True)
    pw = pwd.getpwnam(name)
    logs.chmod(0o700)
    try:
        url = rootless.start(name, logs, images=list(dict.fromkeys(images)))
        yield {"name": name, "uid": pw.pw_uid, "home": Path(pw.pw_dir), "url": url, "logs": logs}
    finally:
        try:
            assert rootless.stop(name, logs)
            assert not rootless.answers(pw.pw_uid)
            assert live_processes(pw.pw_uid) == [], f"processes of {name} left"
        finally:
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
            rootless.revoke(pw.pw_uid)
            subprocess.run(["userdel", "--remove", name], capture_output=True)
