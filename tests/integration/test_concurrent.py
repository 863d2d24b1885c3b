"""Two notebooks at once: two processes that create the same lab's machines at the same moment
both succeed and leave exactly those machines, each running, on one network (checked on the
engine)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import pytest
from labtest import labelled, unique_lab_name

import swarmlab as sl

pytestmark = pytest.mark.integration

LABEL_LAB, LABEL_ROLE = "io.swarmlab.lab", "io.swarmlab.role"
MACHINES = ("manager1", "worker1", "worker2")

#: one notebook's cell: swarmlab imported, it says it is ready (its ready-file), then starts
#: when the go-file appears, so that both start together
KERNEL = """
import os, sys, time
import swarmlab as sl
go, ready = sys.argv[2], sys.argv[3]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
sl.Lab(sys.argv[1], provider="dind", progress=False).machine.create("manager1", "worker1", "worker2")
"""


def test_two_kernels_create_the_same_machines_at_once(host: docker.DockerClient) -> None:
    name = unique_lab_name("c")
    go = Path(tempfile.mkdtemp(prefix="sl-go-")) / "go"
    ready = [go.parent / f"ready{i}" for i in range(2)]
    kernels = [subprocess.Popen([sys.executable, "-c", KERNEL, name, str(go), str(r)], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
               for r in ready]
    try:
        deadline = time.monotonic() + 120  # both are waiting for the go-file, swarmlab imported
        while not all(r.exists() for r in ready):
            assert time.monotonic() < deadline and all(k.poll() is None for k in kernels), \
                [k.communicate() if k.poll() is not None else "waiting" for k in kernels]
            time.sleep(0.05)
        go.touch()
        results = [k.communicate(timeout=300) for k in kernels]
        for k, (out, err) in zip(kernels, results):
            assert k.returncode == 0, out + err
        # on the engine: exactly the three machines, each running, one network, one volume each
        f = {"label": [f"{LABEL_LAB}={name}", f"{LABEL_ROLE}=machine"]}
        machines = host.containers.list(all=True, filters=f)
        assert sorted(c.labels["io.swarmlab.machine"] for c in machines) == list(MACHINES)
        assert {c.status for c in machines} == {"running"}
        assert labelled(host, name) == {"containers": 3, "volumes": 3, "networks": 1}
        (network,) = host.networks.list(filters={"label": f"{LABEL_LAB}={name}"})
        network.reload()
        assert sorted(network.attrs["Containers"]) == sorted(c.id for c in machines)
        # and each machine's engine answers
        lab = sl.Lab(name, provider="dind", progress=False)
        assert lab.machine.ls()["STATE"].tolist() == ["Running"] * 3
        assert all(lab.client(m).ping() for m in MACHINES)
    finally:
        for k in kernels:
            if k.poll() is None:
                k.kill()
                k.wait()
        for f in (go, *ready):
            f.unlink(missing_ok=True)
        go.parent.rmdir()
        sl.Lab(name, provider="dind", progress=False).destroy()
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}
