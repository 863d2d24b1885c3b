"""Small notebooks written for a test: what the lesson runner executes when no lesson is wanted."""

from __future__ import annotations

from pathlib import Path

import nbformat


def notebook(path: Path, *sources: str, parameters: str = "") -> Path:
    """A notebook at ``path``: a ``parameters`` cell (when given), then one code cell per source."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if parameters:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path
