"""``swarmlab gc``: what it prints and its exit code (1: something could not be read or
removed; 3: another gc is running). The choice of labs is :mod:`swarmlab.classroom.gc`'s."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import docker.errors
import requests

from .. import _deadline
from .._errors import SwarmlabError
from .._util import error_text

#: the exit code when another ``swarmlab gc`` holds the lock
RUNNING = 3
#: how long one lab's removal may take (read again, then destroyed: destroy waits up to
#: LOCK_WAIT, 300 s, for another process changing the lab); past it gc goes on to the next
REMOVE_DEADLINE = 420.0


class NotInTime(Exception):
    """A read or a removal given up at its deadline."""


def run(args: argparse.Namespace, owners: list[str] | None, idle: float, emit: Any) -> int:
    """Read every engine's labs, then remove the idle ones, each read again right before."""
    from ..classroom import gc
    from ..classroom.rootless import clients

    try:
        with gc.only_one():
            return _collect(args, owners, idle, emit, clients(owners))
    except gc.GcRunning as e:
        print(f"swarmlab gc: {e}", file=sys.stderr)
        return RUNNING


def _collect(args: argparse.Namespace, owners: list[str] | None, idle: float, emit: Any,
             engines: list[tuple[str, Any]]) -> int:
    from ..classroom import gc
    from ._labs import _age

    done: list[dict[str, Any]] = []
    bad = 0
    for whose, client in engines:
        where = f"the rootless engine of user {whose}" if whose else "this computer's engine"
        try:  # one engine that fails or does not answer must not keep gc from the others
            # a learner's own engine speaks for that learner only
            found = gc.scan_within(client, idle, owners, whose=whose)
        except Exception as e:  # noqa: BLE001 - whatever one engine did, the others are read
            bad += 1
            done.append({"engine": whose or "local", "error": error_text(e)[:300]})
            emit(f"could not read {where}: {type(e).__name__}: {error_text(e)[:300]}; its labs are kept")
            continue
        for other in found.others:
            done.append({"engine": whose, "ignored": other})
            emit(f"{where} reports a lab of user {other}: ignored, and left alone")
        for x in found.unread:
            bad += 1
            done.append({"lab": x.lab, "user": x.owner, "machines": x.machines, "kept": "could not be read",
                         "why": x.why})
            emit(f"kept lab {x.lab} of user {x.owner}: could not be read ({x.why}), so it counts as in use")
        for x in found.idle:
            entry, ok = _remove(args, client, x, idle, _age)
            bad += not ok
            done.append(entry)
            emit(entry["line"])
    if args.output == "json":
        for entry in done:
            entry.pop("line", None)
        emit(done, json=True)
    elif not done:
        emit(f"no lab unused for {_age(idle)}: nothing to remove")
    return 1 if bad else 0


def _remove(args: argparse.Namespace, client: Any, x: Any, idle: float, age: Any) -> tuple[dict[str, Any], bool]:
    """Remove one idle lab (read again first); its entry and whether all went well."""
    from ..classroom import gc
    from ..lab import Lab

    unused = f"unused for {age(x.idle)} (last: {x.why})" if x.machines else "no machine left"
    entry: dict[str, Any] = {"lab": x.lab, "user": x.owner, "machines": x.machines,
                             "idle_seconds": round(x.idle), "why": x.why}
    if args.dry_run:
        entry["line"] = f"would remove lab {x.lab} of user {x.owner}: {x.machines} machines, {unused}"
        return entry, True

    def remove() -> tuple[str, Any]:
        try:
            kept = gc.recheck(client, x, idle)
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as e:
            kept = f"could not be read again before removal ({type(e).__name__})"
        if kept:
            return kept, None
        return "", Lab(x.lab, provider=x.provider, progress=False, owner_of=x.owner, host=client).destroy()

    try:  # one lab the engine will not let go of (or that never ends) must not keep the others
        kept, result = _deadline.within(("gc-remove", x.owner, x.lab), REMOVE_DEADLINE, remove, NotInTime)
    except (SwarmlabError, NotInTime) as e:
        entry["error"] = str(e)
        entry["line"] = f"failed to remove lab {x.lab} of user {x.owner}: {e}"
        return entry, False
    if kept:
        entry["kept"] = kept
        entry["line"] = f"kept lab {x.lab} of user {x.owner}: {kept}"
        return entry, not kept.startswith("could not")
    entry["left_behind"] = list(result.data.get("left_behind", []))
    entry["line"] = f"removed lab {x.lab} of user {x.owner}: {x.machines} machines, {unused}\n  {result.body}"
    return entry, True
