"""The lab's network: a VDE switch on a unix socket in the lab's folder (``switch/``), a plain
Ethernet switch that exists only on this computer (no host interface, no bridge, no address of
this computer on it), and the fixed addresses the machines get on it, ``192.168.56.101`` and up."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ... import _home
from ..._errors import InvalidArgument, ProviderUnavailable
from ..._wait import until
from . import host
from .vm import cmdline, read_pid

#: the lab network (the switch's): the same in every lab, as each lab's switch is its own
LAB_NET = ipaddress.ip_network("192.168.56.0/24")
FIRST_HOST = 101


def folder(lab_dir: Path) -> Path:
    """The switch's socket folder in the lab's folder."""
    return lab_dir / "switch"


def running_pid(lab_dir: Path) -> int | None:
    """The lab's running vde_switch (pid file, command line holding our socket)."""
    where = folder(lab_dir)
    pid = read_pid(lab_dir / "switch.pid")
    return pid if pid is not None and str(where).encode() in cmdline(pid) else None


def ensure(lab_dir: Path, tools: host.Tools) -> Path:
    """The lab's switch, started unless it runs: its socket folder (checked private)."""
    where = folder(lab_dir)
    if running_pid(lab_dir) is None:
        _home.remove_inside(lab_dir, where)
        _home.remove_inside(lab_dir, lab_dir / "switch.pid")
        done = subprocess.run([tools.vde_switch, "--sock", str(where), "--mode", "0700",
                               "--pidfile", str(lab_dir / "switch.pid"), "--daemon"],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise ProviderUnavailable(f"the lab's network switch (vde_switch) did not start: "
                                      f"{(done.stderr or done.stdout).strip()}")
        until(lambda: (where / "ctl").exists() and running_pid(lab_dir) is not None, 5.0, 0.05)
    _home.check_private_dir(where, "the lab's network switch")
    return where


def stop(lab_dir: Path) -> None:
    """Stop the lab's switch, and wait (a few seconds at most) until its process is gone."""
    pid = running_pid(lab_dir)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 15)
        # until the process is gone, not only its pid file
        until(lambda: str(folder(lab_dir)).encode() not in cmdline(pid), 5.0, 0.1)


def free_addresses(lab: str, taken: set[str], names: Sequence[str]) -> dict[str, str]:
    """An address on the lab network for each of ``names``, none of ``taken``."""
    free = (str(LAB_NET.network_address + i) for i in range(FIRST_HOST, 255)
            if str(LAB_NET.network_address + i) not in taken)
    out = {}
    for n in names:
        addr = next(free, None)
        if addr is None:
            raise InvalidArgument(f"lab {lab!r} has no free address left on {LAB_NET} "
                                  f"(at most {255 - FIRST_HOST} machines)")
        out[n] = addr
    return out
