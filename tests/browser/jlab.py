"""JupyterLab in a real browser, for the browser tier and the first-hour benchmark.

:class:`JupyterLab` runs ``jupyter lab`` on 127.0.0.1 with a token and throwaway config, data
and runtime folders; :class:`Lab` drives one JupyterLab page in Debian's chromium through
Playwright: open a notebook, run cells or Run All, save, reload, switch theme, and read what
is on screen (computed styles, contrast). The browser may only talk to that JupyterLab.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answering(port: int) -> bool:
    """True once something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def isolated_env(tmp: Path, every_cell_rendered: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a JupyterLab of its own: config, data (the notebook trust database),
    runtime and IPython folders under ``tmp``; swarmlab importable from this checkout.

    ``every_cell_rendered``: JupyterLab skips rendering cells out of view by default
    (``content-visibility: auto``), which hides their text from the page; the tests turn that
    off (``windowingMode: none``) so that every output can be read and measured."""
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        # the settings scripts/lessons gives learners (widget state saved with the notebook)
        "JUPYTER_CONFIG_PATH": str(ROOT / "scripts" / "jupyter"),
    })
    env.update(extra)
    # no "get notified about Jupyter news?" pop-up over the notebook (nor a request for news)
    labconfig = tmp / "config" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    if every_cell_rendered:
        settings = tmp / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    return env


#: is the theme's stylesheet applied? The brightness (0-765) of the colour the theme gives the
#: page's background (``--jp-layout-color0``), resolved by the browser
THEME_APPLIED = """(light) => {
  const v = getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim();
  if (!v) return false;
  const probe = document.createElement('div');
  probe.style.color = v;
  document.body.appendChild(probe);
  const rgb = getComputedStyle(probe).color.match(/\\d+/g).slice(0, 3).map(Number);
  probe.remove();
  const brightness = rgb[0] + rgb[1] + rgb[2];
  return light ? brightness > 382 : brightness < 382;
}"""


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1:port serving ``root``; ``stop()`` ends it and its kernels.

    ``command`` replaces the default ``jupyter lab`` command line (the benchmark runs
    ``scripts/lessons``, which reads the port from ``$PORT``); the token and the settings the
    tests rely on are appended to it."""

    def __init__(self, root: Path, tmp: Path, env: dict[str, str] | None = None,
                 command: list[str] | None = None) -> None:
        self.root, self.tmp = root, tmp
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log_path = tmp / "jupyter.log"
        self.env = env or isolated_env(tmp)
        self.command = command or [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
            f"--port={self.port}", "--allow-root", f"--ServerApp.root_dir={root}"]
        self.command += [f"--IdentityProvider.token={self.token}", "--ServerApp.port_retries=0",
                         "--LabApp.expose_app_in_browser=True"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> float:
        """Start it; returns the seconds until its port answered."""
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - kept open for the server's life
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                break
            if answering(self.port):
                return time.monotonic() - t0
            time.sleep(0.2)
        raise RuntimeError("jupyter lab did not start:\n" + self.log_text()[-3000:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?token={self.token}"

    def stop(self) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.log.close()
        self.proc = None


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Debian chromium page (Playwright), closed afterwards."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian chromium is missing: scripts/setup --tests installs it")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


# JavaScript run in the page -----------------------------------------------------------------

_CURRENT = "window.jupyterapp.shell.currentWidget"

KERNEL_IDLE = f"""() => {{ const w = window.jupyterapp && {_CURRENT};
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle'; }}"""

#: Every code cell has run (or a cell failed and Run All stopped) and the kernel is idle.
ALL_RUN = f"""() => {{ const w = {_CURRENT}; if (!w || !w.content) return false;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  if (!k || k.status !== 'idle') return false;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  return failed || cells.every(c => c.model.executionCount !== null); }}"""

#: WCAG 2 contrast of every visible text in the elements matching a selector, from computed
#: colours: the text's colour and its backdrop, each composed through every ancestor's
#: background and opacity (SVG text by its fill). Returns [{text, fg, bg, ratio, where}].
CONTRAST = r"""(selector) => {
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => { const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const mix = (under, inner, t) => [0, 1, 2].map(i => inner[i] * t + under[i] * (1 - t)).concat([1]);
  const lum = (c) => { const f = (v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const chain = (el) => { const out = []; for (let e = el; e; e = e.parentElement) out.unshift(e);
    return out; };
  const render = (els, i, under, fg) => {
    const cs = getComputedStyle(els[i]);
    const bg = els[i] instanceof SVGElement ? [0, 0, 0, 0] : parse(cs.backgroundColor);
    const here = over(bg, under);
    const inner = i + 1 < els.length ? render(els, i + 1, here, fg) : (fg ? over(fg, here) : here);
    return mix(under, inner, Number(cs.opacity));
  };
  const seen = new Set(); const out = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement; const text = n.textContent.trim();
      if (!text || !el || seen.has(n)) continue; seen.add(n);
      if (!el.checkVisibility({visibilityProperty: true})) continue;
      const r = document.createRange(); r.selectNodeContents(n);
      if (!r.getClientRects().length) continue;
      const cs = getComputedStyle(el);
      const fg = parse(el instanceof SVGElement ? cs.fill : cs.color);
      const els = chain(el); const white = [255, 255, 255, 1];
      const t = render(els, 0, white, fg), b = render(els, 0, white, null);
      out.push({text: text.slice(0, 40), fg: t.slice(0, 3).map(Math.round),
                bg: b.slice(0, 3).map(Math.round), ratio: Math.round(ratio(t, b) * 100) / 100,
                where: (el.className && el.className.baseVal !== undefined ? el.className.baseVal
                        : el.className) || el.tagName});
    }
  }
  return out;
}"""


class Lab:
    """One JupyterLab page: open notebooks, run cells, save, reload, read what is shown."""

    def __init__(self, server: JupyterLab, page: Any) -> None:
        self.server, self.page = server, page
        prefix = f"http://127.0.0.1:{server.port}/"
        # the browser may talk to this JupyterLab only
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith(prefix)
                   or route.request.url.startswith(("data:", "blob:")) else route.abort())

    def open(self, notebook: str, timeout: float = 120, kernel: bool = True) -> None:
        """Open a notebook (the only tab) and wait until it shows; with ``kernel``, also until
        its kernel is idle (running cells before that pops up a kernel dialog)."""
        loaded = self.page.evaluate("() => !!(window.jupyterapp && window.jupyterapp.shell)")
        if not loaded:
            self.page.goto(self.server.url(notebook))
        else:
            self.page.evaluate(
                "async (p) => { await window.jupyterapp.commands.execute('docmanager:save-all');"
                " await window.jupyterapp.commands.execute('application:close-all');"
                " window.jupyterapp.commands.execute('docmanager:open', {path: p}); }", notebook)
        self.page.wait_for_function(
            f"(p) => {{ const w = window.jupyterapp && {_CURRENT};"
            " return !!w && !!w.context && w.context.path === p && w.context.isReady"
            " && w.content.widgets.length > 0; }", arg=notebook, timeout=timeout * 1000)
        if kernel:
            self.page.wait_for_function(KERNEL_IDLE, timeout=timeout * 1000)

    def shutdown_kernels(self) -> None:
        """Close every tab and shut down every kernel this JupyterLab runs."""
        self.page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save-all');"
                           " await window.jupyterapp.commands.execute('application:close-all');"
                           " await window.jupyterapp.serviceManager.sessions.shutdownAll(); }")

    def reload(self, timeout: float = 90) -> None:
        self.page.reload()
        self.page.wait_for_function(KERNEL_IDLE, timeout=timeout * 1000)

    def js(self, body: str, arg: Any = None) -> Any:
        """Evaluate ``(arg) => { body }`` with ``nb`` the current notebook panel."""
        return self.page.evaluate(f"(arg) => {{ const nb = {_CURRENT}; {body} }}", arg)

    def cell_ids(self) -> list[str]:
        return list(self.js("return nb.content.widgets.map(c => c.model.id);"))

    def index(self, cell_id: str) -> int:
        return self.cell_ids().index(cell_id)

    def run(self, cell_id: str, timeout: float = 180) -> None:
        """Run one cell (as Shift-Enter does) and wait until it has run."""
        i = self.index(cell_id)
        before = self.js("return nb.content.widgets[arg].model.executionCount;", i)
        # fire and forget: the command's promise does not resolve with the cell
        self.js("nb.content.activeCellIndex = arg;"
                " window.jupyterapp.commands.execute('notebook:run-cell');", i)
        self.page.wait_for_function(
            f"([i, before]) => {{ const c = {_CURRENT}.content.widgets[i].model;"
            " return c.executionCount !== null && c.executionCount !== before; }",
            arg=[i, before], timeout=timeout * 1000)
        self.page.wait_for_function(KERNEL_IDLE, timeout=timeout * 1000)

    def run_all(self, timeout: float = 600) -> float:
        """Run All (the menu's Run ▸ Run All Cells); returns the seconds until every cell ran."""
        t0 = time.monotonic()
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        self.page.wait_for_timeout(500)
        self.page.wait_for_function(ALL_RUN, timeout=timeout * 1000, polling=250)
        return time.monotonic() - t0

    def errors(self) -> list[dict[str, Any]]:
        """Error outputs of the current notebook: [{cell, ename, evalue}]."""
        return list(self.js(
            "const out = []; nb.content.widgets.forEach(c => { if (c.model.type !== 'code') return;"
            " c.model.outputs.toJSON().forEach(o => { if (o.output_type === 'error')"
            " out.push({cell: c.model.id, ename: o.ename, evalue: o.evalue}); }); }); return out;"))

    def set_source(self, cell_id: str, source: str) -> None:
        self.js("const c = nb.content.widgets.find(c => c.model.id === arg[0]);"
                " c.model.sharedModel.setSource(arg[1]);", [cell_id, source])

    def add_cell(self, source: str) -> str:
        """Append a code cell at the end; returns its id."""
        return str(self.js(
            "nb.content.activeCellIndex = nb.content.widgets.length - 1;"
            " window.jupyterapp.commands.execute('notebook:insert-cell-below');"
            " const c = nb.content.widgets[nb.content.widgets.length - 1];"
            " c.model.sharedModel.setSource(arg); return c.model.id;", source))

    def output_text(self, cell_id: str) -> str:
        """What a cell's output area shows, as text on screen."""
        return str(self.js(
            "const c = nb.content.widgets.find(c => c.model.id === arg);"
            " return Array.from(c.node.querySelectorAll('.jp-OutputArea-output'))"
            ".map(o => o.innerText).join('\\n');", cell_id))

    def output(self, cell_id: str) -> Any:
        """The cell's output area as a Playwright locator."""
        i = self.index(cell_id)
        return self.page.locator(".jp-Notebook .jp-Cell").nth(i).locator(".jp-OutputArea")

    def trusted(self) -> list[bool]:
        """Whether each code cell with outputs is trusted (its HTML keeps styles)."""
        return list(self.js(
            "return nb.content.widgets.filter(c => c.model.type === 'code'"
            " && c.model.outputs.length).map(c => c.model.trusted);"))

    def save(self) -> None:
        self.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        self.page.wait_for_function(f"() => !{_CURRENT}.context.model.dirty", timeout=30_000)

    def theme(self, name: str) -> None:
        """Switch to 'JupyterLab Light' or 'JupyterLab Dark' and wait until it applies."""
        light = "true" if "Light" in name else "false"
        self.page.evaluate(
            "(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", name)
        self.page.wait_for_function(
            "(l) => document.body.dataset.jpThemeLight === l", arg=light, timeout=30_000)
        # the theme's stylesheet applies after the attribute: wait until the page's background
        # colour is the theme's (light: bright, dark: dim)
        self.page.wait_for_function(THEME_APPLIED, arg=light == "true", timeout=30_000)

    def contrast(self, selector: str) -> list[dict[str, Any]]:
        return list(self.page.evaluate(CONTRAST, selector))

    def style(self, selector: str, *props: str) -> list[dict[str, str]]:
        """Computed style properties of every element matching ``selector``."""
        return list(self.page.evaluate(
            "([sel, props]) => Array.from(document.querySelectorAll(sel)).map(e => {"
            " const cs = getComputedStyle(e); const r = e.getBoundingClientRect();"
            " const o = {width: r.width, left: r.left, right: r.right, top: r.top};"
            " props.forEach(p => o[p] = cs.getPropertyValue(p)); return o; })",
            [selector, list(props)]))


def lesson_copy(src: Path, dest: Path, **parameters: Any) -> Path:
    """A copy of a lesson whose parameters cell sets ``parameters`` (what a teacher would type
    there), so a test runs the lesson as a learner would, on a lab of its own."""
    nb = json.loads(src.read_text())
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            lines = "".join(cell["source"]).splitlines()
            for name, value in parameters.items():
                text = f"{name} = {value!r}"
                hits = [i for i, line in enumerate(lines) if line.startswith(f"{name} = ")]
                if hits:
                    lines[hits[0]] = text
                else:
                    lines.append(text)
            cell["source"] = "\n".join(lines) + "\n"
    dest.write_text(json.dumps(nb, indent=1))
    return dest
