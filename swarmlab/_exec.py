"""``docker exec``: a command run in a container, and every byte it wrote.

docker-py's ``exec_run`` (and ``exec_start(socket=True)``) read the command's output from the
socket under the HTTP response. But http.client read the response's headers through a
buffered reader, and whatever came with them is in that reader's buffer, not on the socket:
it is never read. A short command on a busy computer has often run, written and ended before
its response's headers are read, and ``exec_run`` then gives ``b""`` with exit code 0
(docker/docker-py#2042, open). Seen here: ``stat`` in a task gave nothing once in a full test
run, 2 times in 800 with eight busy loops beside it, and every time when the headers are read
half a second late. Here the stream is read through that same buffered reader, so nothing
that came is left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests

#: a non-TTY exec's stream is frames: 1 byte stream (1 stdout, 2 stderr), 3 zero bytes, a
#: 4-byte big-endian length, then that many bytes
_FRAME_HEADER = 8
_CHUNK = 65536


class ExecTimeout(Exception):
    """The command's stream did not end within its deadline."""


@dataclass(frozen=True)
class ExecOutput:
    """What an exec wrote, as the frames came (stream 1 stdout, 2 stderr), its exit code
    (None when the reading stopped at its limit), and whether it did."""

    code: int | None
    frames: tuple[tuple[int, bytes], ...]
    cut: bool = False

    @property
    def output(self) -> bytes:
        """stdout and stderr in the order they came (as a terminal shows them)"""
        return b"".join(data for _, data in self.frames)

    @property
    def stdout(self) -> bytes:
        return b"".join(data for kind, data in self.frames if kind == 1)

    @property
    def stderr(self) -> bytes:
        return b"".join(data for kind, data in self.frames if kind == 2)

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


def exec_output(client: docker.DockerClient, container: str, cmd: Sequence[str], *,
                environment: Mapping[str, str] | None = None, stderr: bool = True,
                deadline: float | None = None, limit: int | None = None) -> ExecOutput:
    """Run ``cmd`` in ``container`` (an ID or name on ``client``'s engine) and read all it
    writes: at most ``limit`` bytes (then ``cut``, and the command is left to end on its
    own), for at most ``deadline`` seconds (then :class:`ExecTimeout`). Docker's errors as
    docker-py raises them."""
    api = client.api
    exec_id = api.exec_create(container, list(cmd), stdout=True, stderr=stderr,
                              environment=dict(environment) if environment is not None else None)["Id"]
    end = None if deadline is None else time.monotonic() + deadline
    res = api.post(f"{api.base_url}/v{api.api_version}/exec/{exec_id}/start",
                   json={"Detach": False, "Tty": False},
                   headers={"Connection": "Upgrade", "Upgrade": "tcp"}, stream=True,
                   timeout=api.timeout if deadline is None else min(float(api.timeout), deadline))
    try:
        try:
            res.raise_for_status()
        except requests.exceptions.HTTPError as e:
            raise docker.errors.create_api_error_from_http_exception(e) from None
        fp = _buffered_stream(res)
        frames, cut = read_frames(fp, fp.raw._sock.settimeout, end, limit)
    finally:
        res.close()
    if cut:
        return ExecOutput(None, frames, True)
    return ExecOutput(api.exec_inspect(exec_id).get("ExitCode"), frames)


def _buffered_stream(res: requests.Response) -> Any:
    """The buffered reader http.client read the headers through (urllib3's response wraps
    http.client's, whose ``fp`` it is): the hijacked stream goes on in it."""
    fp = getattr(getattr(res.raw, "_fp", None), "fp", None)
    if fp is None or not hasattr(fp, "read1") or not hasattr(getattr(fp, "raw", None), "_sock"):
        raise docker.errors.DockerException("the engine's answer to exec start is not a stream this "
                                            "docker-py version lets swarmlab read")
    return fp


def read_frames(fp: Any, set_timeout: Callable[[float | None], None], end: float | None,
                limit: int | None = None) -> tuple[tuple[tuple[int, bytes], ...], bool]:
    """The frames read from ``fp`` (a buffered reader) until the stream ends (a frame cut
    short is kept short), or until ``limit`` bytes of payload (the last frame cut there) and
    True; ``set_timeout`` bounds each read of the stream by ``end``."""
    frames: list[tuple[int, bytes]] = []
    total = 0
    while True:
        header = _read_exactly(fp, set_timeout, _FRAME_HEADER, end)
        if len(header) < _FRAME_HEADER:
            return tuple(frames), False
        kind, size = header[0], int.from_bytes(header[4:8], "big")
        want = size if limit is None else min(size, limit - total + 1)
        data = _read_exactly(fp, set_timeout, want, end)
        total += len(data)
        if limit is not None and total > limit:
            frames.append((kind, data[:len(data) - (total - limit)]))
            return tuple(frames), True
        frames.append((kind, data))
        if len(data) < size:
            return tuple(frames), False


def _read_exactly(fp: Any, set_timeout: Callable[[float | None], None], n: int, end: float | None) -> bytes:
    """``n`` bytes, fewer only at the stream's end; each read of the socket waits at most
    until ``end`` (one read at a time, so a stream that trickles cannot stretch it)."""
    got = bytearray()
    while len(got) < n:
        if end is None:
            set_timeout(None)
        else:
            left = end - time.monotonic()
            if left <= 0:
                raise ExecTimeout("no end to its output in time")
            set_timeout(left)
        try:
            chunk = fp.read1(min(n - len(got), _CHUNK))
        except TimeoutError:  # socket.timeout
            raise ExecTimeout("no end to its output in time") from None
        if not chunk:
            break
        got += chunk
    return bytes(got)
