"""What a VM learns from the host at each boot, and the keys that make it trusted.

The base image holds no key and no address. Each machine gets, through QEMU's fw_cfg (a
read-only item only that VM sees; ``scripts/vm-guest/swarmlab-guest`` unpacks it at boot):

- its name and its address on the lab's network;
- its own SSH host key, made here: the host key is known before the first connection, so
  it is checked from the start (never "trust on first use");
- the lab's SSH public key (one per lab, made here) for root's ``authorized_keys``;
- dockerd's TLS certificates, signed by the lab's CA (:mod:`swarmlab._tls`).

Every key and certificate lives in the lab's private folder (0700, files 0600)."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

from ... import _home
from ... import _tls as tls

#: QEMU's user-mode NAT inside every VM (one NAT per VM, so the same in all): the host's
#: forwarded ports arrive at NAT_ADDRESS. Not 10.0.2.0/24, QEMU's default, which Swarm's
#: default address pool (10.0.0.0/8) would hand to an overlay network.
NAT_NET, NAT_ADDRESS, NAT_GATEWAY = "192.168.127.0/24", "192.168.127.15", "192.168.127.2"
NAT_DNS = "192.168.127.3"  # QEMU's DNS relay on the NAT (answers only with internet=True)
API_PORT = 2376  # dockerd's TLS port on NAT_ADDRESS (scripts/vm-guest/docker.default)
FW_CFG_NAME = "opt/io.swarmlab/guest"


def _ed25519() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def _openssh_private(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                   serialization.NoEncryption()))


def _openssh_public(key: Any, comment: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return bytes(pub) + f" {comment}\n".encode()


def key_pair(folder: Path, name: str, comment: str) -> tuple[Path, bytes]:
    """``folder/name`` (an Ed25519 private key in OpenSSH's format, made when missing) and its
    public line. The folder must be private; the key file is checked before it is read."""
    from cryptography.hazmat.primitives import serialization

    path = folder / name
    if not path.exists():
        _home.write_private(path, _openssh_private(_ed25519().Ed25519PrivateKey.generate()))
    _home.check_private_file(path, f"the SSH key {name}")
    key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    return path, _openssh_public(key, comment)


def settings_tar(*, name: str, address: str, prefix: int, host_key: Path, lab_public_key: bytes,
                 tls_dir: Path) -> bytes:
    """The tar the guest unpacks over ``/`` at boot (owned by root, modes set here)."""
    from cryptography.hazmat.primitives import serialization

    host_private = host_key.read_bytes()
    host_public = _openssh_public(serialization.load_ssh_private_key(host_private, password=None), name)
    machine = (f"NAME={name}\nADDRESS={address}\nPREFIX={prefix}\n"
               f"NAT_ADDRESS={NAT_ADDRESS}\nNAT_GATEWAY={NAT_GATEWAY}\n")
    server = tls.server_files(tls_dir, name)
    files: list[tuple[str, bytes, int]] = [
        ("etc/hostname", f"{name}\n".encode(), 0o644),
        ("etc/resolv.conf", f"nameserver {NAT_DNS}\n".encode(), 0o644),
        ("etc/swarmlab/machine", machine.encode(), 0o644),
        ("etc/ssh/ssh_host_ed25519_key", host_private, 0o600),
        ("etc/ssh/ssh_host_ed25519_key.pub", host_public, 0o644),
        ("root/.ssh/authorized_keys", lab_public_key, 0o600),
        ("etc/docker/tls/ca.pem", server["ca.pem"], 0o644),
        ("etc/docker/tls/server.pem", server["server.pem"], 0o644),
        ("etc/docker/tls/server-key.pem", server["server-key.pem"], 0o600),
    ]
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent) for p, _, _ in files})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700 if d.startswith("root") else 0o755, now
            tar.addfile(info)
        for path, data, mode in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def public_key_line(host_key: Path) -> str:
    """``ssh-ed25519 AAAA...`` of a host key file, for a known_hosts line."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(host_key.read_bytes(), password=None)
    return " ".join(_openssh_public(key, "").decode().split()[:2])
