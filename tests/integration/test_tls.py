"""The dind provider's TLS mode (what Docker Desktop users get): each machine's engine on a
127.0.0.1 port, TLS with client certificates, nothing reachable without them."""

from __future__ import annotations

import os
import ssl
import stat
import urllib.error
import urllib.request

import docker
import pytest
from labtest import WORKLOAD

pytestmark = pytest.mark.integration

#: what a TLS server that wants a client certificate answers a client without one (TLS 1.2, 1.3)
CERTIFICATE_ALERTS = ("SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED")


def test_a_swarm_over_tls_engines(make_lab, host: docker.DockerClient) -> None:
    lab = make_lab("tls", api="tls")
    machines = lab.machine.create("manager1", "worker1")
    assert all(url.startswith("tcp://127.0.0.1:") for url in machines["URL"])
    lab.swarm.init("manager1")
    lab.swarm.join("worker1")
    lab.image.load(WORKLOAD)
    lab.service.create("helloworld", WORKLOAD, "ping", "127.0.0.1", replicas=2)
    lab.service.scale(helloworld=4)
    running = [t for t in lab.client("manager1").api.tasks(filters={"service": "helloworld"})
               if t["Status"]["State"] == "running"]
    assert len(running) == 4

    for c in host.containers.list(filters={"label": f"io.swarmlab.lab={lab.name}"}):
        bindings = c.attrs["HostConfig"]["PortBindings"]
        assert list(bindings) == ["2376/tcp"]
        assert [b["HostIp"] for b in bindings["2376/tcp"]] == ["127.0.0.1"]  # loopback only

    # the certificates are private to this user
    tls_dir = lab.provider.tls_dir()
    for name in ("ca-key.pem", "key.pem", "cert.pem", "ca.pem"):
        assert stat.S_IMODE(os.stat(tls_dir / name).st_mode) == 0o600

    # without a client certificate the engine refuses to talk at all
    url = machines["URL"][0].replace("tcp://", "https://") + "/_ping"
    ctx = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    with pytest.raises((ssl.SSLError, urllib.error.URLError)) as refused:
        urllib.request.urlopen(url, context=ctx, timeout=5).read()
    # the engine's own TLS alert for a missing client certificate (a port with nothing behind
    # it refuses, resets or ends the connection instead)
    alert = refused.value.reason if isinstance(refused.value, urllib.error.URLError) else refused.value
    assert isinstance(alert, ssl.SSLError) and alert.reason in CERTIFICATE_ALERTS, repr(refused.value)
    # and with it, it does (the same check through a plain HTTPS client)
    ctx.load_cert_chain(str(tls_dir / "cert.pem"), str(tls_dir / "key.pem"))
    assert urllib.request.urlopen(url, context=ctx, timeout=5).read() == b"OK"
