"""The parts of a service's options, as value objects: how a rolling update goes
(:class:`UpdatePolicy`), the published ports (:class:`Publish` of :class:`Port`), the health
check (:class:`Health`) and the secrets and configs mounted (:class:`Reference`).

Each is built once from what a learner passes (``of``, which validates it and says what to
give instead), and the same object gives both the engine's fields (``engine``) and the
``docker service`` flags shown for them (``flags``): what is sent and what is shown cannot
drift apart. The whole of a ``create`` or an ``update``: :mod:`.service_options`."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import _format as fmt
from .._errors import InvalidArgument
from .secret import check_object_name
from .validate import FAILURE_ACTIONS


@dataclass(frozen=True)
class UpdatePolicy:
    """``--update-delay``, ``--update-parallelism``, ``--update-failure-action`` and
    ``--update-order``: how a rolling update replaces the tasks (the engine's UpdateConfig).
    A field left None was not given."""

    delay: float | None = None  #: seconds
    parallelism: int | None = None
    failure_action: str | None = None
    order: str | None = None

    @classmethod
    def of(cls, delay: object, parallelism: object, failure_action: object, order: object) -> UpdatePolicy:
        seconds = None if delay is None else fmt.parse_duration(delay, "update_delay")
        if parallelism is not None and (isinstance(parallelism, bool) or not isinstance(parallelism, int)
                                        or parallelism < 0):
            raise InvalidArgument(f"update_parallelism={parallelism!r}: a whole number, 0 meaning all at once")
        if failure_action is not None and failure_action not in FAILURE_ACTIONS:
            raise InvalidArgument(
                f"update_failure_action={failure_action!r}: use one of {', '.join(map(repr, FAILURE_ACTIONS))}")
        if order is not None and order not in ("stop-first", "start-first"):
            raise InvalidArgument(f"update_order={order!r}: use 'stop-first' or 'start-first'")
        return cls(seconds, parallelism, failure_action, order)

    def engine(self) -> dict[str, Any]:
        """The UpdateConfig fields given (engine names)."""
        out: dict[str, Any] = {}
        if self.delay is not None:
            out["Delay"] = int(self.delay * 1e9)
        if self.parallelism is not None:
            out["Parallelism"] = self.parallelism
        if self.failure_action is not None:
            out["FailureAction"] = self.failure_action
        if self.order is not None:
            out["Order"] = self.order
        return out

    def flags(self) -> list[str]:
        flags = []
        if self.delay is not None:
            flags.append(f"--update-delay {fmt.format_duration(self.delay)}")
        if self.parallelism is not None:
            flags.append(f"--update-parallelism {self.parallelism}")
        if self.failure_action is not None:
            flags.append(f"--update-failure-action {self.failure_action}")
        if self.order is not None:
            flags.append(f"--update-order {self.order}")
        return flags


#: What ``publish=`` takes, said in its errors.
PUBLISH_EXAMPLES = "'8080:80', '8080:80/udp' or 'published=8080,target=80,mode=host'"


@dataclass(frozen=True)
class Port:
    """One published port: ``target`` is the port the task listens on; ``published`` the one
    the nodes open (None: the engine picks one); ``mode`` ``ingress`` (the routing mesh, on
    every node) or ``host`` (on the nodes that run a task)."""

    target: int
    published: int | None = None
    protocol: str = "tcp"
    mode: str = "ingress"

    def engine(self) -> dict[str, Any]:
        """As the engine's ``EndpointSpec.Ports`` lists it."""
        port: dict[str, Any] = {"Protocol": self.protocol, "PublishMode": self.mode, "TargetPort": self.target}
        if self.published:
            port["PublishedPort"] = self.published
        return port

    def spec(self) -> str:
        """As ``--publish`` takes it: the short form where it says it all."""
        if self.mode == "ingress":
            short = f"{self.published}:{self.target}" if self.published else str(self.target)
            return short + (f"/{self.protocol}" if self.protocol != "tcp" else "")
        fields = [f"published={self.published}"] if self.published else []
        fields += [f"target={self.target}", f"mode={self.mode}"]
        if self.protocol != "tcp":
            fields.append(f"protocol={self.protocol}")
        return ",".join(fields)


def _port_number(value: str, what: str, spec: object) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise InvalidArgument(f"publish={spec!r}: the {what} port {value!r} is not a number from 1 "
                              f"to 65535; give {PUBLISH_EXAMPLES}")
    return int(value)


def _port_choice(spec: str, what: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidArgument(f"publish={spec!r}: {what} {value!r} is not one of {', '.join(choices)}; "
                              f"give {PUBLISH_EXAMPLES}")
    return value


def _parse_port(item: str, mode: str) -> Port:
    """One ``--publish`` spec: ``PUBLISHED:TARGET[/PROTOCOL]`` or ``published=..,target=..``."""
    fields: dict[str, Any] = {"protocol": "tcp", "mode": mode}
    if "=" in item:
        for field in item.split(","):
            key, eq, value = (x.strip() for x in field.partition("="))
            if not eq:
                raise InvalidArgument(f"publish={item!r}: {field!r} is not KEY=VALUE; give {PUBLISH_EXAMPLES}")
            if key in ("published", "target"):
                fields[key] = _port_number(value, key, item)
            elif key == "mode":
                fields["mode"] = _port_choice(item, "mode", value, ("ingress", "host"))
            elif key == "protocol":
                fields["protocol"] = _port_choice(item, "protocol", value, ("tcp", "udp", "sctp"))
            else:
                raise InvalidArgument(f"publish={item!r}: unknown field {key!r} (use published, target, "
                                      f"mode, protocol); give {PUBLISH_EXAMPLES}")
    else:
        ports_part, _, proto = item.partition("/")
        if proto:
            fields["protocol"] = _port_choice(item, "protocol", proto, ("tcp", "udp", "sctp"))
        published, colon, target = ports_part.rpartition(":")
        fields["target"] = _port_number(target, "target", item)
        if colon:
            fields["published"] = _port_number(published, "published", item)
    if "target" not in fields:
        raise InvalidArgument(f"publish={item!r}: say the target port (the one the task listens on); "
                              f"give {PUBLISH_EXAMPLES}")
    return Port(**fields)


def port_keys(ports: Sequence[Mapping[str, Any]]) -> set[tuple[Any, ...]]:
    """Engine ports, to compare a request with a service: what a learner set (a port the
    engine chose is not compared)."""
    return {(p.get("PublishedPort") or None, p.get("TargetPort"), p.get("Protocol", "tcp"),
             p.get("PublishMode", "ingress")) for p in ports}


def check_endpoint(mode: str | None, ports: Sequence[Mapping[str, Any]]) -> None:
    """The engine refuses DNS round-robin with a port published through the routing mesh."""
    if mode == "dnsrr" and any(p.get("PublishMode", "ingress") == "ingress" for p in ports):
        raise InvalidArgument(
            "endpoint mode dnsrr with a port published through the routing mesh (ingress): the mesh "
            "balances through a virtual IP, which dnsrr has not; publish in host mode instead "
            "('published=8080,target=80,mode=host'), as the engine requires. Nothing was changed.")


@dataclass(frozen=True)
class Publish:
    """The ports ``--publish`` (or ``--publish-add``) asks for."""

    ports: tuple[Port, ...] = ()

    @classmethod
    def of(cls, publish: object, mode: str | None = None) -> Publish:
        """``publish`` is what the CLI takes, one spec or a list of them: the short ``8080:80``
        (``PUBLISHED:TARGET[/PROTOCOL]``) or the long ``published=8080,target=80,mode=host``;
        or a dict ``{8080: 80}``. A spec that names no mode gets ``mode`` (the CLI's default:
        ``ingress``, the routing mesh)."""
        if publish is None:
            return cls()
        items: list[object]
        if isinstance(publish, dict):
            items = [f"{p}:{t}" if isinstance(p, int) and isinstance(t, int) and not isinstance(p, bool)
                     and not isinstance(t, bool) else (p, t) for p, t in publish.items()]
        elif isinstance(publish, (list, tuple)):
            items = list(publish)
        else:
            items = [publish]
        ports: list[Port] = []
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise InvalidArgument(f"publish={publish!r}: give {PUBLISH_EXAMPLES} (or {{8080: 80}})")
            port = _parse_port(item, mode or "ingress")
            if port.published and any((p.published, p.protocol) == (port.published, port.protocol) for p in ports):
                raise InvalidArgument(f"publish={publish!r}: port {port.published}/{port.protocol} "
                                      f"is published twice")
            ports.append(port)
        return cls(tuple(ports))

    def __bool__(self) -> bool:
        return bool(self.ports)

    def engine(self) -> list[dict[str, Any]]:
        return [p.engine() for p in self.ports]

    def flags(self, flag: str = "--publish") -> list[str]:
        return [f"{flag} {p.spec()}" for p in self.ports]


_HEALTH_DURATIONS = (("health_interval", "interval", "Interval"), ("health_timeout", "timeout", "Timeout"),
                     ("health_start_period", "start_period", "StartPeriod"))


@dataclass(frozen=True)
class Health:
    """``--health-cmd`` and its friends (``--no-healthcheck``: ``disabled``): the engine's
    ``ContainerSpec.Healthcheck``. A task with a health check counts as running only once the
    check passes. Durations in seconds; a field left None was not given."""

    cmd: str | None = None
    interval: float | None = None
    timeout: float | None = None
    start_period: float | None = None
    retries: int | None = None
    disabled: bool = False

    @classmethod
    def of(cls, cmd: object, interval: object, timeout: object, retries: object, start_period: object,
           disabled: object) -> Health:
        given = {"health_interval": interval, "health_timeout": timeout, "health_start_period": start_period}
        if not isinstance(disabled, bool):
            raise InvalidArgument(f"no_healthcheck={disabled!r}: give True or False")
        if disabled:
            if cmd is not None or retries is not None or any(v is not None for v in given.values()):
                raise InvalidArgument("no_healthcheck=True turns the image's health check off: give no "
                                      "health_* option with it")
            return cls(disabled=True)
        if cmd is not None and (not isinstance(cmd, str) or not cmd.strip()):
            raise InvalidArgument(f"health_cmd={cmd!r}: give the shell command that checks the task, "
                                  "e.g. health_cmd='wget -qO- http://127.0.0.1/'")
        if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 1):
            raise InvalidArgument(f"health_retries={retries!r}: give a whole number of 1 or more")
        seconds = {field: fmt.parse_duration(given[what], what)
                   for what, field, _ in _HEALTH_DURATIONS if given[what] is not None}
        return cls(cmd=cmd, retries=retries, **seconds)  # type: ignore[arg-type]

    def engine(self) -> dict[str, Any] | None:
        """The Healthcheck asked for; None: the image's own."""
        if self.disabled:
            return {"Test": ["NONE"]}
        health: dict[str, Any] = {}
        if self.cmd is not None:
            health["Test"] = ["CMD-SHELL", self.cmd]
        for _, field, key in _HEALTH_DURATIONS:
            if getattr(self, field) is not None:
                health[key] = int(getattr(self, field) * 1e9)
        if self.retries is not None:
            health["Retries"] = self.retries
        return health or None

    def flags(self) -> list[str]:
        if self.disabled:
            return ["--no-healthcheck"]
        flags = [f"--health-cmd {shlex.quote(self.cmd)}"] if self.cmd is not None else []
        flags += [f"--{what.replace('_', '-')} {fmt.format_duration(getattr(self, field))}"
                  for what, field, _ in _HEALTH_DURATIONS if getattr(self, field) is not None]
        if self.retries is not None:
            flags.append(f"--health-retries {self.retries}")
        return flags

    def applied_to(self, have: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The Healthcheck after ``docker service update --health-*``: the fields given
        replace those there, the others are kept (none after ``--no-healthcheck``, nor from a
        check that was off). None: nothing given, the check stays as it is."""
        health = self.engine()
        if health is None:
            return None
        kept = {} if self.disabled or (have or {}).get("Test") == ["NONE"] else dict(have or {})
        return {**kept, **health}


#: The engine's names for each kind of mount: the spec's list, the ID and the name fields.
MOUNT_KEYS = {"secret": ("Secrets", "SecretID", "SecretName"), "config": ("Configs", "ConfigID", "ConfigName")}


@dataclass(frozen=True)
class Reference:
    """A secret or config a service mounts (``--secret`` / ``--config``): ``source`` is its
    name, ``target`` the file in the task (under ``/run/secrets/`` for a secret, ``/`` for a
    config)."""

    kind: str  #: "secret" or "config"
    source: str
    target: str
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444

    def flag(self, flag: str | None = None) -> str:
        """``--secret NAME``, or the long form when it says more."""
        flag = flag or f"--{self.kind}"
        if self.target == self.source and self.mode == 0o444 and self.uid == "0" and self.gid == "0":
            return f"{flag} {self.source}"
        extra = (f",uid={self.uid}" if self.uid != "0" else "") + (f",gid={self.gid}" if self.gid != "0" else "")
        mode = f",mode={self.mode:04o}" if self.mode != 0o444 else ""
        return f"{flag} source={self.source},target={self.target}{extra}{mode}"

    def engine(self, object_id: str) -> dict[str, Any]:
        """As a service spec holds it (``ContainerSpec.Secrets`` / ``.Configs``)."""
        _, id_key, name_key = MOUNT_KEYS[self.kind]
        return {"File": {"Name": self.target, "UID": self.uid, "GID": self.gid, "Mode": self.mode},
                id_key: object_id, name_key: self.source}


def _parse_reference(kind: str, item: str) -> Reference:
    fields: dict[str, Any] = {}
    if "=" not in item:
        fields["source"] = item
    else:
        for field in item.split(","):
            key, eq, value = (x.strip() for x in field.partition("="))
            if not eq or key not in ("source", "src", "target", "uid", "gid", "mode"):
                raise InvalidArgument(f"{kind} spec {item!r}: {field!r} is not one of source=, target=, uid=, "
                                      f"gid=, mode= (e.g. 'source=db_password,target=password,mode=0400')")
            if key == "mode":
                if not re.fullmatch(r"0?[0-7]{3}", value):
                    raise InvalidArgument(f"{kind} spec {item!r}: mode {value!r} is not an octal mode like 0400")
                fields["mode"] = int(value, 8)
            elif key in ("uid", "gid"):
                if not value.isdigit():
                    raise InvalidArgument(f"{kind} spec {item!r}: {key} {value!r} is not a number")
                fields[key] = value
            else:
                fields["source" if key == "src" else key] = value
    source = check_object_name(kind, fields.get("source"))
    target = str(fields.setdefault("target", source))
    if not target or ".." in target.split("/") or "\0" in target:
        raise InvalidArgument(f"{kind} spec {item!r}: target {target!r} is not a file name or path")
    return Reference(kind, **fields)


def parse_references(kind: str, specs: object) -> tuple[Reference, ...]:
    """``--secret`` / ``--config`` specs as the CLI takes them: ``NAME`` or
    ``source=NAME,target=PATH,uid=0,gid=0,mode=0400`` (names not yet looked up)."""
    if specs is None:
        return ()
    items = [specs] if isinstance(specs, str) else specs
    if not isinstance(items, (list, tuple)):
        raise InvalidArgument(f"{kind}s={specs!r}: give a list of {kind} names, e.g. {kind}s=['db_password']")
    refs = []
    for item in items:
        if not isinstance(item, str) or not item:
            raise InvalidArgument(f"{kind}s={specs!r}: give names or 'source=NAME,target=PATH' specs")
        refs.append(_parse_reference(kind, item))
    return tuple(refs)
