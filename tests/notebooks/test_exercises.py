"""The lessons' "now you try" checks, on a real swarm: each one says ✗ while the exercise is not
done (or done wrong) and ✓ once it is. The swarm is also read independently, through docker
on the manager machine's container, to be sure the check agrees with the engine."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest
from labtest import exec_in, labelled

import swarmlab as sl
from swarmlab import exercises as ex

WORKLOAD, WEB_V1, WEB_V2 = "swarmlab/busybox:latest", "swarmlab/web:1", "swarmlab/web:2"

pytestmark = pytest.mark.integration


def engine(host: docker.DockerClient, lab: sl.Lab, command: str) -> str:
    """Run a docker command inside the manager machine's container, without swarmlab."""
    (machine,) = host.containers.list(filters={"label": [f"io.swarmlab.lab={lab.name}",
                                                          "io.swarmlab.machine=manager1"]})
    said = exec_in(machine, ["sh", "-c", command])
    assert said.code == 0, said.text
    return said.text.strip()


def failed(check: ex.Check) -> list[str]:
    return [s for ok, s in check.findings if not ok]


def test_check_scale_fails_until_the_service_has_that_many_running_tasks(
        swarm3: sl.Lab, host: docker.DockerClient) -> None:
    lab = swarm3
    missing = ex.check_scale(lab, "hw-ex", 3)
    assert not missing and "there is no service 'hw-ex'" in failed(missing)[0]
    lab.service.create("hw-ex", WORKLOAD, "sleep", "3600", replicas=1)
    try:
        one = ex.check_scale(lab, "hw-ex", 3)
        assert not one.ok
        assert "hw-ex asks for 1 replicas (not 3)" in failed(one)
        assert "✗ scale hw-ex to 3: not yet." in repr(one) and "hint: lab.service.scale(hw-ex=3)" in repr(one)
        lab.service.scale(**{"hw-ex": 4})
        assert not ex.check_scale(lab, "hw-ex", 3)
        lab.service.scale(**{"hw-ex": 3})
        done = ex.check_scale(lab, "hw-ex", 3)
        assert done.ok, repr(done)
        assert repr(done).startswith("✓ scale hw-ex to 3: done.")
        running = engine(host, lab, "docker service ps hw-ex --filter desired-state=running -q | wc -l")
        assert running == "3"
        # asked for 3 but a task cannot run: the replica count alone is not enough
        lab.service.update("hw-ex", args=["sh", "-c", "exit 1"], update_failure_action="continue",
                           update_parallelism=0, wait=False)
        assert not ex.check_scale(lab, "hw-ex", 3)
    finally:
        lab.service.rm("hw-ex")


def test_check_rollback_needs_a_real_rollback_to_the_old_image(
        swarm3: sl.Lab, host: docker.DockerClient) -> None:
    lab = swarm3
    lab.service.create("web-ex", WEB_V1, replicas=3, update_delay="0s")
    try:
        never_updated = ex.check_rollback(lab, "web-ex", WEB_V1, WEB_V2)
        assert not never_updated
        assert "its last change was no update at all (not a completed rollback)" in failed(never_updated)
        # nothing said of a rollback that never happened
        assert not any("went back from" in s for _, s in never_updated.findings), never_updated
        lab.service.update("web-ex", image=WEB_V2)
        updated = ex.check_rollback(lab, "web-ex", WEB_V1, WEB_V2)
        assert not updated
        assert f"web-ex is set to run {WEB_V2} (not {WEB_V1})" in failed(updated)
        lab.service.rollback("web-ex")
        done = ex.check_rollback(lab, "web-ex", WEB_V1, WEB_V2)
        assert done.ok, repr(done)
        spec = json.loads(engine(host, lab, "docker service inspect web-ex"))[0]
        assert spec["UpdateStatus"]["State"] == "rollback_completed"
        assert spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].startswith(WEB_V1)
        # going back by hand (an update to the old image) is not the rollback asked for
        lab.service.update("web-ex", image=WEB_V2)
        lab.service.update("web-ex", image=WEB_V1)
        by_hand = ex.check_rollback(lab, "web-ex", WEB_V1, WEB_V2)
        assert not by_hand
        assert "its last change was completed (not a completed rollback)" in failed(by_hand)
    finally:
        lab.service.rm("web-ex")


def test_check_drain_fails_until_the_node_is_drained_and_empty(
        swarm3: sl.Lab, host: docker.DockerClient) -> None:
    lab = swarm3
    lab.service.create("drain-ex", WEB_V1, replicas=3)
    try:
        assert "the swarm has no node 'worker9' (docker node inspect worker9 finds nothing)" in failed(
            ex.check_drain(lab, "worker9", "drain-ex"))
        active = ex.check_drain(lab, "worker2", "drain-ex")
        assert not active and "worker2 is active, not drained" in failed(active)
        lab.node.pause("worker2")  # no new tasks, but its tasks stay: not a drain
        paused = ex.check_drain(lab, "worker2", "drain-ex")
        assert not paused and failed(paused)[0].startswith("worker2 is paused, not drained: a paused node keeps")
        on_worker2 = int(engine(host, lab, "docker node ps worker2 --filter desired-state=running -q | wc -l"))
        assert on_worker2 >= 1  # the engine: its task stayed
        assert (f"drain-ex has {3 - on_worker2} of 3 replicas running on the other nodes "
                f"({on_worker2} still on worker2)") in failed(paused), paused
        lab.node.drain("worker2")  # waits until the moved tasks run elsewhere
        done = ex.check_drain(lab, "worker2", "drain-ex")
        assert done.ok, repr(done)
        assert engine(host, lab, "docker node inspect worker2 --format '{{.Spec.Availability}}'") == "drain"
        assert engine(host, lab, "docker node ps worker2 --filter desired-state=running -q | wc -l") == "0"
    finally:
        lab.node.activate("worker2")
        lab.service.rm("drain-ex")
    assert not ex.check_drain(lab, "worker2", "drain-ex")


def test_check_drained_fails_until_every_node_of_the_rack_is_drained_and_its_hint_does_it(
        swarm3: sl.Lab, host: docker.DockerClient) -> None:
    """Lesson 14's exercise on a small swarm: the hint is the next step, run as typed."""
    lab = swarm3
    rack = ["worker1", "worker2"]
    assert "there is no service 'crowd-ex'" in failed(ex.check_drained(lab, rack, "crowd-ex", 6))[0]
    lab.service.create("crowd-ex", WORKLOAD, "sleep", "3600", replicas=6)
    try:
        assert "the swarm has no node worker8, worker9 (docker node ls does not list it)" in failed(
            ex.check_drained(lab, ["worker8", "worker9"], "crowd-ex", 6))
        lab.node.drain("worker1")
        half = ex.check_drained(lab, rack, "crowd-ex", 6)
        assert not half and "1 of the 2 nodes are drained (worker2 not yet)" in failed(half)
        assert half.hint.startswith("for n in ('worker2',): lab.node.drain(n)")
        exec(half.hint, {"lab": lab})  # what the learner types: the line as the check printed it
        done = ex.check_drained(lab, rack, "crowd-ex", 6)
        assert done.ok, repr(done)
        assert repr(done).startswith("✓ drain worker1, worker2: done.")
        for node in rack:  # the engine agrees: drained, and nothing of crowd-ex meant to run there
            assert engine(host, lab, f"docker node inspect {node} --format '{{{{.Spec.Availability}}}}'") == "drain"
            assert engine(host, lab, f"docker node ps {node} --filter desired-state=running -q | wc -l") == "0"
        assert engine(host, lab, "docker service ps crowd-ex --filter desired-state=running "
                                 "--format '{{.Node}} {{.CurrentState}}' | grep -c '^manager1 Running'") == "6"
        with pytest.raises(sl.InvalidArgument):
            ex.check_drained(lab, [], "crowd-ex", 6)
    finally:
        for node in rack:
            lab.node.activate(node)
        lab.service.rm("crowd-ex")


def test_check_survives_one_manager_loss_needs_an_odd_number_of_three_or_more(
        swarm3: sl.Lab, host: docker.DockerClient) -> None:
    lab = swarm3
    try:
        one = ex.check_survives_one_manager_loss(lab)
        assert not one and "1 manager(s): to tolerate a loss, a swarm needs an odd number, 3 or more" in failed(one)
        assert one.hint == "lab.node.promote('worker1')   # docker node promote worker1"
        lab.node.promote("worker1")
        two = ex.check_survives_one_manager_loss(lab)  # two managers tolerate no loss either
        assert not two and "it can lose 0 manager(s) and keep its quorum" in failed(two)
        lab.node.promote("worker2")
        three = ex.check_survives_one_manager_loss(lab)
        assert three.ok, repr(three)
        assert engine(host, lab, "docker node ls --filter role=manager -q | wc -l") == "3"
    finally:
        lab.node.demote("worker1", "worker2")
    assert engine(host, lab, "docker node ls --filter role=manager -q | wc -l") == "1"
    assert not ex.check_survives_one_manager_loss(lab)


def test_check_nothing_left_sees_a_lab_that_exists(swarm3: sl.Lab, host: docker.DockerClient) -> None:
    there = ex.check_nothing_left(swarm3.name)
    assert not there
    assert f"3 containers (machines) labelled io.swarmlab.lab={swarm3.name}" in failed(there)
    gone = ex.check_nothing_left("lessons-never-made")
    assert gone.ok and labelled(host, "lessons-never-made")["containers"] == 0


def test_checks_without_a_swarm_say_so(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab("ex")
    check = ex.check_scale(lab, "helloworld", 3)
    assert not check and failed(check)[0].startswith("there is no swarm to look at")


def test_lesson_images_online_offline_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMLAB_OFFLINE", "0")  # said; offline=None's own choice: test_offline_choice.py
    online = ex.lesson_images()
    assert (online.hello, online.hello_args, online.old, online.new) == (
        "alpine", ("ping", "docker.com"), "redis:7.2", "redis:7.4")
    assert online.to_load == () and "Online images" in repr(online)
    monkeypatch.setenv("SWARMLAB_OFFLINE", "1")
    offline = ex.lesson_images()
    assert offline.to_load == (WORKLOAD, WEB_V1, WEB_V2)
    assert offline.network_images == ("swarmlab/whoami:latest", WORKLOAD) and online.network_images == ()
    assert "ping 127.0.0.1" in repr(offline) and "cannot resolve" in repr(offline)
    assert ex.lesson_images(False) is ex.ONLINE


def test_check_setup_offline_on_this_machine(host: docker.DockerClient) -> None:
    ready = ex.check_setup("dind", offline=True)
    # whether the routing mesh can work here, as this computer's kernel says
    ipvs = Path("/proc/sys/net/ipv4/vs").is_dir()
    # (a missing IPVS is a limit, marked "!", never a green ✓; the check still passes)
    said = ("  ✓ the routing mesh can work here: IPVS is loaded" if ipvs
            else "  ! no IPVS in this computer's kernel")
    assert said in ready.text(), ready.text()
    assert ipvs or not any("IPVS" in s for _, s in ready.findings), ready.findings
    assert ready.ok, repr(ready)
    vbox = ex.check_setup("virtualbox", offline=True)  # no docker-machine or VirtualBox here
    assert not vbox and "docker-machine" in failed(vbox)[0]
    nope = ex.check_setup("nope", offline=True)
    assert not nope and "provider 'nope' does not exist" in failed(nope)[0]


def test_check_html_is_escaped() -> None:
    c = ex.Check("<b>x</b>")
    c.add(False, "<script>alert(1)</script>")
    assert "<script>" not in c._repr_html_() and "&lt;script&gt;" in c._repr_html_()
    # each line its own block with a hanging indent: a wrapped finding stays under its mark
    assert '<div style="padding-left:4ch;text-indent:-2ch">✗ &lt;script&gt;' in c._repr_html_()
    assert not c and not ex.Check("empty")  # a check that found nothing does not pass
