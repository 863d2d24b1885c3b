"""``lab.dashboard()``: the live picture of a swarm (a widget, in a Jupyter kernel with
ipywidgets), else its static snapshot. Showing a lab's dashboard again replaces (and stops)
the old one."""

from __future__ import annotations

import weakref
from typing import Any

from ._dashboard import (
    DEFAULT_REFRESH,
    Snapshot,
    gone_note,
    in_kernel,
    lab_gone,
    live_default,
    title_for,
    unreadable,
)
from ._model import Picture
from ._protocol import LabView
from ._source import SwarmSource

# one live dashboard per lab name: showing it again replaces (and stops) the old one
_live: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def dashboard(lab: LabView, refresh: float = DEFAULT_REFRESH, *, history: bool = False,
              live: bool | None = None, widget: bool | None = None) -> Any:
    """The dashboard of ``lab`` (see :meth:`swarmlab.Lab.dashboard`)."""
    source = SwarmSource(lab)
    use_widget = in_kernel() if widget is None else widget
    if use_widget:
        try:
            from ._widget import DashboardWidget
        except ImportError:
            use_widget = False
    if not use_widget:
        try:
            picture = source.fetch(history=history)
        except Exception as e:  # noqa: BLE001
            picture = (Picture([], [], note=gone_note(lab)) if lab_gone(lab)
                       else Picture([], [], error=unreadable(e)))
        return Snapshot(picture, title_for(lab))
    old = _live.get(lab.name)
    if old is not None:
        old.stop()
    board = DashboardWidget(lab, source, refresh=refresh, history=history,
                            live=live_default(live))
    _live[lab.name] = board
    return board
