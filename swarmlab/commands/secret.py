"""``docker secret`` and ``docker config``: create, ls, inspect, rm; and the ``--secret`` /
``--config`` references a service mounts them with.

A secret is kept encrypted in the managers' Raft log and given to a task as a file in
``/run/secrets/`` (in memory, never on the machine's disk); no command ever shows its value.
A config is the same for what is not secret (a configuration file), and its data can be read
back. Neither can change: a new version is a new one, and a rolling update moves a service
from the old to the new (``lab.service.update(..., secret_rm=[old], secret_add=[new])``)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from typing import Any

import docker

from .. import _format as fmt
from .._errors import InvalidArgument, NotFound, SwarmStateError
from .._results import Table, Text
from ._base import Command, engine_errors
from .clitext import CliTable
from .validate import did_you_mean

#: what the engine accepts as a secret's or config's name
_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?")
#: the engine's limit on a secret's or a config's data
MAX_BYTES = 500 * 1024
#: a label swarmlab puts on the secrets it creates, so that the same create run twice is known
#: to be the same: a salted scrypt digest of the value (slow to guess from, and only managers
#: read it, who can mount the secret anyway), shown masked (:func:`masked`)
LABEL_DIGEST = "io.swarmlab.scrypt"


def digest(raw: bytes, salt: bytes | None = None) -> str:
    """``scrypt:SALT:HASH`` of a secret's value (a new random salt unless one is given)."""
    salt = salt if salt is not None else os.urandom(16)
    return f"scrypt:{salt.hex()}:{hashlib.scrypt(raw, salt=salt, n=2**14, r=8, p=1, dklen=32).hex()}"


def same_digest(label: str, raw: bytes) -> bool | None:
    """Whether ``raw`` is the value a digest label was made from (None: not such a label)."""
    parts = label.split(":")
    if len(parts) != 3 or parts[0] != "scrypt" or not re.fullmatch(r"[0-9a-f]{32}", parts[1]):
        return None
    return digest(raw, bytes.fromhex(parts[1])) == label


def masked(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as shown: the digest label's value masked (it is nobody's business to see)."""
    labels = (obj.get("Spec") or {}).get("Labels") or {}
    if LABEL_DIGEST not in labels:
        return obj
    shown = json.loads(json.dumps(obj))
    shown["Spec"]["Labels"][LABEL_DIGEST] = "scrypt:(masked)"
    return shown


def check_object_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid {kind} name {name!r}: use letters, digits, '_', '.' and '-' (start and end with a "
            f"letter or digit, at most 64 characters), e.g. 'db_password'")
    return name


def _data(kind: str, data: object, file: object) -> tuple[bytes, str]:
    """The bytes to store, and what stands for them in the CLI line (a file, or ``-``: stdin)."""
    if (data is None) == (file is None):
        raise InvalidArgument(f"give the {kind}'s data as text (data='...') or a file (file='path'), one of the two")
    if file is not None:
        if not isinstance(file, (str, os.PathLike)):
            raise InvalidArgument(f"file={file!r}: give the path of a file")
        try:
            with open(file, "rb") as f:
                raw = f.read(MAX_BYTES + 1)
        except OSError as e:
            raise InvalidArgument(f"cannot read {kind} file {str(file)!r}: {e.strerror or e}") from None
        shown = str(file)
    elif isinstance(data, str):
        raw, shown = data.encode(), "-"
    elif isinstance(data, bytes):
        raw, shown = data, "-"
    else:
        raise InvalidArgument(f"data={type(data).__name__}: give the {kind}'s data as text or bytes")
    if not raw:
        raise InvalidArgument(f"the {kind}'s data is empty: the engine refuses an empty {kind}")
    if len(raw) > MAX_BYTES:
        raise InvalidArgument(f"the {kind}'s data is larger than the engine's limit of 500 KB "
                              f"({MAX_BYTES} bytes): keep a {kind} small, e.g. a password or a config file")
    return raw, shown


class SwarmObjects(Command):
    """What ``lab.secret`` and ``lab.config`` share: the engine keeps both in the swarm."""

    _kind = ""           #: "secret" or "config"
    _columns: tuple[str, ...] = ()

    # the engine's calls for this kind
    def _list(self, client: docker.DockerClient, **kw: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _create(self, client: docker.DockerClient, name: str, data: bytes, labels: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError

    def _remove(self, client: docker.DockerClient, object_id: str) -> None:
        raise NotImplementedError

    def _row(self, obj: dict[str, Any], now: _dt.datetime) -> tuple[str, ...]:
        raise NotImplementedError

    def _same(self, obj: dict[str, Any], raw: bytes) -> bool | None:
        """Whether an existing one holds ``raw`` (None: cannot tell)."""
        label = ((obj.get("Spec") or {}).get("Labels") or {}).get(LABEL_DIGEST)
        return same_digest(str(label), raw) if label else None

    def _labels(self, raw: bytes) -> dict[str, str]:
        """The labels swarmlab adds to what it creates."""
        return {}

    # -- lookups ---------------------------------------------------------------------
    def _find(self, name: str, client: docker.DockerClient) -> dict[str, Any] | None:
        with engine_errors(f"list {self._kind}s"):
            found = [o for o in self._list(client, filters={"name": name})
                     if (o.get("Spec") or {}).get("Name") == name]
        return dict(found[0]) if found else None

    def _get(self, name: str, client: docker.DockerClient | None = None) -> dict[str, Any]:
        """The secret (config) ``name`` as a manager lists it; :class:`NotFound` when none."""
        check_object_name(self._kind, name)
        client = client or self._lab.manager_client()
        found = self._find(name, client)
        if found is None:
            with engine_errors(f"list {self._kind}s"):
                names = sorted(str((o.get("Spec") or {}).get("Name")) for o in self._list(client))
            close = did_you_mean(name, names)
            raise NotFound(
                f"there is no {self._kind} {name!r}"
                + (f": did you mean {close!r}?" if close
                   else f"; create it with lab.{self._kind}.create({name!r}, ...)")
                + f" ({self._kind}s: {', '.join(names) or 'none'})")
        return found

    def _users(self, object_id: str, client: docker.DockerClient) -> list[str]:
        key = "Secrets" if self._kind == "secret" else "Configs"
        id_key = "SecretID" if self._kind == "secret" else "ConfigID"
        with engine_errors("list services"):
            services = client.api.services()
        return sorted(s["Spec"]["Name"] for s in services
                      if any(r.get(id_key) == object_id
                             for r in (s["Spec"].get("TaskTemplate", {}).get("ContainerSpec", {}).get(key) or [])))

    # -- verbs -----------------------------------------------------------------------
    def create(self, name: str, data: str | bytes | None = None, *, file: str | os.PathLike[str] | None = None,
               labels: dict[str, str] | None = None) -> Text:
        check_object_name(self._kind, name)
        raw, source = _data(self._kind, data, file)
        if labels is not None and (not isinstance(labels, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items())):
            raise InvalidArgument(f"labels={labels!r}: give a dict of strings, e.g. labels={{'app': 'web'}}")
        cmd = f"docker {self._kind} create {name} {source}"
        if source == "-":
            cmd = f"printf '...' | {cmd}"
        client = self._lab.manager_client()
        have = self._find(name, client)
        if have is not None:
            if self._same(have, raw):
                return Text(command=cmd, body="", data={"id": have["ID"]},
                            notes=[f"{self._kind} {name} already exists with this data (nothing to create)."])
            raise SwarmStateError(
                f"a {self._kind} named {name!r} already exists, with other data (or data swarmlab cannot "
                f"compare). A {self._kind} cannot change: create a new one under a new name (e.g. "
                f"{name}_v2) and move the services to it with lab.service.update(SERVICE, "
                f"{self._kind}_rm=[{name!r}], {self._kind}_add=['{name}_v2']); or remove this one first "
                f"(lab.{self._kind}.rm({name!r})). Nothing was changed.")
        with engine_errors(f"create {self._kind} {name}"):
            made = self._create(client, name, raw, {**(labels or {}), **self._labels(raw)})
        return Text(command=cmd, body=str(made.get("ID", "")), data={"id": made.get("ID", "")})

    def ls(self) -> Table:
        client = self._lab.manager_client()
        with engine_errors(f"list {self._kind}s"):
            found = [dict(o) for o in self._list(client)]
        now = _dt.datetime.now(_dt.timezone.utc)
        rows = [self._row(o, now) for o in sorted(found, key=lambda o: str((o.get("Spec") or {}).get("Name")))]
        return CliTable.of(f"docker {self._kind} ls", self._columns, rows, data=found)

    def inspect(self, name: str) -> Text:
        found = masked(self._get(name))
        return Text(command=f"docker {self._kind} inspect {name}", body=json.dumps(found, indent=4), data=found)

    def rm(self, *names: str) -> Text:
        """Remove them. One a service still uses is refused (naming the services) and nothing
        is removed; one that is not there is reported."""
        if not names:
            raise InvalidArgument(f"say which {self._kind} to remove, e.g. lab.{self._kind}.rm('db_password')")
        names = tuple(check_object_name(self._kind, n) for n in names)
        client = self._lab.manager_client()
        present = {n: o for n in names if (o := self._find(n, client)) is not None}
        used = {n: users for n, o in present.items() if (users := self._users(o["ID"], client))}
        if used:
            raise SwarmStateError(
                "; ".join(f"{self._kind} {n!r} is in use by service(s) {', '.join(u)}" for n, u in used.items())
                + f": remove it from them first (lab.service.update(SERVICE, {self._kind}_rm=[...])) or "
                  f"remove the services. Nothing was removed.")
        for n, o in present.items():
            with engine_errors(f"remove {self._kind} {n}"):
                self._remove(client, o["ID"])
        notes = [f"there is no {self._kind} {n!r} (nothing to remove)." for n in names if n not in present]
        return Text(command=f"docker {self._kind} rm {' '.join(names)}", body="\n".join(present), notes=notes)


def _times(obj: dict[str, Any], now: _dt.datetime) -> tuple[str, str]:
    def since(key: str) -> str:
        value = obj.get(key)
        try:
            return fmt.ago(str(value), now) if value else ""
        except ValueError:
            return ""
    return since("CreatedAt"), since("UpdatedAt")


class Secrets(SwarmObjects):
    """``docker secret``: data a service reads from ``/run/secrets/NAME``, never shown."""

    _kind = "secret"
    _columns = ("ID", "NAME", "DRIVER", "CREATED", "UPDATED")

    def _list(self, client: docker.DockerClient, **kw: Any) -> list[dict[str, Any]]:
        return list(client.api.secrets(**kw))

    def _create(self, client: docker.DockerClient, name: str, data: bytes, labels: dict[str, str]) -> dict[str, Any]:
        return dict(client.api.create_secret(name, data, labels=labels))

    def _remove(self, client: docker.DockerClient, object_id: str) -> None:
        client.api.remove_secret(object_id)

    def _labels(self, raw: bytes) -> dict[str, str]:
        return {LABEL_DIGEST: digest(raw)}

    def _row(self, obj: dict[str, Any], now: _dt.datetime) -> tuple[str, ...]:
        driver = str(((obj.get("Spec") or {}).get("Driver") or {}).get("Name", ""))
        return (str(obj.get("ID", "")), str(obj["Spec"].get("Name", "")), driver, *_times(obj, now))

    def create(self, name: str, data: str | bytes | None = None, *, file: str | os.PathLike[str] | None = None,
               labels: dict[str, str] | None = None) -> Text:
        """``docker secret create NAME FILE`` (or ``-``, the data from stdin). The value is
        never shown, in the result or anywhere. Running the same create twice finds it; a
        name that exists with other data is refused (a secret cannot change: rotate it)."""
        return super().create(name, data, file=file, labels=labels)

    def ls(self) -> Table:
        """``docker secret ls``: ID, NAME, DRIVER, CREATED, UPDATED (no values: there are none to see)."""
        return super().ls()

    def inspect(self, name: str) -> Text:
        """``docker secret inspect NAME``: its name, labels and dates; the engine never returns
        the value (and the digest swarmlab keeps to know a create run twice is masked)."""
        return super().inspect(name)


class Configs(SwarmObjects):
    """``docker config``: a file (not secret) mounted into a service's tasks."""

    _kind = "config"
    _columns = ("ID", "NAME", "CREATED", "UPDATED")

    def _list(self, client: docker.DockerClient, **kw: Any) -> list[dict[str, Any]]:
        return list(client.api.configs(**kw))

    def _create(self, client: docker.DockerClient, name: str, data: bytes, labels: dict[str, str]) -> dict[str, Any]:
        return dict(client.api.create_config(name, data, labels=labels))

    def _remove(self, client: docker.DockerClient, object_id: str) -> None:
        client.api.remove_config(object_id)

    def _row(self, obj: dict[str, Any], now: _dt.datetime) -> tuple[str, ...]:
        return (str(obj.get("ID", "")), str(obj["Spec"].get("Name", "")), *_times(obj, now))

    def _same(self, obj: dict[str, Any], raw: bytes) -> bool | None:
        import base64

        data = (obj.get("Spec") or {}).get("Data")
        return base64.b64decode(data) == raw if isinstance(data, str) else super()._same(obj, raw)

    def create(self, name: str, data: str | bytes | None = None, *, file: str | os.PathLike[str] | None = None,
               labels: dict[str, str] | None = None) -> Text:
        """``docker config create NAME FILE`` (or ``-``). Running the same create twice finds
        it; a name that exists with other data is refused (a config cannot change)."""
        return super().create(name, data, file=file, labels=labels)


# -- the references a service mounts them with (--secret / --config) --------------------------
