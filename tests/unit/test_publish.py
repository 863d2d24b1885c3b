"""``--publish`` as the CLI takes it: the short and long forms, parsed into the engine's
EndpointSpec ports, the flags shown for them, and a clear error for each bad spec."""

from __future__ import annotations

import pytest

import swarmlab as sl
from swarmlab.commands.service_parts import Publish, port_keys


def port(published: int | None, target: int, protocol: str = "tcp", mode: str = "ingress") -> dict:
    p = {"Protocol": protocol, "PublishMode": mode, "TargetPort": target}
    if published:
        p["PublishedPort"] = published
    return p


@pytest.mark.parametrize(("spec", "mode", "ports", "flags"), [
    ("8080:80", None, [port(8080, 80)], ["--publish 8080:80"]),
    ("8080:80/udp", None, [port(8080, 80, "udp")], ["--publish 8080:80/udp"]),
    ("80", None, [port(None, 80)], ["--publish 80"]),
    ("published=8080,target=80,mode=host", None, [port(8080, 80, mode="host")],
     ["--publish published=8080,target=80,mode=host"]),
    ("target=53, published=53, protocol=udp", None, [port(53, 53, "udp")], ["--publish 53:53/udp"]),
    (["8080:80", "8443:443"], None, [port(8080, 80), port(8443, 443)], ["--publish 8080:80", "--publish 8443:443"]),
    ({8080: 80}, "host", [port(8080, 80, mode="host")], ["--publish published=8080,target=80,mode=host"]),
    ("8080:80", "host", [port(8080, 80, mode="host")], ["--publish published=8080,target=80,mode=host"]),
    ("published=8080,target=80,mode=ingress", "host", [port(8080, 80)], ["--publish 8080:80"]),
    (None, None, [], []),
])
def test_publish_specs_parse_as_the_cli_reads_them(spec: object, mode: str | None, ports: list, flags: list) -> None:
    publish = Publish.of(spec, mode)
    assert publish.engine() == ports
    assert publish.flags() == flags
    # the flags shown read back to the same ports
    assert port_keys(Publish.of([f.split(" ", 1)[1] for f in flags]).engine()) == port_keys(ports)


@pytest.mark.parametrize(("spec", "match"), [
    ("80:http", r"target port 'http' is not a number"),
    ("0:80", r"published port '0' is not a number from 1 to 65535"),
    ("8080:70000", r"target port '70000'"),
    ("8080:80/icmp", r"protocol 'icmp' is not one of tcp, udp, sctp"),
    ("published=8080,mode=host", r"say the target port"),
    ("published=8080,target=80,mode=mesh", r"mode 'mesh' is not one of ingress, host"),
    ("published=8080,target=80,speed=1", r"unknown field 'speed'"),
    ("published=8080,target", r"'target' is not KEY=VALUE"),
    (["8080:80", "8080:81"], r"port 8080/tcp is published twice"),
    ("", r"give '8080:80'"),
    ([8080], r"give '8080:80'"),
    ({"80": "x"}, r"or \{8080: 80\}"),
    ({True: 80}, r"or \{8080: 80\}"),
    (8080, r"give '8080:80'"),
])
def test_a_bad_publish_spec_says_what_to_give(spec: object, match: str) -> None:
    with pytest.raises(sl.InvalidArgument, match=match):
        Publish.of(spec)
