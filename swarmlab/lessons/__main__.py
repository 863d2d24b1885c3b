"""``python -m swarmlab.lessons run``: every lesson headless, in class order, on one lab, as CI
does (:func:`swarmlab.lessons.run.run_lessons`); executed notebooks go to --out (the lab is
removed at the end; on a failure the lab is removed too, and the failing cell is named).

    python -m swarmlab.lessons run                        # Docker-in-Docker; online or offline, as swarmlab finds
    python -m swarmlab.lessons run --offline              # Docker-in-Docker, the offline images
    python -m swarmlab.lessons run --online               # Docker-in-Docker, the lessons' real images
    python -m swarmlab.lessons run --provider virtualbox  # VirtualBox VMs through docker-machine
    python -m swarmlab.lessons run --provider qemu        # real VMs on this computer (QEMU)
    python -m swarmlab.lessons run --lessons 07-high-availability,08-quorum   # only those, in order
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .._errors import InvalidArgument, SwarmlabError
from . import LESSONS, Lesson


def parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command's parser, and its ``run`` subcommand's."""
    top = argparse.ArgumentParser(prog="python -m swarmlab.lessons",
                                  description="The lessons of swarmlab, run headless as CI does.")
    sub = top.add_subparsers(dest="command", required=True, title="commands")
    ap = sub.add_parser("run", help="run the lessons headless, in class order, on one lab, as CI does")
    ap.add_argument("--provider", default="dind")
    ap.add_argument("--offline", action="store_const", const=True, default=None,
                    help="the offline images (default: swarmlab chooses, see swarmlab/_offline.py)")
    ap.add_argument("--online", dest="offline", action="store_const", const=False,
                    help="the original lab's images, pulled by the machines")
    ap.add_argument("--lab", default="lessons-run")
    ap.add_argument("--update-delay", default="10s")
    ap.add_argument("--out", default="lessons-run")
    ap.add_argument("--lessons", default="", help="only these lessons, in class order (comma-separated names)")
    ap.add_argument("--notebooks", default="notebooks", metavar="DIR",
                    help="the folder of the lesson notebooks (default: ./notebooks, a checkout's)")
    return top, ap


def _done(lesson: Lesson, ok: bool, seconds: float) -> None:
    print(f"{'✓' if ok else '✗'} {lesson.notebook} ({seconds:.0f}s)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    top, run = parser()
    args = top.parse_args(argv)
    from .run import LessonFailed, choose, lesson_folder, run_lessons

    try:
        chosen = choose(args.lessons.split(","))
    except InvalidArgument as e:
        run.error(str(e))
    try:
        lesson_folder(Path(args.notebooks), chosen)
    except InvalidArgument as e:
        run.error(f"{e}: give the folder of the lesson notebooks with --notebooks DIR")
    out = Path(args.out).resolve()
    try:
        ran = run_lessons(Path(args.notebooks), out, provider=args.provider, lab=args.lab, offline=args.offline,
                          update_delay=args.update_delay, lessons=[lesson.name for lesson in chosen], done=_done)
    except LessonFailed as e:
        print(f"failed: {e}\nexecuted notebooks: {out}/", file=sys.stderr)
        if e.cleanup:
            print(f"and {e.cleanup}", file=sys.stderr)
        return 1
    except SwarmlabError as e:
        print(f"failed: {e}", file=sys.stderr)
        return 1
    what = "every lesson" if len(ran) == len(LESSONS) else ", ".join(lesson.name for lesson in ran)
    print(f"{what} ran on provider {args.provider!r}; executed notebooks: {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
