"""A learner's first hour, timed: from ``scripts/lessons --offline`` to JupyterLab answering,
then each lesson opened in a real browser (headless Debian chromium, Playwright) and run with
Run All, in order, as a learner would on the first day.

    .venv/bin/python benchmarks/first_hour.py            # every lesson, 00 to 06
    .venv/bin/python benchmarks/first_hour.py --rounds 2

The lessons are copies (in a temporary folder served through ``SWARMLAB_LESSONS_DIR``) whose
parameters cell names a lab of the benchmark's own, so a learner's ``tutorial`` lab and the
committed notebooks are left alone; every other parameter is the learner's default (offline
images from ``--offline``, the 10 s update delay of lesson 04). 06 removes the lab; it is
removed again at the end in any case. The figures are single runs on whatever else the
machine is doing: compare them with each other, not across machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from jlab import JupyterLab, Lab, chromium, isolated_env, lesson_copy  # noqa: E402

import swarmlab as sl  # noqa: E402

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # 127.0.0.1 only
            return bool(r.status == 200)
    except OSError:
        return False


def one_round(tmp: Path) -> dict[str, float]:
    lab_name = f"first-{uuid.uuid4().hex[:6]}"
    root = tmp / "lessons"
    root.mkdir()
    for src in LESSONS:
        lesson_copy(src, root / src.name, lab_name=lab_name)
    env = isolated_env(tmp, every_cell_rendered=False, CI="true", SWARMLAB_LESSONS_DIR=str(root))
    env.pop("SWARMLAB_OFFLINE", None)  # --offline sets it, as for a learner
    server = JupyterLab(root, tmp, env, command=[str(ROOT / "scripts" / "lessons"), "--offline"])
    env["PORT"] = str(server.port)
    figures: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        server.start(timeout=600)
        while not http_ok(f"http://127.0.0.1:{server.port}/lab?token={server.token}"):
            time.sleep(0.1)
        figures["scripts/lessons --offline to JupyterLab answering"] = time.monotonic() - t0
        with chromium(1280, 900) as page:
            lab = Lab(server, page)
            for src in LESSONS:
                t = time.monotonic()
                lab.open(src.name)
                figures[f"{src.stem}: open, kernel ready"] = time.monotonic() - t
                figures[f"{src.stem}: Run All"] = lab.run_all(timeout=900)
                errors = lab.errors()
                if errors:
                    raise RuntimeError(f"{src.name}: {errors}")
        figures["total"] = time.monotonic() - t0
    finally:
        server.stop()
        sl.Lab(lab_name, provider="dind", progress=False).destroy()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    rounds = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="swarmlab-first-hour-") as tmp:
            rounds.append(one_round(Path(tmp)))
    print(f"first hour, {args.rounds} round(s), median seconds:")
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"  {key:<55} {statistics.median(values):7.1f}"
              + (f"   (all: {', '.join(f'{v:.1f}' for v in values)})" if len(values) > 1 else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(rounds, indent=1))


if __name__ == "__main__":
    main()
