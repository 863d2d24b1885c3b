"""Pure logic: formatting, parsing, validation and command strings (no engine)."""

from __future__ import annotations

import datetime as dt

import pytest

import swarmlab as sl
from swarmlab import _format as fmt
from swarmlab._results import JoinToken, Output, Table, mask_token
from swarmlab.commands.clitext import (
    bytes_size,
    display_image,
    format_info,
    format_node_pretty,
    format_service_pretty,
    go_float,
    natural_key,
    natural_less,
    node_ls_rows,
    node_names,
    ps_rows,
    published_ports,
    service_ls_rows,
    with_service_status,
)
from swarmlab.commands.service_options import CreateOptions
from swarmlab.commands.service_parts import UpdatePolicy
from swarmlab.commands.validate import check_replicas, check_service_name, image_ref
from swarmlab.providers import get_provider
from swarmlab.providers.base import check_lab_name, check_machine_names


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
    cmd = CreateOptions.of("helloworld", "alpine", ("ping", "docker.com")).command()
    assert cmd == "docker service create --replicas 1 --name helloworld alpine ping docker.com"
    cmd = CreateOptions.of("redis", "redis:7.2", replicas=3, update_delay="10s").command()
    assert cmd == "docker service create --replicas 3 --name redis --update-delay 10s redis:7.2"
    cmd = CreateOptions.of("web", "traefik/whoami", replicas=3, publish="published=8080,target=80,mode=host",
                           endpoint_mode="dnsrr", networks=["appnet"]).command()
    assert cmd == ("docker service create --replicas 3 --name web --network appnet "
                   "--publish published=8080,target=80,mode=host --endpoint-mode dnsrr traefik/whoami")


def test_update_config_validation() -> None:
    assert UpdatePolicy.of("10s", 2, "rollback", None).engine() == {
        "Delay": 10_000_000_000, "Parallelism": 2, "FailureAction": "rollback"}
    with pytest.raises(sl.InvalidArgument, match="update_failure_action"):
        UpdatePolicy.of(None, None, "explode", None)


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
    # as the CLI prints it: under "Server:", the Swarm lines one level deeper than the Swarm line
    info = {"Containers": 2, "ContainersRunning": 1, "ServerVersion": "20.10", "Name": "manager1",
            "Swarm": {"LocalNodeState": "active", "NodeID": "abc", "ControlAvailable": True,
                      "Managers": 1, "Nodes": 3, "NodeAddr": "172.18.0.2",
                      "Cluster": {"ID": "cid"}, "RemoteManagers": [{"Addr": "172.18.0.2:2377"}]}}
    text = format_info(info)
    for line in [" Swarm: active", "  Is Manager: true", "  Managers: 1", "  Nodes: 3",
                 "  Node Address: 172.18.0.2", "   172.18.0.2:2377"]:
        assert line in text.splitlines()


# -- the docker CLI's own text (docker 20.10), piece by piece ---------------------------------
NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def stamp(seconds_ago: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(("seconds", "words"), [
    (0.2, "Less than a second"), (1, "1 second"), (59.9, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (5399, "About an hour"),
    (9000, "3 hours"),  # 2.5 hours: go-units rounds half up (int(h + 0.5)), not to even
    (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (14 * 86400, "2 weeks"),
    (90 * 86400, "3 months"), (3 * 365 * 86400, "3 years"), (-5, "Less than a second"),
])
def test_human_duration_is_go_units(seconds: float, words: str) -> None:
    assert fmt.human_duration(seconds) == words


def test_ago_keeps_the_capital_and_service_ps_lowers_it() -> None:
    assert fmt.ago(stamp(0.3), NOW) == "Less than a second ago"  # `service inspect --pretty`: Started
    tasks = [{"ID": f"t{i}" + "x" * 20, "Slot": i, "NodeID": "n1", "CreatedAt": stamp(s), "DesiredState": "running",
              "Status": {"State": "running", "Timestamp": stamp(s)},
              "Spec": {"ContainerSpec": {"Image": "busybox:latest"}}} for i, s in ((1, 0.3), (2, 70), (3, 4000))]
    rows = ps_rows("hello", tasks, {"n1": "worker1"}, NOW)
    assert [r[5] for r in rows] == ["Running less than a second ago", "Running about a minute ago",
                                    "Running about an hour ago"]


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (500_000_000, "500ms"), (1_500_000, "1.5ms"),
    (10_000_000_000, "10s"), (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"),
    (1_500_000_000, "1.5s"), (3_723_000_000_000, "1h2m3s"), (-2_000_000_000, "-2s"),
])
def test_go_duration(ns: int, text: str) -> None:
    assert fmt.go_duration(ns) == text


def test_times_keep_nanoseconds_and_offsets() -> None:
    assert fmt.go_time("2026-11-30T01:25:53.875167867Z") == "2026-11-30 01:25:53.875167867 +0000 UTC"
    assert fmt.go_time("2009-11-10T23:00:00Z") == "2009-11-10 23:00:00 +0000 UTC"
    assert fmt.go_time("2026-11-30T01:25:53.5+02:00") == "2026-11-30 01:25:53.5 +0200 +0200"
    assert fmt.parse_time("2026-01-01T02:00:00+02:00") == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    a, b = "2026-01-01T00:00:00.000000001Z", "2026-01-01T00:00:00.000000002Z"
    assert fmt.parse_time_ns(b) - fmt.parse_time_ns(a) == 1


def test_cli_tables_are_at_least_ten_wide() -> None:
    # Go's tabwriter as the docker CLI sets it up: minwidth 10, padding 3
    out = fmt.text_table(["ID", "STATUS", "PORTS"], [("a", "Ready", "")], 10)
    assert out.splitlines() == ["ID        STATUS    PORTS", "a         Ready"]
    assert fmt.text_table(["ID", "STATUS"], [("a", "Ready")]).splitlines() == ["ID   STATUS", "a    Ready"]


def test_natural_order_is_the_clis() -> None:
    names = ["worker10", "worker2", "worker1", "manager1", "a01", "a1", "a"]
    assert sorted(names, key=natural_key) == ["a", "a1", "a01", "manager1", "worker1", "worker2", "worker10"]
    assert natural_less("web.2", "web.10") and not natural_less("web.10", "web.2")
    assert natural_less("1x", "x")  # digits before anything else


def test_go_numbers_and_sizes() -> None:
    assert [go_float(v) for v in (0, 0.5, 2.0, 0.25, 1e6, 123456.0, 1e-5)] == [
        "0", "0.5", "2", "0.25", "1e+06", "123456", "1e-05"]
    assert [bytes_size(v) for v in (512, 1024, 20 * 2**20, 25_272_000_000, 10_490_000)] == [
        "512B", "1KiB", "20MiB", "23.54GiB", "10MiB"]


def test_images_shown_as_the_cli_shows_them() -> None:
    assert display_image("redis:7.4@sha256:abc") == "redis:7.4"
    assert display_image("docker.io/library/redis:7.2") == "redis:7.2"
    assert display_image("docker.io/swarmlab/busybox:latest") == "swarmlab/busybox:latest"
    assert display_image("localhost:5000/web:1@sha256:abc") == "localhost:5000/web:1"
    assert display_image("busybox@sha256:abc") == "busybox@sha256:abc"  # no tag: as it is
    assert display_image("busybox") == "busybox"


def test_ps_rows_as_the_cli_writes_them() -> None:
    def task(tid: str, slot: int, node: str, age: float, state: str, err: str = "", **kw: object) -> dict:
        return {"ID": tid.ljust(25, "0"), "Slot": slot, "NodeID": node, "CreatedAt": stamp(age),
                "DesiredState": "running" if state == "running" else "shutdown",
                "Status": {"State": state, "Timestamp": stamp(age), "Err": err, **kw},
                "Spec": {"ContainerSpec": {"Image": "swarmlab/web:1@sha256:abc"}}}
    long_err = "starting container failed: no such image here at all"
    tasks = [task("a10", 10, "n1", 5, "running"), task("a2", 2, "gone", 5, "running"),
             task("a1old", 1, "n2", 50, "failed", long_err), task("a1", 1, "n2", 5, "running",
             PortStatus={"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]})]
    nodes = node_names([{"ID": "n1", "Spec": {"Name": "named"}, "Description": {"Hostname": "worker1"}},
                        {"ID": "n2", "Spec": {}, "Description": {"Hostname": "worker2"}}])
    rows = ps_rows("web", tasks, nodes, NOW)
    assert [r[1] for r in rows] == ["web.1", " \\_ web.1", "web.2", "web.10"]  # 2 before 10
    assert [r[3] for r in rows] == ["worker2", "worker2", "gone", "named"]  # a node's name first, else the ID
    assert rows[0][2] == "swarmlab/web:1" and rows[0][7] == "*:8080->80/tcp"
    assert rows[1][4:7] == ("Shutdown", "Failed 50 seconds ago", '"starting container failed: no…"')
    assert len(rows[1][6]) == 2 + 30


def test_ps_rows_names_a_global_services_tasks_by_node() -> None:
    tasks = [{"ID": n * 25, "NodeID": n * 25, "CreatedAt": stamp(1), "DesiredState": "running",
              "Status": {"State": "running", "Timestamp": stamp(1)}, "Spec": {"ContainerSpec": {"Image": "x:1"}}}
             for n in ("b", "a")]
    assert [r[1] for r in ps_rows("g", tasks, {}, NOW)] == ["g." + "a" * 25, "g." + "b" * 25]


def test_service_ls_rows_as_the_cli_writes_them() -> None:
    def svc(name: str, mode: dict, status: tuple[int, int] | None, **task: object) -> dict:
        s = {"ID": name.ljust(25, "z"), "Spec": {"Name": name, "Mode": mode, "TaskTemplate": {
            "ContainerSpec": {"Image": "docker.io/library/redis:7.2@sha256:abc"}, **task}},
             "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                                     "PublishMode": "host"}]}}
        if status:
            s["ServiceStatus"] = {"RunningTasks": status[0], "DesiredTasks": status[1]}
        return s
    rows = service_ls_rows([svc("web10", {"Replicated": {"Replicas": 3}}, (1, 3)),
                            svc("web2", {"Global": {}}, (2, 3)),
                            svc("capped", {"Replicated": {"Replicas": 4}}, (4, 4), Placement={"MaxReplicas": 2})])
    assert [r[1] for r in rows] == ["capped", "web2", "web10"]
    assert [r[2] for r in rows] == ["replicated", "global", "replicated"]
    assert [r[3] for r in rows] == ["4/4 (max 2 per node)", "2/3", "1/3"]
    assert rows[0][0] == "cappedzzzzzz" and rows[0][4] == "redis:7.2"
    assert rows[0][5] == ""  # host-mode ports are not the routing mesh's: `service ls` leaves them out


def test_published_ports_groups_ranges() -> None:
    def port(pub: int, tgt: int, proto: str = "tcp") -> dict:
        return {"Protocol": proto, "TargetPort": tgt, "PublishedPort": pub, "PublishMode": "ingress"}
    ports = [port(81, 80), port(80, 80), port(9001, 91), port(9000, 90), port(53, 53, "udp"), port(7000, 9000),
             port(7001, 80)]
    assert published_ports({"Endpoint": {"Ports": ports}}) == (
        "*:80-81->80/tcp, *:7000->9000/tcp, *:7001->80/tcp, *:9000-9001->90-91/tcp, *:53->53/udp")


def test_service_status_counted_for_older_engines() -> None:
    services = [{"ID": "s1", "Spec": {"Name": "a", "Mode": {"Replicated": {"Replicas": 3}}}},
                {"ID": "s2", "Spec": {"Name": "b", "Mode": {"Global": {}}}},
                {"ID": "s3", "Spec": {"Name": "c", "Mode": {"Replicated": {"Replicas": 2}}}}]
    nodes = [{"ID": "up", "Status": {"State": "ready"}}, {"ID": "down", "Status": {"State": "down"}}]

    def t(service: str, node: str, state: str, desired: str = "running") -> dict:
        return {"ServiceID": service, "NodeID": node, "DesiredState": desired, "Status": {"State": state}}
    tasks = [t("s1", "up", "running"), t("s1", "down", "running"), t("s1", "up", "shutdown", "shutdown"),
             t("s2", "up", "running"), t("s2", "down", "running")]
    out = {s["Spec"]["Name"]: s["ServiceStatus"] for s in with_service_status(services, tasks, nodes)}
    assert (out["a"]["RunningTasks"], out["a"]["DesiredTasks"]) == (1, 2)
    assert (out["b"]["RunningTasks"], out["b"]["DesiredTasks"]) == (1, 2)
    assert (out["c"]["RunningTasks"], out["c"]["DesiredTasks"]) == (0, 0)


def test_node_ls_rows_mark_the_node_asked() -> None:
    def node(nid: str, host: str, manager: dict | None = None) -> dict:
        return {"ID": nid, "Description": {"Hostname": host, "Engine": {"EngineVersion": "20.10.24"}},
                "Status": {"State": "ready"}, "Spec": {"Availability": "drain"}, "ManagerStatus": manager}
    rows = node_ls_rows([node("w10", "worker10"), node("m1", "manager1", {"Leader": True, "Reachability": "reachable"}),
                         node("w2", "worker2"), node("m2", "manager2", {"Reachability": "unreachable"})], "m2")
    assert [r[1] for r in rows] == ["manager1", "manager2", "worker2", "worker10"]
    assert [r[0] for r in rows] == ["m1", "m2 *", "w2", "w10"]
    assert [r[4] for r in rows] == ["Leader", "Unreachable", "", ""]
    assert rows[0][2:4] == ("Ready", "Drain") and rows[0][5] == "20.10.24"


def test_node_pretty_has_the_clis_sections() -> None:
    node = {"ID": "n1", "CreatedAt": "2026-11-30T01:25:53.875167867Z",
            "Spec": {"Availability": "active", "Labels": {"zone": "b", "ssd": ""}},
            "Status": {"State": "ready", "Addr": "10.0.0.2"},
            "Description": {"Hostname": "worker1", "Platform": {"OS": "linux", "Architecture": "x86_64"},
                            "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 25_272_000_000},
                            "Engine": {"EngineVersion": "20.10.24", "Plugins": [
                                {"Type": "Volume", "Name": "local"}, {"Type": "Network", "Name": "bridge"},
                                {"Type": "Network", "Name": "overlay"}]},
                            "TLSInfo": {"TrustRoot": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                                        "CertIssuerSubject": "MBMx", "CertIssuerPublicKey": "MFkw"}}}
    assert format_node_pretty(node).splitlines() == [
        "ID:                     n1",
        "Labels:",
        " - ssd",
        " - zone=b",
        "Hostname:               worker1",
        "Joined at:              2026-11-30 01:25:53.875167867 +0000 utc",
        "Status:",
        " State:                 Ready",
        " Availability:          Active",
        " Address:               10.0.0.2",
        "Platform:",
        " Operating System:      linux",
        " Architecture:          x86_64",
        "Resources:",
        " CPUs:                  2",
        " Memory:                23.54GiB",
        "Plugins:",
        " Network:               bridge, overlay",
        " Volume:                local",
        "Engine Version:         20.10.24",
        "TLS Info:",
        " TrustRoot:",
        "-----BEGIN CERTIFICATE-----",
        "MIIB",
        "-----END CERTIFICATE-----",
        "",
        " Issuer Subject:        MBMx",
        " Issuer Public Key:     MFkw",
    ]


def test_service_pretty_has_the_clis_sections() -> None:
    config = {"Parallelism": 1, "Delay": 10_000_000_000, "FailureAction": "pause", "Monitor": 5_000_000_000,
              "MaxFailureRatio": 0, "Order": "stop-first"}
    svc = {"ID": "s1", "Spec": {
        "Name": "web", "Labels": {"tier": "front", "empty": ""}, "Mode": {"Replicated": {"Replicas": 2}},
        "TaskTemplate": {"ContainerSpec": {"Image": "swarmlab/web:1", "Args": ["sleep", "3600"], "Env": ["A=1"]},
                         "Placement": {"Constraints": ["node.role==worker", "node.labels.ssd==true"]},
                         "Resources": {"Limits": {}, "Reservations": {}},
                         "Networks": [{"Target": "netid"}, {"Target": "lost"}]},
        "UpdateConfig": config, "RollbackConfig": {**config, "Delay": 0, "FailureAction": "continue"},
        "EndpointSpec": {"Mode": "vip"}},
        "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}]},
        "UpdateStatus": {"State": "completed", "StartedAt": stamp(90), "CompletedAt": stamp(30),
                         "Message": "update completed"}}
    text = format_service_pretty(svc, {"netid": "backend"}, NOW)
    assert [line.rstrip() for line in text.splitlines()] == [
        "ID:             s1",
        "Name:           web",
        "Labels:",
        " empty",
        " tier=front",
        "Service Mode:   Replicated",
        " Replicas:      2",
        "UpdateStatus:",
        " State:         completed",
        " Started:       About a minute ago",
        " Completed:     30 seconds ago",
        " Message:       update completed",
        "Placement:",
        " Constraints:   [node.role==worker node.labels.ssd==true]",
        "UpdateConfig:",
        " Parallelism:   1",
        " Delay:         10s",
        " On failure:    pause",
        " Monitoring Period: 5s",
        " Max failure ratio: 0",
        " Update order:      stop-first",
        "RollbackConfig:",
        " Parallelism:   1",
        " On failure:    continue",
        " Monitoring Period: 5s",
        " Max failure ratio: 0",
        " Rollback order:    stop-first",
        "ContainerSpec:",
        " Image:         swarmlab/web:1",
        " Args:          sleep 3600",
        " Env:           A=1",
        "Resources:",
        "Networks: backend lost",
        "Endpoint Mode:  vip",
        "Ports:",
        " PublishedPort = 8080",
        "  Protocol = tcp",
        "  TargetPort = 80",
        "  PublishMode = host",
    ]
    assert "Init:" not in text  # only when the spec says
