"""``%docker``'s reading of a line, without an engine: what becomes the command, and bad lines
refused with what to type."""

from __future__ import annotations

import pytest

import swarmlab as sl
from swarmlab._magics import docker_command, run


@pytest.mark.parametrize("line, command", [
    ("node ls", "docker node ls"),
    ("docker node ls", "docker node ls"),
    ("service ps web --format '{{.Node}}'", "docker service ps web --format '{{.Node}}'"),
    ("  ", ""),
    ("# a comment", ""),
    ("ps; rm -rf /", "docker 'ps;' rm -rf /"),  # one command: a ';' is an argument, not a second one
])
def test_a_line_becomes_one_docker_command(line: str, command: str) -> None:
    assert docker_command(line) == command


@pytest.mark.parametrize("line, cell, says", [
    ("", None, "name a machine"),
    ("manager1", None, "no command to run on manager1"),
    ("../x node ls", None, "invalid machine name"),
    ("$nothere node ls", None, "no variable 'nothere'"),
    ("manager1 'unclosed", None, "cannot read"),
    ("manager1", "docker\n", "say what docker should do"),
])
def test_bad_lines_are_refused_before_anything_runs(line: str, cell: str | None, says: str) -> None:
    with pytest.raises(sl.InvalidArgument, match=says):
        run({}, line, cell)


def test_no_lab_yet_says_how_to_make_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import swarmlab.lab

    monkeypatch.setattr(swarmlab.lab, "_latest", None)
    with pytest.raises(sl.SwarmStateError, match=r"lab = sl.Lab\('tutorial'\)"):
        run({"lab": "not a lab"}, "manager1 node ls")
