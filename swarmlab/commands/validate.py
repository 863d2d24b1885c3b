"""Validators for what a learner passes in: each returns the checked value or raises
:class:`~swarmlab.InvalidArgument` saying what to give instead. Nothing is changed before they
have all passed. (Machine and lab names: :mod:`swarmlab.providers.base`.)"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .._errors import InvalidArgument
from .._swarm import image_ref
from .._util import did_you_mean
from ..providers.base import check_lab_name, check_machine_name, check_machine_names

_SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
AVAILABILITIES = ("active", "pause", "drain")
FAILURE_ACTIONS = ("pause", "continue", "rollback")
ROLES = ("worker", "manager")


def check_replicas(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise InvalidArgument(
            f"replicas for {name!r} must be a whole number of 0 or more, not {value!r}; "
            f"e.g. lab.service.scale({name}=5)"
        )
    if value < 0:
        raise InvalidArgument(
            f"replicas for {name!r} cannot be negative ({value}); use 0 to stop every task, "
            f"or lab.service.rm({name!r}) to remove the service"
        )
    return value


def check_swarm_name(kind: str, name: object, example: str) -> str:
    """A name of something in the swarm (a service, a network): what the engine accepts."""
    if not isinstance(name, str) or not _SERVICE_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid {kind} name {name!r}: use letters, digits, '_', '.' and '-' "
            f"(start with a letter or digit, at most 63 characters), e.g. {example!r}"
        )
    return name


def check_service_name(name: object) -> str:
    return check_swarm_name("service", name, "helloworld")


def check_image(image: object) -> str:
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        raise InvalidArgument(f"image {image!r}: give an image name such as 'alpine' or 'redis:7.2'")
    return image


def check_role(role: object) -> str:
    if role not in ROLES:
        raise InvalidArgument(f"role={role!r}: use 'worker' or 'manager'")
    return str(role)


def check_choice(what: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices:
        raise InvalidArgument(f"{what}={value!r}: use one of {', '.join(map(repr, choices))}")


def check_names(what: str, value: object, example: str) -> tuple[str, ...]:
    """A list of names (``networks=['appnet']``, ``secret_rm=['pw']``), not one string."""
    names = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str) else None
    if names is None or not all(isinstance(n, str) for n in names):
        raise InvalidArgument(f"{what}={value!r}: give a list of names, e.g. {what}=[{example!r}]")
    return names


def check_create_options(env: object, labels: object, constraints: object,
                         networks: object = ()) -> None:
    """Validate the shapes of create's optional arguments before anything happens (the
    published ports: :meth:`swarmlab.commands.service_parts.Publish.of`)."""
    for what, value in (("env", env), ("labels", labels)):
        if value is not None and (not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            raise InvalidArgument(f"{what}={value!r}: give a dict of strings, e.g. {what}={{'KEY': 'value'}}")
    if isinstance(constraints, str) or not all(isinstance(c, str) for c in constraints):  # type: ignore[attr-defined]
        raise InvalidArgument(
            f"constraints={constraints!r}: give a list of strings, e.g. constraints=['node.role==worker']")
    check_names("networks", networks, "appnet")


__all__ = ["AVAILABILITIES", "FAILURE_ACTIONS", "ROLES", "check_choice", "check_create_options",
           "check_image", "check_lab_name", "check_names", "check_machine_name", "check_machine_names",
           "check_replicas", "check_role", "check_service_name", "check_swarm_name", "did_you_mean", "image_ref"]
