"""Bad input: one SwarmlabError subclass each, a message that says what to do, and an engine
left exactly as it was (checked on the engines, before and after)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker
import pytest
from labtest import WORKLOAD, labelled

import swarmlab as sl
from swarmlab.providers.dind import neighbours

pytestmark = pytest.mark.integration

#: The biggest lab this computer's neighbour table holds, as its kernel says (scripts/setup
#: raises the table as root: 256 machines then).
BIGGEST = neighbours.largest_lab(neighbours.read_limit() or 0)

NOWHERE = "nowhere.invalid/redis:7.4"


def engine_state(lab: sl.Lab, host: docker.DockerClient) -> dict[str, Any]:
    """What the engines say: the lab's containers, and the swarm's services, nodes and tasks."""
    state: dict[str, Any] = {
        "containers": sorted((c.name, c.status) for c in
                             host.containers.list(all=True, filters={"label": f"io.swarmlab.lab={lab.name}"})),
        "labelled": labelled(host, lab.name),
    }
    try:
        mgr = lab.manager_client()
    except sl.SwarmStateError:
        return state
    state["services"] = sorted((s["Spec"]["Name"], s["Version"]["Index"]) for s in mgr.api.services())
    state["nodes"] = sorted((n["Description"]["Hostname"], n["Version"]["Index"], n["Spec"]["Availability"])
                            for n in mgr.api.nodes())
    state["tasks"] = sorted(t["ID"] for t in mgr.api.tasks())
    state["swarm"] = mgr.api.inspect_swarm()["Version"]["Index"]
    # and no image came or went on any machine (a pull is a change too)
    state["images"] = {m: sorted(i["Id"] for i in lab.client(m).api.images())
                       for m in lab.machines()}
    return state


@pytest.fixture(scope="module")
def lab(swarm3: sl.Lab) -> sl.Lab:
    swarm3.service.create("helloworld", WORKLOAD, "ping", "127.0.0.1", replicas=2)
    swarm3.service.create("gone", WORKLOAD, "ping", "127.0.0.1", replicas=1)
    swarm3.service.rm("gone")
    return swarm3


CASES: list[tuple[str, Callable[[sl.Lab], object], type[sl.SwarmlabError], str]] = [
    ("unknown machine (ssh)", lambda lab: lab.ssh("worker9", "true"), sl.MachineNotFound,
     r"no machine 'worker9'.*lab\.machine\.create\('worker9'\)"),
    ("unknown machine (ip)", lambda lab: lab.machine.ip("worker9"), sl.MachineNotFound, "worker9"),
    ("unknown machine (join)", lambda lab: lab.swarm.join("worker9"), sl.MachineNotFound,
     r"no machine 'worker9'.*Nothing was joined"),
    ("unknown machine (stop)", lambda lab: lab.machine.stop("worker9"), sl.MachineNotFound,
     r"no machine 'worker9'"),
    ("unknown machine (info)", lambda lab: lab.info("worker9"), sl.MachineNotFound, "worker9"),
    ("duplicate machine names", lambda lab: lab.machine.create("worker3", "worker3"), sl.InvalidArgument,
     "twice: worker3"),
    ("invalid machine name", lambda lab: lab.machine.create("Bad Name!"), sl.InvalidArgument,
     r"invalid machine name 'Bad Name!'.*e\.g\. 'manager1'"),
    ("replicas -1", lambda lab: lab.service.scale(helloworld=-1), sl.InvalidArgument,
     r"cannot be negative.*use 0"),
    ("replicas 'five'", lambda lab: lab.service.scale(helloworld="five"), sl.InvalidArgument,
     r"whole number.*not 'five'"),
    ("replicas -1 at create", lambda lab: lab.service.create("new", WORKLOAD, replicas=-1),
     sl.InvalidArgument, "cannot be negative"),
    ("unknown service (ps)", lambda lab: lab.service.ps("nope"), sl.ServiceNotFound,
     r"no service 'nope' \(services: helloworld\).*lab\.service\.create"),
    ("unknown service in a scale of two", lambda lab: lab.service.scale(helloworld=3, nope=1),
     sl.ServiceNotFound, "no service 'nope'"),
    ("a misspelled service", lambda lab: lab.service.scale(hellowrld=3), sl.ServiceNotFound,
     r"no service 'hellowrld': did you mean 'helloworld'\?"),
    ("scaling a removed service", lambda lab: lab.service.scale(gone=3), sl.ServiceNotFound,
     "no service 'gone'"),
    # names no registry can resolve, online or not (".invalid" is reserved)
    ("update to an image nobody can get", lambda lab: lab.service.update("helloworld", image=NOWHERE),
     sl.ImageNotAvailable, r"nowhere\.invalid/redis:7\.4.*cannot be pulled.*lab\.image\.load\(.*Nothing was changed"),
    ("create with an image nobody can get", lambda lab: lab.service.create("r", NOWHERE),
     sl.ImageNotAvailable, r"lab\.image\.load\('nowhere\.invalid/redis:7\.4'\)"),
    ("publish of a bad port", lambda lab: lab.service.create("p", WORKLOAD, publish={"80": "x"}),
     sl.InvalidArgument, r"publish=\{'80': 'x'\}: give '8080:80'.*or \{8080: 80\}"),
    ("constraints as one string", lambda lab: lab.service.create("c", WORKLOAD, constraints="node.role==worker"),
     sl.InvalidArgument, r"constraints=.*list of strings"),
    ("the same name with another update delay",
     lambda lab: lab.service.create("helloworld", WORKLOAD, "ping", "127.0.0.1", replicas=2, update_delay="9s"),
     sl.SwarmStateError, r"already exists, with a different update config"),
    ("drain of an unknown node", lambda lab: lab.node.drain("worker9"), sl.NodeNotFound,
     r"no node 'worker9' \(nodes: manager1, worker1, worker2\)"),
    ("availability 'sleep'", lambda lab: lab.node.update("worker1", availability="sleep"),
     sl.InvalidArgument, r"availability='sleep'.*'active', 'pause', 'drain'"),
    ("bad update delay", lambda lab: lab.service.update("helloworld", update_delay="soon"),
     sl.InvalidArgument, r"update_delay='soon'.*'10s'"),
    ("loading an image this computer lacks", lambda lab: lab.image.load("nope/nothing:1"),
     sl.ImageNotAvailable, "not on this computer's engine"),
    ("init on a worker", lambda lab: lab.swarm.init("worker1"), sl.SwarmStateError,
     "already a worker"),
    ("force a new cluster on a worker", lambda lab: lab.swarm.init("worker1", force_new_cluster=True),
     sl.SwarmStateError, r"worker1 is not a manager.*nothing was changed"),
    ("up with no manager", lambda lab: lab.up(managers=0), sl.InvalidArgument,
     r"managers=0: give a whole number from 1 to 99"),
    ("up with 'two' workers", lambda lab: lab.up(workers="two"), sl.InvalidArgument,
     r"workers='two'"),
    ("promote of an unknown node among known ones", lambda lab: lab.node.promote("worker1", "worker9"),
     sl.NodeNotFound, r"no node 'worker9'"),
    ("demote with no name", lambda lab: lab.node.demote(), sl.InvalidArgument,
     r"lab\.node\.demote\('worker1'\)"),
    ("rm of a node that is up", lambda lab: lab.node.rm("worker1"), sl.DockerError,
     r"not down.*stop the machine first, or use force=True"),
    ("kill of an unknown machine", lambda lab: lab.machine.kill("worker9"), sl.MachineNotFound,
     r"no machine 'worker9'"),
    ("reconnect of an unknown machine", lambda lab: lab.machine.reconnect("worker9"), sl.MachineNotFound,
     r"no machine 'worker9'"),
    ("a lab too big for the kernel's neighbour table",
     lambda lab: lab.machine.create(*[f"worker{i}" for i in range(3, BIGGEST + 1)]), sl.HostLimit,
     rf"a lab of {BIGGEST + 1} machines (beside the \d+ machines of the other labs here )?needs about "
     r"\d+ entries.*gc_thresh3.*"
     r"sudo sysctl -w net\.ipv4\.neigh\.default\.gc_thresh1=.*Nothing was made"),
    ("a swarm update that says nothing", lambda lab: lab.swarm.update(), sl.InvalidArgument,
     r"say what to change, e\.g\. lab\.swarm\.update\(dispatcher_heartbeat='20s'\)"),
    ("a heartbeat of 'soon'", lambda lab: lab.swarm.update(dispatcher_heartbeat="soon", task_history_limit=3),
     sl.InvalidArgument, r"dispatcher_heartbeat='soon': give a duration such as '10s'"),
    ("a heartbeat of zero", lambda lab: lab.swarm.update(dispatcher_heartbeat=0), sl.InvalidArgument,
     r"dispatcher_heartbeat=0: give a duration longer than zero"),
    ("a task history of -1", lambda lab: lab.swarm.update(task_history_limit=-1), sl.InvalidArgument,
     r"task_history_limit=-1: give a whole number, 0 or more"),
    ("a different service under an existing name",
     lambda lab: lab.service.create("helloworld", WORKLOAD, "sleep", "60"), sl.SwarmStateError,
     r"already exists, with a different command \('ping 127\.0\.0\.1'\).*lab\.service\.rm\('helloworld'\)"),
]


@pytest.mark.parametrize(("what", "call", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_changes_nothing(lab: sl.Lab, host: docker.DockerClient, what: str,
                                   call: Callable[[sl.Lab], object], error: type, message: str) -> None:
    before = engine_state(lab, host)
    with pytest.raises(error, match=message) as caught:
        call(lab)
    assert isinstance(caught.value, sl.SwarmlabError)
    # one line of advice, not a traceback of requests internals
    assert "Traceback" not in str(caught.value) and "urllib3" not in str(caught.value)
    assert engine_state(lab, host) == before


def test_join_before_init(make_lab, host: docker.DockerClient) -> None:
    lab = make_lab("noinit")
    lab.machine.create("manager1", "worker1")
    before = engine_state(lab, host)
    with pytest.raises(sl.SwarmStateError, match=r"no swarm to join yet: run lab\.swarm\.init\('manager1'\)"):
        lab.swarm.join("worker1")
    with pytest.raises(sl.SwarmStateError, match=r"lab\.swarm\.init"):
        lab.node.ls()
    assert engine_state(lab, host) == before
    out = lab.ssh("worker1", "docker info --format '{{.Swarm.LocalNodeState}}'")
    assert out.strip() == "inactive"


def test_no_engine_reachable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No socket, and a socket nobody answers on (an engine that died): the OS's own words,
    not requests' wrapping of them, then what to do."""
    import socket

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")
    with pytest.raises(sl.EngineUnavailable) as missing:
        sl.Lab("tutorial")
    assert str(missing.value).startswith(
        f"no Docker engine answers at unix://{tmp_path}/dead.sock: No such file or directory. Start Docker")
    with socket.socket(socket.AF_UNIX) as s:  # bound, never listening: connect is refused
        s.bind(f"{tmp_path}/dead.sock")
        with pytest.raises(sl.EngineUnavailable) as refused:
            sl.Lab("tutorial")
    assert str(refused.value).startswith(
        f"no Docker engine answers at unix://{tmp_path}/dead.sock: Connection refused. Start Docker"), \
        str(refused.value)


def test_unknown_provider() -> None:
    with pytest.raises(sl.UnknownProvider, match=r"unknown provider 'vbox'.*'dind'"):
        sl.Lab("tutorial", provider="vbox")


def test_attach_to_a_lab_that_does_not_exist(host: docker.DockerClient) -> None:
    with pytest.raises(sl.LabNotFound, match=r"no lab named 'never-made'.*sl\.Lab\('never-made'\)"):
        sl.Lab.attach("never-made")
    assert labelled(host, "never-made") == {"containers": 0, "volumes": 0, "networks": 0}


def test_an_offline_lab_never_tries_a_registry(lab: sl.Lab, host: docker.DockerClient,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    offline = sl.Lab.attach(lab.name, offline=True)
    pulls: list[tuple] = []
    import docker.models.images

    monkeypatch.setattr(docker.models.images.ImageCollection, "pull", lambda *a, **k: pulls.append(a))
    before = engine_state(lab, host)
    with pytest.raises(sl.ImageNotAvailable, match=r"this lab is offline.*lab\.image\.load\('redis:7\.2'\)"):
        offline.service.create("r", "redis:7.2")
    assert pulls == []
    assert engine_state(lab, host) == before
