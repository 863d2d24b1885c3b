"""Presentation: the live dashboard, the rollout view, and their static pictures.

Nothing here is imported by the core until it is used; ipywidgets only when a dashboard is
shown in a kernel (``swarmlab.views._widget``).

- :func:`dashboard` — what ``lab.dashboard()`` returns: a live widget in a notebook, else a
  :class:`Snapshot` (text / escaped HTML).
- :class:`RolloutWatch`, :class:`Rollout` — the rolling update, watched and recorded.
- :func:`build_picture`, :func:`picture_html`, :func:`picture_text` — the pure parts.
"""

from ._dashboard import Refresher, Snapshot, live_default
from ._model import Card, Column, Picture, ServiceSummary, build_picture, service_colour
from ._render import picture_html, picture_text, rollout_html, rollout_svg, rollout_text
from ._rollout import Rollout, RolloutWatch
from ._show import dashboard
from ._source import SwarmSource

__all__ = [
    "Card",
    "Column",
    "Picture",
    "Refresher",
    "Rollout",
    "RolloutWatch",
    "ServiceSummary",
    "Snapshot",
    "SwarmSource",
    "build_picture",
    "dashboard",
    "live_default",
    "picture_html",
    "picture_text",
    "rollout_html",
    "rollout_svg",
    "rollout_text",
    "service_colour",
]
