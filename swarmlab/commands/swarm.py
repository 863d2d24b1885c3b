"""``docker swarm``: init, join, join-token, leave."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._errors import DockerError, InvalidArgument, MachineNotFound, SwarmStateError
from .._results import JoinToken, Text
from .._util import parallel_map
from .._wait import Progress, wait_for
from ..converge import nodes_ready
from ._base import Command, engine_errors
from .validate import check_machine_name, check_machine_names, check_role

SWARM_PORT = 2377
#: What an engine answers to init or join when it is in a swarm already.
ALREADY_IN_SWARM = "already part of a swarm"


class Swarm(Command):
    """``docker swarm``: init, join, join-token, leave."""

    def init(self, machine: str, advertise_addr: str | None = None, wait: bool = True,
             timeout: float = 60.0) -> Text:
        """``docker swarm init --advertise-addr <ip of MACHINE>``: make MACHINE the first manager.

        The advertise address is the machine's own address on the lab network (what
        ``docker-machine ip`` prints): the address the other machines reach it at."""
        lab = self._lab
        check_machine_name(machine)
        client = lab.client(machine)
        with engine_errors(f"read the swarm state of {machine}"):
            info = client.info()["Swarm"]
        addr = advertise_addr or lab.provider.address(machine)
        command = f"docker swarm init --advertise-addr {addr}"
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
                node_id = client.swarm.init(advertise_addr=addr, listen_addr=f"0.0.0.0:{SWARM_PORT}")
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
            wait_for(lambda: self._nodes_ready([str(node_id)]), what="swarm init", timeout=timeout,
                     progress=False, logs=lambda: lab.engine_logs([machine]))
        tok = self.join_token("worker", machine=machine)
        body = (f"Swarm initialized: current node ({node_id}) is now a manager.\n\n{tok.text()}\n\n"
                "To add a manager to this swarm, run 'docker swarm join-token manager' and "
                "follow the instructions.")
        return Text(command=command, body=body, data={"found": False, "node_id": node_id,
                                                      "advertise_addr": addr})

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
        tok = self.join_token(role)
        with engine_errors("read the swarm"):
            members = {n["ID"] for n in lab.client(manager).api.nodes()}
        infos = parallel_map(lambda m: lab.client(m).info()["Swarm"], names)
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

        def join_one(m: str) -> str:
            try:
                with engine_errors(f"join {m} to the swarm"):
                    lab.client(m).swarm.join(
                        remote_addrs=[tok.manager_addr], join_token=tok.reveal(),
                        advertise_addr=lab.provider.address(m), listen_addr=f"0.0.0.0:{SWARM_PORT}",
                    )
            except DockerError as e:
                # a busy engine gives up waiting after a while but keeps joining in the
                # background; another kernel may have joined the same machine a moment ago
                if "Timeout was reached before node joined" not in str(e) and ALREADY_IN_SWARM not in str(e):
                    raise
                info = self._settled_info(m, timeout)
                if tok.manager_addr not in {r.get("Addr") for r in info.get("RemoteManagers") or []}:
                    raise SwarmStateError(
                        f"{m} is already part of another swarm; run lab.swarm.leave({m!r}, "
                        f"force=True) first.") from None
            return self._joined_node_id(m, timeout)

        node_ids += parallel_map(join_one, todo)
        for m in todo:
            notes.append(f"{m}: This node joined a swarm as a {role}.")
        if wait:
            wait_for(lambda: self._nodes_ready(node_ids), what="swarm join", timeout=timeout,
                     progress=lab.progress, logs=lambda: lab.engine_logs(names),
                     advice="Are the machines' engines running (lab.machine.ls())?")
        return Text(command=tok.join_command(), body="\n".join(notes),
                    data={"joined": todo, "found": [m for m in names if m not in todo]})

    def _joined_node_id(self, machine: str, timeout: float) -> str:
        """The node ID of a machine once its engine says it is in the swarm."""
        def joined() -> Progress:
            info = self._lab.client(machine).info()["Swarm"]
            return Progress(info.get("LocalNodeState") == "active" and bool(info.get("NodeID")),
                            state=f"{machine} is {info.get('LocalNodeState')}", total=1)

        wait_for(joined, what=f"{machine} joining", timeout=timeout, logs=lambda: self._lab.engine_logs([machine]))
        return str(self._lab.client(machine).info()["Swarm"]["NodeID"])

    def _settled_info(self, machine: str, timeout: float) -> dict[str, Any]:
        """The machine's Swarm info once it is no longer joining or initialising."""
        def settled() -> Progress:
            state = (self._lab.swarm_info(machine) or {}).get("LocalNodeState")
            return Progress(state in ("active", "inactive", "error", "locked"), state=f"{machine} is {state}")

        wait_for(settled, what=f"{machine} settling", timeout=timeout)
        return self._lab.swarm_info(machine) or {}

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
