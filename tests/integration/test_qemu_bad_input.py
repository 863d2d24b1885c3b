"""The qemu provider's refusals, each before anything starts: a host without QEMU, an
accelerator that isn't there, more memory than the host has, no base image (or one from an
older recipe), a base image whose build fails (nothing half-made left), and state in a lab's
folder that is not what swarmlab wrote (a pid file naming another process). No VM boots here:
tests/vms boots them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from labtest import unique_lab_name

import swarmlab as sl
from swarmlab import _home
from swarmlab.providers.qemu import guest, host

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty swarmlab home: no VM image, no labs."""
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("SWARMLAB_HOME", str(folder))
    return folder


def nothing_made(home: Path) -> bool:
    return not (home / "labs").exists() or not any((home / "labs").rglob("*"))


def test_an_accelerator_that_is_not_there_or_unknown(home: Path) -> None:
    ok, why = host.kvm_usable()
    if ok:  # a computer with KVM: it is used when asked, and by default
        assert sl.Lab("vmkvm", provider="qemu", accel="kvm").provider.accel == "kvm"
        assert sl.Lab("vmkvm", provider="qemu").provider.acceleration == "KVM"
    else:
        with pytest.raises(sl.ProviderUnavailable, match="accel='kvm' asked, but KVM is not available") as e:
            sl.Lab("vmkvm", provider="qemu", accel="kvm")
        assert why in str(e.value) and "accel='tcg'" in str(e.value)
        lab = sl.Lab("vmkvm", provider="qemu")
        assert lab.provider.accel == "tcg" and lab.provider.acceleration.startswith("software emulation: slow but real")
    with pytest.raises(sl.InvalidArgument, match="accel='fast'"):
        sl.Lab("vmkvm", provider="qemu", accel="fast")
    for bad in ({"memory": 100}, {"memory": "1G"}, {"cpus": 0}, {"internet": "yes"}):
        [(field, value)] = bad.items()
        with pytest.raises(sl.InvalidArgument, match=re.escape(f"{field}={value!r}: ")):
            sl.Lab("vmkvm", provider="qemu", **bad)  # type: ignore[arg-type]
    assert nothing_made(home)


def test_a_host_without_qemu_is_told_which_package(home: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    lab = sl.Lab(unique_lab_name("vm"), provider="qemu", accel="tcg")
    with pytest.raises(sl.ProviderUnavailable, match=r"apt-get install qemu-system-x86"):
        lab.machine.create("manager1")
    assert nothing_made(home)


def test_no_base_image_or_an_old_one(home: Path) -> None:
    lab = sl.Lab(unique_lab_name("vm"), provider="qemu", accel="tcg")
    with pytest.raises(sl.ProviderUnavailable, match="VM image is not built .*scripts/build-vm-image"):
        lab.machine.create("manager1")
    assert nothing_made(home)
    folder = home / "images" / host.image_name()
    folder.mkdir(mode=0o700, parents=True)
    (home / "images").chmod(0o700)
    for name in host.IMAGE_FILES:
        (folder / name).write_text("0\n")
        (folder / name).chmod(0o600)
    with pytest.raises(sl.ProviderUnavailable, match="from recipe '0'.*scripts/build-vm-image"):
        lab.machine.create("manager1")
    (folder / "disk.qcow2").chmod(0o644)  # an image others could have written is not trusted
    (folder / "RECIPE").write_text(host.IMAGE_RECIPE)
    with pytest.raises(sl.InsecurePath):
        lab.machine.create("manager1")
    assert nothing_made(home)


def test_more_memory_than_the_host_has() -> None:
    """With the real VM image (scripts/setup --tests builds it): refused before the lab's
    folder exists."""
    free = host.available_memory_mib()
    assert free is not None
    per_machine = min(65536, free // 2 + 1)
    lab = sl.Lab(unique_lab_name("vm"), provider="qemu", accel="tcg", memory=per_machine)
    with pytest.raises(sl.ProviderUnavailable, match=rf"not enough memory: 3 machine\(s\) × {per_machine} MiB"):
        lab.machine.create("manager1", "worker1", "worker2")
    assert not _home.lab_dir("qemu", lab.name, create=False).exists()


def test_a_failed_image_build_leaves_nothing(home: Path) -> None:
    """debootstrap cannot reach its mirror (a closed port on loopback): the build says
    debootstrap's own words and leaves no image, not even a half-made one."""
    env = {**os.environ, "SWARMLAB_HOME": str(home), "SWARMLAB_DEBIAN_MIRROR": "http://127.0.0.1:9/debian"}
    done = subprocess.run([str(ROOT / "scripts" / "build-vm-image")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode != 0
    assert "debootstrap failed" in done.stderr and "127.0.0.1" in done.stderr, done.stderr
    assert list((home / "images").iterdir()) == []


def test_a_pid_file_naming_another_process_is_not_a_machine() -> None:
    """A machine's folder whose pid file names a process that is not its QEMU (a recycled
    pid, a planted file): the machine is listed stopped, and destroy signals no one."""
    lab = sl.Lab(unique_lab_name("vm"), provider="qemu", accel="tcg")
    folder = _home.lab_dir("qemu", lab.name) / "manager1"
    folder.mkdir(mode=0o700)
    (folder / "disk.qcow2").write_bytes(b"")
    guest.key_pair(folder, "ssh_host_ed25519_key", "manager1")
    (folder / "address").write_text("192.168.56.101")
    (folder / "address").chmod(0o600)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (folder / "qemu.pid").write_text(str(bystander.pid))
        (folder / "ports.json").write_text('{"ssh": 22, "api": "2376"}')
        (folder / "ports.json").chmod(0o600)
        rows = lab.provider.list()
        assert [(m.name, m.state, m.url) for m in rows] == [("manager1", "Stopped", "")]
        assert lab.provider._vm("manager1").ports() == {}  # ports that are not ports: none
        # an address that is not on the lab's network is never given to a machine
        (folder / "address").write_text("10.1.2.3")
        with pytest.raises(sl.DockerError, match="no valid address on the lab's network"):
            lab.machine.start("manager1")
        assert not any(str(folder) in " ".join(a) for a in _qemu_command_lines())
        lab.destroy()
        assert bystander.poll() is None  # still alive: never signalled
        assert not _home.lab_dir("qemu", lab.name, create=False).exists()
    finally:
        bystander.kill()
        bystander.wait()


def _qemu_command_lines() -> list[list[str]]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    args = [a.decode("utf-8", "replace") for a in f.read().split(b"\0")]
            except OSError:
                continue
            if args and args[0].endswith("qemu-system-x86_64"):
                out.append(args)
    return out
