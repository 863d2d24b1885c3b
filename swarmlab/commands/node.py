"""``docker node``: ls, inspect, update (drain / activate / pause), promote / demote, rm."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import docker.errors

from .._errors import DockerError, InvalidArgument, NodeNotFound
from .._results import Table, Text
from .._wait import Progress
from ..converge import Snapshot, SwarmReader, drained, roles_settled
from ._base import Command, engine_errors
from .clitext import NODE_LS_COLUMNS, CliTable, format_node_pretty, node_ls_rows
from .validate import AVAILABILITIES, check_choice, did_you_mean

#: What a manager answers to an update made from a version of the node that is no longer the
#: latest: the swarm changed the node meanwhile (a role change settling, a heartbeat).
OUT_OF_SEQUENCE = "update out of sequence"


def update_spec(client: Any, node_id: str, key: str, value: str, attempts: int = 5) -> None:
    """Set one field of a node's spec (``docker node update``): the spec and its version are
    read together, and read again when the swarm changed the node in between."""
    for attempt in range(attempts):
        fresh = client.api.inspect_node(node_id)
        spec = copy.deepcopy(fresh["Spec"])
        spec[key] = value
        try:
            client.api.update_node(node_id, fresh["Version"]["Index"], spec)
            return
        except docker.errors.APIError as e:
            if OUT_OF_SEQUENCE not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


class Nodes(Command):
    """``docker node``: ls, inspect, update (drain / activate / pause), promote / demote, rm."""

    def _all(self) -> list[dict[str, Any]]:
        with engine_errors("list the swarm's nodes"):
            return list(self._lab.manager_client().api.nodes())

    def _find(self, name: str, nodes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"node name {name!r}: give a hostname such as 'worker1'")
        nodes = nodes if nodes is not None else self._all()
        # a machine of the lab is its own node, whatever its hostname (an ssh host may differ)
        own = self._lab.swarm_info(name) if name in set(self._lab.machines(running=False)) else None
        hits = [n for n in nodes if own and n["ID"] == own.get("NodeID")]
        hits = hits or [n for n in nodes if n["Description"].get("Hostname") == name]
        hits = hits or [n for n in nodes if n["ID"].startswith(name) and len(name) >= 4]
        if len(hits) != 1:
            known = ", ".join(sorted(n["Description"].get("Hostname", "?") for n in nodes))
            if hits:
                raise NodeNotFound(f"{len(hits)} nodes are called {name!r}; use a node ID instead")
            close = did_you_mean(name, [n["Description"].get("Hostname", "") for n in nodes])
            raise NodeNotFound(
                f"the swarm has no node {name!r}" + (f": did you mean {close!r}?" if close else "")
                + f" (nodes: {known}); run lab.node.ls() to see them"
            )
        return hits[0]

    def ls(self) -> Table:
        """``docker node ls``: ID, HOSTNAME, STATUS, AVAILABILITY, MANAGER STATUS, ENGINE VERSION."""
        lab = self._lab
        mgr = lab.manager()
        client = lab.client(mgr)
        with engine_errors("list the swarm's nodes"):
            nodes = client.api.nodes()
            self_id = client.info()["Swarm"]["NodeID"]
        return CliTable.of("docker node ls", NODE_LS_COLUMNS, node_ls_rows(nodes, self_id), data=nodes,
                           colour=["STATUS", "AVAILABILITY", "MANAGER STATUS"], notes=[f"on {mgr}"])

    def inspect(self, name: str, pretty: bool = False) -> Text:
        """``docker node inspect [--pretty] NAME``."""
        node = self._find(name)
        cmd = f"docker node inspect {'--pretty ' if pretty else ''}{name}"
        body = format_node_pretty(node) if pretty else json.dumps(node, indent=4)
        return Text(command=cmd, body=body, data=node)

    def update(self, name: str, availability: str | None = None, wait: bool = True,
               timeout: float = 120.0) -> Text:
        """``docker node update --availability active|pause|drain NAME``.

        Draining waits until no task runs on the node any more and every service has its
        replicas back (on the other nodes)."""
        lab = self._lab
        if availability is None:
            raise InvalidArgument("say what to change, e.g. availability='drain'")
        check_choice("availability", availability, AVAILABILITIES)
        node = self._find(name)
        cmd = f"docker node update --availability {availability} {name}"
        client = lab.manager_client()
        notes = []
        with engine_errors("list tasks"):  # before the change: which services must come back
            on_node = {t["ServiceID"] for t in client.api.tasks(filters={"node": node["ID"]})
                       if t.get("DesiredState") == "running"}
        if node["Spec"].get("Availability") == availability:
            notes.append(f"{name} is already {availability} (nothing to change).")
        else:
            with engine_errors(f"update node {name}"):
                update_spec(client, node["ID"], "Availability", availability)
        if wait and availability == "drain":
            reader = SwarmReader(lab)
            self._wait_for(lambda: drained(reader.read(), node["ID"], on_node), what=f"drain {name}",
                     timeout=timeout, progress=lab.progress, logs=lambda: lab.engine_logs())
        body = name
        return Text(command=cmd, body=body, notes=notes, data={"availability": availability})

    def drain(self, name: str, wait: bool = True, timeout: float = 120.0) -> Text:
        """``docker node update --availability drain NAME``: move its tasks elsewhere."""
        return self.update(name, availability="drain", wait=wait, timeout=timeout)

    def activate(self, name: str) -> Text:
        """``docker node update --availability active NAME``: accept new tasks again."""
        return self.update(name, availability="active")

    def pause(self, name: str) -> Text:
        """``docker node update --availability pause NAME``: keep its tasks, take no new ones."""
        return self.update(name, availability="pause")

    # -- roles ----------------------------------------------------------------------------
    def promote(self, *names: str, wait: bool = True, timeout: float = 60.0) -> Text:
        """``docker node promote NAME...``: make workers managers. Waits until each one is a
        reachable member of the Raft group (MANAGER STATUS ``Reachable``)."""
        return self._set_role(names, "manager", wait, timeout)

    def demote(self, *names: str, wait: bool = True, timeout: float = 60.0) -> Text:
        """``docker node demote NAME...``: make managers workers (the engine refuses to
        demote the last manager). Waits until each one has left the Raft group."""
        return self._set_role(names, "worker", wait, timeout)

    def _set_role(self, names: tuple[str, ...], role: str, wait: bool, timeout: float) -> Text:
        verb = "promote" if role == "manager" else "demote"
        if not names:
            raise InvalidArgument(f"name at least one node, e.g. lab.node.{verb}('worker1')")
        lab = self._lab
        nodes = self._all()
        found = [self._find(n, nodes) for n in names]  # every name checked before any change
        client = lab.manager_client()
        notes, body, changed = [], [], []
        for name, node in zip(names, found):
            if node["Spec"].get("Role") == role:
                notes.append(f"{name} is already a {role} (nothing to change).")
                continue
            with engine_errors(f"{verb} node {name}"):
                update_spec(client, node["ID"], "Role", role)
            changed.append(node["ID"])
            body.append(f"Node {name} {verb}d to a {role} in the swarm.")
        if wait and changed:
            def settled() -> Progress:
                api = lab.manager_client().api
                listed = {n["ID"] for n in api.nodes(filters={"role": role})}
                return roles_settled(Snapshot([], [], list(api.nodes())), changed, role, listed)

            self._wait_for(settled, what=f"node {verb}", timeout=timeout, progress=lab.progress,
                     logs=lambda: lab.engine_logs())
        return Text(command=f"docker node {verb} {' '.join(names)}", body="\n".join(body),
                    notes=notes, data={"changed": changed})

    # -- removal ----------------------------------------------------------------------------
    def rm(self, *names: str, force: bool = False) -> Text:
        """``docker node rm [--force] NAME...``: take nodes out of the swarm's list.

        A node that is Down (its machine killed, removed or wiped) needs ``force=True``, as
        the CLI does, and a manager must be demoted first. When several nodes share a
        hostname (a machine wiped and joined again), the one that is Down is the one meant.
        A node that is not there is reported, so the cell can run twice."""
        if not names:
            raise InvalidArgument("name at least one node, e.g. lab.node.rm('worker1', force=True)")
        lab = self._lab
        nodes = self._all()
        targets, notes = [], []
        for name in names:
            if not isinstance(name, str) or not name:
                raise InvalidArgument(f"node name {name!r}: give a hostname such as 'worker1'")
            down = [n for n in nodes if (n.get("Description") or {}).get("Hostname") == name
                    and (n.get("Status") or {}).get("State") != "ready"]
            named = [n for n in nodes if (n.get("Description") or {}).get("Hostname") == name]
            if len(down) == 1 and len(named) > 1:
                targets.append((name, down[0]))
            elif not named and not any(n["ID"].startswith(name) for n in nodes if len(name) >= 4):
                notes.append(f"the swarm has no node {name!r} (nothing to remove).")
            else:
                targets.append((name, self._find(name, nodes)))
        client = lab.manager_client()
        removed = []
        for name, node in targets:
            try:
                with engine_errors(f"remove node {name}"):
                    client.api.remove_node(node["ID"], force=force)
            except DockerError as e:
                hint = ""
                if "is not down" in str(e) and not force:
                    hint = (f" Its machine still runs it: stop the machine first, or use "
                            f"force=True (docker node rm --force {name}).")
                elif "manager" in str(e).lower() and "demote" in str(e).lower():
                    hint = f" Demote it first: lab.node.demote({name!r})."
                raise type(e)(f"{e}{hint}") from None
            removed.append(node["ID"])
        return Text(command=f"docker node rm {'--force ' if force else ''}{' '.join(names)}",
                    body="\n".join(removed), notes=notes, data={"removed": removed})
