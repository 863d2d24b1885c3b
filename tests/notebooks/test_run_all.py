"""Run All does not spoil an exercise. Each lesson with an exercise runs as a learner's Run All
does (every cell, answer keys off) on a real DinD swarm; then, in the same kernel, the hint the
check printed is typed into the exercise's empty cell and run, and the check runs again: it
must now pass. So after Run All every exercise can still be done, and each hint is a step that
works from the state the lesson left."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import nbformat
import nbtools
import pytest
from labtest import labelled
from nbclient import NotebookClient
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

import swarmlab as sl
from swarmlab.lessons.kernel import KERNEL_MANAGER

pytestmark = pytest.mark.integration

#: 14 (scale) is not run here at 50 machines a second time: its check is the lesson's last code
#: cell (test_committed), and its hint is run as typed on a small swarm (test_exercises)
WITH_EXERCISES = ("03-services", "04-rolling-update", "05-drain", "08-quorum", "09-self-healing", "10-networks",
                  "11-publishing", "12-stacks", "13-secrets")


def shown(cell: nbformat.NotebookNode) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(o["text"])
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
        elif o.get("output_type") == "error":
            parts.append(f"{o['ename']}: {o['evalue']}")
    return "\n".join(parts)


def hint_of(check_text: str) -> str:
    lines = [line.strip() for line in check_text.splitlines() if line.strip().startswith("hint: ")]
    assert len(lines) == 1, check_text
    return lines[0].removeprefix("hint: ")


@pytest.fixture(scope="module")
def lab_names(host: docker.DockerClient) -> Iterator[dict[str, str]]:
    """One lab for the lessons of the lab and after it (03 to 09), one for those beyond it
    (10 on), as the lessons tiers run them: each part in order on a lab of its own."""
    names = {"lab": nbtools.new_lab_name(), "beyond": nbtools.new_lab_name()}
    yield names
    for name in names.values():
        sl.Lab(name, provider="dind", progress=False).destroy()
        assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


@pytest.mark.parametrize("lesson", WITH_EXERCISES)
def test_after_run_all_the_exercise_can_still_be_done(lesson: str, lab_names: dict[str, str]) -> None:
    lab_name = lab_names["beyond" if lesson >= "10" else "lab"]
    path = nbtools.NOTEBOOK_DIR / f"{lesson}.ipynb"
    nb = parameterize_notebook(load_notebook_node(str(path)),
                               nbtools.parameters_for(path, lab_name, solve=False))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", kernel_manager_class=KERNEL_MANAGER,
                            resources={"metadata": {"path": str(nbtools.NOTEBOOK_DIR)}})
    ids = [c.get("id", "") for c in nb.cells]
    exercise = next(i for i, c in enumerate(ids) if c.startswith("exercise-"))
    check = exercise + 1
    results: dict[str, Any] = {}
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):  # Run All: every cell, in order, errors stop it
            client.execute_cell(cell, i)
        results["after run all"] = shown(nb.cells[check])
        hint = hint_of(results["after run all"])
        assert hint.startswith("lab."), f"{lesson}: the hint is not a step to run: {hint}"
        nb.cells[exercise].source = hint  # what the learner types
        client.execute_cell(nb.cells[exercise], exercise)
        client.execute_cell(nb.cells[check], check)
        results["after the hint"] = shown(nb.cells[check])
    assert results["after run all"].startswith("✗ "), results
    assert results["after the hint"].startswith("✓ "), results
