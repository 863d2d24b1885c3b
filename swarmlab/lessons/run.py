"""Every lesson executed headless, in class order, on one lab, as CI does: a teacher's proof
that the lessons work on their machines (``python -m swarmlab.lessons run``, scripts/run-lessons).

    from swarmlab.lessons.run import run_lessons, execute_lesson

    run_lessons(Path("notebooks"), Path("lessons-run"), offline=True, lessons=["01-machines"])
    nb = execute_lesson(Path("notebooks/03-services.ipynb"), Path("/tmp/03.ipynb"),
                        {"lab_name": "t", "offline": True, "solve": True})

Each lesson is passed only the parameters its ``parameters`` cell declares. A failure names
the lesson and the cell (:class:`LessonFailed`); the lab is removed at the end of a run, and
after a failure too. papermill (and nbclient under it) come with ``swarmlab[notebook]``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import InvalidArgument, SwarmlabError
from ..lab import Lab
from . import LESSONS, Lesson

__all__ = ["LessonFailed", "choose", "declared_parameters", "execute_lesson", "lesson_folder", "run_lessons"]

#: what a lesson's cell may take before the run calls it stuck (lesson 14 makes 50 machines)
CELL_TIMEOUT = 1800


class LessonFailed(SwarmlabError):
    """A lesson raised in one of its cells (``cell`` its index), or a cell ran out of time
    (``cell`` None). The executed notebook, up to that cell, is where the run wrote it."""

    def __init__(self, notebook: str, cell: int | None, why: str, out: Path) -> None:
        self.notebook, self.cell, self.why, self.out = notebook, cell, why, out
        self.cleanup = ""  #: what went wrong removing the lab afterwards, if anything did
        where = f"cell {cell} raised " if cell is not None else "a cell ran out of time "
        super().__init__(f"{notebook}: {where}{why}")


def _papermill() -> tuple[Any, type[BaseException]]:
    """papermill, and nbclient's error for a cell out of time: the ``notebook`` extra."""
    try:
        import papermill
        from nbclient.exceptions import CellTimeoutError
    except ImportError as e:
        raise SwarmlabError(f"the lesson runner needs papermill and nbclient ({e}): "
                            "pip install 'swarmlab[notebook]'") from e
    return papermill, CellTimeoutError


def choose(names: Iterable[str] = ()) -> list[Lesson]:
    """The lessons of these names, in class order (every lesson when none is named)."""
    only = [n for n in names if n]
    unknown = sorted(set(only) - {lesson.name for lesson in LESSONS})
    if unknown:
        known = ", ".join(lesson.name for lesson in LESSONS)
        raise InvalidArgument(f"no lesson {', '.join(unknown)} (lessons: {known})")
    return [lesson for lesson in LESSONS if not only or lesson.name in only]


def lesson_folder(folder: Path, lessons: Sequence[Lesson] = LESSONS) -> Path:
    """The folder of the lesson notebooks, resolved; an error when it lacks one of ``lessons``."""
    path = Path(folder).resolve()
    if not path.is_dir():
        raise InvalidArgument(f"there is no folder {folder} of lesson notebooks")
    missing = [lesson.notebook for lesson in lessons if not (path / lesson.notebook).is_file()]
    if missing:
        raise InvalidArgument(f"{folder} is not the folder of the lesson notebooks: it has no {', '.join(missing)}")
    return path


def declared_parameters(notebook: Path) -> set[str]:
    """The names a lesson's ``parameters`` cell declares."""
    pm, _ = _papermill()
    return set(pm.inspect_notebook(str(notebook)))


def execute_lesson(notebook: Path, out: Path, parameters: Mapping[str, Any], *, cwd: Path | None = None,
                   timeout: int = CELL_TIMEOUT, start_timeout: int = 60, kernel: str = "python3") -> Any:
    """Execute one lesson notebook with papermill, ``parameters`` injected as they are, in
    ``cwd`` (default: the notebook's folder), and write it to ``out``; returns the executed
    notebook (an ``nbformat.NotebookNode``). A cell that raises or runs out of ``timeout``
    seconds raises :class:`LessonFailed` (``out`` then holds the notebook up to that cell)."""
    pm, cell_timeout = _papermill()
    from .kernel import KERNEL_MANAGER

    notebook, out = Path(notebook), Path(out)
    try:
        return pm.execute_notebook(str(notebook), str(out), parameters=dict(parameters), kernel_name=kernel,
                                   kernel_manager_class=KERNEL_MANAGER,
                                   cwd=str(cwd or notebook.parent), progress_bar=False,
                                   execution_timeout=timeout, start_timeout=start_timeout)
    except pm.PapermillExecutionError as e:
        raise LessonFailed(notebook.name, e.cell_index, f"{e.ename}: {e.evalue}", out) from e
    except cell_timeout as e:
        raise LessonFailed(notebook.name, None, f"({e})", out) from e


def run_lessons(notebooks: Path, out: Path, *, provider: str = "dind", lab: str = "lessons-run",
                offline: bool | None = None, update_delay: str = "10s", lessons: Iterable[str] = (),
                timeout: int = CELL_TIMEOUT,
                done: Callable[[Lesson, bool, float], None] | None = None) -> list[Lesson]:
    """Execute the lessons (``lessons``: these names only; every lesson by default) in class
    order on one lab ``lab`` of ``provider``, with the answer keys on (``solve``), each written
    to ``out``; ``done(lesson, ok, seconds)`` after each. Returns the lessons run. The lab is
    removed at the end, and after a failure, which raises :class:`LessonFailed` (its
    ``cleanup`` says if removing the lab failed too)."""
    _papermill()  # before anything is made: without it no lesson can run
    chosen = choose(lessons)
    folder = lesson_folder(notebooks, chosen)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    params = {"provider": provider, "lab_name": lab, "offline": offline, "solve": True, "update_delay": update_delay}
    try:
        for lesson in chosen:
            _run_one(folder / lesson.notebook, out, params, timeout, lesson, done)
    except LessonFailed as e:
        e.cleanup = _remove_lab(lab, provider)
        raise
    except BaseException:
        _remove_lab(lab, provider)
        raise
    # the last lessons leave their lab running for the learner: the run removes it
    Lab(lab, provider=provider).destroy()
    return chosen


def _run_one(notebook: Path, out: Path, params: Mapping[str, Any], timeout: int, lesson: Lesson,
             done: Callable[[Lesson, bool, float], None] | None) -> None:
    """One lesson, passed only the parameters it declares; ``done`` told how it went."""
    start = time.monotonic()
    ok = False
    try:
        declared = declared_parameters(notebook)
        execute_lesson(notebook, out / notebook.name, {k: v for k, v in params.items() if k in declared},
                       timeout=timeout)
        ok = True
    finally:
        if done is not None:
            done(lesson, ok, time.monotonic() - start)


def _remove_lab(name: str, provider: str) -> str:
    """Remove the lab after a failure; what went wrong doing so ('' when nothing did)."""
    try:
        Lab(name, provider=provider).destroy()
    except SwarmlabError as e:
        return f"removing lab {name!r} failed: {e}"
    return ""
