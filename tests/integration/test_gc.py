"""``swarmlab gc --idle``: a lab nobody changed for that long is removed, one in use is kept,
and it says which and why. The learner is a real second user (its own uid), so that gc never
sees the labs of the user running the tests (side by side in the parallel tier); root's
``--user`` is tried on that learner's lab too."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import docker
import pytest
from labtest import WORKLOAD, labelled, python_for, run_as, unique_lab_name, user_home

pytestmark = pytest.mark.integration

LEARNER_UID = 12347

#: what the learner runs: one step on one lab
STEP = """
import sys
import swarmlab as sl
lab = sl.Lab(sys.argv[1], provider="dind", progress=False)
if sys.argv[2] == "make":
    lab.machine.create("manager1")
    lab.swarm.init("manager1")
    lab.image.load(sys.argv[3])
    lab.service.create("pinger", sys.argv[3], "ping", "127.0.0.1", replicas=1)
elif sys.argv[2] == "machine":
    lab.machine.create("manager1")
elif sys.argv[2] == "use":
    lab.service.scale(pinger=2)
elif sys.argv[2] == "init":
    lab.swarm.init("manager1")
elif sys.argv[2] == "destroy":
    lab.destroy()
"""

IDLE = 15  # seconds: long enough that a lab used just before gc is never idle on a busy computer


def _machines(host: docker.DockerClient, lab: str) -> int:
    return len(host.containers.list(all=True, filters={"label": [f"io.swarmlab.lab={lab}",
                                                                 f"io.swarmlab.owner={LEARNER_UID}"]}))


def test_gc_removes_what_nobody_used_and_keeps_what_is_in_use(host: docker.DockerClient) -> None:
    old, used = unique_lab_name("gcold"), unique_lab_name("gcused")
    with user_home(LEARNER_UID) as home:
        python = python_for(LEARNER_UID, home)

        def learner(*args: str) -> subprocess.CompletedProcess[str]:
            return run_as(LEARNER_UID, home, python, *args)

        def step(lab: str, what: str) -> None:
            done = learner("-c", STEP, lab, what, WORKLOAD)
            assert done.returncode == 0, done.stdout + done.stderr

        try:
            step(old, "make")
            step(used, "machine")
            time.sleep(IDLE + 5)
            # a change through the engine (not a read) is use: the swarm made on it just now
            step(used, "init")

            dry = learner("-m", "swarmlab", "gc", "--idle", f"{IDLE}s", "--dry-run")
            assert dry.returncode == 0, dry.stderr
            assert dry.stdout.startswith(f"would remove lab {old} of user {LEARNER_UID}: 1 machines, unused for ")
            assert used not in dry.stdout
            assert _machines(host, old) == 1  # a dry run removes nothing

            done = learner("-m", "swarmlab", "gc", "--idle", f"{IDLE}s", "-o", "json")
            assert done.returncode == 0, done.stderr
            said = json.loads(done.stdout)
            assert [(x["lab"], x["user"], x["machines"], x["left_behind"]) for x in said] == [
                (old, str(LEARNER_UID), 1, [])]
            assert said[0]["idle_seconds"] >= IDLE
            assert said[0]["why"] == "no change through its engines, and no machine started, in that time"
            assert labelled(host, old) == {"containers": 0, "volumes": 0, "networks": 0}
            assert _machines(host, used) == 1

            # learners may not clear other users' labs; root may, one user's at a time
            refused = learner("-m", "swarmlab", "gc", "--idle", "1s", "--all-users")
            assert refused.returncode == 2
            assert "--all-users and --user act on other users' labs: run as root" in refused.stderr
            time.sleep(2)
            as_root = subprocess.run([sys.executable, "-m", "swarmlab", "gc", "--idle", "1s", "--user",
                                      str(LEARNER_UID)], capture_output=True, text=True, timeout=300)
            assert as_root.returncode == 0, as_root.stderr
            assert as_root.stdout.startswith(f"removed lab {used} of user {LEARNER_UID}: 1 machines, unused for ")
            assert f"Removed lab {used!r}: 1 containers, 1 volumes, 1 networks." in as_root.stdout
            assert labelled(host, used) == {"containers": 0, "volumes": 0, "networks": 0}
        finally:
            step(old, "destroy")
            step(used, "destroy")
