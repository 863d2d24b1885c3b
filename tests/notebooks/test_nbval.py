"""nbval over the committed lessons: each one executed as committed (only the CI parameters
injected: offline images, answer keys on, a lab name of its own) on a real DinD swarm, with
every cell tagged ``nbval-check-output`` compared to its committed output after
tests/notebooks/sanitize.cfg has masked IDs, addresses, versions and lab names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker
import nbformat
import nbtools
import pytest
from labtest import labelled

import swarmlab as sl

pytestmark = pytest.mark.integration

SANITIZE = Path(__file__).with_name("sanitize.cfg")


def nbval(paths: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
           "--nbval-cell-timeout=300", f"--nbval-sanitize-with={SANITIZE}", "-p", "no:cacheprovider",
           "-p", "no:randomly", "-q", "-rA", f"--rootdir={cwd}", *map(str, paths)]
    env = {**os.environ, "SWARMLAB_PROGRESS": "0"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def checked_cells(path: Path) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if nbtools.CHECK_TAG in c.get("metadata", {}).get("tags", [])]


#: the classic lab's lessons in sequence on one lab, the ones after it on another
PARTS = {"classic": [p for p in nbtools.notebooks() if p.stem < "07"],
         "after": [p for p in nbtools.notebooks() if p.stem >= "07"]}


@pytest.mark.parametrize("part", [pytest.param(p, marks=pytest.mark.xdist_group(f"nbval-{p}")) for p in PARTS])
def test_committed_lessons_pass_nbval(part: str, host: docker.DockerClient, tmp_path: Path) -> None:
    assert sum(len(v) for v in PARTS.values()) == len(nbtools.notebooks())
    lab = nbtools.new_lab_name()
    copies = []
    for path in PARTS[part]:
        nbtools.prepare(path, tmp_path / path.name, lab)
        copies.append(tmp_path / path.name)
    checked = [c for p in copies for c in checked_cells(p)]
    assert len(checked) >= 5 and all(c.outputs for c in checked), "checked cells must carry outputs"
    try:
        result = nbval(copies, tmp_path)
    finally:
        sl.Lab(lab, provider="dind", progress=False).destroy()
        assert labelled(host, lab) == {"containers": 0, "volumes": 0, "networks": 0}
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " failed" not in result.stdout and " passed" in result.stdout


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
