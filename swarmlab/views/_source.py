"""Where the dashboard's picture comes from: the manager's Engine API, three calls a refresh.

A refresh asks ``GET /nodes``, ``GET /services`` and ``GET /tasks``. Asking for the services
every time (not only when a task of an unknown one shows up) is what keeps the picture true:
a service created or removed anywhere (a cell, the CLI on a machine, another kernel) shows or
goes within one refresh, even one with no task (scaled to 0) or whose tasks are still stopping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ._model import Picture, build_picture, service_ports
from ._protocol import LabView


class SwarmSource:
    """Fetches pictures of a lab's swarm. ``api`` is a docker-py ``APIClient`` (or anything with
    ``nodes()``, ``services()`` and ``tasks()``); without one, the lab's manager is asked, and
    looked up again after an error (a manager that went away)."""

    def __init__(self, lab: LabView | None = None, api: Any = None) -> None:
        self._lab = lab
        self._api = api
        self._fixed = api is not None
        self._lock = threading.Lock()
        self.calls = 0           # engine API calls made so far (for the benchmark and tests)

    def api(self) -> Any:
        if self._api is None:
            if self._lab is None:
                raise ValueError("a SwarmSource needs a lab or an api")
            self._api = self._lab.manager_client().api
        return self._api

    def forget_manager(self) -> None:
        if not self._fixed:
            self._api = None

    def _call(self, fn: Callable[..., Any], **kw: Any) -> Any:
        self.calls += 1
        return fn(**kw)

    def fetch(self, history: bool = False) -> Picture:
        with self._lock:
            api = self.api()
            try:
                nodes = self._call(api.nodes)
                services = self._call(api.services)
                tasks = self._call(api.tasks)
            except Exception:
                self.forget_manager()
                raise
            names = {s["ID"]: s["Spec"]["Name"] for s in services}
            replicas = {s["ID"]: int(s["Spec"]["Mode"]["Replicated"].get("Replicas", 0))
                        for s in services if "Replicated" in (s["Spec"].get("Mode") or {})}
            ports = {s["ID"]: service_ports(s) for s in services}
            return build_picture(nodes, tasks, names, history=history, replicas=replicas, ports=ports)
