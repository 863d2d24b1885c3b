"""The classic lab's lessons (00 to 06) executed with papermill, in class order, on one real
DinD swarm (CI parameters: offline images, answer keys on, 1 s update delay), then checked for
what a learner sees and, through docker inside the machines, for what the swarm really is.
The outputs of the cells tagged ``nbval-check-output`` are compared with the reference copies
by nbval's comparison, on this same execution. The lessons after the lab are in
test_lessons_after.py, on a lab of their own, so the two parts can run side by side."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import docker
import nbformat
import nbtools
import pytest
from lessonrun import Run, differences, no_error_outputs, no_full_token, run_in_sequence, same_as_reference

from swarmlab.lessons.setup import node_docker_version

#: the part's lessons run in its module fixture, timed with the first test that asks for it
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

WEB_V1, WEB_V2 = "swarmlab/web:1", "swarmlab/web:2"
CLASSIC = [p for p in nbtools.notebooks() if p.stem < "07"]


@pytest.fixture(scope="module")
def run(host: docker.DockerClient) -> Iterator[Run]:
    yield from run_in_sequence(host, CLASSIC)


def test_every_lesson_ran_without_an_error_output(run: Run) -> None:
    no_error_outputs(run, CLASSIC)


def test_join_tokens_are_never_shown_in_full(run: Run) -> None:
    no_full_token(run)


def test_checked_outputs_are_those_of_the_reference_copies(run: Run) -> None:
    same_as_reference(run, CLASSIC)


def test_a_changed_checked_output_is_caught(run: Run) -> None:
    """The same comparison fails when a checked output of the reference copy differs."""
    reference = nbformat.read(nbtools.reference_of(nbtools.NOTEBOOK_DIR / "06-cleanup.ipynb"), as_version=4)
    assert differences(run.notebooks["06-cleanup"], reference) == (2, [])
    (cell,) = [c for c in reference.cells if c.get("id") == "check-clean"]
    for o in cell.outputs:
        for mime in ("text/plain", "text/html"):
            o["data"][mime] = o["data"][mime].replace("✓ 0 volumes", "✓ 7 volumes")
    checked, found = differences(run.notebooks["06-cleanup"], reference)
    assert checked == 2 and len(found) == 1 and found[0].startswith("cell check-clean:") and "7 volumes" in found[0]


def machines_docker(host: docker.DockerClient) -> str:
    """The Docker version the lessons' machines run, major.minor, as their image was built with
    it (the label scripts/build-images takes from the package it installed)."""
    version = node_docker_version(host.images.get(os.environ["SWARMLAB_NODE_IMAGE"]).attrs)
    assert version, "the node image does not say its Docker version"
    return ".".join(version.split(".")[:2])


def test_00_setup_check_says_ready_and_the_probe_machine_is_gone(run: Run, host: docker.DockerClient) -> None:
    ready = run.text("00-setup-check", "setup-check")
    assert ready.startswith("✓ this computer is ready for the lessons: done."), ready
    assert "a Docker engine answers" in ready and "offline images: all built" in ready
    probe = run.text("00-setup-check", "probe-machine")
    assert f"Docker {machines_docker(host)}" in probe and "runs inside the machine" in probe
    assert f"the machines will run Docker {machines_docker(host)}" in ready
    assert f"✓ nothing of lab '{run.lab}-check' is left: done." in probe
    assert run.engine["00-setup-check"]["labelled"]["containers"] == 0


def test_01_three_machines_run_and_no_swarm_yet(run: Run, host: docker.DockerClient) -> None:
    ls = run.text("01-machines", "machine-ls")
    assert ls.startswith("$ docker-machine ls")
    assert [line.split()[0] for line in ls.splitlines()[2:]] == ["manager1", "worker1", "worker2"]
    assert all(" Running " in line for line in ls.splitlines()[2:])
    ip = run.text("01-machines", "machine-ip").splitlines()
    assert ip[0] == "$ docker-machine ip manager1" and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", ip[-1])
    eng = run.engine["01-machines"]
    assert eng["labelled"]["containers"] == 3 and eng["swarm"] == "inactive"
    assert f"Server {machines_docker(host)}" in run.text("01-machines", "machine-ssh")


def test_02_swarm_of_three_with_the_advertised_address(run: Run) -> None:
    init = run.text("02-swarm", "swarm-init")
    ip = run.text("02-swarm", "manager-ip").splitlines()[-1]
    assert f"$ docker swarm init --advertise-addr {ip}" in init
    assert "docker swarm join --token SWMTKN-1-" in init and "…(masked)" in init
    networks = run.text("02-swarm", "two-networks")
    assert "docker0" in networks and "eth0" in networks
    # the command as a person types it (not shlex's '"'"' for the quotes inside)
    assert networks.startswith("$ docker-machine ssh manager1 \"ip -4 -o addr show scope global | "
                               "awk '{print \\$2, \\$4}'\"\n"), networks
    info = run.text("02-swarm", "docker-info")
    assert "Swarm: active" in info and " Managers: 1" in info and " Nodes: 3" in info
    assert "This node is not a swarm manager" in run.text("02-swarm", "node-ls-worker")
    nodes = run.engine["02-swarm"]["nodes"]
    assert sorted(nodes) == ["manager1", "worker1", "worker2"]
    assert all(n["Status"] == "Ready" and n["Availability"] == "Active" for n in nodes.values())
    assert nodes["manager1"]["ManagerStatus"] == "Leader"
    assert run.engine["02-swarm"]["node_addr"] == ip  # the address the swarm really advertises


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
