"""nbval over the committed lessons: each one executed as committed (only the CI parameters
injected: offline images, answer keys on, a lab name of its own) on a real DinD swarm, with
every cell tagged ``nbval-check-output`` compared to its committed output after
tests/notebooks/sanitize.cfg has masked IDs, addresses, versions and lab names."""

from __future__ import annotations

from pathlib import Path

import docker
import nbformat
import nbtools
import pytest
from labtest import labelled
from lessonrun import nbval, nbval_in_sequence

pytestmark = pytest.mark.integration

def test_the_classic_lab_passes_nbval(host: docker.DockerClient, tmp_path: Path) -> None:
    """00 to 06; the lessons after the lab run in test_nbval_after.py, side by side."""
    nbval_in_sequence([p for p in nbtools.notebooks() if p.stem < "07"], host, tmp_path)


def test_nbval_catches_a_changed_output(host: docker.DockerClient, tmp_path: Path) -> None:
    """The same comparison fails when a checked output differs (06 alone: a lab never made)."""
    lab = nbtools.new_lab_name()
    source = nbtools.NOTEBOOK_DIR / "06-cleanup.ipynb"
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbtools.prepare(source, good, lab)
    nb = nbformat.read(good, as_version=4)
    (cell,) = [c for c in nb.cells if c.get("id") == "check-clean"]
    for o in cell.outputs:
        for mime in ("text/plain", "text/html"):
            o["data"][mime] = o["data"][mime].replace("✓ 0 volumes", "✓ 7 volumes")
    nbformat.write(nb, bad)
    assert nbval([good], tmp_path).returncode == 0
    failed = nbval([bad], tmp_path)
    assert failed.returncode != 0 and "7 volumes" in failed.stdout
    assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}
