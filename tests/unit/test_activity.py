"""What counts as use of a lab (swarmlab gc --idle), read from `docker events` lines as the
machines' engines print them with activity.FORMAT (lines below taken from a real lab)."""

from __future__ import annotations

import pytest

import swarmlab as sl
from swarmlab.classroom.activity import is_use, parse_duration


@pytest.mark.parametrize("line, use", [
    ("service create . 1796098933783234567", True),
    ("node update . 1796098933056119397", True),
    ("image load . 1796098933756899499", True),
    ("network create . 1796098934088539815", True),
    ("secret create . 1796098934088539815", True),
    ("container create . 1796098934088539815", True),  # a container run by hand
    # what the swarm does by itself
    ("container create i1pmlebb95lx1w4d2ew3osedv. 1796098933952811270", False),
    ("container die i1pmlebb95lx1w4d2ew3osedv. 1796098933952811270", False),
    ("network connect . 1796098934122291743", False),
    ("network disconnect . 1796098934122291743", False),
    ("container exec_start: sh -c true . 1796098934122291743", False),
    ("container health_status: healthy . 1796098934122291743", False),
    ("volume create . 1796098934122291743", False),
    # not a line of ours: never use
    ("", False), ("service create . x", False), ("service create . 1 2", False),
    ("SERVICE create . 1796098933783234567", False),
])
def test_what_is_use(line: str, use: bool) -> None:
    assert (is_use(line) is not None) == use
    if use:
        # to the microsecond: approx's default (relative 1e-6) allows half an hour on an epoch time
        assert is_use(line) == pytest.approx(int(line.rsplit(" ", 1)[1]) / 1e9, abs=1e-6)


@pytest.mark.parametrize("text, seconds", [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("45s", 45),
                                           ("1d", 86400), ("1d2h", 93600)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "-2h", "2 h", "1.5h", "0s", "0h0m", None, 7200])
def test_anything_else_says_what_to_give(text: object) -> None:
    with pytest.raises(sl.InvalidArgument, match="give a duration such as '2h'"):
        parse_duration(text)
