"""The committed lessons and the files around them, without an engine: notebooks are clean and
shaped as the lessons promise; environment.yml keeps step with pyproject.toml; Binder, the
workflow and scripts/lessons are in place."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import nbtools
import pytest
import yaml

from swarmlab.lessons import LESSONS as ALL_LESSONS

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = nbtools.ROOT
LESSONS = nbtools.notebooks()
#: the lessons that end with a "now you try"
WITH_EXERCISE = ("03", "04", "05", "07", "08", "09", "10", "11", "12", "13", "14")
#: pyproject (PyPI) name -> conda-forge name, where they differ
CONDA_NAMES = {"docker": "docker-py"}


def test_there_is_a_setup_check_and_one_lesson_per_part() -> None:
    assert [p.name for p in LESSONS] == [
        "00-setup-check.ipynb", "01-machines.ipynb", "02-swarm.ipynb", "03-services.ipynb",
        "04-rolling-update.ipynb", "05-drain.ipynb", "06-cleanup.ipynb", "07-high-availability.ipynb",
        "08-quorum.ipynb", "09-self-healing.ipynb", "10-networks.ipynb", "11-publishing.ipynb",
        "12-stacks.ipynb", "13-secrets.ipynb", "14-scale.ipynb"]
    # the folder holds exactly the listed lessons, and the lessons' table lists each, in order
    on_disk = sorted(p.name for p in nbtools.NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))
    assert on_disk == sorted(p.name for p in LESSONS)
    table = [line for line in (nbtools.NOTEBOOK_DIR / "README.md").read_text().splitlines()
             if line.startswith("| [")]
    assert table == [f"| [{lesson.name}]({lesson.notebook}) | {lesson.part} |" for lesson in ALL_LESSONS]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path: Path) -> None:
    assert nbtools.problems(path) == []
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_opens_with_no_outputs_and_no_execution_counts(path: Path) -> None:
    """Nothing under a cell the learner has not run (a green "done" there misleads), and no
    output the learner's kernel did not make (it leaves the notebook untrusted)."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert [c.get("id") for c in code if c.outputs] == []
    assert [c.get("id") for c in code if c.execution_count is not None] == []
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_reference_copy_holds_what_nbval_compares(path: Path) -> None:
    """Beside the tests: the lesson as CI ran it, cell for cell, with every output."""
    ref = nbformat.read(nbtools.reference_of(path), as_version=4)
    nbformat.validate(ref)
    lesson = nbformat.read(path, as_version=4)
    assert [(c.get("id"), c.source) for c in ref.cells] == [(c.get("id"), c.source) for c in lesson.cells]
    code = [c for c in ref.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "every cell ran, in order"
    checked = [c for c in code if nbtools.CHECK_TAG in c.metadata.get("tags", [])]
    assert all(c.outputs for c in checked), "a checked cell without a reference output"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if nbtools.WIDGET_MIME in o.get("data", {})]
    assert "widgets" not in ref.metadata


def test_the_cleaner_strips_what_must_not_be_committed(tmp_path: Path) -> None:
    dirty = nbformat.read(nbtools.reference_of(LESSONS[3]), as_version=4)  # executed, with outputs
    dirty.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path = tmp_path / LESSONS[3].name
    nbformat.write(dirty, path)
    found = nbtools.problems(path)
    assert any("not clean" in f for f in found)
    assert any("widget state" in f for f in found)
    assert any("execution count" in f for f in found)
    assert any("has outputs" in f for f in found)
    cleaned = nbtools.clean(dirty)
    assert "widgets" not in cleaned.metadata
    assert all(c.execution_count is None and c.outputs == [] for c in cleaned.cells
               if c.cell_type == "code")
    path.write_text(nbformat.writes(cleaned))
    assert [f for f in nbtools.problems(path) if "reference" not in f] == []


def test_a_reference_copy_out_of_step_is_found(tmp_path: Path) -> None:
    lesson = nbformat.read(LESSONS[3], as_version=4)
    lesson.cells[-1].source += "\nedited after the reference was recorded"
    path = tmp_path / LESSONS[3].name
    nbformat.write(lesson, path)
    assert any("out of step" in f for f in nbtools.problems(path))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_has_a_parameters_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    src = tagged[0].source
    # the classic lab names its machines; the lessons after it count managers and workers
    machines = ("manager", "workers") if path.stem < "07" else ("managers", "workers")
    for name in ("provider", "lab_name", "offline", *machines):
        assert re.search(rf"^{name} = ", src, re.M), f"{path.name}: no {name} parameter"
    import papermill as pm

    assert {"provider", "lab_name", "offline"} <= set(pm.inspect_notebook(str(path)))


@pytest.mark.parametrize("path", [p for p in LESSONS if p.stem[:2] in WITH_EXERCISE], ids=lambda p: p.stem)
def test_exercises_have_a_blank_cell_then_a_check_and_no_answer_in_sight(path: Path) -> None:
    """An empty cell for the learner, the check right under it; the answer key is not a cell
    of the lesson (not even a hidden one, one click away): the check cell calls it from
    swarmlab.exercises only when ``solve`` is True."""
    nb = nbformat.read(path, as_version=4)
    ids = [c.get("id", "") for c in nb.cells]
    ex = [i for i in ids if i.startswith("exercise-")]
    assert len(ex) == 1
    topic = ex[0].removeprefix("exercise-")
    pos = ids.index(ex[0])
    assert ids[pos + 1] == f"check-{topic}"
    blank, check = nb.cells[pos:pos + 2]
    assert blank.source.strip() == "# your line here"
    lines = check.source.splitlines()
    assert lines[0].startswith("if solve:") and lines[1].strip().startswith(f"ex.answer_{topic}(")
    assert lines[-1].startswith(f"ex.check_{topic}(") and nbtools.CHECK_TAG in check.metadata["tags"]
    assert not [c for c in nb.cells if c.get("metadata", {}).get("jupyter", {}).get("source_hidden")]
    assert not [i for i in ids if i.startswith("answer-")]
    assert "solve = False" in nb.cells[ids.index("parameters")].source
    import swarmlab.exercises as exercises

    assert callable(getattr(exercises, f"answer_{topic}"))


@pytest.mark.parametrize("path", [p for p in LESSONS if p.stem[:2] in WITH_EXERCISE], ids=lambda p: p.stem)
def test_no_cell_after_an_exercise_removes_what_it_needs(path: Path) -> None:
    """After Run All the exercise can still be done: no later cell removes its service (the
    lesson's services go in 06-cleanup), and its node is left as the exercise needs it."""
    nb = nbformat.read(path, as_version=4)
    ids = [c.get("id", "") for c in nb.cells]
    pos = ids.index(next(i for i in ids if i.startswith("check-")))
    later = "\n".join(c.source for c in nb.cells[pos + 1:] if c.cell_type == "code")
    for service in ("helloworld", "redis"):
        assert not re.search(rf"service\.rm\([^)]*[\"']{service}[\"']", later), (path.name, service)
        assert not re.search(rf"service\.(update|rollback|scale)\([^)]*[\"']{service}[\"'](,|\))", later), \
            (path.name, service)
    assert "lab.destroy()" not in later


def test_the_scale_lesson_ends_with_its_check() -> None:
    """Lesson 14's exercise is not run again after Run All at 50 machines (test_run_all): no
    code cell comes after its check, so Run All cannot undo what the exercise needs."""
    nb = nbformat.read(nbtools.NOTEBOOK_DIR / "14-scale.ipynb", as_version=4)
    code = [c.get("id") for c in nb.cells if c.cell_type == "code"]
    assert code[-2:] == ["exercise-drained", "check-drained"]


def test_every_step_of_the_classic_lab_is_in_a_lesson() -> None:
    code = "\n".join(c.source for p in LESSONS for c in nbformat.read(p, as_version=4).cells
                     if c.cell_type == "code")
    for call in ("lab.machine.create(", "lab.machine.ls()", "lab.machine.ip(", "lab.ssh(",
                 "lab.swarm.init(", "lab.swarm.join_token(", "lab.swarm.join(", "lab.info(",
                 "lab.node.ls()", "lab.service.create(", "lab.service.ps(", "lab.service.inspect(",
                 "lab.service.scale(", "lab.service.rm(", "lab.service.update(", "lab.service.rollback(",
                 "lab.node.drain(", "lab.node.activate(", "lab.node.inspect(", "lab.destroy()"):
        assert call in code, call


def _pyproject_deps() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["notebook"]
    out = {}
    for r in reqs:
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", r)
        assert m, r
        out[CONDA_NAMES.get(m.group(1).lower(), m.group(1).lower())] = m.group(2).replace(" ", "")
    return out


def test_environment_yml_matches_pyproject() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda: dict[str, str] = {}
    pip: list[str] = []
    for d in env["dependencies"]:
        if isinstance(d, dict):
            pip += d["pip"]
            continue
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", d)
        assert m, d
        conda[m.group(1).lower()] = m.group(2).replace(" ", "")
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert conda.pop("python") == py
    conda.pop("pip")
    assert conda == _pyproject_deps()
    assert pip == ["-e ."]


def test_binder_installs_swarmlab_and_says_it_is_binder() -> None:
    post = (ROOT / "binder" / "postBuild").read_text()
    assert 'pip install --no-cache-dir -e ".[notebook]"' in post
    start = (ROOT / "binder" / "start").read_text().strip().splitlines()
    assert start[-1] == 'exec "$@"' and "export SWARMLAB_ON_BINDER=1" in start
    for f in ("postBuild", "start"):
        assert (ROOT / "binder" / f).stat().st_mode & 0o111


def test_setup_check_explains_binder() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import swarmlab.exercises as ex; print(ex.on_binder())"],
        env={"PATH": "/usr/bin:/bin", "SWARMLAB_ON_BINDER": "1"}, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr
    nb = nbformat.read(LESSONS[0], as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "Binder" in text and "scripts/lessons" in text


def test_workflow_runs_the_lessons_tier() -> None:
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "lessons.yml").read_text())
    steps = wf["jobs"]["lessons"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "scripts/setup" in runs and "scripts/test tests/notebooks" in runs
    # a bound a hosted runner meets: the lessons tier, then lesson 14 at full size on its own
    assert wf["jobs"]["lessons"]["timeout-minutes"] <= 45


def test_scripts_lessons_listens_on_loopback_and_never_asks() -> None:
    text = (ROOT / "scripts" / "lessons").read_text()
    assert "--ip=127.0.0.1" in text and "scripts/setup" in text and "--no-browser" in text
    assert (ROOT / "scripts" / "lessons").stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "lessons")]).returncode == 0


def test_notebooks_readme_maps_every_part() -> None:
    text = (ROOT / "notebooks" / "README.md").read_text()
    for p in LESSONS:
        assert p.name in text
    for cmd in ("docker-machine create", "docker swarm init --advertise-addr", "docker swarm join",
                "docker service scale", "docker service update --image", "--availability drain",
                "docker service rollback", "docker-machine rm"):
        assert cmd in text, cmd
