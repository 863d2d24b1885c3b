"""Labels and names: what swarmlab writes on everything a lab makes, and the rules for the
names it gives (labs, machines, owners). Every name read back from an engine or a folder is
checked against these rules before it becomes a lab, a path or a command (:func:`is_name`).

The label keys (``io.swarmlab.*``) are the only state: listing, re-attaching and cleanup are
label queries (:meth:`swarmlab.providers.base.Provider.list_labs`)."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Sequence

from .._errors import InvalidArgument

LABEL_LAB = "io.swarmlab.lab"
LABEL_ROLE = "io.swarmlab.role"
LABEL_MACHINE = "io.swarmlab.machine"
LABEL_PROVIDER = "io.swarmlab.provider"
#: who made it: the user id (``os.getuid()``), or the user name where there are no user ids.
#: Two users of one engine who both call their lab ``tutorial`` each see only their own.
LABEL_OWNER = "io.swarmlab.owner"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_LAB_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")
_OWNER_RE = re.compile(r"^[a-z0-9]{1,32}$")


_PATTERNS = {"lab": _LAB_RE, "machine": _NAME_RE, "owner": _OWNER_RE}


def _check_name(name: object, what: str, rule: str) -> str:
    """``name`` if it is a ``what`` name swarmlab gives (:func:`is_name`)."""
    if not is_name(name, what):
        raise InvalidArgument(f"invalid {what} name {name!r}: {rule}")
    return name  # type: ignore[return-value]


def check_machine_name(name: object) -> str:
    """Validate a machine name (a hostname label, as docker-machine requires)."""
    return _check_name(name, "machine", "use letters, digits and '-' (start with a letter "
                       "or digit, at most 63 characters), e.g. 'manager1'")


def check_machine_names(names: Sequence[object]) -> list[str]:
    """Validate a list of machine names: each valid, none twice."""
    checked = [check_machine_name(n) for n in names]
    seen: set[str] = set()
    twice = sorted({n for n in checked if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if twice:
        raise InvalidArgument(
            f"machine name given twice: {', '.join(twice)}; give each machine once"
        )
    return checked


def check_lab_name(name: object) -> str:
    """Validate a lab name: lower-case letters, digits and '-', at most 30 characters."""
    return _check_name(name, "lab", "use lower-case letters, digits and '-' (start with a "
                       "letter or digit, at most 30 characters), e.g. 'tutorial'")


def is_name(text: object, kind: str) -> bool:
    """Whether a name read back from an engine or a folder (a label's value, never trusted as
    it comes) is one swarmlab gives: ``kind`` is "lab", "machine" or "owner"."""
    pattern = _PATTERNS[kind]
    return isinstance(text, str) and bool(pattern.fullmatch(text)) and not text.endswith("-")


def labelled_lab(labels: dict[str, str] | None) -> tuple[str, str] | None:
    """(lab, owner) from labels read back from an engine, when both are names swarmlab gives."""
    labels = labels or {}
    lab, who = labels.get(LABEL_LAB), labels.get(LABEL_OWNER)
    return (lab, who) if is_name(lab, "lab") and is_name(who, "owner") else None  # type: ignore[return-value]


def owner() -> str:
    """This user, as the owner label says it: the user id, else the user name in lower-case
    letters and digits (``user`` when there is none)."""
    if hasattr(os, "getuid"):
        return str(os.getuid())
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no user name in the environment or database
        name = ""
    return re.sub(r"[^a-z0-9]", "", name.lower())[:32] or "user"


def owner_tag(who: str) -> str:
    """The owner as a part of a name (no '-' or '.', so names split back unambiguously):
    ``u1000`` for user id 1000, else the user name as :func:`owner` gives it."""
    return f"u{who}" if who.isdigit() else who


def lab_labels(lab: str, role: str, provider: str, machine: str | None = None) -> dict[str, str]:
    """The labels on everything a provider makes for a lab (a machine's also name it)."""
    labels = {LABEL_LAB: lab, LABEL_ROLE: role, LABEL_PROVIDER: provider}
    if machine is not None:
        labels[LABEL_MACHINE] = machine
    return labels


__all__ = [
    "LABEL_LAB",
    "LABEL_MACHINE",
    "LABEL_OWNER",
    "LABEL_PROVIDER",
    "LABEL_ROLE",
    "check_lab_name",
    "check_machine_name",
    "check_machine_names",
    "is_name",
    "lab_labels",
    "labelled_lab",
    "owner",
    "owner_tag",
]
