"""Lessons 10 on (overlay networks, published ports, stacks, secrets) for a learner whose labs
are in a rootless engine of their own, for real: a new account, its engine started by root
(swarmlab/classroom/rootless.py), the lessons executed with papermill by a process of the
learner's (their ids only, not in the Docker socket's group, DOCKER_HOST their engine). The machines'
addresses are inside the engine's network namespace, so ``lab.http`` asks from inside the
lab's network: lesson 11's published ports must answer on every machine. Then the swarm is
read through the learner's engine (root's client of it, checked to be served by them).

Lessons 10 to 13 run by default (11 makes the global service on port 8088 the test asks);
``SWARMLAB_ROOTLESS_LESSONS=10,11`` runs fewer."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import docker
import nbformat
import nbtools
import pytest
from labtest import exec_in, rootless_learner, user_env

from swarmlab.classroom import rootless
from swarmlab.classroom.hub import students_python
from swarmlab.exercises import OFFLINE
from swarmlab.providers import rootless_node_image

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

# what the dind provider runs machines from in a rootless engine (bookworm's Docker 20.10)
NODE_IMAGE = rootless_node_image()
WANTED = os.environ.get("SWARMLAB_ROOTLESS_LESSONS", "10,11,12,13").split(",")
LESSONS = [p for p in nbtools.notebooks() if p.stem[:2] in WANTED]

DRIVER = """
import json, sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[1], str(Path(sys.argv[1]).parent)]
import nbtools
out, lab, times = Path(sys.argv[2]), sys.argv[3], {}
for path in sys.argv[4:]:
    t = time.monotonic()
    nbtools.execute(Path(path), out / Path(path).name, lab, timeout=600)
    times[Path(path).stem] = round(time.monotonic() - t, 1)
print(json.dumps(times))
"""


#: each machine asked on 8088 up to three times (5 s each): under the full test load a machine
#: of the learner's rootless engine once took longer than 5 s to answer
ASK = """
import json, sys
import swarmlab as sl
lab = sl.Lab(sys.argv[1], provider="dind", progress=False)
def ask(m):
    for _ in range(3):
        a = lab.http(m, 8088)
        if a.status is not None:
            break
    return [a.status, str(a)]
print(json.dumps({m: ask(m) for m in ("manager1", "worker1", "worker2")}))
"""


@pytest.fixture(scope="module")
def learner(tmp_path_factory: pytest.TempPathFactory, host: docker.DockerClient) -> Iterator[dict[str, Any]]:
    images = [NODE_IMAGE, *OFFLINE.to_load, *OFFLINE.network_images]
    with rootless_learner("sll", tmp_path_factory.mktemp("rootless-lessons"), images) as who:
        yield who


def as_learner(who: dict[str, Any], *args: str, timeout: float = 3000) -> subprocess.CompletedProcess[str]:
    python, pythonpath = students_python()
    env = user_env(who["home"], DOCKER_HOST=who["url"], SWARMLAB_OFFLINE="1", SWARMLAB_LIVE="0")
    env["PYTHONPATH"] = pythonpath
    return subprocess.run([python, *args], user=who["uid"], group=who["uid"], extra_groups=[], env=env,
                          cwd=who["home"], capture_output=True, text=True, timeout=timeout)


def text_of(nb: nbformat.NotebookNode, cell_id: str) -> str:
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))


def test_lessons_beyond_the_lab_run_for_a_rootless_learner(learner: dict[str, Any]) -> None:
    out = learner["home"] / "ran"
    out.mkdir()
    os.chown(out, learner["uid"], learner["uid"])
    lab = nbtools.new_lab_name()
    done = as_learner(learner, "-c", DRIVER, str(nbtools.ROOT / "tests" / "notebooks"), str(out), lab,
                      *map(str, LESSONS))
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
        print("lesson times (rootless):", done.stdout.strip().splitlines()[-1])
        ran = {p.stem: nbformat.read(out / p.name, as_version=4) for p in LESSONS}
        for name, nb in ran.items():
            errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
            assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        assert text_of(ran["10-networks"], "check-reach").startswith("✓"), text_of(ran["10-networks"], "check-reach")
        if "11-publishing" in ran:
            said = text_of(ran["11-publishing"], "check-every_machine_answers")
            assert said.startswith("✓"), said
        # through the learner's engine: the machines are there, and the swarm in them
        theirs = rootless.client(learner["uid"])
        try:
            machines = {c.labels["io.swarmlab.machine"]: c
                        for c in theirs.containers.list(filters={"label": [f"io.swarmlab.lab={lab}"]})}
            assert sorted(machines) == ["manager1", "worker1", "worker2"]
            ls = exec_in(machines["manager1"], ["docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"])
            assert ls.code == 0, ls
            print("services:", json.dumps(ls.text.split("\n")[:-1]))
            tasks = {m: exec_in(c, ["docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name="
                                     "everywhere"]).text.split() for m, c in machines.items()}
        finally:
            theirs.close()
        # lab.http reaches the learner's own machines: each answers on 8088 by its own task of the
        # global service, as the machine's docker lists it (not some other address of this computer)
        asked = as_learner(learner, "-c", ASK, lab)
        assert asked.returncode == 0, asked.stderr[-3000:]
        answers = json.loads(asked.stdout.splitlines()[-1])
        for m, ids in tasks.items():
            assert len(ids) == 1 and answers[m][0] == 200, (m, ids, answers[m])
            assert re.findall(r"Hostname: (\w+)", answers[m][1]) == [ids[0][:12]], (m, ids, answers[m])
    finally:
        gone = as_learner(learner, "-c", f"import swarmlab as sl; sl.Lab({lab!r}, provider='dind').destroy()")
        assert gone.returncode == 0, gone.stderr[-2000:]
