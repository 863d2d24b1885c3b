"""The teacher's one command, `scripts/run-lessons --provider virtualbox`, runs the lessons
through the virtualbox provider (here against the docker-machine stand-in, whose "VMs" are
real TLS Docker-in-Docker engines), and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import docker
import pytest
from labtest import labelled, unique_lab_name

from swarmlab.lessons import LESSONS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


#: the classic lab, then 07 (starting a lab of its own), each on a lab of its own. 07 drives every failure verb through
#: docker-machine (kill, start, demote, promote); 08 and 09 use the same verbs again, and rm
#: and create, which the classic part drives: they run on dind only (tests/notebooks).
PARTS = {"classic": [lesson.name for lesson in LESSONS if lesson.name < "07"],
         "after": ["07-high-availability"]}


@pytest.mark.parametrize("part", PARTS)
def test_the_lessons_run_on_the_virtualbox_provider(part: str, standin: Path, host: docker.DockerClient,
                                                     tmp_path: Path) -> None:
    lab = unique_lab_name("vbl")
    done = subprocess.run(
        [str(ROOT / "scripts" / "run-lessons"), "--provider", "virtualbox", "--offline",
         "--update-delay", "1s", "--lab", lab, "--out", str(tmp_path), "--lessons", ",".join(PARTS[part])],
        capture_output=True, text=True, env=dict(os.environ), timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{', '.join(PARTS[part])} ran on provider 'virtualbox'" in done.stdout
    ran = sorted(p.stem for p in tmp_path.glob("*.ipynb"))
    assert ran == PARTS[part]
    # the machines were docker-machine's: the stand-in was asked to create and remove them
    log = (standin / "commands.jsonl").read_text()
    assert '"create"' in log and '"rm"' in log
    assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}
    # no "VM" of this storage is left (other runs on the same engine have storages of their own)
    storage = f"io.swarmlab.standin.storage={standin / 'storage'}"
    assert not host.containers.list(all=True, filters={"label": storage})
