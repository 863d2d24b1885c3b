"""Service specs: the update config and flags of ``create`` and ``update``, the CLI line a
create stands for, what differs between a request and an existing service, and writing a
whole spec back to the engine."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import docker

from .. import _format as fmt
from .._errors import InvalidArgument
from .validate import FAILURE_ACTIONS, image_ref

#: What `docker service create` puts in UpdateConfig/RollbackConfig when no flag says
#: otherwise (the engine's own defaults differ: parallelism 0 would replace every task at once).
CLI_UPDATE_DEFAULTS: dict[str, Any] = {
    "Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0, "Order": "stop-first",
}


def replicas(spec: dict[str, Any]) -> int | None:
    """The replica count a spec asks for; None for a global service (one task per node)."""
    mode = spec.get("Mode", {})
    return int(mode["Replicated"].get("Replicas", 0)) if "Replicated" in mode else None


def monitor_seconds(spec: dict[str, Any]) -> float:
    """The update monitor period of a spec (how long a new task must stay up), in seconds."""
    uc = spec.get("UpdateConfig") or {}
    return float(uc.get("Monitor") or CLI_UPDATE_DEFAULTS["Monitor"]) / 1e9


def spec_differences(spec: dict[str, Any], image: str, args: Sequence[str], mode: str,
                      update: dict[str, Any], ports: Sequence[dict[str, Any]],
                      env: dict[str, str] | None, labels: dict[str, str] | None,
                      constraints: Sequence[str], networks: Sequence[str] = (),
                      endpoint_mode: str | None = None,
                      mounts: dict[str, list[dict[str, Any]]] | None = None,
                      health: dict[str, Any] | None = None) -> list[str]:
    """What of a create's request an existing service does not have (replicas aside)."""
    cs = spec["TaskTemplate"]["ContainerSpec"]
    out = []
    if image_ref(cs.get("Image", "")) != image_ref(image):
        out.append(f"image ({cs.get('Image')})")
    if tuple(cs.get("Args") or ()) != tuple(args):
        out.append(f"command ({shlex.join(cs.get('Args') or [])!r})")
    if ("Replicated" in spec.get("Mode", {})) != (mode == "replicated"):
        out.append("mode")
    have_update = spec.get("UpdateConfig") or {}
    if any(have_update.get(k) != v for k, v in {**CLI_UPDATE_DEFAULTS, **update}.items()):
        out.append("update config")
    if sorted(cs.get("Env") or []) != sorted(f"{k}={v}" for k, v in (env or {}).items()):
        out.append("env")
    if (spec.get("Labels") or {}) != (labels or {}):
        out.append("labels")
    placement = spec["TaskTemplate"].get("Placement") or {}
    if sorted(placement.get("Constraints") or []) != sorted(constraints):
        out.append("constraints")
    endpoint = spec.get("EndpointSpec") or {}
    if port_keys(endpoint.get("Ports") or []) != port_keys(ports):
        out.append("published ports")
    if (endpoint.get("Mode") or "vip") != (endpoint_mode or "vip"):
        out.append("endpoint mode")
    have_networks = {n.get("Target") for n in spec["TaskTemplate"].get("Networks") or spec.get("Networks") or []}
    if have_networks != set(networks):
        out.append("networks")
    if (cs.get("Healthcheck") or None) != health:
        out.append("health check")
    for key in ("Secrets", "Configs"):
        name_key = "SecretName" if key == "Secrets" else "ConfigName"
        have = sorted((r.get(name_key), (r.get("File") or {}).get("Name")) for r in cs.get(key) or [])
        want = sorted((r.get(name_key), (r.get("File") or {}).get("Name")) for r in (mounts or {}).get(key) or [])
        if have != want:
            out.append(key.lower())
    return out


#: One published port, as the engine's EndpointSpec.Ports lists it.
PUBLISH_EXAMPLES = "'8080:80', '8080:80/udp' or 'published=8080,target=80,mode=host'"


def _port(value: str, what: str, spec: object) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise InvalidArgument(f"publish={spec!r}: the {what} port {value!r} is not a number from 1 "
                              f"to 65535; give {PUBLISH_EXAMPLES}")
    return int(value)


def parse_publish(publish: object, mode: str | None = None) -> list[dict[str, Any]]:
    """The ports ``--publish`` asks for, as the engine's ``EndpointSpec.Ports``.

    ``publish`` is what the CLI takes, one spec or a list of them: the short ``8080:80``
    (``PUBLISHED:TARGET[/PROTOCOL]``) or the long ``published=8080,target=80,mode=host``;
    or a dict ``{8080: 80}``. A spec that names no mode gets ``mode`` (the CLI's default:
    ``ingress``, the routing mesh)."""
    default = mode or "ingress"
    if publish is None:
        return []
    items: list[object]
    if isinstance(publish, dict):
        items = [f"{p}:{t}" if isinstance(p, int) and isinstance(t, int) and not isinstance(p, bool)
                 and not isinstance(t, bool) else (p, t) for p, t in publish.items()]
    elif isinstance(publish, str):
        items = [publish]
    elif isinstance(publish, (list, tuple)):
        items = list(publish)
    else:
        items = [publish]
    ports: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InvalidArgument(f"publish={publish!r}: give {PUBLISH_EXAMPLES} (or {{8080: 80}})")
        port: dict[str, Any] = {"Protocol": "tcp", "PublishMode": default}
        if "=" in item:
            for field in item.split(","):
                key, eq, value = field.partition("=")
                key = key.strip()
                value = value.strip()
                if not eq:
                    raise InvalidArgument(f"publish={item!r}: {field!r} is not KEY=VALUE; give {PUBLISH_EXAMPLES}")
                if key in ("published", "target"):
                    port["PublishedPort" if key == "published" else "TargetPort"] = _port(value, key, item)
                elif key == "mode":
                    check_port_choice(item, "mode", value, ("ingress", "host"))
                    port["PublishMode"] = value
                elif key == "protocol":
                    check_port_choice(item, "protocol", value, ("tcp", "udp", "sctp"))
                    port["Protocol"] = value
                else:
                    raise InvalidArgument(f"publish={item!r}: unknown field {key!r} (use published, target, "
                                          f"mode, protocol); give {PUBLISH_EXAMPLES}")
        else:
            ports_part, _, proto = item.partition("/")
            if proto:
                check_port_choice(item, "protocol", proto, ("tcp", "udp", "sctp"))
                port["Protocol"] = proto
            published, colon, target = ports_part.rpartition(":")
            port["TargetPort"] = _port(target, "target", item)
            if colon:
                port["PublishedPort"] = _port(published, "published", item)
        if "TargetPort" not in port:
            raise InvalidArgument(f"publish={item!r}: say the target port (the one the task listens on); "
                                  f"give {PUBLISH_EXAMPLES}")
        seen = (port.get("PublishedPort"), port["Protocol"])
        if port.get("PublishedPort") and any((p.get("PublishedPort"), p["Protocol"]) == seen for p in ports):
            raise InvalidArgument(f"publish={publish!r}: port {port['PublishedPort']}/{port['Protocol']} "
                                  f"is published twice")
        ports.append(port)
    return ports


def check_endpoint(mode: str | None, ports: Sequence[dict[str, Any]]) -> None:
    """The engine refuses DNS round-robin with a port published through the routing mesh."""
    if mode == "dnsrr" and any(p.get("PublishMode", "ingress") == "ingress" for p in ports):
        raise InvalidArgument(
            "endpoint mode dnsrr with a port published through the routing mesh (ingress): the mesh "
            "balances through a virtual IP, which dnsrr has not; publish in host mode instead "
            "('published=8080,target=80,mode=host'), as the engine requires. Nothing was changed.")


def check_port_choice(spec: str, what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidArgument(f"publish={spec!r}: {what} {value!r} is not one of {', '.join(choices)}; "
                              f"give {PUBLISH_EXAMPLES}")


def publish_flags(ports: list[dict[str, Any]]) -> list[str]:
    """The ``--publish`` flags for parsed ports, short where the short form says it all."""
    flags = []
    for p in ports:
        short = f"{p['PublishedPort']}:{p['TargetPort']}" if p.get("PublishedPort") else str(p["TargetPort"])
        if p["Protocol"] != "tcp":
            short += f"/{p['Protocol']}"
        if p["PublishMode"] == "ingress":
            flags.append(f"--publish {short}")
        else:
            fields = [f"published={p['PublishedPort']}"] if p.get("PublishedPort") else []
            fields += [f"target={p['TargetPort']}", f"mode={p['PublishMode']}"]
            if p["Protocol"] != "tcp":
                fields.append(f"protocol={p['Protocol']}")
            flags.append(f"--publish {','.join(fields)}")
    return flags


def port_keys(ports: Sequence[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """Ports to compare a request with a service: what a learner set (a port the engine chose
    is not compared)."""
    return {(p.get("PublishedPort") or None, p.get("TargetPort"), p.get("Protocol", "tcp"),
             p.get("PublishMode", "ingress")) for p in ports}


def health_config(cmd: object, interval: object, timeout: object, retries: object, start_period: object,
                  disabled: object) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``--health-*`` options as the engine's ``ContainerSpec.Healthcheck`` (None: the
    image's own) and their CLI flags. A task with a health check counts as running only once
    the check passes."""
    given = {"health_interval": interval, "health_timeout": timeout, "health_start_period": start_period}
    if not isinstance(disabled, bool):
        raise InvalidArgument(f"no_healthcheck={disabled!r}: give True or False")
    if disabled:
        if cmd is not None or retries is not None or any(v is not None for v in given.values()):
            raise InvalidArgument("no_healthcheck=True turns the image's health check off: give no health_* "
                                  "option with it")
        return {"Test": ["NONE"]}, ["--no-healthcheck"]
    if cmd is not None and (not isinstance(cmd, str) or not cmd.strip()):
        raise InvalidArgument(f"health_cmd={cmd!r}: give the shell command that checks the task, "
                              "e.g. health_cmd='wget -qO- http://127.0.0.1/'")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 1):
        raise InvalidArgument(f"health_retries={retries!r}: give a whole number of 1 or more")
    health: dict[str, Any] = {}
    flags: list[str] = []
    if cmd is not None:
        health["Test"] = ["CMD-SHELL", cmd]
        flags.append(f"--health-cmd {shlex.quote(str(cmd))}")
    for what, value in given.items():
        if value is not None:
            seconds = fmt.parse_duration(value, what)
            key = {"health_interval": "Interval", "health_timeout": "Timeout",
                   "health_start_period": "StartPeriod"}[what]
            health[key] = int(seconds * 1e9)
            flags.append(f"--{what.replace('_', '-')} {fmt.format_duration(seconds)}")
    if retries is not None:
        health["Retries"] = retries
        flags.append(f"--health-retries {retries}")
    return (health or None), flags


def update_config(delay: object, parallelism: object, failure_action: object,
                   order: object) -> dict[str, Any]:
    """Validated UpdateConfig fields (engine names) for the given options."""
    out: dict[str, Any] = {}
    if delay is not None:
        out["Delay"] = int(fmt.parse_duration(delay, "update_delay") * 1e9)
    if parallelism is not None:
        if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 0:
            raise InvalidArgument(f"update_parallelism={parallelism!r}: a whole number, 0 meaning all at once")
        out["Parallelism"] = parallelism
    if failure_action is not None:
        if failure_action not in FAILURE_ACTIONS:
            raise InvalidArgument(
                f"update_failure_action={failure_action!r}: use one of {', '.join(map(repr, FAILURE_ACTIONS))}")
        out["FailureAction"] = failure_action
    if order is not None:
        if order not in ("stop-first", "start-first"):
            raise InvalidArgument(f"update_order={order!r}: use 'stop-first' or 'start-first'")
        out["Order"] = order
    return out


def update_flags(delay: object, parallelism: object, failure_action: object, order: object) -> list[str]:
    """The CLI flags for the UpdateConfig options given (already validated)."""
    flags = []
    if delay is not None:
        flags.append(f"--update-delay {fmt.format_duration(fmt.parse_duration(delay, 'update_delay'))}")
    if parallelism is not None:
        flags.append(f"--update-parallelism {parallelism}")
    if failure_action is not None:
        flags.append(f"--update-failure-action {failure_action}")
    if order is not None:
        flags.append(f"--update-order {order}")
    return flags


def create_command(name: str, image: str, args: Sequence[str], replicas: int, mode: str,
                    delay: object, parallelism: object, failure_action: object, order: object,
                    ports: Sequence[dict[str, Any]], endpoint_mode: str | None,
                    env: dict[str, str] | None, labels: dict[str, str] | None,
                    constraints: Sequence[str], networks: Sequence[str] = (),
                    mount_flags: Sequence[str] = (), health_flags: Sequence[str] = ()) -> str:
    parts = ["docker service create"]
    if mode == "global":
        parts.append("--mode global")
    else:
        parts.append(f"--replicas {replicas}")
    parts.append(f"--name {name}")
    parts += update_flags(delay, parallelism, failure_action, order)
    for n in networks:
        parts.append(f"--network {n}")
    parts += publish_flags(list(ports))
    if endpoint_mode:
        parts.append(f"--endpoint-mode {endpoint_mode}")
    for k, v in (env or {}).items():
        parts.append(f"--env {shlex.quote(f'{k}={v}')}")
    for k, v in (labels or {}).items():
        parts.append(f"--label {shlex.quote(f'{k}={v}')}")
    for c in constraints:
        parts.append(f"--constraint {shlex.quote(c)}")
    parts += mount_flags
    parts += health_flags
    parts.append(image)
    parts += [shlex.quote(a) for a in args]
    return " ".join(parts)


def post_spec(client: docker.DockerClient, service_id: str, version: int, spec: dict[str, Any],
              rollback: bool = False) -> None:
    """POST a whole service spec (``rollback=True``: the engine's own rollback to the
    previous spec). docker-py's public ``update_service`` rebuilds the spec from the
    arguments it is given and drops the fields it is not, and has no argument for
    ``rollback=previous``: its private request helpers are the only way to send a spec
    as the engine returned it."""
    params: dict[str, Any] = {"version": version}
    if rollback:
        params["rollback"] = "previous"
    resp = client.api._post_json(client.api._url("/services/{0}/update", service_id),
                                 data=spec, params=params)
    client.api._raise_for_status(resp)
