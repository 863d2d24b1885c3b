"""``docker stack``: deploy a compose file as a set of services, ls, ps, services, rm.

docker-py has no stack API, and the compose format is Docker's to interpret: ``deploy`` copies
the compose files (and the files their configs and secrets name) into a manager machine, as
``docker-machine scp`` would, and runs the real ``docker stack deploy`` there. swarmlab reads
the files only to refuse, before anything changes, what cannot work (YAML that does not
parse, ``build:``, an image no machine has offline), and to wait for the result."""

from __future__ import annotations

import base64
import datetime as _dt
import posixpath
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker

from .. import _format as fmt
from .._errors import DockerError, InvalidArgument, NotFound, UpdatePaused
from .._results import Table, Text
from .._wait import Progress
from ..converge import SwarmReader, service_progress
from ._base import Command, engine_errors
from .clitext import PS_COLUMNS, SERVICE_LS_COLUMNS, CliTable, node_names, ps_rows, service_ls_rows
from .spec import replicas as spec_replicas

_STACK_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
#: the label ``docker stack deploy`` puts on everything of a stack
NAMESPACE = "com.docker.stack.namespace"
#: where a stack's files go on the manager machine
REMOTE_DIR = "/var/lib/swarmlab/stacks"
#: the most a stack's files may weigh together (they travel as one command line)
MAX_BYTES = 256 * 1024
STACK_LS_COLUMNS = ("NAME", "SERVICES", "ORCHESTRATOR")


def check_stack_name(name: object) -> str:
    if not isinstance(name, str) or not _STACK_RE.fullmatch(name):
        raise InvalidArgument(f"invalid stack name {name!r}: use letters, digits, '_', '.' and '-' (start with a "
                              f"letter or digit, at most 32 characters), e.g. 'app'")
    return name


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - a dependency of swarmlab
        raise InvalidArgument("reading compose files needs PyYAML: pip install pyyaml") from None
    return yaml


#: one compose file as :func:`read_compose` reads it: (label, text, parsed, folder)
ComposeFile = tuple[str, str, dict[str, Any], Path]


def read_compose(source: str | Path, base: Path) -> ComposeFile:
    """One compose file: ``(label, text, parsed, folder)``. ``source`` is a path, or YAML text
    (anything with a line break), whose relative paths are taken from ``base``."""
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        path = Path(source).expanduser()
        if not path.is_absolute():
            path = base / path
        try:
            text = path.read_text()
        except OSError as e:
            raise InvalidArgument(f"cannot read compose file {str(source)!r}: {e.strerror or e}") from None
        label, folder = path.name, path.parent
    elif isinstance(source, str):
        text, label, folder = source, "the compose text", base
    else:
        raise InvalidArgument(f"{source!r}: give a compose file's path or its YAML text")
    try:
        parsed = _yaml().safe_load(text)
    except Exception as e:  # noqa: BLE001 - yaml's errors say where
        raise InvalidArgument(f"{label} is not valid YAML: {e}. Nothing was deployed.") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("services", {}), dict):
        raise InvalidArgument(f"{label} is not a compose file: it needs a 'services:' mapping. Nothing was deployed.")
    return label, text, parsed, folder


def versions_alike(files: list[ComposeFile]) -> tuple[list[ComposeFile], list[str]]:
    """The docker CLI reads a compose file without ``version:`` as the newest version it knows
    (3.13 for CLI 28) and refuses files of two versions together ("version mismatched between
    two composefiles : 3.8 and 3.13"): a file without one, given with files that have one, is
    copied to the manager with the first file's version, and a note says so."""
    have = [(label, doc["version"]) for label, _, doc, _ in files if doc.get("version") not in (None, "")]
    if not have:
        return files, []
    first, version = have[0]
    out, notes = [], []
    for label, text, doc, folder in files:
        if doc.get("version") in (None, ""):
            doc = {"version": str(version), **{k: v for k, v in doc.items() if k != "version"}}
            text = _yaml().safe_dump(doc, sort_keys=False, default_flow_style=False)
            notes.append(f"{label} has no version: line. The docker CLI reads such a file as the newest compose "
                         f"version it knows, and refuses files of two versions together ('version mismatched "
                         f"between two composefiles'), so swarmlab copied it to the manager with version: "
                         f"'{version}', as {first} has.")
        out.append((label, text, doc, folder))
    return out, notes


def merged_services(docs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services of compose files given in order, a later file's keys over an earlier's
    (enough to know each service's image and whether it builds)."""
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for name, svc in (doc.get("services") or {}).items():
            out.setdefault(str(name), {}).update(svc or {})
    return out


def referenced_files(doc: dict[str, Any], label: str) -> list[str]:
    """The files a compose file's configs and secrets read (``file: ./x``): relative paths
    inside its folder, checked, since they are copied to the manager machine."""
    out = []
    for section in ("configs", "secrets"):
        for name, item in (doc.get(section) or {}).items():
            if isinstance(item, dict) and "file" in item:
                rel = posixpath.normpath(str(item["file"]))
                if rel.startswith(("/", "..")) or "\0" in rel:
                    raise InvalidArgument(f"{label}: {section[:-1]} {name!r} reads {item['file']!r}: give a path "
                                          f"inside the compose file's folder. Nothing was deployed.")
                out.append(rel)
    return out


class Stacks(Command):
    """``docker stack``: a whole application from a compose file."""

    def _services(self, name: str, client: docker.DockerClient) -> list[dict[str, Any]]:
        with engine_errors(f"list the services of stack {name}"):
            return [dict(s) for s in client.api.services(filters={"label": f"{NAMESPACE}={name}"})]

    def deploy(self, name: str, compose: str | Path, *overrides: str | Path, env: dict[str, str] | None = None,
               wait: bool = True, timeout: float | None = None) -> Text:
        """``docker stack deploy -c COMPOSE [-c OVERRIDE ...] NAME``, by the real CLI on a manager.

        ``compose`` and each override are a file's path or YAML text; later files change the
        earlier ones, as with ``-c`` given twice. ``env`` sets variables the files use
        (``${GREETING}``). Deploying again changes what differs, as a rolling update. Waits
        until every service of the stack runs as asked."""
        lab = self._lab
        check_stack_name(name)
        if env is not None and (not isinstance(env, dict) or not all(
                isinstance(k, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) and isinstance(v, str)
                for k, v in env.items())):
            raise InvalidArgument(f"env={env!r}: give a dict of variable names and strings, e.g. env={{'TAG': '2'}}")
        base = Path.cwd()
        files, notes = versions_alike([read_compose(c, base) for c in (compose, *overrides)])
        services = merged_services([doc for _, _, doc, _ in files])
        if not services:
            raise InvalidArgument("the compose files name no service. Nothing was deployed.")
        for svc_name, svc in services.items():
            if "build" in svc:
                raise InvalidArgument(
                    f"service {svc_name!r} has 'build:': a swarm cannot build images. Build it on this "
                    f"computer (docker build -t NAME .), load it into the machines (lab.image.load('NAME')) "
                    f"and give the service 'image: NAME' instead. Nothing was deployed.")
            if not isinstance(svc.get("image"), str) or not svc["image"]:
                raise InvalidArgument(f"service {svc_name!r} names no image. Nothing was deployed.")
        # what travels to the manager: each compose file, and the files they read
        upload: dict[str, bytes] = {}
        for i, (label, text, doc, folder) in enumerate(files, start=1):
            upload[f"compose-{i}.yml"] = text.encode()
            for rel in referenced_files(doc, label):
                try:
                    upload[rel] = (folder / rel).read_bytes()
                except OSError as e:
                    raise InvalidArgument(f"{label} reads {rel!r}, which cannot be read: "
                                          f"{e.strerror or e}. Nothing was deployed.") from None
        if sum(len(v) for v in upload.values()) > MAX_BYTES:
            raise InvalidArgument(f"the stack's files weigh more than {MAX_BYTES // 1024} KB: keep images' content "
                                  f"in images, not in configs. Nothing was deployed.")
        for image in dict.fromkeys(str(s["image"]) for s in services.values()):
            notes += lab.service._image_check(image)  # offline and on no machine: refused here
        mgr = lab.manager()
        client = lab.client(mgr)
        before = {s["Spec"]["Name"]: s for s in self._services(name, client)}
        remote = f"{REMOTE_DIR}/{name}"
        put = [f"rm -rf {remote}", f"mkdir -p {remote}"]
        for rel, data in upload.items():
            target = f"{remote}/{rel}"
            put.append(f"mkdir -p {shlex.quote(posixpath.dirname(target))}")
            put.append(f"echo {base64.b64encode(data).decode()} | base64 -d > {shlex.quote(target)}")
        with engine_errors(f"copy the stack's files to {mgr}"):
            copied = lab.provider.run(mgr, " && ".join(put))
        if copied.exit_code != 0:
            raise DockerError(f"could not copy the stack's files to {mgr}: {copied.output.strip()[-300:]}")
        flags = " ".join(f"-c {label if label != 'the compose text' else 'compose.yml'}" for label, *_ in files)
        resolve = " --resolve-image never" if lab.offline else ""
        assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        cmd = f"{assigns + ' ' if assigns else ''}docker stack deploy{resolve} {flags} {name}"
        real = (f"cd {remote} && {assigns + ' ' if assigns else ''}docker stack deploy{resolve} "
                + " ".join(f"-c compose-{i}.yml" for i in range(1, len(files) + 1)) + f" {name}")
        started = _dt.datetime.now(_dt.timezone.utc)
        with engine_errors(f"deploy stack {name} on {mgr}"):
            out = lab.provider.run(mgr, real)
        said = out.output.strip()
        if out.exit_code != 0:
            mismatch = " Give every file the same version: line." if "version mismatched" in said else ""
            raise DockerError(f"docker stack deploy {name} failed on {mgr}: {said}{mismatch}")
        lines = [said] if said else []
        if wait:
            lines += self._wait(name, client, before, started, timeout)
        return Text(command=cmd, body="\n".join(lines), notes=notes)

    def _wait(self, name: str, client: docker.DockerClient, before: dict[str, dict[str, Any]],
              started: _dt.datetime, timeout: float | None) -> list[str]:
        """Until each service of the stack runs as its spec asks; one whose task template
        changed, until its rolling update has completed (a paused one: UpdatePaused)."""
        lab = self._lab
        services = self._services(name, client)
        reader = SwarmReader(lab)
        lines = []
        for svc in sorted(services, key=lambda s: s["Spec"]["Name"]):
            sname = svc["Spec"]["Name"]
            want = spec_replicas(svc["Spec"])
            old = before.get(sname)
            rolling = old is not None and old["Spec"].get("TaskTemplate") != svc["Spec"].get("TaskTemplate")

            def check(sname: str = sname, want: int | None = want, rolling: bool = rolling) -> Progress:
                snap = reader.read(sname)
                p = service_progress(snap, sname, want)
                status = (snap.service(sname) or {}).get("UpdateStatus") or {}
                if status.get("State") in ("paused", "rollback_paused"):
                    raise UpdatePaused(f"the update of {sname} paused: {status.get('Message', '')}. See "
                                       f"lab.service.ps({sname!r}).")
                if rolling:
                    done_at = status.get("CompletedAt")
                    finished = status.get("State") == "completed" and bool(done_at) \
                        and fmt.parse_time(str(done_at)) >= started
                    if not finished:
                        p.done = False
                        p.state = f"updating: {p.state}"
                return p

            uc = svc["Spec"].get("UpdateConfig") or {}
            budget = timeout or 90.0 + (want or 3) * (float(uc.get("Delay", 0)) / 1e9 + 15.0)
            done = self._wait_for(check, what=f"service {sname} of stack {name}", timeout=budget,
                            progress=lab.progress, interval=0.5, logs=lambda: lab.engine_logs(tail=8),
                            advice=f"See lab.stack.ps({name!r}) for each task's state and error.")
            lines.append(f"{sname}: {done.total} out of {done.total} tasks running")
        return lines

    def ls(self) -> Table:
        """``docker stack ls``: each stack and how many services it has."""
        client = self._lab.manager_client()
        with engine_errors("list services"):
            services = client.api.services(filters={"label": NAMESPACE})
        counts: dict[str, int] = {}
        for s in services:
            stack = str((s["Spec"].get("Labels") or {}).get(NAMESPACE, ""))
            counts[stack] = counts.get(stack, 0) + 1
        rows = [(n, str(c), "Swarm") for n, c in sorted(counts.items()) if n]
        return CliTable.of("docker stack ls", STACK_LS_COLUMNS, rows)

    def _existing(self, name: str, client: docker.DockerClient) -> list[dict[str, Any]]:
        check_stack_name(name)
        services = self._services(name, client)
        if not services:
            raise NotFound(f"there is no stack {name!r}: deploy it with lab.stack.deploy({name!r}, "
                           f"'docker-compose.yml') (stacks: {', '.join(self.ls().df['NAME']) or 'none'})")
        return services

    def services(self, name: str) -> Table:
        """``docker stack services NAME``: its services, as ``docker service ls`` shows them."""
        client = self._lab.manager_client()
        ids = {s["ID"] for s in self._existing(name, client)}
        with engine_errors("list services"):
            services = [s for s in client.api.services(status=True) if s["ID"] in ids]
        return CliTable.of(f"docker stack services {name}", SERVICE_LS_COLUMNS, service_ls_rows(services),
                           data=services)

    def ps(self, name: str) -> Table:
        """``docker stack ps NAME``: every task of every service of the stack."""
        client = self._lab.manager_client()
        services = self._existing(name, client)
        with engine_errors(f"list the tasks of stack {name}"):
            nodes = node_names(client.api.nodes())
            rows: list[tuple[str, ...]] = []
            tasks: list[dict[str, Any]] = []
            for s in sorted(services, key=lambda s: s["Spec"]["Name"]):
                mine = client.api.tasks(filters={"service": s["ID"]})
                tasks += mine
                rows += ps_rows(s["Spec"]["Name"], mine, nodes)
        return CliTable.of(f"docker stack ps {name}", PS_COLUMNS, rows, data=tasks,
                           colour=["DESIRED STATE", "CURRENT STATE"])

    def rm(self, name: str, wait: bool = True, timeout: float = 90.0) -> Text:
        """``docker stack rm NAME``: its services, then (once their tasks are gone) its
        networks, configs and secrets. A stack that is not there is reported."""
        lab = self._lab
        check_stack_name(name)
        client = lab.manager_client()
        services = self._services(name, client)
        flt = {"label": f"{NAMESPACE}={name}"}
        with engine_errors(f"list what stack {name} has"):
            networks = client.api.networks(filters=flt)
            configs = client.api.configs(filters=flt)
            secrets = client.api.secrets(filters=flt)
        cmd = f"docker stack rm {name}"
        if not (services or networks or configs or secrets):
            return Text(command=cmd, body="", notes=[f"there is no stack {name!r} (nothing to remove)."])
        lines = []
        for s in services:
            with engine_errors(f"remove service {s['Spec']['Name']}"):
                client.api.remove_service(s["ID"])
            lines.append(f"Removing service {s['Spec']['Name']}")
        if wait and services:
            names = [s["Spec"]["Name"] for s in services]
            seen: list[int] = []
            self._wait_for(lambda: lab.service._containers_gone(names, seen), what=f"stack rm {name}", timeout=timeout,
                     progress=lab.progress, logs=lambda: lab.engine_logs(tail=8))
        for kind, items, remove in (("config", configs, client.api.remove_config),
                                    ("secret", secrets, client.api.remove_secret)):
            for item in items:
                with engine_errors(f"remove {kind} {item['Spec']['Name']}"):
                    remove(item["ID"])
                lines.append(f"Removing {kind} {item['Spec']['Name']}")
        for net in networks:
            with engine_errors(f"remove network {net['Name']}"):
                client.api.remove_network(net["Id"])
            lines.append(f"Removing network {net['Name']}")
        return Text(command=cmd, body="\n".join(lines))
