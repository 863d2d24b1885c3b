"""What every command namespace shares: the lab it works on, and the boundary where
docker-py's errors become swarmlab's ("failed to <verb> <object>: <why>")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import docker.errors
import requests

from .._errors import DockerError, EngineUnavailable, ProviderUnavailable, SwarmlabError

if TYPE_CHECKING:
    from ..lab import Lab


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Wrap docker-py errors at the boundary: 'failed to <verb> <object>: <why>'."""
    try:
        yield
    except SwarmlabError:
        raise
    except docker.errors.APIError as e:
        raise DockerError(f"failed to {what}: {e.explanation or e}") from None
    except (requests.exceptions.ConnectionError, ConnectionError) as e:
        raise EngineUnavailable(f"failed to {what}: the engine did not answer ({e})") from None
    except requests.exceptions.RequestException as e:  # a read timeout, a broken answer
        raise DockerError(f"failed to {what}: {e}") from None
    except docker.errors.DockerException as e:
        raise DockerError(f"failed to {what}: {e}") from None
    except NotImplementedError as e:  # a provider without this verb
        raise ProviderUnavailable(f"failed to {what}: {e}") from None


#: What reading a machine's engine may raise when the machine is stopped, gone or busy.
UNREACHABLE = (docker.errors.DockerException, requests.exceptions.RequestException, SwarmlabError)


class Command:
    """The commands of one CLI noun (``lab.service``, ``lab.node``, ...) on one lab."""

    def __init__(self, lab: Lab) -> None:
        self._lab = lab

    def __repr__(self) -> str:
        verbs = [n for n in dir(self) if not n.startswith("_")]
        return f"<{type(self).__name__.lower()} commands of {self._lab!r}: {', '.join(verbs)}>"
