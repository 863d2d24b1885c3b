"""A stand-in for the ``docker-machine`` binary, for tests on computers without VirtualBox.

It accepts docker-machine's command line exactly as declared in docker-machine's own source
(``docker_machine_cli.json`` next to this file: anything else is refused the way urfave/cli
refuses it), prints docker-machine's documented output formats, and keeps docker-machine's
storage layout (``$MACHINE_STORAGE_PATH`` or ``~/.docker/machine``: ``certs/`` with the CA and
client certificate, ``machines/NAME/`` with ``config.json``, ``ca.pem``, ``cert.pem``,
``key.pem``, ``server.pem``, ``server-key.pem``).

Behind each "VM" is a REAL engine: a Docker-in-Docker container on the local engine, running
dockerd with ``--tlsverify`` on port 2376, published on a 127.0.0.1 port only, with a server
certificate signed by the storage's CA (made here, as docker-machine makes it). The "host-only
network" is a bridge network; ``ip`` prints the machine's address on it. ``ssh`` runs the
command in the machine with ``docker exec`` (what cannot be faked is VirtualBox itself).

What VirtualBox >= 6.1.28 does with a host-only network outside 192.168.56.0/21 is reproduced:
``create`` fails with E_ACCESSDENIED.

Command lines are read as docker-machine 0.16's vendored codegangsta/cli reads them: a
command's flags may follow its arguments (everything from the first ``-word`` on is parsed as
flags, the words before it come after), ``--`` ends the flags, and ``ssh`` passes every word
after the machine name to the ``ssh`` binary (docker-machine's default "external" client),
which reads a first word starting with ``-`` as one of ITS OWN options: the stand-in logs such a
word (``"ssh_option"``) and fails as ssh fails on a bad option (exit 255); what ssh would do
with the option is not reproduced. ``ls`` lists every folder of ``machines/`` not starting with
``.`` (a folder whose ``config.json`` cannot be read is a row with driver ``not found``, listed
whatever the filters), named by the folder, as docker-machine's filestore does.

Every invocation is appended, as JSON, to ``$SWARMLAB_STANDIN_LOG`` when that is set.

For tests of what a caller does with output it must not trust, ``$SWARMLAB_STANDIN_TAMPER``
(JSON: ``{"COMMAND": {"stdout": TEXT}}`` prints TEXT instead of running COMMAND,
``{"COMMAND": {"append": TEXT}}`` prints TEXT after COMMAND's own output; ``{storage}`` in TEXT
is the storage path) makes the stand-in print what a broken or hostile docker-machine might.
It is never set otherwise: without it the stand-in prints only what docker-machine prints.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import io
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CLI = json.loads((HERE / "docker_machine_cli.json").read_text())
NODE_IMAGE = os.environ.get("SWARMLAB_NODE_IMAGE", "swarmlab/node:forky")
VBOX_ALLOWED = ipaddress.ip_network("192.168.56.0/21")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-\.]*$")
SHORT = {"d": "driver", "s": "storage-path", "D": "debug", "t": "timeout", "q": "quiet",
         "u": "unset"}


class Usage(Exception):
    pass


class Fail(Exception):
    pass


# -- command line, the way Go's flag package (under urfave/cli) reads it ----------------
def parse(args: list[str], spec: dict[str, Any], command: str) -> tuple[dict[str, list[str]], list[str]]:
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        body = a.lstrip("-")
        name, eq, value = body.partition("=")
        if name in spec["bool"]:
            if eq and value not in ("true", "false", "1", "0"):
                raise Usage(f"invalid boolean value {value!r} for -{name}")
            flags.setdefault(name, []).append(value if eq else "true")
        elif name in spec["value"] or name in spec["repeat"]:
            if not eq:
                i += 1
                if i >= len(args):
                    raise Usage(f"flag needs an argument: -{name}")
                value = args[i]
            if name in spec["value"] and name in flags:
                pass  # Go keeps the last value
            if name in spec.get("int", []) and not re.fullmatch(r"-?\d+", value):
                raise Usage(f'invalid value "{value}" for flag -{name}: parse error')
            flags.setdefault(name, []).append(value)
        else:
            raise Usage(f"flag provided but not defined: -{name}")
        i += 1
    return flags, args[i:]


def reorder(args: list[str]) -> list[str]:
    """What codegangsta/cli's Command.Run hands to Go's flag parser (SkipFlagParsing false):
    the words from the first one starting with '-' up to '--', then the words before it, then
    '--' and the rest."""
    first_flag = terminator = -1
    for i, a in enumerate(args):
        if a == "--":
            terminator = i
            break
        if a.startswith("-") and first_flag == -1:
            first_flag = i
    if first_flag == -1:
        return list(args)
    regular = args[:first_flag]
    if terminator > -1:
        return args[first_flag:terminator] + regular + args[terminator:]
    return args[first_flag:] + regular


def get(flags: dict[str, list[str]], *names: str, default: str | None = None) -> str | None:
    for n in names:
        if n in flags:
            return flags[n][-1]
    return default


def has(flags: dict[str, list[str]], *names: str) -> bool:
    return any(n in flags and flags[n][-1] in ("true", "1") for n in names)


# -- storage ---------------------------------------------------------------------------------
class Store:
    def __init__(self, path: str) -> None:
        self.root = Path(path).expanduser()
        self.certs = self.root / "certs"
        self.machines = self.root / "machines"
        self.tag = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:8]

    def dir(self, name: str) -> Path:
        return self.machines / name

    def config(self, name: str) -> dict[str, Any]:
        p = self.dir(name) / "config.json"
        if not p.exists():
            raise Fail(f'Docker machine "{name}" does not exist. Use "docker-machine ls" to list '
                       f'machines. Use "docker-machine create" to add a new one.')
        return dict(json.loads(p.read_text()))

    def save(self, name: str, cfg: dict[str, Any]) -> None:
        p = self.dir(name) / "config.json"
        p.write_text(json.dumps(cfg, indent=4))
        p.chmod(0o600)

    def names(self) -> list[str]:
        if not self.machines.is_dir():
            return []
        return sorted(p.name for p in self.machines.iterdir() if (p / "config.json").exists())

    def listed(self) -> list[str]:
        """What docker-machine's filestore lists: every folder not starting with '.'."""
        if not self.machines.is_dir():
            return []
        return sorted(p.name for p in self.machines.iterdir() if p.is_dir() and not p.name.startswith("."))


# -- certificates (docker-machine makes one CA and one client certificate per storage) ------
def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _cert(subject_cn: str, key: Any, issuer: Any | None, issuer_key: Any | None, *, ca: bool = False,
          server_ips: list[str] | None = None, client: bool = False) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "swarmlab-standin"),
                      x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer.subject if issuer is not None else name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=30)))
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=True, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=True, crl_sign=True,
                                          encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        usage = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
        b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if server_ips:
        sans: list[Any] = [x509.DNSName("localhost")]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())


def ensure_client_certs(store: Store) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    store.certs.mkdir(parents=True, exist_ok=True)
    if (store.certs / "cert.pem").exists():
        return
    print(f"Creating CA: {store.certs / 'ca.pem'}")
    ca_key = _key()
    ca = _cert("swarmlab-standin CA", ca_key, None, None, ca=True)
    ckey = _key()
    cert = _cert("docker", ckey, ca, ca_key, client=True)
    _write(store.certs / "ca-key.pem", _pem_key(ca_key))
    _write(store.certs / "ca.pem", ca.public_bytes(serialization.Encoding.PEM))
    print(f"Creating client certificate: {store.certs / 'cert.pem'}")
    _write(store.certs / "key.pem", _pem_key(ckey))
    _write(store.certs / "cert.pem", cert.public_bytes(serialization.Encoding.PEM))
    del x509


def server_cert(store: Store, ips: list[str]) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = x509.load_pem_x509_certificate((store.certs / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((store.certs / "ca-key.pem").read_bytes(), None)
    key = _key()
    cert = _cert("swarmlab-standin server", key, ca, ca_key, server_ips=ips)
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


# -- the engine behind the "VMs" --------------------------------------------------------------
def host() -> Any:
    import docker

    return docker.from_env(version="auto", timeout=60)


def container_name(store: Store, name: str) -> str:
    return f"swarmlab-dm-{store.tag}-{name}"


def find_container(store: Store, name: str) -> Any | None:
    import docker.errors

    if not NAME_RE.fullmatch(name):  # docker-machine never made a VM of that name
        return None
    try:
        return host().containers.get(container_name(store, name))
    except docker.errors.NotFound:
        return None


def tls_client(store: Store, name: str, port: int, timeout: float) -> Any:
    import docker
    import docker.tls

    d = store.dir(name)
    tls = docker.tls.TLSConfig(client_cert=(str(d / "cert.pem"), str(d / "key.pem")),
                               ca_cert=str(d / "ca.pem"), verify=True)
    client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{port}", tls=tls, version="1.41",
                                 timeout=max(1, int(timeout)))
    # REQUESTS_CA_BUNDLE would otherwise replace the machine's CA (docker/docker-py#2433)
    client.api.trust_env = False
    return client


def machine_state(store: Store, name: str, timeout: float = 10.0) -> dict[str, str]:
    """One row of ``ls``: State, URL, DockerVersion, Error (as attemptGetHostState does)."""
    cfg = store.config(name)
    c = find_container(store, name)
    row = {"Name": name, "Active": "-", "ActiveHost": "false", "ActiveSwarm": "false",
           "DriverName": cfg.get("DriverName", "virtualbox"), "State": "Error", "URL": "",
           "Swarm": "", "DockerVersion": "Unknown", "Error": "", "SwarmOptions": "",
           "EngineOptions": "", "ResponseTime": "0s"}
    if c is None:
        row["Error"] = "machine does not exist"
        return row
    status = c.status
    if status != "running":
        row["State"] = {"exited": "Stopped", "created": "Stopped", "paused": "Paused"}.get(status, "Error")
        return row
    port = int(cfg["StandIn"]["Port"])
    row["URL"] = f"tcp://127.0.0.1:{port}"
    row["State"] = "Running"
    begin = time.monotonic()
    try:
        client = tls_client(store, name, port, timeout)
        row["DockerVersion"] = "v" + str(client.version()["Version"])
        client.close()
    except Exception as e:  # noqa: BLE001
        if time.monotonic() - begin >= timeout - 0.2:
            return {**row, "State": "Timeout", "URL": "", "DockerVersion": "",
                    "ResponseTime": f"{int(timeout)}s"}
        row["Error"] = f"Unable to query docker version: {e}".replace("\n", " ")
    row["ResponseTime"] = f"{int((time.monotonic() - begin) * 1000)}ms"
    if os.environ.get("DOCKER_HOST") == row["URL"]:
        row["Active"], row["ActiveHost"] = "*", "true"
    return row


# -- commands ----------------------------------------------------------------------------
def cmd_create(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    import docker
    import docker.errors
    import docker.types

    from swarmlab.providers.dind import CAPABILITY_MODE

    driver = get(flags, "driver", "d", default="virtualbox")
    if driver != "virtualbox":
        raise Fail(f"Driver {driver!r} not found. Do you have the plugin binary accessible in your PATH?")
    if len(args) != 1:
        raise Usage("Error: No machine name specified" if not args else "Invalid command line. Found extra arguments "
                    + str(args[1:]))
    name = args[0]
    if not NAME_RE.fullmatch(name):  # Go's $ is the end of the text
        raise Fail('Error creating machine: Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -')
    if store.dir(name).exists():
        raise Fail(f'Docker machine "{name}" already exists')
    cidr = get(flags, "virtualbox-hostonly-cidr", default="192.168.99.1/24") or ""
    memory = get(flags, "virtualbox-memory", default="1024")
    cpus = get(flags, "virtualbox-cpu-count", default="1")
    labels = flags.get("engine-label", [])
    print("Running pre-create checks...")
    try:
        iface = ipaddress.ip_interface(cidr)
    except ValueError:
        raise Fail(f"Error with pre-create check: \"invalid CIDR address: {cidr}\"") from None
    ensure_client_certs(store)
    print("Creating machine...")
    d = store.dir(name)
    d.mkdir(parents=True)
    for f in ("ca.pem", "cert.pem", "key.pem"):
        shutil.copy(store.certs / f, d / f)
        (d / f).chmod(0o600)
    engine_labels = dict(lb.split("=", 1) for lb in labels if "=" in lb)
    lab = engine_labels.get("io.swarmlab.lab", "standin")
    cfg: dict[str, Any] = {
        "ConfigVersion": 3,
        "Driver": {"IPAddress": "", "MachineName": name, "SSHUser": "docker", "SSHPort": 0,
                   "StorePath": str(store.root), "CPU": int(cpus or 1), "Memory": int(memory or 1024),
                   "DiskSize": int(get(flags, "virtualbox-disk-size", default="20000") or 20000),
                   "Boot2DockerURL": get(flags, "virtualbox-boot2docker-url", default=""),
                   "HostOnlyCIDR": cidr},
        "DriverName": "virtualbox",
        "HostOptions": {"EngineOptions": {"Labels": labels, "InsecureRegistry": [], "Env": []},
                        "SwarmOptions": {"IsSwarm": False},
                        "AuthOptions": {"CertDir": str(store.certs), "CaCertPath": str(store.certs / "ca.pem"),
                                        "ClientCertPath": str(store.certs / "cert.pem"),
                                        "ClientKeyPath": str(store.certs / "key.pem"),
                                        "ServerCertPath": str(d / "server.pem"),
                                        "ServerKeyPath": str(d / "server-key.pem"),
                                        "StorePath": str(d)}},
        "Name": name,
        "StandIn": {"Container": "", "Port": 0},
    }
    store.save(name, cfg)
    print(f"({name}) Creating VirtualBox VM...")
    if iface.ip not in VBOX_ALLOWED:
        # VirtualBox >= 6.1.28 refuses host-only networks outside 192.168.56.0/21
        raise Fail(
            "Error creating machine: Error in driver during machine creation: Error setting up host "
            "only network on machine start: /usr/bin/VBoxManage hostonlyif ipconfig vboxnet1 "
            f"--ip {iface.ip} --netmask {iface.netmask} failed:\nVBoxManage: error: Code "
            "E_ACCESSDENIED (0x80070005) - Access denied (extended info not available)"
        )
    h = host()
    net_name = f"swarmlab-dm-{store.tag}-hostonly"
    common = {"io.swarmlab.lab": lab, "io.swarmlab.provider": "virtualbox"}
    # VirtualBox's DHCP server gives a VM the same address every time it boots (its lease
    # is kept by MAC address): each "VM" gets a fixed address on a network whose subnet is
    # written in its config, the only kind on which the engine takes one
    lock = open(store.root / ".network.lock", "a")  # noqa: SIM115 - held until the VM exists
    fcntl.flock(lock, fcntl.LOCK_EX)
    nets = h.networks.list(names=[net_name])
    for attempt in range(5 if not nets else 0):  # another network may take the subnet meanwhile
        netlabels = {**common, "io.swarmlab.role": "standin-network"}
        made = h.networks.create(net_name, driver="bridge", labels=netlabels)
        cfg_net = ((made.attrs.get("IPAM") or {}).get("Config") or [{}])[0]
        made.remove()
        pool = docker.types.IPAMPool(subnet=cfg_net["Subnet"], gateway=cfg_net["Gateway"])
        try:
            h.networks.create(net_name, driver="bridge", labels=netlabels,
                              ipam=docker.types.IPAMConfig(pool_configs=[pool]))
            break
        except docker.errors.APIError as e:
            if "overlaps" not in str(e) or attempt == 4:
                raise
    net = h.networks.get(net_name)
    cfg_net = ((net.attrs.get("IPAM") or {}).get("Config") or [{}])[0]
    taken = {cfg_net.get("Gateway")}
    for other in h.containers.list(all=True, filters={"network": net_name}):
        ep = (other.attrs["NetworkSettings"]["Networks"].get(net_name) or {})
        taken |= {ep.get("IPAddress"), (ep.get("IPAMConfig") or {}).get("IPv4Address")}
    fixed = next(str(a) for a in ipaddress.ip_network(cfg_net["Subnet"]).hosts() if str(a) not in taken)
    cname = container_name(store, name)
    vol = h.volumes.create(f"{cname}-disk", labels={**common, "io.swarmlab.role": "standin-disk",
                                                   "io.swarmlab.machine": name})
    engine_flags = " ".join(f"--label '{lb}'" for lb in labels)
    script = (
        "mkdir -p /var/lib/boot2docker; "
        "while [ ! -s /var/lib/boot2docker/server-key.pem ]; do sleep 0.05; done; "
        "exec dockerd --tlsverify --tlscacert=/var/lib/boot2docker/ca.pem "
        "--tlscert=/var/lib/boot2docker/server.pem --tlskey=/var/lib/boot2docker/server-key.pem "
        f"-H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock {engine_flags} "
        ">>/var/log/docker.log 2>&1"
    )
    labels_c = {**common, "io.swarmlab.role": "standin-vm", "io.swarmlab.machine": name,
                "io.swarmlab.standin.storage": str(store.root)}
    print(f"({name}) Starting the VM...")
    api = h.api
    cid = None
    for mode in ("privileged", "capabilities"):
        binds = {vol.name: {"bind": "/var/lib/docker", "mode": "rw"}}
        extra: dict[str, Any] = {"privileged": True}
        if mode == "capabilities":  # engines that refuse --privileged (see swarmlab.providers.dind)
            extra = dict(CAPABILITY_MODE)
            binds["/sys/fs/cgroup"] = {"bind": "/sys/fs/cgroup", "mode": "rw"}
        hc = api.create_host_config(binds=binds, init=True, port_bindings={2376: ("127.0.0.1", None)},
                                    network_mode=net_name, **extra)
        if mode == "capabilities":
            hc["MaskedPaths"], hc["ReadonlyPaths"] = [], []
        nc = api.create_networking_config({net_name: api.create_endpoint_config(ipv4_address=fixed)})
        cid = api.create_container(NODE_IMAGE, command=["sh", "-c", script], name=cname, hostname=name,
                                   labels=labels_c, environment={"DOCKER_TLS_CERTDIR": ""},
                                   ports=[2376], host_config=hc, networking_config=nc)["Id"]
        try:
            api.start(cid)
            break
        except docker.errors.APIError as e:
            api.remove_container(cid, force=True)
            if mode == "capabilities" or "operation not permitted" not in str(e).lower():
                raise
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    c = h.containers.get(cid)
    print("Waiting for machine to be running, this may take a few minutes...")
    c.reload()
    ip = c.attrs["NetworkSettings"]["Networks"][net_name]["IPAddress"]
    port = int(c.attrs["NetworkSettings"]["Ports"]["2376/tcp"][0]["HostPort"])
    cfg["Driver"]["IPAddress"] = ip
    cfg["StandIn"] = {"Container": c.id, "Port": port}
    store.save(name, cfg)
    print("Detecting operating system of created instance...")
    print("Provisioning with boot2docker...")
    print("Copying certs to the local machine directory...")
    cert, key = server_cert(store, [ip, "127.0.0.1"])
    _write(d / "server.pem", cert)
    _write(d / "server-key.pem", key)
    print("Copying certs to the remote machine...")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for fname, data in (("ca.pem", (store.certs / "ca.pem").read_bytes()), ("server.pem", cert),
                            ("server-key.pem", key)):
            info = tarfile.TarInfo(fname)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    c.put_archive("/var/lib/boot2docker", buf.getvalue())
    print("Setting Docker configuration on the remote daemon...")
    print("Checking connection to Docker...")
    deadline = time.monotonic() + 90
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = tls_client(store, name, port, 5)
            client.ping()
            client.close()
            break
        except Exception as e:  # noqa: BLE001
            last = e
            if "CERTIFICATE_VERIFY_FAILED" in str(e):
                deadline = 0
            time.sleep(0.1)
    else:
        raise Fail(f"Error creating machine: Error checking the host: Error checking and/or regenerating "
                   f"the certs: {last}")
    print("Docker is up and running!")
    print("To see how to connect your Docker Client to the Docker Engine running on this virtual "
          f"machine, run: docker-machine env {name}")
    return 0


def cmd_ls(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    if args:
        raise Usage(f"Error: invalid argument: {args[0]}")
    filters: dict[str, list[str]] = {}
    for f in flags.get("filter", []):
        k, eq, v = f.partition("=")
        if not eq:
            raise Fail("Unsupported filter syntax")
        if k.lower() not in CLI["commands"]["ls"]["filter_keys"]:
            raise Fail(f"Unsupported filter key '{k.lower()}'")
        filters.setdefault(k.lower(), []).append(v)
    timeout = float(get(flags, "timeout", "t", default="10") or 10)
    names = []
    in_error: dict[str, str] = {}
    for n in store.listed():
        try:
            cfg = store.config(n)
        except Fail:
            in_error[n] = f"open {store.dir(n) / 'config.json'}: no such file or directory"
            continue
        except ValueError as e:
            in_error[n] = f"Error getting migrated host: {e}".replace("\n", "")
            continue
        if "driver" in filters and not any(v.lower() == "virtualbox" for v in filters["driver"]):
            continue
        if "name" in filters and not any(re.search(v, n) for v in filters["name"]):
            continue
        if "label" in filters:
            have = dict(lb.split("=", 1) for lb in cfg["HostOptions"]["EngineOptions"]["Labels"] if "=" in lb)
            if not any(have.get(k) is not None and have[k].lower() == v.lower()
                       for k, _, v in (lb.partition("=") for lb in filters["label"])):
                continue
        if "swarm" in filters:
            continue
        names.append(n)
    if has(flags, "quiet", "q"):
        for n in names:
            print(n)
        return 0
    rows = [machine_state(store, n, timeout) for n in names]
    if "state" in filters:
        rows = [r for r in rows if any(r["State"].lower() == s.lower() for s in filters["state"])]
    # hosts that cannot be loaded are listed whatever the filters (newHostListItemInError)
    rows += [{"Name": n, "Active": "", "ActiveHost": "false", "ActiveSwarm": "false", "DriverName": "not found",
              "State": "Error", "URL": "", "Swarm": "", "DockerVersion": "", "Error": err, "SwarmOptions": "",
              "EngineOptions": "", "ResponseTime": "0s"} for n, err in in_error.items()]
    rows.sort(key=lambda r: r["Name"].lower())
    fmt = get(flags, "format", "f") or (
        "table {{ .Name }}\t{{ .Active }}\t{{ .DriverName}}\t{{ .State }}\t{{ .URL }}\t{{ .Swarm }}\t"
        "{{ .DockerVersion }}\t{{ .Error}}")
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table"):].lstrip()
    fields = CLI["commands"]["ls"]["format_fields"]
    headers = {"Name": "NAME", "Active": "ACTIVE", "ActiveHost": "ACTIVE_HOST", "ActiveSwarm": "ACTIVE_SWARM",
               "DriverName": "DRIVER", "State": "STATE", "URL": "URL", "SwarmOptions": "SWARM_OPTIONS",
               "Swarm": "SWARM", "EngineOptions": "ENGINE_OPTIONS", "Error": "ERRORS",
               "DockerVersion": "DOCKER", "ResponseTime": "RESPONSE"}

    def render(values: dict[str, str]) -> str:
        def sub(m: re.Match[str]) -> str:
            field = m.group(1)
            if field not in fields:
                raise Fail(f'template: :1:{m.start()}: executing "" at <.{field}>: can\'t evaluate field '
                           f"{field} in type commands.HostListItem")
            return values.get(field, "")

        rest = re.sub(r"\{\{\s*([^}]*?)\s*\}\}", lambda m: "{{" + m.group(1) + "}}", fmt)
        if re.search(r"\{\{(?!\.[A-Za-z]+\}\})", rest):
            raise Fail("template: unsupported by this stand-in (only {{.Field}})")
        return re.sub(r"\{\{\.([A-Za-z]+)\}\}", sub, rest)

    lines = ([render(headers)] if table else []) + [render(r) for r in rows]
    if table:
        cells = [ln.split("\t") for ln in lines]
        widths = [max(len(c[i]) if i < len(c) else 0 for c in cells) for i in range(max(map(len, cells)))]
        lines = ["".join(c.ljust(widths[i] + 3) if i < len(row) - 1 else c for i, c in enumerate(row)).rstrip()
                 for row in cells]
    for ln in lines:
        print(ln)
    return 0


def _running(store: Store, name: str) -> tuple[dict[str, Any], Any]:
    cfg = store.config(name)
    c = find_container(store, name)
    if c is None:
        raise Fail("machine does not exist")
    if c.status != "running":
        raise Fail("Host is not running")
    return cfg, c


def cmd_ip(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    if not args:
        raise Fail("Error: No machine name(s) specified and no \"default\" machine exists")
    for n in args:
        cfg, _ = _running(store, n)
        print(cfg["Driver"]["IPAddress"])
    return 0


def cmd_url(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    cfg, _ = _running(store, _one(args))
    print(f"tcp://127.0.0.1:{cfg['StandIn']['Port']}")
    return 0


def _one(args: list[str]) -> str:
    if len(args) != 1:
        raise Fail("Error: Expected one machine name as an argument" if args else
                   'Error: No machine name(s) specified and no "default" machine exists')
    return args[0]


def _check(store: Store, name: str) -> str:
    cfg, _ = _running(store, name)
    url = f"tcp://127.0.0.1:{cfg['StandIn']['Port']}"
    try:
        c = tls_client(store, name, int(cfg["StandIn"]["Port"]), 10)
        c.ping()
        c.close()
    except Exception as e:  # noqa: BLE001
        raise Fail(f"Error checking TLS connection: {e}") from None
    return url


def cmd_config(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    name = _one(args)
    try:
        url = _check(store, name)
    except Fail as e:
        raise Fail(f"Error running connection boilerplate: {e}") from None
    d = store.dir(name)
    print(f'--tlsverify\n--tlscacert="{d / "ca.pem"}"\n--tlscert="{d / "cert.pem"}"\n'
          f'--tlskey="{d / "key.pem"}"\n-H={url}')
    return 0


def cmd_env(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    name = _one(args)
    if has(flags, "unset", "u"):
        print("unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\nunset DOCKER_CERT_PATH\nunset DOCKER_MACHINE_NAME")
        return 0
    url = _check(store, name)
    print(f'export DOCKER_TLS_VERIFY="1"\nexport DOCKER_HOST="{url}"\n'
          f'export DOCKER_CERT_PATH="{store.dir(name)}"\nexport DOCKER_MACHINE_NAME="{name}"\n'
          f"# Run this command to configure your shell: \n# eval $(docker-machine env {name})")
    return 0


def cmd_ssh(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    if not args:
        raise Fail('Error: No machine name(s) specified and no "default" machine exists')
    if args[0] in ("-help", "--help", "-h"):
        print("Usage: docker-machine ssh [arg...]\n\nLog into or run a command on a machine with SSH.")
        return 0
    name, words = args[0], args[1:]
    store.config(name)
    c = find_container(store, name)
    if c is None or c.status != "running":
        raise Fail(f'Error: Cannot run SSH command: Host "{name}" is not running')
    # the external client runs: ssh <its options> docker@IP -o ... -p PORT WORDS...; OpenSSH goes
    # on reading options after the host, up to '--' or the first word not starting with '-'
    if words and words[0] == "--":
        words = words[1:]
    elif words and words[0].startswith("-") and words[0] != "-":
        _log({"ssh_option": words[0]})
        print(f"ssh: the docker-machine stand-in does not reproduce ssh's own options: {words[0]!r} would be "
              "one", file=sys.stderr)
        raise Fail("exit status 255")  # what docker-machine prints when ssh exits 255
    if not words:
        raise Fail("this stand-in runs commands only (no interactive shell)")
    # the docker CLI, as docker-machine runs ssh: docker-py's exec_run loses a short
    # command's output when the answer's headers are read late (swarmlab/_exec.py)
    sys.stdout.flush()
    res = subprocess.run(["docker", "exec", c.id, "sh", "-c", " ".join(words)], stdin=subprocess.DEVNULL)
    if res.returncode:
        raise Fail(f"exit status {res.returncode}")
    return 0


def cmd_rm(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    if not args:
        raise Fail("Error: Expected to get one or more machine names as arguments")
    force = has(flags, "force", "f")
    if not (force or has(flags, "y")):
        sys.stdout.write("About to remove " + ", ".join(args) + "\nWARNING: This action will delete both "
                         "local reference and remote instance.\nAre you sure? (y/n): ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    else:
        print("About to remove " + ", ".join(args))
        print("WARNING: This action will delete both local reference and remote instance.")
    errors = []
    for n in args:
        if not store.dir(n).exists():
            errors.append(f'Error removing host "{n}": Docker machine "{n}" does not exist. Use '
                          '"docker-machine ls" to list machines. Use "docker-machine create" to add a new one.')
            continue
        remove_vm(store, n)
        shutil.rmtree(store.dir(n), ignore_errors=True)
        print(f"Successfully removed {n}")
    if errors:
        raise Fail("\n".join(errors))
    return 0


def remove_vm(store: Store, name: str) -> None:
    import docker.errors

    h = host()
    c = find_container(store, name)
    if c is not None:
        c.remove(force=True, v=True)
    for v in h.volumes.list(filters={"name": f"{container_name(store, name)}-disk"}):
        v.remove(force=True)
    net_name = f"swarmlab-dm-{store.tag}-hostonly"
    for net in h.networks.list(names=[net_name]):
        net.reload()
        if not net.attrs.get("Containers"):
            with contextlib.suppress(docker.errors.APIError):  # a machine is being created on it now
                net.remove()


def cmd_stop(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    for n in args:
        store.config(n)
        c = find_container(store, n)
        if c is None:
            raise Fail("machine does not exist")
        if c.status != "running":
            raise Fail(f'Machine "{n}" is already stopped.')
        print(f'Stopping "{n}"...')
        c.stop(timeout=10)
        print(f'Machine "{n}" was stopped.')
    return 0


def cmd_kill(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    """``kill``: host.Kill() logs 'Killing "NAME"...', powers the VM off (the engine gets no
    signal it could act on) and logs 'Machine "NAME" was killed.'."""
    for n in args:
        store.config(n)
        c = find_container(store, n)
        if c is None:
            raise Fail("machine does not exist")
        print(f'Killing "{n}"...')
        if c.status == "running":
            c.kill()
        print(f'Machine "{n}" was killed.')
    return 0


def cmd_start(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    for n in args:
        cfg = store.config(n)
        c = find_container(store, n)
        if c is None:
            raise Fail("machine does not exist")
        if c.status == "running":
            raise Fail(f'Machine "{n}" is already running.')
        print(f'Starting "{n}"...')
        c.start()
        c.reload()
        port = int(c.attrs["NetworkSettings"]["Ports"]["2376/tcp"][0]["HostPort"])
        ip = next(iter(c.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
        cfg["StandIn"]["Port"], cfg["Driver"]["IPAddress"] = port, ip
        store.save(n, cfg)
        print(f"({n}) Waiting for an IP...")
        print(f'Machine "{n}" was started.')
        print("Waiting for SSH to be available...")
        print("Detecting the provisioner...")
        print("Started machines may have new IP addresses. You may need to re-run the "
              "`docker-machine env` command.")
    return 0


def cmd_status(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    print(machine_state(store, _one(args))["State"])
    return 0


def cmd_version(store: Store, flags: dict[str, list[str]], args: list[str]) -> int:
    if args:
        cfg, _ = _running(store, args[0])
        c = tls_client(store, args[0], int(cfg["StandIn"]["Port"]), 10)
        print(c.version()["Version"])
        return 0
    print(CLI["version"])
    return 0


COMMANDS = {"create": cmd_create, "ls": cmd_ls, "ip": cmd_ip, "url": cmd_url, "config": cmd_config,
            "env": cmd_env, "ssh": cmd_ssh, "rm": cmd_rm, "stop": cmd_stop, "kill": cmd_kill, "start": cmd_start,
            "status": cmd_status, "version": cmd_version}


def _log(entry: dict[str, Any]) -> None:
    log = os.environ.get("SWARMLAB_STANDIN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def main(argv: list[str]) -> int:
    _log({"argv": argv, "storage": os.environ.get("MACHINE_STORAGE_PATH", "")})
    if argv in (["--version"], ["-v"]):
        print(CLI["version"])
        return 0
    try:
        gflags, rest = parse(argv, CLI["global"], "")
        if not rest:
            raise Usage("no command given")
        command, rest = rest[0], rest[1:]
        spec = CLI["commands"].get(command)
        if spec is None:
            raise Usage(f"No help topic for '{command}'")
        if command not in COMMANDS:
            raise Fail(f"the docker-machine stand-in does not implement '{command}'")
        if spec.get("skip_flag_parsing"):
            flags, args = {}, rest
        else:
            # create parses its own flags (SkipFlagParsing, then a second run without it),
            # shared ones plus the driver's; the others directly
            flags, args = parse(reorder(rest), spec, command)
        storage = get(gflags, "storage-path", "s") or os.environ.get("MACHINE_STORAGE_PATH") \
            or str(Path.home() / ".docker" / "machine")
        tamper = json.loads(os.environ.get("SWARMLAB_STANDIN_TAMPER") or "{}").get(command)
        if tamper and "stdout" in tamper:
            sys.stdout.write(tamper["stdout"].replace("{storage}", storage))
            return 0
        code = COMMANDS[command](Store(storage), flags, args)
        if tamper and "append" in tamper:
            sys.stdout.write(tamper["append"].replace("{storage}", storage))
        return code
    except Usage as e:
        print(f"Incorrect Usage. {e}", file=sys.stderr)
        return 1
    except Fail as e:
        print(str(e), file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001  (a Go binary would not print a Python traceback)
        print(f"Error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
