"""A teacher's board: every learner's labs on this computer, at a glance.

One row per lab (of each provider whose labs share an engine: dind, on this computer's engine
and, for root, each learner's rootless one): whose it is, its machines (running/all),
its nodes (Ready/all), its services with their tasks (running/asked), and which lessons'
"now you try" checks pass on it now (:func:`swarmlab.exercises.lesson_checks`)::

    from swarmlab import classroom
    classroom.board()                  # in a notebook: refreshes itself every 15 s
    classroom.class_status()           # once: .text(), HTML in a notebook, .as_dict()

    swarmlab class status [-o json] [--user UID ...] [--no-checks]     # from a terminal

Root (the teacher on a lab server) sees every learner's labs; anyone else sees their own.
Everything read back from the engine (labels, names, service names) is checked or escaped
before it is shown, and the board only reads: no check changes a learner's lab.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import _deadline
from .._errors import InvalidArgument, SwarmlabError
from .._format import html_result, text_table
from ..providers import FoundLab, shared_engine_providers
from ..providers.base import is_name, owner

#: how often the board refreshes itself by default, in seconds: a refresh runs every check on
#: every lab, which costs the machines more than a dashboard's three API calls
DEFAULT_REFRESH = 15.0
MIN_REFRESH = 5.0
#: how long one engine may take to say which labs it has, and one lab to be read (its
#: machines, nodes, services and every check), in seconds: what is not read by then is listed
#: as such, and the rest shown (a stuck engine or machine must not stop the board)
ENGINE_DEADLINE = 20.0
LAB_DEADLINE = 45.0

__all__ = ["ClassStatus", "LearnerLab", "board", "class_status"]


@dataclass
class LearnerLab:
    """One row of the board."""

    user: str  #: the learner's user name (the system's user database), else their user id
    uid: str  #: the owner label of the lab's machines
    lab: str
    machines: str  #: "running/all"
    nodes: str  #: "Ready/all", "-" without a swarm
    services: list[str] = field(default_factory=list)  #: "helloworld 3/3" (running/asked)
    passed: list[str] | None = None  #: lessons whose check passes now (None: not checked)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ClassStatus:
    """What :func:`class_status` read: a row per lab, and which lessons were checked."""

    labs: list[LearnerLab]
    lessons: list[str]  #: the lessons checked, in class order (empty: checks not run)
    scope: str  #: whose labs these are, as a sentence
    seconds: float  #: how long reading took
    #: what the board did not show, and why: an engine that did not answer in time, or that
    #: reported labs of users other than its own (ignored)
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return ["LEARNER", "LAB", "MACHINES", "NODES", "SERVICES", *[n[:2] for n in self.lessons]]

    def rows(self) -> list[list[str]]:
        out = []
        for x in self.labs:
            services = ", ".join(x.services) or "-"
            marks = [("✓" if n in x.passed else "·") if x.passed is not None else "?" for n in self.lessons]
            out.append([x.user, x.lab, x.machines, x.nodes, services, *marks])
        return out

    def _legend(self) -> str:
        if not self.lessons:
            return ""
        return (f"✓: that lesson's \"now you try\" check passes on the lab now ({', '.join(self.lessons)}); "
                "·: not (yet)")

    def text(self) -> str:
        if not self.labs:
            return "\n".join([f"no labs ({self.scope})", *self.notes])
        lines = [f"{len(self.labs)} lab(s) of {len({x.uid for x in self.labs})} learner(s) ({self.scope}), "
                 f"read in {self.seconds:.1f} s", text_table(self.columns, self.rows()).rstrip()]
        lines += [f"{x.user}/{x.lab}: {x.error}" for x in self.labs if x.error]
        lines += self.notes
        if self._legend():
            lines.append(self._legend())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        """The board as swarmlab's other views draw a table (theme-aware colours, left-aligned),
        a row per lab marked with its learner and lab; every text escaped."""
        e = html.escape
        if not self.labs:
            return html_result("swarmlab class status", "", self.text().splitlines())
        head = "".join(f"<th>{e(c)}</th>" for c in self.columns)
        body = []
        for row, x in zip(self.rows(), self.labs):
            cells = "".join(f'<td class="swarmlab-good">{e(v)}</td>' if i >= 5 and v == "✓" else f"<td>{e(v)}</td>"
                            for i, v in enumerate(row))
            body.append(f'<tr data-learner="{e(x.uid)}" data-lab="{e(x.lab)}">{cells}</tr>')
        table = f'<table class="swarmlab-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        notes = [self.text().splitlines()[0]] + [f"{x.user}/{x.lab}: {x.error}" for x in self.labs if x.error]
        notes += self.notes
        legend = f'<div class="swarmlab-note">{e(self._legend())}</div>' if self._legend() else ""
        return html_result("swarmlab class status", table + legend, notes)

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "lessons": self.lessons, "seconds": round(self.seconds, 2),
                "labs": [x.as_dict() for x in self.labs], "notes": self.notes}


def _user_name(uid: str) -> str:
    """The user name of a user id (the system's user database), else the id itself."""
    try:
        import pwd

        name = pwd.getpwuid(int(uid)).pw_name
    except (ImportError, ValueError, KeyError, OverflowError):  # no user database (Windows), no such user
        return uid
    return name if re.fullmatch(r"[A-Za-z0-9._-]{1,32}", name) else uid


def _whose(users: Sequence[str | int] | None) -> tuple[list[str] | None, str]:
    """Whose labs to read (None: everyone's) and the sentence that says so. Only root reads
    other users' labs."""
    me = owner()
    wanted = None if users is None else [str(u) for u in users]
    for u in wanted or []:
        if not is_name(u, "owner"):
            raise InvalidArgument(f"user {u!r}: give a user id, e.g. 1000")
    if me != "0":
        if wanted is not None and set(wanted) - {me}:
            raise InvalidArgument("only root reads other users' labs: run the board as root (a teacher's "
                                  "account on the lab server), or leave out users to see your own labs")
        return [me], "your own labs: root sees every learner's"
    if wanted is None:
        return None, "every learner on this computer"
    return wanted, f"user(s) {', '.join(wanted)}"


def _labs_on_engine(host: Any, owners: list[str] | None, whose: str = "") -> tuple[list[FoundLab], list[str]]:
    """Every lab with a machine on the engine, for these owners (None: all), sorted by owner
    and name (:meth:`~swarmlab.providers.base.Provider.list_labs`). On user ``whose``'s
    rootless engine (an API that user controls) only that user's labs count: the others are
    ignored, and said (the second list)."""
    found: list[FoundLab] = []
    ignored: set[str] = set()
    for cls in shared_engine_providers():
        listing = cls.list_labs(owners, engine=host, whose=whose)
        found += listing.labs
        ignored |= {f"user {whose}'s engine reports a lab of user {other}: ignored" if other else
                    f"user {whose}'s engine reports a machine with labels swarmlab does not give: ignored"
                    for other in listing.others}
    return sorted(found, key=lambda f: (f.owner, f.name)), sorted(ignored)


def _replicas(client: Any) -> list[str]:
    """``docker service ls``'s NAME and REPLICAS (running/asked), one string per service."""
    services = client.api.services()
    running: dict[str, int] = {}
    for t in client.api.tasks(filters={"desired-state": "running"}):
        if (t.get("Status") or {}).get("State") == "running":
            running[t.get("ServiceID", "")] = running.get(t.get("ServiceID", ""), 0) + 1
    out = []
    for s in services:
        mode = (s.get("Spec") or {}).get("Mode") or {}
        name = str((s.get("Spec") or {}).get("Name", ""))[:63]
        asked = (mode.get("Replicated") or {}).get("Replicas")
        want = str(asked) if asked is not None else "global"
        out.append(f"{name} {running.get(s.get('ID', ''), 0)}/{want}")
    return sorted(out)


def _passes(check: Callable[[Any], Any], lab: Any) -> bool:
    try:
        return bool(check(lab))
    except SwarmlabError:  # e.g. a machine stopped while it was asked: not passing, now
        return False


def read_lab(uid: str, lab_name: str, checks: dict[str, Callable[[Any], Any]] | None,
             host: Any, whose: str, provider: str) -> LearnerLab:
    """One learner's lab of ``provider``, as the board shows it, on ``host`` (this computer's
    engine, or user ``whose``'s rootless engine, where only their own labs are read). Never
    raises: what could not be read is in ``error`` (a lab being made or removed right now must
    not hide the others)."""
    from ..lab import Lab

    row = LearnerLab(_user_name(uid), uid, lab_name, "-", "-")
    if whose and uid != whose:  # that engine's word about another user: never acted on
        row.error = f"user {whose}'s engine reports a lab of user {uid}: ignored"
        return row
    try:
        lab = Lab(lab_name, provider=provider, progress=False, owner_of=None if uid == owner() else uid, host=host)
    except SwarmlabError as e:
        row.error = str(e)[:300]
        return row
    try:
        machines = lab.provider.list()
        row.machines = f"{sum(1 for m in machines if m.running)}/{len(machines)}"
        try:
            client = lab.manager_client()
            nodes = client.api.nodes()
            ready = sum(1 for n in nodes if (n.get("Status") or {}).get("State") == "ready")
            row.nodes = f"{ready}/{len(nodes)}"
            row.services = _replicas(client)
        except SwarmlabError:  # no swarm (yet), or no quorum: the machines still count
            pass
        if checks is not None:  # one after another: the labs are read side by side already
            row.passed = [name for name, check in checks.items() if _passes(check, lab)]
    except Exception as e:  # noqa: BLE001 - one lab that cannot be read must not hide the others
        row.error = str(e)[:300]
    finally:
        lab.provider.close()
    return row


def class_status(users: Sequence[str | int] | None = None, *, checks: bool = True,
                 offline: bool | None = None, deadline: float = LAB_DEADLINE) -> ClassStatus:
    """Every learner's labs on this computer's engines (root; others see their own), read now.
    ``users``: only these user ids. ``checks=False`` leaves the lessons' checks out (quicker).
    ``offline``: which images the lessons' checks expect (None: ``SWARMLAB_OFFLINE``).
    ``deadline``: seconds each lab may take to be read (each engine has :data:`ENGINE_DEADLINE`)."""
    from .. import exercises

    start = time.monotonic()
    owners, scope = _whose(users)
    which = exercises.lesson_checks(exercises.lesson_images(offline)) if checks else None
    engines, notes = _engines(owners)
    try:
        jobs = [((whose, f.owner, f.name), _reader(f, which, client, whose))
                for whose, client, labs in engines for f in labs]
        outcomes = _deadline.run_all(jobs, deadline)
        rows = []
        for (_, uid, lab), got in outcomes.items():
            if isinstance(got.value, LearnerLab):
                rows.append(got.value)
                continue
            row = LearnerLab(_user_name(uid), uid, lab, "?", "?")
            row.error = (f"could not be read within {deadline:g} s" if got.late else
                         "not read: an earlier read of it is still stuck" if got.stuck else
                         f"could not be read: {str(got.error)[:200]}")
            rows.append(row)
    finally:
        for _, client, _ in engines:
            client.close()
    return ClassStatus(sorted(rows, key=lambda r: (r.uid, r.lab)), list(which or []), scope,
                       time.monotonic() - start, notes)


def _reader(f: FoundLab, which: Any, client: Any, whose: str) -> Callable[[], LearnerLab]:
    return lambda: read_lab(f.owner, f.name, which, client, whose, f.provider)


def _engines(owners: list[str] | None) -> tuple[list[tuple[str, Any, list[FoundLab]]], list[str]]:
    """(whose, client, labs) of this computer's engine and (root) each learner's rootless
    engine, each asked within :data:`ENGINE_DEADLINE`; and notes on what was not used."""
    from .._engine import host_client
    from . import rootless

    def listed(whose: str) -> Callable[[], tuple[Any, list[FoundLab], list[str]]]:
        def read() -> tuple[Any, list[FoundLab], list[str]]:
            client = rootless.client(int(whose), timeout=int(ENGINE_DEADLINE)) if whose else host_client()
            try:
                return (client, *_labs_on_engine(client, owners, whose))
            except BaseException:
                client.close()
                raise
        return read

    candidates = rootless.candidates(owners) if owner() == "0" else []
    outcomes = _deadline.run_all([(("engine", w), listed(w)) for w in ["", *candidates]], ENGINE_DEADLINE)
    engines, notes = [], []
    for (_, whose), got in outcomes.items():
        which = f"user {whose}'s rootless engine" if whose else "this computer's engine"
        if got.value is not None:
            client, labs, ignored = got.value
            engines.append((whose, client, labs))
            notes += ignored
        elif got.late or got.stuck:
            notes.append(f"{which} did not answer within {ENGINE_DEADLINE:g} s: its labs are not shown")
        elif whose and isinstance(got.error, FileNotFoundError | ConnectionRefusedError):
            continue  # no engine running for that user
        elif whose:
            notes.append(f"{which} not used: {str(got.error)[:200]}")
        else:
            raise got.error if isinstance(got.error, SwarmlabError) else SwarmlabError(
                f"this computer's engine could not be read: {got.error}")
    return engines, notes


class _Board:
    """The board in a notebook: an ipywidgets HTML that a background thread refreshes."""

    def __init__(self, read: Callable[[], ClassStatus], refresh: float) -> None:
        import ipywidgets as widgets

        from ..views._dashboard import Refresher

        self.widget = widgets.HTML(value=read()._repr_html_())
        self.error = ""
        self.refresher = Refresher(read, self._apply, self._failed, max(MIN_REFRESH, float(refresh)))
        self.refresher.start()

    def _apply(self, status: ClassStatus) -> None:
        self.widget.value = status._repr_html_()

    def _failed(self, e: Exception) -> bool:
        self.error = str(e)
        self.widget.value = f'<div class="swarmlab-class"><p>could not read the labs: {html.escape(str(e))}</p></div>'
        return True

    def stop(self) -> None:
        self.refresher.stop()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def board(refresh: float = DEFAULT_REFRESH, *, users: Sequence[str | int] | None = None,
          checks: bool = True, live: bool | None = None) -> Any:
    """The teacher's board. In a notebook it refreshes itself every ``refresh`` seconds (at
    least 5) in the background, unless ``live=False`` or ``$SWARMLAB_LIVE=0``; elsewhere it
    is :func:`class_status` once."""
    from ..views._dashboard import in_kernel, live_default

    _whose(users)  # a bad user refused now, not on the refresher's thread

    def read() -> ClassStatus:
        return class_status(users, checks=checks)

    if live_default(live) and in_kernel():
        try:
            return _Board(read, refresh)
        except ImportError:  # no ipywidgets: the snapshot
            pass
    return read()
