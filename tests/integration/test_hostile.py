"""Nothing read back from the engine is trusted, and nothing outside swarmlab's own folder is
removed or trusted. Containers, volumes and networks that carry a lab's labels but are not
what swarmlab makes (hostile machine labels, a foreign container, volume or network) are
reported and left alone; folders that are symlinks, someone else's or writable by others are
refused before anything is made. Every check is made on the engine and on the filesystem."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from labtest import WORKLOAD, labelled, remove_labelled, unique_lab_name

import swarmlab as sl

LABEL_LAB, LABEL_ROLE, LABEL_PROVIDER = "io.swarmlab.lab", "io.swarmlab.role", "io.swarmlab.provider"
LABEL_MACHINE, LABEL_OWNER = "io.swarmlab.machine", "io.swarmlab.owner"

pytestmark = pytest.mark.integration

#: machine labels no machine of swarmlab's can carry; each would once have become a path
HOSTILE = {"root": "/", "parent": "..", "up3": "../../..", "canary": "../../../canary",
           "canary4": "../../../../canary", "empty": "", "newline": "manager1\n", "long": "m" * 200}


@pytest.fixture
def place(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short folder holding SWARMLAB_HOME (``home``) and, next to it, a canary folder that
    nothing may touch. (Short: a machine's socket path must stay under 107 bytes.)"""
    top = Path(tempfile.mkdtemp(prefix="sl-"))
    (top / "canary").mkdir()
    (top / "canary" / "keep").write_text("still here\n")
    monkeypatch.setenv("SWARMLAB_HOME", str(top / "home"))
    yield top
    shutil.rmtree(top, ignore_errors=True)


def canary_intact(top: Path) -> bool:
    return (top / "canary" / "keep").read_text() == "still here\n"


def lab_labels(lab: str, role: str, machine: str | None = None) -> dict[str, str]:
    """Exactly the labels swarmlab puts on what the dind provider makes for this user."""
    labels = {LABEL_LAB: lab, LABEL_ROLE: role, LABEL_PROVIDER: "dind", LABEL_OWNER: str(os.getuid())}
    if machine is not None:
        labels[LABEL_MACHINE] = machine
    return labels


def foreign_container(host: docker.DockerClient, labels: dict[str, str]) -> docker.models.containers.Container:
    """A container swarmlab did not make, carrying the labels it is given (any image could)."""
    return host.containers.run(WORKLOAD, ["sleep", "3600"], name=f"foreign-{uuid.uuid4().hex[:8]}",
                               labels=labels, detach=True, network_mode="none")


def still_there(host: docker.DockerClient, container_id: str) -> bool:
    try:
        return host.containers.get(container_id).status == "running"
    except docker.errors.NotFound:
        return False


@pytest.mark.parametrize("label", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_machine_label_is_left_alone(label: str, place: Path, host: docker.DockerClient) -> None:
    name = unique_lab_name("h")
    lab = sl.Lab(name, provider="dind", progress=False)
    # the lab's folder exists, as after any create: a path built from the label would land
    # in it, above it (home, its parent: the canary's folder) or at the root
    lab_folder = place / "home" / "labs" / "dind" / name
    lab_folder.mkdir(mode=0o700, parents=True)
    for p in (place / "home", place / "home" / "labs", place / "home" / "labs" / "dind"):
        p.chmod(0o700)
    c = foreign_container(host, lab_labels(name, "machine", label))
    try:
        assert lab.provider.list() == []  # not a machine of the lab
        with pytest.raises(sl.LabNotFound):
            sl.Lab.attach(name, provider="dind", progress=False)
        with pytest.raises(sl.InvalidArgument, match="invalid machine name"):
            lab.provider.remove([label])
        with pytest.raises(sl.InvalidArgument, match="invalid machine name"):
            lab.provider.client(label)
        done = lab.destroy()
        assert still_there(host, c.id), "destroy removed a container swarmlab did not make"
        assert canary_intact(place)
        assert (place / "home").is_dir()
        assert not lab_folder.exists()  # the lab's own folder is gone, as it should be
        said = str(done)
        assert f"left alone: container {c.name!r}" in said, said
        assert "not a machine name" in said, said
        assert done.data == {"containers": 0, "volumes": 0, "networks": 0, "left_behind": []}
    finally:
        c.remove(force=True)
    assert canary_intact(place)
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


def test_foreign_things_with_the_labs_labels_are_never_used_or_removed(
        place: Path, host: docker.DockerClient) -> None:
    """A container, volume and network labelled exactly as the lab's own (manager1's), but not
    named as swarmlab names them: the lab lists, uses and destroys only its own machine."""
    name = unique_lab_name("f")
    lab = sl.Lab(name, provider="dind", progress=False)
    imposter = foreign_container(host, lab_labels(name, "machine", "manager1"))
    volume = host.volumes.create(f"foreign-{uuid.uuid4().hex[:8]}", labels=lab_labels(name, "volume", "manager1"))
    network = host.networks.create(f"foreign-{uuid.uuid4().hex[:8]}", labels=lab_labels(name, "network"))
    try:
        lab.machine.create("manager1")
        listed = lab.provider.list()
        assert [(m.name, m.details["container"]) for m in listed] == [
            ("manager1", lab.provider.container_name("manager1"))]
        mine = host.containers.get(lab.provider.container_name("manager1"))
        assert mine.id != imposter.id
        # commands run on the machine swarmlab made (the imposter's hostname is its id)
        assert lab.ssh("manager1", "hostname").strip() == "manager1"
        # the machine's network is the lab's own, not the foreign one
        assert list(mine.attrs["NetworkSettings"]["Networks"]) == [lab.provider.network_name]

        done = lab.destroy()
        said = str(done)
        assert done.data == {"containers": 1, "volumes": 1, "networks": 1, "left_behind": []}
        assert f"left alone: container {imposter.name!r}" in said, said
        assert f"left alone: volume {volume.name!r}" in said, said
        assert f"left alone: network {network.name!r}" in said, said
        # on the engine: the lab's own things are gone, the foreign ones untouched
        assert still_there(host, imposter.id)
        host.volumes.get(volume.name)
        host.networks.get(network.id)
        with pytest.raises(docker.errors.NotFound):
            host.containers.get(mine.id)
        assert canary_intact(place)
    finally:
        imposter.remove(force=True)
        volume.remove(force=True)
        network.remove()
        lab.destroy()
    assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}


# -- folders -----------------------------------------------------------------------------

def _symlinked_home(top: Path) -> str:
    (top / "elsewhere").mkdir(mode=0o700)
    (top / "home").symlink_to(top / "elsewhere")
    return "symlink"


def _world_writable_home(top: Path) -> str:
    (top / "home").mkdir()
    (top / "home").chmod(0o777)
    return "chmod 700"


def _group_writable_home(top: Path) -> str:
    (top / "home").mkdir()
    (top / "home").chmod(0o770)
    return "chmod 700"


def _home_of_another_user(top: Path) -> str:
    (top / "home").mkdir(mode=0o700)
    os.chown(top / "home", 12345, 12345)
    return "belongs to another user"


def _symlinked_lab_folder(top: Path) -> str:
    (top / "elsewhere").mkdir(mode=0o700)
    for part in ("home", "home/labs", "home/labs/dind"):
        (top / part).mkdir(mode=0o700)
    (top / "home/labs/dind" / os.environ["TEST_LAB"]).symlink_to(top / "elsewhere")
    return "symlink"


def _symlinked_socket_folder(top: Path) -> str:
    (top / "elsewhere").mkdir(mode=0o700)
    lab = top / "home/labs/dind" / os.environ["TEST_LAB"]
    lab.mkdir(mode=0o700, parents=True)
    for p in (top / "home", top / "home/labs", top / "home/labs/dind"):
        p.chmod(0o700)
    (lab / "manager1").symlink_to(top / "elsewhere")
    return "symlink"


@pytest.mark.parametrize("spoil", [_symlinked_home, _world_writable_home, _group_writable_home,
                                   _home_of_another_user, _symlinked_lab_folder,
                                   _symlinked_socket_folder], ids=lambda f: f.__name__.strip("_"))
def test_an_untrustworthy_folder_is_refused_before_anything_is_made(
        spoil, place: Path, host: docker.DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    name = unique_lab_name("p")
    monkeypatch.setenv("TEST_LAB", name)
    fix = spoil(place)
    before = sorted(str(p.relative_to(place)) for p in place.rglob("*"))
    lab = sl.Lab(name, provider="dind", progress=False)
    try:
        with pytest.raises(sl.InsecurePath, match=fix) as caught:
            lab.machine.create("manager1")
        message = str(caught.value)
        assert "SWARMLAB_HOME" in message or "chmod" in message, message  # says what to do
        # nothing on the engine, nothing new on the filesystem
        assert labelled(host, name) == {"containers": 0, "volumes": 0, "networks": 0}
        assert sorted(str(p.relative_to(place)) for p in place.rglob("*")) == before
        assert canary_intact(place)
    finally:
        # whatever a failed check let through is removed by the test itself, not by swarmlab
        remove_labelled(host, name)
