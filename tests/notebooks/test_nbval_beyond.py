"""nbval over the committed lessons beyond the lab (10 on: networks, stacks, secrets), in order on a lab of their own: a
module of its own so that it runs beside the other nbval modules."""

from __future__ import annotations

from pathlib import Path

import docker
import nbtools
import pytest
from lessonrun import nbval_in_sequence

pytestmark = pytest.mark.integration


def test_the_lessons_beyond_the_lab_pass_nbval(host: docker.DockerClient, tmp_path: Path) -> None:
    beyond = [p for p in nbtools.notebooks() if "10" <= p.stem < "14"]
    # every lesson is in one of the nbval runs: the classic lab's (test_nbval.py), 07 to 09's,
    # these, or 14's at full size, alone (test_scale_lesson.py)
    assert [p.stem[:2] for p in beyond] == ["10", "11", "12", "13"]
    assert [p.stem for p in nbtools.notebooks() if p.stem >= "14"] == ["14-scale"]
    assert len(beyond) + sum(1 for p in nbtools.notebooks() if p.stem < "10") + 1 == len(nbtools.notebooks())
    nbval_in_sequence(beyond, host, tmp_path)
