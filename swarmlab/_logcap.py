"""A log that cannot grow without bound (run as a program, standard library only):
``python _logcap.py FILE LIMIT`` appends what comes on its standard input to FILE; when FILE
passes LIMIT bytes it becomes ``FILE.1`` (the one before is dropped) and FILE starts again,
so the two hold at most about twice LIMIT. A rootless engine's output goes through it."""

from __future__ import annotations

import os
import sys


def _open(path: str) -> tuple[int, int]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    return fd, os.fstat(fd).st_size


def run(path: str, limit: int, source: int = 0) -> None:
    limit = max(limit, 1)
    fd, size = _open(path)
    try:
        while True:
            data = os.read(source, 65536)
            if not data:
                return
            while data:
                if size >= limit:  # (a log full from an earlier run too)
                    os.close(fd)
                    os.replace(path, path + ".1")
                    fd, size = _open(path)
                piece, data = data[: limit - size], data[limit - size:]
                os.write(fd, piece)
                size += len(piece)
    finally:
        os.close(fd)


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]))
