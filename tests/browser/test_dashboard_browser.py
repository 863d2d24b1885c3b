"""The dashboard in a real browser: JupyterLab on 127.0.0.1 with a token, headless Debian
chromium driven by Playwright. A notebook makes a small lab and shows the dashboard; node
columns and task cards must appear, and change after a scale cell and after the dashboard's own
scale control is used. A screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from jlab import JupyterLab, Lab, chromium, isolated_env
from labtest import WEB_V1, labelled, unique_lab_name

import swarmlab as sl

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def notebook(lab_name: str) -> dict[str, Any]:
    def code(src: str, cell_id: str) -> dict[str, Any]:
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                "source": src, "id": cell_id}

    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "cells": [
            code("import swarmlab as sl\n"
                 f"lab = sl.Lab({lab_name!r}, provider='dind', progress=False)\n"
                 "lab.machine.create('manager1', 'worker1')\n"
                 "lab.swarm.init('manager1')\n"
                 "lab.swarm.join('worker1')\n"
                 f"lab.image.load({WEB_V1!r})\n"
                 f"lab.service.create('web', {WEB_V1!r}, replicas=2)", "setup"),
            code("board = lab.dashboard(refresh=1)\nboard", "board"),
            code("lab.service.scale(web=4)", "scale"),
        ],
    }


@pytest.fixture
def jupyter(tmp_path: Path) -> Iterator[JupyterLab]:
    """JupyterLab on 127.0.0.1 only, with a token, a throwaway config and a notebook folder."""
    root = tmp_path / "nb"
    root.mkdir()
    server = JupyterLab(root, tmp_path, isolated_env(tmp_path, SWARMLAB_PROGRESS="0",
                                                     SWARMLAB_LIVE="1"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lab_name(host: docker.DockerClient) -> Iterator[str]:
    name = unique_lab_name("br")
    yield name
    sl.Lab(name, provider="dind", progress=False).destroy()
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


def engine_running(lab_name: str, service: str) -> int:
    lab = sl.Lab.attach(lab_name, provider="dind", progress=False)
    api = lab.manager_client().api
    return sum(1 for t in api.tasks(filters={"service": service, "desired-state": "running"})
               if t["Status"]["State"] == "running")


def test_dashboard_in_jupyterlab(jupyter: JupyterLab, lab_name: str) -> None:
    (jupyter.root / "dashboard.ipynb").write_text(json.dumps(notebook(lab_name)))
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium(1400, 1000) as page:
        lab = Lab(jupyter, page)
        try:
            lab.open("dashboard.ipynb")

            def wait_cards(n: int, timeout: float) -> None:
                page.wait_for_function(
                    "(n) => document.querySelectorAll('.swarmlab-dashboard .swarmlab-task"
                    "[data-service=\"web\"][data-state=\"running\"]').length === n",
                    arg=n, timeout=timeout * 1000)

            lab.run("setup", timeout=150)
            lab.run("board")
            # a column per node, a card per task
            page.wait_for_selector(".swarmlab-dashboard .swarmlab-node[data-node='worker1']",
                                   timeout=60_000)
            nodes = page.locator(".swarmlab-dashboard .swarmlab-node").evaluate_all(
                "els => els.map(e => [e.dataset.node, e.dataset.role, e.dataset.status])")
            assert nodes == [["manager1", "leader", "ready"], ["worker1", "worker", "ready"]]
            wait_cards(2, 30)
            assert engine_running(lab_name, "web") == 2
            page.screenshot(path=str(ARTIFACTS / "dashboard-before-scale.png"))

            # the learner's next cell scales; the picture follows by itself
            lab.run("scale")
            wait_cards(4, 60)
            assert engine_running(lab_name, "web") == 4
            assert "web.4" in page.locator(".swarmlab-dashboard .swarmlab-nodes").inner_text()
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # the dashboard's own control: choose web, 1 replica, click scale
            page.locator(".swarmlab-dashboard select").first.select_option("web")
            replicas = page.locator(".swarmlab-dashboard .swarmlab-replicas input")
            replicas.fill("1")
            replicas.press("Enter")
            page.locator(".swarmlab-dashboard button.swarmlab-scale").click()
            page.wait_for_selector(".swarmlab-dashboard-log :text('docker service scale web=1')",
                                   timeout=30_000)
            wait_cards(1, 60)
            assert engine_running(lab_name, "web") == 1
            page.screenshot(path=str(ARTIFACTS / "dashboard-after-control.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "dashboard-failure.png"), full_page=True)
            print(jupyter.log_text()[-4000:])
            raise
