"""The ``swarmlab`` command (also ``python -m swarmlab``): labs from a terminal, as ``kind`` and
``docker-machine`` give them. Every command calls the same :class:`~swarmlab.Lab` steps the
notebooks do.

Exit status: 0 done, 1 failed (the :class:`~swarmlab.SwarmlabError` message, one line, no
traceback unless ``--debug``), 2 bad usage (an unknown option, a bad number or name), 130
interrupted (Ctrl-C: the next ``swarmlab up`` completes the lab, ``swarmlab down`` removes it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import InvalidArgument, LabNotFound, SwarmlabError
from .._results import Result
from ..providers import PROVIDERS
from ..providers.base import check_lab_name, check_machine_name

#: where the lessons and their scripts are, in a checkout of swarmlab (not in a wheel)
CHECKOUT = Path(__file__).resolve().parents[2]

EXAMPLES = {
    "up": "swarmlab up tutorial --managers 3 --workers 2",
    "ls": "swarmlab ls --output json",
    "status": "swarmlab status tutorial",
    "down": "swarmlab down tutorial        (or: swarmlab down --all --yes)",
    "ssh": "swarmlab ssh tutorial manager1 docker node ls   (no command: a shell)",
    "env": "eval $(swarmlab env tutorial manager1)   then: docker node ls",
    "doctor": "swarmlab doctor --provider dind --offline",
    "gc": "swarmlab gc --idle 2h      (a teacher's schedule, as root: swarmlab gc --idle 2h --all-users)",
    "mirror": "swarmlab mirror up    then: export SWARMLAB_REGISTRY_MIRROR=http://swarmlab-mirror:5000",
    "class": "swarmlab class status      (as root: every learner's labs; --user 1001 --user 1002: theirs)\n"
             "         sudo swarmlab class up --students alice,bob --rootless   (a JupyterHub on 127.0.0.1:8000)",
    "lessons": "swarmlab lessons --offline",
    "run-lessons": "swarmlab run-lessons --offline --lessons 07-high-availability",
}


class Usage(Exception):
    """Bad usage found after parsing (exit 2)."""


def _lab_name(text: str) -> str:
    try:
        return check_lab_name(text)
    except InvalidArgument as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _count(least: int) -> Any:
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = -1
        if n < least or n > 99 or str(n) != text.strip():
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from {least} to 99")
        return n
    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        """Bad usage: one line saying what is wrong and where the help is (exit 2)."""
        self.exit(2, f"{self.prog}: {message} (see: {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="swarmlab", description="Docker Swarm labs on this computer, from a terminal.",
        epilog="Exit status: 0 done, 1 failed, 2 bad usage. 'swarmlab COMMAND --help' shows an example.")
    top.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=f"example: {EXAMPLES[name]}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    def provider_opt(p: argparse.ArgumentParser, found: bool = False) -> None:
        """``found``: a command that names an existing lab; with neither --provider nor
        $SWARMLAB_PROVIDER it takes the provider the lab was found on (:func:`_provider`)."""
        if found:
            p.add_argument("--provider", choices=sorted(PROVIDERS), default=os.environ.get("SWARMLAB_PROVIDER"),
                           help="where its machines come from (default: $SWARMLAB_PROVIDER, else the one "
                                "'swarmlab ls' finds the lab on, else dind)")
        else:
            p.add_argument("--provider", choices=sorted(PROVIDERS),
                           default=os.environ.get("SWARMLAB_PROVIDER") or "dind",
                           help="where machines come from (default: $SWARMLAB_PROVIDER, else dind)")

    def output_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--output", "-o", choices=("table", "json"), default="table")

    p = command("up", "make a lab: machines, a swarm on manager1, the others joined; all waited for")
    p.add_argument("lab", nargs="?", default="tutorial", type=_lab_name)
    p.add_argument("--managers", type=_count(1), default=1, help="machines manager1..N (default 1)")
    p.add_argument("--workers", type=_count(0), default=2, help="machines worker1..M (default 2)")
    p.add_argument("--offline", action="store_true", help="load the offline images into every machine")
    provider_opt(p)
    output_opt(p)

    p = command("ls", "every lab on this computer: provider, machines, nodes, services, age")
    output_opt(p)

    p = command("status", "a lab's nodes and services (docker node ls, docker service ls)")
    p.add_argument("lab", nargs="?", default="tutorial", type=_lab_name)
    provider_opt(p, found=True)
    output_opt(p)

    p = command("down", "remove a lab: its machines, volumes, networks and folder")
    p.add_argument("lab", nargs="?", type=_lab_name)
    p.add_argument("--all", action="store_true", help="every lab on this computer (asks first)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    provider_opt(p, found=True)

    p = command("ssh", "a shell on a machine (no command), or one command and its exit status")
    p.add_argument("lab", type=_lab_name)
    p.add_argument("machine")
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND...")
    provider_opt(p, found=True)

    p = command("env", "the variables that point this computer's docker CLI at a machine's engine")
    p.add_argument("lab", type=_lab_name)
    p.add_argument("machine")
    provider_opt(p, found=True)
    output_opt(p)

    p = command("doctor", "what this computer has and lacks for the lessons, with what to do")
    provider_opt(p)
    p.add_argument("--offline", action="store_true", help="check for the offline images")

    p = command("gc", "remove the dind labs nobody used for a while, and what a destroy left; says what it "
                      "removed and what it could not read (kept; exit 1); exit 3 when another gc runs")
    p.add_argument("--idle", required=True, metavar="DURATION", help="unused for this long: 2h, 90m, 1h30m, 45s")
    p.add_argument("--all-users", action="store_true", help="every user's labs (root only)")
    p.add_argument("--user", metavar="UID", help="this user's labs (root only)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    output_opt(p)

    p = command("mirror", "a registry mirror on this computer: each image pulled once from the "
                          "internet for every lab that uses it (a classroom's)")
    p.add_argument("action", choices=("up", "down", "status"))
    p.add_argument("--upstream", default="https://registry-1.docker.io",
                   help="the registry it mirrors (default: Docker Hub)")
    output_opt(p)

    p = command("class", "a classroom: 'up' starts a JupyterHub on 127.0.0.1 with an account per student "
                         "(root); 'status' is the teacher's board: every learner's labs, nodes, services, "
                         "and which lessons' checks pass (root: every learner; others: their own)")
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

    for name, what in (("lessons", "open the lessons in JupyterLab (http://127.0.0.1:8888)"),
                       ("run-lessons", "run every lesson headless, as CI does")):
        p = command(name, what)
        p.add_argument("args", nargs=argparse.REMAINDER, help=f"handed to scripts/{name}")
    return top


# -- output ------------------------------------------------------------------------------
def _table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    from .._format import text_table

    return text_table(list(columns), rows)


def _json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _shown(result: Result) -> str:
    return repr(result)


def _provider(args: argparse.Namespace) -> str:
    """The provider of the lab a command names: --provider or $SWARMLAB_PROVIDER when given,
    else the one provider 'swarmlab ls' finds the lab on (a qemu lab is removed with
    'swarmlab down NAME', as it was listed), else dind. A name found on several providers
    is a usage error that lists them."""
    if args.provider is None:
        from ._labs import found_labs

        on = [p for p, name in found_labs() if name == args.lab]
        if len(on) > 1:
            raise Usage(f"there is a lab {args.lab!r} on {' and on '.join(on)}: say which with "
                        f"--provider {on[0]} or --provider {on[1]}")
        args.provider = on[0] if on else "dind"
    return str(args.provider)


def _lab(args: argparse.Namespace, must_exist: bool = True) -> Any:
    from ..lab import Lab

    _provider(args)
    if must_exist:
        try:
            return Lab.attach(args.lab, provider=args.provider, progress=False)
        except LabNotFound:
            raise LabNotFound(f"no lab named {args.lab!r} on the {args.provider} provider: 'swarmlab ls' "
                              f"lists the labs, 'swarmlab up {args.lab}' makes it") from None
    return Lab(args.lab, provider=args.provider)


def _machine(lab: Any, name: str) -> str:
    check_machine_name(name)
    known = [m.name for m in lab.provider.list()]
    if name not in known:
        from .._errors import MachineNotFound

        raise MachineNotFound(f"lab {lab.name!r} has no machine {name!r} (machines: {', '.join(known)})")
    return name


# -- commands ----------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    from ..exercises import OFFLINE

    lab = _lab(args, must_exist=False)
    table = lab.up(managers=args.managers, workers=args.workers)
    if args.offline:
        print(_shown(lab.image.load(OFFLINE.hello, OFFLINE.old, OFFLINE.new)), file=sys.stderr)
    if args.output == "json":
        _json({"lab": lab.name, "provider": lab.provider_name, "nodes": table.rows()})
        return 0
    print(_shown(table))
    first, dind = "manager1", lab.provider_name == "dind"
    flag = "" if dind else f" --provider {lab.provider_name}"
    print(f"\nlab {lab.name!r} is ready ({lab.provider_name}). Use it:\n"
          f"  eval $(swarmlab env {lab.name} {first}{flag})   # then: docker node ls\n"
          f"  swarmlab ssh {lab.name} {first}{flag}            # a shell on {first}\n"
          f"  python: lab = swarmlab.Lab.attach({lab.name!r}"
          + ("" if dind else f", provider={lab.provider_name!r}") + ")\n"
          + f"  swarmlab down {lab.name}{flag}                   # remove it")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from ._labs import every_lab

    labs = every_lab()
    if args.output == "json":
        _json([lab.as_dict() for lab in labs])
        return 0
    columns = ["NAME", "PROVIDER", "MACHINES", "NODES", "SERVICES", "AGE"]
    print(_table(columns, [lab.row() for lab in labs]))
    for lab in labs:
        if lab.error:
            print(f"{lab.name} ({lab.provider}): {lab.error}", file=sys.stderr)
        if lab.left:
            print(f"{lab.name} ({lab.provider}): left behind: {', '.join(lab.left)}; "
                  f"'swarmlab down {lab.name}' removes it once the engine allows", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    lab = _lab(args)
    machines = lab.machine.ls()
    try:
        nodes, services = lab.node.ls(), lab.service.ls()
    except SwarmlabError as e:  # machines, but no swarm (yet) or no quorum: say so, show them
        if args.output == "json":
            _json({"lab": lab.name, "machines": machines.rows(), "swarm": str(e)})
        else:
            print(f"{_shown(machines)}\n\nno swarm to show: {e}")
        return 0
    if args.output == "json":
        _json({"lab": lab.name, "machines": machines.rows(), "nodes": nodes.rows(),
               "services": services.rows()})
    else:
        print(f"{_shown(nodes)}\n\n{_shown(services)}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from ..lab import Lab
    from ._labs import found_labs

    if args.all == bool(args.lab):
        raise Usage("name a lab (swarmlab down tutorial) or give --all")
    targets = found_labs() if args.all else [(_provider(args), args.lab)]
    if args.all and not args.yes:
        names = ", ".join(f"{n} ({p})" for p, n in targets) or "none"
        if not sys.stdin.isatty():
            raise Usage(f"--all removes every lab ({names}): add --yes to say so")
        if input(f"remove every lab: {names}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    if not args.all and not Lab(args.lab, provider=args.provider, progress=False).provider.list():
        print(f"lab {args.lab!r} has no machines on the {args.provider} provider: removing what is left, if anything",
              file=sys.stderr)
    for provider, name in targets:
        print(_shown(Lab(name, provider=provider, progress=False).destroy()))
    return 0


def cmd_ssh(args: argparse.Namespace) -> int:
    lab = _lab(args)
    machine = _machine(lab, args.machine)
    words = list(args.words)
    if words and words[0] == "--":
        words = words[1:]
    if words:
        out = lab.ssh(machine, " ".join(shlex.quote(w) if len(words) > 1 else w for w in words))
        sys.stdout.write(str(out) if str(out).endswith("\n") or not str(out) else f"{out}\n")
        return int(out.exit_code)
    argv = list(lab.provider.shell_command(machine))
    sys.stdout.flush()
    return subprocess.call(argv)


def cmd_env(args: argparse.Namespace) -> int:
    lab = _lab(args)
    env = lab.provider.engine_env(_machine(lab, args.machine))
    if args.output == "json":
        _json({k: v for k, v in env.items() if v})
        return 0
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}" if value else f"unset {key}")
    print(f"# Run this command to configure your shell:\n# eval $(swarmlab env {lab.name} {args.machine})")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..exercises import check_setup

    check = check_setup(args.provider, True if args.offline else None)
    print(check.text())
    return 0 if check.ok else 1


def cmd_gc(args: argparse.Namespace) -> int:
    from ..providers.base import owner
    from ..providers.dind.activity import parse_duration
    from ._gc import run

    idle = parse_duration(args.idle)
    me = owner()
    if (args.all_users or args.user) and me != "0":
        raise Usage("--all-users and --user act on other users' labs: run as root (a teacher's schedule)")
    if args.user is not None and not (args.user.isdigit() or args.user.isalnum()):
        raise Usage(f"--user {args.user!r}: give a user id, e.g. 1000")

    def emit(what: Any, json: bool = False) -> None:
        if json:
            _json(what)
        elif args.output != "json":
            print(what)

    # one gc at a time (exit 3 when another runs); each engine read within a deadline
    return run(args, None if args.all_users else [args.user or me], idle, emit)


def cmd_class(args: argparse.Namespace) -> int:
    from .. import hub
    from ..classroom import class_status

    if args.action == "up":
        if not args.students:
            raise Usage("name the students: swarmlab class up --students alice,bob --rootless")
        try:
            started = hub.up([s.strip() for s in args.students.split(",")], port=args.port, rootless=args.rootless,
                             students_are_root=args.students_are_root)
        except InvalidArgument as e:
            raise Usage(str(e)) from None
        if args.output == "json":
            _json(started.as_dict())
        else:
            print(started.text())
        return 0
    if args.action == "down":
        stopped = hub.down(remove_students=args.remove_students)
        if args.output == "json":
            _json(stopped)
        else:
            print(("stopped the classroom hub" if stopped["stopped"] else "no classroom hub was running")
                  + "".join(f"\nremoved lab {n}" for n in stopped.get("labs", []))
                  + "".join(f"\nremoved the account {n}" for n in stopped["removed"]))
        for failure in stopped["failed"]:
            print(f"could not remove the student {failure}", file=sys.stderr)
        return 1 if stopped["failed"] else 0
    try:
        status = class_status(args.user, checks=not args.no_checks)
    except InvalidArgument as e:
        raise Usage(str(e)) from None
    if args.output == "json":
        _json(status.as_dict())
    else:
        print(status.text())
    return 0


def cmd_mirror(args: argparse.Namespace) -> int:
    from .._engine import host_client
    from ..providers.dind.mirror import ENV, MIRROR_URL, Mirror

    mirror = Mirror(host_client())
    if args.action == "down":
        removed = mirror.down()
        if args.output == "json":
            _json(removed)
        else:
            print(f"docker rm -f {mirror.container}; docker network rm {mirror.network}; "
                  f"docker volume rm {mirror.volume}\nremoved: " + ", ".join(f"{n} {k}" for k, n in removed.items()))
        return 0
    status = mirror.up(args.upstream) if args.action == "up" else mirror.status()
    if args.output == "json":
        _json(status.as_dict())
    else:
        print(status.text())
        if args.action == "up":
            print(f"\nLabs use it when asked: export {ENV}={MIRROR_URL}  (before making them), or "
                  f"swarmlab.Lab(..., registry_mirror={MIRROR_URL!r})")
    return 0 if status.running or args.action == "status" else 1


def _script(name: str, rest: Sequence[str]) -> int:
    script = CHECKOUT / "scripts" / name
    if not script.is_file():
        raise SwarmlabError(f"scripts/{name} is not here: the lessons come with a checkout of swarmlab "
                          f"(git clone ..., then run swarmlab {name} from it)")
    return subprocess.call([str(script), *[a for a in rest if a != "--"]], cwd=CHECKOUT)


COMMANDS = {"up": cmd_up, "ls": cmd_ls, "status": cmd_status, "down": cmd_down, "ssh": cmd_ssh,
            "env": cmd_env, "doctor": cmd_doctor, "mirror": cmd_mirror, "gc": cmd_gc, "class": cmd_class,
            "lessons": lambda a: _script("lessons", a.args),
            "run-lessons": lambda a: _script("run-lessons", a.args)}


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    args = top.parse_args(argv)  # bad usage: argparse says so, exit 2
    try:
        return int(COMMANDS[args.command](args))
    except Usage as e:
        top.exit(2, f"swarmlab {args.command}: {e}\n")
    except InvalidArgument as e:  # a bad name or value the steps found: bad usage too
        if args.debug:
            raise
        top.exit(2, f"swarmlab {args.command}: {e}\n")
    except SwarmlabError as e:
        if args.debug:
            raise
        top.exit(1, f"swarmlab {args.command}: {type(e).__name__}: {e}\n")
    except KeyboardInterrupt:
        top.exit(130, f"\nswarmlab {args.command}: interrupted. What was made stays: run it again to "
                      f"complete it, or 'swarmlab down' to remove it.\n")
    return 0
