"""What a ``docker service create`` or ``docker service update`` asks for, as one value
object each (:class:`CreateOptions`, :class:`UpdateOptions`), after docker-py's
``docker/types/services.py``.

Each is built once from the keyword arguments of ``lab.service.create`` / ``update``
(``of``: every option validated before anything happens, with an error that says what to
give), and the same object gives
- the command line shown to the learner (``command``),
- what is sent to the engine (``docker_args`` for docker-py's ``services.create``; ``apply``:
  the whole spec an update posts),
- what differs from a service that is there (``differences``; ``apply``'s notes on what was
  already so),
so that what is shown, what is sent and what is compared cannot drift apart. Names of
networks, secrets and configs are looked up on the engine once, into :class:`Attached`.
The parts (update policy, ports, health check, mounts): :mod:`.service_parts`."""

from __future__ import annotations

import copy
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import docker.types

from .. import _format as fmt
from .._errors import InvalidArgument
from .._swarm import CLI_UPDATE_DEFAULTS
from .service_parts import (
    MOUNT_KEYS,
    Health,
    Publish,
    Reference,
    UpdatePolicy,
    check_endpoint,
    parse_references,
    port_keys,
)
from .validate import (
    check_choice,
    check_create_options,
    check_image,
    check_names,
    check_replicas,
    check_service_name,
    image_ref,
)

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Attached:
    """The networks, secrets and configs some options name, as the engine knows them:
    ``networks`` maps a network's name to its ID, ``mounts`` a kind (``secret``, ``config``)
    to its references as a spec holds them."""

    networks: Mapping[str, str] = field(default_factory=dict)
    mounts: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)

    def mounted(self, kind: str) -> list[dict[str, Any]]:
        return list(self.mounts.get(kind, ()))


@dataclass(frozen=True)
class CreateOptions:
    """``docker service create [OPTIONS] IMAGE [ARG...]``."""

    name: str
    image: str
    args: tuple[str, ...] = ()
    replicas: int = 1
    mode: str = "replicated"
    policy: UpdatePolicy = UpdatePolicy()
    publish: Publish = Publish()
    endpoint_mode: str | None = None
    networks: tuple[str, ...] = ()
    secrets: tuple[Reference, ...] = ()
    configs: tuple[Reference, ...] = ()
    env: Pairs = ()
    labels: Pairs | None = None
    constraints: tuple[str, ...] = ()
    health: Health = Health()

    @classmethod
    def of(cls, name: str, image: str, args: Sequence[object] = (), *, replicas: int = 1,
           update_delay: object = None, update_parallelism: object = None, update_failure_action: object = None,
           update_order: object = None, mode: str = "replicated", publish: object = None,
           publish_mode: str | None = None, endpoint_mode: str | None = None, networks: Sequence[str] = (),
           secrets: object = (), configs: object = (), env: dict[str, str] | None = None,
           labels: dict[str, str] | None = None, constraints: Sequence[str] = (), health_cmd: object = None,
           health_interval: object = None, health_timeout: object = None, health_retries: object = None,
           health_start_period: object = None, no_healthcheck: object = False) -> CreateOptions:
        """The options of ``lab.service.create``, each checked (the first bad one raises
        :class:`~swarmlab.InvalidArgument`)."""
        check_service_name(name)
        check_image(image)
        replicas = check_replicas(name, replicas)
        check_choice("mode", mode, ("replicated", "global"))
        policy = UpdatePolicy.of(update_delay, update_parallelism, update_failure_action, update_order)
        check_choice("publish_mode", publish_mode, (None, "host", "ingress"))
        check_choice("endpoint_mode", endpoint_mode, (None, "vip", "dnsrr"))
        check_create_options(env, labels, constraints, networks)
        ports = Publish.of(publish, publish_mode)
        check_endpoint(endpoint_mode, ports.engine())
        health = Health.of(health_cmd, health_interval, health_timeout, health_retries, health_start_period,
                           no_healthcheck)
        return cls(name, image, tuple(str(a) for a in args), replicas, mode, policy, ports, endpoint_mode,
                   tuple(networks), parse_references("secret", secrets), parse_references("config", configs),
                   tuple((env or {}).items()), None if labels is None else tuple(labels.items()),
                   tuple(constraints), health)

    @property
    def wanted_replicas(self) -> int | None:
        """The tasks to wait for; None for a global service (one on each node)."""
        return self.replicas if self.mode == "replicated" else None

    @property
    def network_names(self) -> tuple[str, ...]:
        return self.networks

    @property
    def references(self) -> dict[str, tuple[Reference, ...]]:
        """The secrets and configs to look up, by kind."""
        return {"secret": self.secrets, "config": self.configs}

    def command(self) -> str:
        """The ``docker service create`` line these options stand for."""
        parts = ["docker service create", "--mode global" if self.mode == "global" else f"--replicas {self.replicas}",
                 f"--name {self.name}", *self.policy.flags()]
        parts += [f"--network {n}" for n in self.networks]
        parts += self.publish.flags()
        if self.endpoint_mode:
            parts.append(f"--endpoint-mode {self.endpoint_mode}")
        parts += [f"--env {shlex.quote(f'{k}={v}')}" for k, v in self.env]
        parts += [f"--label {shlex.quote(f'{k}={v}')}" for k, v in self.labels or ()]
        parts += [f"--constraint {shlex.quote(c)}" for c in self.constraints]
        parts += [r.flag() for r in self.secrets + self.configs]
        parts += self.health.flags()
        return " ".join([*parts, self.image, *(shlex.quote(a) for a in self.args)])

    def docker_args(self, attached: Attached) -> dict[str, Any]:
        """The keyword arguments of docker-py's ``client.services.create``."""
        endpoint = None
        if self.publish or self.endpoint_mode:
            endpoint = docker.types.EndpointSpec(mode=self.endpoint_mode, ports=self.publish.engine() or None)
        return {
            "image": self.image, "name": self.name, "args": list(self.args) or None,
            "mode": docker.types.ServiceMode(self.mode, self.wanted_replicas),
            "update_config": {**CLI_UPDATE_DEFAULTS, **self.policy.engine()},
            "rollback_config": dict(CLI_UPDATE_DEFAULTS),
            "env": [f"{k}={v}" for k, v in self.env] or None,
            "labels": None if self.labels is None else dict(self.labels),
            "constraints": list(self.constraints) or None, "endpoint_spec": endpoint,
            "networks": [docker.types.NetworkAttachmentConfig(attached.networks[n]) for n in self.networks] or None,
            "secrets": attached.mounted("secret") or None, "configs": attached.mounted("config") or None,
            "healthcheck": self.health.engine(),
        }

    def differences(self, spec: Mapping[str, Any], attached: Attached) -> list[str]:
        """What of these options a service's spec does not have (replicas aside)."""
        cs = spec["TaskTemplate"]["ContainerSpec"]
        task = spec["TaskTemplate"]
        endpoint = spec.get("EndpointSpec") or {}
        have_update = spec.get("UpdateConfig") or {}
        have_networks = {n.get("Target") for n in task.get("Networks") or spec.get("Networks") or []}
        checks = [
            (f"image ({cs.get('Image')})", image_ref(cs.get("Image", "")) != image_ref(self.image)),
            (f"command ({shlex.join(cs.get('Args') or [])!r})", tuple(cs.get("Args") or ()) != self.args),
            ("mode", ("Replicated" in spec.get("Mode", {})) != (self.mode == "replicated")),
            ("update config", any(have_update.get(k) != v
                                  for k, v in {**CLI_UPDATE_DEFAULTS, **self.policy.engine()}.items())),
            ("env", sorted(cs.get("Env") or []) != sorted(f"{k}={v}" for k, v in self.env)),
            ("labels", (spec.get("Labels") or {}) != dict(self.labels or ())),
            ("constraints", sorted((task.get("Placement") or {}).get("Constraints") or [])
             != sorted(self.constraints)),
            ("published ports", port_keys(endpoint.get("Ports") or []) != port_keys(self.publish.engine())),
            ("endpoint mode", (endpoint.get("Mode") or "vip") != (self.endpoint_mode or "vip")),
            ("networks", have_networks != {attached.networks[n] for n in self.networks}),
            ("health check", (cs.get("Healthcheck") or None) != self.health.engine()),
        ]
        for kind, (key, _, name_key) in MOUNT_KEYS.items():
            have = sorted((r.get(name_key), (r.get("File") or {}).get("Name")) for r in cs.get(key) or [])
            want = sorted((r.get(name_key), (r.get("File") or {}).get("Name")) for r in attached.mounted(kind))
            checks.append((key.lower(), have != want))
        return [what for what, differs in checks if differs]


@dataclass(frozen=True)
class Applied:
    """A service's spec after an update's options: the new ``spec``, ``notes`` on what was
    already so, the published ``claims`` (ports the service does not publish yet, to check no
    other service does) and ``new_image`` (an image the service does not run yet, or None)."""

    spec: dict[str, Any]
    notes: tuple[str, ...] = ()
    claims: tuple[dict[str, Any], ...] = ()
    new_image: str | None = None


def _check_ports(publish_rm: object) -> tuple[int, ...]:
    if isinstance(publish_rm, (str, int)) or not isinstance(publish_rm, Iterable) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in publish_rm):
        raise InvalidArgument(f"publish_rm={publish_rm!r}: give a list of target ports, e.g. publish_rm=[80]")
    return tuple(publish_rm)


@dataclass(frozen=True)
class UpdateOptions:
    """``docker service update [OPTIONS] SERVICE``: only what is given changes."""

    name: str
    image: str | None = None
    replicas: int | None = None
    args: tuple[str, ...] | None = None
    policy: UpdatePolicy = UpdatePolicy()
    force: bool = False
    network_add: tuple[str, ...] = ()
    network_rm: tuple[str, ...] = ()
    publish_add: Publish = Publish()
    publish_rm: tuple[int, ...] = ()
    endpoint_mode: str | None = None
    secret_add: tuple[Reference, ...] = ()
    secret_rm: tuple[str, ...] = ()
    config_add: tuple[Reference, ...] = ()
    config_rm: tuple[str, ...] = ()
    health: Health = Health()

    @classmethod
    def of(cls, name: str, image: str | None = None, *, replicas: int | None = None,
           args: Sequence[object] | None = None, update_delay: object = None, update_parallelism: object = None,
           update_failure_action: object = None, update_order: object = None, force: bool = False,
           network_add: object = (), network_rm: object = (), publish_add: object = None,
           publish_rm: object = (), endpoint_mode: str | None = None, secret_add: object = (),
           secret_rm: object = (), config_add: object = (), config_rm: object = (), health_cmd: object = None,
           health_interval: object = None, health_timeout: object = None, health_retries: object = None,
           health_start_period: object = None, no_healthcheck: object = False) -> UpdateOptions:
        """The options of ``lab.service.update``, each checked (the first bad one raises
        :class:`~swarmlab.InvalidArgument`)."""
        if image is not None:
            check_image(image)
        if replicas is not None:
            replicas = check_replicas(name, replicas)
        policy = UpdatePolicy.of(update_delay, update_parallelism, update_failure_action, update_order)
        check_choice("endpoint_mode", endpoint_mode, (None, "vip", "dnsrr"))
        return cls(
            name, image, replicas, None if args is None else tuple(str(a) for a in args), policy, bool(force),
            tuple(dict.fromkeys(check_names("network_add", network_add, "appnet"))),
            tuple(dict.fromkeys(check_names("network_rm", network_rm, "appnet"))),
            publish_rm=_check_ports(publish_rm), publish_add=Publish.of(publish_add), endpoint_mode=endpoint_mode,
            secret_add=parse_references("secret", secret_add), secret_rm=check_names("secret_rm", secret_rm, "pw"),
            config_add=parse_references("config", config_add), config_rm=check_names("config_rm", config_rm, "pw"),
            health=Health.of(health_cmd, health_interval, health_timeout, health_retries, health_start_period,
                             no_healthcheck))

    @property
    def network_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.network_add + self.network_rm))

    @property
    def references(self) -> dict[str, tuple[Reference, ...]]:
        """The secrets and configs to look up (those added), by kind."""
        return {"secret": self.secret_add, "config": self.config_add}

    def _removed(self, kind: str) -> tuple[str, ...]:
        return self.secret_rm if kind == "secret" else self.config_rm

    def command(self) -> str:
        """The ``docker service update`` line these options stand for."""
        flags = [*self.policy.flags(), *(f"--network-add {n}" for n in self.network_add),
                 *(f"--network-rm {n}" for n in self.network_rm), *(f"--publish-rm {t}" for t in self.publish_rm),
                 *self.publish_add.flags("--publish-add")]
        if self.endpoint_mode is not None:
            flags.append(f"--endpoint-mode {self.endpoint_mode}")
        for kind, added in self.references.items():
            flags += [f"--{kind}-rm {n}" for n in self._removed(kind)]
            flags += [r.flag(f"--{kind}-add") for r in added]
        flags += self.health.flags()
        if self.replicas is not None:
            flags.append(f"--replicas {self.replicas}")
        if self.args is not None:
            flags.append("--args " + fmt.shell_word(shlex.join(self.args)))
        if self.force:
            flags.append("--force")
        if self.image is not None:
            flags.append(f"--image {self.image}")
        return " ".join(["docker service update", *flags, self.name])

    def apply(self, spec: Mapping[str, Any], attached: Attached) -> Applied:
        """The spec ``spec`` becomes with these options (a copy; ``spec`` is left as it is)."""
        new = copy.deepcopy(dict(spec))
        cs = new["TaskTemplate"]["ContainerSpec"]
        notes, claims = self._apply_endpoint(new, attached)
        for kind in MOUNT_KEYS:
            notes += self._apply_mounts(kind, cs, attached)
        health = self.health.applied_to(cs.get("Healthcheck"))
        if health is not None:
            cs["Healthcheck"] = health
        if self.replicas is not None:
            if "Replicated" not in new.get("Mode", {}):
                raise InvalidArgument(f"{self.name} is a global service: it has no replica count")
            new["Mode"]["Replicated"]["Replicas"] = self.replicas
        if self.args is not None:
            cs["Args"] = list(self.args)
        if self.policy.engine():
            new["UpdateConfig"] = {**(new.get("UpdateConfig") or {}), **self.policy.engine()}
        if self.force:
            new["TaskTemplate"]["ForceUpdate"] = int(new["TaskTemplate"].get("ForceUpdate", 0)) + 1
        new_image = None
        if self.image is not None:
            if image_ref(cs.get("Image", "")) == image_ref(self.image):
                notes.append(f"{self.name} already uses {self.image} (no new image to roll out).")
            else:
                new_image = self.image
            cs["Image"] = self.image
        return Applied(new, tuple(notes), tuple(claims), new_image)

    def _apply_endpoint(self, spec: dict[str, Any], attached: Attached) -> tuple[list[str], list[dict[str, Any]]]:
        """Networks, published ports and endpoint mode, as ``--network-add`` / ``-rm``,
        ``--publish-rm`` / ``-add`` and ``--endpoint-mode`` change them: notes, and the ports
        newly claimed."""
        notes: list[str] = []
        task = spec["TaskTemplate"]
        attached_to = list(task.get("Networks") or spec.get("Networks") or [])
        for n in self.network_add:
            if any(a.get("Target") in (attached.networks[n], n) for a in attached_to):
                notes.append(f"it is already on network {n}.")
            else:
                attached_to.append({"Target": attached.networks[n]})
        for n in self.network_rm:
            if not any(a.get("Target") in (attached.networks[n], n) for a in attached_to):
                notes.append(f"it is not on network {n} (nothing to detach).")
            attached_to = [a for a in attached_to if a.get("Target") not in (attached.networks[n], n)]
        if self.network_add or self.network_rm:
            task["Networks"] = attached_to
            spec.pop("Networks", None)  # the older place for them: the task template's is the one
        endpoint = spec.setdefault("EndpointSpec", {})
        ports = list(endpoint.get("Ports") or [])
        for target in self.publish_rm:
            if not any(p.get("TargetPort") == target for p in ports):
                notes.append(f"no port is published to target port {target} (nothing to remove).")
            ports = [p for p in ports if p.get("TargetPort") != target]
        adding = self.publish_add.engine()
        mine = {(p.get("PublishedPort"), p.get("Protocol", "tcp")) for p in ports}
        claims = [p for p in adding if (p.get("PublishedPort"), p["Protocol"]) not in mine]
        if adding:
            keys = {(p.get("PublishedPort"), p["Protocol"]) for p in adding if p.get("PublishedPort")}
            ports = [p for p in ports if (p.get("PublishedPort"), p.get("Protocol", "tcp")) not in keys] + adding
        if adding or self.publish_rm:
            endpoint["Ports"] = ports
        if self.endpoint_mode is not None:
            endpoint["Mode"] = self.endpoint_mode
        check_endpoint(endpoint.get("Mode"), endpoint.get("Ports") or [])
        if not endpoint:
            spec.pop("EndpointSpec")
        return notes, claims

    def _apply_mounts(self, kind: str, cs: dict[str, Any], attached: Attached) -> list[str]:
        """``--secret-rm`` / ``--secret-add`` (or the config ones) on a ContainerSpec: removed
        first, then added, as the CLI does."""
        key, _, name_key = MOUNT_KEYS[kind]
        mounted = list(cs.get(key) or [])
        notes = []
        for n in self._removed(kind):
            if not any(r.get(name_key) == n for r in mounted):
                notes.append(f"{kind} {n} is not mounted (nothing to remove).")
            mounted = [r for r in mounted if r.get(name_key) != n]
        new = attached.mounted(kind)
        if new:
            targets = {(r.get("File") or {}).get("Name") for r in new}
            mounted = [r for r in mounted if (r.get("File") or {}).get("Name") not in targets] + new
        if self._removed(kind) or new:
            cs[key] = mounted
        return notes
