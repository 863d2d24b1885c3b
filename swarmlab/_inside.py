"""An HTTP GET made from inside a lab's network: what ``lab.http`` does when this computer
cannot reach the machines' addresses, as with a rootless engine (its containers' networks
are inside RootlessKit's network namespace, not this computer's). The request is made by
bash's ``/dev/tcp`` in a running machine of the lab (another than the one asked, when there
is one: as a browser elsewhere would), bounded by coreutils' ``timeout``: HTTP/1.0, the status
line and body read back."""

from __future__ import annotations

import re
import shlex
from typing import Any

from ._results import HttpAnswer

_MARK = "SWARMLAB-CONNECTED"
_SCRIPT = ('exec 3<>"/dev/tcp/$1/$2" || exit 7; echo ' + _MARK + '; '
           'printf "GET %s HTTP/1.0\\r\\nHost: %s:%s\\r\\nUser-Agent: swarmlab\\r\\n\\r\\n" "$3" "$1" "$2" >&3; '
           'cat <&3')


def _from_machine(provider: Any, machine: str) -> str:
    """The machine the request is made from: another running machine of the lab, else it."""
    running = sorted(m.name for m in provider.list() if m.running)
    others = [m for m in running if m != machine]
    return others[0] if others else machine


def get(provider: Any, machine: str, addr: str, port: int, path: str, timeout: float, cmd: str) -> HttpAnswer:
    """``GET path`` on ``addr:port``, from inside the lab's network, within ``timeout`` seconds."""
    where = _from_machine(provider, machine)
    line = (f"timeout {max(timeout, 0.1):g} bash -c {shlex.quote(_SCRIPT)} _ {shlex.quote(addr)} {int(port)} "
            f"{shlex.quote(path)} 2>&1")
    done = provider.run(where, line)
    out = done.output
    connected = _MARK + "\n" in out
    answer = out.split(_MARK + "\n", 1)[1] if connected else ""
    head, sep, body = answer.partition("\r\n\r\n")
    status = re.match(r"HTTP/\d(?:\.\d)? (\d{3})\b", head)
    if status and sep:
        return HttpAnswer(body, cmd, 0, int(status.group(1)))
    if done.exit_code == 7:
        why = "connection refused" if "refused" in out.lower() else \
            f"no connection ({(out.strip().splitlines() or ['?'])[-1][:200]})"
        return HttpAnswer(f"no answer from {machine} ({addr}) on port {port}: {why}", cmd, 7)
    if connected:
        return HttpAnswer(f"{machine} ({addr}) took the connection on port {port} but sent no "
                          f"answer within {timeout:g} s", cmd, 28)
    return HttpAnswer(f"no answer from {machine} ({addr}) on port {port} within {timeout:g} s", cmd, 28)
