"""The kernel's neighbour (ARP) table: the ceiling of a big lab on one computer.

Every machine of a swarm talks to every other (the swarm's gossip, on port 7946), so each
machine's network namespace keeps a neighbour entry for each of the others: a lab of N
machines needs about N x (N - 1) entries. The table is one for the whole kernel, shared by
every namespace, and its hard limit ``net.ipv4.neigh.default.gc_thresh3`` is 1024 on most
systems. Past it the kernel logs "neighbour: arp_cache: neighbor table overflow!" and new
connections fail with "no route to host": measured here, a 100-machine lab stopped at 50
joined nodes, and went on at once when the limit was raised.

Entries nobody used for a few seconds are collected, so a lab works up to about twice the
limit (40 machines, 1560 entries, join fine with 1024); past that, swarmlab refuses to make
the lab and says how to raise the limit, before anything is made. The check is made only
where swarmlab can read the limit of the kernel the engine runs on (the engine reports the
same kernel as this computer's and ``/proc/sys`` shows its table); elsewhere (Docker
Desktop's VM) a failed join says what to look at instead.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from pathlib import Path

from ..._errors import HostLimit

SYSCTL_DIR = Path("/proc/sys/net/ipv4/neigh/default")
KNOBS = ("gc_thresh1", "gc_thresh2", "gc_thresh3")
#: How many entries a lab may need per unit of the hard limit and still work (measured).
HEADROOM = 2


def needed(sizes: Iterable[int]) -> int:
    """Neighbour entries the labs of these sizes (machines on one network each) keep."""
    return sum(n * (n - 1) for n in sizes)


def largest_lab(limit: int) -> int:
    """The most machines one lab may have under this hard limit (alone on the computer)."""
    n = 1
    while needed([n + 1]) <= HEADROOM * limit:
        n += 1
    return n


def read_limit(folder: Path = SYSCTL_DIR) -> int | None:
    """``gc_thresh3`` of this computer's kernel, or None where it cannot be read (a network
    namespace other than the host's shows no such file)."""
    try:
        text = (folder / "gc_thresh3").read_text()[:32].strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def same_kernel(engine_kernel: object) -> bool:
    """Whether the engine runs on this computer's kernel (what it reports is untrusted: it
    is only compared)."""
    return isinstance(engine_kernel, str) and engine_kernel == platform.release()


def settings_for(entries: int) -> dict[str, int]:
    """Limits that hold ``entries`` with room to spare (powers of two, as sysctl.d files
    usually have them)."""
    hard = 1024
    while hard < 2 * entries:
        hard *= 2
    return {"gc_thresh1": hard // 8, "gc_thresh2": hard // 2, "gc_thresh3": hard}


def advice(entries: int) -> str:
    values = settings_for(entries)
    words = " ".join(f"net.ipv4.neigh.default.{k}={v}" for k, v in values.items())
    return (f"raise the kernel's neighbour table on this computer: sudo sysctl -w {words} "
            f"(to keep it after a restart, put those lines in /etc/sysctl.d/60-swarmlab.conf; "
            f"scripts/setup does both when run as root)")


def check(new: int, others: Iterable[int], engine_kernel: object, limit: int | None = None) -> None:
    """Raise :class:`HostLimit` when a lab of ``new`` machines, beside labs of the sizes
    ``others``, would overflow the kernel's neighbour table. Nothing is checked where the
    limit cannot be read."""
    if limit is None:
        if not same_kernel(engine_kernel):
            return
        limit = read_limit()
        if limit is None:
            return
    others = list(others)
    entries = needed([new, *others])
    if entries <= HEADROOM * limit:
        return
    beside = f" beside the {sum(others)} machines of the other labs here" if any(others) else ""
    raise HostLimit(
        f"a lab of {new} machines{beside} needs about {entries} entries in the kernel's "
        f"neighbour (ARP) table, and this computer allows {limit} "
        f"(net.ipv4.neigh.default.gc_thresh3): machines past that cannot reach each other "
        f"(\"no route to host\"), so swarm joins would fail. Make fewer machines, or "
        f"{advice(entries)}. Nothing was made."
    )


#: For a join that failed for good on a big lab: what to look at.
OVERFLOW_HINT = ("With many machines on one computer, the kernel's neighbour table may be full "
                 "(dmesg says 'neighbor table overflow'): raise net.ipv4.neigh.default.gc_thresh3 "
                 "(see swarmlab doctor).")
