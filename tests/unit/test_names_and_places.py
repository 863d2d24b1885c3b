"""Pure logic of names and places: which engines count as this computer's, which names are
machine names, how the owner becomes part of a name, and that swarmlab's own folders are
checked and never left (on a real temporary filesystem)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import swarmlab as sl
from swarmlab import _home
from swarmlab.providers.base import check_machine_name, owner, owner_tag
from swarmlab.providers.dind import engine_location


@pytest.mark.parametrize(("url", "where"), [
    ("unix:///var/run/docker.sock", "unix"),
    ("http+docker://localhost", "unix"),          # docker-py's form of a unix socket
    ("http+unix://%2Fvar%2Frun%2Fdocker.sock", "unix"),
    ("npipe:////./pipe/docker_engine", "pipe"),
    ("http+docker://localnpipe", "pipe"),
    ("tcp://127.0.0.1:2375", "loopback"),
    ("http://127.0.0.1:2375", "loopback"),
    ("https://localhost:2376", "loopback"),
    ("tcp://[::1]:2375", "loopback"),
    ("tcp://127.0.0.2:2375", "loopback"),
    ("tcp://127.0.0.1.evil.com:2375", "remote"),
    ("http://127.0.0.1.evil.com:2375", "remote"),
    ("tcp://localhost.evil.com:2375", "remote"),
    ("tcp://evil.com:2375/127.0.0.1", "remote"),
    ("tcp://127.0.0.1@evil.com:2375", "remote"),
    ("tcp://evil.com:2375?://127.0.0.1", "remote"),
    ("tcp://10.0.0.5:2375", "remote"),
    ("ssh://user@127.0.0.1", "remote"),             # another computer's engine, or not: not ours to say
    ("http+docker://ssh", "remote"),                # docker-py's form of ssh://
    ("tcp://[::1:2375", "remote"),                  # broken
    ("", "remote"),
])
def test_an_engine_is_on_this_computer_only_when_its_url_says_so(url: str, where: str) -> None:
    assert engine_location(url) == where


@pytest.mark.parametrize("name", ["/", "..", "../../..", "", "manager1\n", "\nmanager1", "m" * 200,
                                  "manager1/..", "a.b", "-a", "a-", "man ager", None, 3])
def test_a_value_that_is_not_a_machine_name_is_refused(name: object) -> None:
    with pytest.raises(sl.InvalidArgument, match="invalid machine name"):
        check_machine_name(name)


def test_machine_names_swarmlab_makes_pass() -> None:
    for name in ("manager1", "worker-2", "W", "a" * 63):
        assert check_machine_name(name) == name


def test_the_owner_is_the_user_id_and_a_name_part_without_separators() -> None:
    assert owner() == str(os.getuid())
    assert owner_tag("1000") == "u1000"
    assert owner_tag("0") == "u0"
    assert owner_tag("alice") == "alice"
    for who in ("0", "12345", "alice"):
        assert "-" not in owner_tag(who) and "." not in owner_tag(who)


# -- folders ---------------------------------------------------------------------------------

def test_home_is_made_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    old = os.umask(0)  # even with a permissive umask
    try:
        home = _home.home()
        lab = _home.lab_dir("dind", "tutorial")
    finally:
        os.umask(old)
    assert oct(os.stat(home).st_mode & 0o777) == "0o700"
    assert lab == home / "labs" / "dind" / "tutorial"
    for p in (home / "labs", home / "labs" / "dind", lab):
        assert oct(os.stat(p).st_mode & 0o777) == "0o700"
    # each provider keeps its own folder for a lab of the same name
    assert _home.lab_dir("ssh", "tutorial") != lab


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o720])
def test_a_home_others_can_write_is_refused_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          mode: int) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home").chmod(mode)
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    with pytest.raises(sl.InsecurePath, match=f"chmod 700 {tmp_path / 'home'}"):
        _home.lab_dir("dind", "tutorial")
    assert list((tmp_path / "home").iterdir()) == []


def test_a_symlinked_home_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "home").symlink_to(tmp_path / "real")
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    with pytest.raises(sl.InsecurePath, match="is a symlink.*SWARMLAB_HOME"):
        _home.lab_dir("dind", "tutorial")
    assert list((tmp_path / "real").iterdir()) == []


def test_nothing_outside_the_folder_is_removed(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    (root / "manager1").mkdir(parents=True)
    (tmp_path / "canary").mkdir()
    (root / "link").symlink_to(tmp_path / "canary")
    for outside in (root / ".." / "canary", root / "manager1" / ".." / ".." / "canary", Path("/"), tmp_path):
        with pytest.raises(sl.InsecurePath, match="outside swarmlab's folder"):
            _home.remove_inside(root, outside)
    assert _home.remove_inside(root, root / "link")  # the link goes, never what it points at
    assert (tmp_path / "canary").is_dir()
    assert _home.remove_inside(root, root / "manager1")
    assert not _home.remove_inside(root, root / "manager1")
    assert _home.remove_inside(root, root)
    assert (tmp_path / "canary").is_dir()


def test_the_lock_is_one_holder_at_a_time_and_survives_its_folder_going(tmp_path: Path) -> None:
    folder = tmp_path / "lab"

    def make() -> Path:
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    with _home.locked(make, "the test lab", timeout=5):
        # another holder (its own open file, as another process has) waits, then gives up
        with pytest.raises(sl.WaitTimeout, match="another program is changing the test lab"), \
                _home.locked(make, "the test lab", timeout=0.2):
            pass
        got = threading.Event()

        def second() -> None:
            with _home.locked(make, "the test lab", timeout=10):
                got.set()

        t = threading.Thread(target=second)
        t.start()
        assert not got.wait(0.3)
        _home.remove_inside(tmp_path, folder)  # the folder goes while the lock is held
    t.join(10)
    assert got.is_set()  # the waiter locked the folder made anew, not the removed file
    assert (folder / ".lock").exists()
