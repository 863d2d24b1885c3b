"""The qemu provider: a lab's machines as real virtual machines, each its own kernel, booted
by QEMU (KVM where it works, else software emulation) from one shared base image.

What it makes, for lab ``tutorial`` (all under the lab's folder, 0700; see :mod:`.vm`):

- a VDE switch on a unix socket (``switch/``): the lab's private network, a plain Ethernet
  switch that exists only on this computer (no host interface, no bridge, no address of this
  computer on it); machines get fixed addresses on it, ``192.168.56.101`` and up (see
  :mod:`.switch`);
- per machine, a QEMU process with a copy-on-write overlay of the base image, its lab cable on
  the switch, and QEMU's user-mode NAT, through which two ports of ``127.0.0.1`` reach the
  guest: sshd (root, the lab's key; the host key made here, so checked from the first
  connection) and dockerd with TLS (the lab's CA, verified both ways). Nothing listens on any
  other address of this computer. ``lab.http`` forwards a port of 127.0.0.1 on demand.

Failures are real: ``kill`` is QEMU's ``quit`` (power cut), ``stop`` an ACPI power-button
press and a clean shutdown, ``disconnect`` pulls the VM's cable (QMP ``set_link lab off``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
import requests

from ... import _home
from ... import _tls as tls
from ..._engine import engine_client
from ..._errors import DockerError, EngineUnavailable, InvalidArgument, ProviderUnavailable
from ..._util import env_flag, error_text, parallel_map
from ..._wait import until
from ..base import (
    Capabilities,
    CreateOutcome,
    MachineInfo,
    Provider,
    RunOutput,
    check_machine_name,
    check_machine_names,
    no_machine,
)
from . import guest, host
from . import switch as net
from .vm import VM, QemuFailed, QMPError, free_port, qmp

LOCK_WAIT = 600.0
#: how long a machine may take from QEMU's start to an engine that answers (a boot under
#: software emulation takes 30-60 s, several at once on 2 cores longer)
BOOT_TIMEOUT = {"kvm": 120.0, "tcg": 420.0}
STOP_TIMEOUT = 60.0
#: every step's timeout is stretched by this (Provider.slowness): under software emulation
#: a service's task takes 10-20 s to start where a dind machine takes 1-2 s
SLOWNESS = {"kvm": 1.5, "tcg": 6.0}


class QemuProvider(Provider):
    """Machines as QEMU virtual machines on this computer."""

    name = "qemu"
    CAPABILITIES = Capabilities(shares_host_kernel=False, routing_mesh=True, memory_limits=True, boot_seconds=30.0)

    def __init__(self, lab: str, memory: int = 1024, cpus: int = 1, accel: str | None = None,
                 internet: bool | None = None) -> None:
        super().__init__(lab)
        if isinstance(memory, bool) or not isinstance(memory, int) or not 256 <= memory <= 65536:
            raise InvalidArgument(f"memory={memory!r}: give each machine's memory in MiB, from 256 "
                                  f"to 65536 (e.g. 1024)")
        if isinstance(cpus, bool) or not isinstance(cpus, int) or not 1 <= cpus <= 64:
            raise InvalidArgument(f"cpus={cpus!r}: give each machine's CPU count, from 1 to 64")
        if internet is None:  # SWARMLAB_QEMU_INTERNET=0: CI, a classroom with no way out
            internet = env_flag("SWARMLAB_QEMU_INTERNET", True)
        if not isinstance(internet, bool):
            raise InvalidArgument(f"internet={internet!r}: True (machines reach out through QEMU's "
                                  f"NAT, to pull images) or False (they reach nothing but each other)")
        self.memory, self.cpus, self.internet = memory, cpus, internet
        #: "kvm" or "tcg", and how to say it ("KVM", "software emulation: slow but real")
        self.accel, self.acceleration = host.choose_accel(accel or os.environ.get("SWARMLAB_QEMU_ACCEL") or "auto")
        self.slowness = SLOWNESS[self.accel]
        self._forwards: dict[tuple[str, int], int] = {}  # (machine, port) -> port of 127.0.0.1
        self._key_lock = threading.Lock()
        #: each running machine's SSH connections, kept for the next command (an SSH handshake
        #: costs seconds of emulated crypto in the guest); forgotten when it stops or boots
        self._shells: dict[str, Any] = {}
        self._shells_lock = threading.Lock()

    def readiness(self, engine: docker.DockerClient) -> list[tuple[bool | None, str]]:
        return host.readiness(self.acceleration)

    # -- places ------------------------------------------------------------------------
    def lab_dir(self, create: bool = False) -> Path:
        return _home.lab_dir(self.name, self.lab, create)

    def tls_dir(self) -> Path:
        return _home.make_private_dir(self.lab_dir(create=True) / "tls")

    def _vm(self, name: str) -> VM:
        return VM(self.lab_dir() / check_machine_name(name), name)

    def _machines(self) -> list[str]:
        """The machines whose state folder is in the lab's folder (names checked)."""
        folder = self.lab_dir(create=False)
        if not folder.is_dir():
            return []
        _home.check_private_dir(folder, f"the folder of lab {self.lab!r}")
        out = []
        for entry in sorted(os.listdir(folder)):
            path = folder / entry
            if entry in ("tls", "switch") or not (path / "disk.qcow2").exists():
                continue
            with contextlib.suppress(InvalidArgument):
                out.append(check_machine_name(entry))
        return out

    def _the_vm(self, name: str) -> VM:
        vm = self._vm(name)
        known = self._machines()
        if name not in known:
            raise no_machine(self.lab, name, known)
        vm.check()
        return vm

    @contextlib.contextmanager
    def _locked(self, timeout: float) -> Iterator[None]:
        with _home.locked(lambda: self.lab_dir(create=True), f"the machines of lab {self.lab!r}", timeout):
            yield

    # -- machines ------------------------------------------------------------------------
    def create(self, names: Sequence[str], timeout: float = 60.0) -> list[CreateOutcome]:
        names = check_machine_names(names)
        # everything this computer lacks is said before anything is made
        tools = host.tools()
        image = host.base_image()
        host.check_memory(sum(map(len, self._to_boot(names))), self.memory)
        with self._locked(max(LOCK_WAIT, 2 * timeout)):
            todo, stopped = self._to_boot(names)  # again: another process may have made some
            existing = set(names) - set(todo)
            host.check_memory(len(todo) + len(stopped), self.memory)
            outcomes: dict[str, CreateOutcome] = {}
            for n in names:
                if n in existing:
                    note = "found it stopped; started it" if n in stopped else "already exists and is running"
                    outcomes[n] = CreateOutcome(n, False, note)
            switch = net.ensure(self.lab_dir(), tools)
            addresses = net.free_addresses(self.lab, {self._vm(n).address() for n in self._machines()}, todo)
            made: list[str] = []
            try:
                for n in todo:
                    self._make(n, addresses[n], tools, image)
                    made.append(n)
                parallel_map(lambda n: self._boot(n, tools, image, switch), todo + stopped)
                parallel_map(lambda n: self._wait_ready(n, timeout), todo + stopped)
            except BaseException:
                for n in made:  # a half-made machine is no use: take away what this call made
                    self._remove_one(n)
                raise
            for n in todo:
                outcomes[n] = CreateOutcome(n, True, f"a QEMU virtual machine ({self.acceleration})")
        return [outcomes[n] for n in names]

    def _to_boot(self, names: Sequence[str]) -> tuple[list[str], list[str]]:
        """The machines of ``names`` a create would boot: (new ones, stopped ones)."""
        existing = set(self._machines())
        return ([n for n in names if n not in existing],
                [n for n in names if n in existing and not self._vm(n).running()])

    def _make(self, name: str, address: str, tools: host.Tools, image: Path) -> None:
        """The machine's state folder: overlay disk, keys, address (no process yet)."""
        vm = self._vm(name)
        _home.remove_inside(self.lab_dir(), vm.folder)  # what a failed create left
        _home.make_private_dir(vm.folder)
        _home.write_private(vm.folder / "address", address.encode())
        guest.key_pair(vm.folder, vm.host_key.name, name)
        done = subprocess.run([tools.qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2",
                               "-b", str(image / "disk.qcow2"), str(vm.disk)],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise ProviderUnavailable(f"qemu-img could not make the disk of {name!r}: {done.stderr.strip()}")
        vm.disk.chmod(0o600)

    def _lab_key(self) -> tuple[Path, bytes]:
        """The lab's SSH key (root's on every machine), made once: machines boot in parallel."""
        with self._key_lock:
            return guest.key_pair(self.lab_dir(create=True), "id_ed25519", f"swarmlab lab {self.lab}")

    def _boot(self, name: str, tools: host.Tools, image: Path, switch: Path) -> None:
        """Start the machine's QEMU (with fresh settings for the guest and free ports)."""
        vm = self._vm(name)
        vm.check()
        if not vm.host_key.exists():
            raise DockerError(f"machine {name!r} has lost its SSH host key ({vm.host_key}): remove it "
                              f"(lab.machine.rm({name!r})) and create it again")
        _home.check_private_file(vm.host_key, f"the SSH host key of machine {name!r}")
        self._drop_client(name)
        _, lab_public = self._lab_key()
        address = vm.address()
        if not address or ipaddress.ip_address(address) not in net.LAB_NET:
            raise DockerError(f"machine {name!r} has no valid address on the lab's network kept in "
                              f"{vm.folder / 'address'}: remove it (lab.machine.rm({name!r})) and create it again")
        _home.write_private(vm.folder / "guest.tar", guest.settings_tar(
            name=name, address=address, prefix=net.LAB_NET.prefixlen, host_key=vm.host_key,
            lab_public_key=lab_public, tls_dir=self.tls_dir()))
        _home.remove_inside(self.lab_dir(), vm.folder / "unplugged")
        mac = "52:54:00:56:00:" + f"{int(address.rsplit('.', 1)[1]):02x}"
        ports = vm.ports()
        for attempt in range(5):
            if not ports or attempt:
                ports = {"ssh": free_port(), "api": free_port()}
            vm.keep_ports(ports)
            known = f"[127.0.0.1]:{ports['ssh']} {guest.public_key_line(vm.host_key)}\n"
            _home.write_private(vm.known_hosts, known.encode())
            try:
                vm.launch(vm.command(qemu=tools.qemu, image=image, accel=self.accel, memory=self.memory,
                                     cpus=self.cpus, switch=switch, mac=mac, ports=ports, internet=self.internet))
                return
            except QemuFailed as e:
                if "hostfwd" not in str(e) and "forwarding" not in str(e):
                    raise QemuFailed(f"QEMU could not start machine {name!r}: {e}") from None
        raise ProviderUnavailable(f"no free ports on 127.0.0.1 for machine {name!r} after 5 tries")

    def _wait_ready(self, name: str, timeout: float) -> None:
        """Until the machine's engine answers over TLS and its sshd takes our key."""
        vm = self._vm(name)
        said = "QEMU started"

        def answers() -> bool:
            nonlocal said
            if not vm.running():
                raise EngineUnavailable(f"machine {name!r} powered off while booting; its console "
                                        f"said:\n{vm.console_tail(15)}")
            if any("FAILED" in line and "swarmlab-g" in line for line in vm.console_tail(200).splitlines()):
                raise EngineUnavailable(
                    f"machine {name!r} booted, but could not apply its settings from this computer "
                    f"(swarmlab-guest failed): remove it (lab.machine.rm({name!r})) and create it "
                    f"again; if that fails too, rebuild the VM image (scripts/build-vm-image "
                    f"--force). Its console said:\n{vm.console_tail(15)}")
            try:
                self.client(name).ping()
                self.run(name, "true")
                return True
            except (docker.errors.DockerException, requests.exceptions.RequestException, OSError,
                    EngineUnavailable, DockerError) as e:
                said = error_text(e)
                self._drop_client(name)
            return False

        if until(answers, max(timeout, BOOT_TIMEOUT[self.accel]), 1.0):
            return
        raise EngineUnavailable(
            f"machine {name!r} did not answer within {max(timeout, BOOT_TIMEOUT[self.accel]):.0f} s "
            f"({self.acceleration}; last: {said[:200]}). Its console said:\n{vm.console_tail(15)}")

    def list(self) -> list[MachineInfo]:
        out = []
        for n in self._machines():
            vm = self._vm(n)
            running = vm.running()
            ports = vm.ports()
            out.append(MachineInfo(
                name=n, driver=self.name, state="Running" if running else "Stopped",
                url=f"tcp://127.0.0.1:{ports['api']}" if running and ports else "",
                address=vm.address() if running else "",
                details={"accel": self.acceleration, "memory": f"{self.memory} MiB", "folder": str(vm.folder)},
            ))
        return out

    def remove(self, names: Sequence[str]) -> None:
        names = check_machine_names(names)
        with self._locked(LOCK_WAIT):
            for n in names:
                self._the_vm(n)
            parallel_map(self._remove_one, names)

    def _remove_one(self, name: str) -> None:
        self._drop_client(name)
        vm = self._vm(name)
        vm.quit()
        _home.remove_inside(self.lab_dir(), vm.folder)

    def destroy(self) -> dict[str, int]:
        """Every VM (powered off), the lab's switch, its folder (overlays, keys, sockets)."""
        left: list[str] = []
        with self._locked(LOCK_WAIT):
            machines = self._machines()
            parallel_map(self._remove_one, machines)
            net.stop(self.lab_dir())
            still = net.running_pid(self.lab_dir())
            if still is not None:
                left.append(f"the lab's switch (vde_switch, pid {still}) still runs: "
                            f"kill {still}, then destroy the lab again")
            folder = self.lab_dir(create=False)
            if not left and folder.exists():
                _home.remove_inside(folder, folder)
        self.left_behind = left
        return {"machines": len(machines), "networks": 1 if machines else 0}

    def remnants(self) -> Sequence[str]:
        pid = net.running_pid(self.lab_dir())
        return [f"network switch (vde_switch, pid {pid})"] if pid else []

    def stop(self, name: str) -> None:
        """A clean shutdown (``systemctl poweroff`` in the guest, as ``docker-machine stop``
        shuts a VM down); a guest that cannot be asked gets the ACPI power button, and one that
        ignores it a power cut after a minute."""
        vm = self._the_vm(name)
        self._drop_client(name)
        pid = vm.pid()
        if pid is None:
            return
        with contextlib.suppress(Exception):  # the connection ends with the guest: no answer
            self.run(name, "systemctl poweroff")
        self._drop_client(name)
        if not vm.wait_exit(pid, STOP_TIMEOUT * self.slowness / 2):
            vm.powerdown(STOP_TIMEOUT)

    def start(self, name: str, timeout: float = 60.0) -> None:
        vm = self._the_vm(name)
        if not vm.running():
            host.check_memory(1, self.memory)
            tools = host.tools()
            with self._locked(LOCK_WAIT):
                self._boot(name, tools, host.base_image(), net.ensure(self.lab_dir(), tools))
        self._wait_ready(name, timeout)

    # -- failures, for real --------------------------------------------------------------
    def kill(self, name: str) -> str:
        """QEMU's ``quit``: the VM stops at once, its engine says nothing to the swarm."""
        vm = self._the_vm(name)
        self._drop_client(name)
        vm.quit()
        return f"(qemu) quit   # machine {name}: powered off, no shutdown"

    def disconnect(self, name: str) -> str:
        """Pull the VM's cable on the lab's network (QMP ``set_link lab off``): it keeps
        running, and swarmlab still reaches its engine (through QEMU's NAT, not the lab's
        network); no other machine reaches it."""
        vm = self._the_vm(name)
        vm.set_link(False)
        _home.write_private(vm.folder / "unplugged", b"")
        return "(qemu) set_link lab off"

    def reconnect(self, name: str) -> str:
        vm = self._the_vm(name)
        vm.set_link(True)
        _home.remove_inside(self.lab_dir(), vm.folder / "unplugged")
        return "(qemu) set_link lab on"

    # -- one machine ---------------------------------------------------------------------
    def _running(self, name: str, need_ports: bool = True) -> tuple[VM, dict[str, int]]:
        """The machine and its forwarded ports, when it runs; else an error that says to
        start it."""
        vm = self._the_vm(name)
        ports = vm.ports()
        if not vm.running() or (need_ports and not ports):
            raise DockerError(f"machine {name!r} is not running; start it with lab.machine.start({name!r})")
        return vm, ports

    def address(self, name: str) -> str:
        vm, _ = self._running(name, need_ports=False)
        return str(ipaddress.ip_address(vm.address()))

    def _drop_client(self, name: str) -> None:
        """Forget the machine's client, SSH connections and forwarded ports (it stopped, or
        starts anew)."""
        self._clients.drop(name)
        for key in [k for k in self._forwards if k[0] == name]:
            del self._forwards[key]
        with self._shells_lock:
            shells = self._shells.pop(name, None)
        if shells is not None:
            shells.close()

    def _tls_config(self) -> docker.tls.TLSConfig:
        certs = tls.client_certs(self.tls_dir())
        return docker.tls.TLSConfig(client_cert=(str(certs.cert), str(certs.key)), ca_cert=str(certs.ca), verify=True)

    def _api_port(self, name: str) -> int:
        return self._running(name)[1]["api"]

    def connect(self, name: str) -> docker.DockerClient:
        port = self._api_port(name)
        try:
            # under emulation an engine answers a big request (an image loaded into three
            # machines at once) several times slower: its client waits that much longer
            return engine_client(f"https://127.0.0.1:{port}", tls=self._tls_config(),
                                 timeout=int(60 * self.slowness))
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise DockerError(f"cannot reach the engine of machine {name!r} ({error_text(e)}); if it "
                              f"is stopped, start it with lab.machine.start({name!r})") from None

    def _ssh(self, name: str) -> Any:
        """An SSH connection to the machine as root, its host key checked against the key
        made for it (never learned from the network)."""
        from ..ssh.transport import paramiko_module

        paramiko = paramiko_module()
        vm, ports = self._running(name)
        key_path, _ = self._lab_key()
        client = paramiko.SSHClient()
        client.load_host_keys(str(vm.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect("127.0.0.1", port=ports["ssh"], username="root", key_filename=str(key_path),
                           look_for_keys=False, allow_agent=False, timeout=10, banner_timeout=20, auth_timeout=20)
        except (paramiko.SSHException, OSError, EOFError) as e:
            client.close()
            raise EngineUnavailable(f"cannot reach machine {name!r} over SSH ({e or type(e).__name__})") from None
        return client

    def _sessions(self, name: str) -> Any:
        """The machine's SSH connections (:class:`~swarmlab.providers.ssh.transport.Sessions`),
        opened on first use and kept while they last (``ControlMaster`` for ``docker-machine
        ssh``): a command is a new session on them, not a new handshake."""
        from ..ssh.transport import Sessions

        with self._shells_lock:
            kept = self._shells.get(name)
        if kept is not None and kept.active:
            return kept
        spare = Sessions(lambda: self._ssh(name))  # connects: outside the lock
        with self._shells_lock:
            kept = self._shells.get(name)
            if kept is None or not kept.active:  # keep the new ones; close the dead ones, if any
                self._shells[name], kept, spare = spare, spare, kept
        if spare is not None:
            spare.close()
        return kept

    def run(self, name: str, command: str) -> RunOutput:
        return self._sessions(name).run(command, 600)

    def logs(self, name: str, tail: int = 30) -> str:
        """The engine's journal when the machine answers, else its serial console."""
        vm = self._vm(name)
        with contextlib.suppress(Exception):
            out = self.run(name, f"journalctl -u docker --no-pager -n {int(tail)}")
            if out.exit_code == 0:
                return out.output
        return vm.console_tail(tail) or f"(machine {name!r} has no console output)"

    def reach(self, name: str, port: int) -> tuple[str, int]:
        """A port of 127.0.0.1 forwarded to ``port`` on the machine (QMP ``hostfwd_add``,
        kept until the machine stops): what ``lab.http`` connects to."""
        vm, _ = self._running(name, need_ports=False)
        if (name, port) in self._forwards:
            return "127.0.0.1", self._forwards[name, port]
        for _ in range(5):
            local = free_port()
            try:  # the human monitor answers a failure as text ("Could not set up ...")
                said = qmp(vm.monitor, "human-monitor-command",
                           {"command-line": f"hostfwd_add nat tcp:127.0.0.1:{local}-{guest.NAT_ADDRESS}:{int(port)}"})
            except QMPError:
                continue
            if str(said or "").strip():
                continue
            self._forwards[name, port] = local
            return "127.0.0.1", local
        raise DockerError(f"could not forward a port of 127.0.0.1 to port {port} of machine {name!r}")

    # -- from a terminal -------------------------------------------------------------------
    def shell_command(self, name: str) -> tuple[str, ...]:
        vm, ports = self._running(name)
        key_path, _ = self._lab_key()
        return ("ssh", "-i", str(key_path), "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={vm.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-p", str(ports["ssh"]), "root@127.0.0.1")

    def engine_env(self, name: str) -> dict[str, str]:
        port = self._api_port(name)
        tls.client_certs(self.tls_dir())
        return {"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(self.tls_dir())}

    def create_details(self, names: Sequence[str]) -> Sequence[str]:
        accel = "-accel kvm -cpu host" if self.accel == "kvm" else "-accel tcg,thread=multi -cpu max"
        return [f"qemu-system-x86_64 {accel} -m {self.memory} -smp {self.cpus} -kernel vmlinuz -initrd "
                f"initrd.img -drive file={n}/disk.qcow2 (an overlay of {host.image_name()}) -netdev vde "
                f"(the lab's switch) -netdev user (ssh and TLS dockerd on 127.0.0.1) -daemonize" for n in names]
