"""The dashboard in a real browser: JupyterLab on 127.0.0.1 with a token, headless Debian
chromium driven by Playwright. A notebook makes a small lab and shows the dashboard; node
columns and task cards must appear, and change after a scale cell and after the dashboard's own
scale control is used. A screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from labtest import WEB_V1, labelled, unique_lab_name

import swarmlab as sl

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def notebook(lab_name: str) -> dict[str, Any]:
    def code(src: str) -> dict[str, Any]:
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                "source": src}

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
                 f"lab.service.create('web', {WEB_V1!r}, replicas=2)"),
            code("board = lab.dashboard(refresh=1)\nboard"),
            code("lab.service.scale(web=4)"),
        ],
    }


@pytest.fixture
def jupyter(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """JupyterLab on 127.0.0.1 only, with a token, a throwaway config and a notebook folder."""
    port, token = free_port(), secrets.token_hex(16)
    root = tmp_path / "nb"
    root.mkdir()
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "SWARMLAB_PROGRESS": "0",
        "SWARMLAB_LIVE": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(Path(sl.__file__).parent.parent),
                                                   env.get("PYTHONPATH", "")) if p),
    })
    log = open(tmp_path / "jupyter.log", "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
         f"--ServerApp.root_dir={root}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pass
        if proc.poll() is not None:
            pytest.fail("jupyter lab did not start:\n"
                        + (tmp_path / "jupyter.log").read_text()[-3000:])
        yield {"port": port, "token": token, "root": root, "log": tmp_path / "jupyter.log"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


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


def test_dashboard_in_jupyterlab(jupyter: dict[str, Any], lab_name: str) -> None:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), \
        "Debian chromium is missing: scripts/setup installs it (apt-get install chromium)"
    (jupyter["root"] / "dashboard.ipynb").write_text(json.dumps(notebook(lab_name)))
    ARTIFACTS.mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{jupyter['port']}/lab/tree/dashboard.ipynb?token={jupyter['token']}"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # the browser may talk to the loopback JupyterLab only
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith(f"http://127.0.0.1:{jupyter['port']}/")
                   or route.request.url.startswith(("data:", "blob:"))
                   else route.abort())
        try:
            page.goto(url)
            page.wait_for_function(
                "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                " const k = w && w.sessionContext && w.sessionContext.session"
                " && w.sessionContext.session.kernel; return k && k.status === 'idle'; }",
                timeout=60_000)

            def run_cell(i: int) -> None:
                # fire and forget: the command's promise does not resolve with the cell
                page.evaluate(
                    "(i) => { const nb = window.jupyterapp.shell.currentWidget.content;"
                    " nb.activeCellIndex = i;"
                    " window.jupyterapp.commands.execute('notebook:run-cell'); }", i)

            def cards(state: str = "running") -> Callable[[], int]:
                sel = f'.swarmlab-dashboard .swarmlab-task[data-service="web"][data-state="{state}"]'
                return lambda: page.locator(sel).count()

            def wait_cards(n: int, timeout: float) -> None:
                page.wait_for_function(
                    "(n) => document.querySelectorAll('.swarmlab-dashboard .swarmlab-task"
                    "[data-service=\"web\"][data-state=\"running\"]').length === n",
                    arg=n, timeout=timeout * 1000)

            run_cell(0)
            page.wait_for_function(
                "() => window.jupyterapp.shell.currentWidget.content.widgets[0].model"
                ".executionCount !== null", timeout=150_000)
            run_cell(1)
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
            run_cell(2)
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
            print(jupyter["log"].read_text()[-4000:])
            raise
        finally:
            browser.close()
