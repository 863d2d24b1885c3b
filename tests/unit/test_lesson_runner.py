"""The lesson runner (swarmlab/lessons/run.py, ``python -m swarmlab.lessons run``): its
options, the lessons it picks, its errors before anything runs (an unknown lesson, no folder of
notebooks, papermill missing), and one notebook executed with its parameters (a real kernel,
no swarm)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from smallnb import notebook

from swarmlab import InvalidArgument
from swarmlab.lessons import LESSONS
from swarmlab.lessons.__main__ import main, parser
from swarmlab.lessons.run import LessonFailed, choose, declared_parameters, execute_lesson, lesson_folder

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = [lesson.name for lesson in LESSONS]


def test_the_options_and_their_defaults_are_the_scripts() -> None:
    _, run = parser()
    args = run.parse_args([])
    assert (args.provider, args.offline, args.lab, args.update_delay, args.out, args.lessons, args.notebooks) == \
        ("dind", None, "lessons-run", "10s", "lessons-run", "", "notebooks")
    assert run.parse_args(["--offline"]).offline is True
    assert run.parse_args(["--online"]).offline is False
    args = run.parse_args(["--provider", "qemu", "--lab", "x", "--update-delay", "1s", "--out", "o",
                           "--lessons", "01-machines", "--notebooks", "nb"])
    assert (args.provider, args.lab, args.update_delay, args.out, args.lessons, args.notebooks) == \
        ("qemu", "x", "1s", "o", "01-machines", "nb")


def test_the_lessons_chosen_run_in_class_order() -> None:
    assert [lesson.name for lesson in choose()] == NAMES
    assert [lesson.name for lesson in choose(["", ""])] == NAMES
    assert [lesson.name for lesson in choose(["08-quorum", "01-machines"])] == ["01-machines", "08-quorum"]


def test_an_unknown_lesson_is_named_with_the_lessons_there_are() -> None:
    with pytest.raises(InvalidArgument, match=r"no lesson 99-nope, zz \(lessons: 00-setup-check, 01-machines"):
        choose(["01-machines", "zz", "99-nope"])


def test_the_command_refuses_an_unknown_lesson_before_anything_runs(capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        main(["run", "--lessons", "01-machines,1-machines", "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: no lesson 1-machines (lessons: 00-setup-check" in err
    assert not (tmp_path / "out").exists()


def test_a_missing_notebooks_folder_names_the_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        main(["run", "--notebooks", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"no folder {tmp_path / 'nowhere'} of lesson notebooks" in err and "--notebooks DIR" in err
    assert not (tmp_path / "out").exists()


def test_a_folder_without_the_lessons_says_which_it_lacks(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default, ./notebooks, where no checkout is
    (tmp_path / "notebooks").mkdir()
    notebook(tmp_path / "notebooks" / "01-machines.ipynb", "pass")
    assert lesson_folder(Path("notebooks"), choose(["01-machines"])) == tmp_path / "notebooks"
    with pytest.raises(SystemExit):
        main(["run", "--lessons", "01-machines,02-swarm"])
    err = capsys.readouterr().err
    assert "notebooks is not the folder of the lesson notebooks: it has no 02-swarm.ipynb" in err
    assert "--notebooks DIR" in err
    assert lesson_folder(NOTEBOOKS) == NOTEBOOKS


def test_without_papermill_the_runner_says_which_extra_to_install(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "papermill", None)  # what an install without the extra has: no papermill
    assert main(["run", "--notebooks", str(NOTEBOOKS), "--out", str(tmp_path / "out")]) == 1
    assert "pip install 'swarmlab[notebook]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(Exception, match=r"pip install 'swarmlab\[notebook\]'"):
        execute_lesson(NOTEBOOKS / "01-machines.ipynb", tmp_path / "x.ipynb", {})


def test_every_lesson_declares_the_parameters_the_runner_always_has() -> None:
    for lesson in LESSONS:
        assert {"provider", "lab_name", "offline"} <= declared_parameters(NOTEBOOKS / lesson.notebook), lesson.name


def test_one_notebook_runs_with_its_parameters_in_its_folder(tmp_path: Path) -> None:
    (tmp_path / "here.txt").write_text("found")
    nb = notebook(tmp_path / "one.ipynb", "import pathlib\nprint(x * 2, pathlib.Path('here.txt').read_text())",
                  parameters="x = 1")
    out = tmp_path / "out" / "one.ipynb"
    out.parent.mkdir()
    done = execute_lesson(nb, out, {"x": 21}, timeout=60)
    assert done.cells[-1].outputs[0]["text"] == "42 found\n"
    assert nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"] == "42 found\n"


def test_a_failing_cell_is_named_with_its_error(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('no swarm here')", "x = 2")
    with pytest.raises(LessonFailed, match=r"^bad.ipynb: cell 1 raised ValueError: no swarm here$") as e:
        execute_lesson(nb, tmp_path / "bad-out.ipynb", {}, timeout=60)
    assert (e.value.cell, e.value.out) == (1, tmp_path / "bad-out.ipynb")
    assert e.value.out.exists()


def test_a_cell_out_of_time_is_said(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(30)")
    with pytest.raises(LessonFailed, match=r"^slow.ipynb: a cell ran out of time") as e:
        execute_lesson(nb, tmp_path / "slow-out.ipynb", {}, timeout=2)
    assert e.value.cell is None


KERNEL_SOCKETS = r'''
import os
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
mine = set()
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # the listing's own
        continue
    if target.startswith("socket:["):
        mine.add(target.removeprefix("socket:[").rstrip("]"))
tcp = []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    with open(table) as f:
        tcp += [row.split()[9] for row in f.readlines()[1:] if row.split()[3] == "0A"]
with open("/proc/net/unix") as f:  # Num RefCount Protocol Flags(0x10000: listening) Type St Inode Path
    unix = {row.split()[7] for row in f.readlines()[1:] if len(row.split()) == 8 and row.split()[6] in mine
            and int(row.split()[3], 16) & 0x10000}
ports = [app.shell_port, app.iopub_port, app.stdin_port, app.control_port, app.hb_port]
print(app.transport, app.ip, sum(1 for inode in tcp if inode in mine),
      sorted(f"{app.ip}-{p}" for p in ports) == sorted(p for p in unix if p.startswith(app.ip)))
'''


def test_lessons_kernels_take_no_tcp_port_and_share_no_socket(tmp_path: Path) -> None:
    """A lesson's kernel listens on Unix sockets of its own: no TCP port that anything else on
    the computer could take between jupyter_client's choice and the kernel's bind ("Address
    already in use" at start), and two lessons started at once in one folder do not meet."""
    from concurrent.futures import ThreadPoolExecutor

    nbs = [notebook(tmp_path / f"k{i}.ipynb", KERNEL_SOCKETS) for i in range(2)]
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda nb: execute_lesson(nb, nb.with_suffix(".out.ipynb"), {}, cwd=tmp_path,
                                                        timeout=60), nbs))
    said = [nb.cells[-1].outputs[0]["text"].split() for nb in done]
    # the five channels are Unix sockets the kernel listens on; the one TCP port left is the
    # kernel's own output pipe, chosen by binding it (zmq's bind_to_random_port: nothing in
    # between), where over TCP there are six
    assert [s[0] for s in said] == ["ipc", "ipc"] and [s[2:] for s in said] == [["1", "True"]] * 2, said
    first, second = (Path(s[1]) for s in said)
    assert first != second and first.parent == second.parent != tmp_path
    assert oct(first.parent.stat().st_mode & 0o777) == "0o700"
    # shut down, the kernels leave no socket behind, and none in the lessons' folder
    assert not list(first.parent.glob(first.name + "*")) and not list(second.parent.glob(second.name + "*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k0.ipynb", "k0.out.ipynb", "k1.ipynb", "k1.out.ipynb"]
