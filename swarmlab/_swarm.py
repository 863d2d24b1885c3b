"""What Docker Swarm and its CLI say and assume, written once for the steps
(:mod:`swarmlab.commands`), the waits (:mod:`swarmlab.converge`) and the views: the update
settings ``docker service create`` gives when no flag says otherwise, a spec's monitor period,
an image reference as the CLI writes it, and the words of a manager without a leader."""

from __future__ import annotations

from typing import Any

#: What a manager answers to any change (and to most reads) while the swarm has no leader.
NO_LEADER = "The swarm does not have a leader"

#: What `docker service create` puts in UpdateConfig/RollbackConfig when no flag says
#: otherwise (the engine's own defaults differ: parallelism 0 would replace every task at once).
CLI_UPDATE_DEFAULTS: dict[str, Any] = {
    "Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0, "Order": "stop-first",
}


def monitor_seconds(spec: dict[str, Any]) -> float:
    """The update monitor period of a spec (how long a new task must stay up), in seconds."""
    uc = spec.get("UpdateConfig") or {}
    return float(uc.get("Monitor") or CLI_UPDATE_DEFAULTS["Monitor"]) / 1e9


def image_ref(image: str) -> str:
    """'redis:7.4@sha256:...' -> 'redis:7.4'; 'alpine' -> 'alpine:latest'."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        ref += ":latest"
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    return ref
