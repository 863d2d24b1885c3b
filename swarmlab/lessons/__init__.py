"""The lessons, in class order: the one list that the lesson runner, the teacher's board, the
tests and the README tables are checked against. Each is a notebook ``notebooks/<name>.ipynb``
and one :class:`Lesson` record: the part of the lab it teaches, the images its services run,
its "now you try" check with the check's answer key, and how the board calls that check.

The package: :mod:`.images` (the images, online or offline), :mod:`.check` (what a check
returns, the reads checks share), the checks and answer keys by part (:mod:`.classic`,
:mod:`.after`, :mod:`.beyond`), :mod:`.setup` (what this computer needs, lesson 00 and
``swarmlab doctor``), :mod:`.run` (every lesson executed headless: ``python -m swarmlab.lessons
run``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..lab import Lab
from . import after, beyond, classic
from .check import Check
from .images import LessonImages, lesson_images
from .setup import check_setup

__all__ = ["LESSONS", "Lesson", "lesson_checks"]

#: how the board calls a check: the arguments after the lab, from the lessons' images
BoardArgs = Callable[[LessonImages], tuple[Any, ...]]


def _none(images: LessonImages) -> tuple[Any, ...]:
    return ()


@dataclass(frozen=True)
class Lesson:
    name: str  #: the notebook's name without ``.ipynb``, e.g. ``01-machines``
    part: str  #: the part of the original lab it teaches (notebooks/README.md's table)
    images: tuple[str, ...] = ()  #: the roles of the images its services run (:data:`.images.ROLES`)
    check: Callable[..., Check] | None = None  #: its check (the exercise's, or what it ends on)
    answer: Callable[..., Any] | None = None  #: the answer key of its exercise (teachers, CI)
    board: BoardArgs | None = None  #: the board runs its check with these arguments (None: not at all)

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"

    def images_of(self, images: LessonImages) -> tuple[str, ...]:
        """The images its services run, online or offline."""
        return images.of(self.images)

    def board_check(self, images: LessonImages) -> Callable[[Lab], Check] | None:
        """Its check, called as the lesson calls it with its default parameters: what the
        teacher's board runs on a learner's lab. None when the board does not run it."""
        if self.check is None or self.board is None:
            return None
        check, args = self.check, self.board(images)
        return lambda lab: check(lab, *args)


LESSONS: tuple[Lesson, ...] = (
    Lesson("00-setup-check", "what the lessons need here: a Docker engine, the node image, images for the services",
           check=check_setup),
    Lesson("01-machines", "1. machines"),
    Lesson("02-swarm", "2–3. create the swarm, add workers"),
    Lesson("03-services", "4–5. deploy, inspect and scale a service; watch it on the dashboard", ("hello",),
           classic.check_scale, classic.answer_scale, lambda im: ("helloworld", 3)),
    Lesson("04-rolling-update", "6. rolling update, failed update, rollback", ("old", "new"),
           classic.check_rollback, classic.answer_rollback, lambda im: ("redis", im.old, im.new)),
    Lesson("05-drain", "7. drain a node, bring it back", ("old",),
           classic.check_drain, classic.answer_drain, lambda im: ("worker2", "redis", im.old)),
    Lesson("06-cleanup", "5, 8. remove the services, clean up", check=classic.check_nothing_left),
    Lesson("07-high-availability",
           "after the lab: three managers, the leader killed, a new one elected; why never 2 or 4", ("hello",),
           after.check_survives_one_manager_loss, after.answer_survives_one_manager_loss, _none),
    Lesson("08-quorum",
           "after the lab: two managers lost, no change accepted, the quorum back; --force-new-cluster", ("hello",),
           after.check_quorum, after.answer_quorum, _none),
    Lesson("09-self-healing",
           "after the lab: a worker lost and its tasks started elsewhere; rebalance; a global service", ("hello",),
           after.check_rebalanced, after.answer_rebalanced, _none),
    Lesson("10-networks",
           "beyond the lab: an overlay network, services that find each other by name; VIP and DNS round-robin",
           ("whoami", "client"), beyond.check_reach, beyond.answer_reach, _none),
    Lesson("11-publishing",
           "beyond the lab: published ports, the routing mesh (and what works without IPVS), host mode",
           ("whoami",), beyond.check_every_machine_answers, beyond.answer_every_machine_answers, _none),
    Lesson("12-stacks",
           "beyond the lab: a whole app from a compose file; deploy, change and deploy again, remove",
           ("client",), beyond.check_stack_replicas, beyond.answer_stack_replicas, _none),
    Lesson("13-secrets",
           "beyond the lab: secrets and configs mounted into tasks, never shown; a rotation without downtime",
           ("client",), beyond.check_rotated, beyond.answer_rotated, _none),
    Lesson("14-scale",
           "beyond the lab: 50 machines, a service of 500 tasks spread evenly, a rack of 10 drained at once",
           ("hello",), beyond.check_drained, beyond.answer_drained,
           lambda im: ([f"worker{i}" for i in range(38, 48)], "crowd", 500)),
)


def lesson_checks(images: LessonImages | None = None) -> dict[str, Callable[[Lab], Check]]:
    """Each lesson's "now you try" check, called as the lesson calls it (with its default
    machines, services and ``images``), by lesson name: what a teacher's board runs on every
    learner's lab (:mod:`swarmlab.classroom`). 06 (nothing left of a lab) is not in it: a lab
    that is there never passes it. Each check only reads the lab."""
    im = images or lesson_images()
    found = {lesson.name: lesson.board_check(im) for lesson in LESSONS}
    return {name: check for name, check in found.items() if check is not None}
