"""The qemu provider's parts that need no VM: what a machine is told at boot (the fw_cfg tar),
QEMU's command line (nothing listens beyond 127.0.0.1), pid files that are not ours, and the
choice of accelerator. tests/vms boots the machines."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from swarmlab._errors import InvalidArgument
from swarmlab.providers.qemu import guest, host
from swarmlab.providers.qemu.vm import VM, read_pid


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "lab"
    path.mkdir(mode=0o700)
    return path


def test_the_settings_a_machine_reads_at_boot(folder: Path) -> None:
    tls_dir = folder / "tls"
    tls_dir.mkdir(mode=0o700)
    host_key, _ = guest.key_pair(folder, "ssh_host_ed25519_key", "worker1")
    _, lab_public = guest.key_pair(folder, "id_ed25519", "swarmlab lab t")
    data = guest.settings_tar(name="worker1", address="192.168.56.102", prefix=24, host_key=host_key,
                              lab_public_key=lab_public, tls_dir=tls_dir)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        text = {n: tar.extractfile(m).read() for n, m in members.items() if m.isfile()}  # type: ignore[union-attr]
    # nothing outside the few files the guest expects, nothing absolute, owned by root
    assert all(not n.startswith("/") and ".." not in n for n in members)
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert set(text) == {"etc/hostname", "etc/resolv.conf", "etc/swarmlab/machine", "etc/ssh/ssh_host_ed25519_key",
                         "etc/ssh/ssh_host_ed25519_key.pub", "root/.ssh/authorized_keys", "etc/docker/tls/ca.pem",
                         "etc/docker/tls/server.pem", "etc/docker/tls/server-key.pem"}
    assert b"NAME=worker1\nADDRESS=192.168.56.102\nPREFIX=24\n" in text["etc/swarmlab/machine"]
    # private keys are private in the guest too
    for key in ("etc/ssh/ssh_host_ed25519_key", "root/.ssh/authorized_keys", "etc/docker/tls/server-key.pem"):
        assert members[key].mode == 0o600, key
    # the host key the guest gets is the one its known_hosts line names
    assert text["etc/ssh/ssh_host_ed25519_key.pub"].split()[:2] == guest.public_key_line(host_key).encode().split()
    assert text["root/.ssh/authorized_keys"] == lab_public and lab_public.startswith(b"ssh-ed25519 ")
    # the keys are made once, 0600, and found again
    assert guest.key_pair(folder, "id_ed25519", "swarmlab lab t")[1] == lab_public
    assert os.stat(folder / "id_ed25519").st_mode & 0o777 == 0o600


def test_qemu_listens_on_loopback_only(folder: Path) -> None:
    vm = VM(folder / "manager1", "manager1")
    cmd = vm.command(qemu="qemu-system-x86_64", image=Path("/img"), accel="tcg", memory=1024, cpus=1,
                     switch=folder / "switch", mac="52:54:00:56:00:65", ports={"ssh": 40022, "api": 40376},
                     internet=False)
    nat = cmd[cmd.index("-netdev") + 1]
    forwards = [p for p in nat.split(",") if p.startswith("hostfwd=")]
    assert forwards == ["hostfwd=tcp:127.0.0.1:40022-192.168.127.15:22",
                        "hostfwd=tcp:127.0.0.1:40376-192.168.127.15:2376"]
    assert "restrict=on" in nat and "net=192.168.127.0/24" in nat
    assert f"vde,id=lab,sock={folder / 'switch'}" in cmd
    assert "-daemonize" in cmd and "-nodefaults" in cmd
    assert not any(a.startswith(("-vnc", "-spice", "-gdb")) for a in cmd)
    assert "tcg,thread=multi,tb-size=256" in cmd
    online = vm.command(qemu="q", image=Path("/img"), accel="kvm", memory=512, cpus=2, switch=folder / "s",
                        mac="52:54:00:56:00:66", ports={"ssh": 1, "api": 2}, internet=True)
    assert "restrict=off" in online[online.index("-netdev") + 1] and "kvm" in online


def test_a_pid_file_is_trusted_only_when_ours_and_not_writable_by_others(folder: Path) -> None:
    pid_file = folder / "qemu.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    pid_file.chmod(0o644)
    assert read_pid(pid_file) == os.getpid()
    pid_file.chmod(0o666)
    assert read_pid(pid_file) is None
    pid_file.chmod(0o644)
    for bad in ("1", "0", "-5", "12abc", ""):
        pid_file.write_text(bad)
        assert read_pid(pid_file) is None
    link = folder / "link.pid"
    pid_file.write_text(str(os.getpid()))
    link.symlink_to(pid_file)
    assert read_pid(link) is None
    # our own process is alive, but it is not the machine's QEMU
    pid_file.write_text(str(os.getpid()))
    (folder / "manager1").mkdir(mode=0o700)
    (folder / "manager1" / "qemu.pid").write_text(str(os.getpid()))
    assert VM(folder / "manager1", "manager1").pid() is None


def test_the_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "kvm_usable", lambda: (False, "no /dev/kvm"))
    assert host.choose_accel("auto") == ("tcg", "software emulation: slow but real (no /dev/kvm)")
    assert host.choose_accel("tcg")[0] == "tcg"
    with pytest.raises(host.ProviderUnavailable, match="no /dev/kvm"):
        host.choose_accel("kvm")
    monkeypatch.setattr(host, "kvm_usable", lambda: (True, ""))
    assert host.choose_accel("auto") == ("kvm", "KVM")
    assert host.choose_accel("tcg")[0] == "tcg"
    with pytest.raises(host.InvalidArgument):
        host.choose_accel("hvf")


def test_memory_refused_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "available_memory_mib", lambda: 2000)
    host.check_memory(1, 1024)
    with pytest.raises(host.ProviderUnavailable, match=r"3 machine\(s\) × 1024 MiB = 3072 MiB.*2000 MiB available"):
        host.check_memory(3, 1024)


def test_every_wait_is_stretched_by_the_providers_slowness() -> None:
    """Machines under software emulation get ``slowness`` times each step's timeout."""
    import time
    from types import SimpleNamespace

    from swarmlab._errors import WaitTimeout
    from swarmlab._wait import Progress
    from swarmlab.commands._base import Command

    lab = SimpleNamespace(provider=SimpleNamespace(slowness=4.0))
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout, match="not done after 1s"):
        Command(lab)._wait_for(lambda: Progress(False, state="waiting"), what="x", timeout=0.25)  # type: ignore[arg-type]
    assert time.monotonic() - t0 >= 0.95


@pytest.mark.parametrize("suite", ["bookworm", "trixie", "forky"])
def test_the_image_booted_is_the_suite_chosen(suite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMLAB_VM_SUITE", suite)
    assert host.image_name() == f"qemu-{suite}-r{host.IMAGE_RECIPE}"
    assert host.image_dir().name == host.image_name()


@pytest.mark.parametrize("suite", ["sid", "../bookworm", "bookworm/../../x", "Forky"])
def test_a_suite_no_image_is_built_from_is_refused(suite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMLAB_VM_SUITE", suite)
    with pytest.raises(InvalidArgument) as e:
        host.image_dir()
    assert repr(suite) in str(e.value) and "bookworm, trixie, forky" in str(e.value)
