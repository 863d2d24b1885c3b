"""Stacks on a real swarm: ``docker stack deploy`` run by the manager's own CLI, on compose
files given as paths or as text; what cannot work refused before anything changes; ``rm``
leaving nothing of the stack on the engine."""

from __future__ import annotations

import shlex
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from labtest import WORKLOAD, on_manager, swarm_lab

import swarmlab as sl

COMPOSE = textwrap.dedent(f"""\
    version: "3.8"
    services:
      hello:
        image: {WORKLOAD}
        command: ["sleep", "1d"]
        configs:
          - source: motd
            target: /etc/motd
        deploy:
          replicas: 2
    configs:
      motd:
        file: ./motd.txt
    """)


@pytest.fixture(scope="module")
def lab(host: docker.DockerClient) -> Iterator[sl.Lab]:
    yield from swarm_lab(host, "stk", 1, (WORKLOAD,), offline=True)


cli = on_manager


def of_stack(lab: sl.Lab, name: str) -> str:
    flt = f"-q --filter label=com.docker.stack.namespace={name}"
    return cli(lab, f"docker service ls {flt}; docker network ls {flt}; docker config ls {flt}")


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    (tmp_path / "motd.txt").write_text("a config from a file next to the compose file\n")
    return tmp_path


def test_deploy_from_a_path_with_its_files_then_again_then_rm(lab: sl.Lab, app_dir: Path) -> None:
    made = lab.stack.deploy("demo", app_dir / "docker-compose.yml")
    assert made.command == "docker stack deploy --resolve-image never -c docker-compose.yml demo"
    assert "Creating service demo_hello" in made.body and "demo_hello: 2 out of 2 tasks running" in made.body
    assert cli(lab, "docker service ls --filter name=demo_hello --format '{{.Replicas}}'") == "2/2"
    task = cli(lab, "docker ps -q --filter label=com.docker.swarm.service.name=demo_hello | head -n 1")
    assert cli(lab, f"docker exec {task} cat /etc/motd") == "a config from a file next to the compose file"
    # deployed again unchanged: the same services, no task replaced
    tasks = cli(lab, "docker service ps -q demo_hello")
    again = lab.stack.deploy("demo", app_dir / "docker-compose.yml")
    assert "demo_hello: 2 out of 2 tasks running" in again.body
    assert cli(lab, "docker service ps -q demo_hello") == tasks
    assert lab.stack.ls().rows() == [{"NAME": "demo", "SERVICES": "1", "ORCHESTRATOR": "Swarm"}]
    assert [r["NAME"] for r in lab.stack.ps("demo").rows()] == ["demo_hello.1", "demo_hello.2"]
    removed = lab.stack.rm("demo")
    assert "Removing service demo_hello" in removed.body and "Removing config demo_motd" in removed.body
    assert of_stack(lab, "demo") == ""
    assert lab.stack.rm("demo").notes == ["there is no stack 'demo' (nothing to remove)."]


def test_text_over_a_file_changes_it_as_a_rolling_update(lab: sl.Lab, app_dir: Path) -> None:
    lab.stack.deploy("grow", app_dir / "docker-compose.yml")
    try:
        more = 'version: "3.8"\nservices:\n  hello:\n    environment:\n      COLOUR: "${COLOUR}"\n'
        changed = lab.stack.deploy("grow", app_dir / "docker-compose.yml", more, env={"COLOUR": "blue"})
        assert changed.command == ("COLOUR=blue docker stack deploy --resolve-image never "
                                   "-c docker-compose.yml -c compose.yml grow")
        env = cli(lab, "docker service inspect grow_hello --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'")
        assert env == '["COLOUR=blue"]'
        state = cli(lab, "docker service inspect grow_hello --format '{{.UpdateStatus.State}}'")
        assert state == "completed"  # deploy returned after the rolling update, not before
    finally:
        lab.stack.rm("grow")
    assert of_stack(lab, "grow") == ""


def test_text_without_a_version_over_a_file_with_one_is_deployed_and_said(lab: sl.Lab, app_dir: Path) -> None:
    """Lesson 12's exercise as a learner writes it: YAML text without ``version:`` over the
    lesson's file. The manager's own CLI refuses that pair; the deploy gives the text the file's
    version, says so, and the engine runs what the text asks."""
    more = "services:\n  hello:\n    deploy:\n      replicas: 3\n"
    pair = (f"mkdir -p /tmp/pair && cd /tmp/pair && printf '%s' {shlex.quote(COMPOSE)} > a.yml && "
            f"printf '%s' {shlex.quote(more)} > b.yml && echo motd > motd.txt && "
            f"docker stack deploy --resolve-image never -c a.yml -c b.yml pair")
    refused = lab.ssh("manager1", pair)
    assert not refused.ok and "version mismatched between two composefiles : 3.8 and" in str(refused), refused
    try:
        done = lab.stack.deploy("bare", app_dir / "docker-compose.yml", more)
        [said] = [n for n in done.notes if "no version" in n]
        assert said.startswith("the compose text has no version: line.") and \
            "with version: '3.8', as docker-compose.yml has." in said, said
        assert cli(lab, "docker service ls --filter name=bare_hello --format '{{.Replicas}}'") == "3/3"
        # two versions given, and different: the CLI's refusal, and what to do
        other = 'version: "3.9"\n' + more
        with pytest.raises(sl.DockerError, match=r"version mismatched .* Give every file the same version: line"):
            lab.stack.deploy("bare", app_dir / "docker-compose.yml", other)
    finally:
        lab.stack.rm("bare")
    assert of_stack(lab, "bare") == "" and of_stack(lab, "pair") == ""


def nothing_changed(lab: sl.Lab) -> str:
    return cli(lab, "docker service ls -q; docker config ls -q; docker network ls -q | sort")


@pytest.mark.parametrize(("files", "error", "match"), [
    ({"docker-compose.yml": "services: [oops"}, sl.InvalidArgument, r"docker-compose.yml is not valid YAML"),
    ({"docker-compose.yml": "- just\n- a list\n"}, sl.InvalidArgument, r"is not a compose file"),
    ({"docker-compose.yml": 'version: "3.8"\nservices:\n  web:\n    build: .\n'}, sl.InvalidArgument,
     r"service 'web' has 'build:': a swarm cannot build images.*lab.image.load"),
    ({"docker-compose.yml": 'version: "3.8"\nservices:\n  web:\n    image: nowhere.invalid/app:1\n'},
     sl.ImageNotAvailable, r"nowhere.invalid/app:1.*offline"),
    ({"docker-compose.yml": COMPOSE.replace("./motd.txt", "../../etc/passwd")}, sl.InvalidArgument,
     r"reads '../../etc/passwd': give a path inside the compose file's folder"),
    ({"docker-compose.yml": COMPOSE}, sl.InvalidArgument, r"reads 'motd.txt', which cannot be read"),
    ({}, sl.InvalidArgument, r"cannot read compose file"),
], ids=["yaml", "not-compose", "build", "missing-image", "file-outside", "file-missing", "no-file"])
def test_what_cannot_work_is_refused_before_anything_changes(lab: sl.Lab, tmp_path: Path, files: dict,
                                                             error: type[Exception], match: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    before = nothing_changed(lab)
    with pytest.raises(error, match=match):
        lab.stack.deploy("bad", tmp_path / "docker-compose.yml")
    assert nothing_changed(lab) == before


def test_bad_names(lab: sl.Lab) -> None:
    with pytest.raises(sl.InvalidArgument, match=r"invalid stack name 'no way'"):
        lab.stack.deploy("no way", COMPOSE)
    with pytest.raises(sl.NotFound, match=r"there is no stack 'ghost'"):
        lab.stack.ps("ghost")
    with pytest.raises(sl.InvalidArgument, match=r"env=.*dict of variable names"):
        lab.stack.deploy("x", COMPOSE, env={"1BAD": "x"})
