"""Where the dashboard's picture comes from: the manager's Engine API, two calls a refresh.

A refresh asks ``GET /nodes`` and ``GET /tasks``. Tasks carry their service's ID, not its
name, so names come from ``GET /services``, asked only when a task of an unknown service
shows up (a service was created) and kept until then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ._model import Picture, build_picture


class SwarmSource:
    """Fetches pictures of a lab's swarm. ``api`` is a docker-py ``APIClient`` (or anything with
    ``nodes()``, ``tasks()`` and ``services()``); without one, the lab's manager is asked, and
    looked up again after an error (a manager that went away)."""

    def __init__(self, lab: Any = None, api: Any = None) -> None:
        self._lab = lab
        self._api = api
        self._fixed = api is not None
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()
        self.calls = 0           # engine API calls made so far (for the benchmark and tests)

    def api(self) -> Any:
        if self._api is None:
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
                tasks = self._call(api.tasks)
                if any(t.get("ServiceID") not in self._names for t in tasks):
                    self.refresh_names(api)
            except Exception:
                self.forget_manager()
                raise
            return build_picture(nodes, tasks, self._names, history=history)

    def refresh_names(self, api: Any = None) -> dict[str, str]:
        """Ask for the services again (after a create, rm or a control's action)."""
        services = self._call((api or self.api()).services)
        self._names = {s["ID"]: s["Spec"]["Name"] for s in services}
        return self._names
