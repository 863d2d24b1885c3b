"""``docker-machine``: create, list, address, stop/start and remove a lab's machines."""

from __future__ import annotations

from typing import Any

from .._errors import InvalidArgument
from .._results import Output, Table, Text
from .._util import parallel_map
from .._wait import Progress
from ..converge import Snapshot, nodes_ready, roles_settled
from ._base import UNREACHABLE, Command, engine_errors
from .swarm import has_leader
from .validate import check_machine_name, check_machine_names


class Machines(Command):
    """``docker-machine``: create, list, address, stop/start, remove machines."""

    def create(self, *names: str, timeout: float = 90.0) -> Table:
        """Create machines (in parallel), each used only once its engine answers (``timeout``).

        Stands for ``docker-machine create -d virtualbox NAME`` in the original lab. Machines
        that already exist are kept and reported as found."""
        if not names:
            raise InvalidArgument("name at least one machine, e.g. lab.machine.create('manager1')")
        checked = check_machine_names(names)
        with engine_errors(f"create machines {', '.join(checked)}"):
            outcomes = self._lab.provider.create(checked, timeout=timeout)
        notes = []
        made = [o.name for o in outcomes if o.created]
        found = [o for o in outcomes if not o.created]
        if made:
            notes.append(f"Created {', '.join(made)}.")
        # found as asked ("already ..."): one line; found and changed (started): its own line
        idle = [o.name for o in found if not o.note or o.note.startswith("already")]
        if idle:
            notes.append(f"{', '.join(idle)}: already running, nothing to do.")
        notes += [f"{o.name}: {o.note}." for o in found if o.name not in idle]
        notes += sorted({o.warning for o in outcomes if o.warning})
        table = self.ls()
        table.notes = notes
        provider = self._lab.provider
        table.command = provider.create_command(made or checked)
        # what really ran for the new machines and how they were secured, for the curious
        table.details = [*provider.create_details(made),
                         *sorted({o.note for o in outcomes if o.created and o.note})] if made else []
        return table

    def ls(self) -> Table:
        """``docker-machine ls``: the lab's machines, their state, engine URL and version."""
        machines = self._lab.provider.list()

        def version(m: Any) -> str:
            if not m.running:
                return ""
            try:
                return str(self._lab.client(m.name).version().get("Version", ""))
            except UNREACHABLE:
                return "Unknown"

        versions = parallel_map(version, machines)
        rows = [
            (m.name, "-", m.driver, m.state, m.url, m.address, v, m.error)
            for m, v in zip(machines, versions)
        ]
        return Table.of(
            "docker-machine ls",
            ["NAME", "ACTIVE", "DRIVER", "STATE", "URL", "ADDRESS", "DOCKER", "ERRORS"],
            rows,
            data=[m.__dict__ for m in machines],
            colour=["STATE"],
        )

    def ip(self, name: str) -> Output:
        """``docker-machine ip NAME``: the address the machine advertises to the others."""
        check_machine_name(name)
        return Output(self._lab.provider.address(name), f"docker-machine ip {name}")

    def rm(self, *names: str) -> Text:
        """``docker-machine rm -y NAME...``: remove machines (a swarm node of it shows Down).
        A machine that is not there is reported, not an error, so the cell can run twice."""
        if not names:
            raise InvalidArgument("name at least one machine, e.g. lab.machine.rm('worker2')")
        checked = check_machine_names(names)
        known = {m.name for m in self._lab.provider.list()}
        present = [n for n in checked if n in known]
        notes = [f"there is no machine {n!r} (nothing to remove; machines: "
                 f"{', '.join(sorted(known)) or 'none'})." for n in checked if n not in known]
        with engine_errors(f"remove machines {', '.join(present)}"):
            self._lab.provider.remove(present)
        for n in present:
            self._lab.forget_manager(n)
        return Text(command=f"docker-machine rm -y {' '.join(checked)}", notes=notes,
                    body="\n".join(f"Successfully removed {n}" for n in present))

    def stop(self, name: str) -> Text:
        """``docker-machine stop NAME``: stop a machine (its node goes Down)."""
        check_machine_name(name)
        with engine_errors(f"stop machine {name}"):
            self._lab.provider.stop(name)
        return Text(command=f"docker-machine stop {name}", body=f'Stopping "{name}"...\nMachine "{name}" was stopped.')

    def start(self, name: str, timeout: float = 90.0) -> Text:
        """``docker-machine start NAME``: start a stopped machine and wait for its engine; if
        it is a member of the swarm, wait also until the managers list its node Ready again
        (and, for a manager, Reachable)."""
        check_machine_name(name)
        with engine_errors(f"start machine {name}"):
            self._lab.provider.start(name, timeout)
        self._back_in_swarm(name, timeout)
        return Text(command=f"docker-machine start {name}", body=f'Starting "{name}"...\nMachine "{name}" was started.')

    # -- failures, for real --------------------------------------------------------------
    def kill(self, name: str, wait: bool = True, timeout: float = 90.0) -> Text:
        """``docker-machine kill NAME``: stop a machine at once, as a power cut would. Its
        engine says nothing to the swarm: the managers notice only when its heartbeats stop.
        ``wait=True`` waits until they do, so what comes next sees the loss: for a worker,
        until its node is listed Down; for a manager, until a leader lists it unreachable (or
        an election is under way), and when the managers left are no majority, until each
        of them says the swarm has no leader.
        ``lab.machine.start`` brings it back. On dind this is ``docker kill`` of its container
        (in ``.details``)."""
        check_machine_name(name)
        lab = self._lab
        info = lab.swarm_info(name) or {}
        with engine_errors(f"kill machine {name}"):
            done = lab.provider.kill(name)
        lab.forget_manager(name)
        node_id = info.get("NodeID")
        if wait and node_id and info.get("LocalNodeState") == "active":
            noticed = self._manager_gone if info.get("ControlAvailable") else self._worker_gone
            self._wait_for(lambda: noticed(name, str(node_id)), what=f"the managers noticing that {name} is gone",
                     timeout=timeout, progress=lab.progress)
        return Text(command=f"docker-machine kill {name}", details=[done],
                    body=f'Killing "{name}"...\nMachine "{name}" was killed.')

    def _worker_gone(self, name: str, node_id: str) -> Progress:
        nodes = {n["ID"]: n for n in self._lab.manager_client().api.nodes()}
        state = (nodes.get(node_id, {}).get("Status") or {}).get("State", "unknown")
        return Progress(state != "ready", state=f"the managers list {name} as {state}")

    def _manager_gone(self, name: str, node_id: str) -> Progress:
        """The managers still running have noticed a manager's loss. Without a majority left,
        each of them says the swarm has no leader (a leader left alone steps down after an
        election timeout: half a minute on 20.10). With one, an election is under way, or a
        leader's list has the lost one no longer reachable."""
        lab = self._lab
        others = [(m, i) for m, i in lab.swarm_infos() if i.get("ControlAvailable") and i.get("NodeID") != node_id]
        if not others:
            return Progress(True, state="no other manager runs")
        group = {r.get("NodeID") for r in others[0][1].get("RemoteManagers") or []}
        if sum(1 for _, i in others if i.get("NodeID") in group) < len(group) // 2 + 1:
            seeing = [m for m, i in others if has_leader(i)]
            return Progress(not seeing, state=f"{', '.join(seeing)} still see a leader" if seeing
                            else "the managers left say the swarm has no leader")
        if any(not has_leader(i) for _, i in others):
            return Progress(True, state="the managers left have no leader (an election is under way)")
        nodes = {n["ID"]: n for n in lab.client(others[0][0]).api.nodes()}
        status = nodes.get(node_id, {}).get("ManagerStatus") or {}
        reach = "leader" if status.get("Leader") else status.get("Reachability", "unknown")
        return Progress(reach not in ("leader", "reachable"), state=f"the managers list {name} as {reach}")

    def _no_stopped_manager_reachable(self, nodes: list[dict[str, Any]]) -> Progress:
        """A leader elected when a lost majority came back starts from the Raft group's last
        word, in which the managers still stopped were reachable: until its heartbeats to them
        fail, ``docker node ls`` shows them Reachable and a quorum count says "3 of 3". Wait
        until no stopped machine's manager is listed reachable, so what comes next sees the
        swarm as it is."""
        stopped = {m.name for m in self._lab.provider.list() if not m.running}
        stale = sorted(n["Description"]["Hostname"] for n in nodes
                       if (n.get("ManagerStatus") or {}).get("Reachability") == "reachable"
                       and n.get("Description", {}).get("Hostname") in stopped)
        return Progress(not stale, state=f"the managers still list {', '.join(stale)} as reachable, though stopped"
                        if stale else "the managers list every stopped manager unreachable")

    def disconnect(self, name: str) -> Text:
        """Cut a machine off the lab's network, leaving it running: a network partition.
        On dind, ``docker network disconnect <lab network> <machine's container>``; the other
        providers have no such step (unplug the machine, or a firewall rule on it)."""
        check_machine_name(name)
        with engine_errors(f"disconnect machine {name}"):
            done = self._lab.provider.disconnect(name)
        self._lab.forget_manager(name)
        return Text(command=done, body=f"{name} is cut off the lab's network (it keeps running).")

    def reconnect(self, name: str, timeout: float = 120.0) -> Text:
        """Put a machine cut off by :meth:`disconnect` back on the lab's network, at its own
        address (``docker network connect --ip ...``), and wait until its node is back in the
        swarm (as :meth:`start` does)."""
        check_machine_name(name)
        with engine_errors(f"reconnect machine {name}"):
            done = self._lab.provider.reconnect(name)
        self._back_in_swarm(name, timeout)
        return Text(command=done, body=f"{name} is back on the lab's network.")

    def _back_in_swarm(self, name: str, timeout: float) -> None:
        lab = self._lab
        info = lab.swarm_info(name) or {}
        node_id = info.get("NodeID")
        if info.get("LocalNodeState") not in ("active", "pending") or not node_id:
            return  # not a member: nothing more to wait for (a pending one is rejoining)
        role = "manager" if info.get("ControlAvailable") else "worker"

        def back() -> Progress:
            nodes = lab.manager_client().api.nodes()
            ready = nodes_ready(nodes, [node_id])
            if not ready.done or role == "worker":
                return ready
            settled = roles_settled(Snapshot([], [], list(nodes)), [node_id], "manager")
            return settled if not settled.done else self._no_stopped_manager_reachable(nodes)

        self._wait_for(back, what=f"{name} back in the swarm", timeout=timeout, progress=lab.progress,
                 logs=lambda: lab.engine_logs([name]))

    def ssh(self, name: str, command: str) -> Output:
        """``docker-machine ssh NAME COMMAND`` (the same as ``lab.ssh``)."""
        return self._lab.ssh(name, command)
