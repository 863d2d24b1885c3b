"""Pure logic: formatting, parsing, validation and command strings (no engine)."""

from __future__ import annotations

import datetime as dt

import pytest

import swarmlab as sl
from swarmlab import _format as fmt
from swarmlab._results import JoinToken, Output, Table, mask_token
from swarmlab.commands.clitext import format_info, ps_rows
from swarmlab.commands.spec import create_command, update_config
from swarmlab.commands.validate import check_replicas, check_service_name, image_ref
from swarmlab.providers import get_provider
from swarmlab.providers._base import check_lab_name, check_machine_names


def test_text_table_aligns_like_the_cli() -> None:
    out = fmt.text_table(["ID", "NAME"], [("abc", "helloworld"), ("defghij", "x")])
    assert out.splitlines() == ["ID        NAME", "abc       helloworld", "defghij   x"]


def test_html_table_escapes_everything() -> None:
    html = fmt.html_table(["NAME"], [("<script>alert(1)</script>",)])
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_result_html_escapes_command_and_notes() -> None:
    t = Table.of("docker service ps <b>x</b>", ["A"], [("1",)], notes=["<i>n</i>"])
    html = t._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<i>n</i>" not in html


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), (3, 3.0), ("1.5s", 1.5)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert fmt.parse_duration(text, "update_delay") == seconds


@pytest.mark.parametrize("bad", ["ten seconds", "-1s", -1, True, "", None])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(sl.InvalidArgument, match="update_delay"):
        fmt.parse_duration(bad, "update_delay")


@pytest.mark.parametrize(("sec", "text"), [(10, "10s"), (90, "1m30s"), (0.5, "500ms"), (3600, "1h0m0s")])
def test_format_duration_is_go_style(sec: float, text: str) -> None:
    assert fmt.format_duration(sec) == text


def test_human_duration_matches_cli_words() -> None:
    assert fmt.human_duration(0.2) == "Less than a second"
    assert fmt.human_duration(5) == "5 seconds"
    assert fmt.human_duration(70) == "About a minute"
    assert fmt.human_duration(600) == "10 minutes"


def test_parse_time_handles_nanoseconds() -> None:
    t = fmt.parse_time("2026-11-26T18:10:00.123456789Z")
    assert t == dt.datetime(2026, 11, 26, 18, 10, 0, 123456, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("bad", [-1, "five", 2.5, True, None])
def test_replicas_validation(bad: object) -> None:
    with pytest.raises(sl.InvalidArgument, match="helloworld"):
        check_replicas("helloworld", bad)


def test_replicas_accepts_numbers() -> None:
    assert check_replicas("x", 0) == 0
    assert check_replicas("x", "5") == 5


@pytest.mark.parametrize("bad", ["Bad Name!", "", "-x", "a" * 64, None, "x-"])
def test_machine_names_validated(bad: object) -> None:
    with pytest.raises(sl.InvalidArgument, match="machine name"):
        check_machine_names([bad])


def test_machine_names_twice_rejected() -> None:
    with pytest.raises(sl.InvalidArgument, match="twice: worker1"):
        check_machine_names(["worker1", "manager1", "worker1"])


@pytest.mark.parametrize("bad", ["Tutorial", "a b", "", "x" * 31])
def test_lab_names_validated(bad: str) -> None:
    with pytest.raises(sl.InvalidArgument, match="lab name"):
        check_lab_name(bad)


@pytest.mark.parametrize("bad", ["hello world", "<x>", "", "-a"])
def test_service_names_validated(bad: str) -> None:
    with pytest.raises(sl.InvalidArgument, match="service name"):
        check_service_name(bad)


def test_unknown_provider_is_refused_before_touching_anything() -> None:
    with pytest.raises(sl.UnknownProvider, match="unknown provider 'vmware'.*'dind'"):
        get_provider("vmware", "tutorial")
    assert issubclass(sl.UnknownProvider, sl.SwarmlabError)


def test_image_ref_normalises() -> None:
    assert image_ref("alpine") == "alpine:latest"
    assert image_ref("redis:7.4@sha256:abc") == "redis:7.4"
    assert image_ref("docker.io/library/redis:7.2") == "redis:7.2"
    assert image_ref("localhost:5000/x") == "localhost:5000/x:latest"


def test_create_command_mirrors_the_cli() -> None:
    cmd = create_command("helloworld", "alpine", ("ping", "docker.com"), 1, "replicated",
                          None, None, None, None, None, "host", None, None, None, ())
    assert cmd == "docker service create --replicas 1 --name helloworld alpine ping docker.com"
    cmd = create_command("redis", "redis:7.2", (), 3, "replicated", "10s", None, None, None,
                          None, "host", None, None, None, ())
    assert cmd == "docker service create --replicas 3 --name redis --update-delay 10s redis:7.2"


def test_update_config_validation() -> None:
    assert update_config("10s", 2, "rollback", None) == {
        "Delay": 10_000_000_000, "Parallelism": 2, "FailureAction": "rollback"}
    with pytest.raises(sl.InvalidArgument, match="update_failure_action"):
        update_config(None, None, "explode", None)


def test_join_token_is_masked_until_revealed() -> None:
    real = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"
    tok = JoinToken("docker swarm join-token worker", real, "worker", "172.18.0.2:2377")
    shown = str(tok) + repr(tok) + tok._repr_html_()
    assert real not in shown and "1awxwuwd" not in shown
    assert "SWMTKN-1-3pu6" in shown
    assert tok.reveal() == real
    assert tok.join_command(reveal=True) == f"docker swarm join --token {real} 172.18.0.2:2377"
    assert mask_token("") == ""


def test_output_is_a_string_that_knows_its_command() -> None:
    ip = Output("172.18.0.2", "docker-machine ip manager1")
    assert f"{ip}:2377" == "172.18.0.2:2377"
    assert ip.command == "docker-machine ip manager1" and ip.ok


def test_ps_rows_orders_history_under_the_current_task() -> None:
    def task(tid: str, slot: int, created: str, state: str, desired: str, image: str) -> dict:
        return {"ID": tid, "Slot": slot, "NodeID": "n1", "CreatedAt": created, "DesiredState": desired,
                "Status": {"State": state, "Timestamp": created},
                "Spec": {"ContainerSpec": {"Image": image + "@sha256:abc"}}}
    tasks = [
        task("old1", 1, "2026-01-01T00:00:00.1Z", "shutdown", "shutdown", "redis:7.2"),
        task("new1", 1, "2026-01-01T00:00:10.123456789Z", "running", "running", "redis:7.4"),
        task("t2", 2, "2026-01-01T00:00:01Z", "running", "running", "redis:7.2"),
    ]
    now = dt.datetime(2026, 1, 1, 0, 1, 0, tzinfo=dt.timezone.utc)
    rows = ps_rows("redis", tasks, {"n1": "worker1"}, now)
    assert [r[1] for r in rows] == ["redis.1", " \\_ redis.1", "redis.2"]
    assert rows[0][2] == "redis:7.4" and rows[0][3] == "worker1"
    assert rows[0][5] == "Running 49 seconds ago"


def test_info_shows_the_swarm_section() -> None:
    info = {"Containers": 2, "ContainersRunning": 1, "ServerVersion": "20.10", "Name": "manager1",
            "Swarm": {"LocalNodeState": "active", "NodeID": "abc", "ControlAvailable": True,
                      "Managers": 1, "Nodes": 3, "NodeAddr": "172.18.0.2",
                      "Cluster": {"ID": "cid"}, "RemoteManagers": [{"Addr": "172.18.0.2:2377"}]}}
    text = format_info(info)
    for line in ["Swarm: active", " Is Manager: true", " Managers: 1", " Nodes: 3",
                 " Node Address: 172.18.0.2", "  172.18.0.2:2377"]:
        assert line in text.splitlines()
