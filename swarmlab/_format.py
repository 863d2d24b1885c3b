"""Pure formatting: CLI-style text tables, escaped HTML, human durations.

Results delegate their reprs here (as xarray's objects do to ``formatting_html``). Every piece
of text that reaches HTML goes through :func:`html.escape`: service names, labels, command
arguments and error messages come from users and engines.
"""

from __future__ import annotations

import datetime as _dt
import html
import re
import shlex
from collections.abc import Iterable, Sequence

#: Colours by level, for the light and the dark JupyterLab themes: text in these colours keeps
#: a WCAG AA contrast (4.5:1) on each theme's backgrounds, and white text keeps it on the light
#: ones (badges and task cards). Views read them as CSS variables (``var(--swarmlab-good)``).
LEVELS = {
    "good": ("#1b5e20", "#81c784"),
    "warn": ("#8a4b00", "#ffb74d"),
    "bad": ("#b71c1c", "#ef9a9a"),
    "muted": ("#555555", "#bdbdbd"),
    "bad-bg": ("#fdecea", "#3b1a1a"),
}

#: The containers every swarmlab view is drawn in; the theme's variables are set on them.
VIEW_CLASSES = (".swarmlab-result", ".swarmlab-dash", ".swarmlab-rollout", ".swarmlab-check",
                ".swarmlab-dashboard")


_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:=@%+,-]+")


def shell_word(text: str) -> str:
    """``text`` as one word of a shell command line, as a person types it: bare when plain; in
    single quotes when it has none; else in double quotes, with ``\\``, ``"``, ``$`` and
    a backquote escaped (``'{print $2}'`` inside stays readable); with a ``!`` (which double
    quotes do not protect in an interactive shell), as ``shlex.quote`` writes it."""
    if _PLAIN_WORD.fullmatch(text):
        return text
    if "'" not in text:
        return f"'{text}'"
    if "!" not in text:
        return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'
    return shlex.quote(text)


def theme_css() -> str:
    """CSS variables of the level colours: light by default, dark under JupyterLab's dark
    theme (``body[data-jp-theme-light=false]``)."""
    light = ";".join(f"--swarmlab-{k}:{v[0]}" for k, v in LEVELS.items())
    dark = ";".join(f"--swarmlab-{k}:{v[1]}" for k, v in LEVELS.items())
    scoped = ",".join(f'body[data-jp-theme-light="false"] {c}' for c in VIEW_CLASSES)
    return f"{','.join(VIEW_CLASSES)}{{{light}}}{scoped}{{{dark}}}"


def level_css(scope: str) -> str:
    """Text colour classes (``swarmlab-good`` ...) inside ``scope``."""
    return "".join(f"{scope} .swarmlab-{k}{{color:var(--swarmlab-{k});font-weight:bold}}"
                   for k in ("good", "warn", "bad"))


# JupyterLab styles every table in an output (`.jp-RenderedHTMLCommon td`: right-aligned,
# wrapped, padded; specificity 0,2,1 for th). These selectors are more specific (0,2,2), so
# swarmlab's tables read left-aligned, as the CLI prints them, wherever they are shown.
_T = ".swarmlab-result table.swarmlab-table"
_STYLE = (
    "<style>"
    + theme_css()
    + ".swarmlab-result{font-family:var(--jp-code-font-family,monospace);font-size:12px}"
    ".swarmlab-cmd{color:var(--swarmlab-muted);margin:0 0 4px 0}"
    ".swarmlab-cmd code{background:none;color:inherit}"
    f"{_T}{{border-collapse:collapse;table-layout:auto;margin:0;font-size:12px;"
    "font-family:var(--jp-code-font-family,monospace)}"
    f"{_T} th,{_T} td{{padding:2px 10px;text-align:left;vertical-align:top;"
    "border-bottom:1px solid var(--jp-border-color2,#ddd);white-space:pre;line-height:1.4}"
    f"{_T} td.swarmlab-wrap{{white-space:normal}}"
    f"{_T} td.swarmlab-long{{min-width:24ch}}"
    f"{_T} td[title]{{cursor:help}}"
    + level_css(_T)
    + ".swarmlab-result pre{margin:0}"
    ".swarmlab-note{color:var(--swarmlab-muted)}"
    "</style>"
)

# Words that colour a cell: green for healthy, amber for in-between, red for trouble.
_GOOD = re.compile(r"^(running|ready|active|leader|reachable|completed|converged)\b", re.I)
_WARN = re.compile(r"^(preparing|starting|pending|assigned|accepted|new|pause|paused|drain|updating|"
                   r"shutdown|complete)\b", re.I)
_BAD = re.compile(r"^(failed|rejected|down|unreachable|error|orphaned|remove|rollback)", re.I)


def state_level(value: str) -> str | None:
    """'good', 'warn' or 'bad' for a state word (running, pending, failed, ...)."""
    v = value.strip()
    if _BAD.match(v):
        return "bad"
    if _GOOD.match(v):
        return "good"
    if _WARN.match(v):
        return "warn"
    return None


def replicas_level(value: str) -> str | None:
    """'3/3' good, '1/3' warn, '0/3' bad; anything else None."""
    m = re.match(r"^\s*(\d+)/(\d+)\b", value)
    if not m:
        return None
    running, want = int(m.group(1)), int(m.group(2))
    if running == want:
        return "good"
    return "bad" if running == 0 else "warn"


def state_colour(value: str) -> str | None:
    """The light theme's colour for a state word (see :data:`LEVELS`)."""
    level = state_level(value)
    return LEVELS[level][0] if level else None


def replicas_colour(value: str) -> str | None:
    level = replicas_level(value)
    return LEVELS[level][0] if level else None


#: Longer cells are shortened in HTML tables (the whole value on hover and in ``.df``).
CELL_MAX = 40


def shorten(value: str, limit: int = CELL_MAX) -> str:
    """A long value without spaces, shortened in the middle so its start and end stay:
    'unix:///root/.swarmlab/labs/tutorial/manager1/docker.sock' ->
    'unix://…/tutorial/manager1/docker.sock'."""
    if len(value) <= limit:
        return value
    scheme, sep, rest = value.partition("://")
    head = scheme + sep if sep else ""
    body = rest if sep else value
    if "/" in body:
        parts = body.rstrip("/").split("/")
        tail = parts[-1]
        for p in reversed(parts[:-1]):
            if len(head) + len(tail) + len(p) + 3 > limit:
                break
            tail = f"{p}/{tail}"
        short = f"{head}…/{tail}"
        if len(short) <= limit:
            return short
    keep = limit - 1
    return value[: keep // 2] + "…" + value[-(keep - keep // 2):]


def text_table(columns: Sequence[str], rows: Iterable[Sequence[object]], min_width: int = 0) -> str:
    """Columns aligned as Go's tabwriter aligns them for the docker CLI: each column as wide as
    its widest cell plus three spaces, and at least ``min_width`` (the docker CLI's tables use
    10; docker-machine's, 5, which three spaces of padding always exceed)."""
    body = [["" if v is None else str(v) for v in r] for r in rows]
    widths = [len(c) + 3 for c in columns]
    for r in body:
        for i, v in enumerate(r):
            widths[i] = max(widths[i], len(v) + 3)
    widths = [max(w, min_width) for w in widths]
    lines = []
    for r in [list(columns), *body]:
        cells = [v.ljust(widths[i]) for i, v in enumerate(r)]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def html_table(columns: Sequence[str], rows: Iterable[Sequence[object]], colour: Sequence[str] = ()) -> str:
    """An escaped HTML table; cells of the columns named in ``colour`` are coloured by state.

    A long value without spaces (a socket URL, an ID) is shortened in the middle, with the
    whole value in its ``title`` (shown on hover); a text with spaces may wrap, so that a wide
    table (``docker service ps``) still fits the notebook."""
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in columns)
    out = [f'<table class="swarmlab-table"><thead><tr>{head}</tr></thead><tbody>']
    coloured = {i for i, c in enumerate(columns) if c in colour}
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            text = "" if v is None else str(v)
            level = state_level(text) if i in coloured else None
            if columns[i] == "REPLICAS":  # `docker service ls`: 3/3 converged, 1/3 not yet
                level = replicas_level(text)
            classes = [f"swarmlab-{level}"] if level else []
            attrs = ""
            shown = text
            if " " in text.strip():  # "Running 5 seconds ago": may wrap when the table is wide
                classes.append("swarmlab-wrap")
                if len(text) > CELL_MAX:
                    classes.append("swarmlab-long")
            elif len(text) > CELL_MAX:
                shown = shorten(text)
                attrs = f' title="{e(text)}"'
            if classes:
                attrs = f' class="{" ".join(classes)}"' + attrs
            cells.append(f"<td{attrs}>{e(shown)}</td>")
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


#: The longest span a Go ``time.Duration`` holds (about 292 years); ``time.Since`` stops there.
_MAX_GO_SECONDS = (2**63 - 1) / 1e9


def human_duration(seconds: float) -> str:
    """go-units' ``HumanDuration``, which the docker CLI prints: 'Less than a second',
    '5 seconds', 'About a minute', '3 hours', '3 months', ..."""
    seconds = min(seconds, _MAX_GO_SECONDS)
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = int(seconds / 60)
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = int(seconds / 3600 + 0.5)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def _split_time(value: str) -> tuple[_dt.datetime, int]:
    """An engine timestamp (RFC 3339, up to nanoseconds) -> (whole seconds, aware; nanoseconds)."""
    m = _TIME_RE.match(value.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    whole, frac, zone = m.groups()
    tz = _dt.timezone.utc
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        tz = _dt.timezone(sign * _dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return _dt.datetime.fromisoformat(whole).replace(tzinfo=tz), int((frac or "0")[:9].ljust(9, "0"))


def parse_time(value: str) -> _dt.datetime:
    """Parse an engine timestamp (RFC 3339 with nanoseconds) to an aware datetime (microseconds)."""
    whole, ns = _split_time(value)
    return whole + _dt.timedelta(microseconds=ns // 1000)


def parse_time_ns(value: str) -> int:
    """An engine timestamp as nanoseconds since the epoch (to order times as the CLI does)."""
    whole, ns = _split_time(value)
    return int(whole.timestamp()) * 1_000_000_000 + ns


def go_time(value: str) -> str:
    """An engine timestamp as Go's ``time.Time.String`` prints it:
    '2026-11-30 01:25:53.875167867 +0000 UTC'."""
    whole, ns = _split_time(value)
    frac = f".{ns:09d}".rstrip("0").rstrip(".")
    off = whole.utcoffset() or _dt.timedelta(0)
    minutes = int(off.total_seconds()) // 60
    zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    name = "UTC" if value.strip().endswith("Z") else zone
    return f"{whole:%Y-%m-%d %H:%M:%S}{frac} {zone} {name}"


def ago(value: str, now: _dt.datetime | None = None) -> str:
    """``HumanDuration(time.Since(value)) + " ago"``, as ``service inspect --pretty`` says
    when an update started ('About a minute ago'); ``service ps`` lower-cases it."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return f"{human_duration((now - parse_time(value)).total_seconds())} ago"


def go_duration(ns: int) -> str:
    """Nanoseconds as Go's ``time.Duration.String``: '10s', '1m30s', '1h0m0s', '500ms', '1.5µs'."""
    ns = int(ns)
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)

    def frac(v: int, digits: int) -> str:
        whole, rest = divmod(v, 10**digits)
        tail = f"{rest:0{digits}d}".rstrip("0") if digits else ""
        return f"{whole}.{tail}" if tail else str(whole)

    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{frac(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{frac(u, 6)}ms"
    secs, rest = divmod(u, 1_000_000_000)
    out = frac(secs % 60 * 1_000_000_000 + rest, 9) + "s"
    minutes = secs // 60
    if minutes:
        out = f"{minutes % 60}m{out}"
        if minutes // 60:
            out = f"{minutes // 60}h{out}"
    return sign + out


#: the one duration grammar: Go's units as the docker CLI takes them (h, m, s with a
#: fraction, ms), and days for the spans a teacher gives (``swarmlab gc --idle 1d``)
_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def duration_seconds(text: object, days: bool = False) -> float | None:
    """``'1h30m'``, ``'10s'``, ``'1.5s'``, ``'500ms'`` (with ``days`` also ``'1d2h'``) as
    seconds; None when ``text`` is not such a duration."""
    m = _DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if not m or not any(m.groups()) or (m.group(1) and not days):
        return None
    d, h, mi, s, ms = m.groups()
    return ((int(d or 0) * 24 + int(h or 0)) * 60 + int(mi or 0)) * 60 + float(s or 0) + int(ms or 0) / 1000


def parse_duration(value: object, what: str) -> float:
    """'10s', '1m30s', '500ms' or a number of seconds -> seconds (float)."""
    from ._errors import InvalidArgument

    if isinstance(value, bool):
        raise InvalidArgument(f"{what}={value!r}: give a duration such as '10s' or '1m30s'")
    if isinstance(value, (int, float)):
        if value < 0:
            raise InvalidArgument(f"{what}={value!r}: a duration cannot be negative")
        return float(value)
    seconds = duration_seconds(value)
    if seconds is not None:
        return seconds
    raise InvalidArgument(f"{what}={value!r}: give a duration such as '10s' or '1m30s'")


def format_duration(seconds: float) -> str:
    """Seconds -> the Go duration text the CLI prints ('10s', '1m30s', '500ms')."""
    return go_duration(round(seconds * 1e9))
