"""Taking a lab's things away: :func:`destroy` (every machine killed and seen stopped, then
removed with its volume, then the lab's network; what the engine refuses is asked again for a
few seconds, then said with the command that clears it) and :func:`undo` (what a create that
failed made, and only that)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any

import docker.errors
import requests

from ... import _home
from ..._util import error_text, parallel_map
from ..._wait import until
from ..base import LABEL_MACHINE, check_machine_name
from . import mirror
from .machine import START_AT_ONCE
from .names import found_networks, found_volumes

#: how long destroy keeps asking the engine to remove one thing it refuses
REMOVE_ATTEMPTS, REMOVE_PAUSE = 5, 1.0


def removed(remove: Callable[[], None], what: str, clear: str, left: list[str]) -> bool:
    """Remove one thing, asking again briefly while the engine refuses (a container still
    stopping, a volume still in use); gone already is removed. When it still refuses, say
    what is left, why, and the command that clears it, in ``left``."""
    said = ""
    for attempt in range(REMOVE_ATTEMPTS):
        try:
            remove()
            return True
        except docker.errors.NotFound:
            return True
        except (docker.errors.APIError, requests.exceptions.RequestException) as e:
            said = error_text(e)
            if attempt < REMOVE_ATTEMPTS - 1:
                time.sleep(REMOVE_PAUSE)
    left.append(f"{what} is left: the engine said {said[:200]!r}. {clear}")
    return False


def killed(c: Any, wait: float = 30.0) -> None:
    """SIGKILL to a machine's container, then wait (a while at most) until the engine says it
    has stopped. Errors are left to the removal that follows, which reports them."""
    with suppress(docker.errors.APIError, requests.exceptions.RequestException):
        if c.status in ("running", "paused", "restarting"):
            c.kill()

        def stopped() -> bool:
            c.reload()
            return c.status not in ("running", "paused", "restarting", "removing")

        until(stopped, wait, 0.2)


def network_clear(net: Any) -> str:
    """The command that frees a network the engine will not remove: its endpoints
    disconnected (a container someone attached), or, with none listed, the engine
    restarted (an endpoint the engine itself lost track of)."""
    with suppress(docker.errors.APIError, requests.exceptions.RequestException):
        net.reload()
    attached = sorted(str((v or {}).get("Name", "")) for v in (net.attrs.get("Containers") or {}).values())
    attached = [a for a in attached if a and all(ch.isalnum() or ch in "._-" for ch in a)]
    if attached:
        return ("Clear it: " + " && ".join(f"docker network disconnect -f {net.name} {a}" for a in attached)
                + ", then destroy the lab again.")
    return ("The engine keeps an endpoint it no longer shows: restart the Docker engine (e.g. "
            "sudo systemctl restart docker), then destroy the lab again.")


def destroy(p: Any) -> tuple[list[str], dict[str, int]]:
    """Every machine, volume and network of the lab of provider ``p`` (under its lock), and
    its folder: what is left (each with the command that clears it) and what was removed."""
    left: list[str] = []
    found = p._found()
    machines = [c.labels[LABEL_MACHINE] for c in found]
    for n in machines:
        p._drop_client(n)
    # killed and seen stopped first, then removed: a running container removed with
    # force races the engine's own clean-up of its exit, and under load (a big lab)
    # the engine then keeps one of its network endpoints for good
    parallel_map(killed, found, limit=START_AT_ONCE)
    for c in p.host.containers.list(all=True, filters=p.names.filters("probe"), ignore_removed=True):
        with suppress(docker.errors.APIError):  # a probe a killed process left (engine.probe_security)
            c.remove(force=True)
    for c in found:
        removed(partial(c.remove, force=True, v=True), f"machine {c.labels[LABEL_MACHINE]!r} "
                f"(container {c.name})", f"docker rm -f {c.name}", left)
    # only what this provider made for this user: another provider or user may keep
    # a lab of the same name
    volumes = found_volumes(p.host, p.names)
    for v in volumes:
        removed(partial(v.remove, force=True), f"volume {v.name}", f"docker volume rm -f {v.name}", left)
    networks = found_networks(p.host, p.names)
    if networks:  # the registry mirror, if it joined, is not the lab's: it leaves
        mirror.Mirror(p.host, p.names.owner).leave(p.network_name)
    for net in networks:
        removed(net.remove, f"network {net.name}", network_clear(net), left)
    folder = p.lab_dir()
    if not left:
        _home.remove_inside(folder, folder)  # the lock file too: it is held, not needed
    else:
        for n in machines:
            _home.remove_inside(folder, folder / check_machine_name(n))
            _home.remove_inside(folder, p._address_file(n))

    def gone(kind: str, found: int) -> int:
        return found - sum(1 for x in left if x.startswith(f"{kind} "))

    # the machines' own volumes are among the lab's volumes: removed (and counted) there
    return left, {"containers": gone("machine", len(machines)), "volumes": gone("volume", len(volumes)),
                  "networks": gone("network", len(networks))}


def undo(p: Any, made: dict[str, str | None], made_network: bool) -> None:
    """Take away what one create of provider ``p`` made (``made``: machine -> the container
    it made, or None; ``made_network``: whether it made the lab's network), and only that."""
    for name, cid in made.items():
        p._drop_client(name)
        if cid is not None:
            with suppress(docker.errors.NotFound):
                p.host.api.remove_container(cid, force=True, v=True)
        for v in found_volumes(p.host, p.names, name):
            with suppress(docker.errors.APIError):  # in use: not this call's to take
                v.remove(force=True)
        if p.api == "socket":
            _home.remove_inside(p.lab_dir(), p.lab_dir() / name)
    if made_network:
        mirror.Mirror(p.host, p.names.owner).leave(p.network_name)
        for net in found_networks(p.host, p.names):
            net.reload()
            if not net.attrs.get("Containers"):
                with suppress(docker.errors.APIError):  # a machine was connected meanwhile
                    net.remove()
