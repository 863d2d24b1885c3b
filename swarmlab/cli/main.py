"""The ``swarmlab`` command's parser, assembled from its command groups (each registers its
own subcommands: :mod:`.labs`, :mod:`.doctor`, :mod:`.classroom`, :mod:`.lessons`), and
:func:`main`, which runs one command and turns its errors into exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._engine import machine_in_env
from .._errors import InvalidArgument, SwarmlabError
from . import classroom, doctor, labs, lessons
from ._common import Parser, Usage

#: the command groups, in the order ``swarmlab --help`` lists their commands
GROUPS = (labs, doctor, classroom, lessons)


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="swarmlab", description="Docker Swarm labs on this computer, from a terminal.",
        epilog="Exit status: 0 done, 1 failed, 2 bad usage. 'swarmlab COMMAND --help' shows an example.")
    top.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=f"example: {example}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    for group in GROUPS:
        group.register(command)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    args = top.parse_args(argv)  # bad usage: argparse says so, exit 2
    if args.command != "env" and machine_in_env():
        name = os.environ.get("DOCKER_MACHINE_NAME") or "a machine"
        print(f"swarmlab: DOCKER_HOST points at {name} of a lab (swarmlab env); swarmlab finds its labs on "
              f"this computer's engine all the same. eval $(swarmlab env -u) points the docker CLI back "
              f"at it too.", file=sys.stderr)
    try:
        return int(args.run(args))
    except Usage as e:
        top.exit(2, f"swarmlab {args.command}: {e}\n")
    except InvalidArgument as e:  # a bad name or value the steps found: bad usage too
        if args.debug:
            raise
        top.exit(2, f"swarmlab {args.command}: {e}\n")
    except SwarmlabError as e:
        if args.debug:
            raise
        top.exit(1, f"swarmlab {args.command}: {type(e).__name__}: {e}\n")
    except KeyboardInterrupt:
        top.exit(130, f"\nswarmlab {args.command}: interrupted. What was made stays: run it again to "
                      f"complete it, or 'swarmlab down' to remove it.\n")
    return 0
