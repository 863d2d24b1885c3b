"""The house rules, checked: ruff (lint) over the code and tests, mypy over the package, the
import contracts (lint-imports), no import circles, and the sizes of modules and functions."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

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


# -- the layers and sizes DESIGN.md states ("Layers"), checked --------------------------------
PACKAGE = ROOT / "swarmlab"
#: the most lines a module, and a function, may have
MODULE_LINES, FUNCTION_LINES = 500, 80


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the contracts in ``root``/pyproject.toml, its ``swarmlab`` first on
    the path."""
    exe = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([str(exe), "--no-cache", "--no-logo"], cwd=root, env=env, capture_output=True,
                          text=True)


def test_import_contracts_hold() -> None:
    """The layers, a single provider imported only inside providers/, no circles between
    sibling modules or packages (pyproject.toml, [tool.importlinter])."""
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "BROKEN" not in done.stdout


def test_import_contracts_catch_a_provider_imported_from_the_lab(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "swarmlab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    lab = tmp_path / "swarmlab" / "lab.py"
    lab.write_text(lab.read_text() + "\nfrom swarmlab.providers.dind import provider  # noqa: E402,F401\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout
    said = " ".join(done.stdout.split())
    assert "a single provider is imported only inside providers/ (elsewhere: the contract and the registry) BROKEN" \
        in said, said
    assert "swarmlab.lab -> swarmlab.providers.dind.provider" in said, said


def import_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every circle of imports among the graph's modules (function-level and TYPE_CHECKING
    imports too): the strongly connected components of more than one module, each sorted."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []
    for start in edges:  # Tarjan's algorithm, without recursion
        if start in order:
            continue
        work = [(start, iter(edges[start]))]
        order[start] = low[start] = len(order)
        stack.append(start)
        while work:
            node, todo = work[-1]
            nxt = next((m for m in todo if m not in order or m in stack), None)
            if nxt is not None and nxt not in order:
                order[nxt] = low[nxt] = len(order)
                stack.append(nxt)
                work.append((nxt, iter(edges[nxt])))
                continue
            if nxt is not None:
                low[node] = min(low[node], order[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                part = stack[stack.index(node):]
                del stack[stack.index(node):]
                if len(part) > 1:
                    circles.append(sorted(part))
    return circles


def test_no_import_circles_between_modules() -> None:
    graph = grimp.build_graph("swarmlab", cache_dir=None)
    found = []
    for circle in import_circles(graph):
        found.append(" ".join(circle))
        for m in circle:
            for n in graph.find_modules_directly_imported_by(m):
                if n in circle:
                    lines = [d["line_number"] for d in graph.get_import_details(importer=m, imported=n)]
                    found.append(f"  {m} -> {n} (line {', '.join(map(str, lines))})")
    assert found == [], "\n".join(found)


def test_the_circle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"), ("p.d", "p.e"), ("p.e", "p.d")):
        graph.add_import(importer=a, imported=b)
    graph.add_module("p.f")
    assert sorted(import_circles(graph)) == [["p.a", "p.b", "p.c"], ["p.d", "p.e"]]


def too_long(source: str, where: str) -> list[str]:
    """The module (over MODULE_LINES lines) and its functions (over FUNCTION_LINES, from the
    ``def`` line to the last line) that are too long."""
    out = []
    lines = len(source.splitlines())
    if lines > MODULE_LINES:
        out.append(f"{where}: {lines} lines")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LINES:
                out.append(f"{where}:{node.lineno} {node.name}: {length} lines")
    return out


def test_no_module_over_500_lines_and_no_function_over_80() -> None:
    found = [hit for path in sorted(PACKAGE.rglob("*.py"))
             for hit in too_long(path.read_text(), path.relative_to(ROOT).as_posix())]
    assert found == [], "\n".join(found)


def test_the_size_check_counts_modules_and_functions() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    source = f"def long():\n{body}\n\n\ndef short():\n    pass\n" + "\n" * MODULE_LINES
    assert too_long(source, "m.py") == ["m.py: 585 lines", "m.py:1 long: 81 lines"]


def test_one_polling_loop_and_one_file_lock() -> None:
    """Timeouts are waited out by swarmlab._wait (``until``, ``wait_for``), never by a loop of
    its own comparing ``time.monotonic()`` with a deadline; files are locked by
    swarmlab._home.locked only."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text())
        for loop in ast.walk(tree):
            if where != "swarmlab/_wait.py" and isinstance(loop, (ast.While, ast.For)):
                compares = [c for part in (loop.test if isinstance(loop, ast.While) else loop.iter, *loop.body)
                            for c in ast.walk(part) if isinstance(c, ast.Compare)]
                if any("monotonic()" in ast.unparse(c) for c in compares):
                    found.append(f"{where}:{loop.lineno}: a deadline loop of its own")
        if where != "swarmlab/_home.py":
            found += [f"{where}:{n.lineno}: a file lock of its own" for n in ast.walk(tree)
                      if isinstance(n, (ast.Import, ast.ImportFrom))
                      and {a.name for a in n.names} & {"fcntl", "msvcrt"}]
    assert found == [], "\n".join(found)


def reaches_into_lab(source: str, where: str) -> list[str]:
    """Each ``lab._x`` or ``self._lab._x`` (an underscored part of a Lab, read from outside it)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            held = node.value
            name = held.id if isinstance(held, ast.Name) else held.attr if isinstance(held, ast.Attribute) else ""
            if name in ("lab", "_lab"):
                out.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return out


def test_nothing_outside_lab_reaches_into_its_underscored_parts() -> None:
    """DESIGN: the commands, views and front ends use a Lab through its public face only."""
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != PACKAGE / "lab.py"
             for hit in reaches_into_lab(path.read_text(), path.relative_to(ROOT).as_posix())]
    assert found == [], "\n".join(found)


def test_the_lab_check_finds_an_underscored_part() -> None:
    source = "def f(lab, self):\n    lab._manager = 1\n    return self._lab._clients, lab.name, self._lab.swarm\n"
    assert reaches_into_lab(source, "m.py") == ["m.py:2: lab._manager", "m.py:3: self._lab._clients"]
