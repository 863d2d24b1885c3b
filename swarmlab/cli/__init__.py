"""The ``swarmlab`` command (also ``python -m swarmlab``): labs from a terminal, as ``kind`` and
``docker-machine`` give them. Every command calls the same :class:`~swarmlab.Lab` steps the
notebooks do. One module per command group, each registering its own subcommands:
:mod:`.labs` (up, ls, status, down, ssh, env), :mod:`.doctor`, :mod:`.classroom` (gc, mirror,
class), :mod:`.lessons` (lessons, run-lessons); :mod:`.main` assembles the parser.

Exit status: 0 done, 1 failed (the :class:`~swarmlab.SwarmlabError` message, one line, no
traceback unless ``--debug``), 2 bad usage (an unknown option, a bad number or name), 130
interrupted (Ctrl-C: the next ``swarmlab up`` completes the lab, ``swarmlab down`` removes it).
"""

from __future__ import annotations

from .main import main, parser

__all__ = ["main", "parser"]
