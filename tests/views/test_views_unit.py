"""The dashboard's picture and the rollout view, from engine answers (no engine needed)."""

from __future__ import annotations

import html.parser
import json
from pathlib import Path

import pytest

from swarmlab.views import (
    Picture,
    Refresher,
    Rollout,
    SwarmSource,
    build_picture,
    live_default,
    picture_html,
    picture_text,
    rollout_html,
    rollout_svg,
    service_colour,
)
from swarmlab.views._model import PALETTE, colour_difference, service_colours

DATA = Path(__file__).parent / "data" / "swarm_answers.json"


@pytest.fixture
def answers() -> dict:
    return json.loads(DATA.read_text())


class Parsed(html.parser.HTMLParser):
    """Tags, attributes and text of an HTML fragment, as a browser would parse it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, attr: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if attr in a]


def test_picture_has_a_column_per_node_managers_first(answers: dict) -> None:
    p = build_picture(answers["nodes"], answers["tasks"], answers["names"])
    assert [c.hostname for c in p.columns] == ["manager1", "worker1", "worker2"]
    assert [c.role for c in p.columns] == ["leader", "worker", "worker"]
    assert [c.status for c in p.columns] == ["ready", "ready", "ready"]
    # only live tasks by default: one card per replica
    web = [c for c in p.cards if c.service == "web"]
    assert sorted(c.label for c in web) == [f"web.{i}" for i in range(1, len(web) + 1)]
    assert all(c.live for c in p.cards)
    assert p.running("web") == len(web)


def test_history_adds_finished_tasks_dimmed(answers: dict) -> None:
    live = build_picture(answers["nodes"], answers["tasks"], answers["names"])
    both = build_picture(answers["nodes"], answers["tasks"], answers["names"], history=True)
    old = [c for c in both.cards if not c.live]
    assert old, "the recorded answers hold shut-down tasks"
    assert len(both.cards) == len(live.cards) + len(old)
    h = picture_html(both)
    assert h.count("swarmlab-task swarmlab-old") == len(old)
    assert "\\_" in picture_text(both)


def test_colour_is_stable_per_service() -> None:
    assert service_colour("web") == service_colour("web")
    assert service_colour("web") in PALETTE
    assert len({service_colour(f"s{i}") for i in range(40)}) > 6


#: the services the lessons make, as many as one lab has had at once and more
LESSON_SERVICES = ["helloworld", "web", "client", "redis", "whoami", "agent", "app_web", "app_store"]


def test_no_two_services_of_a_picture_look_alike() -> None:
    """helloworld, web and client all hash to one olive: in one picture they get colours at
    least 25 apart (CIE76 ΔE, where 2.3 is the least a person notices), the same in any order."""
    import itertools

    assert len({service_colour(n) for n in ("helloworld", "web", "client")}) == 1  # the collision
    colours = service_colours(LESSON_SERVICES)
    assert service_colours(reversed(LESSON_SERVICES)) == colours
    assert set(colours.values()) <= set(PALETTE)
    assert min(colour_difference(a, b) for a, b in itertools.combinations(colours.values(), 2)) >= 25
    # and the picture's cards and summary rows use them
    node = {"ID": "n1", "Description": {"Hostname": "manager1"}, "Spec": {"Role": "manager"},
            "Status": {"State": "ready"}}
    tasks = [{"ID": f"t{i}", "ServiceID": f"s{i}", "NodeID": "n1", "Slot": 1, "DesiredState": "running",
              "Status": {"State": "running"}, "Spec": {"ContainerSpec": {"Image": "x:1"}}}
             for i in range(3)]
    picture = build_picture([node], tasks, {"s0": "helloworld", "s1": "web", "s2": "client"})
    assert len({c.colour for c in picture.cards}) == 3
    assert {s.name: s.colour for s in picture.services} == service_colours(["helloworld", "web", "client"])


def test_down_node_and_unplaced_tasks_are_shown(answers: dict) -> None:
    nodes = json.loads(json.dumps(answers["nodes"]))
    nodes[2]["Status"]["State"] = "down"
    tasks = json.loads(json.dumps(answers["tasks"]))
    tasks[0]["NodeID"] = ""
    tasks[0]["DesiredState"] = "running"
    tasks[0]["Status"]["State"] = "pending"
    p = build_picture(nodes, tasks, answers["names"])
    h = Parsed(picture_html(p))
    states = {a["data-node"]: a["data-status"] for a in h.having("data-node") if a["data-node"]}
    assert states["worker2"] == "down"
    assert "not placed" in "".join(h.text)
    assert p.unassigned and p.unassigned[0].state == "pending"


def test_picture_html_escapes_everything(answers: dict) -> None:
    evil = "<script>alert('x')</script>"
    names = {k: evil for k in answers["names"]}
    tasks = json.loads(json.dumps(answers["tasks"]))
    for t in tasks:
        t["Spec"]["ContainerSpec"]["Image"] = 'x"><img src=x onerror=alert(1)>'
        t["Status"]["Err"] = "<b>bad</b>"
    p = build_picture(answers["nodes"], tasks, names, history=True)
    out = picture_html(p, title="<i>t</i>")
    parsed = Parsed(out)
    assert not [t for t, _ in parsed.tags if t in ("script", "img", "i")]
    assert not parsed.having("onerror")
    text = "".join(parsed.text)
    assert evil in text and "<i>t</i>" in text


def test_text_fallback_is_embedded(answers: dict) -> None:
    p = build_picture(answers["nodes"], answers["tasks"], answers["names"])
    out = picture_html(p, "swarm of lab x")
    assert '<pre class="swarmlab-fallback">' in out
    assert "manager1  [leader, active, ready]" in picture_text(p)


def test_empty_swarm_and_error_picture() -> None:
    p = Picture([], [], error="cannot read the swarm right now")
    assert "cannot read the swarm" in picture_html(p)
    assert picture_text(p).startswith("! cannot read")


class CountingAPI:
    def __init__(self, answers: dict) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def nodes(self) -> list:
        self.calls.append("nodes")
        return self.answers["nodes"]

    def tasks(self) -> list:
        self.calls.append("tasks")
        return self.answers["tasks"]

    def services(self) -> list:
        self.calls.append("services")
        return [{"ID": k, "Spec": {"Name": v, "Mode": {"Replicated": {"Replicas": 7}}}}
                for k, v in self.answers["names"].items()]


def test_a_refresh_is_three_calls_services_included(answers: dict) -> None:
    """Nodes, services and tasks every time: a service made or removed anywhere shows (or goes)
    at the next refresh."""
    api = CountingAPI(answers)
    src = SwarmSource(api=api)
    for _ in range(5):
        p = src.fetch()
    assert api.calls == ["nodes", "services", "tasks"] * 5
    assert src.calls == 15
    assert {s.desired for s in p.services} == {7}  # what the spec asks, as docker service ls
    gone = next(iter(answers["names"]))
    del api.answers["names"][gone]  # removed: its tasks may still be listed
    p = src.fetch()
    assert gone not in {s.service_id for s in p.services}
    assert answers["names"] and all(c.service in answers["names"].values() for c in p.cards)


def test_tasks_of_a_removed_service_are_left_out(answers: dict) -> None:
    names = dict(answers["names"])
    sid, name = next((k, v) for k, v in names.items() if v == "web")
    del names[sid]
    p = build_picture(answers["nodes"], answers["tasks"], names, history=True)
    assert "web" not in {c.service for c in p.cards} and "web" not in {s.name for s in p.services}
    assert sid[:12] not in picture_text(p)


def test_refresher_survives_errors_and_stops() -> None:
    import threading

    seen: list[Picture] = []
    errors: list[Exception] = []
    n = {"i": 0}
    done = threading.Event()

    def fetch() -> Picture:
        n["i"] += 1
        if n["i"] == 2:
            raise ConnectionError("manager away")
        if n["i"] >= 4:
            done.set()
        return Picture([], [])

    r = Refresher(fetch, seen.append, lambda e: errors.append(e) is None, interval=0.5)
    r.start()
    assert done.wait(10)
    r.stop(wait=5)
    assert not r.thread.is_alive()
    assert len(errors) == 1 and len(seen) >= 2


def test_refresher_stops_when_told_the_lab_is_gone() -> None:
    def fetch() -> Picture:
        raise RuntimeError("no swarm")

    r = Refresher(fetch, lambda p: None, lambda e: False, interval=0.5)
    r.start()
    r.thread.join(5)
    assert not r.thread.is_alive()


def test_live_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMLAB_LIVE", "0")
    assert live_default(None) is False
    assert live_default(True) is True
    monkeypatch.delenv("SWARMLAB_LIVE")
    assert live_default(None) is True


SAMPLES = [
    {"t": 0.0, "state": "updating", "message": "update in progress", "images": {"web:1": 3}},
    {"t": 1.0, "state": "updating", "message": "update in progress", "images": {"web:1": 2, "web:2": 1}},
    {"t": 2.0, "state": "paused", "message": "update paused due to failure or early termination "
     "of task <x>", "images": {"web:1": 2}},
]


def test_rollout_view_says_how_far_and_why_it_paused() -> None:
    r = Rollout("web", "web:2", 3, SAMPLES, command="docker service update --image web:2 web")
    text = repr(r)
    assert "0/3 tasks on the new image, paused" in text
    assert "why: update paused due to failure" in text
    out = r._repr_html_()
    parsed = Parsed(out)
    assert "<x>" in "".join(parsed.text) and not [t for t, _ in parsed.tags if t == "x"]
    lines = {a["data-image"] for a in parsed.having("data-image")}
    assert lines == {"web:1", "web:2"}
    assert '<pre class="swarmlab-fallback">' in out


def test_a_finished_rollout_chart_leaves_the_command_to_the_result_below(monkeypatch: pytest.MonkeyPatch) -> None:
    """On screen the command is said once: by the live chart while the update runs, then by
    the step's result under it; a chart with no result under it (the update paused) keeps it."""
    import IPython.display

    from swarmlab.views import _rollout

    shown: list[Rollout] = []

    class Handle:
        def update(self, view: Rollout) -> None:
            shown.append(view)

    def display(view: Rollout, display_id: bool = False) -> Handle:
        shown.append(view)
        return Handle()

    monkeypatch.setattr(_rollout, "in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    command = "docker service update --image web:2 web"
    for below, says in ((True, False), (False, True)):
        shown.clear()
        watch = _rollout.RolloutWatch(None, "web", "web:2", 3, show=True, command=command)  # type: ignore[arg-type]
        watch.samples.append(SAMPLES[0])
        watch._display(final=False)
        record = watch.finish(command_below=below)  # its last sample fails without a lab: kept out
        assert f"$ {command}" in shown[0]._repr_html_()
        assert (f"$ {command}" in shown[-1]._repr_html_()) is says and shown[-1].chart
        assert record.command == command


def test_rollout_chart_steps_follow_the_counts() -> None:
    svg = rollout_svg("web:2", SAMPLES[:2], 3)
    assert svg.startswith("<svg") and svg.count("<polyline") == 2
    assert "rolled back" in rollout_html(
        "web", "web:2", [{**SAMPLES[0], "state": "rollback_completed"}], 3)


def test_service_ls_replicas_are_coloured_by_convergence() -> None:
    from swarmlab._format import LEVELS, html_table, replicas_colour, replicas_level

    assert [replicas_level(v) for v in ("3/3", "1/3", "0/3", "x")] == ["good", "warn", "bad", None]
    assert replicas_colour("1/3") == LEVELS["warn"][0]
    out = html_table(["NAME", "REPLICAS"], [("web", "1/3"), ("<b>", "2/2")])
    assert '<td class="swarmlab-warn">1/3<' in out and '<td class="swarmlab-good">2/2<' in out
    assert "&lt;b&gt;" in out and "<b>" not in out


def test_long_cells_are_shortened_with_the_whole_value_on_hover() -> None:
    from swarmlab._format import html_table, shorten

    url = "unix:///root/.swarmlab/labs/tutorial/manager1/docker.sock"
    assert shorten(url) == "unix://…/tutorial/manager1/docker.sock" and len(shorten(url)) <= 40
    assert shorten("short") == "short"
    long_id = "x" * 30 + "y" * 30
    assert len(shorten(long_id)) == 40 and shorten(long_id).startswith("x") and shorten(long_id).endswith("y")
    prose = "a long error message with spaces in it, which wraps instead of being cut"
    out = html_table(["URL", "ERRORS"], [(url, prose)])
    parsed = Parsed(out)
    (td_url, td_err) = [a for t, a in parsed.tags if t == "td"]
    assert td_url["title"] == url and "unix://…/tutorial/manager1/docker.sock" in parsed.text
    assert td_err == {"class": "swarmlab-wrap swarmlab-long"} and prose in parsed.text
    assert "&lt;" in html_table(["X"], [("<" + "z" * 50 + ">",)])  # title and text escaped


def test_palette_and_badges_keep_white_text_readable() -> None:
    """WCAG AA (4.5:1) for white on every card colour and badge (helloworld's was 1.79:1)."""
    from swarmlab._format import LEVELS
    from swarmlab.views._render import _BADGE_COLOURS

    def lum(h: str) -> float:
        c = [int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    def ratio(a: str, b: str) -> float:
        x, y = lum(a), lum(b)
        return (max(x, y) + 0.05) / (min(x, y) + 0.05)

    for colour in (*PALETTE, *_BADGE_COLOURS.values()):
        assert ratio("#ffffff", colour) >= 4.5, colour
    for level in ("good", "warn", "bad", "muted"):
        light, dark = LEVELS[level]
        assert min(ratio(light, bg) for bg in ("#ffffff", "#f5f5f5", "#eeeeee")) >= 4.5, level
        assert min(ratio(dark, bg) for bg in ("#111111", "#212121", "#2c2c2c")) >= 4.5, level
    assert ratio("#ffffff", service_colour("helloworld")) >= 4.5


def test_a_swarm_without_leader_shows_the_no_quorum_banner() -> None:
    from swarmlab.views._dashboard import NO_QUORUM, unreadable

    said = ("500 Server Error: Internal Server Error (\"rpc error: code = Unknown desc = The swarm "
            "does not have a leader. It's possible that too few managers are online.\")")
    assert unreadable(RuntimeError(said)) == NO_QUORUM
    assert unreadable(RuntimeError(said), retrying=True) == NO_QUORUM
    assert NO_QUORUM in picture_html(Picture([], [], error=unreadable(RuntimeError(said))))
    other = unreadable(RuntimeError("connection refused"), retrying=True)
    assert other.startswith("cannot read the swarm right now (connection refused)")


def test_a_service_shows_its_published_ports_and_networks_escaped(answers: dict) -> None:
    from swarmlab.views._model import service_ports

    tasks = json.loads(json.dumps(answers["tasks"]))
    for t in tasks:
        t["NetworksAttachments"] = [{"Network": {"Spec": {"Name": "ingress"}}},
                                    {"Network": {"Spec": {"Name": "app<b>net</b>"}}}]
    sid = next(iter(answers["names"]))
    svc = {"ID": sid, "Endpoint": {"Ports": [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
        {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host"}]}}
    assert service_ports(svc) == ["8080->80/tcp mesh", "5353->53/udp host"]
    p = build_picture(answers["nodes"], tasks, answers["names"], ports={sid: service_ports(svc)})
    line = next(s for s in picture_text(p).splitlines() if s.startswith(f"service {answers['names'][sid]}:"))
    assert line.endswith(" · ports 8080->80/tcp mesh, 5353->53/udp host · on app<b>net</b>"), line
    out = picture_html(p)
    assert "app&lt;b&gt;net&lt;/b&gt;" in out and "app<b>net" not in out  # escaped, not markup
    assert "app<b>net</b>" in "".join(Parsed(out).text)
    assert "ingress" not in picture_text(p)
