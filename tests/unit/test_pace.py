"""The pacing of many slow calls (swarmlab._pace): how many run at once, how the window
grows and shrinks, retries in the window, and errors."""

from __future__ import annotations

import threading
import time

import pytest

from swarmlab._pace import Retry, Tally, Window, paced_map


class Meter:
    """Counts the calls running at once, as a busy manager would feel them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.calls: list[int] = []

    def __enter__(self) -> Meter:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_results_come_back_in_order_and_the_window_grows_from_its_start() -> None:
    meter = Meter()
    seen: list[Tally] = []

    def work(i: int) -> int:
        with meter:
            time.sleep(0.02)
        return i * i

    out = paced_map(work, list(range(40)), start=2, most=8, observe=seen.append)
    assert out == [i * i for i in range(40)]
    assert meter.peak <= 8
    assert seen[0].running <= 2  # it starts small
    assert max(t.window for t in seen) == 8  # calls that end well grow it to its most
    assert seen[-1] == Tally(done=40, running=0, waiting=0, total=40, window=8, retries=0)


def test_a_call_that_may_pass_is_retried_later_inside_the_window() -> None:
    meter = Meter()
    tries: dict[int, int] = {}
    lock = threading.Lock()

    def work(i: int) -> int:
        with meter:
            with lock:
                tries[i] = tries.get(i, 0) + 1
                first = tries[i] == 1
            time.sleep(0.01)
            if i % 3 == 0 and first:
                raise Retry(TimeoutError(f"item {i} timed out"))
        return i

    seen: list[Tally] = []
    t0 = time.monotonic()
    out = paced_map(work, list(range(9)), start=4, most=4, backoff=0.05, observe=seen.append)
    assert out == list(range(9))
    assert tries == {i: 2 if i % 3 == 0 else 1 for i in range(9)}
    assert meter.peak <= 4
    assert seen[-1].retries == 3
    assert min(t.window for t in seen) < 4  # a failure halved it
    assert time.monotonic() - t0 >= 0.05  # the retry waited its backoff


def test_an_item_that_keeps_failing_raises_its_own_error_after_its_attempts() -> None:
    tries = []

    def work(i: int) -> int:
        if i == 1:
            tries.append(i)
            raise Retry(ConnectionError("manager too busy"))
        return i

    with pytest.raises(ConnectionError, match="manager too busy"):
        paced_map(work, [0, 1, 2], attempts=3, backoff=0.01)
    assert len(tries) == 3


def test_any_other_error_stops_new_calls_and_is_raised_after_those_under_way() -> None:
    started: list[int] = []
    finished: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        if i == 0:
            raise ValueError("bad token")
        time.sleep(0.05)
        finished.append(i)
        return i

    with pytest.raises(ValueError, match="bad token"):
        paced_map(work, list(range(50)), start=2, most=2)
    assert len(started) < 10  # nothing new started once it failed
    assert sorted(finished) == sorted(i for i in started if i != 0)  # no call was left running


def test_window_is_additive_increase_multiplicative_decrease() -> None:
    w = Window(start=2, most=10)
    w.succeeded()
    w.succeeded()
    assert int(w) == 4  # one per call that ends well at first (doubling each round)
    w.failed()
    assert int(w) == 2
    for _ in range(2):
        w.succeeded()
    assert int(w) == 2  # after a failure: about one per round (1/size per call)
    w.succeeded()
    assert int(w) == 3
    for _ in range(5):
        w.failed()
    assert int(w) == 1  # never below one
    assert int(Window(start=50, most=10)) == 10


def test_an_error_while_other_items_wait_for_their_retry_is_the_error_raised() -> None:
    def work(i: int) -> int:
        if i == 0:
            raise Retry(TimeoutError("busy"))  # waits for its retry...
        time.sleep(0.02)
        raise ValueError("wrong token")  # ...when this ends the map

    with pytest.raises(ValueError, match="wrong token"):
        paced_map(work, [0, 1], start=2, most=2, backoff=5.0)


def test_with_patience_an_item_is_tried_until_that_long_after_its_first_try() -> None:
    tries: list[float] = []

    def work(i: int) -> int:
        tries.append(time.monotonic())
        if len(tries) <= 6:  # more failures than the default attempts (4) allow
            raise Retry(ConnectionError("manager away"))
        return i

    # counted, not timed: a busy computer slows the tries, never changes how many there are
    assert paced_map(work, [7], attempts=None, patience=30.0, backoff=0.02) == [7]
    assert len(tries) == 7  # patience, not a count of attempts, decided

    def never(i: int) -> int:
        raise Retry(ConnectionError("gone for good"))

    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match="gone for good"):
        paced_map(never, [1], attempts=None, patience=0.2, backoff=0.02)
    assert 0.2 <= time.monotonic() - t0 < 2.0
