"""The house rules, checked: ruff (lint) over the code and tests, mypy over the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing() -> None:
    done = run("ruff", "check", "swarmlab", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing_in_the_package() -> None:
    # a cache per Python: scripts/test-pythons runs the versions side by side, and mypy's
    # cache is not safe to share between processes of different versions
    cache = ROOT / ".mypy_cache" / f"py{sys.version_info[0]}.{sys.version_info[1]}"
    done = run("mypy", "--cache-dir", str(cache), "swarmlab")
    assert done.returncode == 0, done.stdout + done.stderr
