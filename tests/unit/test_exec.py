"""How an exec's multiplexed stream is read (:mod:`swarmlab._exec`); that nothing of a real
exec's output is lost is shown on a real swarm (tests/integration/test_networks.py)."""

from __future__ import annotations

import io

import pytest

from swarmlab._exec import ExecOutput, ExecTimeout, read_frames


def frame(kind: int, data: bytes) -> bytes:
    return bytes([kind, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def read(data: bytes, limit: int | None = None) -> tuple[bytes, bool]:
    # a buffer smaller than a frame: frames are read across the buffer's refills
    frames, cut = read_frames(io.BufferedReader(io.BytesIO(data), buffer_size=7), lambda _t: None, None, limit)
    return ExecOutput(None, frames).output, cut


def test_frames_are_read_in_order_and_a_cut_frame_is_kept_short() -> None:
    data = frame(1, b"service update x. 1\n") + frame(2, b"an error\n") + frame(1, b"node ")
    assert read(data) == (b"service update x. 1\nan error\nnode ", False)
    assert read(data + frame(1, b"cut short")[:12]) == (b"service update x. 1\nan error\nnode cut ", False)
    assert read(data + frame(1, b"")) == (b"service update x. 1\nan error\nnode ", False)
    frames, _ = read_frames(io.BufferedReader(io.BytesIO(data)), lambda _t: None, None)
    said = ExecOutput(0, frames)
    assert (said.stdout, said.stderr) == (b"service update x. 1\nnode ", b"an error\n")


def test_reading_stops_at_the_limit_and_says_so() -> None:
    data = frame(1, b"service update x. 1\n") + frame(2, b"an error\n") + frame(1, b"node ")
    assert read(data, limit=25) == (b"service update x. 1\nan er", True)
    assert read(data, limit=34) == (b"service update x. 1\nan error\nnode ", False)


def test_a_deadline_already_past_stops_the_reading() -> None:
    timeouts: list[float | None] = []
    with pytest.raises(ExecTimeout):
        read_frames(io.BufferedReader(io.BytesIO(frame(1, b"x"))), timeouts.append, 0.0)
    assert timeouts == []
