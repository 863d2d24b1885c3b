"""Certificates for machines whose engine is reached over TLS (a per-lab CA, a client
certificate for swarmlab, a server certificate per machine), kept under the lab's folder with
mode 0600, as docker-machine keeps its own.

The certificates pass strict X.509 verification (OpenSSL's ``X509_V_FLAG_X509_STRICT``, the
default of Python 3.13's ``ssl``; RFC 5280's profile):

- the CA: BasicConstraints ``CA:TRUE, pathlen:0`` (critical), KeyUsage keyCertSign and
  cRLSign (critical), a Subject Key Identifier (and an Authority Key Identifier naming itself);
- each leaf: BasicConstraints ``CA:FALSE`` (critical), KeyUsage digitalSignature (critical:
  the keys are EC, used for ECDHE signatures only, so no keyEncipherment or keyAgreement),
  ExtendedKeyUsage serverAuth or clientAuth, a Subject Key Identifier and an Authority Key
  Identifier matching the CA's; a server's names in SubjectAlternativeName.

Nothing found in the folder is trusted unchecked: the folder must be this user's and not
writable by others, and every key or certificate a plain file of this user's, mode 0600
(:mod:`swarmlab._home`). Files are written through :func:`~swarmlab._home.write_private`
(never through a symlink). The CA is made under a lock that holds across processes, so two
programs starting the same lab at once end with one CA that both trust.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import ProviderUnavailable
from ._home import check_private_file, locked, make_private_dir, write_private

#: The files of a lab's TLS folder, each checked before it is read.
CA_CERT, CA_KEY, CLIENT_CERT, CLIENT_KEY = "ca.pem", "ca-key.pem", "cert.pem", "key.pem"
CA_NAME = "swarmlab lab CA"


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


def _key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> Any:
    x509 = _crypto()[0]
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign,
                         crl_sign=crl_sign, encipher_only=False, decipher_only=False)


def _issue(cn: str, key: Any, issuer: tuple[Any, Any] | None, *, ca: bool = False,
           server_names: tuple[str, ...] = (), client: bool = False) -> Any:
    """A certificate for ``key`` named ``cn``, signed by ``issuer`` (certificate, key), or
    self-signed when ``issuer`` is None."""
    x509, hashes, _, _, eku, name_oid = _crypto()
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(name_oid.ORGANIZATION_NAME, "swarmlab"),
                         x509.NameAttribute(name_oid.COMMON_NAME, cn)])
    if issuer is None:
        issuer_name, issuer_key = subject, key
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
    else:
        issuer_name, issuer_key = issuer[0].subject, issuer[1]
        try:  # the CA's own identifier, so that the chain is found by key, not only by name
            ski = issuer[0].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=825))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(aki, critical=False))
    if ca:
        b = b.add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
    else:
        b = b.add_extension(_key_usage(digital_signature=True), critical=True)
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


def _has_key_ids(cert: Any) -> bool:
    x509 = _crypto()[0]
    try:
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return False
    return True


def _load(folder: Path) -> tuple[Any, Any]:
    x509, _, serialization, _, _, _ = _crypto()
    cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
    key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
    return cert, key


def _open_folder(folder: Path) -> None:
    """Make the folder (mode 0700) when missing; refuse it, or any key or certificate in it,
    when it is a symlink, someone else's, or open to other users."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    make_private_dir(folder)
    for name, what in ((CA_KEY, "the lab's CA key"), (CA_CERT, "the lab's CA certificate"),
                       (CLIENT_KEY, "swarmlab's client key"), (CLIENT_CERT, "swarmlab's client certificate")):
        if os.path.lexists(folder / name):
            check_private_file(folder / name, what)


@contextlib.contextmanager
def _folder_lock_opened(folder: Path) -> Iterator[None]:
    _open_folder(folder)  # checked before the lock file is made in it
    # against other threads and processes using the same folder, as long as it takes
    with locked(lambda: folder, f"the certificates in {folder}", None):
        _open_folder(folder)  # and again: another process may have written meanwhile
        yield


def client_certs(folder: Path) -> ClientCerts:
    """The lab's CA and swarmlab's client certificate, made on first use."""
    with _folder_lock_opened(folder):
        _ca_and_client(folder)
    return ClientCerts(folder / CA_CERT, folder / CLIENT_CERT, folder / CLIENT_KEY)


def _ca_and_client(folder: Path) -> tuple[Any, Any]:
    """The CA (certificate, key), made when missing, and the client certificate beside it.
    Call with the folder checked and locked."""
    ca_path, ca_key_path = folder / CA_CERT, folder / CA_KEY
    new_ca = not (ca_path.exists() and ca_key_path.exists())
    if not new_ca:
        ca, ca_key = _load(folder)  # never replace a CA machines already trust
        if not _has_key_ids(ca):
            # made by an earlier swarmlab: the same key and name, now with the extensions
            # strict verification needs (machines trust signatures of the same key)
            ca = _issue(CA_NAME, ca_key, None, ca=True)
            write_private(ca_path, _pem(ca))
    else:
        ca_key = _new_key()
        ca = _issue(CA_NAME, ca_key, None, ca=True)
        write_private(ca_key_path, _pem(ca_key, private=True))
        write_private(ca_path, _pem(ca))
    cert_path, key_path = folder / CLIENT_CERT, folder / CLIENT_KEY
    if new_ca or not (cert_path.exists() and key_path.exists()):  # a new CA signs a new one
        key = _new_key()
        write_private(key_path, _pem(key, private=True))
        write_private(cert_path, _pem(_issue("swarmlab client", key, (ca, ca_key), client=True)))
    return ca, ca_key


def server_files(folder: Path, machine: str) -> dict[str, bytes]:
    """ca.pem, server.pem and server-key.pem for one machine's dockerd (valid for 127.0.0.1,
    localhost and the machine's name)."""
    with _folder_lock_opened(folder):
        ca, ca_key = _ca_and_client(folder)
    key = _new_key()
    cert = _issue(machine, key, (ca, ca_key), server_names=("127.0.0.1", "localhost", machine))
    return {"ca.pem": _pem(ca), "server.pem": _pem(cert), "server-key.pem": _pem(key, private=True)}
