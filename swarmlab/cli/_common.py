"""What every command group of the ``swarmlab`` command shares: bad usage (exit 2), the
checked option types, the options several commands take, and how results are printed."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from .._errors import InvalidArgument
from .._results import Result
from ..providers import DEFAULT_PROVIDER, PROVIDERS
from ..providers.base import check_lab_name

#: adds one subcommand: its name, its help (also its description) and an example (the epilog)
Command = Callable[[str, str, str], argparse.ArgumentParser]


class Usage(Exception):
    """Bad usage found after parsing (exit 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        """Bad usage: one line saying what is wrong and where the help is (exit 2); a
        misspelled command or choice gets the closest one (``stauts``: did you mean 'status'?)."""
        wrong = re.search(r"invalid choice: '?([^' ]*)'? \(choose from (.*)\)", message)
        if wrong:
            from .._util import did_you_mean

            choices = [c.strip().strip("'\"") for c in wrong.group(2).split(",")]  # quoted or not
            close = did_you_mean(wrong.group(1), choices)
            if close:
                message = f"{message[:wrong.start()]}invalid choice: {wrong.group(1)!r}: did you mean {close!r}?"
        self.exit(2, f"{self.prog}: {message} (see: {self.prog} --help)\n")


def lab_name(text: str) -> str:
    try:
        return check_lab_name(text)
    except InvalidArgument as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def count(least: int) -> Any:
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = -1
        if n < least or n > 99 or str(n) != text.strip():
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from {least} to 99")
        return n
    return parse


def provider_opt(p: argparse.ArgumentParser, found: bool = False) -> None:
    """``found``: a command that names an existing lab; with neither --provider nor
    $SWARMLAB_PROVIDER it takes the provider the lab was found on (:func:`.labs.provider`)."""
    if found:
        p.add_argument("--provider", choices=sorted(PROVIDERS), default=os.environ.get("SWARMLAB_PROVIDER"),
                       help="where its machines come from (default: $SWARMLAB_PROVIDER, else the one "
                            "'swarmlab ls' finds the lab on, else dind)")
    else:
        p.add_argument("--provider", choices=sorted(PROVIDERS),
                       default=os.environ.get("SWARMLAB_PROVIDER") or DEFAULT_PROVIDER,
                       help="where machines come from (default: $SWARMLAB_PROVIDER, else dind)")


def output_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", "-o", choices=("table", "json"), default="table")


def table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    from .._format import text_table

    return text_table(list(columns), rows)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def shown(result: Result) -> str:
    return repr(result)
