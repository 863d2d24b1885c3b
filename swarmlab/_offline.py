"""Online or offline, when nobody said: ``offline=None`` (the lessons' default).

Asked (``offline=True/False``, or ``SWARMLAB_OFFLINE=1/0``): that, nothing probed. Else
swarmlab looks, from this computer, the way a learner would check by hand:

1. the registry mirror the machines would use (``SWARMLAB_REGISTRY_MIRROR``, or a lab's
   ``registry_mirror``) answers: online, the machines pull through it;
2. else Docker Hub's registry answers (any HTTP answer, its 401 included): online;
3. else offline: the machines get the offline images from this computer's engine.

It says which it chose and why (:attr:`Choice.why`). The registry asked in step 2 is
``SWARMLAB_ONLINE_PROBE`` when set (a URL, checked as a mirror's is): the test suite points
it at this computer, so that no test ever asks an address outside it. An answer is kept
for a minute, so one lesson asks once.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from ._errors import InvalidArgument
from ._util import _FALSE, _TRUE

ENV = "SWARMLAB_OFFLINE"
PROBE_ENV = "SWARMLAB_ONLINE_PROBE"
DOCKER_HUB = "https://registry-1.docker.io"
#: how long one registry may take to answer
TIMEOUT = 3.0
#: how long an answer is kept
KEEP = 60.0

_kept: dict[tuple[str, str], tuple[float, Choice]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Choice:
    """Offline or not, and why: ``why`` is '' when it was asked, not chosen."""

    offline: bool
    why: str = ""


def asked() -> bool | None:
    """``SWARMLAB_OFFLINE`` as True/False, None when unset; a value that is neither is an
    :class:`InvalidArgument` saying what to give."""
    value = os.environ.get(ENV, "").strip().lower()
    if not value:
        return None
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise InvalidArgument(f"{ENV}={value[:40]!r}: give 1 (offline) or 0 (online), or unset it and "
                          f"swarmlab chooses")


def probe_url() -> str:
    """The registry whose answer means online: ``SWARMLAB_ONLINE_PROBE``, else Docker Hub."""
    from .providers import check_url

    value = os.environ.get(PROBE_ENV, "")
    return check_url(value, PROBE_ENV) if value else DOCKER_HUB


def check(offline: object) -> bool | None:
    """``offline`` as asked (True, False or None), or :class:`InvalidArgument` saying what to give."""
    if offline is not None and not isinstance(offline, bool):
        raise InvalidArgument(f"offline={offline!r}: give True, False, or None (swarmlab chooses)")
    return offline


def decide(offline: bool | None = None, mirror: str | None = None) -> Choice:
    """Offline or online (see the module): ``offline`` when given, else ``SWARMLAB_OFFLINE``,
    else chosen. ``mirror``: the lab's registry mirror (None: ``SWARMLAB_REGISTRY_MIRROR``)."""
    from .providers import lab_mirror

    if check(offline) is not None:
        return Choice(bool(offline))
    said = asked()
    if said is not None:
        return Choice(said)
    key = (lab_mirror(mirror), probe_url())
    with _lock:
        kept = _kept.get(key)
        if kept is not None and time.monotonic() - kept[0] < KEEP:
            return kept[1]
    choice = _look(*key)
    with _lock:
        _kept[key] = (time.monotonic(), choice)
    return choice


def _look(mirror: str, registry: str) -> Choice:
    not_mirror = ""
    if mirror:
        url, why_not = _mirror_url(mirror)
        why_not = why_not or _silent(url, urllib.request.build_opener(urllib.request.ProxyHandler({})))
        if not why_not:
            return Choice(False, f"swarmlab chose ONLINE: the registry mirror {mirror} answers; the machines pull "
                                 f"through it. (offline=True, or SWARMLAB_OFFLINE=1, chooses offline.)")
        not_mirror = f"the registry mirror {mirror} ({why_not}) nor "
    why_not = _silent(registry, urllib.request.build_opener())  # this computer's proxy, if it has one
    if not why_not:
        return Choice(False, f"swarmlab chose ONLINE: {registry} answers from this computer. (offline=True, or "
                             f"SWARMLAB_OFFLINE=1, chooses the offline images.)")
    return Choice(True, f"swarmlab chose OFFLINE: neither {not_mirror or ''}{registry} answers from this computer "
                        f"({why_not}). (offline=False, or SWARMLAB_OFFLINE=0, chooses online.)")


def _mirror_url(mirror: str) -> tuple[str, str]:
    """Where this computer reaches ``mirror``: swarmlab's own mirror through its port on
    127.0.0.1 (its name answers only on the labs' networks); ('', why) when it is not running."""
    from .providers import is_local, mirror_here

    if not is_local(mirror):
        return mirror, ""
    try:
        status = mirror_here().status()
    except Exception as e:  # noqa: BLE001 - no engine: the mirror cannot run
        return "", f"not reachable: {str(e)[:100]}"
    return (status.local_url, "") if status.running and status.local_url else ("", "not running")


def _silent(url: str, opener: urllib.request.OpenerDirector) -> str:
    """'' when the registry at ``url`` answers ``GET /v2/`` (any HTTP status), else why not."""
    if not url:
        return "no address"
    try:
        with opener.open(f"{url.rstrip('/')}/v2/", timeout=TIMEOUT):
            return ""
    except urllib.error.HTTPError:
        return ""  # an answer: Docker Hub says 401 to a client with no token
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return f"{type(reason).__name__}: {str(reason)[:100]}" if str(reason) else type(reason).__name__
