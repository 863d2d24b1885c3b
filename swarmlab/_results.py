"""Result objects: what every step returns.

Each result knows the command it stands for (``result.command``), renders as plain text (the
CLI's own output, as near as we can) and as escaped HTML, and keeps the data (a DataFrame or a
dict) for code and tests. The core never prints: notebooks show these, terminals print them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import _format as fmt


class Output(str):
    """Text a command printed (``docker-machine ip``, ``docker-machine ssh``): a real ``str``,
    usable in f-strings, that also knows its command and exit code."""

    command: str
    exit_code: int

    def __new__(cls, text: str, command: str = "", exit_code: int = 0) -> Output:
        obj = super().__new__(cls, text)
        obj.command = command
        obj.exit_code = exit_code
        return obj

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        return str.__str__(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(f"$ {self.command}\n{self}" if self.command else str(self))

    def _repr_html_(self) -> str:
        notes = [] if self.ok else [f"exit code {self.exit_code}"]
        return fmt.html_result(self.command, fmt.html_pre(str(self)), notes)


class HttpAnswer(Output):
    """What a web server answered (``lab.http``): the body as text, and ``status`` (the HTTP
    status code, or None when nothing answered; then the text says why, and ``exit_code`` is
    curl's: 7 refused, 28 timed out)."""

    status: int | None

    def __new__(cls, text: str, command: str = "", exit_code: int = 0,
                status: int | None = None) -> HttpAnswer:
        obj = str.__new__(cls, text)
        obj.command, obj.exit_code, obj.status = command, exit_code, status
        return obj

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


@dataclass(repr=False)
class Result:
    """Base of the result objects: a command, notes (what a step found or did), a text body."""

    command: str
    notes: list[str] = field(default_factory=list)
    #: what ran underneath, for the curious (e.g. the ``docker run`` that made a dind
    #: machine); not shown with the result
    details: list[str] = field(default_factory=list)

    def text(self) -> str:
        return ""

    def _body_html(self) -> str:
        return fmt.html_pre(self.text())

    def __str__(self) -> str:
        parts = [*self.notes, self.text()]
        return "\n".join(p for p in parts if p)

    def __repr__(self) -> str:
        return f"$ {self.command}\n{self}" if self.command else str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        return fmt.html_result(self.command, self._body_html(), self.notes)


@dataclass(repr=False)
class Table(Result):
    """A table with the columns of the real CLI output, backed by a pandas DataFrame (``.df``).

    ``len(t)``, ``t["NAME"]``, ``t.rows()`` read it; ``.data`` keeps the raw engine objects.
    """

    df: pd.DataFrame = field(default_factory=pd.DataFrame)
    data: list[dict[str, Any]] = field(default_factory=list)
    colour: Sequence[str] = ()

    @classmethod
    def of(cls, command: str, columns: Sequence[str], rows: Sequence[Sequence[object]],
           notes: Sequence[str] = (), data: Sequence[dict[str, Any]] = (),
           colour: Sequence[str] = ()) -> Table:
        df = pd.DataFrame([list(r) for r in rows], columns=list(columns))
        return cls(command=command, notes=list(notes), df=df, data=list(data), colour=colour)

    def text(self) -> str:
        return fmt.text_table(list(self.df.columns), self.df.itertuples(index=False))

    def _body_html(self) -> str:
        return fmt.html_table(list(self.df.columns), self.df.itertuples(index=False), self.colour)

    def __len__(self) -> int:
        return len(self.df)

    def __getitem__(self, key: Any) -> Any:
        return self.df[key]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows())

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        return [dict(r) for r in self.df.to_dict(orient="records")]


@dataclass(repr=False)
class Text(Result):
    """Text output (``inspect --pretty``, ``docker info``, a step's messages), with ``.data``."""

    body: str = ""
    data: Any = None

    def text(self) -> str:
        return self.body


class JoinToken(Result):
    """A swarm join token. Shown masked; ``.reveal()`` gives the real token."""

    def __init__(self, command: str, token: str, role: str, manager_addr: str) -> None:
        super().__init__(command=command)
        self._token = token
        self.role = role
        self.manager_addr = manager_addr

    def reveal(self) -> str:
        return self._token

    @property
    def masked(self) -> str:
        return mask_token(self._token)

    def join_command(self, reveal: bool = False) -> str:
        tok = self._token if reveal else self.masked
        return f"docker swarm join --token {tok} {self.manager_addr}"

    def text(self) -> str:
        return (f"To add a {self.role} to this swarm, run the following command:\n\n"
                f"    {self.join_command()}\n\n(the token is masked; .reveal() shows it)")


def mask_token(token: str) -> str:
    """SWMTKN-1-<cluster hash>-<secret> -> SWMTKN-1-abcd…(masked)"""
    if not token:
        return token
    parts = token.split("-")
    if len(parts) >= 3 and parts[0] == "SWMTKN":
        return f"SWMTKN-{parts[1]}-{parts[2][:4]}…(masked)"
    return token[:4] + "…(masked)"
