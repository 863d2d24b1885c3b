"""A fresh process (a new kernel, a test worker) learns whether the engine grants
``--privileged`` from one throwaway container on no network, never from a machine on the lab's
network: each machine is made once, in the mode the engine grants, and joins the lab's network
once. Read from the engine's own event log. (Before, on an engine that refuses --privileged, a
new process made each of its first machines twice, the first refused at start after joining
the network.)"""

from __future__ import annotations

import subprocess
import sys
import time

import docker
import pytest
from labtest import labelled, unique_lab_name

pytestmark = pytest.mark.integration

CREATE = """
import sys
import swarmlab as sl
lab = sl.Lab(sys.argv[1], provider="dind", progress=False)
lab.machine.create("manager1", "worker1", "worker2")
print(lab.provider.security())
"""


def test_a_fresh_process_starts_no_machine_the_engine_refuses(host: docker.DockerClient) -> None:
    lab = unique_lab_name("probe")
    since = int(time.time()) - 1
    try:
        done = subprocess.run([sys.executable, "-c", CREATE, lab], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        mode = done.stdout.strip()
        until = int(time.time()) + 1
        events = list(host.events(since=since, until=until, decode=True,
                                  filters={"type": "container", "label": f"io.swarmlab.lab={lab}"}))
        created = [e["Actor"]["Attributes"].get("io.swarmlab.role") for e in events if e["Action"] == "create"]
        # three machines made, each once; and at most one probe, which never joined a network
        assert sorted(created) in (["machine"] * 3, ["machine"] * 3 + ["probe"]), (mode, created)
        assert [e for e in events if e["Action"] == "die" and e["Actor"]["Attributes"].get("io.swarmlab.role")
                == "machine"] == []
        connects = list(host.events(since=since, until=until, decode=True,
                                    filters={"type": "network", "event": "connect"}))
        machine_ids = {c.id for c in host.containers.list(all=True, filters={"label": f"io.swarmlab.lab={lab}"})}
        probe_ids = {e["id"] for e in events if e["Actor"]["Attributes"].get("io.swarmlab.role") == "probe"}
        joined = [e["Actor"]["Attributes"].get("container") for e in connects]
        assert not probe_ids & set(joined), "the probe joined a network"
        assert sorted(c for c in joined if c in machine_ids) == sorted(machine_ids)  # once each
        assert mode in ("privileged", "capabilities")
        assert len(machine_ids) == 3  # the probe is gone
    finally:
        removed = subprocess.run([sys.executable, "-c", "import sys, swarmlab as sl; "
                                  "sl.Lab(sys.argv[1], provider='dind', progress=False).destroy()", lab],
                                 capture_output=True, text=True, timeout=300)
        assert removed.returncode == 0, removed.stderr
    assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}
