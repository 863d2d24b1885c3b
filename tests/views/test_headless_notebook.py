"""Run headless (as papermill, nbconvert and nbval do), the dashboard and the rollout view leave
readable static pictures in the notebook, not empty widget placeholders."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import docker
import nbformat
import pytest
from labtest import WEB_V1, WEB_V2, labelled, unique_lab_name
from nbclient import NotebookClient

import swarmlab as sl
from swarmlab.lessons.kernel import KERNEL_MANAGER

pytestmark = pytest.mark.integration


@pytest.fixture
def lab_name(host: docker.DockerClient) -> Iterator[str]:
    name = unique_lab_name("nb")
    yield name
    sl.Lab(name, provider="dind", progress=False).destroy()
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


def test_static_pictures_in_an_executed_notebook(lab_name: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import swarmlab as sl\n"
            f"lab = sl.Lab({lab_name!r}, provider='dind', progress=False)\n"
            "lab.machine.create('manager1')\n"
            "lab.swarm.init('manager1')\n"
            f"lab.image.load({WEB_V1!r}, {WEB_V2!r})\n"
            f"lab.service.create('web', {WEB_V1!r}, replicas=2)"),
        nbformat.v4.new_code_cell("lab.dashboard(live=False)"),
        nbformat.v4.new_code_cell(
            "lab.progress = True\n"
            f"r = lab.service.update('web', image={WEB_V2!r})"),
        nbformat.v4.new_code_cell("lab.destroy()"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    NotebookClient(nb, timeout=180, kernel_name="python3", kernel_manager_class=KERNEL_MANAGER).execute()

    board = nb.cells[1].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in board  # JupyterLab: the live widget
    assert board["text/plain"] == f"<swarmlab dashboard of lab {lab_name!r}>"
    snap = board["text/html"]  # everyone else: the picture, with its text fallback
    assert 'data-node="manager1"' in snap
    assert snap.count('data-service="web"') == 2
    assert "manager1  [leader, active, ready]" in html.unescape(snap)

    rollout: list[dict[str, Any]] = [o for o in nb.cells[2].outputs
                                     if "text/html" in o.get("data", {})]
    assert len(rollout) == 1, "one rollout view, updated in place"
    view = rollout[0]["data"]["text/html"]
    assert 'data-state="completed"' in view and 'data-new="2"' in view
    assert "<svg" in view and view.count("<polyline") == 2
    assert "2/2 tasks on the new image, completed" in rollout[0]["data"]["text/plain"]
