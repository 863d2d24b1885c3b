"""HTML and text for the swarm picture and the rollout view. Pure functions.

Every string that reaches HTML goes through :func:`html.escape` (service names, images,
labels, task errors come from users and engines). Every HTML view embeds a ``<pre>`` text
fallback, hidden by the view's own stylesheet: where styles are stripped (GitHub, untrusted
notebooks) the text shows instead.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .._format import state_colour, state_level, theme_css
from ._model import Card, Column, Picture, ServiceSummary

_e = html.escape

DASH_CSS = (
    "<style>"
    + theme_css()
    + ".swarmlab-dash{font-family:var(--jp-ui-font-family,sans-serif);font-size:12px;"
    "color:var(--jp-ui-font-color1,#212121)}"
    ".swarmlab-dash .swarmlab-fallback{display:none}"
    ".swarmlab-nodes{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}"
    ".swarmlab-node{box-sizing:border-box;flex:0 1 210px;min-width:150px;max-width:210px;"
    "border:1px solid var(--jp-border-color1,#bbb);border-radius:6px;padding:4px;"
    "background:var(--jp-layout-color1,#fff)}"
    ".swarmlab-node.swarmlab-down{border-color:var(--swarmlab-bad);background:var(--swarmlab-bad-bg)}"
    ".swarmlab-node h4{margin:0 0 2px 0;font-size:13px;color:inherit}"
    ".swarmlab-badges{margin-bottom:4px}"
    ".swarmlab-badge{display:inline-block;border-radius:3px;padding:0 4px;margin:1px 3px 1px 0;"
    "font-size:11px;line-height:16px;color:#fff}"
    ".swarmlab-task{border-radius:4px;padding:2px 5px;margin:3px 0;color:#fff;line-height:1.3}"
    ".swarmlab-task.swarmlab-old{background:var(--jp-layout-color2,#eee)!important;"
    "color:var(--jp-ui-font-color1,#212121);border-left:4px solid var(--swarmlab-card);"
    "text-decoration:line-through}"
    ".swarmlab-task .swarmlab-state{float:right;font-size:10px;background:rgba(0,0,0,.25);"
    "border-radius:3px;padding:0 3px;text-decoration:none}"
    ".swarmlab-task.swarmlab-old .swarmlab-state{background:none}"
    ".swarmlab-services{margin-top:6px;color:inherit}"
    ".swarmlab-swatch{display:inline-block;width:9px;height:9px;border-radius:2px;"
    "margin-right:3px}"
    ".swarmlab-msg{color:var(--swarmlab-bad)}"
    ".swarmlab-final{color:var(--swarmlab-muted);padding:4px 0}"
    "</style>"
)

#: Badge backgrounds (white text on them keeps 4.5:1 or more).
_BADGE_COLOURS = {
    "leader": "#283593", "manager": "#3949ab", "worker": "#546e7a",
    "active": "#1b5e20", "pause": "#8a4b00", "drain": "#8a4b00",
    "ready": "#1b5e20", "down": "#b71c1c", "disconnected": "#b71c1c", "unknown": "#616161",
}


def _badge(kind: str, value: str) -> str:
    colour = _BADGE_COLOURS.get(value) or state_colour(value) or "#616161"
    return (f'<span class="swarmlab-badge swarmlab-{_e(kind)}" data-{_e(kind)}="{_e(value)}" '
            f'style="background:{colour}">{_e(value)}</span>')


def _card_html(c: Card) -> str:
    classes = "swarmlab-task" + ("" if c.live else " swarmlab-old")
    title = f"{c.label} ({c.task_id[:12]}): {c.image}, {c.state}"
    if c.desired and c.desired != c.state:
        title += f" (desired: {c.desired})"
    if c.error:
        title += f" — {c.error}"
    return (
        f'<div class="{classes}" data-service="{_e(c.service)}" data-task="{_e(c.task_id)}" '
        f'data-state="{_e(c.state)}" title="{_e(title)}" '
        f'style="background:{c.colour};--swarmlab-card:{c.colour}">'
        f'<span class="swarmlab-state">{_e(c.state)}</span>'
        f"<b>{_e(c.label)}</b><br>{_e(c.image)}</div>"
    )


def _column_html(col: Column) -> str:
    down = col.status != "ready"
    return (
        f'<div class="swarmlab-node{" swarmlab-down" if down else ""}" '
        f'data-node="{_e(col.hostname)}" data-status="{_e(col.status)}" '
        f'data-availability="{_e(col.availability)}" data-role="{_e(col.role)}">'
        f"<h4>{_e(col.hostname)}</h4>"
        f'<div class="swarmlab-badges">{_badge("role", col.role)}'
        f'{_badge("availability", col.availability)}{_badge("status", col.status)}</div>'
        + "".join(_card_html(c) for c in col.cards)
        + "</div>"
    )


def _endpoint_text(s: ServiceSummary) -> str:
    """`` · ports 8080->80/tcp mesh · on appnet``: how a service is reached, when it is."""
    out = ""
    if s.ports:
        out += f" · ports {', '.join(s.ports)}"
    if s.networks:
        out += f" · on {', '.join(s.networks)}"
    return out


def picture_html(p: Picture, title: str = "", command_note: str = "") -> str:
    """The whole picture as one escaped HTML fragment (with its text fallback)."""
    parts = [DASH_CSS, '<div class="swarmlab-dash">']
    if title:
        parts.append(f"<div><b>{_e(title)}</b></div>")
    if p.error:
        parts.append(f'<div class="swarmlab-msg">{_e(p.error)}</div>')
    if p.note:
        parts.append(f'<div class="swarmlab-final">{_e(p.note)}</div>')
    parts.append('<div class="swarmlab-nodes">')
    parts += [_column_html(c) for c in p.columns]
    if p.unassigned:
        parts.append('<div class="swarmlab-node swarmlab-pending" data-node="">'
                     "<h4>not placed</h4>"
                     '<div class="swarmlab-badges">no node took these tasks (yet)</div>'
                     + "".join(_card_html(c) for c in p.unassigned) + "</div>")
    parts.append("</div>")
    if p.services:
        items = []
        for s in p.services:
            images = ", ".join(s.images) or "no task running"
            items.append(
                f'<span data-summary="{_e(s.name)}"><span class="swarmlab-swatch" '
                f'style="background:{s.colour}"></span><b>{_e(s.name)}</b> '
                f"{s.running}/{s.desired} running ({_e(images)}){_e(_endpoint_text(s))}</span>"
            )
        parts.append('<div class="swarmlab-services">' + " &nbsp; ".join(items) + "</div>")
    if command_note:
        parts.append(f'<div class="swarmlab-services"><code>{_e(command_note)}</code></div>')
    parts.append(f'<pre class="swarmlab-fallback">{_e(picture_text(p, title))}</pre>')
    parts.append("</div>")
    return "".join(parts)


def picture_text(p: Picture, title: str = "") -> str:
    """The picture as text: a block per node, a line per task."""
    lines = [title] if title else []
    if p.error:
        lines.append(f"! {p.error}")
    if p.note:
        lines.append(p.note)
    for col in p.columns:
        lines.append(f"{col.hostname}  [{col.role}, {col.availability}, {col.status}]")
        if not col.cards:
            lines.append("    (no tasks)")
        for c in col.cards:
            mark = "  " if c.live else "\\_"
            lines.append(f"  {mark} {c.label:<18} {c.image:<26} {c.state}")
    if p.unassigned:
        lines.append("not placed on any node:")
        lines += [f"     {c.label:<18} {c.image:<26} {c.state}" for c in p.unassigned]
    for s in p.services:
        lines.append(f"service {s.name}: {s.running}/{s.desired} running"
                     + (f" ({', '.join(s.images)})" if s.images else "") + _endpoint_text(s))
    return "\n".join(lines)


# -- the rollout view -------------------------------------------------------------------

ROLLOUT_CSS = (
    "<style>"
    + theme_css()
    + ".swarmlab-rollout{font-family:var(--jp-ui-font-family,sans-serif);font-size:12px;"
    "color:var(--jp-ui-font-color1,#212121)}"
    ".swarmlab-rollout .swarmlab-fallback{display:none}"
    ".swarmlab-bar{width:320px;height:12px;background:var(--jp-layout-color3,#ddd);border-radius:3px;"
    "overflow:hidden;display:inline-block;vertical-align:middle;margin-right:6px}"
    ".swarmlab-bar div{height:100%;background:#43a047}"
    ".swarmlab-rollout .swarmlab-chart{color:inherit}"
    ".swarmlab-rollout .swarmlab-good{color:var(--swarmlab-good)}"
    ".swarmlab-rollout .swarmlab-warn{color:var(--swarmlab-warn)}"
    ".swarmlab-rollout .swarmlab-bad{color:var(--swarmlab-bad)}"
    "</style>"
)

#: Line colours for the images of a rollout: the new one green, the old one grey, others after.
_LINE_COLOURS = ("#43a047", "#9e9e9e", "#1e88e5", "#8e24aa", "#f4511e")


def _state_label(state: str) -> str:
    return {"rollback_started": "rolling back", "rollback_paused": "rollback paused",
            "rollback_completed": "rolled back", "": "not started"}.get(state, state)


def rollout_text(name: str, image: str, samples: Sequence[dict], want: int) -> str:
    last: dict[str, Any] = (samples[-1] if samples else
                            {"state": "", "message": "", "images": {}, "t": 0.0})
    new = int(last["images"].get(image, 0))
    lines = [f"rolling update of {name} to {image}: {new}/{want} tasks on the new image, "
             f"{_state_label(last['state'])}"]
    if last.get("message"):
        lines.append(f"  why: {last['message']}")
    prev: dict | None = None
    for s in samples:
        if prev is None or s["images"] != prev["images"] or s["state"] != prev["state"]:
            counts = "  ".join(f"{k}={v}" for k, v in sorted(s["images"].items()))
            lines.append(f"  {s['t']:6.1f}s  {_state_label(s['state']):<14} {counts}")
        prev = s
    return "\n".join(lines)


def rollout_svg(image: str, samples: Sequence[dict], want: int,
                width: int = 360, height: int = 120) -> str:
    """A step chart: running tasks per image over time."""
    if not samples:
        return ""
    images = sorted({k for s in samples for k in s["images"]} | {image},
                    key=lambda k: (k != image, k))
    t_end = max(samples[-1]["t"], 0.001)
    top = max([want, 1] + [v for s in samples for v in s["images"].values()])
    left, right, pad_top, bottom = 28, 8, 8, 20
    w, h = width - left - right, height - pad_top - bottom

    def x(t: float) -> float:
        return left + w * t / t_end

    def y(v: float) -> float:
        return pad_top + h - h * v / top

    out = [f'<svg class="swarmlab-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height + 16 * len(images)}" role="img">']
    out.append(f'<line x1="{left}" y1="{y(0):.1f}" x2="{left + w}" y2="{y(0):.1f}" stroke="#999"/>')
    out.append(f'<line x1="{left}" y1="{pad_top}" x2="{left}" y2="{y(0):.1f}" stroke="#999"/>')
    small = 'font-size="10" fill="currentColor" text-anchor="end"'
    out.append(f'<text x="{left - 4}" y="{y(top) + 4:.1f}" {small}>{top}</text>')
    out.append(f'<text x="{left - 4}" y="{y(0) + 4:.1f}" {small}>0</text>')
    out.append(f'<text x="{left + w}" y="{y(0) + 14:.1f}" {small}>'
               f"{t_end:.0f}s</text>")
    for i, img in enumerate(images):
        colour = _LINE_COLOURS[0] if img == image else _LINE_COLOURS[1 + (i - 1) % 4]
        pts: list[str] = []
        prev_v: float | None = None
        for s in samples:
            v = float(s["images"].get(img, 0))
            if prev_v is not None:
                pts.append(f"{x(s['t']):.1f},{y(prev_v):.1f}")
            pts.append(f"{x(s['t']):.1f},{y(v):.1f}")
            prev_v = v
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                   f'data-image="{_e(img)}" points="{" ".join(pts)}"/>')
        ly = height + 12 * (i + 1) + 2 * i
        out.append(f'<rect x="{left}" y="{ly - 8}" width="10" height="8" fill="{colour}"/>')
        out.append(f'<text x="{left + 14}" y="{ly}" font-size="11" fill="currentColor">{_e(img)}'
                   f'{" (new)" if img == image else ""}</text>')
    out.append("</svg>")
    return "".join(out)


def rollout_html(name: str, image: str, samples: Sequence[dict], want: int,
                 command: str = "", chart: bool = True) -> str:
    last: dict[str, Any] = samples[-1] if samples else {"state": "", "message": "", "images": {}}
    new = int(last["images"].get(image, 0))
    pct = 100 * new / want if want else 100
    state = _state_label(last["state"])
    level = state_level(state) or "warn"
    parts = [ROLLOUT_CSS, f'<div class="swarmlab-rollout" data-service="{_e(name)}" '
             f'data-state="{_e(last["state"])}" data-new="{new}" data-want="{want}">']
    if command:
        parts.append(f"<div><code>$ {_e(command)}</code></div>")
    parts.append(f"<div>rolling update of <b>{_e(name)}</b> to <b>{_e(image)}</b></div>")
    parts.append(f'<div><span class="swarmlab-bar"><div style="width:{pct:.0f}%"></div></span>'
                 f"{new}/{want} tasks on the new image · "
                 f'<b class="swarmlab-{level}">{_e(state)}</b></div>')
    if last.get("message"):
        parts.append(f"<div>why: {_e(str(last['message']))}</div>")
    if chart and len(samples) > 1:
        parts.append(rollout_svg(image, samples, want))
    parts.append(f'<pre class="swarmlab-fallback">{_e(rollout_text(name, image, samples, want))}</pre>')
    parts.append("</div>")
    return "".join(parts)
