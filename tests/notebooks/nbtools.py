"""Run, clean and refresh the lesson notebooks.

The committed notebooks keep only the outputs nbval checks (cells tagged
``nbval-check-output``), with no execution counts and no widget state. After editing a lesson:

    .venv/bin/python tests/notebooks/nbtools.py refresh   # run them all (offline, CI parameters)
                                                          # and keep only the checked outputs
    .venv/bin/python tests/notebooks/nbtools.py clean     # strip without running
    .venv/bin/python tests/notebooks/nbtools.py check     # exit 1 when one is not clean

``refresh`` runs the lessons on a real DinD swarm, as CI does, under a lab name of its own, and
removes that lab afterwards.
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

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
CHECK_TAG = "nbval-check-output"
KEEP_TAGS = {"parameters", CHECK_TAG}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

os.environ.setdefault("SWARMLAB_PROGRESS", "0")  # no progress bars in executed notebooks


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
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))


def ci_parameters(lab_name: str) -> dict[str, Any]:
    """What CI runs the lessons with: offline images, answer keys on, short update delays."""
    return {"provider": "dind", "lab_name": lab_name, "offline": True, "solve": True,
            "update_delay": "1s"}


def parameters_for(path: Path, lab_name: str) -> dict[str, Any]:
    """The CI parameters for this notebook: provider, lab name and offline always (so a lesson
    never reaches for a registry in CI); the others only where its ``parameters`` cell has them."""
    import papermill as pm

    declared = pm.inspect_notebook(str(path))
    always = ("provider", "lab_name", "offline")
    return {k: v for k, v in ci_parameters(lab_name).items() if k in always or k in declared}


def execute(path: Path, out: Path, lab_name: str, timeout: int = 300) -> nbformat.NotebookNode:
    """Execute one lesson with papermill (CI parameters); returns the executed notebook."""
    import papermill as pm

    return pm.execute_notebook(
        str(path), str(out), parameters=parameters_for(path, lab_name), kernel_name="python3",
        cwd=str(NOTEBOOK_DIR), progress_bar=False, execution_timeout=timeout, start_timeout=60,
    )


def prepare(path: Path, out: Path, lab_name: str) -> None:
    """Inject the CI parameters without running (what nbval then executes)."""
    import papermill as pm

    pm.execute_notebook(str(path), str(out), parameters=parameters_for(path, lab_name),
                        kernel_name="python3", prepare_only=True, progress_bar=False)
    # nbval compares only cells that were run ("Unrun reference cell has outputs" otherwise);
    # the committed notebooks carry no execution counts, so number the checked cells here.
    nb = nbformat.read(out, as_version=4)
    n = 0
    for cell in nb.cells:
        if cell["cell_type"] == "code" and cell.get("outputs"):
            n += 1
            cell["execution_count"] = n
    nbformat.write(nb, out)


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Only what is meant to be committed: checked outputs, no counts, no widget state."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        if "injected-parameters" in tags:
            continue
        meta: dict[str, Any] = {}
        kept = [t for t in tags if t in KEEP_TAGS]
        if kept:
            meta["tags"] = kept
        hidden = cell.get("metadata", {}).get("jupyter", {}).get("source_hidden")
        if hidden:
            meta["jupyter"] = {"source_hidden": True}
        cell["metadata"] = meta
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
            outputs = []
            if CHECK_TAG in kept:
                for o in cell.get("outputs", []):
                    o = copy.deepcopy(o)
                    if "execution_count" in o:
                        o["execution_count"] = None
                    if "data" in o:
                        o["data"].pop(WIDGET_MIME, None)
                    if o.get("output_type") in ("display_data", "execute_result"):
                        o["metadata"] = {}
                    outputs.append(o)
            cell["outputs"] = outputs
        cells.append(cell)
    nb.cells = cells
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")}
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = {"name": nb.metadata["language_info"].get("name", "python")}
    return nb


def problems(path: Path) -> list[str]:
    """Why a committed notebook is not clean (empty when it is)."""
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
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("outputs") and CHECK_TAG not in tags:
            out.append(f"{path.name}: cell {cell.get('id')} has outputs nobody checks")
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


def refresh(paths: list[Path]) -> None:
    """Run every lesson in sequence (CI parameters) and keep the checked outputs."""
    import swarmlab as sl

    name = new_lab_name()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for path in paths:
                t = time.monotonic()
                executed = execute(path, Path(tmp) / path.name, name)
                by_id = {c.get("id"): c for c in executed.cells}
                source = nbformat.read(path, as_version=4)
                for cell in source.cells:
                    if cell["cell_type"] == "code" and CHECK_TAG in cell.get("metadata", {}).get("tags", []):
                        new = by_id[cell["id"]].get("outputs", [])
                        if sanitized(new) != sanitized(cell.get("outputs", [])):  # keep diffs to real changes
                            cell["outputs"] = new
                write_clean(path, source)
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
    if what == "refresh":
        refresh(notebooks() if not argv[1:] else paths)
        return 0
    if what == "check":
        found = [p for path in paths for p in problems(path)]
        print("\n".join(found) or "all notebooks clean")
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
