"""The order a whole run hands modules to the workers (tests/ordering.py): longest first by
tests/durations.json, each module's tests kept together and in their own order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_longest_modules_first_and_each_module_in_its_own_order(tmp_path: Path) -> None:
    # a copy of tests/ordering.py reads the durations beside itself
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['ordering']\n")
    (tmp_path / "ordering.py").write_text((ROOT / "tests" / "ordering.py").read_text())
    (tmp_path / "durations.json").write_text(json.dumps({"tests/test_b.py": 500, "tests/test_a.py": 1}))
    tests = tmp_path / "tests"
    tests.mkdir()
    for name in ("test_a.py", "test_b.py", "test_c.py"):
        (tests / name).write_text("def test_2(): pass\ndef test_1(): pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "tests"], cwd=tmp_path, capture_output=True, text=True)
    got = [line for line in done.stdout.splitlines() if "::" in line]
    # b (500 s), then c (unknown: 30 s), then a (1 s); inside each, the file's own order
    assert got == ["tests/test_b.py::test_2", "tests/test_b.py::test_1", "tests/test_c.py::test_2",
                   "tests/test_c.py::test_1", "tests/test_a.py::test_2", "tests/test_a.py::test_1"], done.stdout
