"""A typo in a notebook: a SwarmlabError shows as its message alone, in a real kernel, and the
cell still fails as any error does (an ``error`` output, so Run All stops and papermill
raises); ``%tb``, ``%xmode verbose`` and ``SWARMLAB_TRACEBACK=1`` show the full traceback.
No engine is needed: an unknown provider is refused before any engine is asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
import pytest
from nbclient import NotebookClient

from swarmlab.lessons.kernel import KERNEL_MANAGER

TYPO = 'sl.Lab("tutorial", provider="dnd")'


def run(cells: list[str], tmp_path: Path) -> list[list[dict[str, Any]]]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", kernel_manager_class=KERNEL_MANAGER, allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return [list(c.outputs) for c in nb.cells]


def traceback_text(outputs: list[dict[str, Any]]) -> str:
    return "\n".join(line for o in outputs if o["output_type"] == "error" for line in o["traceback"])


def test_a_swarmlab_error_shows_as_its_message(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARMLAB_TRACEBACK", raising=False)
    outs = run(["import swarmlab as sl", TYPO, "%tb", "%xmode verbose", TYPO, "%xmode context",
                "1/0"], tmp_path)
    (short,) = outs[1]
    assert short["output_type"] == "error" and short["ename"] == "UnknownProvider"
    assert "dnd" in short["evalue"]
    text = traceback_text(outs[1])
    assert len(short["traceback"]) <= 3, short["traceback"]
    assert "UnknownProvider" in text and "dnd" in text
    assert "Traceback" not in text and ".py" not in text and "-->" not in text
    assert "%tb" in text  # says how to see the rest
    full = traceback_text(outs[2])  # %tb
    assert "UnknownProvider" in full and "providers" in full and len(full.splitlines()) > 5
    verbose = traceback_text(outs[4])  # %xmode verbose
    assert outs[4][0]["ename"] == "UnknownProvider" and "Traceback" in verbose
    assert "providers" in verbose and len(outs[4][0]["traceback"]) > 3
    other = traceback_text(outs[6])  # not ours: IPython's own traceback, as always
    assert outs[6][0]["ename"] == "ZeroDivisionError" and "Traceback" in other


def test_swarmlab_traceback_setting_shows_everything(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMLAB_TRACEBACK", "1")  # the kernel inherits it
    outs = run(["import swarmlab as sl", TYPO], tmp_path)
    assert outs[1][0]["ename"] == "UnknownProvider"
    assert "Traceback" in traceback_text(outs[1]) and len(outs[1][0]["traceback"]) > 3


def test_papermill_still_sees_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARMLAB_TRACEBACK", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import swarmlab as sl"), nbformat.v4.new_code_cell(TYPO),
                nbformat.v4.new_code_cell("never = True")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "typo.ipynb"
    nbformat.write(nb, src)
    with pytest.raises(pm.PapermillExecutionError) as failed:
        pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), kernel_name="python3",
                            kernel_manager_class=KERNEL_MANAGER, progress_bar=False, cwd=str(tmp_path))
    assert failed.value.ename == "UnknownProvider" and failed.value.cell_index == 1
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    (never,) = [c for c in out.cells if c.source == "never = True"]
    assert never.get("execution_count") is None  # the run stopped at the error


def test_outside_ipython_nothing_changes() -> None:
    code = ("import sys, swarmlab, swarmlab._ipython as i; "
            "print('IPython' in sys.modules, i.install(), sys.excepthook is sys.__excepthook__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.stdout.split() == ["False", "False", "True"], done.stderr
