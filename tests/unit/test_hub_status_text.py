"""What ``swarmlab class up`` says about students who are root on this computer."""

from __future__ import annotations

from swarmlab.classroom.hub import HubStatus


def test_students_in_the_docker_group_are_said_to_be_root_in_text_and_json() -> None:
    status = HubStatus(True, "http://127.0.0.1:8000", "/x/hub", ["alice"], ["alice"], 42, students_are_root=True)
    assert "these students are root on this computer" in status.text()
    assert status.as_dict()["students_are_root"] is True


def test_rootless_students_are_not_said_to_be_root() -> None:
    status = HubStatus(True, "http://127.0.0.1:8000", "/x/hub", ["alice"], [], 42, notes=["a note"])
    assert "root on this computer" not in status.text() and status.text().endswith("a note")
    assert status.as_dict()["students_are_root"] is False
