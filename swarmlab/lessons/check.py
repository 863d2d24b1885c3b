"""What a lesson's check returns (:class:`Check`), and the reads every check shares: the
``docker`` CLI on the manager machine, its JSON parsed, and the hints that fit any lesson."""

from __future__ import annotations

import html
import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from .._errors import SwarmlabError
from ..commands.validate import image_ref
from ..lab import Lab

__all__ = ["AGAIN", "CATCH_UP", "Check", "boxed"]

#: The hint when there is no swarm: the catch-up cell every lesson starts with makes it again.
CATCH_UP = "run the catch-up cell at the top of this notebook: it makes the machines and the swarm again"
#: When the swarm is still converging, the next step is to look again.
AGAIN = "the swarm is still on its way: run this check again in a moment"


def boxed(text: str, colour: str) -> str:
    """Escaped text with a coloured bar beside it (green: done, amber/red: not yet), in the
    code font. Each line wraps at spaces (not inside a word) with a hanging indent, so that a
    wrapped finding stays under its mark."""
    lines = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        pad = len(line) - len(body) + 2
        lines.append(f'<div style="padding-left:{pad}ch;text-indent:-2ch">{html.escape(body) or "&#8203;"}</div>')
    return (f'<div class="swarmlab-check" style="border-left:4px solid {colour};padding-left:8px;'
            f'font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);'
            f'white-space:pre-wrap;overflow-wrap:break-word">{"".join(lines)}</div>')


@dataclass
class Check:
    """What a check found: each finding is (ok, sentence). Truthy when every finding is ok."""

    title: str
    findings: list[tuple[bool, str]] = field(default_factory=list)
    hint: str = ""
    #: what works, with a limit the learner should know (shown with "!"; the check still passes)
    cautions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(ok for ok, _ in self.findings)

    def __bool__(self) -> bool:
        return self.ok

    def add(self, ok: bool, sentence: str, hint: str = "") -> bool:
        """Record a finding; the first failed finding that names a hint sets the check's hint
        (the next step from the state found)."""
        self.findings.append((bool(ok), sentence))
        if not ok and hint and not self.hint:
            self.hint = hint
        return bool(ok)

    def caution(self, sentence: str) -> None:
        """Record what works with a limit (not a failure): shown with "!"."""
        self.cautions.append(sentence)

    def text(self) -> str:
        head = f"✓ {self.title}: done." if self.ok else f"✗ {self.title}: not yet."
        lines = [head] + [f"  {'✓' if ok else '✗'} {s}" for ok, s in self.findings]
        lines += [f"  ! {s}" for s in self.cautions]
        if not self.ok and self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return boxed(self.text(), "#2e7d32" if self.ok else "#b71c1c")


def docker_json(lab: Lab, machine: str, command: str, lines: bool = False) -> Any | None:
    """Run ``docker ...`` on a machine and parse its JSON output: one document (``inspect``),
    or with ``lines=True`` one per line (``--format '{{json .}}'``). None when the command
    failed (e.g. no such service) or printed something that is not JSON."""
    out = lab.ssh(machine, command)
    if not out.ok:
        return None
    text = str(out).strip()
    try:
        if lines:  # a line that is not JSON is the CLI talking ("Nothing found in stack: app")
            return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
        return json.loads(text) if text else []
    except json.JSONDecodeError:
        return None


def manager(lab: Lab, check: Check) -> str | None:
    """The lab's manager machine, or None (the check then says there is no swarm)."""
    try:
        return lab.manager()
    except SwarmlabError as e:
        check.add(False, f"there is no swarm to look at ({e})", CATCH_UP)
        return None


def inspect_service(lab: Lab, mgr: str, name: str, check: Check, create: str) -> dict[str, Any] | None:
    """``docker service inspect NAME`` on the manager, or None (the check then says how to
    ``create`` it again)."""
    found = docker_json(lab, mgr, f"docker service inspect {shlex.quote(name)}")
    if not found:
        check.add(False, f"there is no service {name!r} (docker service inspect {name} finds nothing)",
                  f"create it again first: {create}")
        return None
    return dict(found[0])


def manager_and_service(lab: Lab, name: str, check: Check, create: str) -> tuple[str, dict[str, Any]] | None:
    """The manager and the service, or None (the check then says which is missing)."""
    mgr = manager(lab, check)
    if mgr is None:
        return None
    svc = inspect_service(lab, mgr, name, check, create)
    return None if svc is None else (mgr, svc)


def task_rows(lab: Lab, mgr: str, name: str) -> list[dict[str, Any]]:
    """``docker service ps NAME --filter desired-state=running`` rows: the tasks meant to run."""
    return docker_json(
        lab, mgr,
        f"docker service ps {shlex.quote(name)} --filter desired-state=running --format '{{{{json .}}}}'",
        lines=True,
    ) or []


def running_tasks(lab: Lab, mgr: str, name: str) -> list[dict[str, Any]]:
    """``docker service ps NAME`` rows whose task should run and does."""
    return [r for r in task_rows(lab, mgr, name) if str(r.get("CurrentState", "")).startswith("Running")]


def node_rows(lab: Lab, mgr: str) -> list[dict[str, Any]] | None:
    """``docker node ls`` on a manager, one dict a node; None when it failed (no leader)."""
    found = docker_json(lab, mgr, "docker node ls --format '{{json .}}'", lines=True)
    return None if found is None else list(found)


def schedulable(lab: Lab, mgr: str) -> list[str]:
    """``docker node ls`` on a manager: the nodes that are Ready and Active (those that take tasks)."""
    nodes = node_rows(lab, mgr) or []
    return sorted(str(n["Hostname"]) for n in nodes if n.get("Status") == "Ready" and n.get("Availability") == "Active")


def spec_image(spec: dict[str, Any]) -> str:
    """The image a service spec runs, as ``image_ref`` writes it."""
    return image_ref(spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", ""))


def asked_replicas(svc: dict[str, Any]) -> int:
    """The replicas a replicated service asks for (0 when it is not one)."""
    return int(svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas") or 0)


def create_hello(name: str, count: int) -> str:
    """The step that makes service NAME again, as the lessons make their hello services."""
    return (f"lab.service.create({name!r}, images.hello, *images.hello_args, replicas={count})"
            f"   # docker service create --replicas {count} --name {name} ...")
