"""One VM: its state folder, the QEMU process, and QEMU's monitor (QMP).

A machine's state folder (``<lab folder>/<machine>/``, 0700) holds everything that makes
the VM and finds it again: ``disk.qcow2`` (a copy-on-write overlay of the base image),
``qemu.pid``, ``qmp.sock`` (the monitor), ``console.log`` (the serial console),
``ports.json`` (the ports forwarded from 127.0.0.1), ``guest.tar`` (the settings fw_cfg
hands to the guest), ``ssh_host_ed25519_key`` and ``known_hosts``. A process is the machine's
only when the pid file names a live process whose command line holds this folder's monitor
socket: no process is ever found by name, and a recycled pid is never signalled."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

from ... import _home
from ..._errors import DockerError, ProviderUnavailable
from ..._wait import until
from .guest import API_PORT, FW_CFG_NAME, NAT_ADDRESS, NAT_DNS, NAT_GATEWAY, NAT_NET

QMP_TIMEOUT = 10.0
#: software emulation's translation cache per VM: QEMU's default (1 GiB) would double each
#: machine's memory; 256 MiB costs no measurable speed on a lab's workload
TB_SIZE_MIB = 256


class QMPError(DockerError):
    """QEMU's monitor refused a command or did not answer."""


def qmp(sock: Path, command: str, arguments: dict[str, Any] | None = None, timeout: float = QMP_TIMEOUT) -> Any:
    """Run one QMP command on the monitor socket ``sock`` and return its ``return``; events
    on the way are skipped. Raises :class:`QMPError` (or OSError when nothing listens)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        f = s.makefile("rwb")

        def answer() -> Any:
            while True:
                line = f.readline()
                if not line:
                    raise QMPError(f"QEMU's monitor closed the connection during {command!r}")
                msg = json.loads(line)
                if "return" in msg:
                    return msg["return"]
                if "error" in msg:
                    raise QMPError(f"QEMU refused {command!r}: {msg['error'].get('desc', msg['error'])}")

        if "QMP" not in json.loads(f.readline() or b"{}"):
            raise QMPError(f"{sock} is not a QEMU monitor")
        f.write(b'{"execute": "qmp_capabilities"}\n')
        f.flush()
        answer()
        f.write(json.dumps({"execute": command, "arguments": arguments or {}}).encode() + b"\n")
        f.flush()
        if command == "quit":  # QEMU may close before it answers
            with contextlib.suppress(QMPError, OSError):
                return answer()
            return None
        return answer()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (QEMU binds it; a race is caught at start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_pid(path: Path) -> int | None:
    """The pid in a pid file QEMU or vde_switch wrote (mode 0644), if the file is a plain
    file of this user that no one else may write; None otherwise."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o022 or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            return None
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 1 else None


def cmdline(pid: int) -> list[bytes]:
    """The process's command line (empty when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


class VM:
    """The files and process of one machine; ``folder`` is checked private when used."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = folder, name

    # -- files ---------------------------------------------------------------------------
    @property
    def disk(self) -> Path:
        return self.folder / "disk.qcow2"

    @property
    def monitor(self) -> Path:
        return self.folder / "qmp.sock"

    @property
    def pid_file(self) -> Path:
        return self.folder / "qemu.pid"

    @property
    def console(self) -> Path:
        return self.folder / "console.log"

    @property
    def host_key(self) -> Path:
        return self.folder / "ssh_host_ed25519_key"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    def exists(self) -> bool:
        return os.path.lexists(self.folder)

    def check(self) -> None:
        _home.check_private_dir(self.folder, f"the folder of machine {self.name!r}")

    def ports(self) -> dict[str, int]:
        """The forwarded ports (``ssh``, ``api``) kept in ports.json, each checked; {} when none."""
        path = self.folder / "ports.json"
        if not path.exists():
            return {}
        _home.check_private_file(path, f"the ports of machine {self.name!r}")
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        ports = {k: raw.get(k) for k in ("ssh", "api")}
        if not all(isinstance(p, int) and not isinstance(p, bool) and 1024 <= p < 65536 for p in ports.values()):
            return {}
        return ports

    def keep_ports(self, ports: dict[str, int]) -> None:
        _home.write_private(self.folder / "ports.json", json.dumps(ports).encode())

    def address(self) -> str:
        """The machine's address on the lab's network, as kept when it was made."""
        path = self.folder / "address"
        if not path.exists():
            return ""
        _home.check_private_file(path, f"the address of machine {self.name!r}")
        try:  # an IPv4 address or nothing: the file is read, not trusted
            return str(ipaddress.IPv4Address(path.read_text().strip()))
        except ValueError:
            return ""

    # -- the process ---------------------------------------------------------------------
    def pid(self) -> int | None:
        """The QEMU process of this machine, if it runs (checked: see the module's note)."""
        pid = read_pid(self.pid_file)
        return pid if pid is not None and self._is_mine(pid) else None

    def _is_mine(self, pid: int) -> bool:
        """Is process ``pid`` this machine's QEMU (its command line has our monitor socket)?"""
        return f"socket,id=qmp,path={self.monitor},server=on,wait=off".encode() in cmdline(pid)

    def running(self) -> bool:
        return self.pid() is not None

    def command(self, *, qemu: str, image: Path, accel: str, memory: int, cpus: int,
                switch: Path, mac: str, ports: dict[str, int], internet: bool) -> list[str]:
        """QEMU's command line for this machine."""
        fwd = (f"hostfwd=tcp:127.0.0.1:{ports['ssh']}-{NAT_ADDRESS}:22,"
               f"hostfwd=tcp:127.0.0.1:{ports['api']}-{NAT_ADDRESS}:{API_PORT}")
        nat = (f"user,id=nat,net={NAT_NET},host={NAT_GATEWAY},dns={NAT_DNS},dhcpstart={NAT_ADDRESS},"
               f"restrict={'off' if internet else 'on'},{fwd}")
        cmdline = "root=/dev/vda rw console=ttyS0 net.ifnames=0 apparmor=0 quiet"
        return [
            qemu, "-name", f"swarmlab:{self.name}", "-nodefaults", "-no-user-config",
            "-display", "none", "-vga", "none",
            "-accel", "kvm" if accel == "kvm" else f"tcg,thread=multi,tb-size={TB_SIZE_MIB}",
            "-cpu", "host" if accel == "kvm" else "max",
            "-machine", "q35", "-m", str(memory), "-smp", str(cpus),
            "-kernel", str(image / "vmlinuz"), "-initrd", str(image / "initrd.img"), "-append", cmdline,
            "-drive", f"file={self.disk},if=virtio,format=qcow2,discard=unmap",
            "-netdev", nat, "-device", "virtio-net-pci,netdev=nat",
            "-netdev", f"vde,id=lab,sock={switch}", "-device", f"virtio-net-pci,netdev=lab,mac={mac}",
            "-device", "virtio-rng-pci",
            "-fw_cfg", f"name={FW_CFG_NAME},file={self.folder / 'guest.tar'}",
            "-serial", f"file:{self.console}",
            "-chardev", f"socket,id=qmp,path={self.monitor},server=on,wait=off",
            "-mon", "chardev=qmp,mode=control",
            "-pidfile", str(self.pid_file), "-daemonize",
        ]

    def launch(self, command: list[str]) -> None:
        """Start QEMU (it daemonizes once the VM is set up; its errors come back here)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.monitor)  # a socket left by a QEMU that died
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ProviderUnavailable(f"QEMU did not start machine {self.name!r} within 60 s") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()
            raise QemuFailed(said or f"exit status {done.returncode}")

    def quit(self) -> bool:
        """Power the VM off at once (QMP ``quit``: no shutdown, as a power cut); True when it
        was running. Falls back to SIGKILL of the checked pid when the monitor fails."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(OSError, QMPError):
            qmp(self.monitor, "quit")
        if not self.wait_exit(pid, 10):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.wait_exit(pid, 10)
        return True

    def powerdown(self, timeout: float) -> None:
        """An ACPI power button press (``system_powerdown``): a guest that handles it shuts
        down cleanly; after ``timeout`` seconds, a power cut instead."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(OSError, QMPError):
            qmp(self.monitor, "system_powerdown")
        if not self.wait_exit(pid, timeout):
            self.quit()

    def wait_exit(self, pid: int, timeout: float) -> bool:
        # gone (QEMU removes its pid file before it ends)
        return until(lambda: not self._is_mine(pid), timeout, 0.1)

    def set_link(self, up: bool) -> None:
        """Plug the VM's lab-network cable in or out (QMP ``set_link lab``)."""
        qmp(self.monitor, "set_link", {"name": "lab", "up": up})

    def console_tail(self, lines: int) -> str:
        try:
            with open(self.console, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class QemuFailed(ProviderUnavailable):
    """QEMU exited at start; its own words are the message."""
