"""The registry mirror a lab's machines pull through, as a URL: its rules, and this computer's
own mirror's name (``swarmlab mirror``, which the dind provider runs: :mod:`.dind.mirror`).
Written once here for the providers, the lessons' online check and the ``swarmlab`` command,
which reach it through :mod:`swarmlab.providers`."""

from __future__ import annotations

import os
import re
import urllib.parse

from .._errors import InvalidArgument

#: the name the machines know this computer's mirror by, on every lab network it joins
ALIAS = "swarmlab-mirror"
PORT = 5000
#: what a lab sets (or ``SWARMLAB_REGISTRY_MIRROR``) to use this computer's mirror
MIRROR_URL = f"http://{ALIAS}:{PORT}"
DOCKER_HUB = "https://registry-1.docker.io"
ENV = "SWARMLAB_REGISTRY_MIRROR"

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def check_url(url: object, what: str = "registry mirror") -> str:
    """``url`` as ``scheme://host[:port]``: http or https, a host name or IPv4 address, no
    user, password, path, query or fragment (dockerd takes nothing else as a mirror, and
    the URL becomes a dockerd flag and a registry setting). :class:`InvalidArgument` else."""
    example = f"e.g. {MIRROR_URL!r} or {DOCKER_HUB!r}"
    if not isinstance(url, str) or not url or len(url) > 300 or any(c.isspace() for c in url):
        raise InvalidArgument(f"{what} {url!r}: give a URL, {example}")
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (parts.scheme not in ("http", "https") or not parts.hostname or not _HOST_RE.match(parts.hostname)
            or parts.username is not None or parts.password is not None or port == -1 or port == 0
            or parts.path not in ("", "/") or parts.query or parts.fragment or "[" in parts.netloc):
        raise InvalidArgument(
            f"{what} {url!r}: give http:// or https://, a host and a port at most (no user, "
            f"path or query), {example}")
    netloc = parts.hostname + (f":{port}" if port else "")
    return f"{parts.scheme}://{netloc}"


def lab_mirror(asked: str | None) -> str:
    """The mirror a lab's machines use: ``asked`` (``Lab(registry_mirror=...)``), else
    ``$SWARMLAB_REGISTRY_MIRROR``; ``""`` (none) when neither or ``"off"``. Checked."""
    value = asked if asked is not None else os.environ.get(ENV, "")
    if value in ("", "off"):
        return ""
    return check_url(value, f"registry mirror ({'registry_mirror=' if asked is not None else ENV})")


def is_local(url: str) -> bool:
    """Whether ``url`` is this computer's ``swarmlab mirror`` (reached through its alias)."""
    return urllib.parse.urlsplit(url).hostname == ALIAS
