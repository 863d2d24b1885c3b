"""The virtualbox provider's steps: :class:`VirtualBoxProvider` makes, lists, stops, starts and
removes VirtualBox VMs through docker-machine (:mod:`.command`), reading only its documented
output (:mod:`.output`), with settings checked first (:mod:`.settings`)."""

from __future__ import annotations

import os
import re
import shlex
import threading
from collections.abc import Sequence
from pathlib import Path

import docker
import docker.errors
import docker.tls

from ..._engine import engine_client
from ..._errors import (
    DockerError,
    EngineUnavailable,
    InvalidArgument,
    MachineNotFound,
    ProviderUnavailable,
    WaitTimeout,
)
from ..._util import error_text, parallel_map
from ..._wait import Progress, wait_for
from ..base import (
    LABEL_LAB,
    Capabilities,
    CreateOutcome,
    MachineInfo,
    Provider,
    RunOutput,
    check_machine_name,
    check_machine_names,
    lab_labels,
    no_machine,
)
from .command import DockerMachine, failure, find_tools
from .output import LS_FORMAT, parse_config, parse_ip, parse_ls
from .settings import (
    BOOT2DOCKER_URL,
    DEFAULT_HOSTONLY_CIDR,
    check_boot2docker_url,
    check_hostonly_cidr,
    check_sizes,
)

#: How many machines' addresses ``list`` asks docker-machine for at once.
ASK_AT_ONCE = 8


class VirtualBoxProvider(Provider):
    """Machines as VirtualBox VMs, through docker-machine."""

    name = "virtualbox"
    CAPABILITIES = Capabilities(shares_host_kernel=False, routing_mesh=True, memory_limits=True, boot_seconds=60.0)

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
        check_sizes(memory, cpus, disk_size)
        self.memory, self.cpus, self.disk_size = memory, cpus, disk_size
        self.hostonly_cidr = check_hostonly_cidr(hostonly_cidr, check_range=check_cidr)
        self.boot2docker_url = check_boot2docker_url(boot2docker_url)
        self.storage_path = os.path.abspath(os.path.expanduser(storage_path)) if storage_path else None
        self.create_timeout = create_timeout
        self.ls_timeout = ls_timeout
        self.parallel = max(1, parallel)
        #: the docker-machine executable (see :mod:`.command`)
        self.docker_machine = find_tools(docker_machine)
        self._dm = DockerMachine(self.docker_machine, self.storage_path)
        self._ips: dict[str, str] = {}
        self._lock = threading.Lock()

    def storage(self) -> Path:
        """docker-machine's storage folder, where it keeps ``machines/NAME/`` (its
        ``--storage-path``, else ``$MACHINE_STORAGE_PATH``, else ``~/.docker/machine``)."""
        return self._dm.storage()

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
        everyone = self._dm.all_names()
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
                for n, err in zip(batch, parallel_map(lambda n: self._create_one(n, limit), batch,
                                                      limit=self.parallel)):
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
            everyone = self._dm.all_names()
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
        ips = dict(zip(running, parallel_map(self._ip_or_blank, running, limit=ASK_AT_ONCE)))
        return sorted(
            (MachineInfo(name=m.name, driver=m.driver, state=m.state, url=m.url,
                         address=ips.get(m.name, ""), docker_version=m.docker_version,
                         error=m.error) for m in rows),
            key=lambda m: m.name,
        )

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

    def kill(self, name: str) -> str:
        """``docker-machine kill NAME``: VirtualBox powers the VM off at once."""
        self._known(name)
        self._forget(name)
        self._dm("kill", "--", name, timeout=300)
        return f"docker-machine kill {name}"

    def start(self, name: str, timeout: float = 90.0) -> None:
        self._known(name)
        self._forget(name)
        done = self._dm("start", "--", name, timeout=max(timeout, 300), check=False)
        if done.returncode != 0 and "already running" not in done.stderr:
            raise DockerError(f"'docker-machine start {name}' failed: {done.stderr.strip()[-2000:]}")

        def answers() -> Progress:
            try:
                self.client(name).ping()
                return Progress(True, 1, 1, "the engine answers")
            except (DockerError, EngineUnavailable, docker.errors.DockerException, OSError) as e:
                self._forget(name)  # its address or certificates may be new: ask again
                return Progress(False, 0, 1, error_text(e))

        try:
            wait_for(answers, what=f"the engine of {name!r} answering", timeout=timeout, interval=1.0)
        except WaitTimeout as e:
            if not isinstance(e.last_state, Progress):
                raise  # docker-machine itself did not finish (config): not the engine's answer
            last = e.last_state.state
            raise WaitTimeout(
                f"the engine of {name!r} did not answer within {timeout:.0f}s after "
                f"'docker-machine start' ({last}). If its address changed, run "
                f"'docker-machine regenerate-certs -f {name}'.", last_state=last) from None

    def _known(self, name: str) -> None:
        check_machine_name(name)
        known = [m.name for m in self.list()]
        if name not in known:
            raise no_machine(self.lab, name, known)

    def _forget(self, name: str) -> None:
        """Drop what is known of a machine's engine (its client, its address): it changes."""
        self._clients.drop(name)
        with self._lock:
            self._ips.pop(name, None)

    # -- one machine ---------------------------------------------------------------------------
    def address(self, name: str) -> str:
        check_machine_name(name)
        with self._lock:
            if name in self._ips:
                return self._ips[name]
        done = self._dm("ip", "--", name, timeout=60, check=False)
        if done.returncode != 0:
            raise failure(self.lab, name, "read the address of", done)
        line = parse_ip(done.stdout, name, self.docker_machine)
        with self._lock:
            self._ips[name] = line
        return line

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
            raise failure(self.lab, name, "read the TLS settings of", done)
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

    def connect(self, name: str) -> docker.DockerClient:
        cfg = self.tls_config(name)
        tls = docker.tls.TLSConfig(client_cert=(cfg["tlscert"], cfg["tlskey"]),
                                   ca_cert=cfg["tlscacert"], verify=True)
        # engine_client speaks the engine's own API version (boot2docker's Docker 19.03 knows
        # no newer than 1.40) and keeps $REQUESTS_CA_BUNDLE and proxies away from the machine
        try:
            return engine_client(cfg["host"], tls=tls)
        except (docker.errors.DockerException, OSError) as e:
            raise EngineUnavailable(
                f"the engine of {name!r} ({cfg['host']}) does not answer: {error_text(e)}") from None

    def shell_command(self, name: str) -> tuple[str, ...]:
        """``docker-machine ssh NAME``: an interactive shell on the VM."""
        self._known(name)
        return tuple(self._dm.argv("ssh", "--", name))

    def engine_env(self, name: str) -> dict[str, str]:
        """What ``docker-machine env NAME`` prints: the VM's TLS engine and its certificates."""
        cfg = self.tls_config(name)
        return {"DOCKER_HOST": cfg["host"], "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(Path(cfg["tlscert"]).parent)}

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
                raise failure(self.lab, name, "run a command on", done)
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
        with self._lock:
            self._ips.clear()
        super().close()
