"""The progress bar a step shows while it waits is a widget in a notebook (tqdm's), whose
labels JupyterLab renders as HTML: every value it is ever given must be escaped text, from the
first one on. Checked in a real kernel, recording every value the bar's HTML widgets take."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from swarmlab.lessons.kernel import KERNEL_MANAGER

CELL = '''
import traitlets
import tqdm.notebook as tn

seen = []

class Recording(tn.HTML):
    @traitlets.observe("value")
    def _seen(self, change):
        seen.append(change["new"])

tn.HTML = Recording
from swarmlab._wait import Bar, Progress

bar = Bar(True, '<img src=x onerror="alert(1)"> service & scale')
bar.update(Progress(False, 1, 3, "<b>2 tasks</b> starting"))
print(isinstance(bar._bar, tn.tqdm_notebook))
print(repr(seen))
'''


def test_every_label_the_bar_shows_is_escaped(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", kernel_manager_class=KERNEL_MANAGER,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    module, values = printed.strip().splitlines()[-2:]
    assert module == "True"  # the widget bar (tqdm.notebook), as in JupyterLab
    seen = ast.literal_eval(values)
    assert any("&lt;img" in v for v in seen) and any("&lt;b&gt;2" in v for v in seen), seen
    assert not [v for v in seen if "<img" in v or "<b>" in v], seen
    assert any("service\u2007&amp;\u2007scale" in v for v in seen)  # escaped once, not twice
