"""Every notebook, run in a real browser: JupyterLab 4 driven by headless Chromium.

One JupyterLab server (module fixture) serves a temporary copy of notebooks/ with the outputs
cleared, so the committed notebooks are never touched and every output on the page comes from
this run. For each notebook, one page: Run All (through the Run menu), then check that

* no cell raised (error outputs, read back from the saved copy) and every cell ran;
* every figure is an image that decodes (naturalWidth > 0), none is a bare ``<Figure ...>`` text;
* no widget shows an error ("Error displaying widget", the ipywidgets error view, a widget-manager
  error in the browser console, an uncaught page error);
* moving the first explorer's first control (slider: ArrowRight on the focused handle; dropdown:
  another option; checkbox: a click) replaces the figure under it.

A full-height screenshot of each notebook goes to screenshots/<notebook>.png (git-ignored), and
per-notebook timings to screenshots/durations.json. The kernel is shut down after each notebook
and the server (with any kernel left) is stopped whatever happens.

Needs Playwright for Python and Debian's Chromium (/usr/bin/chromium, or $CHROMIUM); without
them the module is skipped, unless REQUIRE_BROWSER_TEST=1 (CI), where that is an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SCREENSHOTS = REPO / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium tries to reach Google and, on a closed
# network, connections are refused; a fresh user-data-dir comes from Playwright's launch().
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}

SERVER_START_TIMEOUT_S = 90
KERNEL_READY_TIMEOUT_S = 120
RUN_ALL_TIMEOUT_S = 300  # one notebook; measured 8-50 s on two cores shared with other jobs
REDRAW_TIMEOUT_S = 60  # one explorer redraw after a control moves
RENDER_TIMEOUT_S = 30  # widgets render, and images decode, after their outputs arrive
SETTLE_S = 1.5  # the kernel must stay idle, with nothing queued, this long to count as done
KERNEL_SETTLE_S = 2.0  # a freshly opened notebook's kernel must stay idle this long before Run All

# JupyterLab settings for the test server only: every cell rendered (no windowing, so cells off
# screen exist in the DOM and the screenshot shows them), and no news/update toasts.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none", "scrollPastEnd": False},
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _missing_requirement() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set $CHROMIUM)"
    return None


_MISSING = _missing_requirement()
if _MISSING:
    if os.environ.get("REQUIRE_BROWSER_TEST") == "1":
        raise RuntimeError(f"REQUIRE_BROWSER_TEST=1 but {_MISSING}")
    pytest.skip(f"browser test skipped: {_MISSING}", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

# --------------------------------------------------------------------------- the server


class LabServer:
    def __init__(self, process: subprocess.Popen, port: int, token: str, root: Path, log: Path):
        self.process = process
        self.port = port
        self.token = token
        self.root = root
        self.log = log

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            self.url(path), method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def shut_down_kernels(self, notebook: str | None = None) -> None:
        """Delete the sessions (and so the kernels) of one notebook, or of all of them."""
        for session in self.api("GET", "/api/sessions"):
            if notebook is None or session["path"] == notebook:
                self.api("DELETE", f"/api/sessions/{session['id']}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy_without_outputs(source: Path, target: Path) -> None:
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook["metadata"].pop("widgets", None)
    target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")


def _die_with_parent_hook():
    """A pre-exec hook that makes the server get SIGTERM if pytest dies (Linux), else None.

    Resolved here, in the parent: the hook itself runs between fork and exec and only calls it.
    """
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _kill_leftover_kernels(runtime_dir: Path) -> None:
    """Kernels run in their own session; find ours by their connection file in our runtime dir."""
    marker = f"{runtime_dir}{os.sep}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (Jupyter then shuts its kernels down), then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # anything left in the group
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _start_server(base: Path, root: Path, settings: Path, runtime: Path) -> LabServer:
    token = secrets.token_hex(24)
    port = _free_port()
    env = {
        **os.environ,
        # Isolated from the developer's own Jupyter configuration, settings and workspaces.
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",  # the port we chose or none: never a silent other port
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.app_settings_dir={settings}",
        "--LabApp.news_url=None",
        # A server orphaned by a killed pytest still goes away on its own.
        "--ServerApp.shutdown_no_activity_timeout=900",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = base / f"server-{port}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole in _stop
            preexec_fn=_die_with_parent_hook(),
        )
    return LabServer(process, port, token, root, log)


def _wait_until_serving(server: LabServer) -> str | None:
    """None once the server answers, else why it will not."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            return f"JupyterLab exited with {server.process.returncode}:\n{server.log_tail()}"
        try:
            server.api("GET", "/api/status")
            return None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                return f"JupyterLab did not answer in {SERVER_START_TIMEOUT_S} s:\n" + (
                    server.log_tail()
                )
            time.sleep(0.5)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """One JupyterLab for the module, on a copy of notebooks/ without outputs; always stopped."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root, settings, runtime = base / "root", base / "settings", base / "runtime"
    for folder in (root, settings, runtime, base / "config", base / "workspaces"):
        folder.mkdir()
    for notebook in NOTEBOOKS:
        _copy_without_outputs(notebook, root / notebook.name)
    (settings / "overrides.json").write_text(json.dumps(LAB_SETTINGS))
    started: list[LabServer] = []
    try:
        for _attempt in range(3):  # the free port may be taken between choosing and binding
            started.append(_start_server(base, root, settings, runtime))
            failure = _wait_until_serving(started[-1])
            if failure is None:
                break
            _stop(started[-1].process)
        else:
            pytest.fail(failure)
        yield started[-1]
    finally:
        with contextlib.suppress(Exception):
            started[-1].shut_down_kernels()
        for server in started:
            _stop(server.process)
        _kill_leftover_kernels(runtime)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def durations() -> Iterator[dict]:
    record: dict[str, dict[str, float]] = {}
    start = time.monotonic()
    yield record
    if record:
        record["total"] = {"seconds": round(time.monotonic() - start, 1)}
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / "durations.json").write_text(json.dumps(record, indent=1) + "\n")


# --------------------------------------------------------------------------- the page

# The visible notebook panel (the URL opens exactly one, with ?reset so no other tab is restored).
PANEL = "#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)"

RUN_STATE_JS = """(panelSelector) => {
  const panel = document.querySelector(panelSelector);
  if (!panel) return null;
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
    .map((p) => p.textContent.trim());
  return {status: indicator ? indicator.dataset.status : null, prompts};
}"""

# Everything to check, read from the rendered DOM of the notebook panel.
COLLECT_JS = """(panelSelector) => {
  const panel = document.querySelector(panelSelector);
  return [...panel.querySelectorAll('.jp-Notebook .jp-Cell')].map((cell, index) => {
    const code = cell.classList.contains('jp-CodeCell');
    const prompt = code ? cell.querySelector('.jp-InputArea-prompt').textContent.trim() : null;
    const outputs = [...cell.querySelectorAll('.jp-OutputArea-child > .jp-OutputArea-output')]
      .map((out) => ({
        mime: out.dataset.mimeType || null,
        text: (out.innerText || '').slice(0, 500),
        widgetError: !!out.querySelector('.jupyter-widgets-error-widget')
          || /Error displaying widget|Error rendering widget/.test(out.textContent),
        loading: /Loading widget/.test(out.textContent),
        images: [...out.querySelectorAll('img')].map((img) => ({
          complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
          shownWidth: img.clientWidth,
        })),
      }));
    return {index, code, prompt, source: code
      ? (cell.querySelector('.jp-InputArea-editor').innerText || '').slice(0, 80) : '', outputs};
  });
}"""

# The first explorer: a widget VBox output followed, in the same cell, by an image output.
EXPLORER_JS = """([panelSelector, action]) => {
  const panel = document.querySelector(panelSelector);
  for (const cell of panel.querySelectorAll('.jp-CodeCell')) {
    const outs = [...cell.querySelectorAll('.jp-OutputArea-child > .jp-OutputArea-output')];
    const box = outs.findIndex((o) => o.querySelector('.widget-vbox'));
    if (box < 0) continue;
    const image = outs.slice(box + 1).find((o) => o.querySelector('img'));
    if (!image) continue;
    if (action === 'src') return image.querySelector('img').getAttribute('src');
    cell.setAttribute('data-browser-test-explorer', '1');
    const control = outs[box].querySelector('.widget-vbox').firstElementChild;
    control.setAttribute('data-browser-test-control', '1');
    return control.className;
  }
  return null;
}"""


def _state(page: Page) -> dict:
    return page.evaluate(RUN_STATE_JS, PANEL) or {"status": None, "prompts": []}


def _open(page: Page, lab: LabServer, name: str) -> None:
    """Open the notebook and wait until its kernel is up and has stayed idle for a while.

    The first "idle" can come before the kernel connection settles (idle, connecting, idle):
    a Run All clicked in that gap is lost.
    """
    page.goto(lab.url(f"/lab/tree/{name}?reset&token={lab.token}"))
    page.wait_for_selector(
        f'{PANEL} .jp-Notebook-ExecutionIndicator[data-status="idle"]',
        timeout=KERNEL_READY_TIMEOUT_S * 1000,
    )
    deadline = time.monotonic() + KERNEL_READY_TIMEOUT_S
    since = time.monotonic()
    while time.monotonic() - since < KERNEL_SETTLE_S:
        assert time.monotonic() < deadline, f"{name}: the kernel never settled to idle"
        if _state(page)["status"] != "idle":
            since = time.monotonic()
        time.sleep(0.25)


def _started(page: Page) -> bool:
    return any(p != "[ ]:" for p in _state(page)["prompts"])


def _run_all(page: Page) -> None:
    """Run > Run All Cells, as a learner would; again if no cell was queued (a lost click)."""
    for _attempt in range(3):
        page.click('.lm-MenuBar-item:has-text("Run")')
        page.click('.lm-Menu-item[data-command="runmenu:run-all"]')
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if _started(page):
                return
            time.sleep(0.25)
        page.keyboard.press("Escape")  # close the menu if it is still open
    raise AssertionError(f"Run All did not start any cell: {_state(page)}")


def _wait_until_done(page: Page) -> dict:
    """Idle, nothing queued, at least one cell run, and no change for SETTLE_S seconds.

    Run All stops at an error, leaving the later prompts empty: that counts as done too.
    """
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        state = _state(page)
        done = (
            state["status"] == "idle"
            and not any(p == "[*]:" for p in state["prompts"])
            and any(p[1:-2].isdigit() for p in state["prompts"])
        )
        if state != last or not done:
            last, since = state, time.monotonic()
        elif time.monotonic() - since >= SETTLE_S:
            return state
        time.sleep(0.25)
    raise AssertionError(f"Run All did not finish in {RUN_ALL_TIMEOUT_S} s; last state {last}")


def _save_and_read(page: Page, lab: LabServer, name: str) -> dict:
    """Save through the toolbar and read the saved copy: the authority on error outputs."""
    path = lab.root / name
    before = path.stat().st_mtime_ns
    page.click(f'{PANEL} [data-command="docmanager:save"]')
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == before:
        assert time.monotonic() < deadline, f"{name}: saving from JupyterLab did not happen"
        time.sleep(0.2)
    for _ in range(50):  # the write may still be in progress
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(path.read_text(encoding="utf-8"))
        time.sleep(0.2)
    raise AssertionError(f"{name}: the saved copy is not valid JSON")


def _move_first_control(page: Page) -> str:
    """Change the first explorer's first control the way a learner would; return what was done."""
    kind = page.evaluate(EXPLORER_JS, [PANEL, "mark"])
    control = page.locator(f"{PANEL} [data-browser-test-control]")
    control.scroll_into_view_if_needed()
    if "widget-dropdown" in kind:
        select = control.locator("select")
        current = select.input_value()
        values = select.locator("option").evaluate_all("(os) => os.map((o) => o.value)")
        other = next(v for v in values if v != current)
        select.select_option(other)
        return f"dropdown {current!r} -> {other!r}"
    if "widget-checkbox" in kind:
        control.locator("input").click()
        return "checkbox toggled"
    if "widget-slider" in kind:
        readout = control.locator(".widget-readout")
        before = readout.inner_text()
        # ipywidgets 8 draws sliders with noUiSlider, ipywidgets 7 (Colab's) with jQuery UI.
        handle = control.locator(".noUi-handle, .ui-slider-handle").first
        handle.focus()
        handle.press("ArrowRight")
        if readout.inner_text() == before:  # already at its maximum
            handle.press("ArrowLeft")
        return f"slider {before} -> {readout.inner_text()}"
    raise AssertionError(f"the first explorer control is of an unknown kind: {kind}")


# Page errors a run may declare harmless, ;-separated in $BROWSER_TEST_KNOWN_PAGE_ERRORS. The
# Colab check sets one: jupyterlab_widgets 1.1.11 (the JupyterLab side of ipywidgets 7.7.1) is
# built for JupyterLab 3 and throws "reading 'Queue'" on JupyterLab 4, while its widgets still
# render and redraw, which this test checks on their own.
KNOWN_PAGE_ERRORS = [
    text for text in os.environ.get("BROWSER_TEST_KNOWN_PAGE_ERRORS", "").split(";") if text
]


SCROLLER_JS = """(panel) => document.querySelector(panel + ' .jp-WindowedPanel-outer')
    || document.querySelector(panel + ' .jp-Notebook')"""


def _full_height_screenshot(page: Page, path: Path) -> None:
    """The notebook scrolls inside its panel: grow the window to the notebook's height first."""
    extra = page.evaluate(
        f"(p) => {{ const s = ({SCROLLER_JS})(p); return s.scrollHeight - s.clientHeight; }}", PANEL
    )
    height = min(VIEWPORT["height"] + int(extra) + 40, 32000)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.wait_for_timeout(500)  # Lumino lays the panels out again on resize
    page.evaluate(f"(p) => {{ ({SCROLLER_JS})(p).scrollTop = 0; }}", PANEL)
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)


# Every image in the selected part of the notebook decoded, and no widget still loading.
RENDERED_JS = """([panel, part]) => {
  const root = document.querySelector(panel + ' ' + part);
  return !!root && [...root.querySelectorAll('.jp-OutputArea-output img')]
      .every((img) => img.complete && img.naturalWidth > 0)
    && !/Loading widget/.test(root.textContent);
}"""


def _until(condition: Callable[[], object], timeout_s: float) -> bool:
    """True as soon as condition() is truthy, False after timeout_s seconds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def _rendered(page: Page, part: str) -> bool:
    return page.evaluate(RENDERED_JS, [PANEL, part])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _problems(cells: list[dict], saved: dict, console: list[str]) -> list[str]:
    problems = []
    for index, cell in enumerate(saved["cells"]):
        if cell["cell_type"] != "code":
            continue
        where = f"cell {index + 1} ({''.join(cell['source'])[:60]!r})"
        if cell["execution_count"] is None:
            problems.append(f"{where} was not run")
        for output in cell["outputs"]:
            if output["output_type"] == "error":
                problems.append(f"{where} raised {output['ename']}: {output['evalue'][:300]}")
    for cell in cells:
        where = f"cell {cell['index'] + 1} ({cell['source']!r})"
        for output in cell["outputs"]:
            if output["loading"]:
                problems.append(f"{where}: a widget still loading after {RENDER_TIMEOUT_S} s")
            if output["widgetError"]:
                problems.append(f"{where}: widget error: {output['text'][:200]!r}")
            if output["mime"] == "text/plain" and output["text"].startswith("[explorer:"):
                problems.append(f"{where}: the explorer shows its no-kernel text, not its sliders")
            if output["mime"] == "text/plain" and output["text"].startswith("<Figure size"):
                problems.append(f"{where}: a figure printed as text: {output['text'][:60]!r}")
            if (output["mime"] or "").startswith("image/") and not output["images"]:
                problems.append(f"{where}: an {output['mime']} output without an <img>")
            for image in output["images"]:
                if not (image["complete"] and image["width"] > 0 and image["height"] > 0):
                    problems.append(f"{where}: an image that does not decode: {image}")
    problems += [f"browser console: {line}" for line in console]
    return problems


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_in_browser(
    notebook: Path, lab: LabServer, browser: Browser, durations: dict
) -> None:
    name = notebook.name
    timing: dict[str, float] = {}
    durations[notebook.stem] = timing
    start = time.monotonic()

    def lap(phase: str) -> None:
        timing[phase] = round(time.monotonic() - start - sum(timing.values()), 1)

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    console: list[str] = []

    def on_page_error(error) -> None:
        if not any(known in str(error) for known in KNOWN_PAGE_ERRORS):
            console.append(f"uncaught page error: {error}")

    page.on("pageerror", on_page_error)

    def on_console(message) -> None:
        # Only widget errors count: JupyterLab may log unrelated errors (e.g. a refused fetch).
        text = message.text
        if message.type == "error" and ("widget" in text.lower() or "registered" in text):
            console.append(text.splitlines()[0][:300])

    page.on("console", on_console)
    SCREENSHOTS.mkdir(exist_ok=True)
    committed = _digest(notebook)
    try:
        _open(page, lab, name)
        lap("open")
        _run_all(page)
        _wait_until_done(page)
        lap("run_all")
        saved = _save_and_read(page, lab, name)
        _until(lambda: _rendered(page, ".jp-Notebook"), RENDER_TIMEOUT_S)  # else reported below
        cells = page.evaluate(COLLECT_JS, PANEL)
        lap("check")
        problems = _problems(cells, saved, console)
        assert not problems, f"{name}:\n  " + "\n  ".join(problems)
        for cell in cells:  # worth a look, not failures
            for output in cell["outputs"]:
                if output["mime"] == "application/vnd.jupyter.stderr":
                    print(f"{name}: note: stderr in cell {cell['index'] + 1}: {output['text']!r}")
                for image in output["images"]:
                    if image["width"] > 1.1 * image["shownWidth"] > 0:
                        print(
                            f"{name}: note: cell {cell['index'] + 1}'s figure is shown at"
                            f" {image['shownWidth'] / image['width']:.0%} of its size in a"
                            f" {VIEWPORT['width']}-px window"
                        )

        if "explore(" in notebook.read_text(encoding="utf-8"):
            before = page.evaluate(EXPLORER_JS, [PANEL, "src"])
            assert before, f"{name}: no explorer (a widget box followed by a figure) rendered"
            moved = _move_first_control(page)
            changed = _until(
                lambda: page.evaluate(EXPLORER_JS, [PANEL, "src"]) not in (before, None),
                REDRAW_TIMEOUT_S,
            )
            assert changed, (
                f"{name}: the first explorer's figure did not change within"
                f" {REDRAW_TIMEOUT_S} s after {moved}"
            )
            decoded = _until(lambda: _rendered(page, "[data-browser-test-explorer]"), 10)
            assert decoded, f"{name}: the explorer's new figure does not decode after {moved}"
            assert not console, f"{name}: after {moved}:\n  " + "\n  ".join(console)
            lap("explorer")
        assert _digest(notebook) == committed, f"{name}: the committed notebook was modified"
    except BaseException:
        lap("until_failure")
        raise
    finally:
        try:
            with contextlib.suppress(Exception):
                _full_height_screenshot(page, SCREENSHOTS / f"{notebook.stem}.png")
            lap("screenshot")
        finally:
            with contextlib.suppress(Exception):
                lab.shut_down_kernels(name)
            context.close()
            timing["total"] = round(time.monotonic() - start, 1)
            print(f"{name}: {timing}")
