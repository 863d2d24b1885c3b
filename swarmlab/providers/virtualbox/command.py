"""docker-machine as a command: finding it (and VirtualBox), running it, and what its errors
mean. Machine names on its command line always follow ``--``: never an option, whatever they
are."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..._errors import DockerError, MachineNotFound, ProviderUnavailable, WaitTimeout

MAINTAINED_FORK = "https://gitlab.com/gitlab-org/ci-cd/docker-machine"


def find_vboxmanage() -> str | None:
    """VBoxManage on the PATH, or where the VirtualBox installer puts it (as docker-machine
    looks for it: ``VBOX_INSTALL_PATH`` / ``VBOX_MSI_INSTALL_PATH`` on Windows)."""
    found = shutil.which("VBoxManage") or shutil.which("vboxmanage")
    if found:
        return found
    for var in ("VBOX_INSTALL_PATH", "VBOX_MSI_INSTALL_PATH"):
        for folder in os.environ.get(var, "").split(os.pathsep):
            for exe in ("VBoxManage.exe", "VBoxManage"):
                if folder and Path(folder, exe).is_file():
                    return str(Path(folder, exe))
    return None


def find_tools(docker_machine: str | None) -> str:
    """The docker-machine to run (``docker_machine``, else ``$SWARMLAB_DOCKER_MACHINE``, else
    ``docker-machine`` on the PATH), once VirtualBox is there too; else
    :class:`ProviderUnavailable` saying where to get them."""
    exe = docker_machine or os.environ.get("SWARMLAB_DOCKER_MACHINE") or "docker-machine"
    found = shutil.which(exe)
    if not found:
        raise ProviderUnavailable(
            f"docker-machine is not installed (no {exe!r} on the PATH). The virtualbox "
            f"provider makes VirtualBox VMs through docker-machine, as the original lab did. "
            f"Docker's own docker-machine is archived: install the maintained fork from "
            f"{MAINTAINED_FORK}/-/releases (put it on the PATH as 'docker-machine', or pass "
            f"docker_machine='/path/to/it'). provider='dind' needs neither docker-machine "
            f"nor VirtualBox."
        )
    if find_vboxmanage() is None:
        raise ProviderUnavailable(
            "VirtualBox is not installed (no VBoxManage on the PATH). Install VirtualBox "
            "from https://www.virtualbox.org/wiki/Downloads (6.1.28 or later: the lab uses a "
            "host-only network in 192.168.56.0/21). It needs hardware virtualisation "
            "(VT-x/AMD-V), so it will not run inside most cloud VMs. provider='dind' needs "
            "neither VirtualBox nor docker-machine."
        )
    return found


class DockerMachine:
    """One docker-machine executable, with its storage (``--storage-path``, when given)."""

    def __init__(self, exe: str, storage_path: str | None) -> None:
        self.exe, self.storage_path = exe, storage_path

    def storage(self) -> Path:
        """docker-machine's storage folder, where it keeps ``machines/NAME/`` (its
        ``--storage-path``, else ``$MACHINE_STORAGE_PATH``, else ``~/.docker/machine``)."""
        path = self.storage_path or os.environ.get("MACHINE_STORAGE_PATH") or str(Path.home() / ".docker" / "machine")
        return Path(os.path.abspath(os.path.expanduser(path)))

    def argv(self, *args: str) -> list[str]:
        """The command line of docker-machine with ARGS (and its storage, when given)."""
        return [self.exe, *(["--storage-path", self.storage_path] if self.storage_path else []), *args]

    def __call__(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run docker-machine with ARGS; raise DockerError with its message when it fails
        (``check``), :class:`WaitTimeout` when it does not finish within ``timeout`` s."""
        argv = self.argv(*args)
        shown = " ".join(a for a in args if a != "--")
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise WaitTimeout(
                f"'docker-machine {' '.join(shown.split()[:2])}' did not finish within {timeout:.0f}s",
                last_state=(e.stdout or ""), logs=str(e.stderr or ""),
            ) from None
        except OSError as e:
            raise ProviderUnavailable(f"cannot run {self.exe}: {e}") from None
        if check and done.returncode != 0:
            raise DockerError(
                f"'docker-machine {shown}' failed: "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done

    def all_names(self) -> set[str]:
        """Every machine docker-machine knows (``ls -q``), for checks only: never used as a name."""
        return {n for n in self("ls", "-q", timeout=60).stdout.split("\n") if n}


def failure(lab: str, name: str, what: str, done: subprocess.CompletedProcess[str]) -> Exception:
    """What a failed docker-machine command on machine ``name`` means, as the error to raise:
    no such machine, a machine not running, else docker-machine's own words."""
    text = (done.stderr or done.stdout).strip()
    if "does not exist" in text:
        return MachineNotFound(
            f"lab {lab!r} has no machine {name!r}; create it with "
            f"lab.machine.create({name!r})"
        )
    if "not running" in text:
        return DockerError(
            f"machine {name!r} is not running; start it with lab.machine.start({name!r})"
        )
    return DockerError(f"failed to {what} {name}: docker-machine said: {text[-2000:]}")
