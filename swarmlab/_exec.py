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
    """What an exec wrote (stdout and, when asked for, stderr, in the order they came),
    its exit code (None when it was cut), and whether the reading stopped at its limit."""

    code: int | None
    output: bytes
    cut: bool = False

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
        output, cut = read_frames(fp, fp.raw._sock.settimeout, end, limit)
    finally:
        res.close()
    if cut:
        return ExecOutput(None, output, True)
    return ExecOutput(api.exec_inspect(exec_id).get("ExitCode"), output)


def _buffered_stream(res: requests.Response) -> Any:
    """The buffered reader http.client read the headers through (urllib3's response wraps
    http.client's, whose ``fp`` it is): the hijacked stream goes on in it."""
    fp = getattr(getattr(res.raw, "_fp", None), "fp", None)
    if fp is None or not hasattr(fp, "read1") or not hasattr(getattr(fp, "raw", None), "_sock"):
        raise docker.errors.DockerException("the engine's answer to exec start is not a stream this "
                                            "docker-py version lets swarmlab read")
    return fp


def read_frames(fp: Any, set_timeout: Callable[[float | None], None], end: float | None,
                limit: int | None = None) -> tuple[bytes, bool]:
    """The payload of the frames read from ``fp`` (a buffered reader) until the stream ends
    (a frame cut short is kept short), or ``limit`` bytes of it and True; ``set_timeout``
    bounds each read of the stream by ``end``."""
    out = bytearray()
    while True:
        header = _read_exactly(fp, set_timeout, _FRAME_HEADER, end)
        if len(header) < _FRAME_HEADER:
            return bytes(out), False
        size = int.from_bytes(header[4:8], "big")
        want = size if limit is None else min(size, limit - len(out) + 1)
        data = _read_exactly(fp, set_timeout, want, end)
        out += data
        if limit is not None and len(out) > limit:
            return bytes(out[:limit]), True
        if len(data) < size:
            return bytes(out), False


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
