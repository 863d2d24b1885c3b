"""``swarmlab lessons / run-lessons``: the lessons of a checkout of swarmlab, opened in
JupyterLab or run headless as CI runs them (``scripts/lessons``, ``scripts/run-lessons``)."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .._errors import SwarmlabError
from ._common import Command

#: where the lessons and their scripts are, in a checkout of swarmlab (not in a wheel)
CHECKOUT = Path(__file__).resolve().parents[2]


def register(command: Command) -> None:
    """Add ``lessons`` and ``run-lessons`` to the ``swarmlab`` parser."""
    for name, what, example in (
            ("lessons", "open the lessons in JupyterLab (http://127.0.0.1:8888)", "swarmlab lessons --offline"),
            ("run-lessons", "run every lesson headless, as CI does",
             "swarmlab run-lessons --offline --lessons 07-high-availability")):
        p = command(name, what, example)
        p.add_argument("args", nargs=argparse.REMAINDER, help=f"handed to scripts/{name}")
        p.set_defaults(run=lambda a, name=name: _script(name, a.args))


def _script(name: str, rest: Sequence[str]) -> int:
    script = CHECKOUT / "scripts" / name
    if not script.is_file():
        raise SwarmlabError(f"scripts/{name} is not here: the lessons come with a checkout of swarmlab "
                          f"(git clone ..., then run swarmlab {name} from it)")
    return subprocess.call([str(script), *[a for a in rest if a != "--"]], cwd=CHECKOUT)
