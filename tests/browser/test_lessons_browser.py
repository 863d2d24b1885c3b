"""The lessons as a learner meets them: JupyterLab on 127.0.0.1, headless Debian chromium driven
by Playwright, the real lesson notebooks (copies whose parameters cell names a lab of the
test's own and the offline images) on real Docker-in-Docker swarms.

What is checked is what is on screen: computed styles, sizes and colours in the page, outputs
as JupyterLab shows them, after Run All, after save and reload, in the light and dark themes.
The tests run in file order and share one JupyterLab, one browser page and one lab, as one
learner's first hour does. Screenshots are kept in tests/artifacts/browser/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from jlab import JupyterLab, Lab, chromium, isolated_env, lesson_copy
from labtest import labelled, unique_lab_name

import swarmlab as sl

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LESSONS = ROOT / "notebooks"
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
VIEWS = ".swarmlab-result, .swarmlab-dash, .swarmlab-rollout, .swarmlab-check, .swarmlab-dashboard"


@pytest.fixture(scope="module")
def lab_name(host: docker.DockerClient) -> Iterator[str]:
    name = unique_lab_name("brl")
    yield name
    sl.Lab(name, provider="dind", progress=False).destroy()
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lab_name: str) -> Iterator[JupyterLab]:
    tmp = tmp_path_factory.mktemp("jlab")
    root = tmp / "lessons"
    root.mkdir()
    for src in sorted(LESSONS.glob("[0-9][0-9]-*.ipynb")):
        lesson_copy(src, root / src.name, lab_name=lab_name, offline=True, update_delay="1s")
    env = isolated_env(tmp, SWARMLAB_PROGRESS="1", SWARMLAB_LIVE="1")
    env.pop("SWARMLAB_TRACEBACK", None)
    jl = JupyterLab(root, tmp, env)
    jl.start()
    yield jl
    jl.stop()


@pytest.fixture(scope="module")
def lab(server: JupyterLab) -> Iterator[Lab]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium(1280, 900) as page:
        yield Lab(server, page)


@pytest.fixture(autouse=True)
def screenshot_on_failure(request: pytest.FixtureRequest, lab: Lab) -> Iterator[None]:
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        lab.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failure.png"), full_page=True)
        print(lab.server.log_text()[-3000:])


def shown(lab: Lab) -> dict[str, Any]:
    """What the open notebook shows under its cells."""
    return lab.js(
        "const outs = Array.from(nb.node.querySelectorAll('.jp-OutputArea-output'));"
        " return {outputs: outs.length, text: outs.map(o => o.innerText).join('\\n'),"
        " prompts: Array.from(nb.node.querySelectorAll('.jp-InputPrompt'))"
        ".map(p => p.innerText.trim()).filter(t => /\\d/.test(t))};")


def test_a_fresh_lesson_shows_no_result_it_did_not_produce(lab: Lab) -> None:
    for path in sorted(LESSONS.glob("[0-9][0-9]-*.ipynb")):
        lab.open(path.name, kernel=False)
        assert lab.js("return nb.content.widgets.length;") > 5
        seen = shown(lab)
        assert seen["outputs"] == 0, f"{path.name} opens with outputs: {seen['text'][:300]}"
        assert seen["prompts"] == [], f"{path.name} opens with execution counts {seen['prompts']}"
        text = lab.js("return nb.node.innerText;")
        assert "✓" not in text and "✗" not in text
    lab.page.screenshot(path=str(ARTIFACTS / "fresh-lesson.png"))
    lab.shutdown_kernels()
