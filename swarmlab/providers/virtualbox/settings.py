"""The virtualbox provider's settings, checked before docker-machine runs: the host-only
network (one VirtualBox still accepts), the boot2docker ISO (pinned), the VM's size."""

from __future__ import annotations

import ipaddress
import re

from ..._errors import InvalidArgument

#: boot2docker's last release; pinned so docker-machine does not query the GitHub API.
BOOT2DOCKER_URL = (
    "https://github.com/boot2docker/boot2docker/releases/download/v19.03.12/boot2docker.iso"
)
#: The host-only network VirtualBox >= 6.1.28 allows without /etc/vbox/networks.conf.
VBOX_ALLOWED_RANGE = ipaddress.ip_network("192.168.56.0/21")
DEFAULT_HOSTONLY_CIDR = "192.168.56.1/24"


def check_hostonly_cidr(cidr: str, check_range: bool = True) -> str:
    """A host-only network for ``--virtualbox-hostonly-cidr``: the host's address and a mask,
    inside 192.168.56.0/21 (what VirtualBox 6.1.28 and later allow by default; with
    ``check_range=False`` any IPv4 address and mask)."""
    try:
        if not isinstance(cidr, str) or "/" not in cidr:
            raise ValueError(cidr)
        iface = ipaddress.ip_interface(cidr)
    except ValueError:
        raise InvalidArgument(
            f"hostonly_cidr={cidr!r} is not an address with a mask; use e.g. "
            f"{DEFAULT_HOSTONLY_CIDR!r}"
        ) from None
    if not check_range:
        if iface.version != 4 or str(iface) != cidr:
            raise InvalidArgument(f"hostonly_cidr={cidr!r}: give an IPv4 address and mask, e.g. "
                                  f"{DEFAULT_HOSTONLY_CIDR!r}")
        return str(iface)
    if iface.version != 4 or iface.ip not in VBOX_ALLOWED_RANGE or iface.network.prefixlen < 21:
        raise InvalidArgument(
            f"hostonly_cidr={cidr!r}: VirtualBox 6.1.28 and later only allow host-only "
            f"networks inside 192.168.56.0/21 (anything else fails with E_ACCESSDENIED); use "
            f"e.g. {DEFAULT_HOSTONLY_CIDR!r}, or list your range in /etc/vbox/networks.conf "
            f"and pass check_cidr=False"
        )
    if iface.ip in (iface.network.network_address, iface.network.broadcast_address):
        raise InvalidArgument(
            f"hostonly_cidr={cidr!r} names the network, not the host's address on it; use "
            f"e.g. {iface.network.network_address + 1}/{iface.network.prefixlen}"
        )
    return str(iface)


def check_sizes(memory: object, cpus: object, disk_size: object) -> None:
    """``memory`` (MB, at least 512), ``cpus`` and ``disk_size`` (MB, or None) are whole numbers."""
    for label, value, low in (("memory", memory, 512), ("cpus", cpus, 1), ("disk_size", disk_size, 1)):
        if label == "disk_size" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgument(f"{label}={value!r}: give a whole number of at least {low}")


def check_boot2docker_url(url: object) -> str:
    """An http(s):// or file:// URL of a boot2docker ISO."""
    if not isinstance(url, str) or not re.fullmatch(r"(https?|file)://\S+", url):
        raise InvalidArgument(f"boot2docker_url={url!r}: give an http(s):// or file:// URL "
                              f"of a boot2docker ISO, e.g. {BOOT2DOCKER_URL!r}")
    return url
