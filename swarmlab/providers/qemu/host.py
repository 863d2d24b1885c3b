"""What the qemu provider needs from this computer: QEMU and the VDE switch, an accelerator
(KVM, else software emulation), enough memory, and the VM base image
(``scripts/build-vm-image``). Each missing piece is an error that says what to install or
run, raised before anything starts."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ... import _home
from ..._errors import InvalidArgument, ProviderUnavailable, SwarmlabError

#: the base image's recipe this swarmlab boots (scripts/build-vm-image's ``recipe``)
IMAGE_RECIPE = "1"
#: the Debian suites a base image is built from, with the Docker their machines run; the
#: default, and ``SWARMLAB_VM_SUITE`` chooses another (as it does for scripts/build-vm-image)
IMAGE_SUITES = {"bookworm": "20.10", "trixie": "26.1", "forky": "28.5"}
IMAGE_SUITE = "bookworm"
IMAGE_FILES = ("vmlinuz", "initrd.img", "disk.qcow2", "RECIPE")

QEMU = "qemu-system-x86_64"
ACCELS = ("auto", "kvm", "tcg")


def tool(command: str, package: str) -> str:
    """The full path of ``command``, else :class:`ProviderUnavailable` naming the package."""
    path = shutil.which(command)
    if path is None:
        raise ProviderUnavailable(
            f"the qemu provider needs {command!r}, which is not installed: on Debian/Ubuntu "
            f"'sudo apt-get install {package}' (scripts/setup --tests installs it)")
    return path


@dataclass(frozen=True)
class Tools:
    qemu: str
    qemu_img: str
    vde_switch: str


def tools() -> Tools:
    return Tools(tool(QEMU, "qemu-system-x86"), tool("qemu-img", "qemu-utils"), tool("vde_switch", "vde2"))


def kvm_usable() -> tuple[bool, str]:
    """Whether KVM can run a guest here, and why not. ``/dev/kvm`` readable and writable is
    not enough (a nested host may give the device and no working virtualisation): the CPU
    must offer it (vmx or svm in /proc/cpuinfo)."""
    if not os.path.exists("/dev/kvm"):
        return False, "no /dev/kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is not usable by this user (add yourself to the 'kvm' group)"
    try:
        with open("/proc/cpuinfo") as f:
            flags = {w for line in f if line.startswith("flags") for w in line.split()}
    except OSError:
        flags = set()
    if not flags & {"vmx", "svm"}:
        return False, "the CPU offers no hardware virtualisation (no vmx/svm: a VM without nested virtualisation)"
    return True, ""


def choose_accel(asked: str) -> tuple[str, str]:
    """(``"kvm"`` or ``"tcg"``, how to say it to the learner) for ``accel=asked``."""
    if asked not in ACCELS:
        raise InvalidArgument(f"accel={asked!r}: use 'auto' (KVM where it works, else software "
                              f"emulation), 'kvm' or 'tcg'")
    ok, why = kvm_usable()
    if asked == "kvm" and not ok:
        raise ProviderUnavailable(f"accel='kvm' asked, but KVM is not available here ({why}); "
                                  f"use accel='tcg' (software emulation: slow but real) or 'auto'")
    if asked == "kvm" or (asked == "auto" and ok):
        return "kvm", "KVM"
    return "tcg", "software emulation: slow but real" + (f" ({why})" if why else "")


def available_memory_mib() -> int | None:
    """MemAvailable from /proc/meminfo, in MiB; None where there is none (not Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(count: int, memory: int) -> None:
    """Refuse, before anything starts, machines that need more memory than is available."""
    if count <= 0:
        return
    free = available_memory_mib()
    need = count * memory
    if free is not None and need > free:
        raise ProviderUnavailable(
            f"not enough memory: {count} machine(s) × {memory} MiB = {need} MiB, and this "
            f"computer has {free} MiB available. Create fewer machines at once, give each less "
            f"(Lab(..., provider='qemu', memory=768)), or stop other labs first.")


def image_name() -> str:
    """The base image's name: ``qemu-SUITE-rRECIPE``, SUITE from ``SWARMLAB_VM_SUITE``."""
    suite = os.environ.get("SWARMLAB_VM_SUITE") or IMAGE_SUITE
    if suite not in IMAGE_SUITES:
        raise InvalidArgument(f"SWARMLAB_VM_SUITE={suite!r} is not a suite the VM image is built "
                              f"from: use one of {', '.join(IMAGE_SUITES)} (or unset it for "
                              f"{IMAGE_SUITE})")
    return f"qemu-{suite}-r{IMAGE_RECIPE}"


def image_dir() -> Path:
    """The base image's folder under swarmlab's home (checked private when it exists)."""
    return _home.home(create=False) / "images" / image_name()


def base_image() -> Path:
    """The base image's folder, checked: every file there, this user's and private, and the
    recipe this swarmlab boots. Else :class:`ProviderUnavailable` saying how to build it."""
    folder = image_dir()
    build = ("build it (about 2.5 minutes, as root, offline from Debian's packages): "
             "scripts/build-vm-image (or scripts/setup --tests)")
    if not folder.exists():
        raise ProviderUnavailable(f"the qemu provider's VM image is not built ({folder} is missing): {build}")
    _home.check_private_dir(folder.parent, "the images folder")
    _home.check_private_dir(folder, "the VM image's folder")
    for name in IMAGE_FILES:
        path = folder / name
        if not path.exists():
            raise ProviderUnavailable(f"the VM image in {folder} is incomplete ({name} is missing): {build}")
        _home.check_private_file(path, f"the VM image's {name}")
    recipe = (folder / "RECIPE").read_text().strip()
    if recipe != IMAGE_RECIPE:
        raise ProviderUnavailable(f"the VM image in {folder} is from recipe {recipe!r}, this "
                                  f"swarmlab boots recipe {IMAGE_RECIPE}: {build}")
    return folder


def qemu_version(qemu: str) -> str:
    """``qemu-system-x86_64 --version``'s first line (for the learner), '' when it fails."""
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0].strip() if out else ""


def readiness(acceleration: str) -> list[tuple[bool | None, str]]:
    """What real VMs need here (the setup check): QEMU, how fast the VMs will be
    (``acceleration``, as the provider chose it), and the VM image."""
    out: list[tuple[bool | None, str]] = []
    try:
        found = tools()
        out.append((True, f"QEMU is installed: {qemu_version(found.qemu) or found.qemu}"))
    except SwarmlabError as e:
        out.append((False, str(e)))
    out.append((True, f"acceleration: {acceleration}"))
    try:
        out.append((True, f"the VM image is built ({base_image()}); the machines' own kernel "
                          "has IPVS: the routing mesh works on them"))
    except SwarmlabError as e:
        out.append((False, str(e)))
    return out

