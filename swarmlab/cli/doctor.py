"""``swarmlab doctor``: what this computer has and lacks for the lessons, with what to do
(the lessons' setup check)."""

from __future__ import annotations

import argparse

from ._common import Command, provider_opt


def register(command: Command) -> None:
    """Add ``doctor`` to the ``swarmlab`` parser."""
    p = command("doctor", "what this computer has and lacks for the lessons, with what to do",
                "swarmlab doctor --provider dind --offline")
    provider_opt(p)
    p.add_argument("--offline", action="store_true", help="check for the offline images")
    p.set_defaults(run=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..exercises import check_setup

    check = check_setup(args.provider, True if args.offline else None)
    print(check.text())
    return 0 if check.ok else 1
