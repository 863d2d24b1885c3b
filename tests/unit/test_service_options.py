"""What ``lab.service.create`` / ``update`` ask for, as value objects: one object gives the
command line shown, what docker-py is given (or the whole spec an update posts) and what
differs from a service that is there."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from docker.models.services import _get_create_service_kwargs

import swarmlab as sl
from swarmlab._swarm import CLI_UPDATE_DEFAULTS
from swarmlab.commands.service_options import Attached, CreateOptions, UpdateOptions
from swarmlab.commands.service_parts import Health, Port, Publish, Reference, UpdatePolicy, parse_references

NETWORKS = {"appnet": "net-app", "backnet": "net-back"}
ATTACHED = Attached(NETWORKS,
                    {"secret": ({"File": {"Name": "password", "UID": "0", "GID": "0", "Mode": 0o400},
                                 "SecretID": "sec-1", "SecretName": "db_password"},)})

#: a create with one of every option
FULL: dict[str, Any] = {
    "replicas": 3, "update_delay": "10s", "update_parallelism": 2, "publish": "8080:80",
    "networks": ["appnet"], "env": {"GREETING": "hello world"}, "labels": {"tier": "front"},
    "constraints": ["node.role==worker"], "secrets": ["source=db_password,target=password,mode=0400"],
    "health_cmd": "wget -qO- http://127.0.0.1/", "health_interval": "2s",
}


def full() -> CreateOptions:
    return CreateOptions.of("web", "nginx:1.27", ["nginx", "-g", "daemon off;"], **FULL)


def spec_of(options: CreateOptions, attached: Attached = ATTACHED) -> dict[str, Any]:
    """The spec docker-py makes of the options (as the engine would keep it)."""
    kw = options.docker_args(attached)
    made = _get_create_service_kwargs("create", dict(kw))
    return {"Name": made["name"], "Labels": made.get("labels"), "Mode": made["mode"],
            "UpdateConfig": made["update_config"], "EndpointSpec": made.get("endpoint_spec"),
            "TaskTemplate": made["task_template"]}


def test_a_create_shows_every_option_as_the_cli_writes_it() -> None:
    assert full().command() == (
        "docker service create --replicas 3 --name web --update-delay 10s --update-parallelism 2 "
        "--network appnet --publish 8080:80 --env 'GREETING=hello world' --label tier=front "
        "--constraint node.role==worker --secret source=db_password,target=password,mode=0400 "
        "--health-cmd 'wget -qO- http://127.0.0.1/' --health-interval 2s nginx:1.27 nginx -g 'daemon off;'")
    assert CreateOptions.of("agent", "alpine", mode="global").command() == \
        "docker service create --mode global --name agent alpine"


def test_a_create_gives_docker_py_the_spec_it_stands_for() -> None:
    spec = spec_of(full())
    cs = spec["TaskTemplate"]["ContainerSpec"]
    assert cs["Image"] == "nginx:1.27" and cs["Args"] == ["nginx", "-g", "daemon off;"]
    assert cs["Env"] == ["GREETING=hello world"]
    assert cs["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -qO- http://127.0.0.1/"], "Interval": 2_000_000_000}
    assert cs["Secrets"] == list(ATTACHED.mounts["secret"])
    assert [n["Target"] for n in spec["TaskTemplate"]["Networks"]] == ["net-app"]
    assert spec["TaskTemplate"]["Placement"] == {"Constraints": ["node.role==worker"]}
    assert spec["Mode"] == {"replicated": {"Replicas": 3}}
    assert spec["UpdateConfig"] == {**CLI_UPDATE_DEFAULTS, "Delay": 10_000_000_000, "Parallelism": 2}
    assert spec["EndpointSpec"] == {"Ports": [{"Protocol": "tcp", "PublishMode": "ingress", "TargetPort": 80,
                                               "PublishedPort": 8080}]}
    bare = CreateOptions.of("hello", "alpine").docker_args(Attached())
    assert bare["endpoint_spec"] is None and bare["networks"] is None and bare["healthcheck"] is None


def looked_up(options: CreateOptions) -> Attached:
    """What a lookup on an engine gives for the names the options give."""
    return Attached({n: NETWORKS[n] for n in options.network_names},
                    {kind: tuple(r.engine(f"{kind}-id-{r.source}") for r in refs)
                     for kind, refs in options.references.items()})


def engine_view(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec as the engine returns it: its mode's key capitalised, the image pinned."""
    spec = copy.deepcopy(spec)
    spec["Mode"] = {"Replicated": spec["Mode"]["replicated"]}
    spec["TaskTemplate"]["ContainerSpec"]["Image"] += "@sha256:" + "0" * 64
    return spec


def test_a_create_differs_from_a_service_in_what_it_changes() -> None:
    there = engine_view(spec_of(full(), looked_up(full())))
    assert full().differences(there, looked_up(full())) == []
    # replicas are not a difference: create scales to them
    assert CreateOptions.of("web", "nginx:1.27", ["nginx", "-g", "daemon off;"],
                            **{**FULL, "replicas": 5}).differences(there, looked_up(full())) == []
    for change, named in [({"update_delay": "5s"}, "update config"), ({"env": None}, "env"),
                          ({"labels": None}, "labels"), ({"constraints": []}, "constraints"),
                          ({"publish": "8081:80"}, "published ports"), ({"networks": []}, "networks"),
                          ({"health_cmd": None, "health_interval": None}, "health check"), ({"secrets": []}, "secrets"),
                          ({"configs": ["site"]}, "configs"), ({"mode": "global"}, "mode")]:
        other = CreateOptions.of("web", "nginx:1.27", ["nginx", "-g", "daemon off;"], **{**FULL, **change})
        attached = looked_up(other)
        assert other.differences(there, attached) == [named], change
    assert CreateOptions.of("web", "nginx:1.26").differences(there, Attached())[:2] == [
        "image (nginx:1.27@sha256:" + "0" * 64 + ")", "command (\"nginx -g 'daemon off;'\")"]


def test_the_same_keywords_make_the_same_options() -> None:
    assert full() == full() and hash(full()) == hash(full())
    with pytest.raises(AttributeError):
        full().replicas = 5  # type: ignore[misc]


SERVICE: dict[str, Any] = {
    "Name": "web", "Mode": {"Replicated": {"Replicas": 3}}, "UpdateConfig": dict(CLI_UPDATE_DEFAULTS),
    "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.27@sha256:" + "0" * 64,
                                       "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000},
                                       "Secrets": [{"SecretName": "db_password", "File": {"Name": "password"}}]},
                     "Networks": [{"Target": "net-app"}]},
    "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "PublishMode": "ingress", "TargetPort": 80,
                                               "PublishedPort": 8080}]},
}


def test_an_update_shows_its_flags_in_the_clis_order() -> None:
    options = UpdateOptions.of(
        "web", "nginx:1.28", replicas=5, args=["sleep", "1d"], update_delay=3, force=True,
        network_add=["backnet", "backnet"], network_rm=["appnet"], publish_add={9000: 90}, publish_rm=[80],
        endpoint_mode="vip",
        secret_add=["source=db_password_v2,target=password"], secret_rm=["db_password"], config_add=["site"],
        health_timeout="1s")
    assert options.command() == (
        "docker service update --update-delay 3s --network-add backnet --network-rm appnet --publish-rm 80 "
        "--publish-add 9000:90 --endpoint-mode vip --secret-rm db_password "
        "--secret-add source=db_password_v2,target=password --config-add site --health-timeout 1s --replicas 5 "
        "--args 'sleep 1d' --force --image nginx:1.28 web")


def test_an_update_changes_only_what_it_is_given() -> None:
    nothing = UpdateOptions.of("web").apply(SERVICE, Attached())
    assert nothing.spec == SERVICE and nothing.notes == () and nothing.new_image is None
    same = UpdateOptions.of("web", "nginx:1.27", network_add=["appnet"]).apply(SERVICE, Attached(NETWORKS))
    assert same.spec == {**SERVICE, "TaskTemplate": {**SERVICE["TaskTemplate"], "ContainerSpec": {
        **SERVICE["TaskTemplate"]["ContainerSpec"], "Image": "nginx:1.27"}}}
    assert same.notes == ("it is already on network appnet.", "web already uses nginx:1.27 (no new image to roll out).")
    before = copy.deepcopy(SERVICE)
    moved = UpdateOptions.of("web", "nginx:1.28", network_add=["backnet"], network_rm=["appnet"],
                             publish_add="8081:81", health_retries=2, force=True).apply(SERVICE, Attached(NETWORKS))
    assert before == SERVICE  # the service's spec is left as it was
    assert moved.new_image == "nginx:1.28" and moved.notes == ()
    assert moved.spec["TaskTemplate"]["Networks"] == [{"Target": "net-back"}]
    assert moved.spec["TaskTemplate"]["ForceUpdate"] == 1
    assert moved.spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000, "Retries": 2}
    assert [p["TargetPort"] for p in moved.spec["EndpointSpec"]["Ports"]] == [80, 81]
    assert moved.claims == ({"Protocol": "tcp", "PublishMode": "ingress", "TargetPort": 81, "PublishedPort": 8081},)


def test_an_update_says_what_was_already_so_and_refuses_what_cannot_be() -> None:
    gone = UpdateOptions.of("web", publish_rm=[81], secret_rm=["api_key"],
                            network_rm=["backnet"]).apply(SERVICE, Attached(NETWORKS))
    assert gone.notes == ("it is not on network backnet (nothing to detach).",
                          "no port is published to target port 81 (nothing to remove).",
                          "secret api_key is not mounted (nothing to remove).")
    with pytest.raises(sl.InvalidArgument, match="endpoint mode dnsrr with a port published through the routing mesh"):
        UpdateOptions.of("web", endpoint_mode="dnsrr").apply(SERVICE, ATTACHED)
    global_service = {**SERVICE, "Mode": {"Global": {}}}
    with pytest.raises(sl.InvalidArgument, match="web is a global service: it has no replica count"):
        UpdateOptions.of("web", replicas=2).apply(global_service, ATTACHED)


@pytest.mark.parametrize(("kw", "match"), [
    ({"publish_rm": 80}, r"publish_rm=80: give a list of target ports, e.g. publish_rm=\[80\]"),
    ({"network_add": "appnet"}, r"network_add='appnet': give a list of names"),
    ({"secret_rm": [1]}, r"secret_rm=\[1\]: give a list of names, e.g. secret_rm=\['pw'\]"),
    ({"replicas": -1}, r"replicas for 'web' cannot be negative"),
    ({"endpoint_mode": "round-robin"}, r"endpoint_mode='round-robin': use one of None, 'vip', 'dnsrr'"),
])
def test_a_bad_update_option_says_what_to_give(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(sl.InvalidArgument, match=match):
        UpdateOptions.of("web", **kw)


def test_a_reference_shows_its_short_form_when_it_says_it_all() -> None:
    refs = parse_references("secret", ["db_password", "source=db_password,target=pw,uid=33,mode=0400"])
    assert refs == (Reference("secret", "db_password", "db_password"),
                    Reference("secret", "db_password", "pw", uid="33", mode=0o400))
    assert [r.flag() for r in refs] == ["--secret db_password",
                                        "--secret source=db_password,target=pw,uid=33,mode=0400"]
    assert refs[1].engine("id1") == {"File": {"Name": "pw", "UID": "33", "GID": "0", "Mode": 0o400},
                                     "SecretID": "id1", "SecretName": "db_password"}
    assert parse_references("config", "site")[0].flag("--config-add") == "--config-add site"
    with pytest.raises(sl.InvalidArgument, match=r"secret spec 'source=x,target=../a': target '../a'"):
        parse_references("secret", ["source=x,target=../a"])


def test_the_parts_give_the_engines_fields_and_the_flags() -> None:
    policy = UpdatePolicy.of("1m30s", 0, "rollback", "start-first")
    assert policy.engine() == {"Delay": 90_000_000_000, "Parallelism": 0, "FailureAction": "rollback",
                               "Order": "start-first"}
    assert policy.flags() == ["--update-delay 1m30s", "--update-parallelism 0", "--update-failure-action rollback",
                              "--update-order start-first"]
    assert Publish.of(["8080:80", "published=53,target=53,protocol=udp,mode=host"]).ports == (
        Port(80, 8080), Port(53, 53, "udp", "host"))
    assert Health.of(None, "5s", None, None, None, False).applied_to({"Test": ["NONE"]}) == {"Interval": 5_000_000_000}
    assert Health().applied_to({"Test": ["NONE"]}) is None
    assert Health(disabled=True).applied_to({"Test": ["CMD", "x"], "Retries": 3}) == {"Test": ["NONE"]}
