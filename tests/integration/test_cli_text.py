"""swarmlab's results print the docker CLI's own text: on one real swarm, the ``docker`` CLI in
manager1 and swarmlab are asked the same things and their answers are compared line by line.

What is not compared, because a terminal shows it the same way: tabs (the CLI's are expanded at
8 columns, as a terminal expands them), blanks at the end of a line (the CLI pads empty last
cells) and blank lines before the first and after the last line. Times are compared as they
are: each answer of swarmlab is read between two reads of the CLI and must equal one of them
(a phrase such as "5 seconds ago" can move on between reads; nothing else may differ)."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import time
from collections.abc import Callable, Iterator

import pytest
from labtest import WORKLOAD

import swarmlab as sl
from swarmlab import _format as fmt

MANAGER = "manager1"


def cli(lab: sl.Lab, command: str) -> str:
    out = lab.ssh(MANAGER, f"{command} 2>/dev/null")
    assert out.ok, f"{command} failed on {MANAGER}: {out}"
    return str(out)


def shown(text: str) -> list[str]:
    """Text as a terminal shows it: tabs expanded, no blanks at line ends or around the text."""
    return [line.rstrip() for line in text.expandtabs(8).strip("\n").splitlines()]


def diff(theirs: list[str], ours: list[str]) -> str:
    return "\n".join(difflib.unified_diff(theirs, ours, "docker CLI", "swarmlab", lineterm="", n=2))


def same_text(lab: sl.Lab, command: str, ours: Callable[[], str],
              normalise: Callable[[list[str]], list[str]] = lambda lines: lines, attempts: int = 3) -> None:
    """swarmlab's text for ``command`` equals the CLI's, read just before or just after it."""
    for _ in range(attempts):
        before = normalise(shown(cli(lab, command)))
        mine = normalise(shown(ours()))
        after = normalise(shown(cli(lab, command)))
        if mine in (before, after):
            return
    pytest.fail(f"`{command}` differs from the docker CLI's:\n{diff(after, mine)}", pytrace=False)


_WHEN = re.compile(r"\b(less than a second|1 second|\d+ seconds|about a minute|\d+ minutes|about an hour"
                   r"|\d+ hours|\d+ days|\d+ weeks|\d+ months|\d+ years) ago\b")


def when_free(lines: list[str]) -> list[str]:
    """Lines with the time a task has been in its state taken out (the words as the CLI writes
    them, lower case), and the columns' padding with it (a longer phrase widens its column)."""
    return [re.sub(r"\s{3,}", " | ", _WHEN.sub("<when> ago", line)) for line in lines]


@pytest.fixture(scope="module")
def lab(swarm3: sl.Lab) -> Iterator[sl.Lab]:
    """swarm3 with services that bring out every part of the CLI's text: a replicated service
    that was updated (its old tasks as ``\\_`` rows, an UpdateStatus), one with labels, env, a
    constraint, an update delay and a port published in host mode, and a global service."""
    swarm3.service.create("helloworld", WORKLOAD, "ping", "127.0.0.1", replicas=3)
    swarm3.service.update("helloworld", args=["ping", "127.0.0.2"], update_parallelism=3)
    swarm3.service.create("web", WORKLOAD, "sleep", "3600", replicas=1, update_delay="10s",
                          env={"GREETING": "hello", "LESSON": "3"}, labels={"tier": "front", "canary": ""},
                          constraints=["node.role==worker"], publish={18080: 80}, publish_mode="host")
    swarm3.service.create("pinger", WORKLOAD, "sleep", "3600", mode="global")
    yield swarm3


TASK_TABLES = ["helloworld", "web", "pinger"]


@pytest.mark.parametrize("name", TASK_TABLES)
def test_service_ps_while_tasks_are_seconds_old(lab: sl.Lab, name: str) -> None:
    same_text(lab, f"docker service ps {name}", lambda: lab.service.ps(name).text(), when_free)


def test_service_ls(lab: sl.Lab) -> None:
    text = lab.service.ls().text()
    assert "*:18080" not in text  # a host-mode port is no routing-mesh port: `service ls` leaves it out
    same_text(lab, "docker service ls", lambda: lab.service.ls().text())


def test_node_ls_marks_the_manager_asked(lab: sl.Lab) -> None:
    assert lab.manager() == MANAGER
    rows = lab.node.ls().rows()
    assert [r["ID"].endswith(" *") for r in rows] == [r["HOSTNAME"] == MANAGER for r in rows]
    same_text(lab, "docker node ls", lambda: lab.node.ls().text())


@pytest.mark.parametrize("node", ["worker1", MANAGER])
def test_node_inspect_pretty(lab: sl.Lab, node: str) -> None:
    text = lab.node.inspect(node, pretty=True).text()
    for section in ("Plugins:", "Engine Version:", "TLS Info:", " Issuer Public Key:"):
        assert any(line.startswith(section) for line in text.splitlines()), section
    same_text(lab, f"docker node inspect --pretty {node}", lambda: lab.node.inspect(node, pretty=True).text())


@pytest.mark.parametrize("name", ["web", "pinger"])
def test_service_inspect_pretty(lab: sl.Lab, name: str) -> None:
    same_text(lab, f"docker service inspect --pretty {name}",
              lambda: lab.service.inspect(name, pretty=True).text())


def test_service_inspect_pretty_shows_every_section_asked_for(lab: sl.Lab) -> None:
    lines = shown(lab.service.inspect("web", pretty=True).text())
    for line in ["Labels:", " canary", " tier=front", " Constraints:   [node.role==worker]",
                 " Delay:         10s", " Rollback order:    stop-first", " Env:           GREETING=hello LESSON=3",
                 "  PublishMode = host"]:
        assert line in lines


def swarm_section(lines: list[str]) -> list[str]:
    start = lines.index(next(line for line in lines if line.startswith(" Swarm: ")))
    end = start + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    return lines[start:end]


def test_info_swarm_section(lab: sl.Lab) -> None:
    theirs = shown(cli(lab, "docker info"))
    ours = shown(lab.info(MANAGER).text())
    assert swarm_section(ours) == swarm_section(theirs), diff(swarm_section(theirs), swarm_section(ours))
    assert len(swarm_section(ours)) > 20  # ClusterID, Raft, Dispatcher, CA Configuration, ...
    rest = iter(theirs)  # every other line of ours is the CLI's own, in the CLI's order
    missing = [line for line in ours if not any(line == t for t in rest)]
    assert not missing, f"not in `docker info`, or out of its order: {missing}"


def test_times_a_minute_later(lab: sl.Lab) -> None:
    """Once every time shown is a minute old, the phrases stand still long enough to compare
    whole tables, widths and all, and the UpdateStatus of a service."""
    client = lab.manager_client()
    stamps = [t["Status"]["Timestamp"] for name in TASK_TABLES for t in client.api.tasks(filters={"service": name})]
    status = client.api.inspect_service("helloworld")["UpdateStatus"]
    stamps += [status["StartedAt"], status["CompletedAt"]]
    newest = max(fmt.parse_time(s) for s in stamps)
    wait = 61 - (dt.datetime.now(dt.timezone.utc) - newest).total_seconds()
    if wait > 0:
        time.sleep(wait)
    for name in TASK_TABLES:
        same_text(lab, f"docker service ps {name}", lambda name=name: lab.service.ps(name).text())
    rows = lab.service.ps("helloworld").rows()
    assert sum(r["NAME"].startswith(" \\_ ") for r in rows) == 3
    assert all(re.fullmatch(r"(Running|Shutdown) (about a minute|\d+ minutes) ago", r["CURRENT STATE"])
               for r in rows), rows
    same_text(lab, "docker service inspect --pretty helloworld",
              lambda: lab.service.inspect("helloworld", pretty=True).text())
    started = [line for line in shown(lab.service.inspect("helloworld", pretty=True).text())
               if line.startswith(" Started:")]
    assert len(started) == 1 and re.fullmatch(r" Started: +(About a minute|\d+ minutes) ago", started[0])
