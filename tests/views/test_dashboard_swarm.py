"""The dashboard and the rollout view on a real 3-machine swarm: what a learner sees, checked
against what the engine says."""

from __future__ import annotations

import html
import html.parser
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from labtest import WEB_V1, WEB_V2, WORKLOAD

import swarmlab as sl
from swarmlab.views import Snapshot, dashboard

pytestmark = pytest.mark.integration


def until(predicate: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not true after {timeout}s: {what}")
        time.sleep(0.2)


def engine_running(lab: sl.Lab, service: str) -> dict[str, str]:
    """task ID -> hostname of its node, for the service's running tasks, asked of the engine."""
    api = lab.manager_client().api
    hosts = {n["ID"]: n["Description"]["Hostname"] for n in api.nodes()}
    return {t["ID"]: hosts[t["NodeID"]]
            for t in api.tasks(filters={"service": service, "desired-state": "running"})
            if t["Status"]["State"] == "running"}


def shown_running(picture: Any, service: str) -> dict[str, str]:
    return {c.task_id: col.hostname for col in picture.columns for c in col.cards
            if c.service == service and c.live and c.state == "running"}


class Tags(html.parser.HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []
        self.text = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


@pytest.fixture
def board(swarm3: sl.Lab):
    b = dashboard(swarm3, refresh=0.5, widget=True, live=True)
    yield b
    b.close()


def test_snapshot_matches_the_engine(swarm3: sl.Lab) -> None:
    swarm3.service.create("hello", WEB_V1, replicas=3)
    try:
        snap = swarm3.dashboard()  # no kernel here: a static snapshot
        assert isinstance(snap, Snapshot)
        p = snap.picture
        assert [(c.hostname, c.role, c.availability, c.status) for c in p.columns] == [
            ("manager1", "leader", "active", "ready"),
            ("worker1", "worker", "active", "ready"),
            ("worker2", "worker", "active", "ready"),
        ]
        assert shown_running(p, "hello") == engine_running(swarm3, "hello")
        assert len(shown_running(p, "hello")) == 3
        tags = Tags(snap._repr_html_())
        cards = [a for t, a in tags.tags if a.get("data-service") == "hello" and "data-task" in a]
        assert len(cards) == 3
        assert "hello.1" in repr(snap) and "manager1  [leader, active, ready]" in repr(snap)
    finally:
        swarm3.service.rm("hello")


def test_live_picture_follows_a_scale_run_from_a_cell(swarm3: sl.Lab, board: Any) -> None:
    swarm3.service.create("web", WEB_V1, replicas=2)
    try:
        until(lambda: len(shown_running(board.picture, "web")) == 2, what="2 cards")
        before = board.refresher.refreshes
        swarm3.service.scale(web=5)  # the learner's next cell; the dashboard is not asked
        until(lambda: shown_running(board.picture, "web") == engine_running(swarm3, "web")
              and len(shown_running(board.picture, "web")) == 5, what="5 cards, as the engine")
        assert board.refresher.refreshes > before
        assert board.running
        # what the widget shows (its HTML trait) is that picture
        cards = [a for t, a in Tags(board._view.value).tags if a.get("data-service") == "web"
                 and a.get("data-state") == "running"]
        assert len(cards) >= 5
        # the controls know the service, and its replicas: scaled from a cell, the box follows
        # (pressing "scale" must not undo that change)
        until(lambda: "web" in board._service.options, what="web in the service list")
        board._service.value = "web"
        until(lambda: board._replicas.value == 5, what="the replicas box at 5")
        swarm3.service.scale(web=3)
        until(lambda: board._replicas.value == 3, what="the replicas box at 3, as the engine asks")
        assert swarm3.manager_client().services.get("web").attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 3
    finally:
        swarm3.service.rm("web")
    until(lambda: not shown_running(board.picture, "web"), what="web's cards gone")


def test_controls_run_and_show_cli_commands(swarm3: sl.Lab, board: Any) -> None:
    swarm3.service.create("web", WEB_V1, replicas=3, update_delay="1s")
    try:
        result = board.scale("web", 4)
        assert result.command == "docker service scale web=4"
        assert "$ docker service scale web=4" in board._log.value
        until(lambda: len(engine_running(swarm3, "web")) == 4, what="4 tasks on the engine")
        until(lambda: len(shown_running(board.picture, "web")) == 4, what="4 cards")

        board.drain("worker2")
        assert "$ docker node update --availability drain worker2" in board._log.value
        until(lambda: "worker2" not in engine_running(swarm3, "web").values()
              and len(engine_running(swarm3, "web")) == 4, what="worker2 drained")
        col = until(lambda: next((c for c in board.picture.columns if c.hostname == "worker2"
                                  and c.availability == "drain" and not c.cards), None),
                    what="worker2 shown drained and empty")
        assert col.status == "ready"
        board.activate("worker2")
        assert swarm3.node.inspect("worker2").data["Spec"]["Availability"] == "active"

        board.update("web", WEB_V2)
        assert "$ docker service update --image swarmlab/web:2 web" in board._log.value
        until(lambda: {c.image for c in board.picture.cards if c.service == "web"
                       and c.state == "running"} == {WEB_V2}
              and len(shown_running(board.picture, "web")) == 4, timeout=90,
              what="every card on web:2")
        # a bad request shows the lab's error in the log, and changes nothing
        assert board.scale("nope", 2) is None
        assert "there is no service 'nope'" in html.unescape(board._log.value)
    finally:
        swarm3.node.activate("worker2")
        swarm3.service.rm("web")


def test_history_toggle_shows_finished_tasks(swarm3: sl.Lab, board: Any) -> None:
    swarm3.service.create("web", WEB_V1, replicas=1)
    try:
        # an update leaves the replaced task in the slot's history (a scale-down would not:
        # the engine deletes removed slots' tasks once they stop)
        swarm3.service.update("web", image=WEB_V2)
        until(lambda: len([c for c in board.picture.cards if c.service == "web"]) == 1,
              what="one live card")
        board._history.value = True  # the learner ticks "show finished tasks"
        old = until(lambda: [c for c in board.picture.cards if c.service == "web" and not c.live],
                    what="finished tasks shown")
        assert all(c.desired in ("shutdown", "remove") for c in old)
        assert {c.image for c in old} == {WEB_V1}
        assert "swarmlab-old" in board._view.value
    finally:
        board._history.value = False
        swarm3.service.rm("web")


def test_a_node_going_down_is_shown_and_the_dashboard_lives_on(swarm3: sl.Lab, board: Any) -> None:
    swarm3.machine.stop("worker2")
    try:
        until(lambda: any(c.hostname == "worker2" and c.status == "down"
                          for c in board.picture.columns), timeout=60, what="worker2 down")
        assert board.running
        assert 'data-node="worker2" data-status="down"' in board._view.value
    finally:
        swarm3.machine.start("worker2")
    until(lambda: any(c.hostname == "worker2" and c.status == "ready"
                      for c in board.picture.columns), timeout=60, what="worker2 ready again")
    assert board.running


def test_rollout_view_records_the_rolling_update(swarm3: sl.Lab) -> None:
    swarm3.service.create("web", WEB_V1, replicas=3, update_delay="1s")
    try:
        swarm3.service.update("web", image=WEB_V2)
        r = swarm3.service.last_rollout
        assert r is not None and r.service == "web"
        assert r.state == "completed"
        assert r.samples[-1]["images"] == {WEB_V2: 3}
        assert WEB_V1 in r.images_seen
        # tasks on the new image only ever go up during this update
        news = [s["images"].get(WEB_V2, 0) for s in r.samples]
        assert news == sorted(news) and news[0] < 3
        assert "3/3 tasks on the new image, completed" in repr(r)
        assert r._repr_html_().count("<polyline") == 2
    finally:
        swarm3.service.rm("web")


def test_rollout_view_of_a_forced_update_tells_the_replaced_tasks_from_the_new(swarm3: sl.Lab) -> None:
    """``update --force`` keeps the image: the view still counts only the tasks the update made
    as new, so it starts below 3/3 and climbs, and the tasks it replaced are "old tasks"."""
    swarm3.service.create("forced", WEB_V1, replicas=3, update_delay="1s")
    try:
        mgr = swarm3.manager_client().api
        before = {t["ID"] for t in mgr.tasks(filters={"service": "forced", "desired-state": "running"})}
        swarm3.service.update("forced", force=True)
        r = swarm3.service.last_rollout
        assert r is not None and r.state == "completed"
        assert r.samples[-1]["images"] == {WEB_V1: 3}
        news = [s["images"].get(WEB_V1, 0) for s in r.samples]
        assert news == sorted(news) and news[0] < 3, news
        assert f"{WEB_V1} (old tasks)" in r.images_seen
        assert "3/3 tasks on the new image, completed" in repr(r)
        # and the engine agrees: the three running now are not the three of before
        now = {t["ID"] for t in mgr.tasks(filters={"service": "forced", "desired-state": "running"})}
        assert len(now) == 3 and not now & before
    finally:
        swarm3.service.rm("forced")


def test_rollout_view_says_why_an_update_paused(swarm3: sl.Lab) -> None:
    swarm3.service.create("web", WEB_V1, replicas=2)
    try:
        with pytest.raises(sl.UpdatePaused):
            swarm3.service.update("web", image=WEB_V2, args=["sh", "-c", "exit 1"])
        r = swarm3.service.last_rollout
        assert r.state == "paused"
        assert "paused" in r.samples[-1]["message"]
        assert "why: update paused" in repr(r)
    finally:
        swarm3.service.rm("web")


def refreshed(board: Any, times: int = 2) -> None:
    """Wait for ``times`` more finished refreshes: with two, one began after the caller's step."""
    n = board.refresher.refreshes
    until(lambda: board.refresher.refreshes >= n + times, what=f"{times} more refreshes")


def shown_services(board: Any) -> dict[str, tuple[int, int]]:
    """name -> (running, desired), as the dashboard's summary shows them."""
    return {s.name: (s.running, s.desired) for s in board.picture.services}


def test_services_made_and_removed_anywhere_show_within_one_refresh(swarm3: sl.Lab, board: Any) -> None:
    """A service created or removed from a cell, from the CLI on a machine, or from another
    kernel (another process with its own Lab) is shown, or gone, one refresh later: in the
    picture, in the summary and in the service list of the controls."""
    def offered() -> tuple[str, ...]:
        return tuple(board._service.options)

    swarm3.service.create("cell-svc", WEB_V1, replicas=2)  # a cell
    refreshed(board)
    assert shown_services(board)["cell-svc"] == (2, 2) and "cell-svc" in offered()
    out = swarm3.ssh("manager1", "docker service create --detach --no-resolve-image "
                                 f"--name cli-svc --replicas 0 {WEB_V1}")  # the CLI, no task at all
    assert out.ok, out
    refreshed(board)
    assert shown_services(board)["cli-svc"] == (0, 0) and "cli-svc" in offered()
    other = subprocess.run(  # another kernel
        [sys.executable, "-c", "import swarmlab as sl; "
         f"sl.Lab.attach({swarm3.name!r}, provider='dind', progress=False).service.rm('cell-svc')"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(sl.__file__).parent.parent)})
    assert other.returncode == 0, other.stderr
    refreshed(board)
    assert "cell-svc" not in shown_services(board) and "cell-svc" not in offered()
    assert not [c for c in board.picture.cards if c.service == "cell-svc"]
    assert 'data-summary="cell-svc"' not in board._view.value
    swarm3.service.scale(**{"cli-svc": 1})
    out = swarm3.ssh("manager1", "docker service rm cli-svc")  # the CLI does not wait
    assert out.ok, out
    refreshed(board)
    assert "cli-svc" not in shown_services(board) and "cli-svc" not in offered()
    assert 'data-service="cli-svc"' not in board._view.value


def test_a_service_removed_from_a_cell_is_gone_at_once(swarm3: sl.Lab, board: Any) -> None:
    swarm3.service.create("helloworld", WORKLOAD, "ping", "127.0.0.1", replicas=3)
    refreshed(board)
    board._service.value = "helloworld"
    swarm3.service.rm("helloworld")
    refreshed(board)
    assert "helloworld" not in shown_services(board)  # not "helloworld 0/0"
    assert "helloworld" not in board._service.options
    assert "helloworld" not in board._view.value


def test_a_destroyed_lab_leaves_one_calm_final_state(make_lab: Callable[..., sl.Lab]) -> None:
    lab = make_lab("dash")
    lab.machine.create("manager1", "worker1")
    lab.swarm.init("manager1")
    lab.swarm.join("worker1")
    b = dashboard(lab, refresh=0.5, widget=True, live=True)
    try:
        assert [c.hostname for c in b.picture.columns] == ["manager1", "worker1"]
        assert b.running
        lab.destroy()
        until(lambda: not b.refresher.thread.is_alive(), timeout=30, what="refresher stopped")
        final = b._view.value
        p = b.picture
        assert p.columns == [] and p.services == [] and p.error == ""
        assert f"lab {lab.name} is gone" in p.note
        tags = Tags(final)
        classes = {c for _, a in tags.tags for c in (a.get("class") or "").split()}
        assert not classes & {"swarmlab-node", "swarmlab-task", "swarmlab-msg"}, "no node, no red error"
        assert "is gone" in tags.text and "cannot read" not in tags.text
        assert "stopped" in b._status.value and "is gone" in b._status.value
        assert b._service.options == () and b._node.options == ()
        assert b._scale_btn.disabled and b._drain_btn.disabled
        assert b._view.value == final  # nothing changes it any more
        snap = lab.dashboard()  # and a snapshot taken now says the same
        assert isinstance(snap, Snapshot) and "is gone" in repr(snap) and "cannot read" not in repr(snap)
    finally:
        b.close()


EVIL_LABEL = "<script>alert('label')</script>"
EVIL_ARG = '"><img src=x onerror=alert(1)><b>bold</b>'


def test_html_in_labels_and_args_is_shown_as_text(swarm3: sl.Lab) -> None:
    """A service whose labels and args carry HTML and script: every view shows them as text."""
    with pytest.raises(sl.InvalidArgument):  # names cannot carry HTML at all
        swarm3.service.create("<script>x</script>", WEB_V1)
    swarm3.service.create(
        "xss", WEB_V1, "sh", "-c", f"trap 'exit 0' TERM; echo '{EVIL_ARG}'; sleep 1000 & wait",
        replicas=1, labels={"note": EVIL_LABEL, EVIL_LABEL: "key"},
    )
    try:
        spec = swarm3.service.inspect("xss").data["Spec"]
        assert spec["Labels"]["note"] == EVIL_LABEL  # the engine really holds it
        views = {
            "inspect --pretty": swarm3.service.inspect("xss", pretty=True),
            "inspect": swarm3.service.inspect("xss"),
            "service ls": swarm3.service.ls(),
            "service ps": swarm3.service.ps("xss"),
            "node ls": swarm3.node.ls(),
        }
        for what, result in views.items():
            out = result._repr_html_()
            parsed = Tags(out)
            bad = [t for t, a in parsed.tags if t in ("script", "img", "b")]
            assert not bad, f"{what} renders {bad}"
            assert not [a for _, a in parsed.tags if "onerror" in a], what
            assert "<script>alert(" not in out, what
        for what in ("inspect --pretty", "inspect"):
            text = Tags(views[what]._repr_html_()).text
            assert "alert('label')" in text and "onerror=alert(1)" in text, what
        snap = swarm3.dashboard()
        tags = Tags(snap._repr_html_())
        assert not [t for t, _ in tags.tags if t in ("script", "img")]
        assert not [a for _, a in tags.tags if "onerror" in a]
        assert any(a.get("data-service") == "xss" for _, a in tags.tags)
    finally:
        swarm3.service.rm("xss")
