"""The teacher's board runs each lesson's "now you try" check as the lesson calls it
(``exercises.lesson_checks``): the same check, with the same arguments, as the lesson's own
check cell with its default parameters. A lesson whose check changes (another service name,
another node) without the board's changes fails here."""

from __future__ import annotations

import ast
import inspect
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import swarmlab.lessons as lessons
from swarmlab import exercises as ex
from swarmlab.lessons import LESSONS
from swarmlab.lessons.images import ROLES

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LAB = object()  # what the lesson passes as its lab


def _cells(notebook: str) -> list[dict[str, Any]]:
    return [c for c in json.loads((NOTEBOOKS / notebook).read_text())["cells"] if c["cell_type"] == "code"]


def _calls_in_lesson(notebook: str, images: ex.LessonImages) -> list[tuple[str, tuple[Any, ...]]]:
    """The ``ex.check_...(...)`` calls of the lesson's code cells, their arguments evaluated
    with the lesson's default parameters (its parameters cell and plain assignments)."""
    names: dict[str, Any] = {"images": images, "lab": LAB}
    calls = []
    for cell in _cells(notebook):
        # IPython's magics (%docker, %load_ext) are no Python: each read as a pass
        source = "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!"))
                           else line for line in "".join(cell["source"]).splitlines())
        tree = ast.parse(source)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            exec(compile(tree, notebook, "exec"), {}, names)  # noqa: S102 - our own lesson's parameters
            continue
        for node in tree.body:  # e.g. lesson 14's rack = [f"worker{i}" for i in ...]
            if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                try:
                    value = eval(compile(ast.Expression(node.value), notebook, "eval"), {}, dict(names))  # noqa: S307
                except Exception:  # noqa: BLE001 - a value from the lab (lab.up(...)): not a default
                    continue
                for t in node.targets:
                    names[t.id] = value  # type: ignore[attr-defined]
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "ex"
                    and node.func.attr.startswith("check_")
                    and node.func.attr not in ("check_setup", "check_nothing_left")):
                args = tuple(eval(compile(ast.Expression(a), notebook, "eval"), {}, dict(names))  # noqa: S307
                             for a in node.args)
                calls.append((node.func.attr, args))
    return calls


@pytest.mark.parametrize("offline", [False, True])
def test_the_board_runs_each_lessons_check_as_the_lesson_does(offline: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    images = ex.lesson_images(offline)
    board_calls: list[tuple[str, tuple[Any, ...]]] = []
    real = {n: getattr(ex, n) for n in dir(ex) if n.startswith("check_")}

    def bound(name: str, args: tuple[Any, ...]) -> dict[str, Any]:
        """The call with the check's own defaults filled in for what it leaves out."""
        b = inspect.signature(real[name]).bind(*args)
        b.apply_defaults()
        return dict(b.arguments)

    def spy(name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            assert not kwargs, f"{name} called with keywords {kwargs}: the lessons pass arguments by position"
            board_calls.append((name, args))
        return record

    # each lesson's record with its check replaced by a spy: what the board calls, and how
    monkeypatch.setattr(lessons, "LESSONS", tuple(
        replace(lesson, check=spy(lesson.check.__name__)) if lesson.check else lesson for lesson in LESSONS))
    checks = ex.lesson_checks(images)
    by_notebook = {lesson.notebook: lesson.name for lesson in LESSONS}
    compared = []
    for notebook, lesson in sorted(by_notebook.items()):
        in_lesson = _calls_in_lesson(notebook, images)
        if lesson not in checks:
            assert lesson in ("00-setup-check", "01-machines", "02-swarm", "06-cleanup"), (lesson, in_lesson)
            continue
        assert len(in_lesson) == 1, (lesson, in_lesson)
        board_calls.clear()
        checks[lesson](LAB)  # type: ignore[arg-type]
        name, args = in_lesson[0]
        assert len(board_calls) == 1 and board_calls[0][0] == name, (lesson, board_calls, in_lesson)
        assert bound(name, board_calls[0][1]) == bound(name, args), lesson
        compared.append(lesson)
    assert sorted(compared) == sorted(checks)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_each_lessons_record_names_the_check_answer_and_images_its_notebook_uses(lesson: Any) -> None:
    """A lesson's record (swarmlab.lessons.LESSONS) says what its notebook calls: its check,
    its answer key, the roles of the images its services run; the lessons reach each of them
    as ``ex.NAME`` (swarmlab.exercises)."""
    text = "".join("".join(c["source"]) for c in _cells(lesson.notebook))
    checks = set(re.findall(r"\bex\.(check_\w+)\(", text))
    answers = set(re.findall(r"\bex\.(answer_\w+)\(", text))
    assert (lesson.check.__name__ in checks) if lesson.check else not checks, (lesson.name, checks)
    assert answers == ({lesson.answer.__name__} if lesson.answer else set()), (lesson.name, answers)
    assert set(lesson.images) == set(re.findall(r"\bimages\.(\w+)\b", text)) & set(ROLES), lesson.name
    for f in (lesson.check, lesson.answer):
        assert f is None or getattr(ex, f.__name__) is f
