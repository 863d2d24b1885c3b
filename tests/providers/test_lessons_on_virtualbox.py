"""The teacher's one command, `scripts/run-lessons --provider virtualbox`, runs the lessons
through the virtualbox provider (here against the docker-machine stand-in, whose "VMs" are
real TLS Docker-in-Docker engines), and leaves nothing behind. The run ends with the lab
removed (the runner has no option to keep it), so the swarm is read where the lessons printed
it: the executed notebooks, and the stand-in's log of what each "VM" was asked."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import docker
import nbformat
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


#: per part, the check cells of its lessons, in order: each exercise's check (``check-*``, right
#: under its blank cell) and 00's check of the computer
CHECKS = {"classic": ["setup-check", "check-scale", "check-rollback", "check-drain", "check-clean"],
          "after": ["check-survives_one_manager_loss"]}
#: per part, the cell that shows the swarm's nodes as an engine listed them ("docker node ls"), what
#: it must list (hostname: status, availability, manager status; None: see the test), and the
#: command a "VM" of the stand-in must have been asked by ``docker-machine ssh`` in that part (on
#: one of the machines named): the classic lab's table is the docker CLI's own in manager1;
#: lesson 07's check reads the managers with the CLI too, its table is the one after the killed
#: leader is back.
SWARM = {
    "classic": ("02-swarm", "node-ls-cli", {"manager1": ("Ready", "Active", "Leader"),
                                            "worker1": ("Ready", "Active", ""), "worker2": ("Ready", "Active", "")},
                ("manager1",), "docker node ls"),
    "after": ("07-high-availability", "start-old", None, ("manager1", "manager2", "manager3"),
              "docker node ls --format '{{json .}}'"),
}


def cell_text(cell: nbformat.NotebookNode) -> str:
    """What the learner sees in a cell's output, as text (streams and the text of results)."""
    return "\n".join(o["text"] if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain", "")
                     for o in cell.get("outputs", []))


def node_table(text: str) -> dict[str, tuple[str, str, str]]:
    """The rows of a ``docker node ls`` table: hostname -> status, availability, manager status."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["ID", "HOSTNAME"])
    rows = {}
    for line in lines[head + 1:]:
        words = [w for w in line.split() if w != "*"]
        manager = words[4] if len(words) > 5 else ""
        rows[words[1]] = (words[2], words[3], manager)
    return rows


def checks_passed(notebooks: dict[str, nbformat.NotebookNode]) -> list[str]:
    """No cell of an executed lesson has an error output, and every check cell (``check-*``:
    the exercise's check, right under its blank cell; 00's ``setup-check``) shows its pass
    line ("✓ TITLE: done.", no ✗): a check reports, it never raises. Returns their ids."""
    seen = []
    for name, nb in notebooks.items():
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        for cell in nb.cells:
            if cell.get("id", "").startswith("check-") or cell.get("id") == "setup-check":
                text = cell_text(cell)
                head = text.splitlines()[0] if text else ""
                assert head.startswith("✓ ") and head.endswith(": done.") and "✗" not in text, (name, cell.id, text)
                seen.append(cell.id)
    return seen


def swarm_as_printed(part: str, notebooks: dict[str, nbformat.NotebookNode], entries: list[dict]) -> None:
    """The swarm as an engine of the stand-in's "VMs" listed it in the part's lessons (:data:`SWARM`),
    and the stand-in's log of the part (``entries``) has the ``docker-machine ssh`` that read it."""
    lesson, cell_id, nodes, machines, command = SWARM[part]
    (cell,) = [c for c in notebooks[lesson].cells if c.get("id") == cell_id]
    table = node_table(cell_text(cell))
    if nodes is not None:
        assert table == nodes, cell_text(cell)
    else:  # the lab's three managers, the old leader back among them, and two workers
        assert {h: s[:2] for h, s in table.items()} == {
            h: ("Ready", "Active") for h in ("manager1", "manager2", "manager3", "worker1", "worker2")}, table
        assert sorted(table[h][2] for h in ("manager1", "manager2", "manager3")) == [
            "Leader", "Reachable", "Reachable"], table
    ssh = [e["argv"] for e in entries if e.get("argv", [""])[0] == "ssh"]
    assert any(a[1:] == [m, command] for a in ssh for m in machines), ssh


@pytest.mark.parametrize("part", PARTS)
def test_the_lessons_run_on_the_virtualbox_provider(part: str, standin: Path, host: docker.DockerClient,
                                                     tmp_path: Path) -> None:
    lab = unique_lab_name("vbl")
    log_file = standin / "commands.jsonl"
    logged_before = len(log_file.read_text().splitlines()) if log_file.exists() else 0
    done = subprocess.run(
        [str(ROOT / "scripts" / "run-lessons"), "--provider", "virtualbox", "--offline",
         "--update-delay", "1s", "--lab", lab, "--out", str(tmp_path), "--lessons", ",".join(PARTS[part])],
        capture_output=True, text=True, env=dict(os.environ), timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{', '.join(PARTS[part])} ran on provider 'virtualbox'" in done.stdout
    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in sorted(tmp_path.glob("*.ipynb"))}
    assert list(notebooks) == PARTS[part]
    # every check passed, as the notebooks show it (the run's exit code says only that no cell raised)
    assert checks_passed(notebooks) == CHECKS[part]
    entries = [json.loads(line) for line in log_file.read_text().splitlines()[logged_before:]]
    swarm_as_printed(part, notebooks, entries)
    # the machines were docker-machine's: the stand-in was asked to create and remove them
    assert {"create", "rm"} <= {e["argv"][0] for e in entries if e.get("argv")}
    assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}
    # no "VM" of this storage is left (other runs on the same engine have storages of their own)
    storage = f"io.swarmlab.standin.storage={standin / 'storage'}"
    assert not host.containers.list(all=True, filters={"label": storage})
