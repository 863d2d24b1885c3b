"""Go's ways of printing values, as the docker CLI (a Go program) prints them: booleans,
floats, sizes, natural sort order, image names."""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Any


# -- Go's ways of printing ---------------------------------------------------------------
def pretty_print(value: Any) -> str:
    """The CLI's ``PrettyPrint``: the first letter upper case, the rest lower case."""
    s = "None" if value is None else str(value)
    if len(s) <= 1:
        return s.lower()
    return s[0].upper() + s[1:].lower()


def go_bool(value: Any) -> str:
    return "true" if value else "false"


def go_float(value: Any) -> str:
    """A float as Go's ``%v`` prints it: the shortest digits that read back the same, with an
    exponent from 1e+06 up and below 1e-04 ('0.5', '2', '1.5e+06')."""
    x = float(value)
    if x == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    exp10 = len(digits) + int(exponent) - 1
    minus = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{minus}{mant}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    text = format(Decimal(f"0.{ds}").scaleb(exp10 + 1), "f")
    return minus + (text.rstrip("0").rstrip(".") if "." in text else text)


def bytes_size(n: float) -> str:
    """go-units' ``BytesSize``: '23.54GiB', '512MiB', '1KiB'."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    size, i = float(n), 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def _isdigit(c: str) -> bool:
    return "0" <= c <= "9"


def natural_less(a: str, b: str) -> bool:
    """``sortorder.NaturalLess``, the CLI's order of names: 'worker2' before 'worker10'; runs of
    digits compare as numbers (fewer leading zeros first), everything else byte by byte."""
    s1, s2 = a.encode(), b.encode()
    i = j = 0
    while i < len(s1) and j < len(s2):
        c1, c2 = s1[i:i + 1].decode("latin-1"), s2[j:j + 1].decode("latin-1")
        d1, d2 = _isdigit(c1), _isdigit(c2)
        if d1 != d2:
            return d1
        if not d1:
            if c1 != c2:
                return c1 < c2
            i += 1
            j += 1
            continue
        while i < len(s1) and s1[i:i + 1] == b"0":
            i += 1
        while j < len(s2) and s2[j:j + 1] == b"0":
            j += 1
        nz1, nz2 = i, j
        while i < len(s1) and _isdigit(s1[i:i + 1].decode("latin-1")):
            i += 1
        while j < len(s2) and _isdigit(s2[j:j + 1].decode("latin-1")):
            j += 1
        if i - nz1 != j - nz2:
            return i - nz1 < j - nz2
        if s1[nz1:i] != s2[nz2:j]:
            return s1[nz1:i] < s2[nz2:j]
        if nz1 != nz2:
            return nz1 < nz2
    return len(s1) < len(s2)


def natural_key(value: str) -> Any:
    """A sort key for :func:`natural_less`."""
    return natural_cmp_key(value)


def natural_cmp(a: str, b: str) -> int:
    return -1 if natural_less(a, b) else (1 if natural_less(b, a) else 0)


natural_cmp_key = functools.cmp_to_key(natural_cmp)

_DOMAIN = re.compile(r"^[^/]*[.:][^/]*$|^localhost$")


def display_image(image: str) -> str:
    """An image as ``service ls`` and ``service ps`` show it: the digest dropped when there is a
    tag, Docker Hub's ``docker.io/library/`` left out ('redis:7.4@sha256:...' -> 'redis:7.4')."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return image  # no tag: the CLI shows the reference as it is
    repo, tag = name[: len(name) - len(last)] + last.split(":", 1)[0], last.split(":", 1)[1]
    parts = repo.split("/")
    if len(parts) > 1 and _DOMAIN.match(parts[0]):
        domain, path = parts[0], "/".join(parts[1:])
    else:
        domain, path = "docker.io", repo
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io":
        shown = path[len("library/"):] if path.startswith("library/") and path.count("/") == 1 else path
    else:
        shown = f"{domain}/{path}"
    return f"{shown}:{tag}"


# -- docker service ps ---------------------------------------------------------------------
