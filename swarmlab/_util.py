"""Small idioms used across the package, written once: a parallel map over machines,
environment switches, and the text of an engine's error."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker.errors

T = TypeVar("T")

#: How many machines one step talks to at once (engine calls, docker-machine runs).
MAX_PARALLEL = 16


def parallel_map(fn: Callable[[Any], T], items: Sequence[Any], limit: int = MAX_PARALLEL) -> list[T]:
    """``[fn(i) for i in items]``, run in threads (at most ``limit`` at once), in order.
    The first exception raised by ``fn`` is raised here, after every call has ended."""
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=max(1, min(limit, len(items)))) as pool:
        return list(pool.map(fn, items))


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def env_flag(name: str, default: bool = False) -> bool:
    """An on/off environment switch: ``1/true/yes/on`` or ``0/false/no/off``, else ``default``."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return default


def _os_error(e: BaseException) -> OSError | None:
    """The operating system's error (errno and its words) somewhere under ``e``: in its
    arguments (urllib3's ``ProtocolError('Connection aborted.', OSError)``, wrapped by requests)
    or its cause and context (docker-py's ``DockerException ... from e``)."""
    seen: set[int] = set()
    todo: list[BaseException] = [e]
    while todo:
        x = todo.pop(0)
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, OSError) and x.errno is not None and x.strerror:
            return x
        todo += [a for a in getattr(x, "args", ()) if isinstance(a, BaseException)]
        todo += [c for c in (x.__cause__, x.__context__) if c is not None]
    return None


def error_text(e: BaseException, limit: int | None = None) -> str:
    """What an engine (or docker-py) said, without docker-py's wrapping: the API error's
    explanation, or the exception's own text."""
    if isinstance(e, docker.errors.APIError):
        text = str(e.explanation or e)
    elif "Connection aborted." in str(e) and (cause := _os_error(e)) is not None:
        # a refused or missing socket, wrapped by requests and urllib3 in a tuple of their
        # own words ("('Connection aborted.', ConnectionRefusedError(111, ...))"): the OS's
        return str(cause.strerror)
    else:
        text = str(e)
        for marker in ("Error while fetching server API version: ", "Connection aborted."):
            text = text.replace(marker, "")
        text = text.strip(" ()'\"") or type(e).__name__
    return text[:limit] if limit else text


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelled one (``hellowrld`` -> ``helloworld``), if any.
    Names that differ only in their numbers (``worker9``, ``worker1``) are different machines,
    not typos."""
    def stem(n: str) -> str:
        return n.rstrip("0123456789")

    candidates = [k for k in known if stem(k) != stem(name) or stem(name) == name]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return close[0] if close else None
