"""nbval over the committed lessons after the classic lab (07 to 09), in order on a lab of
their own: a module of its own so that it runs beside test_nbval.py's classic lab."""

from __future__ import annotations

from pathlib import Path

import docker
import nbtools
import pytest
from lessonrun import nbval_in_sequence

pytestmark = pytest.mark.integration


def test_the_lessons_after_the_lab_pass_nbval(host: docker.DockerClient, tmp_path: Path) -> None:
    after = [p for p in nbtools.notebooks() if "07" <= p.stem < "10"]
    assert [p.stem[:2] for p in after] == ["07", "08", "09"]
    nbval_in_sequence(after, host, tmp_path)

