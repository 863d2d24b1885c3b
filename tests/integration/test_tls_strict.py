"""A TLS machine's engine under strict X.509 verification (what Python 3.13's ``ssl`` does by
default, asked for here on every Python), and a lab whose CA key others can read refused
before anything is made."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import urllib.request
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from cryptography import x509
from labtest import labelled

from swarmlab import InsecurePath, Lab, _tls
from swarmlab.providers.dind import DindProvider

pytestmark = pytest.mark.integration


def tls_dir_of(lab: Lab) -> Path:
    assert isinstance(lab.provider, DindProvider)
    return lab.provider.tls_dir()


def test_a_tls_engine_passes_strict_x509_verification(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab("tlsx", api="tls")
    machines = lab.machine.create("manager1")
    tls_dir = tls_dir_of(lab)
    url = machines["URL"][0].replace("tcp://", "https://")

    ctx = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.load_cert_chain(str(tls_dir / "cert.pem"), str(tls_dir / "key.pem"))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.verify_flags & ssl.VERIFY_X509_STRICT

    # the engine (dockerd, in Go) checks swarmlab's client certificate; Python's OpenSSL
    # checks the engine's strictly, for the address it is reached at
    assert urllib.request.urlopen(url + "/_ping", context=ctx, timeout=10).read() == b"OK"
    host, port = url.removeprefix("https://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as conn:
        presented = x509.load_der_x509_certificate(conn.getpeercert(binary_form=True) or b"")
    ca = x509.load_pem_x509_certificate((tls_dir / "ca.pem").read_bytes())
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = presented.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski
    assert presented.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "manager1"


def test_a_ca_key_others_can_read_is_refused_before_anything_is_made(
        make_lab: Callable[..., Lab], host: docker.DockerClient) -> None:
    lab = make_lab("tlsk", api="tls")
    tls_dir = tls_dir_of(lab)
    _tls.client_certs(tls_dir)  # the lab's CA, as a first run leaves it
    ca_key = tls_dir / "ca-key.pem"
    os.chmod(ca_key, 0o644)
    before = {p.name: (p.read_bytes(), os.lstat(p).st_mode) for p in tls_dir.iterdir()}
    try:
        with pytest.raises(InsecurePath) as err:
            lab.machine.create("manager1")
        msg = str(err.value)
        assert str(ca_key) in msg and "mode 644" in msg and f"chmod 600 {ca_key}" in msg
        # nothing on the engine, nothing changed in the folder
        assert labelled(host, lab.name) == {"containers": 0, "volumes": 0, "networks": 0}
        assert {p.name: (p.read_bytes(), os.lstat(p).st_mode) for p in tls_dir.iterdir()} == before
        assert stat.S_IMODE(os.lstat(ca_key).st_mode) == 0o644
    finally:
        os.chmod(ca_key, 0o600)
    # what the message says to do is enough
    lab.machine.create("manager1")
    assert lab.machine.ls()["STATE"].tolist() == ["Running"]
