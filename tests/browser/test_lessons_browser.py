"""The lessons as a learner meets them: JupyterLab on 127.0.0.1, headless Debian chromium driven
by Playwright, the real lesson notebooks (copies whose parameters cell names a lab of the
test's own and the offline images) on real Docker-in-Docker swarms.

What is checked is what is on screen: computed styles, sizes and colours in the page, outputs
as JupyterLab shows them, after Run All, after save and reload, in the light and dark themes.
The tests run in file order and share one JupyterLab, one browser page and one lab, as one
learner's first hour does. Screenshots are kept in tests/artifacts/browser/.
"""

from __future__ import annotations

import re
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
        assert lab.js("return nb.content.widgets.filter(c => c.model.type === 'code'"
                      " && (c.model.outputs.length || c.model.executionCount !== null)).length;") == 0
        assert seen["text"] == ""
    lab.page.screenshot(path=str(ARTIFACTS / "fresh-lesson.png"))
    lab.shutdown_kernels()


def bad_contrast(lab: Lab) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every text in swarmlab's views with its contrast; and those under WCAG AA (4.5:1)."""
    seen = lab.contrast(VIEWS)
    return seen, [s for s in seen if s["ratio"] < 4.5]


def fits(lab: Lab) -> list[dict[str, Any]]:
    """Output areas holding a swarmlab table, with their widths (content and visible)."""
    return list(lab.js(
        "return Array.from(nb.node.querySelectorAll('.jp-OutputArea-output'))"
        ".filter(o => o.querySelector('.swarmlab-table')).map(o => ({scroll: o.scrollWidth,"
        " client: o.clientWidth, text: o.innerText.slice(0, 60)}));"))


def test_tables_read_left_aligned_and_fit_at_1280px(lab: Lab) -> None:
    lab.open("01-machines.ipynb")
    lab.run_all()
    assert lab.errors() == []
    assert lab.page.viewport_size["width"] == 1280
    cells = lab.style(".jp-OutputArea-output .swarmlab-table td, .jp-OutputArea-output .swarmlab-table th",
                      "text-align", "white-space")
    assert len(cells) > 16
    assert {c["text-align"] for c in cells} == {"left"}
    # JupyterLab's own rule is live: a plain table in an output is right-aligned
    plain = lab.add_cell("from IPython.display import HTML\n"
                         "HTML('<table class=\"plain\"><tr><th>A</th><td>b</td></tr></table>')")
    lab.run(plain)
    assert {c["text-align"] for c in lab.style("table.plain td, table.plain th", "text-align")} == {"right"}
    # docker-machine ls fits: the long socket URL is shortened, the whole of it on hover
    wide = fits(lab)
    assert wide and all(w["scroll"] <= w["client"] for w in wide), wide
    urls = lab.js("return Array.from(nb.node.querySelectorAll('.swarmlab-table td[title]'))"
                  ".map(td => [td.innerText, td.title]);")
    assert urls, "no shortened cell: the socket URL should be one"
    for shown_text, whole in urls:
        assert whole.startswith("unix://") and whole.endswith("/docker.sock"), whole
        assert shown_text.endswith("/docker.sock") and "…" in shown_text and len(shown_text) < len(whole)
    lab.page.screenshot(path=str(ARTIFACTS / "machine-ls-1280.png"), full_page=True)


def test_a_typo_shows_its_message_alone(lab: Lab) -> None:
    """In 01's kernel: a SwarmlabError shows as one line; %tb, %xmode verbose give it all."""
    typo = lab.add_cell('sl.Lab(lab_name, provider="dnd")')
    lab.run(typo)
    (error,) = lab.errors()
    assert error["ename"] == "UnknownProvider" and error["cell"] == typo  # still an error
    text = lab.output_text(typo)
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].startswith("UnknownProvider: ") and "dnd" in lines[0], text
    assert len(lines) <= 3 and "Traceback" not in text and ".py" not in text, text
    tb = lab.add_cell("%tb")
    lab.run(tb)
    assert "Traceback" in lab.output_text(tb) and "providers" in lab.output_text(tb)
    lab.set_source(typo, '%xmode verbose\nsl.Lab(lab_name, provider="dnd")')
    lab.run(typo)
    assert "Traceback" in lab.output_text(typo) and "UnknownProvider" in lab.output_text(typo)
    lab.set_source(typo, "%xmode context")
    lab.run(typo)


def test_lesson_03_run_all_then_the_exercise(lab: Lab) -> None:
    lab.open("03-services.ipynb")
    lab.run_all()
    assert lab.errors() == []
    check = lab.output_text("check-scale")
    assert check.startswith("✗ scale helloworld to 3: not yet."), check
    hint = next(line for line in check.splitlines() if line.strip().startswith("hint: "))
    assert "lab.service.scale(helloworld=3)" in hint
    lab.set_source("exercise-scale", hint.strip().removeprefix("hint: "))
    lab.run("exercise-scale")
    lab.run("check-scale")
    assert lab.output_text("check-scale").startswith("✓ scale helloworld to 3: done.")
    wide = fits(lab)  # docker service ps too: its CURRENT STATE wraps rather than overflow
    assert len(wide) >= 4 and all(w["scroll"] <= w["client"] for w in wide), wide
    lab.page.wait_for_function(
        "() => document.querySelectorAll('.swarmlab-dashboard .swarmlab-task"
        "[data-service=\"helloworld\"][data-state=\"running\"]').length === 3", timeout=60_000)
    lab.page.screenshot(path=str(ARTIFACTS / "lesson-03.png"), full_page=True)


def styles_apply(lab: Lab) -> None:
    """The views look as they did live: their stylesheets apply (JupyterLab drops them from
    untrusted outputs)."""
    lab.page.wait_for_selector(".swarmlab-dashboard .swarmlab-node", timeout=60_000)
    gaps = lab.page.evaluate(
        "() => Array.from(document.querySelectorAll('.swarmlab-dashboard .swarmlab-badges')).map(b =>"
        " Array.from(b.querySelectorAll('.swarmlab-badge')).map(x => x.getBoundingClientRect())"
        ".map((r, i, all) => i ? r.left - all[i - 1].right : null).slice(1))")
    assert gaps and all(g >= 2 for row in gaps for g in row), f"badges not separated: {gaps}"
    nodes = lab.style(".swarmlab-dashboard .swarmlab-node", "display")
    board = lab.style(".swarmlab-dashboard", "display")[0]
    assert nodes and all(n["width"] <= 212 for n in nodes), nodes
    assert all(n["width"] < board["width"] / 2 for n in nodes)
    assert lab.style(".swarmlab-dashboard .swarmlab-fallback", "display")[0]["display"] == "none"
    tds = lab.style(".swarmlab-result .swarmlab-table td", "text-align")
    assert tds and {t["text-align"] for t in tds} == {"left"}
    assert all(lab.trusted())


def test_views_look_the_same_after_save_and_reload(lab: Lab) -> None:
    styles_apply(lab)
    lab.save()
    lab.reload()
    lab.page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.context.path === '03-services.ipynb'")
    styles_apply(lab)  # the dashboard (its kernel still runs) and every table, styled
    status = lab.page.locator(".swarmlab-dashboard-status").inner_text()
    assert "live" in status and "updated at" in status, status
    lab.page.screenshot(path=str(ARTIFACTS / "lesson-03-reloaded.png"), full_page=True)


def test_the_dashboard_says_when_it_updated_and_shows_whole_placeholders(lab: Lab) -> None:
    status = lab.page.locator(".swarmlab-dashboard-status").inner_text()
    assert re.search(r"updated at \d\d:\d\d:\d\d", status), status  # a clock time, not "last 00:03:14"
    lab.page.locator(".swarmlab-dashboard select").first.select_option("helloworld")
    lab.page.wait_for_function(
        "() => (document.querySelector('.swarmlab-dashboard .swarmlab-image-now') || {}).innerText"
        " === 'helloworld runs swarmlab/busybox:latest'", timeout=10_000)
    box = lab.page.locator(".swarmlab-dashboard .swarmlab-image input")
    room = box.evaluate(
        "i => { const cs = getComputedStyle(i); const c = document.createElement('canvas').getContext('2d');"
        " c.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;"
        " return {text: i.placeholder, needs: c.measureText(i.placeholder).width,"
        " has: i.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)}; }")
    assert room["text"] and room["needs"] <= room["has"], f"placeholder cut off: {room}"
    widths = lab.page.evaluate(
        "() => Array.from(document.querySelectorAll('.swarmlab-dashboard, .swarmlab-dashboard .widget-hbox'))"
        ".map(e => [e.scrollWidth, e.clientWidth])")
    assert widths and all(sw <= cw for sw, cw in widths), f"the dashboard runs out of its width: {widths}"
    lab.page.locator(".swarmlab-dashboard").screenshot(path=str(ARTIFACTS / "dashboard-03.png"))


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_every_text_meets_wcag_aa(lab: Lab, theme: str) -> None:
    lab.theme(theme)
    try:
        seen, bad = bad_contrast(lab)
        texts = " ".join(s["text"] for s in seen)
        for expected in ("helloworld.1", "leader", "worker", "active", "ready", "docker service ls",
                         "Running", "scale helloworld to 3"):
            assert expected in texts, f"{expected!r} not among the texts checked"
        assert bad == [], f"{theme}: under 4.5:1: {bad[:10]}"
        lab.page.screenshot(path=str(ARTIFACTS / f"lesson-03-{theme.split()[-1].lower()}.png"),
                            full_page=True)
    finally:
        lab.theme("JupyterLab Light")


def test_views_look_the_same_when_reopened_without_their_kernel(lab: Lab) -> None:
    """The next day: JupyterLab reopened, the kernel gone. The dashboard shows its last picture
    (its state was saved with the notebook), every table keeps its styles (still trusted)."""
    kernel = lab.js("return nb.sessionContext.session.kernel.id;")
    lab.save()
    lab.page.evaluate("() => window.jupyterapp.serviceManager.kernels.shutdown(arguments[0])"
                      .replace("arguments[0]", repr(kernel)))
    lab.reload()
    assert lab.js("return nb.sessionContext.session.kernel.id;") != kernel
    styles_apply(lab)
    assert "model not found" not in lab.output_text("dashboard")
    lab.page.screenshot(path=str(ARTIFACTS / "lesson-03-reopened.png"), full_page=True)


def test_lesson_04_rolling_update_and_its_exercise_after_run_all(lab: Lab) -> None:
    lab.open("04-rolling-update.ipynb")
    lab.run_all()
    assert lab.errors() == []
    check = lab.output_text("check-rollback")
    assert check.startswith("✗ roll redis back"), check
    hint = next(line for line in check.splitlines() if line.strip().startswith("hint: "))
    lab.set_source("exercise-rollback", hint.strip().removeprefix("hint: "))
    lab.run("exercise-rollback")
    lab.run("check-rollback")
    assert lab.output_text("check-rollback").startswith("✓ roll redis back")
    # the rollout view and its chart, readable in both themes
    assert lab.page.locator(".swarmlab-rollout svg text").count() >= 3
    for theme in ("JupyterLab Dark", "JupyterLab Light"):
        lab.theme(theme)
        seen, bad = bad_contrast(lab)
        assert "rolling update of" in " ".join(s["text"] for s in seen)
        assert bad == [], f"{theme}: under 4.5:1: {bad[:10]}"


def test_progress_labels_are_text(lab: Lab) -> None:
    cell = lab.add_cell("from swarmlab._wait import Bar, Progress\n"
                        "bar = Bar(True, '<img src=x onerror=\"window.hacked=1\"><b>label</b>')\n"
                        "bar.update(Progress(False, 1, 3, '<i>state</i>'))")
    lab.run(cell)
    lab.page.wait_for_function(
        "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].node"
        ".querySelector('.jp-OutputArea').innerText.includes('state')", arg=lab.index(cell),
        timeout=30_000)
    out = lab.output(cell)
    text = out.inner_text()
    assert "<b>label</b>" in text and "<i>state</i>" in text, text
    assert out.locator("img, b, i").count() == 0
    assert lab.page.evaluate("() => window.hacked === undefined")


def test_dashboard_follows_a_removed_service_and_a_destroyed_lab(lab: Lab) -> None:
    """In 04's kernel: a dashboard, then helloworld removed from a cell, then the lab destroyed."""
    board = lab.add_cell("lab.dashboard()")
    lab.run(board)
    lab.page.wait_for_selector(".swarmlab-dashboard .swarmlab-task[data-service='helloworld']",
                               timeout=60_000)
    rm = lab.add_cell('lab.service.rm("helloworld")')
    lab.run(rm)
    lab.page.wait_for_function(
        "() => !document.querySelector('.swarmlab-dashboard [data-service=\"helloworld\"]')"
        " && !document.querySelector('.swarmlab-dashboard [data-summary=\"helloworld\"]')",
        timeout=30_000)
    options = lab.page.locator(".swarmlab-dashboard select").first.locator("option").all_inner_texts()
    assert "helloworld" not in options
    gone = lab.add_cell("lab.destroy()")
    lab.run(gone)
    lab.page.wait_for_selector(".swarmlab-dashboard .swarmlab-final", timeout=60_000)
    board = lab.page.locator(".swarmlab-dashboard")
    assert "is gone" in board.locator(".swarmlab-final").inner_text()
    assert board.locator(".swarmlab-node, .swarmlab-msg, .swarmlab-task").count() == 0
    assert "stopped" in board.locator(".swarmlab-dashboard-status").inner_text()
    lab.page.screenshot(path=str(ARTIFACTS / "dashboard-after-destroy.png"), full_page=True)
