"""A classroom's limits: how many machines each learner may have on this computer, and how
much memory and CPU each machine gets, set by the teacher in one file.

``/etc/swarmlab/limits.json`` (``SWARMLAB_LIMITS`` names another file)::

    {"machines": 6, "memory": "768m", "cpus": 0.5,
     "users": {"1001": {"machines": 12}}}

``machines`` counts a learner's machines in all their labs on this engine (running or not);
``memory`` and ``cpus`` are each machine's container limits (``docker run --memory
--memory-swap --cpus``): the default for every machine, and the most a learner may ask for
(``Lab(..., memory="512m", cpus=0.25)``). ``users`` sets other limits for some learners, by
user id (or name where there are no ids). No file: no limits.

Only root chooses the file: a learner's ``SWARMLAB_LIMITS`` is used when root alone can change
the file it names (the file and every folder above it root's, written by no one else; a
folder such as ``/tmp``, writable by all but sticky, counts as root's when what is in it is
root's). Any other file is not read: the learner gets ``/etc/swarmlab/limits.json``'s limits,
and what they make says that their file was not used, and why. Root's own processes (the
teacher's) use any file.

A learner's machines are counted, and the new ones made, under one lock of theirs
(:func:`counting`): two of their programs making machines at the same moment are counted one
after the other, so together they cannot pass the limit either.

These are guard rails for a shared lab server, not security: whoever can use the host's
Docker engine can start containers without swarmlab, and is root on the host (see the
README's trust model).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import _home
from ..._errors import InvalidArgument, LimitExceeded

DEFAULT_FILE = "/etc/swarmlab/limits.json"
ENV = "SWARMLAB_LIMITS"
#: a dind machine (its dockerd and a few tasks) needs about this much to start at all
LEAST_MEMORY = 128 * 1024**2
MOST_MACHINES = 1000

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def memory_bytes(value: object, what: str = "memory") -> int:
    """``"768m"``, ``"1g"``, ``"1.5GiB"`` or a number of bytes, as bytes (at least 128 MiB)."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE_RE.match(value.strip())):
        size = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    else:
        raise InvalidArgument(f"{what}={value!r}: give a size such as '512m' or '1g'")
    if size < LEAST_MEMORY:
        raise InvalidArgument(f"{what}={value!r}: a machine needs at least 128m to run its engine")
    return size


def cpus_value(value: object, what: str = "cpus") -> float:
    """A number of CPUs per machine, from 0.05 (a twentieth of one) to 256."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidArgument(f"{what}={value!r}: give a number of CPUs such as 0.5 or 2")
    try:
        cpus = float(value)
    except ValueError:
        raise InvalidArgument(f"{what}={value!r}: give a number of CPUs such as 0.5 or 2") from None
    if not 0.05 <= cpus <= 256:
        raise InvalidArgument(f"{what}={value!r}: give a number of CPUs from 0.05 to 256")
    return cpus


def show_size(size: int) -> str:
    for unit, factor in (("g", 1024**3), ("m", 1024**2)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size / 1024**2:.0f}m"


@dataclass(frozen=True)
class Limits:
    """One learner's limits; ``None`` is no limit. ``source`` is the file they come from;
    ``note`` says why the file ``SWARMLAB_LIMITS`` names was not used ("" when it was)."""

    machines: int | None = None
    memory: int | None = None  # bytes per machine
    cpus: float | None = None  # per machine
    source: str = ""
    note: str = ""

    def _said(self) -> str:
        return f" ({self.note})" if self.note else ""

    def machine_resources(self, memory: object = None, cpus: object = None) -> tuple[int | None, float | None]:
        """The memory and CPUs a machine gets: what was asked (checked against the limits),
        else the limits themselves; :class:`LimitExceeded` for more than the limit."""
        mem = memory_bytes(memory) if memory is not None else self.memory
        cpu = cpus_value(cpus) if cpus is not None else self.cpus
        if mem is not None and self.memory is not None and mem > self.memory:
            raise LimitExceeded(
                f"memory={memory!r} is more than each machine may have here ({show_size(self.memory)}, set in "
                f"{self.source}): ask for {show_size(self.memory)} or less, or leave memory out{self._said()}")
        if cpu is not None and self.cpus is not None and cpu > self.cpus:
            raise LimitExceeded(
                f"cpus={cpus!r} is more than each machine may have here ({self.cpus:g}, set in {self.source}): "
                f"ask for {self.cpus:g} or less, or leave cpus out{self._said()}")
        return mem, cpu

    def check_machines(self, lab: str, new: int, had: dict[str, int]) -> None:
        """Refuse ``new`` more machines for lab ``lab`` when the learner, with the machines
        they ``had`` (per lab), would have more than the limit."""
        if self.machines is None or new == 0:
            return
        total = sum(had.values()) + new
        if total <= self.machines:
            return
        labs = ", ".join(f"{name} ({n})" for name, n in sorted(had.items())) or "none"
        raise LimitExceeded(
            f"{new} more machine{'s' if new != 1 else ''} in lab {lab!r} would make {total}: each learner may "
            f"have {self.machines} machines here (set in {self.source}); yours now: {labs}. Remove a lab "
            f"you are done with ('swarmlab down LAB') or some machines (lab.machine.rm(...)), then try again"
            f"{self._said()}")


def read(who: str, path: str | None = None) -> Limits:
    """The limits for the learner ``who`` (an owner label's value), from ``path`` (else
    ``$SWARMLAB_LIMITS``, else ``/etc/swarmlab/limits.json``); none when there is no file.
    A file that is not what this reads is an error naming the file and what to fix. For
    anyone but root, a file chosen (``path`` or ``$SWARMLAB_LIMITS``) that root alone cannot
    change is not read: the limits are ``/etc/swarmlab/limits.json``'s, with a note why."""
    chosen = path or os.environ.get(ENV)
    note = ""
    if chosen and hasattr(os, "geteuid") and os.geteuid() != 0:
        why = untrusted(Path(chosen))
        if why:
            note = (f"{ENV}={chosen} was not used: {why}; only a file root alone can change may set a "
                    f"learner's limits, so these are from {DEFAULT_FILE}")
            chosen = None
        else:  # read where it was judged: a link of the learner's cannot be turned meanwhile
            chosen = os.path.realpath(chosen)
    where = Path(chosen or DEFAULT_FILE)
    try:
        text = _read_text(where)
    except FileNotFoundError:
        if chosen:
            raise InvalidArgument(f"the limits file {where} (from {ENV}) does not exist") from None
        return Limits(note=note + (" (there is none: no limits)" if note else ""))
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"the limits file {where} cannot be read: {e}") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InvalidArgument(f"the limits file {where} is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"the limits file {where}: give an object, e.g. "
                              f"{{\"machines\": 6, \"memory\": \"768m\"}}")
    users = data.get("users", {})
    if not isinstance(users, dict):
        raise InvalidArgument(f"the limits file {where}: 'users' is an object of user id -> limits")
    merged = {k: v for k, v in data.items() if k != "users"}
    mine = users.get(who, {})
    if not isinstance(mine, dict):
        raise InvalidArgument(f"the limits file {where}: users[{who!r}] is an object of limits")
    merged.update(mine)
    return _limits(merged, str(where), note)


def _read_text(where: Path) -> str:
    with open(where, encoding="utf-8") as f:
        return f.read()


def untrusted(path: Path) -> str:
    """Why someone other than root could change the file at ``path`` (itself, or a folder
    above it), or why it is no file to read; "" when root alone can change it. The path is
    resolved first: a symlink is judged by the file it leads to and the folders above that."""
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return "it does not exist"
    except OSError as e:
        return f"it cannot be read ({e.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"{real} is not a plain file"
    if st.st_uid != 0:
        return f"{real} belongs to uid {st.st_uid}, not root"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{real} can be written by others (mode {stat.S_IMODE(st.st_mode):o})"
    for folder in real.parents:
        st = os.stat(folder)
        if st.st_uid != 0:
            return f"its folder {folder} belongs to uid {st.st_uid}, not root"
        # a sticky folder's entries are changed by their owners only: here, root's
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            return f"its folder {folder} can be written by others (mode {stat.S_IMODE(st.st_mode):o})"
    return ""


def counting(folder: Callable[[], Path], timeout: float, limited: bool = True) -> AbstractContextManager[None]:
    """The learner's lock (``.lock`` in ``folder()``, one of their own folders) held while
    their machines are counted and the new ones made: one program of theirs at a time. No
    lock when their machines are not ``limited`` (their labs are then made side by side)."""
    if not limited:
        return nullcontext()
    return _home.locked(folder, "your machines (counted against the classroom's limit)", timeout)


def _limits(data: dict[str, Any], source: str, note: str = "") -> Limits:
    unknown = sorted(set(data) - {"machines", "memory", "cpus"})
    if unknown:
        raise InvalidArgument(f"the limits file {source}: unknown setting {', '.join(map(repr, unknown))} "
                              f"(known: machines, memory, cpus, users)")
    machines = data.get("machines")
    if machines is not None and (isinstance(machines, bool) or not isinstance(machines, int)
                                 or not 1 <= machines <= MOST_MACHINES):
        raise InvalidArgument(f"the limits file {source}: machines={machines!r}: give a whole number from 1 "
                              f"to {MOST_MACHINES}")
    try:
        memory = memory_bytes(data["memory"]) if data.get("memory") is not None else None
        cpus = cpus_value(data["cpus"]) if data.get("cpus") is not None else None
    except InvalidArgument as e:
        raise InvalidArgument(f"the limits file {source}: {e}") from None
    return Limits(machines, memory, cpus, source, note)
