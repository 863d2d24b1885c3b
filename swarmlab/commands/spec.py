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
                      update: dict[str, Any], publish: dict[int, int] | None,
                      env: dict[str, str] | None, labels: dict[str, str] | None,
                      constraints: Sequence[str]) -> list[str]:
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
    have_ports = {(p.get("PublishedPort"), p.get("TargetPort"))
                  for p in (spec.get("EndpointSpec") or {}).get("Ports") or []}
    if have_ports != {(p, t) for p, t in (publish or {}).items()}:
        out.append("published ports")
    return out


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
                    publish: dict[int, int] | None, publish_mode: str, endpoint_mode: str | None,
                    env: dict[str, str] | None, labels: dict[str, str] | None,
                    constraints: Sequence[str]) -> str:
    parts = ["docker service create"]
    if mode == "global":
        parts.append("--mode global")
    else:
        parts.append(f"--replicas {replicas}")
    parts.append(f"--name {name}")
    parts += update_flags(delay, parallelism, failure_action, order)
    for p, t in (publish or {}).items():
        parts.append(f"--publish published={p},target={t},mode={publish_mode}")
    if endpoint_mode:
        parts.append(f"--endpoint-mode {endpoint_mode}")
    for k, v in (env or {}).items():
        parts.append(f"--env {shlex.quote(f'{k}={v}')}")
    for k, v in (labels or {}).items():
        parts.append(f"--label {shlex.quote(f'{k}={v}')}")
    for c in constraints:
        parts.append(f"--constraint {shlex.quote(c)}")
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
