"""Service specs as the engine holds them: the replica count a spec asks for, and writing a
whole spec back to the engine. (What a create or an update asks for:
:mod:`.service_options`.)"""

from __future__ import annotations

from typing import Any

import docker


def replicas(spec: dict[str, Any]) -> int | None:
    """The replica count a spec asks for; None for a global service (one task per node)."""
    mode = spec.get("Mode", {})
    return int(mode["Replicated"].get("Replicas", 0)) if "Replicated" in mode else None


def rolls(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Does changing a service's spec from ``before`` to ``after`` surely make the engine
    replace its tasks (a rolling update)? Its task template changed, placement apart (swarmkit
    keeps the tasks that still fit). A change of published ports alone replaces them too, but
    not always (only tasks with an endpoint): not counted, so that no wait hangs on it."""
    def template(spec: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in (spec.get("TaskTemplate") or {}).items() if k != "Placement"}

    return template(before) != template(after)


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
