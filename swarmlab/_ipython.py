"""In IPython (a notebook kernel, the terminal), a :class:`~swarmlab.SwarmlabError` shows as its
message alone: a typo in a service name reads as one sentence saying what to do, not as forty
lines of swarmlab's and docker-py's frames.

The cell still fails as any error does: the kernel sends an ``error`` output (its ``ename`` is
the exception's class) and replies with status ``error``, so Run All stops there and papermill
and nbclient raise as usual. ``%tb`` shows the full traceback of the last error; with
``%xmode verbose`` or ``SWARMLAB_TRACEBACK=1`` every swarmlab error shows it at once.

:func:`install` is called when swarmlab is imported; outside IPython it does nothing, and it
leaves a custom exception handler someone else installed alone.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ._errors import SwarmlabError

#: Shown under the message: how to see everything.
MORE = "(%tb shows the full traceback; %xmode verbose or SWARMLAB_TRACEBACK=1 shows it always)"


def full_traceback_wanted(shell: Any) -> bool:
    """True under ``%xmode verbose`` or with ``SWARMLAB_TRACEBACK`` set (not 0/false/no/off)."""
    env = os.environ.get("SWARMLAB_TRACEBACK", "").strip().lower()
    if env and env not in ("0", "false", "no", "off"):
        return True
    mode = str(getattr(getattr(shell, "InteractiveTB", None), "mode", "") or "")
    return mode.lower() == "verbose"


def short_traceback(etype: type[BaseException], value: BaseException) -> list[str]:
    """The lines shown instead of a traceback: the class and message, its notes, a hint."""
    red, grey, reset = "\x1b[0;31m", "\x1b[0;90m", "\x1b[0m"
    lines = [f"{red}{etype.__name__}{reset}: {value}"]
    lines += [str(n) for n in getattr(value, "__notes__", None) or []]
    lines.append(f"{grey}{MORE}{reset}")
    return lines


def show_error(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
               tb_offset: int | None = None) -> list[str]:
    """IPython's custom exception handler for :class:`SwarmlabError`."""
    if full_traceback_wanted(shell):
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return []
    # what %tb (and pdb) read
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    sys.last_exc = value  # type: ignore[attr-defined,unused-ignore]  # Python 3.12+
    stb = short_traceback(etype, value)
    shell._showtraceback(etype, value, stb)  # the kernel's error output, as for any error
    return stb


def install(shell: Any = None) -> bool:
    """Show swarmlab's errors as their message in this IPython session. True when installed."""
    if shell is None:
        ipython = sys.modules.get("IPython")
        if ipython is None:
            return False
        try:
            shell = ipython.get_ipython()
        except Exception:  # noqa: BLE001 - not an IPython we know
            return False
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    current = tuple(getattr(shell, "custom_exceptions", ()) or ())
    if current and current != (SwarmlabError,):
        return False  # someone else's handler: leave it
    shell.set_custom_exc((SwarmlabError,), show_error)
    return True


install()
