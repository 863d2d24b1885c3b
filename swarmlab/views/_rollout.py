"""The rollout view: a rolling update, watched while ``lab.service.update`` waits for it.

:class:`RolloutWatch` is the observer the update's wait loop calls after each check. Each call
takes a sample (the service's update state and message, and how many tasks run each image)
and, in a notebook with progress shown, updates one display in place: tasks on the new image
out of the total, the update state (updating / paused / completed / rolled back) and why it
paused. When the wait ends, the display keeps a small chart of tasks per image over time, and
``lab.service.last_rollout`` keeps the same picture as a :class:`Rollout`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from ._dashboard import in_kernel
from ._model import short_image
from ._protocol import LabView
from ._render import rollout_html, rollout_text


class Rollout:
    """A rolling update's record: samples of ``{t, state, message, images}``; renders as the
    rollout view (text, or escaped HTML with the chart)."""

    def __init__(self, service: str, image: str, want: int, samples: list[dict[str, Any]],
                 command: str = "", chart: bool = True) -> None:
        self.service = service
        self.image = short_image(image)
        self.want = want
        self.samples = samples
        self.command = command
        self.chart = chart

    @property
    def state(self) -> str:
        return self.samples[-1]["state"] if self.samples else ""

    @property
    def images_seen(self) -> list[str]:
        return sorted({k for s in self.samples for k in s["images"]})

    def __repr__(self) -> str:
        return rollout_text(self.service, self.image, self.samples, self.want)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        return rollout_html(self.service, self.image, self.samples, self.want,
                            self.command, chart=self.chart)


#: how a task the update replaces is named in the view when it runs the update's own image
OLD_TASKS = "(old tasks)"


def of_template(task: dict[str, Any], template: dict[str, Any]) -> bool:
    """Was the task made from the service's current task template? Its container spec and
    its --force counter are the template's (swarmkit copies them into each task it makes)."""
    spec = task.get("Spec") or {}
    return bool(spec.get("ContainerSpec") == template.get("ContainerSpec")
                and spec.get("ForceUpdate", 0) == template.get("ForceUpdate", 0))


class RolloutWatch:
    """Samples a service during its rolling update; shows the rollout view when ``show`` and
    a kernel is there to show it in. Never fails the update it watches."""

    def __init__(self, lab: LabView, service: str, image: str, want: int, *, show: bool = False,
                 command: str = "") -> None:
        self._lab = lab
        self.service = service
        self.image = short_image(image)
        self.want = want
        self.command = command
        self.samples: list[dict[str, Any]] = []
        self._api: Any = None
        self._t0 = time.monotonic()
        self._show = bool(show) and in_kernel()
        self._handle: Any = None

    def _sample(self, snapshot: Any = None) -> None:
        """One sample: from the snapshot the wait just read (no engine call of its own), or,
        without one (the final sample), from the manager."""
        svc = snapshot.service(self.service) if snapshot is not None else None
        if svc is not None:
            tasks = snapshot.tasks_of(svc["ID"])
        else:
            if self._api is None:
                self._api = self._lab.manager_client().api
            try:
                svc = self._api.inspect_service(self.service)
                tasks = self._api.tasks(filters={"service": svc["ID"]})
            except Exception:
                self._api = None
                raise
        status = svc.get("UpdateStatus") or {}
        template = (svc.get("Spec") or {}).get("TaskTemplate") or {}
        images: dict[str, int] = {}
        for t in tasks:
            if t.get("Status", {}).get("State") == "running":
                img = short_image(t.get("Spec", {}).get("ContainerSpec", {}).get("Image", ""))
                if img == self.image and not of_template(t, template):
                    # an update that keeps the image (--force, new arguments): the tasks it
                    # replaces run the same image, and are not the new ones
                    img = f"{img} {OLD_TASKS}"
                images[img] = images.get(img, 0) + 1
        self.samples.append({
            "t": round(time.monotonic() - self._t0, 2),
            "state": status.get("State", "") or "",
            "message": status.get("Message", "") or "",
            "images": images,
        })

    def observe(self, progress: Any = None) -> None:
        """Called by the wait loop after each check."""
        try:
            self._sample(getattr(progress, "snapshot", None))
        except Exception:  # noqa: BLE001 - a view never breaks the step it watches
            return
        self._display(final=False)

    def finish(self, command_below: bool = False) -> Rollout:
        """One last sample (it shows a pause or a rollback the wait stopped on); the chart.
        ``command_below``: the step's result, shown under the chart, says the command, so the
        chart on screen no longer does (the record returned keeps it)."""
        with contextlib.suppress(Exception):
            self._sample()
        self._display(final=True, command=not command_below)
        return self.result()

    def result(self, chart: bool = True) -> Rollout:
        return Rollout(self.service, self.image, self.want, list(self.samples), self.command, chart)

    def _display(self, final: bool, command: bool = True) -> None:
        if not self._show:
            return
        try:
            from IPython.display import display

            view = self.result(chart=final)
            if not command:
                view.command = ""
            if self._handle is None:
                self._handle = display(view, display_id=True)
            else:
                self._handle.update(view)
        except Exception:  # noqa: BLE001
            self._show = False
