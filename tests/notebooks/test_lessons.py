"""Every lesson executed with papermill, in class order, on real DinD swarms: the classic lab's
on one lab, the lessons after it on another (CI parameters: offline images, answer keys on,
1 s update delay). After each notebook the swarm is read
directly through docker inside the manager machine's container (not through swarmlab), and
the executed notebooks are checked for what a learner sees. The executed notebooks are kept
in tests/artifacts/notebooks/ for a look after a failure."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import nbformat
import nbtools
import pytest
from labtest import labelled

import swarmlab as sl

#: a part's lessons run in its module fixture, timed with the first test that asks for it
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

ARTIFACTS = nbtools.ROOT / "tests" / "artifacts" / "notebooks"
WORKLOAD, WEB_V1, WEB_V2 = "swarmlab/busybox:latest", "swarmlab/web:1", "swarmlab/web:2"
#: lessons run a second time straight after the first (the ones whose steps find what exists)
RUN_TWICE = ("02-swarm", "04-rolling-update", "06-cleanup", "08-quorum", "09-self-healing")
FULL_TOKEN = re.compile(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}")


@dataclass
class Run:
    lab: str
    notebooks: dict[str, nbformat.NotebookNode] = field(default_factory=dict)
    engine: dict[str, dict[str, Any]] = field(default_factory=dict)  # after each notebook
    seconds: dict[str, float] = field(default_factory=dict)

    def cell(self, notebook: str, cell_id: str) -> nbformat.NotebookNode:
        for c in self.notebooks[notebook].cells:
            if c.get("id") == cell_id:
                return c
        raise AssertionError(f"{notebook} has no cell {cell_id!r}")

    def text(self, notebook: str, cell_id: str) -> str:
        """What the learner sees in a cell's output, as text."""
        parts = []
        for o in self.cell(notebook, cell_id).get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o["text"])
            elif "data" in o:
                parts.append(o["data"].get("text/plain", ""))
        return "\n".join(parts)


def machine_container(host: docker.DockerClient, lab: str, machine: str) -> Any:
    """The container of a lab's machine, found by its labels (as swarmlab finds it)."""
    found = host.containers.list(filters={"label": [f"io.swarmlab.lab={lab}",
                                                     f"io.swarmlab.machine={machine}"]})
    return found[0] if found else None


def in_machine(host: docker.DockerClient, lab: str, machine: str, command: str) -> str:
    code, out = machine_container(host, lab, machine).exec_run(["sh", "-c", command])
    assert code == 0, f"{command} on {machine}: {out.decode()}"
    return out.decode().strip()


def lines_json(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def snapshot(host: docker.DockerClient, lab: str) -> dict[str, Any]:
    """The swarm as the engine sees it, read with docker inside the manager machine."""
    snap: dict[str, Any] = {"labelled": labelled(host, lab)}
    if machine_container(host, lab, "manager1") is None:
        return snap
    mgr = lambda cmd: in_machine(host, lab, "manager1", cmd)  # noqa: E731
    snap["swarm"] = mgr("docker info --format '{{.Swarm.LocalNodeState}}'")
    if snap["swarm"] != "active":
        return snap
    snap["node_addr"] = mgr("docker info --format '{{.Swarm.NodeAddr}}'")
    snap["nodes"] = {n["Hostname"]: n for n in lines_json(mgr("docker node ls --format '{{json .}}'"))}
    services = lines_json(mgr("docker service ls --format '{{json .}}'"))
    snap["services"] = {s["Name"]: s for s in services}
    snap["tasks"] = {
        s["Name"]: lines_json(mgr(f"docker service ps {s['Name']} --filter desired-state=running "
                                  "--format '{{json .}}'"))
        for s in services
    }
    snap["inspect"] = {s["Name"]: json.loads(mgr(f"docker service inspect {s['Name']}"))[0] for s in services}
    count = "docker ps -aq --filter label=com.docker.swarm.service.name=helloworld | wc -l"
    machines = ("manager1", "worker1", "worker2")
    snap["helloworld_containers"] = {m: in_machine(host, lab, m, count) for m in machines}
    return snap


def run_in_sequence(host: docker.DockerClient, paths: list[Path]) -> Iterator[Run]:
    """Execute lessons in class order on one lab of their own, each in RUN_TWICE twice."""
    r = Run(nbtools.new_lab_name())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        for path in paths:
            t = time.monotonic()
            r.notebooks[path.stem] = nbtools.execute(path, ARTIFACTS / path.name, r.lab)
            r.seconds[path.stem] = time.monotonic() - t
            r.engine[path.stem] = snapshot(host, r.lab)
            if path.stem in RUN_TWICE:  # a class runs a lesson again: same end state, no error
                again = f"{path.stem}-again"
                r.notebooks[again] = nbtools.execute(path, ARTIFACTS / f"{again}.ipynb", r.lab)
                r.engine[again] = snapshot(host, r.lab)
        print("lesson times: " + ", ".join(f"{k} {v:.0f} s" for k, v in r.seconds.items()))
        yield r
    finally:
        sl.Lab(r.lab, provider="dind", progress=False).destroy()
        assert labelled(host, r.lab) == {"containers": 0, "volumes": 0, "networks": 0}


#: The classic lab (00 to 06) and what comes after it (07 on, which starts a lab of its own):
#: each part runs in sequence on a lab of its own, so the two parts can run side by side
#: (pytest-xdist: a group each).
CLASSIC = [p for p in nbtools.notebooks() if p.stem < "07"]
AFTER = [p for p in nbtools.notebooks() if p.stem >= "07"]
IN_CLASSIC, IN_AFTER = pytest.mark.xdist_group("lessons-classic"), pytest.mark.xdist_group("lessons-after")
BOTH_PARTS = pytest.mark.parametrize("part", [pytest.param("run", marks=IN_CLASSIC),
                                              pytest.param("after", marks=IN_AFTER)])


@pytest.fixture(scope="module")
def run(host: docker.DockerClient) -> Iterator[Run]:
    """The classic lab's lessons, 00 to 06."""
    yield from run_in_sequence(host, CLASSIC)


@pytest.fixture(scope="module")
def after(host: docker.DockerClient) -> Iterator[Run]:
    """The lessons after the classic lab, 07 on."""
    yield from run_in_sequence(host, AFTER)


@BOTH_PARTS
def test_every_lesson_ran_without_an_error_output(part: str, request: pytest.FixtureRequest) -> None:
    run = request.getfixturevalue(part)
    paths = CLASSIC if part == "run" else AFTER
    assert len(run.notebooks) == len(paths) + sum(1 for p in paths if p.stem in RUN_TWICE)
    assert len(CLASSIC) + len(AFTER) == len(nbtools.notebooks())
    for name, nb in run.notebooks.items():
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


@IN_CLASSIC
def test_00_setup_check_says_ready_and_the_probe_machine_is_gone(run: Run) -> None:
    ready = run.text("00-setup-check", "setup-check")
    assert ready.startswith("✓ this computer is ready for the lessons: done."), ready
    assert "a Docker engine answers" in ready and "offline images: all built" in ready
    probe = run.text("00-setup-check", "probe-machine")
    assert "Docker 20.10" in probe and "runs inside the machine" in probe
    assert f"✓ nothing of lab '{run.lab}-check' is left: done." in probe
    assert run.engine["00-setup-check"]["labelled"]["containers"] == 0


@IN_CLASSIC
def test_01_three_machines_run_and_no_swarm_yet(run: Run) -> None:
    ls = run.text("01-machines", "machine-ls")
    assert ls.startswith("$ docker-machine ls")
    assert [line.split()[0] for line in ls.splitlines()[2:]] == ["manager1", "worker1", "worker2"]
    assert all(" Running " in line for line in ls.splitlines()[2:])
    ip = run.text("01-machines", "machine-ip").splitlines()
    assert ip[0] == "$ docker-machine ip manager1" and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", ip[-1])
    eng = run.engine["01-machines"]
    assert eng["labelled"]["containers"] == 3 and eng["swarm"] == "inactive"
    assert "Server 20.10" in run.text("01-machines", "machine-ssh")


@IN_CLASSIC
def test_02_swarm_of_three_with_the_advertised_address(run: Run) -> None:
    init = run.text("02-swarm", "swarm-init")
    ip = run.text("02-swarm", "manager-ip").splitlines()[-1]
    assert f"$ docker swarm init --advertise-addr {ip}" in init
    assert "docker swarm join --token SWMTKN-1-" in init and "…(masked)" in init
    networks = run.text("02-swarm", "two-networks")
    assert "docker0" in networks and "eth0" in networks
    info = run.text("02-swarm", "docker-info")
    assert "Swarm: active" in info and " Managers: 1" in info and " Nodes: 3" in info
    assert "This node is not a swarm manager" in run.text("02-swarm", "node-ls-worker")
    nodes = run.engine["02-swarm"]["nodes"]
    assert sorted(nodes) == ["manager1", "worker1", "worker2"]
    assert all(n["Status"] == "Ready" and n["Availability"] == "Active" for n in nodes.values())
    assert nodes["manager1"]["ManagerStatus"] == "Leader"
    assert run.engine["02-swarm"]["node_addr"] == ip  # the address the swarm really advertises


@BOTH_PARTS
def test_join_tokens_are_never_shown_in_full(part: str, request: pytest.FixtureRequest) -> None:
    run = request.getfixturevalue(part)
    for name, nb in run.notebooks.items():
        assert not FULL_TOKEN.search(nbformat.writes(nb)), f"{name} shows a full join token"


@IN_CLASSIC
def test_03_helloworld_scaled_to_5_then_3_and_kept(run: Run) -> None:
    assert "swarmlab/busybox:latest ping 127.0.0.1" in run.text("03-services", "images")
    assert "helloworld   replicated   1/1" in run.text("03-services", "service-ls")
    typed = run.text("03-services", "service-ls-cli")  # %docker: the real CLI on the manager
    assert typed.startswith("$ docker service ls   # on manager1\n") and "helloworld   replicated   1/1" in typed
    board = run.cell("03-services", "dashboard")["outputs"][0]["data"]
    assert board["text/plain"] == f"<swarmlab dashboard of lab {run.lab!r}>"
    assert 'data-service="helloworld"' in board["text/html"]
    after_scale = run.text("03-services", "ps-after-scale")
    running = [line for line in after_scale.splitlines() if re.search(r"Running\s+Running", line)]
    assert len(running) == 5, after_scale
    assert {f"helloworld.{i}" for i in range(1, 6)} == {line.split()[1] for line in running}
    per_node = run.cell("03-services", "tasks-per-node")["outputs"][0]["data"]["text/plain"]
    assert sum(int(line.split()[-1]) for line in per_node.splitlines()[1:-1]) == 5
    assert run.text("03-services", "check-scale").startswith("✓ scale helloworld to 3: done.")
    assert "Args:          ping 127.0.0.1" in run.text("03-services", "service-inspect")
    eng = run.engine["03-services"]
    assert eng["services"]["helloworld"]["Replicas"] == "3/3"  # kept for the next lessons
    assert len(eng["tasks"]["helloworld"]) == 3


@IN_CLASSIC
def test_04_rolling_update_history_failure_and_rollback(run: Run) -> None:
    ps = run.text("04-rolling-update", "ps-after-update")
    rows = [line for line in ps.splitlines()[2:]]
    assert sum(1 for r in rows if WEB_V2 in r and re.search(r"Running\s+Running", r)) == 3, ps
    assert sum(1 for r in rows if r.split()[1] == "\\_" and WEB_V1 in r and "Shutdown" in r) == 3, ps
    assert run.text("04-rolling-update", "check-rollback").startswith(
        f"✓ roll redis back from {WEB_V2} to {WEB_V1}: done.")
    assert run.text("04-rolling-update", "failed-update").startswith("The update paused:")
    assert "redis-test" in run.text("04-rolling-update", "failed-update")
    assert "task: non-zero exit (1)" in run.text("04-rolling-update", "ps-after-failure")
    assert re.search(r"State:\s+paused", run.text("04-rolling-update", "update-status"))
    eng = run.engine["04-rolling-update"]
    assert sorted(eng["services"]) == ["helloworld", "redis"]  # redis-test went at the end
    redis = eng["inspect"]["redis"]
    assert redis["UpdateStatus"]["State"] == "rollback_completed"
    assert redis["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].startswith(WEB_V1)
    assert "Args" not in redis["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert redis["Spec"]["UpdateConfig"]["Delay"] == 1_000_000_000
    assert eng["services"]["redis"]["Replicas"] == "3/3"
    assert len(eng["tasks"]["redis"]) == 3
    assert all(t["Image"].startswith(WEB_V1) and t["CurrentState"].startswith("Running")
               for t in eng["tasks"]["redis"])


@IN_CLASSIC
def test_05_drain_moves_tasks_and_keeps_the_replicas(run: Run) -> None:
    ps = run.text("05-drain", "ps-after-drain")
    live = [line for line in ps.splitlines()[2:] if line.split()[1] != "\\_"]
    assert len(live) == 3 and not any(" worker1 " in line for line in live), ps
    assert re.search(r"\bredis\s+replicated\s+3/3", run.text("05-drain", "ls-after-drain"))
    assert re.search(r"worker1\s+Ready\s+Drain", run.text("05-drain", "nodes-after-drain"))
    assert re.search(r"Availability:\s+Drain", run.text("05-drain", "node-inspect"))
    assert run.text("05-drain", "check-drain").startswith("✓ drain worker2: done.")
    eng = run.engine["05-drain"]
    assert all(n["Availability"] == "Active" for n in eng["nodes"].values())
    assert eng["services"]["redis"]["Replicas"] == "3/3"
    assert all(t["CurrentState"].startswith("Running") for t in eng["tasks"]["redis"])


@IN_CLASSIC
def test_06_cleanup_removes_the_services_then_everything(run: Run) -> None:
    removed = run.text("06-cleanup", "rm-services")
    assert removed.startswith("$ docker service rm helloworld redis"), removed
    assert "{'manager1': 0, 'worker1': 0, 'worker2': 0}" in run.text("06-cleanup", "containers-after-rm")
    assert run.engine["06-cleanup"] == {"labelled": {"containers": 0, "volumes": 0, "networks": 0}}
    assert run.text("06-cleanup", "check-clean").startswith(f"✓ nothing of lab '{run.lab}' is left: done.")
    assert run.text("06-cleanup", "ls-after-destroy").splitlines()[1].split() == [
        "NAME", "ACTIVE", "DRIVER", "STATE", "URL", "ADDRESS", "DOCKER", "ERRORS"]


def managers_up(engine: dict[str, Any]) -> list[str]:
    """The managers that ``docker node ls`` (in manager1) lists Ready and Leader or Reachable."""
    return sorted(h for h, n in engine["nodes"].items()
                  if n["ManagerStatus"] in ("Leader", "Reachable") and n["Status"] == "Ready")


@IN_AFTER
def test_07_the_leader_killed_a_new_one_elected_the_old_one_back_as_a_follower(after: Run) -> None:
    ha = "07-high-availability"
    up = after.text(ha, "up")
    assert re.search(r"manager1\s+Ready\s+Active\s+Leader", up), up
    assert len(re.findall(r"manager[23]\s+Ready\s+Active\s+Reachable", up)) == 2, up
    assert "quorum:    yes: the swarm can change; it survives the loss of 1 more manager" in after.text(ha, "quorum")
    said = after.text(ha, "failover")
    m = re.search(r"(manager\d) was killed\. (manager\d) leads now: elected (\d+) s after the kill; "
                  r"the swarm took a change (\d+) s after it\.", said)
    assert m and m[1] != m[2], said
    old = m[1]
    assert "reachable: 2" in after.text(ha, "quorum-after-kill")
    # the tasks of the dead machine were started again on the others: 6 live, none on it
    ps = [line for line in after.text(ha, "ps-after-kill").splitlines()[2:] if line.split()[1] != "\\_"]
    assert len(ps) == 6 and not any(f" {old} " in line for line in ps), ps
    assert re.search(rf"{old}\s+Ready\s+Active\s+Reachable", after.text(ha, "start-old"))
    assert "managers:  2" in after.text(ha, "demote")
    assert after.text(ha, "check-survives_one_manager_loss").startswith(
        "✓ the swarm survives the loss of any one manager: done.")
    eng = after.engine[ha]
    assert managers_up(eng) == ["manager1", "manager2", "manager3"]
    assert sorted(eng["nodes"]) == ["manager1", "manager2", "manager3", "worker1", "worker2"]
    assert eng["services"]["web"]["Replicas"] == "6/6"


@IN_AFTER
def test_08_two_managers_lost_nothing_changes_then_the_quorum_back_and_a_rebuild(after: Run) -> None:
    q = "08-quorum"
    lost = after.text(q, "quorum-lost")
    assert "quorum:    NO" in lost and "does not have a leader" in lost, lost
    assert "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader" \
        in after.text(q, "node-ls-no-leader")
    # the workers' engines still run the tasks they had
    running = [line for line in after.text(q, "tasks-still-running").splitlines() if line.startswith("web.")]
    assert running and all("  Up " in line for line in running), after.text(q, "tasks-still-running")
    refused = after.text(q, "scale-refused")
    assert refused.startswith("NoQuorum: ") and "too few managers are online" in refused, refused
    assert after.text(q, "check-quorum").startswith("✓ the swarm has a leader and a majority of its managers: done.")
    assert "web scaled to 8" in after.text(q, "scale-again")
    forced = after.text(q, "force-new-cluster")
    assert forced.startswith("$ docker swarm init --force-new-cluster --advertise-addr "), forced
    assert "is now the only manager" in forced
    listed = after.text(q, "node-ls-after-force")
    assert re.search(r"manager1\s+Ready\s+Active\s+Leader", listed), listed
    assert not re.search(r"manager[23]\s+\w+\s+Active\s+(Leader|Reachable)", listed), listed
    assert "Successfully removed manager2" in after.text(q, "remove-lost")
    eng = after.engine[q]
    assert managers_up(eng) == ["manager1", "manager2", "manager3"]
    assert sorted(eng["nodes"]) == ["manager1", "manager2", "manager3", "worker1", "worker2"]  # no lost one left
    assert eng["nodes"]["manager1"]["ManagerStatus"] == "Leader"
    assert eng["services"]["web"]["Replicas"] == "8/8"


@IN_AFTER
def test_09_a_worker_lost_its_tasks_elsewhere_nothing_back_until_a_rebalance(after: Run) -> None:
    h = "09-self-healing"
    assert "overall progress: 5 out of 5 tasks" in after.text(h, "agent")  # global: one on each node
    rows = after.text(h, "rescheduled").splitlines()[2:]
    live = [line for line in rows if line.split()[1] != "\\_"]
    assert len(live) == 6 and not any(" worker1 " in line for line in live), rows
    assert any(line.split()[1] == "\\_" and " worker1 " in line and " Shutdown " in line for line in rows), rows
    board = after.cell(h, "dashboard-after-kill")["outputs"][0]["data"]["text/html"]
    assert 'class="swarmlab-node swarmlab-down" data-node="worker1"' in board
    agent = after.text(h, "agent-after-kill").splitlines()[2:]
    assert sum(1 for line in agent if re.search(r"Running\s+Running", line)) == 4, agent
    assert re.search(r"worker1\s+Shutdown", "\n".join(agent)), agent
    back = after.text(h, "start-worker")
    assert re.search(r"agent\.\S+\s+\S+\s+worker1\s+Running", back), back  # the global task is back
    assert "worker1" not in after.text(h, "web-per-node-after-start")  # the replicated ones are not
    assert after.text(h, "check-rebalanced").startswith("✓ web runs on every node again: done.")
    eng = after.engine[h]
    assert eng["services"]["web"]["Replicas"] == "6/6" and eng["services"]["agent"]["Replicas"] == "5/5"
    nodes = {t["Node"] for t in eng["tasks"]["web"]}
    assert nodes == set(eng["nodes"]), eng["tasks"]["web"]


@IN_CLASSIC
def test_lessons_run_again_reach_the_same_state(run: Run) -> None:
    again = run.text("02-swarm-again", "swarm-init")
    assert "manager1 already manages an active swarm (nothing to do)." in again
    assert "worker1 is already a member of this swarm (nothing to do)." in run.text("02-swarm-again", "swarm-join")
    assert run.engine["02-swarm-again"]["nodes"].keys() == run.engine["02-swarm"]["nodes"].keys()
    assert run.text("04-rolling-update-again", "check-rollback").startswith("✓ roll redis back")
    first, second = run.engine["04-rolling-update"], run.engine["04-rolling-update-again"]
    assert second["inspect"]["redis"]["ID"] != first["inspect"]["redis"]["ID"]  # made afresh
    for key in ("Spec", "UpdateStatus"):
        a, b = first["inspect"]["redis"][key], second["inspect"]["redis"][key]
        if key == "UpdateStatus":
            a, b = a["State"], b["State"]
        assert a == b
    assert run.engine["06-cleanup-again"] == run.engine["06-cleanup"]
    assert "no swarm (any more): nothing to remove" in run.text("06-cleanup-again", "rm-services")
    assert run.text("06-cleanup-again", "containers-after-rm").strip() == "{}"


@IN_AFTER
def test_lessons_after_the_lab_run_again_reach_the_same_state(after: Run) -> None:
    # 08 and 09 again: the same failures, the same recoveries (07 runs again in the nbval tier
    # and under the virtualbox provider, each time from the state 06 or 09 left)
    assert managers_up(after.engine["08-quorum-again"]) == ["manager1", "manager2", "manager3"]
    assert after.text("08-quorum-again", "check-quorum").startswith("✓")
    assert after.text("09-self-healing-again", "check-rebalanced").startswith("✓")
    assert after.engine["09-self-healing-again"]["services"]["agent"]["Replicas"] == "5/5"
