"""``python -m swarmlab``: the ``swarmlab`` command (:mod:`swarmlab.cli`)."""

from .cli import main

raise SystemExit(main())
