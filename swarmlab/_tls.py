"""Certificates for machines whose engine is reached over TLS (a per-lab CA, a client
certificate for swarmlab, a server certificate per machine), kept under the lab's folder with
mode 0600, as docker-machine keeps its own."""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import ProviderUnavailable


@dataclass(frozen=True)
class ClientCerts:
    ca: Path
    cert: Path
    key: Path


def _crypto() -> Any:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:  # pragma: no cover - a dependency of swarmlab
        raise ProviderUnavailable("TLS machines need the 'cryptography' package: pip install cryptography") from None
    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def _write(path: Path, data: bytes) -> None:
    """Write a private file whole or not at all (a crash never leaves half a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _issue(cn: str, key: Any, issuer: tuple[Any, Any] | None, *, ca: bool = False,
           server_names: tuple[str, ...] = (), client: bool = False) -> Any:
    x509, hashes, _, _, eku, name_oid = _crypto()
    import ipaddress

    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(name_oid.ORGANIZATION_NAME, "swarmlab"),
                         x509.NameAttribute(name_oid.COMMON_NAME, cn)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=825))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
    if server_names:
        alt: list[Any] = []
        for n in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([eku.SERVER_AUTH]), critical=False)
    if client:
        b = b.add_extension(x509.ExtendedKeyUsage([eku.CLIENT_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(obj: Any, private: bool = False) -> bytes:
    _, _, serialization, _, _, _ = _crypto()
    if private:
        return bytes(obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return bytes(obj.public_bytes(serialization.Encoding.PEM))


def _new_key() -> Any:
    _, _, _, ec, _, _ = _crypto()
    return ec.generate_private_key(ec.SECP256R1())


def _load(folder: Path) -> tuple[Any, Any]:
    x509, _, serialization, _, _, _ = _crypto()
    cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((folder / "ca-key.pem").read_bytes(), password=None)
    return cert, key


_lock = threading.Lock()


def client_certs(folder: Path) -> ClientCerts:
    """The lab's CA and swarmlab's client certificate, made on first use."""
    with _lock:
        return _client_certs(folder)


def _client_certs(folder: Path) -> ClientCerts:
    paths = ClientCerts(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca_key_path = folder / "ca-key.pem"
    if paths.ca.exists() and ca_key_path.exists():
        ca, ca_key = _load(folder)  # never replace a CA machines already trust
    else:
        ca_key = _new_key()
        ca = _issue("swarmlab lab CA", ca_key, None, ca=True)
        _write(ca_key_path, _pem(ca_key, private=True))
        _write(paths.ca, _pem(ca))
    if not (paths.cert.exists() and paths.key.exists()):
        key = _new_key()
        _write(paths.key, _pem(key, private=True))
        _write(paths.cert, _pem(_issue("swarmlab client", key, (ca, ca_key), client=True)))
    return paths


def server_files(folder: Path, machine: str) -> dict[str, bytes]:
    """ca.pem, server.pem and server-key.pem for one machine's dockerd (valid for 127.0.0.1,
    localhost and the machine's name)."""
    client_certs(folder)
    ca, ca_key = _load(folder)
    key = _new_key()
    cert = _issue(machine, key, (ca, ca_key), server_names=("127.0.0.1", "localhost", machine))
    return {"ca.pem": _pem(ca), "server.pem": _pem(cert), "server-key.pem": _pem(key, private=True)}
