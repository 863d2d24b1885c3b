"""Secrets and configs on a real swarm: created, listed, mounted into tasks, rotated, removed,
each checked through the engine (``docker secret ls`` on the manager, the file as a task sees
it); a secret's value shown nowhere; and ``docker service logs``. The tests run in file
order on one lab and build on each other, as a lesson's cells do."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from labtest import WORKLOAD, on_manager, swarm_lab

import swarmlab as sl

VALUE = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def lab(host: docker.DockerClient) -> Iterator[sl.Lab]:
    yield from swarm_lab(host, "sec", 1, (WORKLOAD,))


cli = on_manager


def shown(result: object) -> str:
    """Everything a learner could see of a result: text, repr, HTML, command, notes, data."""
    parts = [str(result), repr(result), getattr(result, "command", "")]
    for attr in ("_repr_html_", "text"):
        if hasattr(result, attr):
            parts.append(getattr(result, attr)())
    parts += list(getattr(result, "notes", []))
    parts.append(json.dumps(getattr(result, "data", None), default=str))
    return "\n".join(parts)


def test_a_secret_is_kept_by_the_swarm_and_never_shown(lab: sl.Lab) -> None:
    made = lab.secret.create("db_password", VALUE)
    assert made.command == "printf '...' | docker secret create db_password -"
    listed = cli(lab, "docker secret ls --format '{{.ID}} {{.Name}}'").split("\n")
    assert f"{made.data['id']} db_password" in listed
    again = lab.secret.create("db_password", VALUE)
    assert again.notes == ["secret db_password already exists with this data (nothing to create)."]
    for result in (made, again, lab.secret.ls(), lab.secret.inspect("db_password")):
        assert VALUE not in shown(result)
    # the digest that knows a create run twice is kept by the engine, and shown masked
    label = cli(lab, "docker secret inspect -f '{{index .Spec.Labels \"io.swarmlab.scrypt\"}}' db_password")
    assert re.fullmatch(r"scrypt:[0-9a-f]{32}:[0-9a-f]{64}", label)
    assert '"io.swarmlab.scrypt": "scrypt:(masked)"' in lab.secret.inspect("db_password").body
    assert label not in shown(lab.secret.inspect("db_password"))
    with pytest.raises(sl.SwarmStateError,
                       match=r"already exists, with other data.*db_password_v2.*Nothing was changed"):
        lab.secret.create("db_password", "another value")
    assert cli(lab, "docker secret inspect -f '{{.ID}}' db_password") == made.data["id"]


def test_a_service_reads_its_secret_and_config_as_files(lab: sl.Lab) -> None:
    lab.config.create("motd", "hello from a config\n")
    assert lab.config.create("motd", "hello from a config\n").notes[0].startswith("config motd already exists")
    made = lab.service.create("reader", WORKLOAD, "sleep", "1d",
                              secrets=["source=db_password,target=password,mode=0400"],
                              configs=["source=motd,target=/etc/motd"])
    assert made.command.endswith("--secret source=db_password,target=password,mode=0400 "
                                 "--config source=motd,target=/etc/motd swarmlab/busybox:latest sleep 1d")
    assert lab.exec("reader", "cat /run/secrets/password") == VALUE
    assert lab.exec("reader", "stat -c %a /run/secrets/password").strip() == "400"
    assert lab.exec("reader", "cat /etc/motd") == "hello from a config\n"
    # the spec names them; the engine holds no value in it
    spec = cli(lab, "docker service inspect reader --format '{{json .Spec.TaskTemplate.ContainerSpec.Secrets}}'")
    assert json.loads(spec)[0]["SecretName"] == "db_password" and VALUE not in spec
    assert lab.service.create("reader", WORKLOAD, "sleep", "1d",
                              secrets=["source=db_password,target=password,mode=0400"],
                              configs=["source=motd,target=/etc/motd"]).notes[0].startswith("service reader already")


def test_a_secret_rotated_without_stopping_the_service(lab: sl.Lab) -> None:
    lab.secret.create("db_password_v2", "the new one")
    before = cli(lab, "docker service ps -q --filter desired-state=running reader")
    rotated = lab.service.update("reader", secret_rm=["db_password"],
                                 secret_add=["source=db_password_v2,target=password,mode=0400"])
    assert rotated.command == ("docker service update --secret-rm db_password --secret-add "
                               "source=db_password_v2,target=password,mode=0400 reader")
    assert lab.exec("reader", "cat /run/secrets/password") == "the new one"
    assert cli(lab, "docker service ps -q --filter desired-state=running reader") != before  # a new task
    with pytest.raises(sl.SwarmStateError, match=r"secret 'db_password_v2' is in use by service\(s\) reader.*"
                                                 r"Nothing was removed"):
        lab.secret.rm("db_password_v2", "db_password")
    assert "db_password" in cli(lab, "docker secret ls --format '{{.Name}}'").split()
    removed = lab.secret.rm("db_password", "never_made")
    assert removed.notes == ["there is no secret 'never_made' (nothing to remove)."]
    assert cli(lab, "docker secret ls --format '{{.Name}}'").split() == ["db_password_v2"]


def test_service_logs_say_which_task_and_node_each_line_came_from(lab: sl.Lab) -> None:
    lab.service.create("talker", WORKLOAD, "sh", "-c", "echo first line; echo second line; sleep 1d",
                       constraints=["node.hostname==worker1"])
    try:
        task = cli(lab, "docker service ps -q --no-trunc --filter desired-state=running talker")
        for _ in range(20):  # the lines reach the log a moment after the task starts
            logs = lab.service.logs("talker")
            if "second line" in logs:
                break
        assert logs.splitlines() == [f"talker.1.{task[:12]}@worker1    | first line",
                                     f"talker.1.{task[:12]}@worker1    | second line"]
        assert logs.command == "docker service logs talker"
        last = lab.service.logs("talker", tail=1)
        assert last.splitlines() == [f"talker.1.{task[:12]}@worker1    | second line"]
        assert last.command == "docker service logs --tail 1 talker"
    finally:
        lab.service.rm("talker")


def unchanged(lab: sl.Lab) -> tuple[str, ...]:
    """Each service, secret and config on the manager with its version: an update of any of
    them (a spec changed in place, same ID) shows as a new Version.Index."""
    return tuple(cli(lab, f"docker {what} ls -q | sort | xargs -r docker {what} inspect "
                          f"--format '{{{{.ID}}}} {{{{.Version.Index}}}}'")
                 for what in ("service", "secret", "config"))


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda lab, tmp: lab.secret.create("big", "x" * (500 * 1024 + 1)), sl.InvalidArgument,
     r"larger than the engine's limit of 500 KB"),
    (lambda lab, tmp: lab.secret.create("empty", ""), sl.InvalidArgument, r"data is empty"),
    (lambda lab, tmp: lab.secret.create("both", "x", file="/etc/hostname"), sl.InvalidArgument, r"one of the two"),
    (lambda lab, tmp: lab.secret.create("nofile", file=tmp / "missing"), sl.InvalidArgument,
     r"cannot read secret file .*missing"),
    (lambda lab, tmp: lab.secret.create("-bad", "x"), sl.InvalidArgument, r"invalid secret name '-bad'"),
    (lambda lab, tmp: lab.config.create("motd", "changed"), sl.SwarmStateError, r"config named 'motd' already exists"),
    (lambda lab, tmp: lab.service.create("x", WORKLOAD, secrets=["nope"]), sl.NotFound,
     r"there is no secret 'nope'.*secrets: db_password_v2"),
    (lambda lab, tmp: lab.service.create("x", WORKLOAD, configs=["source=motd,mode=999"]), sl.InvalidArgument,
     r"mode '999' is not an octal mode"),
    (lambda lab, tmp: lab.service.create("x", WORKLOAD, secrets=["source=db_password_v2,target=../etc/x"]),
     sl.InvalidArgument, r"target '../etc/x' is not a file name"),
    (lambda lab, tmp: lab.service.update("reader", secret_add=["nope"]), sl.NotFound, r"there is no secret 'nope'"),
    (lambda lab, tmp: lab.config.rm("motd"), sl.SwarmStateError, r"config 'motd' is in use by service\(s\) reader"),
    (lambda lab, tmp: lab.service.logs("reader", tail=-1), sl.InvalidArgument, r"tail=-1"),
], ids=["too-big", "empty", "data-and-file", "no-file", "bad-name", "config-differs", "missing-secret",
        "bad-mode", "target-escapes", "update-missing", "rm-in-use", "tail"])
def test_bad_input_changes_nothing(lab: sl.Lab, tmp_path: Path, call, error: type[Exception], match: str) -> None:  # type: ignore[no-untyped-def]
    before = unchanged(lab)
    with pytest.raises(error, match=match):
        call(lab, tmp_path)
    assert unchanged(lab) == before


def test_a_secret_from_a_file(lab: sl.Lab, tmp_path: Path) -> None:
    key = tmp_path / "tls.key"
    key.write_bytes(b"-----BEGIN KEY-----\n" + bytes(range(256)) + b"\n")
    made = lab.secret.create("tls_key", file=key)
    assert made.command == f"docker secret create tls_key {key}"
    lab.service.update("reader", secret_add=["tls_key"])
    digest = lab.exec("reader", "sha256sum /run/secrets/tls_key").split()[0]
    assert digest == hashlib.sha256(key.read_bytes()).hexdigest()
    assert re.fullmatch(r"[0-9a-z]{25}", made.data["id"])
