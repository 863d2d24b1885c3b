"""What docker-machine prints, read without trusting it: ``ls`` rows (a name no machine of
swarmlab's can have is left alone, never used), ``config`` (exactly ``--tlsverify``, three
absolute paths and a ``tcp://IP:PORT`` engine), ``ip`` (one address other machines can reach).
Anything else stops the step with :class:`~swarmlab.ProviderUnavailable`, before any
connection."""

from __future__ import annotations

import ipaddress
import os
import re
import shlex

from ..._errors import InvalidArgument, ProviderUnavailable
from ..base import MachineInfo, check_machine_name

#: What ``ls --format`` asks for (fields of docker-machine's HostListItem).
LS_FORMAT = "{{.Name}}\t{{.DriverName}}\t{{.State}}\t{{.URL}}\t{{.DockerVersion}}\t{{.Error}}"
NOT_READY_STATES = ("Timeout", "Error", "None")
#: Every state docker-machine reports (libmachine/state).
STATES = ("None", "Running", "Paused", "Saved", "Stopping", "Stopped", "Starting", "Error", "Timeout")
#: An engine URL as docker-machine's virtualbox driver makes it: tcp://IP:PORT, nothing more.
_ENGINE_URL_RE = re.compile(r"tcp://(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})")
#: What ``docker-machine config`` prints, one word each (commands/config.go).
_CONFIG_WORD_RE = re.compile(r"--(tlscacert|tlscert|tlskey)=(.+)|-H=(.+)", re.DOTALL)


def engine_url_problem(url: str) -> str:
    """'' when ``url`` is an engine URL as docker-machine makes one (``tcp://IP:PORT``), else
    what is wrong with it."""
    m = _ENGINE_URL_RE.fullmatch(url)
    if m is None:
        return "not tcp://IP:PORT"
    try:
        ip = ipaddress.ip_address(m.group(1) or m.group(2))
    except ValueError:
        return "not an IP address"
    if ip.is_unspecified or ip.is_multicast:
        return "no machine's address"
    if not 0 < int(m.group(3)) < 65536:
        return "no port"
    return ""


def parse_ls(text: str) -> tuple[list[MachineInfo], list[str]]:
    """Rows of ``docker-machine ls --format LS_FORMAT``, and what was left alone: rows no
    machine of swarmlab's can have (its names are :func:`check_machine_name`'s), each said in
    one line starting "left alone:". Rows of other drivers (and docker-machine's "not found"
    rows, for folders it cannot read) are not the lab's and are skipped."""
    out: list[MachineInfo] = []
    left_alone: list[str] = []
    pending: list[str] = []  # lines of one name with line breaks, or tabs
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        cells = line.split("\t")
        if len(cells) != 6:
            pending.append(line)
            continue
        name, driver, state, url, version, error = cells
        if pending:
            whole = "\n".join([*pending, name])
            pending = []
            left_alone.append(_odd_name(whole))
            continue
        if driver != "virtualbox":
            continue
        try:
            check_machine_name(name)
        except InvalidArgument:
            left_alone.append(
                f"left alone: machine {name!r} (docker-machine ls): not a machine name swarmlab makes "
                f"(letters, digits and '-'); if it is yours, remove it with docker-machine rm")
            continue
        if state not in STATES:
            left_alone.append(f"left alone: machine {name!r} (docker-machine ls): state {state!r} is "
                              f"none docker-machine reports")
            continue
        if url and engine_url_problem(url):
            error = (f"docker-machine ls reported the engine URL {url!r} ({engine_url_problem(url)}), "
                     f"which swarmlab does not use; {error}").rstrip("; ")
            url = ""
        if state in NOT_READY_STATES and not error:
            error = {"Timeout": "docker-machine got no answer from the VM in time (state Timeout)",
                     "Error": "the VM is in an error state"}.get(state, "")
        out.append(MachineInfo(name=name, driver=driver, state=state, url=url,
                               docker_version="" if version == "Unknown" else version,
                               error=error))
    if pending:
        left_alone.append(_odd_name("\n".join(pending)))
    names = [m.name for m in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    left_alone += [f"left alone: machine {n!r} (docker-machine ls): listed twice, so neither is "
                   f"known to be the lab's" for n in twice]
    return [m for m in out if m.name not in twice], left_alone


def _odd_name(text: str) -> str:
    return (f"left alone: {text!r} (docker-machine ls): not one machine's row (a name with a line "
            f"break or a tab?); no machine of swarmlab's has such a name")


def parse_config(text: str, name: str = "NAME") -> dict[str, str]:
    """``docker-machine config NAME`` -> {"tlscacert", "tlscert", "tlskey", "host"}: exactly
    what docker-machine prints (``--tlsverify``, three absolute paths, ``-H=tcp://IP:PORT``),
    else :class:`ProviderUnavailable`."""
    command = f"docker-machine config {name}"

    def refuse(why: str) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"'{command}' printed {text[:500]!r}: {why}. swarmlab reaches a machine's engine only "
            f"over TLS, with the certificates docker-machine keeps for it. Run '{command}' in a "
            f"terminal to see what is wrong; 'docker-machine regenerate-certs -f {name}' makes "
            f"new certificates.")

    try:
        words = shlex.split(text)
    except ValueError:
        raise refuse("not words a shell can read") from None
    out: dict[str, str] = {}
    tlsverify = False
    for word in words:
        if word == "--tlsverify" and not tlsverify:
            tlsverify = True
            continue
        m = _CONFIG_WORD_RE.fullmatch(word)
        key = (m.group(1) or "host") if m else ""
        if not m or key in out:
            raise refuse(f"{word!r} is not what docker-machine config prints (or is there twice)")
        out[key] = m.group(2) if m.group(1) else m.group(3)
    if not tlsverify:
        raise refuse("no --tlsverify")
    missing = {"tlscacert", "tlscert", "tlskey", "host"} - set(out)
    if missing:
        raise refuse(f"no {', '.join(sorted(missing))}")
    for key in ("tlscacert", "tlscert", "tlskey"):
        if not os.path.isabs(out[key]):
            raise refuse(f"{out[key]!r} is not an absolute path")
    problem = engine_url_problem(out["host"])
    if problem:
        raise refuse(f"the engine URL {out['host']!r} is {problem}")
    return out


def parse_ip(printed: str, name: str, docker_machine: str) -> str:
    """What ``docker-machine ip NAME`` printed: one address other machines can reach, on one
    line, else :class:`ProviderUnavailable`."""
    line = printed[:-1] if printed.endswith("\n") else printed
    try:
        ip = ipaddress.ip_address(line)
        usable = str(ip) == line and not (ip.is_unspecified or ip.is_loopback or ip.is_multicast)
    except ValueError:
        usable = False
    if not usable:
        raise ProviderUnavailable(
            f"'docker-machine ip {name}' printed {printed[:200]!r}, which is not one address the "
            f"other machines can reach {name} at; swarmlab uses nothing else. Run "
            f"'docker-machine ip {name}' in a terminal to see what is wrong (and check that "
            f"{docker_machine} is docker-machine), or remove the machine with "
            f"lab.machine.rm({name!r}) and create it again.")
    return line
