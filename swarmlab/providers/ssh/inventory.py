"""The ssh provider's inventory: which hosts a lab may adopt, read from ``hosts=`` (a list, a
dict, or a YAML or TOML file) or ``SWARMLAB_SSH_HOSTS``, each entry checked whole: a user
name, a host name or IP address, a port, a machine name, an address to advertise."""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._errors import InvalidArgument, ProviderUnavailable
from ..base import check_machine_name

#: a user name: letters, digits, '_', '.', '-', '@' and '$' (domain and machine accounts), not
#: starting with '-' (ssh would read it as an option)
_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@$-]{0,63}")
#: a DNS host name: dot-separated labels of letters, digits, '-' and '_', none starting with '-'
_HOST_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*")


@dataclass(frozen=True)
class Host:
    """One inventory entry: ``user@hostname:port``, maybe bound to a machine name."""

    user: str
    hostname: str
    port: int = 22
    name: str | None = None
    key: str | None = None
    address: str | None = None

    @property
    def target(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}" + (f":{self.port}" if self.port != 22 else "")


def parse_target(text: str) -> tuple[str, str, int]:
    """``user@host[:port]`` (``user@[v6]:port`` for IPv6) -> (user, host, port), each checked
    whole: a user name, a DNS host name or IP address, a port from 1 to 65535."""
    usage = (f"host {text!r}: write it as user@host or user@host:port (a user name, a host name "
             f"or IP address, a port number)")
    if not isinstance(text, str) or "@" not in text:
        raise InvalidArgument(usage)
    user, _, rest = text.rpartition("@")
    port_text = None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port_text = tail[1:]
        elif tail:
            raise InvalidArgument(f"host {text!r}: write it as user@[address]:port")
    else:
        host, colon, port = rest.partition(":")
        port_text = port if colon else None
    if port_text is not None and not (re.fullmatch(r"[0-9]{1,5}", port_text) and 0 < int(port_text) < 65536):
        raise InvalidArgument(f"host {text!r}: the port must be a number from 1 to 65535")
    if not _USER_RE.fullmatch(user):
        raise InvalidArgument(f"{usage}; the user name {user!r} has characters no user name has")
    check_host_name(host, text)
    return user, host, int(port_text) if port_text else 22


def check_host_name(host: str, entry: str) -> str:
    """A host to connect to: an IP address (no zone) or a DNS name, matched whole."""
    try:
        ipaddress.ip_address(host)
        if "%" not in host:
            return host
    except ValueError:
        if len(host) <= 253 and _HOSTNAME_RE.fullmatch(host):
            return host
    raise InvalidArgument(
        f"host {entry!r}: {host!r} is no host name or IP address (letters, digits, '-', '_' and "
        f"dots; an IPv6 address in brackets, without a zone); write it as user@host[:port]")


def check_address(address: object, entry: object) -> str:
    """An address to advertise: one IP address, no zone, matched whole."""
    try:
        if not isinstance(address, str) or "%" in address:
            raise ValueError(address)
        ipaddress.ip_address(address)
    except ValueError:
        raise InvalidArgument(f"address {address!r} of {entry!r}: give an IP address, e.g. '10.0.0.11'") from None
    return address


def _entry(item: Any, name: str | None = None) -> Host:
    if isinstance(item, str):
        if name is None and "=" in item.split("@")[0]:
            name, _, item = item.partition("=")
        user, host, port = parse_target(item)
        return Host(user, host, port, check_machine_name(name) if name is not None else None)
    if isinstance(item, Mapping):
        unknown = set(item) - {"name", "target", "key", "address"}
        if unknown or "target" not in item:
            raise InvalidArgument(
                f"inventory entry {dict(item)!r}: give 'target' (user@host[:port]) and optionally "
                f"'name', 'key', 'address'" + (f"; unknown: {sorted(unknown)}" if unknown else ""))
        user, host, port = parse_target(item["target"])
        nm = item.get("name", name)
        address = item.get("address")
        key = item.get("key")
        if key is not None and not isinstance(key, str):
            raise InvalidArgument(f"key {key!r} of {item['target']}: give the path of a private key file")
        return Host(user, host, port, check_machine_name(nm) if nm is not None else None, key or None,
                    check_address(address, item["target"]) if address is not None else None)
    raise InvalidArgument(f"inventory entry {item!r}: give 'user@host[:port]' or a dict with 'target'")


def _toml() -> Any:
    """The TOML reader: ``tomllib`` (Python 3.11+), else ``tomli`` (the same module, installed
    with ``swarmlab[ssh]`` on Python 3.10)."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ImportError:
        raise ProviderUnavailable(
            "reading a TOML inventory on Python 3.10 needs tomli: pip install 'swarmlab[ssh]' "
            "(or pip install tomli), or use a YAML inventory") from None
    return tomli


def hosts_setting(hosts: Any) -> Any:
    """``hosts=`` as given, else ``SWARMLAB_SSH_HOSTS`` (a file, or ``user@host`` entries
    separated by commas); neither is an error saying how to give one."""
    if hosts is not None:
        return hosts
    hosts = os.environ.get("SWARMLAB_SSH_HOSTS")
    if not hosts:
        raise InvalidArgument(
            "the ssh provider needs an inventory: Lab(..., provider='ssh', "
            "hosts=['user@host', ...] or hosts='lab-hosts.yaml'), or set SWARMLAB_SSH_HOSTS "
            "(a file, or user@host entries separated by commas)")
    if "@" in hosts:
        return [h.strip() for h in hosts.split(",") if h.strip()]
    return hosts


def load_inventory(hosts: Any) -> tuple[list[Host], dict[str, Any]]:
    """Read an inventory (list, dict, or YAML/TOML file); return the hosts and file options."""
    options: dict[str, Any] = {}
    if isinstance(hosts, (str, Path)) and not (isinstance(hosts, str) and "@" in hosts):
        path = Path(hosts).expanduser()
        if not path.is_file():
            raise InvalidArgument(f"inventory file {str(path)!r} does not exist")
        text = path.read_text()
        if path.suffix == ".toml":
            data = _toml().loads(text)
        elif path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ProviderUnavailable(
                    "reading a YAML inventory needs PyYAML: pip install pyyaml (or use TOML)") from None
            data = yaml.safe_load(text)
        else:
            raise InvalidArgument(f"inventory file {str(path)!r}: use a .yaml, .yml or .toml file")
        if not isinstance(data, Mapping) or "hosts" not in data:
            raise InvalidArgument(f"inventory file {str(path)!r} has no 'hosts'")
        options = {k: v for k, v in data.items() if k != "hosts"}
        unknown = set(options) - {"key", "known_hosts", "trust_new_hosts"}
        if unknown:
            raise InvalidArgument(f"inventory file {str(path)!r}: unknown settings {sorted(unknown)}")
        check_settings(f"inventory file {str(path)!r}", options.get("key"), options.get("known_hosts"),
                       options.get("trust_new_hosts"))
        hosts = data["hosts"]
    if isinstance(hosts, str):
        hosts = [hosts]
    if isinstance(hosts, Mapping):
        entries = [_entry(v, str(k)) for k, v in hosts.items()]
    elif isinstance(hosts, Sequence):
        entries = [_entry(v) for v in hosts]
    else:
        raise InvalidArgument("hosts=: give a list of 'user@host[:port]', a dict of them, or a file")
    if not entries:
        raise InvalidArgument("hosts=: the inventory is empty; name at least one user@host")
    problems = []
    checks: list[tuple[str, list[str]]] = [
        ("machine name", [e.name for e in entries if e.name]),
        ("host", [f"{e.hostname}:{e.port}" for e in entries])]
    for what, values in checks:
        twice = {v for v in values if values.count(v) > 1}
        if twice:
            problems.append(f"{what} listed twice: {sorted(map(str, twice))}")
    if problems:
        raise InvalidArgument("inventory: " + "; ".join(problems))
    return entries, options


def check_settings(where: str, key: object, known_hosts: object, trust_new_hosts: object) -> None:
    """``key`` and ``known_hosts`` are paths, ``trust_new_hosts`` is true or false: a string
    such as ``"no"`` would otherwise switch host key checking off."""
    for what, value in (("key", key), ("known_hosts", known_hosts)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise InvalidArgument(f"{where}: {what} {value!r} is not a file name; give a path")
    if trust_new_hosts is not None and not isinstance(trust_new_hosts, bool):
        raise InvalidArgument(f"{where}: trust_new_hosts {trust_new_hosts!r} must be true or false "
                              f"(a boolean, not a string)")
