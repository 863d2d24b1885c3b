"""``swarmlab gc / mirror / class``: a class on one lab server: removing labs nobody uses,
the registry mirror, the class's JupyterHub and the teacher's board (:mod:`swarmlab.classroom`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._errors import InvalidArgument
from ._common import Command, Usage, output_opt, print_json


def register(command: Command) -> None:
    """Add ``gc``, ``mirror`` and ``class`` to the ``swarmlab`` parser."""
    p = command("gc", "remove the dind labs nobody used for a while, and what a destroy left; says what it "
                      "removed and what it could not read (kept; exit 1); exit 3 when another gc runs",
                "swarmlab gc --idle 2h      (a teacher's schedule, as root: swarmlab gc --idle 2h --all-users)")
    p.add_argument("--idle", required=True, metavar="DURATION", help="unused for this long: 2h, 90m, 1h30m, 45s")
    p.add_argument("--all-users", action="store_true", help="every user's labs (root only)")
    p.add_argument("--user", metavar="UID", help="this user's labs (root only)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    output_opt(p)
    p.set_defaults(run=cmd_gc)

    p = command("mirror", "a registry mirror on this computer: each image pulled once from the "
                          "internet for every lab that uses it (a classroom's)",
                "swarmlab mirror up    then: export SWARMLAB_REGISTRY_MIRROR=http://swarmlab-mirror:5000")
    p.add_argument("action", choices=("up", "down", "status"))
    p.add_argument("--upstream", default="https://registry-1.docker.io",
                   help="the registry it mirrors (default: Docker Hub)")
    output_opt(p)
    p.set_defaults(run=cmd_mirror)

    p = command("class", "a classroom: 'up' starts a JupyterHub on 127.0.0.1 with an account per student "
                         "(root); 'status' is the teacher's board: every learner's labs, nodes, services, "
                         "and which lessons' checks pass (root: every learner; others: their own)",
                "swarmlab class status      (as root: every learner's labs; --user 1001 --user 1002: theirs)\n"
                "         sudo swarmlab class up --students alice,bob --rootless   (a JupyterHub on 127.0.0.1:8000)")
    p.add_argument("action", choices=("up", "down", "status"))
    p.add_argument("--students", metavar="NAMES", help="up: the students' account names, comma-separated")
    p.add_argument("--port", type=int, default=8000, help="up: the hub's port on 127.0.0.1 (and the next two)")
    p.add_argument("--remove-students", action="store_true",
                   help="down: also remove the accounts 'up' made, with their homes and labs")
    p.add_argument("--rootless", action="store_true",
                   help="up: each student's labs in a rootless engine of their own, students not in the "
                        "Docker socket's group (see the README's trust model)")
    p.add_argument("--students-are-root", action="store_true",
                   help="up: students in the Docker socket's group, which makes each of them root on this "
                        "computer (without --rootless, 'up' asks for this)")
    p.add_argument("--user", action="append", metavar="UID", help="only this user's labs (root; repeat for more)")
    p.add_argument("--no-checks", action="store_true", help="leave out the lessons' checks (quicker)")
    output_opt(p)
    p.set_defaults(run=cmd_class)


def cmd_gc(args: argparse.Namespace) -> int:
    from ..classroom.activity import parse_duration
    from ..providers.base import owner
    from ._gc import run

    idle = parse_duration(args.idle)
    me = owner()
    if (args.all_users or args.user) and me != "0":
        raise Usage("--all-users and --user act on other users' labs: run as root (a teacher's schedule)")
    if args.user is not None and not (args.user.isdigit() or args.user.isalnum()):
        raise Usage(f"--user {args.user!r}: give a user id, e.g. 1000")

    def emit(what: Any, json: bool = False) -> None:
        if json:
            print_json(what)
        elif args.output != "json":
            print(what)

    # one gc at a time (exit 3 when another runs); each engine read within a deadline
    return run(args, None if args.all_users else [args.user or me], idle, emit)


def _class_up(args: argparse.Namespace) -> int:
    from ..classroom import hub

    if not args.students:
        raise Usage("name the students: swarmlab class up --students alice,bob --rootless")
    try:
        started = hub.up([s.strip() for s in args.students.split(",")], port=args.port, rootless=args.rootless,
                         students_are_root=args.students_are_root)
    except InvalidArgument as e:
        raise Usage(str(e)) from None
    if args.output == "json":
        print_json(started.as_dict())
    else:
        print(started.text())
    return 0


def _class_down(args: argparse.Namespace) -> int:
    from ..classroom import hub

    stopped = hub.down(remove_students=args.remove_students)
    if args.output == "json":
        print_json(stopped)
    else:
        print(("stopped the classroom hub" if stopped["stopped"] else "no classroom hub was running")
              + "".join(f"\nremoved lab {n}" for n in stopped.get("labs", []))
              + "".join(f"\nremoved the account {n}" for n in stopped["removed"]))
    for failure in stopped["failed"]:
        print(f"could not remove the student {failure}", file=sys.stderr)
    return 1 if stopped["failed"] else 0


def cmd_class(args: argparse.Namespace) -> int:
    from ..classroom import class_status

    if args.action == "up":
        return _class_up(args)
    if args.action == "down":
        return _class_down(args)
    try:
        status = class_status(args.user, checks=not args.no_checks)
    except InvalidArgument as e:
        raise Usage(str(e)) from None
    if args.output == "json":
        print_json(status.as_dict())
    else:
        print(status.text())
    return 0


def cmd_mirror(args: argparse.Namespace) -> int:
    from ..providers import MIRROR_ENV, MIRROR_URL, mirror_here

    mirror = mirror_here()
    if args.action == "down":
        removed = mirror.down()
        if args.output == "json":
            print_json(removed)
        else:
            print(f"docker rm -f {mirror.container}; docker network rm {mirror.network}; "
                  f"docker volume rm {mirror.volume}\nremoved: " + ", ".join(f"{n} {k}" for k, n in removed.items()))
        return 0
    status = mirror.up(args.upstream) if args.action == "up" else mirror.status()
    if args.output == "json":
        print_json(status.as_dict())
    else:
        print(status.text())
        if args.action == "up":
            print(f"\nLabs use it when asked: export {MIRROR_ENV}={MIRROR_URL}  (before making them), or "
                  f"swarmlab.Lab(..., registry_mirror={MIRROR_URL!r})")
    return 0 if status.running or args.action == "status" else 1
