"""``docker swarm update``: the swarm's own settings (how often nodes report to the managers,
how much task history is kept, how long node certificates last, Raft's snapshots). Only what
is given changes: the swarm's spec is read and written back whole, as the CLI does (docker-py's
``Swarm.update`` builds a new spec from its arguments alone, and the engine would take every
setting not given back to its default)."""

from __future__ import annotations

from typing import Any

from .._errors import DockerError, InvalidArgument
from .._format import format_duration, parse_duration
from .._results import Text
from ._base import Command, engine_errors

#: the settings ``update`` takes: (its keyword, the CLI flag, where it sits in the swarm's spec,
#: whether it is a duration (kept in nanoseconds) or a count)
SETTINGS: tuple[tuple[str, str, tuple[str, str], bool], ...] = (
    ("dispatcher_heartbeat", "--dispatcher-heartbeat", ("Dispatcher", "HeartbeatPeriod"), True),
    ("task_history_limit", "--task-history-limit", ("Orchestration", "TaskHistoryRetentionLimit"), False),
    ("cert_expiry", "--cert-expiry", ("CAConfig", "NodeCertExpiry"), True),
    ("snapshot_interval", "--snapshot-interval", ("Raft", "SnapshotInterval"), False),
    ("max_snapshots", "--max-snapshots", ("Raft", "KeepOldSnapshots"), False),
)
#: what the engine answers when the swarm changed between reading its spec and writing it
_OUT_OF_SEQUENCE = "update out of sequence"


def _value(name: str, value: object, duration: bool) -> int:
    """A setting as the spec keeps it: nanoseconds for a duration, else a count."""
    if duration:
        seconds = parse_duration(value, name)
        if seconds <= 0:
            raise InvalidArgument(f"{name}={value!r}: give a duration longer than zero, e.g. '20s'")
        return round(seconds * 1e9)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{name}={value!r}: give a whole number, 0 or more, e.g. 10")
    return value


def _shown(value: int, duration: bool) -> str:
    return format_duration(value / 1e9) if duration else str(value)


def _before(value: object, duration: bool) -> str:
    return _shown(value, duration) if isinstance(value, int) and not isinstance(value, bool) else "not set"


class SwarmSettings(Command):
    """``docker swarm update``."""

    def update(self, *, dispatcher_heartbeat: object = None, task_history_limit: object = None,
               cert_expiry: object = None, snapshot_interval: object = None,
               max_snapshots: object = None) -> Text:
        """``docker swarm update --dispatcher-heartbeat 20s --task-history-limit 10 ...``:
        change the settings given and keep every other one.

        ``dispatcher_heartbeat``: how often each node reports to the managers (5s by default);
        a node silent for three periods is marked Down and its tasks are placed elsewhere.
        ``task_history_limit``: how many ended tasks each slot keeps (5). ``cert_expiry``:
        how long a node's certificate lasts (90 days). ``snapshot_interval`` and
        ``max_snapshots``: Raft's log entries between snapshots, old snapshots kept.
        Durations as the CLI takes them ('20s', '1m30s') or seconds. Run again with the same
        values, it changes nothing and says so."""
        given = {"dispatcher_heartbeat": dispatcher_heartbeat, "task_history_limit": task_history_limit,
                 "cert_expiry": cert_expiry, "snapshot_interval": snapshot_interval,
                 "max_snapshots": max_snapshots}
        wanted = [(flag, where, _value(name, given[name], duration), duration)
                  for name, flag, where, duration in SETTINGS if given[name] is not None]
        if not wanted:
            raise InvalidArgument("say what to change, e.g. lab.swarm.update(dispatcher_heartbeat='20s') "
                                  "(docker swarm update --dispatcher-heartbeat 20s)")
        command = "docker swarm update " + " ".join(f"{flag} {_shown(v, d)}" for flag, _, v, d in wanted)
        lab = self._lab
        for _ in range(3):
            with engine_errors("read the swarm's settings"):
                attrs: dict[str, Any] = lab.manager_client().api.inspect_swarm()
            spec = attrs["Spec"]
            was = {flag: (spec.get(a) or {}).get(b) for flag, (a, b), _, _ in wanted}
            changed = [(flag, v, d) for flag, (a, b), v, d in wanted if was[flag] != v]
            if not changed:
                return Text(command=command, notes=["the swarm has these settings already (nothing to change)."],
                            data=was)
            for _flag, (a, b), v, _d in wanted:
                spec.setdefault(a, {})[b] = v
            try:
                with engine_errors("update the swarm's settings"):
                    lab.manager_client().api.update_swarm(version=attrs["Version"]["Index"], swarm_spec=spec)
            except DockerError as e:
                if _OUT_OF_SEQUENCE in str(e):  # the swarm changed meanwhile: read it again
                    continue
                raise
            notes = [f"{flag}: {_before(was[flag], d)} -> {_shown(v, d)}" for flag, v, d in changed]
            return Text(command=command, body="Swarm updated.", notes=notes,
                        data={flag: v for flag, _, v, _ in wanted})
        raise DockerError("failed to update the swarm's settings: the swarm kept changing while they were "
                          "written (update out of sequence, three times); run it again")
