"""The lessons' "now you try" checks and answer keys, the images each lesson uses, and the
setup check, under the one name the lessons import (``from swarmlab import exercises as ex``).
They live in :mod:`swarmlab.lessons`, by part; this module only gathers them::

    from swarmlab import exercises as ex
    ex.check_scale(lab, "helloworld", 3)        # docker service inspect / service ps on the manager
    ex.check_rollback(lab, "redis", "redis:7.2", "redis:7.4")
    ex.check_drain(lab, "worker2", "redis")
    ex.check_nothing_left("tutorial")           # label query on this computer's engine

A check never raises for an unfinished exercise: it returns a :class:`Check` that is falsy and
lists what is missing, so a learner can run it as often as they like, and its hint is a step
that works from the state it found (after Run All, after an exercise done twice, after a cell
run out of order). The answer keys (``answer_scale`` ...) live in swarmlab, not in the lessons:
a lesson runs them only when its ``solve`` parameter is True (teachers, CI).
"""

from __future__ import annotations

from .lessons import lesson_checks
from .lessons.after import (
    answer_quorum,
    answer_rebalanced,
    answer_survives_one_manager_loss,
    check_quorum,
    check_rebalanced,
    check_survives_one_manager_loss,
)
from .lessons.beyond import (
    answer_drained,
    answer_every_machine_answers,
    answer_reach,
    answer_rotated,
    answer_stack_replicas,
    ask_every_machine,
    check_drained,
    check_every_machine_answers,
    check_reach,
    check_rotated,
    check_stack_replicas,
)
from .lessons.check import AGAIN, CATCH_UP, Check
from .lessons.classic import (
    answer_drain,
    answer_rollback,
    answer_scale,
    check_drain,
    check_nothing_left,
    check_rollback,
    check_scale,
)
from .lessons.images import OFFLINE, ONLINE, LessonImages, lesson_images
from .lessons.setup import check_setup, on_binder

__all__ = [
    "AGAIN",
    "CATCH_UP",
    "OFFLINE",
    "ONLINE",
    "Check",
    "LessonImages",
    "answer_drain",
    "answer_drained",
    "answer_every_machine_answers",
    "answer_quorum",
    "answer_reach",
    "answer_rebalanced",
    "answer_rollback",
    "answer_rotated",
    "answer_scale",
    "answer_stack_replicas",
    "answer_survives_one_manager_loss",
    "ask_every_machine",
    "check_drain",
    "check_drained",
    "check_every_machine_answers",
    "check_nothing_left",
    "check_quorum",
    "check_reach",
    "check_rebalanced",
    "check_rollback",
    "check_rotated",
    "check_scale",
    "check_setup",
    "check_stack_replicas",
    "check_survives_one_manager_loss",
    "lesson_checks",
    "lesson_images",
    "on_binder",
]
