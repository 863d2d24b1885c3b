"""``docker swarm``: init (and ``--force-new-cluster``), join, join-token, leave; the leader
and the quorum of the managers. ``update``: :mod:`.swarm_settings`."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from .._errors import DockerError, EngineUnavailable, InvalidArgument, MachineNotFound, SwarmStateError
from .._pace import Retry, Tally, paced_map
from .._results import JoinToken, Output, Text
from .._util import parallel_map
from .._wait import Bar, Progress
from ..converge import Quorum, nodes_ready, quorum_of
from ._base import NO_LEADER, UNREACHABLE, engine_errors
from .swarm_settings import SwarmSettings
from .validate import check_machine_name, check_machine_names, check_role

SWARM_PORT = 2377
#: What an engine answers to init or join when it is in a swarm already.
ALREADY_IN_SWARM = "already part of a swarm"
#: What an engine answers to a join it goes on with in the background (after 20 s).
JOIN_CONTINUES = "Timeout was reached before node joined"
#: How many joins run at once: at first, and at most (see swarmlab._pace). Measured on 2
#: cores: 60 and 80 machines join fastest all at once, as a plain script does; the window
#: halves only when joins fail (a manager too busy to answer in time).
JOIN_WINDOW = (16, 64)
#: What a join that failed for now says (the manager or the machine too busy to answer).
_PASSING = ("deadline exceeded", "deadlineexceeded", "code = unavailable", "connection refused",
            "connection reset", "timed out", "i/o timeout", "context canceled", "eof")


def listen_addr(lab: Any, machine: str) -> str:
    """``--listen-addr``: where the machine's swarm listens, as its provider says (every
    address of the machine, else only the one it advertises)."""
    host = lab.provider.listen_address(machine)
    return f"[{host}]:{SWARM_PORT}" if ":" in host else f"{host}:{SWARM_PORT}"


def _listen_flag(lab: Any, machine: str) -> str:
    """The ``--listen-addr`` flag a command shows: only when it is not docker's own default."""
    addr = listen_addr(lab, machine)
    return "" if addr == f"0.0.0.0:{SWARM_PORT}" else f" --listen-addr {addr}"


def may_pass(e: BaseException) -> bool:
    """Whether a failed join may work if tried again: a timeout or an unavailable manager,
    not a wrong token or a machine in another swarm."""
    return isinstance(e, EngineUnavailable) or any(p in str(e).lower() for p in _PASSING)


def _join_state(t: Tally) -> str:
    text = f"{t.running} joining · {t.waiting} waiting"
    return text + (f" · {t.retries} retried" if t.retries else "")


def has_leader(info: dict[str, Any] | None) -> bool:
    """Whether a machine's Swarm info (``docker info``) says its swarm has a leader: a
    manager cut off from the majority says "The swarm does not have a leader" in ``Error``."""
    return bool(info) and NO_LEADER not in str((info or {}).get("Error") or "")


class Swarm(SwarmSettings):
    """``docker swarm``: init, join, join-token, leave, update."""

    def init(self, machine: str, advertise_addr: str | None = None, wait: bool = True,
             timeout: float = 60.0, *, force_new_cluster: bool = False) -> Text:
        """``docker swarm init --advertise-addr <ip of MACHINE>``: make MACHINE the first manager.

        The advertise address is the machine's own address on the lab network (what
        ``docker-machine ip`` prints): the address the other machines reach it at.

        ``force_new_cluster=True`` (``docker swarm init --force-new-cluster``) is the disaster
        recovery: on a manager of a swarm that lost its quorum for good, it makes a swarm of
        one manager from that manager's state (services, nodes, secrets kept). A swarm that
        has a leader is left as it is (nothing to recover), so the cell can run twice."""
        lab = self._lab
        check_machine_name(machine)
        client = lab.client(machine)
        with engine_errors(f"read the swarm state of {machine}"):
            info = client.info()["Swarm"]
        addr = advertise_addr or lab.provider.address(machine)
        if force_new_cluster:
            return self._force_new_cluster(machine, info, addr, wait, timeout)
        command = f"docker swarm init --advertise-addr {addr}{_listen_flag(lab, machine)}"
        if info.get("LocalNodeState") == "active":
            if not info.get("ControlAvailable"):
                raise SwarmStateError(
                    f"{machine} is already a worker in a swarm; a worker cannot init another. "
                    f"Run lab.swarm.leave({machine!r}) first, or init on a manager."
                )
            lab.use_manager(machine)
            tok = self.join_token("worker", machine=machine)
            return Text(command=command, data={"found": True, "node_id": info.get("NodeID")},
                        notes=[f"{machine} already manages an active swarm (nothing to do)."],
                        body=tok.text())
        # another machine of this lab may manage a swarm already
        try:
            other = lab.manager()
        except SwarmStateError:
            other = None
        if other is not None and other != machine:
            raise SwarmStateError(
                f"lab {lab.name!r} already has a swarm, managed by {other}; add {machine} to it "
                f"with lab.swarm.join({machine!r}) (or role='manager')"
            )
        try:
            with engine_errors(f"init a swarm on {machine}"):
                node_id = client.swarm.init(advertise_addr=addr, listen_addr=listen_addr(lab, machine))
        except DockerError as e:
            if ALREADY_IN_SWARM not in str(e):
                raise
            # another kernel ran the same init a moment ago: its swarm is this cell's end state
            found = self._settled_info(machine, timeout)
            if not found.get("ControlAvailable"):
                raise
            return self.init(machine, advertise_addr, wait=wait, timeout=timeout)
        lab.use_manager(machine)
        if wait:
            self._wait_for(lambda: self._nodes_ready([str(node_id)]), what="swarm init", timeout=timeout,
                     progress=False, logs=lambda: lab.engine_logs([machine]))
        tok = self.join_token("worker", machine=machine)
        body = (f"Swarm initialized: current node ({node_id}) is now a manager.\n\n{tok.text()}\n\n"
                "To add a manager to this swarm, run 'docker swarm join-token manager' and "
                "follow the instructions.")
        return Text(command=command, body=body, data={"found": False, "node_id": node_id,
                                                      "advertise_addr": addr})

    def _force_new_cluster(self, machine: str, info: dict[str, Any], addr: str, wait: bool,
                           timeout: float) -> Text:
        lab = self._lab
        command = f"docker swarm init --force-new-cluster --advertise-addr {addr}{_listen_flag(lab, machine)}"
        if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
            raise SwarmStateError(
                f"{machine} is not a manager of a swarm (state {info.get('LocalNodeState')}): "
                f"--force-new-cluster rebuilds a swarm from a manager that kept its state. Run "
                f"it on a surviving manager (lab.node.ls() on it says which); nothing was changed."
            )
        # the managers' list lags behind a loss (until heartbeats time out), and while an
        # election is under way no manager sees a leader: what decides is how many of the
        # managers' machines run. A majority up is a swarm that recovers by itself.
        group = {r.get("NodeID") for r in info.get("RemoteManagers") or []}
        answering = [m for m, i in lab.swarm_infos() if i.get("NodeID") in group]
        needed = len(group) // 2 + 1
        if len(answering) >= needed:
            q = Quorum(len(group), len(answering), "")
            if has_leader(info):
                try:
                    with engine_errors(f"read the swarm's managers on {machine}"):
                        q = quorum_of(lab.client(machine).api.nodes())
                except DockerError:
                    pass
            lab.use_manager(machine)
            return Text(command=command, data={"forced": False, "quorum": q},
                        notes=[f"{len(answering)} of the swarm's {len(group)} managers are running "
                               f"({', '.join(answering)}): a majority, so the swarm keeps or elects "
                               f"its leader by itself (lab.swarm.leader(wait=True) waits for it). "
                               f"Nothing to recover; nothing was changed."])
        with engine_errors(f"force a new cluster on {machine}"):
            # the API call itself: docker-py's Swarm.init reads the swarm back at once, which
            # fails while the new one-manager swarm elects its leader
            node_id = lab.client(machine).api.init_swarm(
                advertise_addr=addr, listen_addr=listen_addr(lab, machine), force_new_cluster=True)
        lab.use_manager(machine)
        if wait:
            self._wait_for(lambda: self._leads(machine), what="force new cluster", timeout=timeout,
                     progress=False, logs=lambda: lab.engine_logs([machine]))
        return Text(
            command=command, data={"forced": True, "node_id": node_id},
            body=(f"Swarm initialized: current node ({node_id}) is now a manager.\n\n"
                  f"{machine} is now the only manager of a swarm that kept the old one's "
                  f"services and nodes. The lost managers are still listed, but no longer "
                  f"members of the managers' group: remove them (lab.node.rm(..., force=True)), "
                  f"then add managers again (lab.swarm.join(..., role='manager'), "
                  f"lab.up(managers=3))."))

    def _leads(self, machine: str) -> Progress:
        nodes = self._lab.client(machine).api.nodes()
        mine = (self._lab.swarm_info(machine) or {}).get("NodeID")
        leader = next((n for n in nodes if (n.get("ManagerStatus") or {}).get("Leader")), None)
        if leader is None:
            return Progress(False, state="no leader yet")
        return Progress(leader["ID"] == mine, state=f"leader: {leader['ID']}")

    # -- the leader and the quorum ------------------------------------------------------------
    def leader(self, wait: bool = False, timeout: float = 90.0) -> Output:
        """The hostname of the leader of the managers (``docker node ls``: MANAGER STATUS
        ``Leader``), as a manager with quorum says it.

        Right after the leader is lost, the others still name it until they elect a new one
        (about ten seconds: the engine's Raft election tick). ``wait=True`` waits for a leader
        whose own engine answers and sees a leader: the time a failover takes. A leader cut off
        the network (not killed) still answers and still names itself for that time, so right
        after ``disconnect`` the old leader may be the answer. Without ``wait``, no leader is a
        :class:`SwarmStateError`."""
        lab = self._lab
        seen: dict[str, str] = {}

        def found() -> Progress:
            nodes = lab.manager_client().api.nodes()
            leader = next((n for n in nodes if (n.get("ManagerStatus") or {}).get("Leader")), None)
            if leader is None:
                return Progress(False, state="no leader (an election is under way)")
            name = str((leader.get("Description") or {}).get("Hostname", "") or leader["ID"])
            seen["name"] = name
            if not wait:
                return Progress(True, state=f"leader: {name}")
            own = [i for _, i in lab.swarm_infos() if i.get("NodeID") == leader["ID"]]
            answers = bool(own) and has_leader(own[0])
            return Progress(answers, state=f"leader: {name}" + ("" if answers else " (not answering)"))

        if wait:
            self._wait_for(found, what="a leader", timeout=timeout, progress=lab.progress,
                     logs=lambda: lab.engine_logs())
        else:
            with engine_errors("list the swarm's managers"):
                found()
            if "name" not in seen:
                raise SwarmStateError(
                    "the swarm has no leader right now: an election is under way, or too few "
                    "managers are online (lab.swarm.quorum() says which); "
                    "lab.swarm.leader(wait=True) waits for one")
        name = seen["name"]
        return Output(name, "docker node ls --filter role=manager")

    def quorum(self) -> Text:
        """The managers as Raft counts them: how many there are, how many are reachable, the
        majority a change needs, who leads, and how many more may be lost. Read from
        ``docker node ls --filter role=manager``; when no manager sees a leader, the managers
        that still answer are counted instead, and the engine's own error is shown."""
        lab = self._lab
        mgr = lab.manager()
        try:
            with engine_errors("list the swarm's managers"):
                q = quorum_of(lab.client(mgr).api.nodes())
            error = ""
        except DockerError as e:  # no leader, or none yet: Raft did not answer in time
            info = lab.swarm_info(mgr) or {}
            ids = {r.get("NodeID") for r in info.get("RemoteManagers") or []}
            # the managers that answer and see a leader: none, while there is no leader
            seeing = [m for m, i in lab.swarm_infos() if i.get("NodeID") in ids and has_leader(i)]
            q = Quorum(len(ids), len(seeing), "")
            error = str(e).split("\n", 1)[0]
        lines = [
            f"managers:  {q.managers}",
            f"reachable: {q.reachable}",
            f"majority:  {q.needed} (more than half of {q.managers})",
            f"leader:    {q.leader or 'none'}",
        ]
        if q.has_quorum:
            lines.append(f"quorum:    yes: the swarm can change; it survives the loss of "
                         f"{q.tolerates} more manager{'s' if q.tolerates != 1 else ''}")
        else:
            lines.append("quorum:    NO: nothing can be changed until a majority of the managers is back")
        notes = [f"on {mgr}"] + ([f"the engine said: {error}"] if error else [])
        return Text(command="docker node ls --filter role=manager", body="\n".join(lines),
                    notes=notes, data=q)

    def join_token(self, role: str = "worker", machine: str | None = None) -> JoinToken:
        """``docker swarm join-token ROLE``: the token (masked when shown; ``.reveal()``)."""
        check_role(role)
        lab = self._lab
        name = machine or lab.manager()
        client = lab.client(name)
        with engine_errors("read the join token"):
            attrs = client.api.inspect_swarm()
            info = client.info()["Swarm"]
        token = attrs["JoinTokens"]["Worker" if role == "worker" else "Manager"]
        addr = f"{info.get('NodeAddr')}:{SWARM_PORT}"
        return JoinToken(f"docker swarm join-token {role}", token, role, addr)

    def join(self, *machines: str, role: str = "worker", wait: bool = True,
             timeout: float = 90.0) -> Text:
        """``docker swarm join --token SWMTKN-... <manager ip>:2377`` on each machine (in parallel).

        Waits until the manager lists every one of them Ready. A machine that is already a
        member is reported, not joined twice."""
        lab = self._lab
        names, manager = self._check_joiners(machines, role)
        tok = self.join_token(role)
        todo, notes, node_ids = self._joiners(names, manager, tok, timeout)
        # many machines joining share the CPU with this process: each is asked less often
        poll = 0.2 if len(todo) <= 10 else 1.0
        bar = Bar(lab.progress and len(todo) > 1, f"{role}s joined")
        try:
            node_ids += paced_map(
                lambda m: self._join_one(m, tok, timeout, poll), todo, start=JOIN_WINDOW[0], most=JOIN_WINDOW[1],
                attempts=None, patience=timeout * lab.provider.slowness, backoff=2.0 * lab.provider.slowness,
                observe=lambda t: bar.update(Progress(False, t.done, t.total, _join_state(t))))
        finally:
            bar.close()
        for m in todo:
            notes.append(f"{m}: This node joined a swarm as a {role}.")
        if wait:
            self._wait_for(lambda: self._nodes_ready(node_ids), what="swarm join", timeout=timeout,
                     progress=lab.progress, interval=poll, logs=lambda: lab.engine_logs(names),
                     advice="Are the machines' engines running (lab.machine.ls())?")
        return Text(command=tok.join_command(), body="\n".join(notes),
                    data={"joined": todo, "found": [m for m in names if m not in todo]})

    def _check_joiners(self, machines: Sequence[str], role: str) -> tuple[list[str], str]:
        """The machines to join, checked (named, in the lab, a known role), and the manager
        of the swarm they join."""
        lab = self._lab
        if not machines:
            raise InvalidArgument("name at least one machine, e.g. lab.swarm.join('worker1')")
        names = check_machine_names(machines)
        known = {m.name for m in lab.provider.list()}
        missing = [n for n in names if n not in known]
        if missing:
            raise MachineNotFound(
                f"lab {lab.name!r} has no machine {', '.join(map(repr, missing))}; create it "
                f"with lab.machine.create({', '.join(map(repr, missing))}). Nothing was joined."
            )
        check_role(role)
        try:
            manager = lab.manager()
        except SwarmStateError:
            first = sorted(known)[0] if known else "manager1"
            raise SwarmStateError(
                f"there is no swarm to join yet: run lab.swarm.init({first!r}) on the manager "
                f"first, then lab.swarm.join({', '.join(map(repr, names))})"
            ) from None
        return names, manager

    def _joiners(self, names: Sequence[str], manager: str, tok: JoinToken,
                 timeout: float) -> tuple[list[str], list[str], list[str]]:
        """Which machines still have to join (``todo``), what was found of the others
        (``notes``), and the node IDs of those already members or still joining."""
        lab = self._lab
        with engine_errors("read the swarm"):
            members = {n["ID"] for n in lab.client(manager).api.nodes()}
        infos = parallel_map(lambda m: lab.client(m).info()["Swarm"], list(names))
        todo, notes, node_ids = [], [], []
        for m, info in zip(names, infos):
            state = info.get("LocalNodeState")
            ours = tok.manager_addr in {r.get("Addr") for r in info.get("RemoteManagers") or []}
            if state == "active" and info.get("NodeID") in members:
                notes.append(f"{m} is already a member of this swarm (nothing to do).")
                node_ids.append(info["NodeID"])
            elif state == "pending" and ours:  # an earlier join still under way
                notes.append(f"{m} is still joining this swarm (waiting for it).")
                node_ids.append(self._joined_node_id(m, timeout))
            elif state in ("active", "pending", "error"):
                raise SwarmStateError(
                    f"{m} is already part of another swarm (state {state}); run "
                    f"lab.swarm.leave({m!r}, force=True) first. Nothing was joined."
                )
            else:
                todo.append(m)
        return todo, notes, node_ids

    def _join_one(self, m: str, tok: JoinToken, timeout: float, poll: float) -> str:
        """``docker swarm join`` on one machine; its node ID once its engine says it joined."""
        lab = self._lab
        try:
            with engine_errors(f"join {m} to the swarm"):
                lab.client(m).swarm.join(
                    remote_addrs=[tok.manager_addr], join_token=tok.reveal(),
                    advertise_addr=lab.provider.address(m), listen_addr=listen_addr(lab, m),
                )
        except DockerError as e:
            said = str(e)
            # a busy engine gives up waiting after a while but keeps joining in the
            # background; another kernel may have joined the same machine a moment ago;
            # a manager too busy to answer in time may answer the next attempt
            if JOIN_CONTINUES not in said and ALREADY_IN_SWARM not in said and not may_pass(e):
                raise
            info = self._settled_info(m, timeout, poll)
            if info.get("LocalNodeState") != "active":
                self._forget_failed_join(m)
                why = str(info.get("Error") or "")[:300]
                said += f" ({why})" if why else ""
                hint = lab.provider.unreachable_hint(said)
                raise Retry(DockerError(f"{m} did not join the swarm: {said}"
                                        + (f"\n{hint}" if hint else ""))) from None
            remotes = {r.get("Addr") for r in info.get("RemoteManagers") or []}
            if remotes and tok.manager_addr not in remotes:
                raise SwarmStateError(
                    f"{m} is already part of another swarm; run lab.swarm.leave({m!r}, "
                    f"force=True) first.") from None
        return self._joined_node_id(m, timeout, poll)

    def _joined_node_id(self, machine: str, timeout: float, interval: float = 0.2) -> str:
        """The node ID of a machine once its engine says it is in the swarm."""
        def joined() -> Progress:
            info = self._lab.client(machine).info()["Swarm"]
            return Progress(info.get("LocalNodeState") == "active" and bool(info.get("NodeID")),
                            state=f"{machine} is {info.get('LocalNodeState')}", total=1)

        self._wait_for(joined, what=f"{machine} joining", timeout=timeout, interval=interval,
                       logs=lambda: self._lab.engine_logs([machine]))
        return str(self._lab.client(machine).info()["Swarm"]["NodeID"])

    def _settled_info(self, machine: str, timeout: float, interval: float = 0.2) -> dict[str, Any]:
        """The machine's Swarm info once it is no longer joining or initialising."""
        def settled() -> Progress:
            state = (self._lab.swarm_info(machine) or {}).get("LocalNodeState")
            return Progress(state in ("active", "inactive", "error", "locked"), state=f"{machine} is {state}")

        self._wait_for(settled, what=f"{machine} settling", timeout=timeout, interval=interval)
        return self._lab.swarm_info(machine) or {}

    def _forget_failed_join(self, machine: str) -> None:
        """A join that failed can leave the engine in state "error" or still trying: it
        leaves that (``docker swarm leave --force``) so that the next attempt starts clean."""
        with suppress(*UNREACHABLE):
            state = (self._lab.swarm_info(machine) or {}).get("LocalNodeState")
            if state in ("error", "pending"):
                self._lab.client(machine).swarm.leave(force=True)

    def _wait_ready(self, machines: Sequence[str], timeout: float) -> None:
        """Wait until the manager lists the nodes of these members Ready again. ``join`` has
        seen each one Ready, but on a busy computer a node can miss heartbeats a moment later
        (5 of 50 did, under a load of 150 on 2 cores): ``lab.up`` ends with this, so the
        ``docker node ls`` it returns shows the swarm as it settles."""
        lab = self._lab
        ids = [str(i) for i in parallel_map(lambda m: (lab.swarm_info(m) or {}).get("NodeID"), list(machines)) if i]
        if ids:
            self._wait_for(lambda: self._nodes_ready(ids), what="every node Ready", timeout=timeout,
                           progress=lab.progress, interval=0.2 if len(ids) <= 10 else 1.0,
                           logs=lambda: lab.engine_logs(list(machines)),
                           advice="Are the machines' engines running (lab.machine.ls())?")

    def _nodes_ready(self, node_ids: Sequence[str]) -> Progress:
        return nodes_ready(self._lab.manager_client().api.nodes(), list(node_ids))

    def leave(self, machine: str, force: bool = False) -> Text:
        """``docker swarm leave [--force]`` on a machine (a manager needs ``force=True``)."""
        lab = self._lab
        check_machine_name(machine)
        info = lab.swarm_info(machine) or {}
        cmd = "docker swarm leave" + (" --force" if force else "")
        if info.get("LocalNodeState") == "inactive":
            return Text(command=cmd, notes=[f"{machine} is not in a swarm (nothing to do)."])
        if info.get("ControlAvailable") and not force:
            raise SwarmStateError(
                f"{machine} is a manager: leaving would take the swarm's control with it. "
                f"Use lab.swarm.leave({machine!r}, force=True) if you mean it."
            )
        with engine_errors(f"leave the swarm on {machine}"):
            lab.client(machine).swarm.leave(force=force)
        lab.forget_manager(machine)
        return Text(command=cmd, body="Node left the swarm.")
