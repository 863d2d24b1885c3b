"""What a learner's rootless engine says is that learner's word only: the teacher's board
(``swarmlab class status`` as root) against engines learners control, for real. Each engine
here is a Docker-API-shaped server (fake_engine.py) run by a new account of its own at that
account's /run/user/UID/docker.sock, saying what such a learner could make it say: labs of
another user and of root, an answer that never ends; and sockets at a learner's place that
are not served by that learner (one moved there from another account's server, one a link to
this computer's engine). The board must not show those labs as anyone's, must say what it
ignored, and must return."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmlab.classroom import rootless
from swarmlab.classroom import status as classroom

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FAKE = Path(__file__).with_name("fake_engine.py")
NOBODY_ELSE = "54321"  #: a user id the learner's engine claims labs of


def _account(tag: str) -> pwd.struct_passwd:
    name = f"slf{tag}{uuid.uuid4().hex[:5]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True,
                   capture_output=True)
    pw = pwd.getpwnam(name)
    run = Path(f"/run/user/{pw.pw_uid}")
    run.mkdir(parents=True, mode=0o700)
    os.chown(run, pw.pw_uid, pw.pw_gid)
    return pw


def _serve(pw: pwd.struct_passwd, sock: str, mode: str, labs: list[list[str]]) -> subprocess.Popen[str]:
    """The fake engine, run as the account (its ids only), listening at ``sock``."""
    proc = subprocess.Popen(["/usr/bin/python3", "-I", str(FAKE), sock, mode, json.dumps(labs)],
                            user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr
    return proc


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, Any]]:
    made, procs = [], []
    try:
        liar, staller, moved, linked = (_account(t) for t in "lsmk")
        made += [liar, staller, moved, linked]
        root_folder = str(Path.home() / ".swarmlab")
        # the liar: its own lab, and labs it says are another user's and root's
        procs.append(_serve(liar, str(rootless.socket_path(liar.pw_uid)), "normal", [
            ["fk-own", str(liar.pw_uid), f"/run/user/{liar.pw_uid}"],
            ["fk-other", NOBODY_ELSE, f"/run/user/{liar.pw_uid}"],
            ["fk-root", "0", root_folder]]))
        procs.append(_serve(staller, str(rootless.socket_path(staller.pw_uid)), "stall",
                            [["fk-stall", str(staller.pw_uid), f"/run/user/{staller.pw_uid}"]]))
        # a server of the staller's account, its socket moved to the other's place and made theirs
        side = f"/run/user/{staller.pw_uid}/side.sock"
        procs.append(_serve(staller, side, "normal", [["fk-moved", str(moved.pw_uid), f"/run/user/{moved.pw_uid}"]]))
        os.rename(side, rootless.socket_path(moved.pw_uid))
        os.chown(rootless.socket_path(moved.pw_uid), moved.pw_uid, moved.pw_gid)
        # a link to this computer's engine (root's) at the last one's place
        os.symlink("/var/run/docker.sock", rootless.socket_path(linked.pw_uid))
        yield {"liar": liar, "staller": staller, "moved": moved, "linked": linked}
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for pw in made:
            subprocess.run(["pkill", "-KILL", "-u", str(pw.pw_uid)], capture_output=True)
            subprocess.run(["rm", "-rf", f"/run/user/{pw.pw_uid}"], capture_output=True)
            subprocess.run(["userdel", pw.pw_name], capture_output=True)


def board(*args: str, timeout: float = 150) -> tuple[dict[str, Any], float]:
    """``swarmlab class status -o json`` as root, and how long it took."""
    t = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "swarmlab", "class", "status", "-o", "json", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), time.monotonic() - t


def test_labs_an_engine_reports_of_other_users_are_ignored_and_said(engines: dict[str, Any]) -> None:
    uid = str(engines["liar"].pw_uid)
    said, _ = board("--user", uid, "--user", NOBODY_ELSE)
    rows = {(x["uid"], x["lab"]): x for x in said["labs"]}
    assert (NOBODY_ELSE, "fk-other") not in rows, rows
    assert not [x for x in said["labs"] if x["uid"] != uid], said["labs"]
    assert f"user {uid}'s engine reports a lab of user {NOBODY_ELSE}: ignored" in said["notes"], said["notes"]
    # its own lab is its word about itself: shown as the liar's, with no check passing on it
    assert rows[(uid, "fk-own")]["passed"] in ([], None), rows
    # root's labs: never taken from a learner's engine (nor root's folders used for them)
    said, _ = board("--user", uid, "--user", "0", "--no-checks")
    assert not [x for x in said["labs"] if x["lab"].startswith("fk-") and x["uid"] != uid], said["labs"]
    assert f"user {uid}'s engine reports a lab of user 0: ignored" in said["notes"], said["notes"]


def test_an_engine_that_never_finishes_its_answer_does_not_stop_the_board(engines: dict[str, Any]) -> None:
    uid = str(engines["staller"].pw_uid)
    said, took = board("--user", uid, "--user", str(engines["liar"].pw_uid))
    assert took < classroom.ENGINE_DEADLINE + 30, took
    assert (f"user {uid}'s rootless engine did not answer within {classroom.ENGINE_DEADLINE:g} s: "
            "its labs are not shown") in said["notes"], said["notes"]
    # the other engine is still read
    assert (str(engines["liar"].pw_uid), "fk-own") in {(x["uid"], x["lab"]) for x in said["labs"]}


def test_a_socket_not_served_by_its_learner_is_not_used(engines: dict[str, Any]) -> None:
    moved, linked, staller = engines["moved"], engines["linked"], engines["staller"]
    # the kernel says who serves each (whatever the file's owner says)
    assert os.lstat(rootless.socket_path(moved.pw_uid)).st_uid == moved.pw_uid
    assert not rootless.answers(moved.pw_uid) and not rootless.answers(linked.pw_uid)
    assert rootless.answers(engines["liar"].pw_uid)
    said, _ = board("--user", str(moved.pw_uid), "--user", str(linked.pw_uid))
    assert [x for x in said["labs"] if x["lab"].startswith("fk-")] == [], said["labs"]
    notes = "\n".join(said["notes"])
    assert (f"user {moved.pw_uid}'s rootless engine not used: {rootless.socket_path(moved.pw_uid)} is served "
            f"by user {staller.pw_uid}") in notes, notes
    assert f"user {linked.pw_uid}'s rootless engine not used: " in notes and "served by user 0" in notes, notes


def test_gc_acts_on_no_lab_a_learners_engine_reports_of_another_user(engines: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    """Root's gc over every user (``swarmlab gc --all-users``), on the learner's own engine:
    the labs it reports of user 54321 and of root are neither removed nor read, nor given a
    folder of root's; gc says it ignored them."""
    import argparse

    from swarmlab.cli import _gc

    uid = str(engines["liar"].pw_uid)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    said: list[Any] = []
    args = argparse.Namespace(dry_run=False, output="json")
    old = os.environ.get("SWARMLAB_HOME")
    os.environ["SWARMLAB_HOME"] = str(home)
    try:
        code = _gc._collect(args, None, 1.0, lambda x, json=False: said.append(x),
                            [(uid, rootless.client(int(uid)))])
    finally:
        if old is None:
            os.environ.pop("SWARMLAB_HOME")
        else:
            os.environ["SWARMLAB_HOME"] = old
    entries = said[-1]
    assert {"engine": uid, "ignored": NOBODY_ELSE} in entries and {"engine": uid, "ignored": "0"} in entries, entries
    assert not [e for e in entries if e.get("user") in (NOBODY_ELSE, "0")], entries
    # its own lab is its word about itself: a fake engine runs nothing, so it is kept unread
    assert [e["lab"] for e in entries if e.get("user") == uid] == ["fk-own"], entries
    assert code == 1
    assert not list(home.glob("labs/dind-u*")), list(home.rglob("*"))
