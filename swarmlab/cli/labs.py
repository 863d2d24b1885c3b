"""``swarmlab up / ls / status / down / ssh / env``: labs from a terminal, as ``kind`` and
``docker-machine`` give them. Every command calls the same :class:`~swarmlab.Lab` steps the
notebooks do."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from typing import Any

from .._engine import DOCKER_VARIABLES, ENV_MACHINE_HOST, ENV_OUTER_HOST, machine_in_env, this_computers_env
from .._errors import LabNotFound, SwarmlabError
from ..providers import DEFAULT_PROVIDER
from ..providers.base import check_machine_name
from ._common import Command, Usage, count, lab_name, output_opt, print_json, provider_opt, shown, table


def register(command: Command) -> None:
    """Add the lab commands to the ``swarmlab`` parser."""
    p = command("up", "make a lab: machines, a swarm on manager1, the others joined; all waited for",
                "swarmlab up tutorial --managers 3 --workers 2")
    p.add_argument("lab", nargs="?", default="tutorial", type=lab_name)
    p.add_argument("--managers", type=count(1), default=1, help="machines manager1..N (default 1)")
    p.add_argument("--workers", type=count(0), default=2, help="machines worker1..M (default 2)")
    p.add_argument("--offline", action="store_true", help="load the offline images into every machine")
    provider_opt(p)
    output_opt(p)
    p.set_defaults(run=cmd_up)

    p = command("ls", "every lab on this computer: provider, machines, nodes, services, age",
                "swarmlab ls --output json")
    output_opt(p)
    p.set_defaults(run=cmd_ls)

    p = command("status", "a lab's nodes and services (docker node ls, docker service ls)", "swarmlab status tutorial")
    p.add_argument("lab", nargs="?", default="tutorial", type=lab_name)
    provider_opt(p, found=True)
    output_opt(p)
    p.set_defaults(run=cmd_status)

    p = command("down", "remove a lab: its machines, volumes, networks and folder",
                "swarmlab down tutorial        (or: swarmlab down --all --yes)")
    p.add_argument("lab", nargs="?", type=lab_name)
    p.add_argument("--all", action="store_true", help="every lab on this computer (asks first)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    provider_opt(p, found=True)
    p.set_defaults(run=cmd_down)

    p = command("ssh", "a shell on a machine (no command), or one command and its exit status",
                "swarmlab ssh tutorial manager1 docker node ls   (no command: a shell)")
    p.add_argument("lab", type=lab_name)
    p.add_argument("machine")
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND...")
    provider_opt(p, found=True)
    p.set_defaults(run=cmd_ssh)

    p = command("env", "the variables that point this computer's docker CLI at a machine's engine",
                "eval $(swarmlab env tutorial manager1)   then: docker node ls;   "
                "eval $(swarmlab env -u)   back to this computer's engine")
    p.add_argument("lab", type=lab_name, nargs="?")
    p.add_argument("machine", nargs="?")
    p.add_argument("-u", "--unset", action="store_true",
                   help="print the lines that point the docker CLI back at this computer's engine")
    provider_opt(p, found=True)
    output_opt(p)
    p.set_defaults(run=cmd_env)


def provider(args: argparse.Namespace) -> str:
    """The provider of the lab a command names: --provider or $SWARMLAB_PROVIDER when given,
    else the one provider 'swarmlab ls' finds the lab on (a qemu lab is removed with
    'swarmlab down NAME', as it was listed), else the default provider. A name found on
    several providers is a usage error that lists them."""
    if args.provider is None:
        from ._labs import found_labs

        on = [p for p, name in found_labs() if name == args.lab]
        if len(on) > 1:
            raise Usage(f"there is a lab {args.lab!r} on {' and on '.join(on)}: say which with "
                        f"--provider {on[0]} or --provider {on[1]}")
        args.provider = on[0] if on else DEFAULT_PROVIDER
    return str(args.provider)


def _lab(args: argparse.Namespace, must_exist: bool = True) -> Any:
    from ..lab import Lab

    provider(args)
    if must_exist:
        try:
            return Lab.attach(args.lab, provider=args.provider, progress=False)
        except LabNotFound:
            from ..commands.validate import did_you_mean
            from ..providers.base import folder_labs

            close = did_you_mean(args.lab, [f.name for f in folder_labs(args.provider)])
            if close:  # a misspelling: never the advice to make a lab of that name
                raise LabNotFound(f"no lab named {args.lab!r} on the {args.provider} provider: did you mean "
                                  f"{close!r}? ('swarmlab ls' lists the labs)") from None
            raise LabNotFound(f"no lab named {args.lab!r} on the {args.provider} provider: 'swarmlab ls' "
                              f"lists the labs, 'swarmlab up {args.lab}' makes it") from None
    return Lab(args.lab, provider=args.provider)


def _machine(lab: Any, name: str) -> str:
    check_machine_name(name)
    known = [m.name for m in lab.provider.list()]
    if name not in known:
        from .._errors import MachineNotFound
        from .._util import did_you_mean

        close = did_you_mean(name, known)
        typo = f": did you mean {close!r}?" if close else ""
        raise MachineNotFound(f"lab {lab.name!r} has no machine {name!r}{typo} (machines: {', '.join(known)})")
    return name


def cmd_up(args: argparse.Namespace) -> int:
    from ..exercises import OFFLINE

    lab = _lab(args, must_exist=False)
    made = lab.up(managers=args.managers, workers=args.workers)
    if args.offline:
        print(shown(lab.image.load(OFFLINE.hello, OFFLINE.old, OFFLINE.new)), file=sys.stderr)
    if args.output == "json":
        print_json({"lab": lab.name, "provider": lab.provider_name, "nodes": made.rows()})
        return 0
    print(shown(made))
    first, default = "manager1", lab.provider_name == DEFAULT_PROVIDER
    flag = "" if default else f" --provider {lab.provider_name}"
    print(f"\nlab {lab.name!r} is ready ({lab.provider_name}). Use it:\n"
          f"  eval $(swarmlab env {lab.name} {first}{flag})   # then: docker node ls\n"
          f"  eval $(swarmlab env -u)   # the docker CLI back on this computer's engine\n"
          f"  swarmlab ssh {lab.name} {first}{flag}            # a shell on {first}\n"
          f"  python: lab = swarmlab.Lab.attach({lab.name!r}"
          + ("" if default else f", provider={lab.provider_name!r}") + ")\n"
          + f"  swarmlab down {lab.name}{flag}                   # remove it")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from ._labs import every_lab

    labs = every_lab()
    if args.output == "json":
        print_json([lab.as_dict() for lab in labs])
        return 0
    columns = ["NAME", "PROVIDER", "MACHINES", "NODES", "SERVICES", "AGE"]
    print(table(columns, [lab.row() for lab in labs]))
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
            print_json({"lab": lab.name, "machines": machines.rows(), "swarm": str(e)})
        else:
            print(f"{shown(machines)}\n\nno swarm to show: {e}")
        return 0
    if args.output == "json":
        print_json({"lab": lab.name, "machines": machines.rows(), "nodes": nodes.rows(),
                    "services": services.rows()})
    else:
        print(f"{shown(nodes)}\n\n{shown(services)}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from ..lab import Lab
    from ._labs import found_labs

    if args.all == bool(args.lab):
        raise Usage("name a lab (swarmlab down tutorial) or give --all")
    targets = found_labs() if args.all else [(provider(args), args.lab)]
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
    for where, name in targets:
        print(shown(Lab(name, provider=where, progress=False).destroy()))
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
    return subprocess.call(argv, env=this_computers_env())  # `docker exec` on this computer's engine


def _shell_lines(env: dict[str, str]) -> list[str]:
    """``export``/``unset`` lines for ``eval $(...)``: each ends with ``;``, since the shell
    joins the unquoted output into one line (an ``unset`` after an ``export`` would be read as
    more names to export)."""
    return [f"export {key}={shlex.quote(value)};" if value else f"unset {key};" for key, value in env.items()]


def _outer_host() -> str:
    """The DOCKER_HOST of this computer's engine as the shell had it before any ``swarmlab env``
    ("" for the default socket): kept through a second ``env``, put back by ``env -u``."""
    return os.environ.get(ENV_OUTER_HOST, "") if machine_in_env() else os.environ.get("DOCKER_HOST", "")


def cmd_env(args: argparse.Namespace) -> int:
    if args.unset:
        if args.lab or args.machine:
            raise Usage("-u takes no lab or machine: eval $(swarmlab env -u)")
        outer = _outer_host()
        back = {key: "" for key in DOCKER_VARIABLES} | {"DOCKER_HOST": outer, ENV_MACHINE_HOST: "", ENV_OUTER_HOST: ""}
        if args.output == "json":
            print_json({k: v for k, v in back.items() if v})
            return 0
        print("\n".join(_shell_lines(back)))
        print("# Run this command to point your shell's docker CLI back at this computer's engine:\n"
              "# eval $(swarmlab env -u)")
        return 0
    if not args.lab or not args.machine:
        raise Usage("the following arguments are required: " + ("machine" if args.lab else "lab, machine"))
    lab = _lab(args)
    env = lab.provider.engine_env(_machine(lab, args.machine))
    if args.output == "json":
        print_json({k: v for k, v in env.items() if v})
        return 0
    # what the CLI's engine was before this (kept through a second `env`), for `env -u` and
    # for swarmlab itself, which finds its labs on this computer's engine whatever DOCKER_HOST says
    outer = _outer_host()
    marks = {"DOCKER_MACHINE_NAME": args.machine, ENV_MACHINE_HOST: env.get("DOCKER_HOST", ""), ENV_OUTER_HOST: outer}
    print("\n".join(_shell_lines({**env, **marks})))
    print(f"# Run this command to configure your shell:\n# eval $(swarmlab env {lab.name} {args.machine})\n"
          f"# and back to this computer's engine: eval $(swarmlab env -u)")
    return 0
