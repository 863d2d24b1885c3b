"""Pure logic of root's gc: where root keeps another user's lab (never in its own lab's
folder), and gc's one-at-a-time lock (on a
real temporary filesystem)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swarmlab.classroom import gc
from swarmlab.providers.base import owner
from swarmlab.providers.dind.names import LabNames


def test_another_users_lab_has_a_folder_apart_from_this_users_lab_of_that_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "sl"))
    other = "12361" if owner() != "12361" else "12362"
    mine, theirs = LabNames("tutorial", owner()), LabNames("tutorial", other)
    assert mine.lab_dir(create=True) == tmp_path / "sl" / "labs" / "dind" / "tutorial"
    assert theirs.lab_dir(create=True) == tmp_path / "sl" / "labs" / f"dind-u{other}" / "tutorial"
    assert oct(os.stat(theirs.lab_dir()).st_mode & 0o777) == "0o700"
    assert theirs.socket_path("manager1").parent.parent == theirs.lab_dir()
    assert mine.socket_path("manager1").parent.parent == mine.lab_dir()


def test_a_second_gc_is_refused_at_once_naming_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "sl"))
    running = f"another swarmlab gc is running \\(pid {os.getpid()}"
    with gc.only_one(), pytest.raises(gc.GcRunning, match=running), gc.only_one():
        pass
    with gc.only_one():  # released when the first ended
        pass
