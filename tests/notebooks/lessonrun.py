"""Running lessons in class order on a lab of their own and reading the swarm after each, as
the lessons tier does (tests/notebooks/test_lessons.py, test_lessons_after.py): after each
notebook the swarm is read directly through docker inside the manager machine's container
(not through swarmlab). The executed notebooks are kept in tests/artifacts/notebooks/ for a
look after a failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import nbformat
import nbtools
from labtest import destroy_and_check, labelled

import swarmlab as sl

ARTIFACTS = nbtools.ROOT / "tests" / "artifacts" / "notebooks"
#: lessons run a second time straight after the first (the ones whose steps find what exists)
RUN_TWICE = ("02-swarm", "04-rolling-update", "06-cleanup", "08-quorum", "09-self-healing", "10-networks",
             "11-publishing", "12-stacks", "13-secrets")
FULL_TOKEN = re.compile(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}")


@dataclass
class Run:
    lab: str
    notebooks: dict[str, nbformat.NotebookNode] = field(default_factory=dict)
    engine: dict[str, dict[str, Any]] = field(default_factory=dict)  # after each notebook
    seconds: dict[str, float] = field(default_factory=dict)

    def cell(self, notebook: str, cell_id: str) -> nbformat.NotebookNode:
        for c in self.notebooks[notebook].cells:
            if c.get("id") == cell_id:
                return c
        raise AssertionError(f"{notebook} has no cell {cell_id!r}")

    def text(self, notebook: str, cell_id: str) -> str:
        """What the learner sees in a cell's output, as text."""
        parts = []
        for o in self.cell(notebook, cell_id).get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o["text"])
            elif "data" in o:
                parts.append(o["data"].get("text/plain", ""))
        return "\n".join(parts)


def machine_container(host: docker.DockerClient, lab: str, machine: str) -> Any:
    """The container of a lab's machine, found by its labels (as swarmlab finds it)."""
    found = host.containers.list(filters={"label": [f"io.swarmlab.lab={lab}",
                                                     f"io.swarmlab.machine={machine}"]})
    return found[0] if found else None


def in_machine(host: docker.DockerClient, lab: str, machine: str, command: str) -> str:
    code, out = machine_container(host, lab, machine).exec_run(["sh", "-c", command])
    assert code == 0, f"{command} on {machine}: {out.decode()}"
    return out.decode().strip()


def lines_json(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


#: how long a snapshot waits for the services to reach the tasks they ask for
SETTLE = 120.0


def _settled(mgr: Any) -> list[dict[str, Any]]:
    """``docker service ls`` once every service runs the tasks it asks for ("3/3"), or after
    :data:`SETTLE` seconds as it is then. A lesson ends when its last cell does; a task the
    swarm moves after that (a node that missed heartbeats on a loaded computer, tasks of a
    lost manager rescheduled) is part of the state the lesson leaves, reached moments later."""
    import time

    deadline = time.monotonic() + SETTLE
    while True:
        services = lines_json(mgr("docker service ls --format '{{json .}}'"))
        counts = [str(s.get("Replicas", "")).split(" ")[0].split("/") for s in services]
        if all(len(c) == 2 and c[0] == c[1] for c in counts) or time.monotonic() > deadline:
            return services
        time.sleep(1)


def snapshot(host: docker.DockerClient, lab: str) -> dict[str, Any]:
    """The swarm as the engine sees it, read with docker inside the manager machine, once its
    services have settled (:func:`_settled`)."""
    snap: dict[str, Any] = {"labelled": labelled(host, lab)}
    if machine_container(host, lab, "manager1") is None:
        return snap
    mgr = lambda cmd: in_machine(host, lab, "manager1", cmd)  # noqa: E731
    snap["swarm"] = mgr("docker info --format '{{.Swarm.LocalNodeState}}'")
    if snap["swarm"] != "active":
        return snap
    snap["node_addr"] = mgr("docker info --format '{{.Swarm.NodeAddr}}'")
    snap["nodes"] = {n["Hostname"]: n for n in lines_json(mgr("docker node ls --format '{{json .}}'"))}
    services = _settled(mgr)
    snap["services"] = {s["Name"]: s for s in services}
    snap["tasks"] = {
        s["Name"]: lines_json(mgr(f"docker service ps {s['Name']} --filter desired-state=running "
                                  "--format '{{json .}}'"))
        for s in services
    }
    snap["inspect"] = {s["Name"]: json.loads(mgr(f"docker service inspect {s['Name']}"))[0] for s in services}
    count = "docker ps -aq --filter label=com.docker.swarm.service.name=helloworld | wc -l"
    machines = ("manager1", "worker1", "worker2")
    snap["helloworld_containers"] = {m: in_machine(host, lab, m, count) for m in machines}
    return snap


def run_in_sequence(host: docker.DockerClient, paths: list[Path]) -> Iterator[Run]:
    """Execute lessons in class order on one lab of their own, each in RUN_TWICE twice."""
    r = Run(nbtools.new_lab_name())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        for path in paths:
            t = time.monotonic()
            r.notebooks[path.stem] = nbtools.execute(path, ARTIFACTS / path.name, r.lab)
            r.seconds[path.stem] = time.monotonic() - t
            r.engine[path.stem] = snapshot(host, r.lab)
            if path.stem in RUN_TWICE:  # a class runs a lesson again: same end state, no error
                again = f"{path.stem}-again"
                r.notebooks[again] = nbtools.execute(path, ARTIFACTS / f"{again}.ipynb", r.lab)
                r.engine[again] = snapshot(host, r.lab)
        print("lesson times: " + ", ".join(f"{k} {v:.0f} s" for k, v in r.seconds.items()))
        yield r
    finally:
        sl.Lab(r.lab, provider="dind", progress=False).destroy()
        assert labelled(host, r.lab) == {"containers": 0, "volumes": 0, "networks": 0}


#: The classic lab (00 to 06) and what comes after it (07 on, which starts a lab of its own):
#: each part runs in sequence on a lab of its own, so the two parts can run side by side
#: (pytest-xdist: a group each).


def managers_up(engine: dict[str, Any]) -> list[str]:
    """The managers that ``docker node ls`` (in manager1) lists Ready and Leader or Reachable."""
    return sorted(h for h, n in engine["nodes"].items()
                  if n["ManagerStatus"] in ("Leader", "Reachable") and n["Status"] == "Ready")


def no_error_outputs(run: Run, paths: list[Path]) -> None:
    """Every lesson (and every second run) ran, with no error output."""
    assert len(run.notebooks) == len(paths) + sum(1 for p in paths if p.stem in RUN_TWICE)
    for name, nb in run.notebooks.items():
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


def no_full_token(run: Run) -> None:
    for name, nb in run.notebooks.items():
        assert not FULL_TOKEN.search(nbformat.writes(nb)), f"{name} shows a full join token"


# -- nbval over reference copies (test_nbval.py, test_nbval_after.py) ---------------------------
SANITIZE = Path(__file__).with_name("sanitize.cfg")


def nbval(paths: list[Path], cwd: Path, cell_timeout: int = 300) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
           f"--nbval-cell-timeout={cell_timeout}", f"--nbval-sanitize-with={SANITIZE}", "-p", "no:cacheprovider",
           "-p", "no:randomly", "-q", "-rA", f"--rootdir={cwd}", *map(str, paths)]
    env = {**os.environ, "SWARMLAB_PROGRESS": "0"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200 + 3 * cell_timeout)


def checked_cells(path: Path) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if nbtools.CHECK_TAG in c.get("metadata", {}).get("tags", [])]


def nbval_in_sequence(paths: list[Path], host: docker.DockerClient, tmp_path: Path, *,
                      cell_timeout: int = 300, before_destroy: Callable[[str], None] | None = None) -> None:
    """nbval over the reference copies of these lessons, in order, on one lab of their own;
    ``before_destroy(lab)`` reads that lab after nbval, before it is removed."""
    lab = nbtools.new_lab_name()
    for folder in (p for p in nbtools.NOTEBOOK_DIR.iterdir() if p.is_dir() and not p.name.startswith(".")):
        shutil.copytree(folder, tmp_path / folder.name)  # the lessons' own files (app/), beside them
    copies = []
    for path in paths:
        nbtools.prepare(path, tmp_path / path.name, lab)
        copies.append(tmp_path / path.name)
    checked = [c for p in copies for c in checked_cells(p)]
    assert len(checked) >= 5 and all(c.outputs for c in checked), "checked cells must carry outputs"
    try:
        result = nbval(copies, tmp_path, cell_timeout)
        if before_destroy is not None and result.returncode == 0:
            before_destroy(lab)
    finally:
        destroy_and_check(host, lab)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " failed" not in result.stdout and " passed" in result.stdout
