"""The teacher's board without an engine: what it shows is escaped and marked per lesson; only
root reads other users' labs; labels read back from an engine become a lab only when they are
names swarmlab gives; and root uses a learner's engine socket only from a private folder of
that learner's (the machine's mount, read back from the engine, is not trusted as it comes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import swarmlab as sl
from swarmlab._errors import InsecurePath
from swarmlab.classroom import status as classroom
from swarmlab.exercises import lesson_checks
from swarmlab.lessons import LESSONS
from swarmlab.providers.base import is_name, labelled_lab
from swarmlab.providers.dind.machine import NotYet, mounted_socket_folder

HOSTILE = '<img src=x onerror="alert(1)">'


def status() -> classroom.ClassStatus:
    labs = [classroom.LearnerLab("alice", "1001", "tutorial", "3/3", "3/3", ["helloworld 3/3"],
                                 ["03-services"]),
            classroom.LearnerLab("1002", "1002", "t2", "1/1", "-", [f"{HOSTILE} 1/1"], [], error=HOSTILE)]
    return classroom.ClassStatus(labs, ["03-services", "04-rolling-update"], "every learner on this computer", 1.2)


def test_the_board_marks_each_lesson_and_escapes_whatever_came_from_an_engine() -> None:
    s = status()
    assert s.columns == ["LEARNER", "LAB", "MACHINES", "NODES", "SERVICES", "03", "04"]
    assert s.rows() == [["alice", "tutorial", "3/3", "3/3", "helloworld 3/3", "✓", "·"],
                        ["1002", "t2", "1/1", "-", f"{HOSTILE} 1/1", "·", "·"]]
    page = s._repr_html_()
    assert "<img" not in page and page.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") == 2
    assert '<tr data-learner="1001" data-lab="tutorial">' in page
    text = s.text()
    assert text.startswith("2 lab(s) of 2 learner(s) (every learner on this computer), read in 1.2 s")
    assert f"1002/t2: {HOSTILE}" in text
    assert s.as_dict()["labs"][0] == {"user": "alice", "uid": "1001", "lab": "tutorial", "machines": "3/3",
                                      "nodes": "3/3", "services": ["helloworld 3/3"], "passed": ["03-services"],
                                      "error": ""}
    unchecked = classroom.ClassStatus([classroom.LearnerLab("a", "1", "x", "1/1", "1/1")], ["03-services"], "s", 0)
    assert unchecked.rows()[0][-1] == "?"
    assert classroom.ClassStatus([], [], "your own labs", 0).text() == "no labs (your own labs)"


def test_only_root_reads_other_users_labs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classroom, "owner", lambda: "1001")
    assert classroom._whose(None) == (["1001"], "your own labs: root sees every learner's")
    assert classroom._whose(["1001"])[0] == ["1001"]
    with pytest.raises(sl.InvalidArgument, match="only root reads other users' labs"):
        classroom._whose(["1002"])
    with pytest.raises(sl.InvalidArgument, match="only root"):
        classroom.board(users=[1001, 1002], live=False)  # refused before anything is read
    monkeypatch.setattr(classroom, "owner", lambda: "0")
    assert classroom._whose(None) == (None, "every learner on this computer")
    assert classroom._whose([1001, "1002"]) == (["1001", "1002"], "user(s) 1001, 1002")
    for bad in ("", "../1", "1001;rm", "A" * 40):
        with pytest.raises(sl.InvalidArgument, match="give a user id"):
            classroom._whose([bad])


@pytest.mark.parametrize("labels, key", [
    ({"io.swarmlab.lab": "tutorial", "io.swarmlab.owner": "1000"}, ("tutorial", "1000")),
    ({"io.swarmlab.lab": "../etc", "io.swarmlab.owner": "1000"}, None),
    ({"io.swarmlab.lab": "tutorial-", "io.swarmlab.owner": "1000"}, None),
    ({"io.swarmlab.lab": "a" * 31, "io.swarmlab.owner": "1000"}, None),
    ({"io.swarmlab.lab": "tutorial", "io.swarmlab.owner": "10 00"}, None),
    ({"io.swarmlab.lab": "tutorial", "io.swarmlab.owner": HOSTILE}, None),
    ({"io.swarmlab.lab": "tutorial"}, None),
    (None, None),
])
def test_labels_from_an_engine_become_a_lab_only_when_swarmlab_could_have_made_them(
        labels: dict[str, str] | None, key: tuple[str, str] | None) -> None:
    assert labelled_lab(labels) == key


def test_is_name_by_kind() -> None:
    assert is_name("worker1", "machine") and is_name("Worker-1", "machine") and not is_name("w/1", "machine")
    assert is_name("1000", "owner") and not is_name("", "owner") and not is_name(1000, "owner")
    assert is_name("t", "lab") and not is_name("T", "lab")


def test_every_lesson_with_an_exercise_has_its_check_on_the_board() -> None:
    with_exercise = [lesson.name for lesson in LESSONS if lesson.name[:2] in
                     ("03", "04", "05", "07", "08", "09", "10", "11", "12", "13", "14")]
    assert list(lesson_checks()) == with_exercise  # in class order; 06 (nothing left) is not a lab's


class Container:
    def __init__(self, source: Any, destination: str = "/run/swarmlab", kind: str = "bind") -> None:
        self.attrs = {"Mounts": [{"Type": kind, "Source": source, "Destination": destination}]}


@pytest.fixture
def learner_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "learner" / "worker1"
    folder.mkdir(parents=True, mode=0o700)
    os.chown(folder, 12350, 12350)
    return folder


@pytest.mark.skipif(os.geteuid() != 0, reason="root reads learners' folders (this tier runs as root in CI)")
def test_root_takes_a_learners_socket_folder_only_when_it_is_theirs_and_private(
        learner_folder: Path, tmp_path: Path) -> None:
    assert mounted_socket_folder(Container(str(learner_folder)), "worker1", "12350") == learner_folder
    with pytest.raises(InsecurePath, match="not a private folder of user 12351"):
        mounted_socket_folder(Container(str(learner_folder)), "worker1", "12351")  # someone else's
    os.chmod(learner_folder, 0o777)
    with pytest.raises(InsecurePath, match="writable by others"):
        mounted_socket_folder(Container(str(learner_folder)), "worker1", "12350")
    os.chmod(learner_folder, 0o700)
    link = tmp_path / "link"
    link.symlink_to(learner_folder)
    with pytest.raises(InsecurePath, match="a symlink"):
        mounted_socket_folder(Container(str(link)), "worker1", "12350")
    root_owned = tmp_path / "mine"
    root_owned.mkdir(mode=0o700)  # e.g. a mount of /var/run: root's, so not the learner's
    with pytest.raises(InsecurePath):
        mounted_socket_folder(Container(str(root_owned)), "worker1", "12350")
    for odd in ("relative/path", f"{learner_folder}/../worker1", f"{learner_folder}/"):
        with pytest.raises(InsecurePath, match="not a plain absolute path"):
            mounted_socket_folder(Container(odd), "worker1", "12350")
    with pytest.raises(NotYet):
        mounted_socket_folder(Container(str(learner_folder), destination="/elsewhere"), "worker1", "12350")
    with pytest.raises(NotYet):
        mounted_socket_folder(Container(str(tmp_path / "gone")), "worker1", "12350")
    with pytest.raises(NotYet):
        mounted_socket_folder(Container(None), "worker1", "12350")

