"""The Lab: the classic Docker Swarm lab, one method per CLI verb.

A :class:`Lab` is a set of machines from one provider and the swarm on them. It composes one
command namespace per CLI noun (:mod:`swarmlab.commands`): ``lab.machine``, ``lab.swarm``,
``lab.node``, ``lab.service``, ``lab.image``, ``lab.network``, ``lab.secret``,
``lab.config``, ``lab.stack``. Every Swarm step is written once, over docker-py,
so every provider gets it. Each method returns a result that knows the command it stands for
(``result.command``); each step that changes the swarm waits for it to converge by default
(``wait=True``), and is safe to run twice.

::

    lab = Lab("tutorial")                               # provider from SWARMLAB_PROVIDER, else dind
    lab.machine.create("manager1", "worker1", "worker2")
    lab.swarm.init("manager1")                          # docker swarm init --advertise-addr <ip>
    lab.swarm.join("worker1", "worker2")                # docker swarm join --token ... <ip>:2377
    lab.service.create("helloworld", "alpine", "ping", "docker.com")
    lab.service.scale(helloworld=5)
    lab.node.drain("worker1")
    lab.destroy()

Beyond the classic lab: ``lab.up(managers=3, workers=2)`` makes a whole swarm at once, and
``lab.machine.kill / disconnect / reconnect`` make real failures to watch it survive.
``lab.network.create('appnet')`` makes an overlay network; ``lab.exec('client', 'nslookup web')``
runs a command in a service's task, and ``lab.http('worker1', 8080)`` asks a published port.

The commands, views and exercises use only the public API below (``client``, ``manager``,
``manager_client``, ``machines``, ``swarm_info``, ``swarm_infos``, ``engine_logs``,
``use_manager``, ``forget_manager``).
"""

from __future__ import annotations

import os
import re
import shlex
import threading
import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import docker

from . import _format as fmt
from . import _offline
from ._errors import InvalidArgument, LabNotFound, SwarmStateError
from ._exec import exec_output
from ._results import HttpAnswer, Output, Result, Table, Text, mask_token
from ._util import parallel_map
from ._wait import progress_enabled
from .commands._base import UNREACHABLE, engine_errors
from .commands.clitext import format_info, natural_key
from .commands.image import Images
from .commands.machine import Machines
from .commands.network import Networks
from .commands.node import Nodes
from .commands.secret import Configs, Secrets
from .commands.service import Services
from .commands.stack import Stacks
from .commands.swarm import Swarm, has_leader
from .commands.validate import check_lab_name, check_machine_name
from .providers import DEFAULT_PROVIDER, Provider, get_provider

_PLAIN = re.compile(r"[A-Za-z0-9_./:=@%+,-]+")


def as_typed(command: str) -> str:
    """A shell command as a person would type it after ``docker-machine ssh NAME``: as it is
    when every word is plain, in double quotes when that needs no escapes, else quoted."""
    words = command.split()
    if words and all(_PLAIN.fullmatch(w) for w in words):
        return " ".join(words)
    if not any(c in command for c in '"$`\\!'):
        return f'"{command}"'
    return fmt.shell_word(command)


#: the Lab made last in this process: what ``%docker`` uses when no ``lab`` variable is a Lab
_latest: weakref.ref[Lab] | None = None


def latest() -> Lab | None:
    """The :class:`Lab` made last in this process, if it still exists."""
    return _latest() if _latest is not None else None


class Lab:
    """A Docker Swarm lab: a set of machines from one provider, and the swarm on them.

    ``Lab(name)`` makes nothing by itself: machines come from ``lab.machine.create``. A lab
    with machines already running under that name (after a kernel restart) is simply found
    again; :meth:`attach` does the same but insists that it exists.
    """

    def __init__(
        self,
        name: str = "tutorial",
        provider: str | None = None,
        *,
        progress: bool | None = None,
        offline: bool | None = None,
        **provider_options: Any,
    ) -> None:
        self.name = check_lab_name(name)
        self.provider_name = provider or os.environ.get("SWARMLAB_PROVIDER") or DEFAULT_PROVIDER
        self.provider: Provider = get_provider(self.provider_name, self.name, **provider_options)
        self.progress = progress_enabled(progress)
        self._offline = _offline.check(offline)
        self._manager: str | None = None
        self._lock = threading.Lock()
        global _latest
        _latest = weakref.ref(self)
        self.machine = Machines(self)
        self.swarm = Swarm(self)
        self.service = Services(self)
        self.node = Nodes(self)
        self.image = Images(self)
        self.network = Networks(self)
        self.secret = Secrets(self)
        self.config = Configs(self)
        self.stack = Stacks(self)

    @property
    def offline(self) -> bool:
        """Offline: never try a registry; an image no machine has is an error at once.
        ``Lab(offline=...)`` when given, else ``SWARMLAB_OFFLINE``, else chosen as the lessons
        choose (:mod:`swarmlab._offline`: online when this lab's registry mirror or Docker Hub
        answers), on first use."""
        if self._offline is None:
            self._offline = _offline.decide(None, self.provider.capabilities.registry_mirror).offline
        return self._offline

    # -- finding labs ------------------------------------------------------------------
    @classmethod
    def attach(cls, name: str, provider: str | None = None, **options: Any) -> Lab:
        """Find a running lab again by its labels (after a kernel restart, in another notebook)."""
        lab = cls(name, provider, **options)
        if not lab.provider.list():
            left = list(lab.provider.remnants())
            raise LabNotFound(
                f"no lab named {name!r} on the {lab.provider_name} provider; "
                f"create it with sl.Lab({name!r}).machine.create('manager1', ...)"
                + (f" (it has no machine, but its {', '.join(left)} is still here: "
                   f"sl.Lab({name!r}).destroy() removes it)" if left else "")
            )
        return lab

    def __repr__(self) -> str:
        return f"Lab({self.name!r}, provider={self.provider_name!r})"

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.destroy()
            return
        try:  # the learner's own error matters more than a failed cleanup
            self.destroy()
        except Exception as cleanup:  # noqa: BLE001
            note = f"(and destroying lab {self.name!r} failed too: {cleanup})"
            if hasattr(exc, "add_note"):  # Python 3.11+
                exc.add_note(note)
            else:  # Python 3.10: no notes on exceptions; say it beside the error instead
                warnings.warn(note, RuntimeWarning, stacklevel=2)

    # -- top-level verbs ---------------------------------------------------------------
    def ssh(self, machine: str, command: str) -> Output:
        """Run a shell command on a machine: ``docker-machine ssh MACHINE COMMAND``."""
        check_machine_name(machine)
        with engine_errors(f"run a command on {machine}"):
            out = self.provider.run(machine, command)
        return Output(out.output, f"docker-machine ssh {machine} {as_typed(command)}", out.exit_code)

    def exec(self, task: str, command: str | Sequence[str]) -> Output:
        """``docker exec CONTAINER COMMAND`` in a running task of a service, on the machine it
        runs on: ``task`` is a service name (its first running task) or ``NAME.SLOT``. A
        string command is split into words as a shell would (no pipes: use ``sh -c '...'``).
        The result's ``.command`` is what to type: ``docker-machine ssh worker1 docker exec
        client.1.<task id> nslookup web``."""
        words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
        if not words:
            raise InvalidArgument("say what to run, e.g. lab.exec('client', 'nslookup web')")
        machine, cid, name = self.service._running_task(task)
        with engine_errors(f"run {words[0]} in {name} on {machine}"):
            ran = exec_output(self.client(machine), cid, words)
        return Output(ran.text, f"docker-machine ssh {machine} docker exec {name} {shlex.join(words)}",
                      int(ran.code or 0))

    def http(self, machine: str, port: int, path: str = "/", *, timeout: float = 5.0) -> HttpAnswer:
        """A real HTTP GET from this computer to ``port`` on a machine's address (``curl
        http://$(docker-machine ip MACHINE):PORT/``): what a browser on this computer would
        get. A port nothing answers on gives an answer with ``status`` None that says why
        (refused, or no answer within ``timeout`` seconds); it never hangs. With a rootless
        engine the machines' addresses are inside its network namespace, out of this
        computer's reach: the request is made from inside the lab's network, by another
        machine of the lab (:mod:`swarmlab._inside`)."""
        import ipaddress

        import requests

        check_machine_name(machine)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidArgument(f"port={port!r}: give a port number from 1 to 65535, e.g. 8080")
        if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() or ord(c) < 32 for c in path):
            raise InvalidArgument(f"path={path!r}: give a path that starts with '/', e.g. '/'")
        with engine_errors(f"find the address of {machine}"):
            addr = str(ipaddress.ip_address(self.provider.address(machine)))
            where, to = self.provider.reach(machine, port)
            where = str(ipaddress.ip_address(where))
        host = f"[{where}]" if ":" in where else where
        url = f"http://{host}:{to}{path}"
        cmd = f"curl http://$(docker-machine ip {machine}):{port}{path}"
        if self.provider.capabilities.rootless:
            from . import _inside

            with engine_errors(f"reach port {port} of {machine} from inside the lab's network"):
                return _inside.get(self.provider, machine, addr, port, path, timeout, cmd)
        try:
            resp = requests.get(url, timeout=timeout, allow_redirects=False)
        except requests.exceptions.ConnectTimeout:
            return HttpAnswer(f"no answer from {machine} ({addr}) on port {port} within {timeout:g} s",
                              cmd, 28)
        except requests.exceptions.ReadTimeout:
            return HttpAnswer(f"{machine} ({addr}) took the connection on port {port} but sent no "
                              f"answer within {timeout:g} s", cmd, 28)
        except requests.exceptions.ConnectionError as e:
            why = "connection refused" if "refused" in str(e).lower() else f"no connection ({e})"
            return HttpAnswer(f"no answer from {machine} ({addr}) on port {port}: {why}", cmd, 7)
        return HttpAnswer(resp.text, cmd, 0, resp.status_code)

    def info(self, machine: str) -> Text:
        """``docker info`` on a machine, its Swarm section first."""
        check_machine_name(machine)
        with engine_errors(f"read docker info of {machine}"):
            data = self.provider.client(machine).info()
        return Text(command="docker info", body=format_info(data), data=data,
                    notes=[f"on {machine}"])

    def destroy(self) -> Text:
        """Remove every machine, volume and network of the lab (``docker-machine rm -y ...``)."""
        with engine_errors(f"destroy lab {self.name}"):
            names = sorted((m.name for m in self.provider.list()), key=natural_key)  # worker2 before worker10
            counts = self.provider.destroy()
            # what the engine refused: each with the command that clears it
            left = list(self.provider.left_behind)
            # what carries the lab's labels but is not swarmlab's: reported, never removed
            left_alone = self.provider.left_alone()
        self.forget_manager()
        what = ", ".join(f"{v} {k}" for k, v in counts.items())
        body = f"Removed lab {self.name!r}: {what}." if names or any(counts.values()) else \
            f"Lab {self.name!r} had nothing to remove."
        if left:
            body += f"\nNot removed ({len(left)}): run lab.destroy() again once cleared.\n" + "\n".join(left)
        return Text(
            command=f"docker-machine rm -y {' '.join(names)}" if names else "docker-machine rm -y",
            body=body, data={**counts, "left_behind": left}, notes=left_alone,
        )

    def up(self, managers: int = 1, workers: int = 2, *, timeout: float = 120.0) -> Table:
        """A whole swarm in one call, for a lesson's start: machines ``manager1`` ..
        ``managerN`` and ``worker1`` .. ``workerM``, the swarm initialised on ``manager1``,
        the other managers joined as managers and the workers as workers.

        It is ``lab.machine.create`` + ``lab.swarm.init`` + ``lab.swarm.join`` (each shown in
        ``.command``), so it is safe to run twice and grows a smaller lab: machines, members
        and roles already right are kept; a ``managerN`` that is a worker is promoted. It
        never removes or demotes anything. Returns ``docker node ls``."""
        for what, n, least in (("managers", managers, 1), ("workers", workers, 0)):
            if isinstance(n, bool) or not isinstance(n, int) or not least <= n <= 99:
                raise InvalidArgument(f"{what}={n!r}: give a whole number from {least} to 99")
        mgrs = [f"manager{i}" for i in range(1, managers + 1)]
        wkrs = [f"worker{i}" for i in range(1, workers + 1)]
        steps: list[Result] = [self.machine.create(*mgrs, *wkrs, timeout=timeout)]
        try:  # a swarm already managed from another machine of the lab is the one to grow
            first = self.manager()
        except SwarmStateError:
            first = mgrs[0]
            steps.append(self.swarm.init(first, timeout=timeout))
        if first not in mgrs:
            mgrs = [first, *mgrs]
        others = [m for m in mgrs if m != first]
        if others:
            steps.append(self.swarm.join(*others, role="manager", timeout=timeout))
            workers_now = [m for m in others if not (self.swarm_info(m) or {}).get("ControlAvailable")]
            if workers_now:  # members already, as workers: promoted, as `up` asks
                steps.append(self.node.promote(*workers_now, timeout=timeout))
        if wkrs:
            steps.append(self.swarm.join(*wkrs, timeout=timeout))
        self.swarm._wait_ready([*mgrs, *wkrs], timeout)
        table = self.node.ls()
        table.command = "\n".join(r.command for r in steps)
        table.notes = [n for r in steps for n in r.notes if not n.startswith("on ")]
        return table

    def dashboard(self, refresh: float = 1.5, *, history: bool = False,
                  live: bool | None = None) -> Any:
        """A live picture of the swarm: a column per node, a card per task, with controls.

        In a notebook it refreshes itself every ``refresh`` seconds in the background (unless
        ``live=False`` or ``$SWARMLAB_LIVE=0``); ``history=True`` shows finished tasks too.
        Elsewhere it is a snapshot (text, escaped HTML). See :mod:`swarmlab.views`."""
        from .views import dashboard

        return dashboard(self, refresh, history=history, live=live)

    # -- the public API the commands, views and exercises use ----------------------------
    def client(self, machine: str) -> docker.DockerClient:
        """A docker-py client for a machine's engine (cached by the provider)."""
        return self.provider.client(machine)

    def machines(self, running: bool = True) -> list[str]:
        """The names of the lab's machines (only the running ones unless ``running=False``)."""
        return [m.name for m in self.provider.list() if m.running or not running]

    def manager(self) -> str:
        """The name of a machine that manages the lab's swarm (the one init ran on, if it is
        still a manager). Raises :class:`SwarmStateError` when there is no swarm yet."""
        with self._lock:
            cached = self._manager
        if cached is not None:
            info = self.swarm_info(cached)
            if info and info.get("ControlAvailable") and has_leader(info):
                return cached
        infos = self.swarm_infos()
        machines = [m for m, _ in infos] or self.machines()
        able = [m for m, info in infos if info.get("ControlAvailable")]
        leading = [m for m, info in infos if m in able and has_leader(info)]
        if leading:  # a manager that sees a leader: the one init ran on, when it is one
            chosen = cached if cached in leading else leading[0]
            self.use_manager(chosen)
            return chosen
        if able:  # managers, but no leader: the step gets the engine's own error (NoQuorum)
            return cached if cached in able else able[0]
        if any(info.get("LocalNodeState") == "active" for _, info in infos):
            raise SwarmStateError(self._no_manager_answers([m for m, _ in infos]))
        hint = machines[0] if machines else "manager1"
        raise SwarmStateError(
            f"lab {self.name!r} has no swarm yet: run lab.swarm.init({hint!r}) first"
            + ("" if machines else f" (after lab.machine.create({hint!r}, ...))")
        )

    def _no_manager_answers(self, answering: list[str]) -> str:
        """What to say when machines are members of the lab's swarm but no manager of it
        answers: the swarm exists (a new init would make a second one); its managers are
        stopped, silent, or gone."""
        listed = self.provider.list()
        stopped = sorted((m.name for m in listed if not m.running), key=lambda n: "manager" not in n)
        silent = [m.name for m in listed if m.running and m.name not in answering]
        said = f"lab {self.name!r} has a swarm, but none of its managers answers"
        if stopped:
            return (f"{said} (stopped: {', '.join(stopped)}): start its managers again, e.g. "
                    f"lab.machine.start({stopped[0]!r}); the swarm, its services and tasks are kept")
        if silent:
            return (f"{said} (the engine of {', '.join(silent)} does not answer): see why with "
                    f"print(lab.engine_logs([{silent[0]!r}])), or restart it with "
                    f"lab.machine.stop({silent[0]!r}), then lab.machine.start({silent[0]!r})")
        return (f"{said}: its managers are gone, and a swarm is not rebuilt without one. Make its "
                f"machines leave it (lab.swarm.leave(name, force=True)), then start a new one with "
                f"lab.swarm.init({answering[0]!r})")

    def manager_client(self) -> docker.DockerClient:
        """A client for a manager of the lab's swarm (see :meth:`manager`)."""
        return self.client(self.manager())

    def swarm_info(self, machine: str) -> dict[str, Any] | None:
        """The Swarm section of ``docker info`` on a machine; None when its engine does not
        answer (stopped, gone, busy)."""
        try:
            return dict(self.client(machine).info()["Swarm"])
        except UNREACHABLE:
            return None

    def swarm_infos(self) -> list[tuple[str, dict[str, Any]]]:
        """``(machine, Swarm section of docker info)`` for each running machine whose engine
        answers, every engine asked at once."""
        machines = self.machines()
        return [(m, i) for m, i in zip(machines, parallel_map(self.swarm_info, machines)) if i is not None]

    def use_manager(self, machine: str) -> None:
        """Remember ``machine`` as the manager to ask first (``swarm init`` ran there)."""
        with self._lock:
            self._manager = machine

    def forget_manager(self, machine: str | None = None) -> None:
        """Forget the remembered manager (only if it is ``machine``, when given)."""
        with self._lock:
            if machine is None or self._manager == machine:
                self._manager = None

    def engine_logs(self, machines: Sequence[str] | None = None, tail: int = 15) -> str:
        """The last lines of the machines' engine logs (every running machine by default),
        for the errors of steps that did not converge."""
        names = list(machines) if machines is not None else self.machines()
        chunks = []
        for m in names:
            text = self.provider.logs(m, tail=tail)
            if text:
                chunks.append(f"--- last lines of {m}'s engine log ---\n{text}")
        return "\n".join(chunks)


__all__ = ["Lab", "mask_token"]
