"""Run, clean and record the lesson notebooks.

The notebooks a learner opens (``notebooks/``) carry no outputs and no execution counts: a
result under a cell the learner has not run misleads, and one output the learner's kernel did
not produce leaves the whole notebook untrusted after save and reopen (JupyterLab then strips
the styles of every view). What nbval compares with lives here instead, in reference copies
(``tests/notebooks/reference/``): each lesson as CI executed it, every output kept (widget
state dropped), the cells tagged ``nbval-check-output`` being the ones nbval checks.

    .venv/bin/python tests/notebooks/nbtools.py record    # run the lessons (offline, CI parameters)
                                                          # and write the reference copies
    .venv/bin/python tests/notebooks/nbtools.py clean     # strip the lessons of every output
    .venv/bin/python tests/notebooks/nbtools.py check     # exit 1 when a lesson is not clean or
                                                          # its reference copy is out of step

``record`` runs the lessons on a real DinD swarm, as CI does, under a lab name of its own, and
removes that lab afterwards. Run it after editing a lesson.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat

from swarmlab.lessons import LESSONS

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
CHECK_TAG = "nbval-check-output"
KEEP_TAGS = {"parameters", CHECK_TAG}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

os.environ.setdefault("SWARMLAB_PROGRESS", "0")  # no progress bars in executed notebooks
os.environ.setdefault("SWARMLAB_LIVE", "0")      # nobody watches a dashboard papermill runs
os.environ.setdefault("SWARMLAB_OFFLINE", "1")   # as the lessons' CI parameters say: no registry asked


def labelled(host: Any, lab: str) -> dict[str, int]:
    """What carries the lab's label on this computer's engine."""
    f = {"label": f"io.swarmlab.lab={lab}"}
    return {"containers": len(host.containers.list(all=True, filters=f)),
            "volumes": len(host.volumes.list(filters=f)),
            "networks": len(host.networks.list(filters=f))}


def new_lab_name() -> str:
    """A lab name of its own for one run of the lessons (the sanitize file knows the form)."""
    return f"lessons-{uuid.uuid4().hex[:8]}"


def notebooks() -> list[Path]:
    """The lessons' notebooks, in class order (swarmlab.lessons.LESSONS)."""
    return [NOTEBOOK_DIR / lesson.notebook for lesson in LESSONS]


def reference_of(path: Path) -> Path:
    """The reference copy of a lesson (executed, with outputs)."""
    return REFERENCE_DIR / path.name


def ci_parameters(lab_name: str) -> dict[str, Any]:
    """What CI runs the lessons with: offline images, answer keys on, short update delays."""
    return {"provider": "dind", "lab_name": lab_name, "offline": True, "solve": True,
            "update_delay": "1s"}


def parameters_for(path: Path, lab_name: str, **overrides: Any) -> dict[str, Any]:
    """The CI parameters for this notebook: provider, lab name and offline always (so a lesson
    never reaches for a registry in CI); the others only where its ``parameters`` cell has them."""
    import papermill as pm

    declared = pm.inspect_notebook(str(path))
    always = ("provider", "lab_name", "offline")
    wanted = {**ci_parameters(lab_name), **overrides}
    return {k: v for k, v in wanted.items() if k in always or k in declared}


def execute(path: Path, out: Path, lab_name: str, timeout: int = 300,
            **overrides: Any) -> nbformat.NotebookNode:
    """Execute one lesson as the lesson runner does (swarmlab.lessons.run, papermill) with the
    CI parameters; returns the executed notebook."""
    from swarmlab.lessons.run import execute_lesson

    return execute_lesson(path, out, parameters_for(path, lab_name, **overrides), cwd=NOTEBOOK_DIR,
                          timeout=timeout)


def prepare(path: Path, out: Path, lab_name: str) -> None:
    """The reference copy of a lesson with the CI parameters injected, not run: what nbval
    executes and compares with."""
    import papermill as pm

    pm.execute_notebook(str(reference_of(path)), str(out), parameters=parameters_for(path, lab_name),
                        kernel_name="python3", prepare_only=True, progress_bar=False)


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _cell_metadata(cell: nbformat.NotebookNode) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    kept = [t for t in _tags(cell) if t in KEEP_TAGS]
    if kept:
        meta["tags"] = kept
    if cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"):
        meta["jupyter"] = {"source_hidden": True}
    return meta


def _notebook_metadata(nb: nbformat.NotebookNode) -> dict[str, Any]:
    meta = {k: v for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")}
    if "language_info" in meta:
        meta["language_info"] = {"name": meta["language_info"].get("name", "python")}
    return meta


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What a learner opens: no outputs, no execution counts, no widget state, no injected
    parameters."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if "injected-parameters" in _tags(cell):
            continue
        cell["metadata"] = _cell_metadata(cell)
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
        cells.append(cell)
    nb.cells = cells
    nb.metadata = _notebook_metadata(nb)
    return nb


def _output(o: Any) -> Any:
    o = copy.deepcopy(o)
    if "data" in o:
        o["data"].pop(WIDGET_MIME, None)  # the widget's state is not kept: its text/html is
    if o.get("output_type") in ("display_data", "execute_result"):
        o["metadata"] = {}
    return o


def reference(executed: nbformat.NotebookNode, lesson: nbformat.NotebookNode,
              old: nbformat.NotebookNode | None = None) -> nbformat.NotebookNode:
    """A reference copy: the lesson's cells with the outputs and execution counts of an
    executed run. Where the old reference copy's outputs match the new ones once
    sanitize.cfg has masked IDs, addresses and times, the old ones are kept (small diffs)."""
    by_id = {c.get("id"): c for c in executed.cells}
    old_by_id = {c.get("id"): c for c in (old.cells if old is not None else [])}
    ref = clean(lesson)
    n = 0
    for cell in ref.cells:
        if cell["cell_type"] != "code":
            continue
        ran = by_id.get(cell.get("id"))
        if ran is None or ran.get("execution_count") is None:
            continue
        n += 1
        cell["execution_count"] = n
        outputs = [_output(o) for o in ran.get("outputs", [])]
        before = old_by_id.get(cell.get("id"))
        if before is not None and before.get("source") == cell.get("source") \
                and sanitized(before.get("outputs", [])) == sanitized(outputs):
            outputs = before["outputs"]
        for o in outputs:
            if "execution_count" in o:
                o["execution_count"] = n
        cell["outputs"] = outputs
    return ref


def _shape(nb: nbformat.NotebookNode) -> list[tuple[Any, ...]]:
    """What a reference copy must share with its lesson: every cell's id, type, source, tags."""
    return [(c.get("id"), c["cell_type"], c["source"], tuple(_tags(c)))
            for c in nb.cells if "injected-parameters" not in _tags(c)]


def problems(path: Path) -> list[str]:
    """Why a lesson is not as a learner must find it, or its reference copy is out of step
    (empty when all is well)."""
    nb = nbformat.read(path, as_version=4)
    out = []
    if nbformat.writes(clean(nb)) != nbformat.writes(nb):
        out.append(f"{path.name}: not clean (run tests/notebooks/nbtools.py clean)")
    if "widgets" in nb.metadata:
        out.append(f"{path.name}: widget state in metadata")
    for cell in nb.cells:
        if cell["cell_type"] != "code":
            continue
        if cell.get("execution_count") is not None:
            out.append(f"{path.name}: cell {cell.get('id')} has an execution count")
        if cell.get("outputs"):
            out.append(f"{path.name}: cell {cell.get('id')} has outputs")
    ref_path = reference_of(path)
    if not ref_path.exists():
        return [*out, f"{path.name}: no reference copy (run tests/notebooks/nbtools.py record)"]
    ref = nbformat.read(ref_path, as_version=4)
    if _shape(ref) != _shape(nb):
        out.append(f"{path.name}: the reference copy is out of step with the lesson "
                   "(run tests/notebooks/nbtools.py record)")
    for cell in ref.cells:
        if CHECK_TAG in _tags(cell) and not cell.get("outputs"):
            out.append(f"{path.name}: checked cell {cell.get('id')} has no reference output")
    return out


def write_clean(path: Path, nb: nbformat.NotebookNode | None = None) -> None:
    nb = clean(nb if nb is not None else nbformat.read(path, as_version=4))
    nbformat.validate(nb)
    nbformat.write(nb, path)


def sanitized(outputs: list[Any]) -> list[Any]:
    """Outputs as nbval compares them: every string after the regexes of sanitize.cfg."""
    import re

    text = Path(__file__).with_name("sanitize.cfg").read_text()
    pairs = re.findall("^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            for regex, replace in pairs:
                v = re.sub(regex, replace, v)
            return v
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items() if k not in ("execution_count", "metadata")}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return [walk(dict(o)) for o in outputs]


def record(paths: list[Path]) -> None:
    """Run every lesson in sequence (CI parameters) and write their reference copies."""
    import swarmlab as sl

    name = new_lab_name()
    REFERENCE_DIR.mkdir(exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for path in paths:
                t = time.monotonic()
                executed = execute(path, Path(tmp) / path.name, name, timeout=1200)
                lesson = nbformat.read(path, as_version=4)
                ref_path = reference_of(path)
                old = nbformat.read(ref_path, as_version=4) if ref_path.exists() else None
                ref = reference(executed, lesson, old)
                nbformat.validate(ref)
                nbformat.write(ref, ref_path)
                print(f"{path.name}: {time.monotonic() - t:.0f} s", file=sys.stderr)
    finally:
        sl.Lab(name, provider="dind", progress=False).destroy()


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "check"
    paths = [Path(p).resolve() for p in argv[1:]] or notebooks()
    if what == "clean":
        for p in paths:
            write_clean(p)
        return 0
    if what == "record":
        record(paths)
        return 0
    if what == "check":
        found = [p for path in paths for p in problems(path)]
        print("\n".join(found) or "all lessons clean, every reference copy in step")
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
