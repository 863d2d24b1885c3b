"""The managers' arithmetic and the engine's no-leader answer, on node lists shaped as
``GET /nodes`` returns them (fields as docker 20.10 and 27 send them)."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import requests

import swarmlab as sl
from swarmlab.commands._base import engine_errors
from swarmlab.commands.swarm import has_leader
from swarmlab.converge import Quorum, Snapshot, quorum_of, roles_settled

NO_LEADER = ("rpc error: code = Unknown desc = The swarm does not have a leader. It's possible "
             "that too few managers are online. Make sure more than half of the managers are online.")


def node(name: str, role: str = "worker", reach: str = "", leader: bool = False,
         state: str = "ready") -> dict[str, Any]:
    n: dict[str, Any] = {"ID": f"id-{name}", "Description": {"Hostname": name},
                         "Spec": {"Role": role, "Availability": "active"}, "Status": {"State": state}}
    if reach:
        n["ManagerStatus"] = {"Reachability": reach, "Addr": "10.0.0.1:2377"}
        if leader:
            n["ManagerStatus"]["Leader"] = True
    return n


def test_a_majority_is_more_than_half_and_n_managers_tolerate_n_minus_1_over_2() -> None:
    assert [Quorum(n, n, "m1").needed for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]
    assert [Quorum(n, n, "m1").tolerates for n in range(1, 8)] == [0, 0, 1, 1, 2, 2, 3]
    assert not Quorum(3, 1, "").has_quorum and Quorum(3, 2, "m2").has_quorum
    assert not Quorum(0, 0, "").has_quorum
    # managers that answer but see no leader: no quorum, whatever their number
    assert not Quorum(3, 3, "").has_quorum and Quorum(3, 3, "").tolerates == 0


def test_the_managers_are_counted_from_their_manager_status() -> None:
    nodes = [node("manager1", "manager", "reachable", leader=True),
             node("manager2", "manager", "unreachable", state="down"),
             node("manager3", "manager", "reachable"), node("worker1"),
             # lost to --force-new-cluster: its spec still says manager, but it is no member
             node("manager4", "manager", state="unknown")]
    q = quorum_of(nodes)
    assert (q.managers, q.reachable, q.leader, q.needed, q.has_quorum, q.tolerates) == (3, 2, "manager1", 2, True, 0)


def test_a_role_is_settled_when_the_raft_group_says_so() -> None:
    promoting = node("worker1", "manager")  # the spec changed, no manager status yet
    snap = Snapshot([], [], [promoting])
    assert not roles_settled(snap, ["id-worker1"], "manager").done
    snap = Snapshot([], [], [node("worker1", "manager", "reachable")])
    assert roles_settled(snap, ["id-worker1"], "manager").done
    demoting = node("manager2", "worker", "reachable")  # still in the group
    assert not roles_settled(Snapshot([], [], [demoting]), ["id-manager2"], "worker").done
    assert roles_settled(Snapshot([], [], [node("manager2")]), ["id-manager2"], "worker").done


def test_docker_info_of_a_manager_without_leader() -> None:
    assert has_leader({"LocalNodeState": "active", "ControlAvailable": True, "Error": ""})
    assert not has_leader({"LocalNodeState": "active", "ControlAvailable": True, "Error": NO_LEADER})
    assert not has_leader(None)


def test_the_engines_no_leader_answer_becomes_noquorum_with_what_to_do() -> None:
    response = requests.Response()
    response.status_code = 500
    with pytest.raises(sl.NoQuorum) as caught, engine_errors("scale service hello"):
        raise docker.errors.APIError("500 Server Error", response=response, explanation=NO_LEADER)
    text = str(caught.value)
    assert text.startswith("failed to scale service hello: rpc error")  # the engine's words first
    assert "force_new_cluster=True" in text and "lab.machine.start" in text
    assert isinstance(caught.value, sl.DockerError)


def test_a_demoted_node_is_a_worker_only_once_the_role_filter_says_so() -> None:
    left = Snapshot([], [], [node("manager2")])  # out of the Raft group, spec says worker
    assert not roles_settled(left, ["id-manager2"], "worker", listed=set()).done
    assert roles_settled(left, ["id-manager2"], "worker", listed={"id-manager2"}).done


def test_a_global_service_waits_for_a_task_on_every_ready_active_node() -> None:
    """Right after ``docker service create --mode global`` the orchestrator may not have made
    every node's task yet: convergence counts the nodes, not the tasks already there."""
    from swarmlab.converge import service_progress

    svc = {"ID": "s1", "Spec": {"Name": "agent", "Mode": {"Global": {}}, "TaskTemplate": {}}}
    nodes = [node("m1", "manager", "reachable", leader=True), node("w1"), node("w2"),
             node("w3", state="down")]
    nodes[2]["Spec"]["Availability"] = "drain"

    def task(on: str) -> dict[str, Any]:
        return {"ID": f"t-{on}", "ServiceID": "s1", "NodeID": f"id-{on}", "DesiredState": "running",
                "Status": {"State": "running", "Timestamp": "2026-01-01T00:00:00Z"}}

    one = service_progress(Snapshot([svc], [task("m1")], nodes), "agent", None, stable=False)
    assert not one.done and (one.n, one.total) == (1, 2)  # w1 has no task yet; w2 drained, w3 down
    both = service_progress(Snapshot([svc], [task("m1"), task("w1")], nodes), "agent", None, stable=False)
    assert both.done and both.total == 2
    # with placement constraints the nodes it may run on are the engine's to say: its tasks count
    svc["Spec"]["TaskTemplate"] = {"Placement": {"Constraints": ["node.role==manager"]}}
    assert service_progress(Snapshot([svc], [task("m1")], nodes), "agent", None, stable=False).done
