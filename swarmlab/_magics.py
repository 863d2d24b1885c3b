"""``%docker`` and ``%%docker``: the real ``docker`` CLI on a machine of the lab, from a cell
(``%load_ext swarmlab``)::

    %docker manager1 node ls            # docker node ls, run on manager1
    %%docker manager1
    service ls
    service ps helloworld

Each line runs with the machine's own ``docker`` (``docker-machine ssh MACHINE docker ...``);
a line may start with ``docker`` or leave it out. ``$name`` as the machine takes it from a
notebook variable (``%docker $manager node ls``); nothing else in the line is expanded, so
Go templates (``--format '{{.Hostname}}'``) reach the CLI as typed. The lab is the notebook's ``lab`` variable
when it is a :class:`~swarmlab.Lab`, else the Lab made last in this kernel. What the CLI
prints is shown as it printed it, its errors too (with the exit code): a failed command does
not stop the notebook, as it would not stop a terminal."""

from __future__ import annotations

import shlex
from typing import Any

from ._errors import InvalidArgument, SwarmStateError
from ._results import Output
from .commands.validate import check_machine_name

USAGE = "%docker MACHINE COMMAND..., e.g. %docker manager1 node ls (or a %%docker MACHINE cell, a command a line)"


def current_lab(namespace: dict[str, Any]) -> Any:
    from .lab import Lab, latest

    lab = namespace.get("lab")
    if isinstance(lab, Lab):
        return lab
    lab = latest()
    if lab is None:
        raise SwarmStateError("no lab yet in this notebook: make one first, e.g. lab = sl.Lab('tutorial')")
    return lab


def docker_command(words: str) -> str:
    """``node ls`` or ``docker node ls`` -> ``docker node ls`` (one line; checked to parse)."""
    try:
        parts = shlex.split(words, comments=True)
    except ValueError as e:
        raise InvalidArgument(f"cannot read {words!r} as a command: {e}") from None
    if not parts:
        return ""
    if parts[0] == "docker":
        parts = parts[1:]
    if not parts:
        raise InvalidArgument(f"say what docker should do, e.g. {USAGE}")
    return shlex.join(["docker", *parts])


def run(namespace: dict[str, Any], line: str, cell: str | None = None) -> list[Output]:
    """The outputs of the line (or the cell's lines) run on the machine the line names."""
    machine, _, rest = line.strip().partition(" ")
    if not machine:
        raise InvalidArgument(f"name a machine: {USAGE}")
    if machine.startswith("$"):  # %docker $manager ...: a notebook variable holding the name
        value = namespace.get(machine[1:])
        if not isinstance(value, str):
            raise InvalidArgument(f"{machine}: no variable {machine[1:]!r} holding a machine's name here")
        machine = value
    check_machine_name(machine)
    commands = [docker_command(text) for text in (cell.splitlines() if cell is not None else [rest])]
    commands = [c for c in commands if c]
    if not commands:
        raise InvalidArgument(f"no command to run on {machine}: {USAGE}")
    lab = current_lab(namespace)
    outputs = []
    for command in commands:
        out = lab.ssh(machine, command)
        outputs.append(Output(str(out), f"{command}   # on {machine}", out.exit_code))
    return outputs


def load(ipython: Any) -> None:
    """Register ``%docker`` / ``%%docker`` in an IPython shell."""
    from IPython.core.magic import no_var_expand
    from IPython.display import display

    @no_var_expand  # a Go template ({{.Hostname}}) is the CLI's, not a Python variable
    def docker(line: str, cell: str | None = None) -> None:
        for out in run(ipython.user_ns, line, cell):
            display(out)

    ipython.register_magic_function(docker, magic_kind="line_cell", magic_name="docker")
