"""The ipywidgets dashboard. Imported only when a dashboard is shown in a kernel."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from .._errors import SwarmlabError
from ._dashboard import Refresher, gone_note, lab_gone, title_for, unreadable
from ._model import Picture
from ._protocol import LabView
from ._render import picture_html, picture_text
from ._source import SwarmSource

_e = html.escape

#: A row of controls: it wraps rather than running out of the notebook's width.
_ROW = {"flex_flow": "row wrap", "align_items": "center"}

#: The image box's placeholder: short, so that it is never cut off; what the chosen service
#: runs now is shown beside the box (it may be long: it wraps there).
IMAGE_HINT = "new image:tag"


class DashboardWidget(widgets.VBox):
    """Nodes as columns, tasks as cards, and controls that run (and show) CLI commands.

    ``picture`` is the last picture shown. ``scale``, ``drain``, ``activate``, ``pause`` and
    ``update`` are what the buttons call; each logs the command it stands for under the
    controls. ``stop()`` ends refreshing, ``close()`` also removes the widget."""

    def __init__(self, lab: LabView, source: SwarmSource, *, refresh: float, history: bool,
                 live: bool) -> None:
        self._lab = lab
        self._source = source
        self._title = title_for(lab)
        self.picture: Picture | None = None
        self.gone = False
        self.commands: list[str] = []
        self._log_lines: list[str] = []

        self._view = widgets.HTML()
        self._view.add_class("swarmlab-dashboard-view")
        self._history = widgets.Checkbox(value=history, description="show finished tasks",
                                         indent=False, layout=widgets.Layout(width="auto"))
        self._status = widgets.HTML()
        self._status.add_class("swarmlab-dashboard-status")
        self._service = widgets.Dropdown(description="service", options=[],
                                         layout=widgets.Layout(width="220px"))
        self._replicas = widgets.BoundedIntText(value=1, min=0, max=200, description="replicas",
                                                layout=widgets.Layout(width="150px"))
        self._replicas_shown: int | None = None  # what the box was last set to from the swarm
        self._scale_btn = widgets.Button(description="scale", tooltip="docker service scale")
        self._image = widgets.Text(description="image", placeholder=IMAGE_HINT,
                                   style={"description_width": "initial"},
                                   layout=widgets.Layout(width="240px"))
        self._now = widgets.HTML()
        self._now.add_class("swarmlab-image-now")
        self._update_btn = widgets.Button(description="rolling update",
                                          tooltip="docker service update --image")
        self._node = widgets.Dropdown(description="node", options=[],
                                      layout=widgets.Layout(width="220px"))
        self._drain_btn = widgets.Button(description="drain")
        self._activate_btn = widgets.Button(description="activate")
        self._pause_btn = widgets.Button(description="pause")
        self._log = widgets.HTML()
        self._log.add_class("swarmlab-dashboard-log")
        for w, cls in ((self._scale_btn, "swarmlab-scale"), (self._update_btn, "swarmlab-update"),
                       (self._drain_btn, "swarmlab-drain"), (self._activate_btn, "swarmlab-activate"),
                       (self._pause_btn, "swarmlab-pause"), (self._replicas, "swarmlab-replicas"),
                       (self._image, "swarmlab-image"), (self._history, "swarmlab-history")):
            w.add_class(cls)

        self._scale_btn.on_click(lambda _: self.scale(self._service.value, self._replicas.value))
        self._update_btn.on_click(lambda _: self.update(self._service.value, self._image.value))
        self._drain_btn.on_click(lambda _: self.drain(self._node.value))
        self._activate_btn.on_click(lambda _: self.activate(self._node.value))
        self._pause_btn.on_click(lambda _: self.pause(self._node.value))
        self._service.observe(self._service_chosen, names="value")
        self._history.observe(lambda _: self._refresh_soon(), names="value")

        super().__init__(children=[
            self._view,
            widgets.HBox([self._history, self._status], layout=_ROW),
            widgets.HBox([self._service, self._replicas, self._scale_btn, self._image,
                          self._update_btn, self._now], layout=_ROW),
            widgets.HBox([self._node, self._drain_btn, self._activate_btn, self._pause_btn],
                         layout=_ROW),
            self._log,
        ])
        self.add_class("swarmlab-dashboard")

        self.refresher = Refresher(self._fetch, self._apply, self._failed, refresh)
        self.live = live
        try:
            self._apply(self._fetch())
        except Exception as e:  # noqa: BLE001 - show why, keep the widget
            self._failed(e)
        if live:
            self.refresher.start()
        self._set_status()

    # -- what a learner (or a test) sees --------------------------------------------------
    def __repr__(self) -> str:
        return f"<swarmlab dashboard of lab {self._lab.name!r}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = repr(self)
        if self.picture is not None:
            data["text/html"] = picture_html(self.picture, self._title)
        return data

    def text(self) -> str:
        return picture_text(self.picture, self._title) if self.picture else ""

    @property
    def running(self) -> bool:
        return self.refresher.running

    def stop(self) -> None:
        """Stop refreshing (the last picture stays)."""
        self.refresher.stop()
        self._set_status()

    def close(self) -> None:
        self.refresher.stop()
        for w in [self._view, self._history, self._status, self._service, self._replicas,
                  self._scale_btn, self._image, self._update_btn, self._now, self._node,
                  self._drain_btn, self._activate_btn, self._pause_btn, self._log]:
            w.close()
        super().close()

    def refresh(self) -> Picture:
        """Fetch and show the picture now (in the calling thread)."""
        picture = self._fetch()
        self._apply(picture)
        return picture

    # -- refreshing (may run on the refresher's thread: set traits only) -----------------
    def _fetch(self) -> Picture:
        return self._source.fetch(history=bool(self._history.value))

    def _apply(self, picture: Picture) -> None:
        if self.gone:  # a refresh that was under way when the lab went
            return
        self.picture = picture
        with self.hold_sync():
            self._view.value = picture_html(picture, self._title)
            names = tuple(s.name for s in picture.services)
            if names != tuple(self._service.options):
                keep = self._service.value
                self._service.options = names
                self._service.value = keep if keep in names else (names[0] if names else None)
            hosts = tuple(c.hostname for c in picture.columns)
            if hosts != tuple(self._node.options):
                keep = self._node.value
                self._node.options = hosts
                self._node.value = keep if keep in hosts else (hosts[0] if hosts else None)
            self._follow_replicas(self._service.value, typed_kept=True)
            self._show_now(self._service.value)
            self._set_status(time.strftime("%H:%M:%S"))

    def _follow_replicas(self, name: str | None, typed_kept: bool) -> None:
        """The replicas box shows what the chosen service asks for (scaled from a cell too), so
        that "scale" never undoes a change made elsewhere; a number the learner typed and has
        not used yet (``typed_kept``) is left alone."""
        desired = next((s.desired for s in (self.picture.services if self.picture else [])
                        if s.name == name), None)
        if desired is None or desired == self._replicas.value:
            return
        if typed_kept and self._replicas_shown is not None and self._replicas.value != self._replicas_shown:
            return
        self._replicas.value = min(desired, self._replicas.max)
        self._replicas_shown = self._replicas.value

    def _failed(self, error: Exception) -> bool:
        """A refresh failed: say why. False (stop refreshing) once the lab is gone."""
        if lab_gone(self._lab):
            self._gone()
            return False
        why = unreadable(error, retrying=True)
        if self.picture is not None:
            stale = Picture(self.picture.columns, self.picture.services,
                            self.picture.unassigned, self.picture.history, error=why)
            self._view.value = picture_html(stale, self._title)
        else:
            self._view.value = picture_html(Picture([], [], error=why), self._title)
        return True

    def _gone(self) -> None:
        """The lab was destroyed: one calm final state. No node, no service, no error: a
        sentence saying so; the controls are off and refreshing stops."""
        self.refresher.stop()
        self.gone = True
        self.picture = Picture([], [], note=gone_note(self._lab))
        with self.hold_sync():
            self._view.value = picture_html(self.picture, self._title)
            self._service.options = ()
            self._node.options = ()
            for w in self._controls():
                w.disabled = True
            self._status.value = f"<small>{_e(f'stopped: lab {self._lab.name} is gone')}</small>"

    def _controls(self) -> list[Any]:
        return [self._service, self._replicas, self._scale_btn, self._image, self._update_btn,
                self._node, self._drain_btn, self._activate_btn, self._pause_btn, self._history]

    def _set_status(self, when: str = "") -> None:
        if self.gone:
            return
        if self.refresher.running:
            text = f"live, every {self.refresher.interval:g}s"
        elif self.live and self.refresher.thread.ident is not None:
            text = "stopped"
        else:
            text = "not live (lab.dashboard(live=True) refreshes by itself)"
        if when:
            text += f" · updated at {when}"
        self._status.value = f"<small>{_e(text)}</small>"

    def _refresh_soon(self) -> None:
        if self.refresher.running:
            self.refresher.poke()
        else:
            try:
                self.refresh()
            except Exception as e:  # noqa: BLE001
                self._failed(e)

    def _service_chosen(self, change: dict[str, Any]) -> None:
        name = change.get("new")
        self._follow_replicas(name, typed_kept=False)
        self._show_now(name)

    def _show_now(self, name: str | None) -> None:
        """Beside the image box: what the chosen service runs now."""
        images = next((s.images for s in (self.picture.services if self.picture else [])
                       if s.name == name), [])
        self._now.value = f"<small>{_e(name or '')} runs {_e(', '.join(images))}</small>" if images else ""

    # -- controls: each runs one lab step, without waiting, and logs its command ---------
    def _run(self, step: Callable[[], Any], fallback_command: str) -> Any:
        try:
            result = step()
        except SwarmlabError as e:
            self._log_line(fallback_command, str(e), ok=False)
            return None
        command = getattr(result, "command", "") or fallback_command
        self.commands.append(command)
        notes = "; ".join(getattr(result, "notes", []) or [])
        self._log_line(command, notes, ok=True)
        self._refresh_soon()
        return result

    def _log_line(self, command: str, note: str, ok: bool) -> None:
        level = "muted" if ok else "bad"
        line = f"<div><code>$ {_e(command)}</code>"
        if note:
            line += f' <span class="swarmlab-{level}" style="color:var(--swarmlab-{level})">{_e(note)}</span>'
        self._log_lines = (self._log_lines + [line + "</div>"])[-6:]
        self._log.value = "".join(self._log_lines)

    def scale(self, service: str | None, replicas: int) -> Any:
        if not service:
            self._log_line("docker service scale", "choose a service first", ok=False)
            return None
        return self._run(lambda: self._lab.service.scale(wait=False, **{service: int(replicas)}),
                         f"docker service scale {service}={replicas}")

    def update(self, service: str | None, image: str) -> Any:
        image = (image or "").strip()
        if not service or not image:
            self._log_line("docker service update --image", "choose a service and type an image",
                           ok=False)
            return None
        return self._run(lambda: self._lab.service.update(service, image=image, wait=False),
                         f"docker service update --image {image} {service}")

    def _availability(self, node: str | None, availability: str) -> Any:
        if not node:
            self._log_line(f"docker node update --availability {availability}",
                           "choose a node first", ok=False)
            return None
        return self._run(lambda: self._lab.node.update(node, availability=availability, wait=False),
                         f"docker node update --availability {availability} {node}")

    def drain(self, node: str | None) -> Any:
        return self._availability(node, "drain")

    def activate(self, node: str | None) -> Any:
        return self._availability(node, "active")

    def pause(self, node: str | None) -> Any:
        return self._availability(node, "pause")
