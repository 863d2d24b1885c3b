"""The lesson runner on a real lab: a lesson that fails after making a machine stops the run
with its cell named, the lessons after it do not run, and nothing of the lab is left."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from labtest import labelled, unique_lab_name
from smallnb import notebook

from swarmlab.lessons.run import LessonFailed, run_lessons

pytestmark = pytest.mark.integration


def test_a_failing_lesson_is_named_and_its_lab_removed(host: docker.DockerClient, tmp_path: Path) -> None:
    lab = unique_lab_name("rl")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    params = "provider = 'dind'\nlab_name = 'x'\noffline = None\nsolve = False"
    notebook(folder / "01-machines.ipynb", "import swarmlab as sl\n"
             "sl.Lab(lab_name, provider=provider, progress=False, offline=offline).machine.create('manager1')",
             "raise RuntimeError('the swarm is not there')", parameters=params)
    notebook(folder / "02-swarm.ipynb", "raise SystemExit('never run')", parameters=params)
    seen: list[tuple[str, bool]] = []
    # cell 3 of the executed notebook: papermill's injected parameters come after the lesson's
    with pytest.raises(LessonFailed, match=r"^01-machines.ipynb: cell 3 raised RuntimeError: the swarm is not there"):
        run_lessons(folder, tmp_path / "out", lab=lab, offline=True, lessons=["01-machines", "02-swarm"],
                    timeout=300, done=lambda lesson, ok, _: seen.append((lesson.name, ok)))
    assert seen == [("01-machines", False)]
    assert not (tmp_path / "out" / "02-swarm.ipynb").exists()
    assert (tmp_path / "out" / "01-machines.ipynb").exists()
    assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}
