"""Running lessons in class order on a lab of their own and reading the swarm after each, as
the lessons tier does (tests/notebooks/test_lessons.py, test_lessons_after.py): after each
notebook the swarm is read directly through docker inside the manager machine's container
(not through swarmlab), and the outputs of its cells tagged ``nbval-check-output`` are
compared with its reference copy by nbval's own comparison (sanitize.cfg applied), so one
execution of each lesson is checked both ways. The executed notebooks are kept in
tests/artifacts/notebooks/ for a look after a failure."""

from __future__ import annotations

import copy
import json
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import nbformat
import nbtools
from labtest import destroy_and_check, exec_in, labelled
from nbval import plugin as nbval

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
    #: per lesson (first run): how many checked cells were compared, and where they differed
    checked: dict[str, int] = field(default_factory=dict)
    differences: dict[str, list[str]] = field(default_factory=dict)

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
    """``command``'s output in the machine (docker exec), every byte of it (:func:`exec_in`)."""
    said = exec_in(machine_container(host, lab, machine), ["sh", "-c", command])
    assert said.code == 0, f"{command} on {machine}: {said.text}"
    return said.text.strip()


def lines_json(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


#: the lessons whose point is the swarm moving tasks after the lesson's own steps (a lost
#: manager's or worker's tasks started elsewhere, a rebalance, a rack drained): their snapshot
#: may wait this long for the services to run the tasks they ask for. Every other lesson must
#: leave its services converged when its last cell returns: each step waits for what it asked.
SETTLE = {"08-quorum": 30.0, "09-self-healing": 30.0, "14-scale": 30.0}


def _converged(services: list[dict[str, Any]]) -> bool:
    counts = [str(s.get("Replicas", "")).split(" ")[0].split("/") for s in services]
    return all(len(c) == 2 and c[0] == c[1] for c in counts)


def _services(mgr: Any, settle: float) -> tuple[list[dict[str, Any]], float | None]:
    """``docker service ls``, read at once, and again for up to ``settle`` seconds until every
    service runs the tasks it asks for ("3/3"); with the seconds that took (None: never)."""
    start = time.monotonic()
    while True:
        services = lines_json(mgr("docker service ls --format '{{json .}}'"))
        waited = time.monotonic() - start
        if _converged(services):
            return services, waited
        if waited > settle:
            return services, None
        time.sleep(1)


def snapshot(host: docker.DockerClient, lab: str, settle: float = 0.0) -> dict[str, Any]:
    """The swarm as the engine sees it, read with docker inside the manager machine; where a
    swarm runs, with ``converged_after``, the seconds it took its services to run the tasks
    they ask for (about 0: they already did; None: not within ``settle`` seconds)."""
    snap: dict[str, Any] = {"labelled": labelled(host, lab)}
    if machine_container(host, lab, "manager1") is None:
        return snap
    mgr = lambda cmd: in_machine(host, lab, "manager1", cmd)  # noqa: E731
    snap["swarm"] = mgr("docker info --format '{{.Swarm.LocalNodeState}}'")
    if snap["swarm"] != "active":
        return snap
    snap["node_addr"] = mgr("docker info --format '{{.Swarm.NodeAddr}}'")
    snap["nodes"] = {n["Hostname"]: n for n in lines_json(mgr("docker node ls --format '{{json .}}'"))}
    services, snap["converged_after"] = _services(mgr, settle)
    snap["services"] = {s["Name"]: s for s in services}
    snap["tasks"] = {
        s["Name"]: lines_json(mgr(f"docker service ps {s['Name']} --filter desired-state=running "
                                  "--format '{{json .}}'"))
        for s in services
    }
    snap["inspect"] = {s["Name"]: json.loads(mgr(f"docker service inspect {s['Name']}"))[0]
                      for s in services}
    count = "docker ps -aq --filter label=com.docker.swarm.service.name=helloworld | wc -l"
    machines = ("manager1", "worker1", "worker2")
    snap["helloworld_containers"] = {m: in_machine(host, lab, m, count) for m in machines}
    return snap


def run_in_sequence(host: docker.DockerClient, paths: list[Path], *, timeout: int = 300) -> Iterator[Run]:
    """Execute lessons in class order on one lab of their own, each in RUN_TWICE twice, each
    cell given ``timeout`` seconds; each first run's checked outputs are compared with its
    reference copy (:func:`differences`). The lab is destroyed at the end, nothing left."""
    r = Run(nbtools.new_lab_name())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        for path in paths:
            t = time.monotonic()
            r.notebooks[path.stem] = nbtools.execute(path, ARTIFACTS / path.name, r.lab, timeout)
            r.seconds[path.stem] = time.monotonic() - t
            reference = nbformat.read(nbtools.reference_of(path), as_version=4)
            r.checked[path.stem], r.differences[path.stem] = differences(r.notebooks[path.stem], reference)
            r.engine[path.stem] = snapshot(host, r.lab, SETTLE.get(path.stem, 0.0))
            if path.stem in RUN_TWICE:  # a class runs a lesson again: same end state, no error
                again = f"{path.stem}-again"
                r.notebooks[again] = nbtools.execute(path, ARTIFACTS / f"{again}.ipynb", r.lab)
                r.engine[again] = snapshot(host, r.lab, SETTLE.get(path.stem, 0.0))
        print("lesson times: " + ", ".join(f"{k} {v:.0f} s" for k, v in r.seconds.items()))
        yield r
    finally:
        destroy_and_check(host, r.lab)


#: The classic lab (00 to 06) and what comes after it (07 on, which starts a lab of its own):
#: each part runs in sequence on a lab of its own, so the two parts can run side by side
#: (pytest-xdist: a group each).


def managers_up(engine: dict[str, Any]) -> list[str]:
    """The managers that ``docker node ls`` (in manager1) lists Ready and Leader or Reachable."""
    return sorted(h for h, n in engine["nodes"].items()
                  if n["ManagerStatus"] in ("Leader", "Reachable") and n["Status"] == "Ready")


def no_error_outputs(run: Run, paths: list[Path]) -> None:
    """Every lesson (and every second run) ran, with no error output, and left its swarm converged."""
    assert len(run.notebooks) == len(paths) + sum(1 for p in paths if p.stem in RUN_TWICE)
    for name, nb in run.notebooks.items():
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    # and each left its services running the tasks they ask for (lessons 08 and 09: soon after)
    late = {name: eng["services"] for name, eng in run.engine.items()
            if "services" in eng and eng["converged_after"] is None}
    assert not late, f"services not converged when the lesson ended: {late}"


def no_full_token(run: Run) -> None:
    for name, nb in run.notebooks.items():
        assert not FULL_TOKEN.search(nbformat.writes(nb)), f"{name} shows a full join token"


# -- nbval's comparison, on the one execution -------------------------------------------------
#: the output keys nbval leaves out of its comparison (nbval.plugin.IPyNbFile, nbdime off)
NBVAL_SKIPS = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
               "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")
SANITIZE = Path(__file__).with_name("sanitize.cfg")


class _NbvalCell:
    """What nbval's ``IPyNbCell.compare_outputs`` reads of its pytest item, so that its own
    comparison (streams coalesced, outputs keyed by MIME type, sanitize.cfg applied) judges
    the outputs of a papermill run: the lessons are executed once, and checked both ways."""

    compare_outputs = nbval.IPyNbCell.compare_outputs
    format_output_compare = nbval.IPyNbCell.format_output_compare
    sanitize = nbval.IPyNbCell.sanitize
    colors = nbval.nocolors

    def __init__(self) -> None:
        patterns = OrderedDict(nbval.get_sanitize_patterns(SANITIZE.read_text()))
        self.parent = type("File", (), {"skip_compare": NBVAL_SKIPS, "sanitize_patterns": patterns})()
        self.ihook = type("Hooks", (), {"pytest_assertrepr_compare": staticmethod(lambda **_: [])})()
        self.config = None
        self.comparison_traceback: list[str] = []


def differences(executed: nbformat.NotebookNode, reference: nbformat.NotebookNode) -> tuple[int, list[str]]:
    """How many cells tagged ``nbval-check-output`` the reference copy has, and, for each whose
    executed outputs differ from the copy's (as ``pytest --nbval-lax --nbval-sanitize-with
    sanitize.cfg`` judges them), the cell's id with nbval's account of the difference."""
    ran = {c.get("id"): c for c in executed.cells}
    found = []
    checked = [c for c in reference.cells if nbtools.CHECK_TAG in c.get("metadata", {}).get("tags", [])]
    for cell in checked:
        mine = ran.get(cell.get("id"))
        if mine is None or mine.get("execution_count") is None:
            found.append(f"cell {cell.get('id')}: not run")
            continue
        judge = _NbvalCell()
        ours = nbval.coalesce_streams(copy.deepcopy(mine.get("outputs", [])))
        theirs = nbval.coalesce_streams(copy.deepcopy(cell.get("outputs", [])))
        if not judge.compare_outputs(ours, theirs):
            found.append(f"cell {cell.get('id')}:\n" + "\n".join(judge.comparison_traceback))
    return len(checked), found


def same_as_reference(run: Run, paths: list[Path]) -> None:
    """Every lesson's checked cells carry outputs in its reference copy and the first run gave
    the same (what nbval over the reference copies asserts)."""
    assert sorted(run.checked) == sorted(p.stem for p in paths)
    assert sum(run.checked.values()) >= 5, run.checked  # checked cells to compare, as nbval had
    for path in paths:
        ref = nbformat.read(nbtools.reference_of(path), as_version=4)
        assert all(c.outputs for c in ref.cells if nbtools.CHECK_TAG in c.get("metadata", {}).get("tags", [])), \
            f"{path.name}: a checked cell of the reference copy has no output"
    differ = {k: v for k, v in run.differences.items() if v}
    assert not differ, "\n".join(f"{k}: {x}" for k, v in differ.items() for x in v)[-6000:]
