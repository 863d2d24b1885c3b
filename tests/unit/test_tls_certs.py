"""The TLS certificates of a lab (swarmlab._tls), without an engine: the extensions strict
X.509 verification needs, a real TLS handshake verified strictly in both directions, the
checks on the files before they are trusted, and one CA when several processes make it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from swarmlab import InsecurePath, SwarmlabError, _tls

ROOT = Path(__file__).resolve().parents[2]


def cert(data: bytes | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data.read_bytes() if isinstance(data, Path) else data)


def ext(c: x509.Certificate, kind: Any) -> Any:
    return c.extensions.get_extension_for_class(kind)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the folder: content and mode (lstat: a symlink is seen as one)."""
    out = {}
    for p in sorted(folder.iterdir()):
        st = os.lstat(p)
        out[p.name] = (os.readlink(p).encode() if stat.S_ISLNK(st.st_mode) else p.read_bytes(), st.st_mode)
    return out


def common_name(peer: Any) -> str:
    """The CN of a certificate as ssl's getpeercert() gives it."""
    return str(dict(rdn[0] for rdn in peer["subject"])["commonName"])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "lab" / "tls"


Made = tuple[_tls.ClientCerts, x509.Certificate, x509.Certificate, x509.Certificate]


@pytest.fixture
def made(folder: Path) -> Made:
    certs = _tls.client_certs(folder)
    server = cert(_tls.server_files(folder, "manager1")["server.pem"])
    return certs, cert(certs.ca), cert(certs.cert), server


def test_the_ca_is_a_ca_for_leaves_only_with_key_identifiers(made: Made) -> None:
    _, ca, _, _ = made
    bc = ext(ca, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ext(ca, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    ski = ext(ca, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(ca.public_key())
    assert ext(ca, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    assert ca.issuer == ca.subject


@pytest.mark.parametrize("which", ["client", "server"])
def test_each_leaf_names_its_ca_and_its_use(made: Made, which: str) -> None:
    _, ca, client, server = made
    leaf = client if which == "client" else server
    bc = ext(leaf, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext(leaf, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not (ku.value.key_cert_sign or ku.value.crl_sign or ku.value.key_encipherment)
    assert ext(leaf, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(
        leaf.public_key())
    aki = ext(leaf, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(ca, x509.SubjectKeyIdentifier).value.digest
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if which == "client" else ExtendedKeyUsageOID.SERVER_AUTH
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [usage]
    if which == "server":
        alt = ext(leaf, x509.SubjectAlternativeName).value
        assert alt.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
        assert alt.get_values_for_type(x509.DNSName) == ["localhost", "manager1"]


def test_the_server_certificate_passes_a_strict_rfc5280_verifier(made: Made) -> None:
    _, ca, _, server = made
    for name in (x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"),
                 x509.DNSName("manager1")):
        chain = PolicyBuilder().store(Store([ca])).build_server_verifier(name).verify(server, [])
        assert chain == [server, ca]


def test_a_tls_handshake_verified_strictly_both_ways(folder: Path, tmp_path: Path) -> None:
    """A real TLS connection on loopback, both ends with VERIFY_X509_STRICT (Python 3.13's
    default): the client checks the server's certificate, the server the client's."""
    certs = _tls.client_certs(folder)
    for name, data in _tls.server_files(folder, "manager1").items():
        (tmp_path / name).write_bytes(data)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server-key.pem")
    server_ctx.load_verify_locations(tmp_path / "ca.pem")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    client_ctx = ssl.create_default_context(cafile=str(certs.ca))
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    client_ctx.load_cert_chain(certs.cert, certs.key)

    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict[str, Any] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["client"] = tls.getpeercert()
                tls.sendall(tls.recv(16))
        except (ssl.SSLError, OSError) as e:
            seen["error"] = e

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw, \
                client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"ping")
            assert tls.recv(16) == b"ping"
            server_seen = tls.getpeercert()
    finally:
        t.join(10)
        listener.close()
    assert "error" not in seen, seen
    assert common_name(server_seen) == "manager1"
    assert common_name(seen["client"]) == "swarmlab client"


def test_keys_and_certificates_are_private(made: Made, folder: Path) -> None:
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for name in ("ca.pem", "ca-key.pem", "cert.pem", "key.pem"):
        assert stat.S_IMODE(os.lstat(folder / name).st_mode) == 0o600, name
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_an_existing_ca_is_kept(made: Made, folder: Path) -> None:
    before = snapshot(folder)
    _tls.client_certs(folder)
    _tls.server_files(folder, "worker1")
    assert snapshot(folder) == before


def test_a_ca_key_others_can_read_is_refused_and_left_as_it_was(made: Made, folder: Path) -> None:
    os.chmod(folder / "ca-key.pem", 0o644)
    before = snapshot(folder)
    for make in (lambda: _tls.client_certs(folder), lambda: _tls.server_files(folder, "worker1")):
        with pytest.raises(SwarmlabError) as err:
            make()
        assert isinstance(err.value, InsecurePath)
        msg = str(err.value)
        assert str(folder / "ca-key.pem") in msg and "mode 644" in msg and f"chmod 600 {folder / 'ca-key.pem'}" in msg
        assert snapshot(folder) == before


@pytest.mark.parametrize("name", ["ca-key.pem", "key.pem", "ca.pem"])
def test_a_symlinked_key_or_ca_is_refused_and_its_target_untouched(made: Made, folder: Path, tmp_path: Path,
                                                                   name: str) -> None:
    elsewhere = tmp_path / "elsewhere.pem"
    elsewhere.write_bytes((folder / name).read_bytes())
    os.chmod(elsewhere, 0o600)
    (folder / name).unlink()
    (folder / name).symlink_to(elsewhere)
    before, target = snapshot(folder), elsewhere.read_bytes()
    with pytest.raises(InsecurePath, match="not a plain file"):
        _tls.client_certs(folder)
    assert snapshot(folder) == before and elsewhere.read_bytes() == target


def test_a_dangling_symlink_is_not_taken_for_a_missing_key(folder: Path, tmp_path: Path) -> None:
    folder.mkdir(parents=True, mode=0o700)
    (folder / "ca-key.pem").symlink_to(tmp_path / "nowhere.pem")
    with pytest.raises(InsecurePath):
        _tls.client_certs(folder)
    assert not (tmp_path / "nowhere.pem").exists()
    assert [p.name for p in folder.iterdir()] == ["ca-key.pem"]


def test_a_folder_others_can_write_is_refused(folder: Path) -> None:
    folder.mkdir(parents=True)
    os.chmod(folder, 0o777)
    with pytest.raises(InsecurePath, match="chmod 700"):
        _tls.client_certs(folder)
    assert list(folder.iterdir()) == []


def test_a_symlinked_folder_is_refused(tmp_path: Path, folder: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    folder.parent.mkdir(parents=True)
    folder.symlink_to(real)
    with pytest.raises(InsecurePath, match="symlink"):
        _tls.client_certs(folder)
    assert list(real.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root")
def test_a_key_of_another_user_is_refused(made: Made, folder: Path) -> None:
    os.chown(folder / "key.pem", 12345, 12345)
    before = snapshot(folder)
    with pytest.raises(InsecurePath, match="another user"):
        _tls.client_certs(folder)
    assert snapshot(folder) == before


def test_a_ca_made_without_key_identifiers_gets_them_with_the_same_key(folder: Path) -> None:
    """A CA of an earlier swarmlab (no key identifiers) is re-issued with the same key and
    name: machines that trust it keep trusting what it signs, and strict clients accept it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "swarmlab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "swarmlab lab CA")])
    now = dt.datetime.now(dt.timezone.utc)
    old = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
           .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, mode=0o700)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    for file, data in (("ca-key.pem", key_pem), ("ca.pem", old.public_bytes(serialization.Encoding.PEM))):
        fd = os.open(folder / file, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, data)
        os.close(fd)
    certs = _tls.client_certs(folder)
    ca = cert(certs.ca)
    assert (folder / "ca-key.pem").read_bytes() == key_pem
    assert ca.subject == old.subject and ca.public_key() == old.public_key()
    assert ext(ca, x509.BasicConstraints).value.path_length == 0
    ext(ca, x509.SubjectKeyIdentifier)
    cert(certs.cert).verify_directly_issued_by(old)  # what machines made before still trust
    cert(certs.cert).verify_directly_issued_by(ca)


#: Run by each process of the test below: wait for the signal, then make (or find) the lab's
#: CA, the client certificate and a server certificate; print what it was given.
CHILD = """
import json, os, sys, time
from pathlib import Path
from swarmlab import _tls
folder, me = Path(sys.argv[1]), sys.argv[2]
open(folder.parent / ("ready-" + me), "w").close()
while not os.path.exists(folder.parent / "go"):
    time.sleep(0.001)
certs = _tls.client_certs(folder)
client = certs.cert.read_bytes().decode()
server = _tls.server_files(folder, "machine" + me)
print(json.dumps({"client": client, "server": server["server.pem"].decode(), "ca": server["ca.pem"].decode()}))
"""


def test_processes_making_the_ca_at_once_end_with_one_ca_all_trust(tmp_path: Path) -> None:
    """Four processes released at the same moment (without the folder's lock each makes its
    own CA, and what ends on disk does not match what the others signed with)."""
    folder = tmp_path / "lab" / "tls"
    folder.parent.mkdir(parents=True)
    n = 4
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(i)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(n)]
    try:
        deadline = time.monotonic() + 60
        while len(list(folder.parent.glob("ready-*"))) < n:
            assert time.monotonic() < deadline, "the processes did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        (folder.parent / "go").touch()
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * n, [err for _, err in outs]
    got = [json.loads(out) for out, _ in outs]

    ca = cert(folder / "ca.pem")  # the one CA on disk, and its key beside it
    ca_key = serialization.load_pem_private_key((folder / "ca-key.pem").read_bytes(), password=None)
    assert ca_key.public_key() == ca.public_key()
    cert(folder / "cert.pem").verify_directly_issued_by(ca)
    for g in got:
        assert cert(g["ca"].encode()) == ca
        cert(g["client"].encode()).verify_directly_issued_by(ca)
        cert(g["server"].encode()).verify_directly_issued_by(ca)
