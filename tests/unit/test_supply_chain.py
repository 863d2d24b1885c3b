"""What the project builds from and runs with: signed packages, a least-privilege workflow."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_node_image_is_built_from_signed_packages_only() -> None:
    script = (ROOT / "scripts" / "build-images").read_text()
    call = re.search(r"debootstrap --variant=minbase[^\n]*", script)
    assert call, "build-images runs debootstrap"
    assert "--force-check-gpg" in call.group(0) and "--keyring=" in call.group(0)
    assert "debian-archive-keyring" in (ROOT / "scripts" / "setup").read_text()


def test_the_workflow_reads_only_and_keeps_no_credentials() -> None:
    for wf in (ROOT / ".github" / "workflows").glob("*.yml"):
        doc = yaml.safe_load(wf.read_text())
        assert doc.get("permissions") == {"contents": "read"}, wf.name
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout"):
                    assert step.get("with", {}).get("persist-credentials") is False, wf.name


def test_the_workflow_runs_lesson_14_alone() -> None:
    """Lesson 14 at its full size (50 machines) fills a computer: a step that runs lessons runs
    it alone, as scripts/test does, never beside the other lesson modules."""
    scale = "tests/notebooks/test_scale_lesson.py"
    runs = [str(step.get("run", "")) for wf in (ROOT / ".github" / "workflows").glob("*.yml")
            for job in yaml.safe_load(wf.read_text())["jobs"].values() for step in job["steps"]]
    lessons = [r for r in runs if "scripts/test" in r and "tests/notebooks" in r]
    assert lessons, runs
    for run in lessons:
        words = run.split()
        alone = scale in words and not [w for w in words if w.startswith("tests/") and w != scale]
        assert alone or f"--ignore={scale}" in words, run
    assert any(scale in r.split() for r in lessons), lessons
