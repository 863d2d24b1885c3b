"""Many slow calls to engines that share one small computer, at the pace it can take.

A hundred machines joining a swarm at once all ask one manager to sign a certificate and
write to its Raft log, while a hundred engines share two cores: past some number at once,
each join only gets slower, engines give up ("context deadline exceeded") and their retries
add more load. :func:`paced_map` runs the calls with a window of how many may run at once
that it adapts as TCP does (additive increase, multiplicative decrease):

- it starts at ``start`` and grows by one for each call that ends well (doubling per
  round), then, after the first failure, by about one per round;
- a call that fails in a way that may pass (it raises :class:`Retry`) halves it. How long a
  call took is no signal: on a computer running many machines, a join's time is mostly the
  CPU the machines already joined use, which fewer joins at once would not give back;
- a failed item is tried again later (after a backoff that doubles), in a slot of the
  window like any other call, so retries never add load beside the window;
- an item that fails ``attempts`` times, or still fails ``patience`` seconds after its first
  try, or any other exception, ends the map: nothing new starts, the calls under way finish,
  and the first error is raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


#: A retry waits ``backoff`` seconds, then twice that, and so on up to 2**MAX_DOUBLINGS times.
MAX_DOUBLINGS = 3


class Retry(Exception):
    """Raised by a paced call that failed in a way that may pass (a timeout, an engine too
    busy to answer): the item is tried again later, and the window shrinks. ``cause`` is
    what is raised if no attempt is left."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class Tally:
    """Where a paced map stands."""

    done: int
    running: int
    waiting: int
    total: int
    window: int
    retries: int

    def __str__(self) -> str:
        text = f"{self.done} done · {self.running} under way · {self.waiting} waiting"
        return text + (f" · {self.retries} retried" if self.retries else "")


class Window:
    """How many calls may run at once (a float; its floor is used)."""

    def __init__(self, start: int, most: int) -> None:
        self.most = max(1, most)
        self.size = float(min(max(1, start), self.most))
        self.congested = False  # after the first sign of congestion, growth is ~1 per round

    def succeeded(self) -> None:
        grow = 1.0 if not self.congested else 1.0 / self.size
        self.size = min(float(self.most), self.size + grow)

    def failed(self) -> None:
        self.congested = True
        self.size = max(1.0, self.size / 2.0)

    def __int__(self) -> int:
        return int(self.size)


@dataclass
class _Item(Generic[T]):
    index: int
    value: Any
    attempt: int = 1
    not_before: float = 0.0
    first: float | None = None  # when it was first tried


def paced_map(
    fn: Callable[[Any], T],
    items: Sequence[Any],
    *,
    start: int = 4,
    most: int = 16,
    attempts: int | None = 4,
    patience: float | None = None,
    backoff: float = 2.0,
    observe: Callable[[Tally], None] | None = None,
) -> list[T]:
    """``[fn(i) for i in items]`` in threads, at most ``window`` at once (see the module),
    in order. ``observe`` is called with a :class:`Tally` whenever that changes."""
    todo: list[_Item[T]] = [_Item(i, v) for i, v in enumerate(items)]
    results: list[Any] = [None] * len(items)
    window = Window(start, most)
    running: dict[Future[T], _Item[T]] = {}
    error: BaseException | None = None
    done = retries = 0
    last: Tally | None = None

    def report() -> None:
        nonlocal last
        tally = Tally(done, len(running), len(todo), len(items), int(window), retries)
        if observe is not None and tally != last:
            observe(tally)
        last = tally

    with ThreadPoolExecutor(max_workers=max(1, min(most, len(items)))) as pool:
        while todo or running:
            now = time.monotonic()
            if error is None:
                while len(running) < int(window):
                    ready = [it for it in todo if it.not_before <= now]
                    if not ready:
                        break
                    item = ready[0]
                    todo.remove(item)
                    item.first = now if item.first is None else item.first
                    running[pool.submit(fn, item.value)] = item
            else:
                todo.clear()
            report()
            if not running:
                if not todo:
                    break
                # every item left waits for its backoff
                time.sleep(max(0.0, min(it.not_before for it in todo) - now))
                continue
            pause = min((it.not_before for it in todo), default=now + 1.0) - now
            finished, _ = wait(list(running), timeout=max(0.05, pause), return_when=FIRST_COMPLETED)
            for f in finished:
                item = running.pop(f)
                try:
                    results[item.index] = f.result()
                except Retry as e:
                    window.failed()
                    now = time.monotonic()
                    tried = attempts is not None and item.attempt >= attempts
                    waited = patience is not None and now - (item.first or now) >= patience
                    if tried or waited:
                        error = error or e.cause
                    else:
                        retries += 1
                        item.not_before = now + backoff * 2 ** min(item.attempt - 1, MAX_DOUBLINGS)
                        item.attempt += 1
                        todo.append(item)
                except BaseException as e:  # noqa: BLE001 - raised below, after the rest
                    error = error or e
                else:
                    done += 1
                    window.succeeded()
        report()
    if error is not None:
        raise error
    return results
