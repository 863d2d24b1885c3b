"""Every lesson executed with papermill, in class order, on one real DinD swarm (CI parameters:
offline images, answer keys on, 1 s update delay). After each notebook the swarm is read
directly through docker inside the manager machine's container (not through swarmlab), and
the executed notebooks are checked for what a learner sees. The executed notebooks are kept
in tests/artifacts/notebooks/ for a look after a failure."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import nbformat
import nbtools
import pytest
from labtest import labelled

import swarmlab as sl

pytestmark = pytest.mark.integration

ARTIFACTS = nbtools.ROOT / "tests" / "artifacts" / "notebooks"
WORKLOAD, WEB_V1, WEB_V2 = "swarmlab/busybox:latest", "swarmlab/web:1", "swarmlab/web:2"
#: lessons run a second time straight after the first (the ones whose steps find what exists)
RUN_TWICE = ("02-swarm", "04-rolling-update", "06-cleanup", "07-high-availability")
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


@pytest.fixture(scope="module")
def run(host: docker.DockerClient) -> Iterator[Run]:
    r = Run(nbtools.new_lab_name())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        for path in nbtools.notebooks():
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


def test_every_lesson_ran_without_an_error_output(run: Run) -> None:
    assert len(run.notebooks) == len(nbtools.notebooks()) + len(RUN_TWICE)
    for name, nb in run.notebooks.items():
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


def test_00_setup_check_says_ready_and_the_probe_machine_is_gone(run: Run) -> None:
    ready = run.text("00-setup-check", "setup-check")
    assert ready.startswith("✓ this computer is ready for the lessons: done."), ready
    assert "a Docker engine answers" in ready and "offline images: all built" in ready
    probe = run.text("00-setup-check", "probe-machine")
    assert "Docker 20.10" in probe and "runs inside the machine" in probe
    assert f"✓ nothing of lab '{run.lab}-check' is left: done." in probe
    assert run.engine["00-setup-check"]["labelled"]["containers"] == 0


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


def test_join_tokens_are_never_shown_in_full(run: Run) -> None:
    for name, nb in run.notebooks.items():
        assert not FULL_TOKEN.search(nbformat.writes(nb)), f"{name} shows a full join token"


def test_03_helloworld_scaled_to_5_then_3_and_kept(run: Run) -> None:
    assert "swarmlab/busybox:latest ping 127.0.0.1" in run.text("03-services", "images")
    assert "helloworld   replicated   1/1" in run.text("03-services", "service-ls")
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


def test_07_the_leader_killed_a_new_one_elected_the_old_one_back_as_a_follower(run: Run) -> None:
    ha = "07-high-availability"
    up = run.text(ha, "up")
    assert re.search(r"manager1\s+Ready\s+Active\s+Leader", up), up
    assert len(re.findall(r"manager[23]\s+Ready\s+Active\s+Reachable", up)) == 2, up
    assert "quorum:    yes: the swarm can change; it survives the loss of 1 more manager" in run.text(ha, "quorum")
    said = run.text(ha, "failover")
    m = re.search(r"(manager\d) was killed\. (manager\d) leads now: elected (\d+) s after the kill; "
                  r"the swarm took a change (\d+) s after it\.", said)
    assert m and m[1] != m[2], said
    old = m[1]
    assert "reachable: 2" in run.text(ha, "quorum-after-kill")
    # the tasks of the dead machine were started again on the others: 6 live, none on it
    ps = [line for line in run.text(ha, "ps-after-kill").splitlines()[2:] if line.split()[1] != "\\_"]
    assert len(ps) == 6 and not any(f" {old} " in line for line in ps), ps
    assert re.search(rf"{old}\s+Ready\s+Active\s+Reachable", run.text(ha, "start-old"))
    assert "managers:  2" in run.text(ha, "demote")
    assert run.text(ha, "check-survives_one_manager_loss").startswith(
        "✓ the swarm survives the loss of any one manager: done.")
    eng = run.engine[ha]
    assert managers_up(eng) == ["manager1", "manager2", "manager3"]
    assert sorted(eng["nodes"]) == ["manager1", "manager2", "manager3", "worker1", "worker2"]
    assert eng["services"]["web"]["Replicas"] == "6/6"


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
    # 07 again: it kills the (new) leader once more, and the swarm heals as the first time
    assert managers_up(run.engine["07-high-availability-again"]) == ["manager1", "manager2", "manager3"]
    assert run.text("07-high-availability-again", "check-survives_one_manager_loss").startswith("✓")
