"""Pure formatting: CLI-style text tables, escaped HTML, human durations.

Results delegate their reprs here (as xarray's objects do to ``formatting_html``). Every piece
of text that reaches HTML goes through :func:`html.escape`: service names, labels, command
arguments and error messages come from users and engines.
"""

from __future__ import annotations

import datetime as _dt
import html
import re
from collections.abc import Iterable, Sequence

_STYLE = (
    "<style>"
    ".swarmlab-result{font-family:var(--jp-code-font-family,monospace);font-size:12px}"
    ".swarmlab-cmd{color:#555;margin:0 0 4px 0}"
    ".swarmlab-cmd code{background:none}"
    ".swarmlab-result table{border-collapse:collapse}"
    ".swarmlab-result th,.swarmlab-result td{padding:2px 10px;text-align:left;"
    "border-bottom:1px solid #ddd;white-space:pre}"
    ".swarmlab-result pre{margin:0}"
    ".swarmlab-note{color:#555}"
    "</style>"
)

# Words that colour a cell: green for healthy, amber for in-between, red for trouble.
_GOOD = re.compile(r"^(running|ready|active|leader|reachable|completed|converged)\b", re.I)
_WARN = re.compile(r"^(preparing|starting|pending|assigned|accepted|new|pause|paused|drain|updating|"
                   r"shutdown|complete)\b", re.I)
_BAD = re.compile(r"^(failed|rejected|down|unreachable|error|orphaned|remove|rollback)", re.I)


def state_colour(value: str) -> str | None:
    v = value.strip()
    if _BAD.match(v):
        return "#c62828"
    if _GOOD.match(v):
        return "#2e7d32"
    if _WARN.match(v):
        return "#b26a00"
    return None


def replicas_colour(value: str) -> str | None:
    """'3/3' green, '1/3' amber, '0/3' red; anything else uncoloured."""
    m = re.match(r"^\s*(\d+)/(\d+)\b", value)
    if not m:
        return None
    running, want = int(m.group(1)), int(m.group(2))
    if running == want:
        return "#2e7d32"
    return "#c62828" if running == 0 else "#b26a00"


def text_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns aligned with three spaces between them, as the docker CLI prints them."""
    body = [["" if v is None else str(v) for v in r] for r in rows]
    widths = [len(c) for c in columns]
    for r in body:
        for i, v in enumerate(r):
            widths[i] = max(widths[i], len(v))
    lines = []
    for r in [list(columns), *body]:
        cells = [v.ljust(widths[i]) for i, v in enumerate(r)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def html_table(columns: Sequence[str], rows: Iterable[Sequence[object]], colour: Sequence[str] = ()) -> str:
    """An escaped HTML table; cells of the columns named in ``colour`` are coloured by state."""
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in columns)
    out = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    coloured = {i for i, c in enumerate(columns) if c in colour}
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            text = "" if v is None else str(v)
            col = state_colour(text) if i in coloured else None
            if columns[i] == "REPLICAS":  # `docker service ls`: 3/3 converged, 1/3 not yet
                col = replicas_colour(text)
            style = f' style="color:{col};font-weight:bold"' if col else ""
            cells.append(f"<td{style}>{e(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def html_result(command: str, body_html: str, notes: Sequence[str] = ()) -> str:
    """Wrap a result: the CLI command it stands for, notes, then the body."""
    e = html.escape
    parts = [_STYLE, '<div class="swarmlab-result">']
    if command:
        parts.append(f'<div class="swarmlab-cmd"><code>$ {e(command)}</code></div>')
    for n in notes:
        parts.append(f'<div class="swarmlab-note">{e(n)}</div>')
    parts.append(body_html)
    parts.append("</div>")
    return "".join(parts)


def html_pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def human_duration(seconds: float) -> str:
    """Like the docker CLI's ``units.HumanDuration``: '5 seconds', 'About a minute', ..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    return f"{h // (24 * 7)} weeks"


def parse_time(value: str) -> _dt.datetime:
    """Parse an engine timestamp (RFC 3339 with nanoseconds) to an aware datetime."""
    v = value.rstrip("Z")
    if "." in v:
        head, frac = v.split(".", 1)
        frac = re.sub(r"\D.*$", "", frac)[:6]
        v = f"{head}.{frac.ljust(6, '0')}"
    return _dt.datetime.fromisoformat(v).replace(tzinfo=_dt.timezone.utc)


def ago(value: str, now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return f"{human_duration((now - parse_time(value)).total_seconds())} ago"


_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def parse_duration(value: object, what: str) -> float:
    """'10s', '1m30s', '500ms' or a number of seconds -> seconds (float)."""
    from ._errors import InvalidArgument

    if isinstance(value, bool):
        raise InvalidArgument(f"{what}={value!r}: give a duration such as '10s' or '1m30s'")
    if isinstance(value, (int, float)):
        if value < 0:
            raise InvalidArgument(f"{what}={value!r}: a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value.strip())
        if m and any(m.groups()):
            h, mi, s, ms = m.groups()
            return int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0) + int(ms or 0) / 1000
    raise InvalidArgument(f"{what}={value!r}: give a duration such as '10s' or '1m30s'")


def format_duration(seconds: float) -> str:
    """Seconds -> the Go duration text the CLI prints ('10s', '1m30s', '500ms')."""
    if seconds < 1 and seconds != 0:
        return f"{int(round(seconds * 1000))}ms"
    s = float(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    out = ""
    if h:
        out += f"{int(h)}h"
    if m or h:
        out += f"{int(m)}m"
    out += f"{sec:g}s"
    return out


def short_id(value: str, n: int = 12) -> str:
    return value[:n]
