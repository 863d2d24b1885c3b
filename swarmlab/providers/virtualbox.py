"""The ``virtualbox`` provider: machines are VirtualBox VMs made by ``docker-machine``, as in
the original lab (``docker-machine create -d virtualbox manager1``).

The provider runs docker-machine as a command and reads only its documented output:

- ``create -d virtualbox`` with ``--virtualbox-memory``/``--virtualbox-cpu-count``, a host-only
  network VirtualBox still accepts (``--virtualbox-hostonly-cidr 192.168.56.1/24``: VirtualBox
  6.1.28 and later refuse host-only networks outside 192.168.56.0/21 with E_ACCESSDENIED, and
  docker-machine's default is 192.168.99.1/24), the boot2docker ISO pinned to v19.03.12 (the
  last release; docker-machine would otherwise ask the GitHub API, whose rate limit breaks
  classrooms), and the lab's labels as ``--engine-label`` (the only state: the lab's machines
  are ``docker-machine ls --filter label=io.swarmlab.lab=<lab>``).
- ``ip`` is the address the machine advertises (the host-only one, never the NAT one);
  ``config`` gives the TLS files (in ``$MACHINE_STORAGE_PATH`` or
  ``~/.docker/machine/machines/NAME/``) and the engine URL for the docker-py client;
  ``ssh NAME COMMAND`` runs commands; ``rm -y`` removes machines.
- A machine whose state is ``Timeout`` or ``Error`` in ``docker-machine ls`` is listed but not
  running, so no step uses it.

Nothing docker-machine prints is trusted: a name in ``ls`` that no machine of swarmlab's can
have (``../x``, ``-oFoo``, a name with a line break) is left alone and reported by
:meth:`VirtualBoxProvider.left_alone`, never put on a command line; ``ip`` must print one address, ``config`` the
machine's own TLS files (``<storage>/machines/NAME/``) and a ``tcp://IP:PORT`` engine with
``--tlsverify``, or the step stops with :class:`~swarmlab.ProviderUnavailable` before anything
connects. Machine names always follow ``--`` on docker-machine's command line, and a command
for ``docker-machine ssh`` cannot start with ``-`` (ssh would read it as one of its options).

Machine names are the lesson's names (``manager1``), as docker-machine knows them, so that
``docker-machine ssh manager1`` in a terminal reaches the same machine; a name docker-machine
already uses for a machine outside the lab is refused, never taken over.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import docker.errors
import docker.tls
import docker.utils

from .._engine import engine_client
from .._errors import (
    DockerError,
    EngineUnavailable,
    InvalidArgument,
    MachineNotFound,
    ProviderUnavailable,
    WaitTimeout,
)
from ._base import (
    LABEL_LAB,
    CreateOutcome,
    MachineInfo,
    Provider,
    RunOutput,
    check_machine_name,
    check_machine_names,
    lab_labels,
)

#: boot2docker's last release; pinned so docker-machine does not query the GitHub API.
BOOT2DOCKER_URL = (
    "https://github.com/boot2docker/boot2docker/releases/download/v19.03.12/boot2docker.iso"
)
#: The host-only network VirtualBox >= 6.1.28 allows without /etc/vbox/networks.conf.
VBOX_ALLOWED_RANGE = ipaddress.ip_network("192.168.56.0/21")
DEFAULT_HOSTONLY_CIDR = "192.168.56.1/24"
MAINTAINED_FORK = "https://gitlab.com/gitlab-org/ci-cd/docker-machine"
#: What ``ls --format`` asks for (fields of docker-machine's HostListItem).
LS_FORMAT = "{{.Name}}\t{{.DriverName}}\t{{.State}}\t{{.URL}}\t{{.DockerVersion}}\t{{.Error}}"
NOT_READY_STATES = ("Timeout", "Error", "None")
#: Every state docker-machine reports (libmachine/state).
STATES = ("None", "Running", "Paused", "Saved", "Stopping", "Stopped", "Starting", "Error", "Timeout")
#: An engine URL as docker-machine's virtualbox driver makes it: tcp://IP:PORT, nothing more.
_ENGINE_URL_RE = re.compile(r"tcp://(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})")
#: What ``docker-machine config`` prints, one word each (commands/config.go).
_CONFIG_WORD_RE = re.compile(r"--(tlscacert|tlscert|tlskey)=(.+)|-H=(.+)", re.DOTALL)


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


def engine_url_problem(url: str) -> str:
    """'' when ``url`` is an engine URL as docker-machine makes one (``tcp://IP:PORT``), else
    what is wrong with it."""
    m = _ENGINE_URL_RE.fullmatch(url)
    if m is None:
        return "not tcp://IP:PORT"
    try:
        ip = ipaddress.ip_address(m.group(1) or m.group(2))
    except ValueError:
        return "not an IP address"
    if ip.is_unspecified or ip.is_multicast:
        return "no machine's address"
    if not 0 < int(m.group(3)) < 65536:
        return "no port"
    return ""


def parse_ls(text: str) -> tuple[list[MachineInfo], list[str]]:
    """Rows of ``docker-machine ls --format LS_FORMAT``, and what was left alone: rows no
    machine of swarmlab's can have (its names are :func:`check_machine_name`'s), each said in
    one line starting "left alone:". Rows of other drivers (and docker-machine's "not found"
    rows, for folders it cannot read) are not the lab's and are skipped."""
    out: list[MachineInfo] = []
    left_alone: list[str] = []
    pending: list[str] = []  # lines of one name with line breaks, or tabs
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        cells = line.split("\t")
        if len(cells) != 6:
            pending.append(line)
            continue
        name, driver, state, url, version, error = cells
        if pending:
            whole = "\n".join([*pending, name])
            pending = []
            left_alone.append(_odd_name(whole))
            continue
        if driver != "virtualbox":
            continue
        try:
            check_machine_name(name)
        except InvalidArgument:
            left_alone.append(
                f"left alone: machine {name!r} (docker-machine ls): not a machine name swarmlab makes "
                f"(letters, digits and '-'); if it is yours, remove it with docker-machine rm")
            continue
        if state not in STATES:
            left_alone.append(f"left alone: machine {name!r} (docker-machine ls): state {state!r} is "
                              f"none docker-machine reports")
            continue
        if url and engine_url_problem(url):
            error = (f"docker-machine ls reported the engine URL {url!r} ({engine_url_problem(url)}), "
                     f"which swarmlab does not use; {error}").rstrip("; ")
            url = ""
        if state in NOT_READY_STATES and not error:
            error = {"Timeout": "docker-machine got no answer from the VM in time (state Timeout)",
                     "Error": "the VM is in an error state"}.get(state, "")
        out.append(MachineInfo(name=name, driver=driver, state=state, url=url,
                               docker_version="" if version == "Unknown" else version,
                               error=error))
    if pending:
        left_alone.append(_odd_name("\n".join(pending)))
    names = [m.name for m in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    left_alone += [f"left alone: machine {n!r} (docker-machine ls): listed twice, so neither is "
                   f"known to be the lab's" for n in twice]
    return [m for m in out if m.name not in twice], left_alone


def _odd_name(text: str) -> str:
    return (f"left alone: {text!r} (docker-machine ls): not one machine's row (a name with a line "
            f"break or a tab?); no machine of swarmlab's has such a name")


def parse_config(text: str, name: str = "NAME") -> dict[str, str]:
    """``docker-machine config NAME`` -> {"tlscacert", "tlscert", "tlskey", "host"}: exactly
    what docker-machine prints (``--tlsverify``, three absolute paths, ``-H=tcp://IP:PORT``),
    else :class:`ProviderUnavailable`."""
    command = f"docker-machine config {name}"

    def refuse(why: str) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"'{command}' printed {text[:500]!r}: {why}. swarmlab reaches a machine's engine only "
            f"over TLS, with the certificates docker-machine keeps for it. Run '{command}' in a "
            f"terminal to see what is wrong; 'docker-machine regenerate-certs -f {name}' makes "
            f"new certificates.")

    try:
        words = shlex.split(text)
    except ValueError:
        raise refuse("not words a shell can read") from None
    out: dict[str, str] = {}
    tlsverify = False
    for word in words:
        if word == "--tlsverify" and not tlsverify:
            tlsverify = True
            continue
        m = _CONFIG_WORD_RE.fullmatch(word)
        key = (m.group(1) or "host") if m else ""
        if not m or key in out:
            raise refuse(f"{word!r} is not what docker-machine config prints (or is there twice)")
        out[key] = m.group(2) if m.group(1) else m.group(3)
    if not tlsverify:
        raise refuse("no --tlsverify")
    missing = {"tlscacert", "tlscert", "tlskey", "host"} - set(out)
    if missing:
        raise refuse(f"no {', '.join(sorted(missing))}")
    for key in ("tlscacert", "tlscert", "tlskey"):
        if not os.path.isabs(out[key]):
            raise refuse(f"{out[key]!r} is not an absolute path")
    problem = engine_url_problem(out["host"])
    if problem:
        raise refuse(f"the engine URL {out['host']!r} is {problem}")
    return out


class VirtualBoxProvider(Provider):
    """Machines as VirtualBox VMs, through docker-machine."""

    name = "virtualbox"

    def __init__(
        self,
        lab: str,
        memory: int = 1024,
        cpus: int = 1,
        disk_size: int | None = None,
        hostonly_cidr: str = DEFAULT_HOSTONLY_CIDR,
        boot2docker_url: str = BOOT2DOCKER_URL,
        storage_path: str | None = None,
        docker_machine: str | None = None,
        create_timeout: float = 900.0,
        ls_timeout: int = 10,
        parallel: int = 3,
        check_cidr: bool = True,
    ) -> None:
        super().__init__(lab)
        for label, value, low in (("memory", memory, 512), ("cpus", cpus, 1), ("disk_size", disk_size, 1)):
            if label == "disk_size" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgument(f"{label}={value!r}: give a whole number of at least {low}")
        self.memory, self.cpus, self.disk_size = memory, cpus, disk_size
        self.hostonly_cidr = check_hostonly_cidr(hostonly_cidr, check_range=check_cidr)
        if not isinstance(boot2docker_url, str) or not re.fullmatch(r"(https?|file)://\S+", boot2docker_url):
            raise InvalidArgument(f"boot2docker_url={boot2docker_url!r}: give an http(s):// or file:// URL "
                                  f"of a boot2docker ISO, e.g. {BOOT2DOCKER_URL!r}")
        self.boot2docker_url = boot2docker_url
        self.storage_path = os.path.abspath(os.path.expanduser(storage_path)) if storage_path else None
        self.create_timeout = create_timeout
        self.ls_timeout = ls_timeout
        self.parallel = max(1, parallel)
        self.docker_machine = self._find_tools(docker_machine)
        self._clients: dict[str, docker.DockerClient] = {}
        self._ips: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- tools -----------------------------------------------------------------------------
    @staticmethod
    def _find_tools(docker_machine: str | None) -> str:
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

    def storage(self) -> Path:
        """docker-machine's storage folder, where it keeps ``machines/NAME/`` (its
        ``--storage-path``, else ``$MACHINE_STORAGE_PATH``, else ``~/.docker/machine``)."""
        path = self.storage_path or os.environ.get("MACHINE_STORAGE_PATH") or str(Path.home() / ".docker" / "machine")
        return Path(os.path.abspath(os.path.expanduser(path)))

    def _dm(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run docker-machine with ARGS; raise DockerError with its message when it fails.
        (Machine names in ARGS follow ``--``: never an option, whatever they are.)"""
        argv = [self.docker_machine]
        if self.storage_path:
            argv += ["--storage-path", self.storage_path]
        argv += list(args)
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
            raise ProviderUnavailable(f"cannot run {self.docker_machine}: {e}") from None
        if check and done.returncode != 0:
            raise DockerError(
                f"'docker-machine {shown}' failed: "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done

    def _all_names(self) -> set[str]:
        """Every machine docker-machine knows (``ls -q``), for checks only: never used as a name."""
        return {n for n in self._dm("ls", "-q", timeout=60).stdout.split("\n") if n}

    # -- machines ----------------------------------------------------------------------------
    def create_args(self, machine: str) -> list[str]:
        """The arguments of ``docker-machine create`` for one machine."""
        args = ["create", "--driver", "virtualbox",
                "--virtualbox-memory", str(self.memory),
                "--virtualbox-cpu-count", str(self.cpus),
                "--virtualbox-hostonly-cidr", self.hostonly_cidr,
                "--virtualbox-boot2docker-url", self.boot2docker_url]
        if self.disk_size:
            args += ["--virtualbox-disk-size", str(self.disk_size)]
        for k, v in lab_labels(self.lab, "machine", self.name, machine).items():
            args += ["--engine-label", f"{k}={v}"]
        return args + [machine]

    def create_command(self, names: Sequence[str]) -> str:
        return " && ".join("docker-machine " + shlex.join(self.create_args(n)) for n in names)

    def create(self, names: Sequence[str], timeout: float = 90.0) -> list[CreateOutcome]:
        names = check_machine_names(names)
        ours = {m.name: m for m in self.list()}
        everyone = self._all_names()
        taken = [n for n in names if n in everyone and n not in ours]
        if taken:
            raise InvalidArgument(
                f"docker-machine already has a machine called {', '.join(map(repr, taken))} that "
                f"is not part of lab {self.lab!r}; swarmlab will not take it over. Pick another "
                f"name, or remove it yourself with 'docker-machine rm {' '.join(taken)}'."
            )
        outcomes: dict[str, CreateOutcome] = {}
        for n in names:
            m = ours.get(n)
            if m is None:
                continue
            if m.running:
                outcomes[n] = CreateOutcome(n, False, "already exists and is running")
            elif m.state in ("Stopped", "Saved", "Paused"):
                self.start(n, timeout)
                outcomes[n] = CreateOutcome(n, False, f"found it {m.state.lower()}; started it")
            else:
                raise DockerError(
                    f"machine {n!r} exists but is in state {m.state} ({m.error or 'no detail'}); "
                    f"remove it with lab.machine.rm({n!r}) and create it again"
                )
        todo = [n for n in names if n not in outcomes]
        if todo:
            # VMs take minutes to boot: the step's timeout is raised to create_timeout
            limit = max(timeout, self.create_timeout)
            # the first VM alone when the lab has none: VirtualBox makes the host-only network
            # then, and parallel creates race to make it
            first, rest = (todo[:1], todo[1:]) if not ours else ([], todo)
            errors: dict[str, str] = {}
            for batch in (first, rest):
                if not batch or errors:
                    continue
                with ThreadPoolExecutor(max_workers=min(self.parallel, len(batch))) as pool:
                    for n, err in zip(batch, pool.map(lambda n: self._create_one(n, limit), batch)):
                        if err:
                            errors[n] = err
            if errors:
                # a half-made lab is no use to anyone: remove every machine this call made
                self._remove_quietly(todo)
                detail = "\n".join(f"--- {n} ---\n{e}" for n, e in errors.items())
                raise DockerError(
                    f"failed to create {', '.join(errors)} with docker-machine; removed the "
                    f"machines this step made ({', '.join(todo)}). docker-machine said:\n{detail}"
                )
            for n in todo:
                outcomes[n] = CreateOutcome(
                    n, True, f"VirtualBox VMs ({self.memory} MB, {self.cpus} CPU, host-only "
                    f"network {self.hostonly_cidr}, boot2docker v19.03.12)")
        return [outcomes[n] for n in names]

    def _create_one(self, machine: str, timeout: float) -> str:
        """Create one VM; return '' or what docker-machine said when it failed."""
        try:
            done = self._dm(*self.create_args(machine), timeout=timeout, check=False)
        except WaitTimeout as e:
            return str(e)
        if done.returncode != 0:
            return (done.stderr.strip() or done.stdout.strip())[-2000:]
        return ""

    def _remove_quietly(self, names: Sequence[str]) -> None:
        names = check_machine_names(names)
        try:
            everyone = self._all_names()
        except DockerError:
            everyone = set(names)
        present = [n for n in names if n in everyone]
        for n in names:
            self._forget(n)
        if present:
            self._dm("rm", "-f", "-y", "--", *present, timeout=300, check=False)

    def _ls(self) -> tuple[list[MachineInfo], list[str]]:
        done = self._dm("ls", "--timeout", str(self.ls_timeout), "--filter",
                        f"label={LABEL_LAB}={self.lab}", "--format", LS_FORMAT,
                        timeout=self.ls_timeout + 60)
        # machines whose config cannot be read are listed whatever the filter ("not found"):
        # parse_ls skips them; names no machine of swarmlab's has are left alone, and said
        return parse_ls(done.stdout)

    def left_alone(self) -> list[str]:
        """What ``docker-machine ls`` lists with the lab's label but no machine of swarmlab's
        can be (a name like ``../x`` or ``-oFoo``, one listed twice): never used, never removed."""
        return self._ls()[1]

    def list(self) -> list[MachineInfo]:
        rows, _ = self._ls()
        running = [m.name for m in rows if m.running]
        ips = dict(zip(running, self._map(self._ip_or_blank, running)))
        return sorted(
            (MachineInfo(name=m.name, driver=m.driver, state=m.state, url=m.url,
                         address=ips.get(m.name, ""), docker_version=m.docker_version,
                         error=m.error) for m in rows),
            key=lambda m: m.name,
        )

    @staticmethod
    def _map(fn, items):
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
            return list(pool.map(fn, items))

    def _ip_or_blank(self, machine: str) -> str:
        try:
            return self.address(machine)
        except (DockerError, WaitTimeout, ProviderUnavailable):
            return ""

    def remove(self, names: Sequence[str]) -> None:
        names = check_machine_names(names)
        if not names:
            return
        for n in names:
            self._forget(n)
        done = self._dm("rm", "-y", "--", *names, timeout=300, check=False)
        if done.returncode != 0:
            # -f removes docker-machine's record even when VirtualBox cannot remove the VM
            self._dm("rm", "-f", "-y", "--", *names, timeout=300)

    def destroy(self) -> dict[str, int]:
        names = [m.name for m in self.list()]
        self.remove(names)
        return {"machines": len(names)}

    def stop(self, name: str) -> None:
        self._known(name)
        self._forget(name)
        self._dm("stop", "--", name, timeout=300)

    def start(self, name: str, timeout: float = 90.0) -> None:
        self._known(name)
        self._forget(name)
        done = self._dm("start", "--", name, timeout=max(timeout, 300), check=False)
        if done.returncode != 0 and "already running" not in done.stderr:
            raise DockerError(f"'docker-machine start {name}' failed: {done.stderr.strip()[-2000:]}")
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                self.client(name).ping()
                return
            except (DockerError, docker.errors.DockerException, OSError) as e:
                last = str(e)
                self._forget(name)
                time.sleep(1)
        raise WaitTimeout(
            f"the engine of {name!r} did not answer within {timeout:.0f}s after "
            f"'docker-machine start' ({last}). If its address changed, run "
            f"'docker-machine regenerate-certs -f {name}'.", last_state=last)

    def _known(self, name: str) -> None:
        check_machine_name(name)
        if name not in {m.name for m in self.list()}:
            raise MachineNotFound(
                f"lab {self.lab!r} has no machine {name!r}; create it with "
                f"lab.machine.create({name!r})"
            )

    def _forget(self, name: str) -> None:
        with self._lock:
            client = self._clients.pop(name, None)
            self._ips.pop(name, None)
        if client is not None:
            client.close()

    # -- one machine ---------------------------------------------------------------------------
    def address(self, name: str) -> str:
        check_machine_name(name)
        with self._lock:
            if name in self._ips:
                return self._ips[name]
        done = self._dm("ip", "--", name, timeout=60, check=False)
        if done.returncode != 0:
            self._raise_for(name, "read the address of", done)
        printed = done.stdout
        line = printed[:-1] if printed.endswith("\n") else printed
        try:
            ip = ipaddress.ip_address(line)
            usable = str(ip) == line and not (ip.is_unspecified or ip.is_loopback or ip.is_multicast)
        except ValueError:
            usable = False
        if not usable:
            raise ProviderUnavailable(
                f"'docker-machine ip {name}' printed {printed[:200]!r}, which is not one address the "
                f"other machines can reach {name} at; swarmlab uses nothing else. Run "
                f"'docker-machine ip {name}' in a terminal to see what is wrong (and check that "
                f"{self.docker_machine} is docker-machine), or remove the machine with "
                f"lab.machine.rm({name!r}) and create it again.")
        with self._lock:
            self._ips[name] = line
        return line

    def _raise_for(self, name: str, what: str, done: subprocess.CompletedProcess[str]) -> None:
        text = (done.stderr or done.stdout).strip()
        if "does not exist" in text:
            raise MachineNotFound(
                f"lab {self.lab!r} has no machine {name!r}; create it with "
                f"lab.machine.create({name!r})"
            )
        if "not running" in text:
            raise DockerError(
                f"machine {name!r} is not running; start it with lab.machine.start({name!r})"
            )
        raise DockerError(f"failed to {what} {name}: docker-machine said: {text[-2000:]}")

    def tls_config(self, name: str) -> dict[str, str]:
        """What ``docker-machine config NAME`` reports: the TLS files (the machine's own, in
        ``<storage>/machines/NAME/``) and the engine URL (``tcp://IP:PORT``, TLS verified)."""
        check_machine_name(name)
        done = self._dm("config", "--", name, timeout=60, check=False)
        if done.returncode != 0:
            text = (done.stderr or done.stdout)
            if "TLS" in text or "certificate" in text.lower():
                raise EngineUnavailable(
                    f"docker-machine cannot reach the engine of {name!r} over TLS: "
                    f"{text.strip()[-1000:]}. If the VM's address changed, run "
                    f"'docker-machine regenerate-certs -f {name}'."
                )
            self._raise_for(name, "read the TLS settings of", done)
        cfg = parse_config(done.stdout, name)
        # docker-machine prints <storage>/machines/NAME/{ca,cert,key}.pem (commands/config.go)
        folder = Path(os.path.realpath(self.storage() / "machines" / name))
        for key, file in (("tlscacert", "ca.pem"), ("tlscert", "cert.pem"), ("tlskey", "key.pem")):
            if Path(os.path.realpath(cfg[key])) != folder / file:
                raise ProviderUnavailable(
                    f"'docker-machine config {name}' names {cfg[key]!r} for {file}, not the file "
                    f"docker-machine keeps for {name} ({folder / file}); swarmlab uses no other. Is "
                    f"MACHINE_STORAGE_PATH (or storage_path=) the storage docker-machine uses? "
                    f"'docker-machine regenerate-certs -f {name}' makes the machine's certificates again.")
            if not (folder / file).is_file():
                raise DockerError(f"docker-machine names {cfg[key]} for {name}, but it is missing")
        return cfg

    def client(self, name: str) -> docker.DockerClient:
        check_machine_name(name)
        with self._lock:
            cached = self._clients.get(name)
        if cached is not None:
            return cached
        cfg = self.tls_config(name)
        tls = docker.tls.TLSConfig(client_cert=(cfg["tlscert"], cfg["tlskey"]),
                                   ca_cert=cfg["tlscacert"], verify=True)
        # engine_client speaks the engine's own API version (boot2docker's Docker 19.03 knows
        # no newer than 1.40) and keeps $REQUESTS_CA_BUNDLE and proxies away from the machine
        try:
            client = engine_client(cfg["host"], tls=tls)
        except (docker.errors.DockerException, OSError) as e:
            raise EngineUnavailable(f"the engine of {name!r} ({cfg['host']}) does not answer: {e}") from None
        with self._lock:
            return self._clients.setdefault(name, client)

    def run(self, name: str, command: str) -> RunOutput:
        check_machine_name(name)
        if not isinstance(command, str) or not command.strip() or "\0" in command:
            raise InvalidArgument(f"command {command!r}: give a shell command to run on {name}, "
                                  f"e.g. 'docker node ls'")
        if command.startswith("-"):
            # docker-machine hands every word after the name to ssh, which reads a first word
            # starting with '-' as one of ITS options (-oProxyCommand=... runs on this computer);
            # '--' would end them for ssh but becomes part of the command with --native-ssh
            raise InvalidArgument(
                f"a command cannot start with '-' ({command[:80]!r}): 'docker-machine ssh {name}' "
                f"would hand it to ssh as one of its own options. Start with the program to run, "
                f"e.g. 'docker node ls'.")
        done = self._dm("ssh", name, command, timeout=600, check=False)
        out = done.stdout + done.stderr
        code = done.returncode
        if code != 0:
            if "Cannot run SSH command" in done.stderr or "does not exist" in done.stderr:
                self._raise_for(name, "run a command on", done)
            # docker-machine exits 1 and prints "exit status N" for the command's own status
            m = re.search(r"exit status (\d+)\s*$", done.stderr)
            if m:
                code = int(m.group(1))
                out = done.stdout + done.stderr[: m.start()]
        return RunOutput(code, out)

    def logs(self, name: str, tail: int = 30) -> str:
        try:
            out = self.run(name, f"tail -n {int(tail)} /var/log/docker.log")
        except (DockerError, MachineNotFound, WaitTimeout):
            return "(no log: the machine does not answer)"
        return out.output.rstrip()

    def close(self) -> None:
        for n in list(self._clients):
            self._forget(n)
        with self._lock:
            self._ips.clear()
