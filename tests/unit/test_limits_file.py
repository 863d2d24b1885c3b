"""Reading a classroom's limits file: what it takes, and one clear error for anything else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import swarmlab as sl
from swarmlab.providers.dind import limits
from swarmlab.providers.dind.limits import Limits, memory_bytes, read


def _file(tmp_path: Path, data: object) -> str:
    path = tmp_path / "limits.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_no_file_is_no_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARMLAB_LIMITS", raising=False)
    monkeypatch.setattr(limits, "DEFAULT_FILE", str(tmp_path / "etc-swarmlab-limits.json"))
    assert read("1000") == Limits()
    with pytest.raises(sl.InvalidArgument, match="does not exist"):
        read("1000", str(tmp_path / "missing.json"))


def test_a_learner_gets_the_defaults_and_their_own(tmp_path: Path) -> None:
    path = _file(tmp_path, {"machines": 6, "memory": "768m", "cpus": 0.5, "users": {"1001": {"machines": 12}}})
    assert read("1000", path) == Limits(6, 768 * 2**20, 0.5, path)
    assert read("1001", path) == Limits(12, 768 * 2**20, 0.5, path)


@pytest.mark.parametrize("data, said", [
    ("{", "is not JSON"),
    ([1], "give an object"),
    ({"machine": 3}, "unknown setting 'machine'"),
    ({"machines": 0}, "machines=0: give a whole number from 1"),
    ({"machines": True}, "machines=True"),
    ({"machines": "3"}, "machines='3'"),
    ({"memory": "lots"}, "memory='lots': give a size"),
    ({"memory": "64m"}, "at least 128m"),
    ({"cpus": 0}, "cpus=0: give a number of CPUs from 0.05"),
    ({"users": []}, "'users' is an object"),
    ({"users": {"1000": 5}}, "users['1000'] is an object"),
])
def test_a_bad_file_says_what_to_fix(tmp_path: Path, data: object, said: str) -> None:
    path = _file(tmp_path, data)
    with pytest.raises(sl.InvalidArgument) as e:
        read("1000", path)
    assert str(e.value).startswith(f"the limits file {path}")
    assert said in str(e.value)


@pytest.mark.parametrize("text, size", [("512m", 512 * 2**20), ("1g", 2**30), ("1.5GiB", 3 * 2**29),
                                        ("131072k", 128 * 2**20), (2**30, 2**30)])
def test_sizes_read_as_docker_reads_them(text: object, size: int) -> None:
    assert memory_bytes(text) == size


def test_what_a_machine_gets(tmp_path: Path) -> None:
    lim = Limits(None, 512 * 2**20, 1.0, "/etc/swarmlab/limits.json")
    assert lim.machine_resources() == (512 * 2**20, 1.0)
    assert lim.machine_resources("256m", 0.5) == (256 * 2**20, 0.5)
    with pytest.raises(sl.LimitExceeded, match="more than each machine may have here"):
        lim.machine_resources("1g")
    assert Limits().machine_resources() == (None, None)
    assert Limits().machine_resources("2g", 4) == (2 * 2**30, 4.0)
    Limits(machines=2).check_machines("a", 2, {})
    with pytest.raises(sl.LimitExceeded, match="1 more machine in lab 'a' would make 3"):
        Limits(machines=2).check_machines("a", 1, {"b": 2})


def test_who_can_change_a_limits_file(tmp_path: Path) -> None:
    """Root alone: the file and every folder above it root's, written by no one else (a
    sticky folder such as /tmp is root's when what is in it is); a link is judged by where
    it leads. (As root: the files here are root's.)"""
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    path = Path(_file(folder, {"machines": 3}))
    path.chmod(0o644)
    assert limits.untrusted(path) == ""
    path.chmod(0o666)
    assert limits.untrusted(path) == f"{path} can be written by others (mode 666)"
    path.chmod(0o644)
    folder.chmod(0o777)
    assert limits.untrusted(path) == f"its folder {folder} can be written by others (mode 777)"
    folder.chmod(0o1777)  # sticky: only root may replace root's file in it
    assert limits.untrusted(path) == ""
    folder.chmod(0o755)
    os.chown(path, 12346, 12346)
    assert limits.untrusted(path) == f"{path} belongs to uid 12346, not root"
    link = tmp_path / "link.json"
    link.symlink_to(path)
    assert limits.untrusted(link) == f"{path} belongs to uid 12346, not root"
    os.chown(path, 0, 0)
    assert limits.untrusted(link) == ""
    assert limits.untrusted(tmp_path / "missing.json") == "it does not exist"
    assert limits.untrusted(folder) == f"{folder} is not a plain file"


def test_a_learner_gets_the_system_file_not_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root: a file of someone else's named by SWARMLAB_LIMITS is not read (the real
    attack, with a second user, is tests/integration/test_limits.py)."""
    system = _file(tmp_path, {"machines": 2})
    (tmp_path / "home").mkdir()
    own = _file(tmp_path / "home", {"machines": 50})
    os.chown(own, 12346, 12346)
    monkeypatch.setattr(limits, "DEFAULT_FILE", system)
    monkeypatch.setattr(os, "geteuid", lambda: 12346)
    monkeypatch.setenv("SWARMLAB_LIMITS", own)
    got = read("12346")
    assert (got.machines, got.source) == (2, system)
    assert got.note.startswith(f"SWARMLAB_LIMITS={own} was not used: {own} belongs to uid 12346, not root")
    with pytest.raises(sl.LimitExceeded, match=r"then try again \(SWARMLAB_LIMITS=.* was not used"):
        got.check_machines("a", 3, {})
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # root (the teacher) uses any file
    assert read("12346") == Limits(50, None, None, own)
